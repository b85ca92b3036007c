"""SELECT of the mailbox already selected (imapd/imap_view.c, view_reselect): the view
is caught up from the changes made since, not read again whole; the client sees what a
first SELECT shows (counts, UNSEEN, keywords in use, flags, \\Recent claimed once),
without an EXPUNGE or FETCH for the changes in between; EXAMINE makes it read-only;
"$" ends with the selection (RFC 5182 2.1)."""
import re
import shutil

import pytest

from test_imap_helpers import append_with_flags as append, ok_cmd as ok, patient_session as session


def flags_by_uid(lines):
    """UID -> set of flags from FETCH (UID FLAGS) lines, \\Recent left out."""
    out = {}
    for line in lines:
        m = re.match(rb"\* \d+ FETCH \(UID (\d+) FLAGS \(([^)]*)\)\)", line)
        if m:
            out[int(m.group(1))] = set(m.group(2).split()) - {b"\\Recent"}
    return out


def test_reselect_catches_up(imapd):
    a = session(imapd)
    for i, flags in enumerate(("\\Seen", "", "$Label1", "\\Seen")):
        append(a, f"P{i}", flags, i)
    ok(a, "S1", "SELECT INBOX")

    b = session(imapd)  # another session changes the mailbox meanwhile
    ok(b, "B1", "SELECT INBOX")
    ok(b, "B2", "UID STORE 1 +FLAGS (\\Deleted)")
    ok(b, "B3", "UID EXPUNGE 1")
    ok(b, "B4", "UID STORE 2 +FLAGS ($New)")
    ok(b, "B5", "UID STORE 4 -FLAGS (\\Seen)")
    ok(b, "B6", "UNSELECT")
    append(b, "B7", "", 9)  # UID 5, recent for the first session to select

    ok(a, "S2", "SEARCH RETURN (SAVE) ALL")
    lines = ok(a, "S3", "SELECT INBOX")
    assert b"* OK [CLOSED] Previous mailbox closed" in lines
    assert b"* 4 EXISTS" in lines, lines
    assert b"* 1 RECENT" in lines, lines
    assert any(b"[UNSEEN 1]" in x for x in lines), lines  # UID 2
    assert any(b"[UIDNEXT 6]" in x for x in lines), lines
    flags = [x for x in lines if x.startswith(b"* FLAGS")]
    assert flags and b"$New" in flags[0] and b"$Label1" in flags[0], lines
    assert not any(b"EXPUNGE" in x or b" FETCH " in x for x in lines), lines
    assert not any(b" FETCH " in x for x in ok(a, "S4", "FETCH $ (UID)"))  # "$" ended

    mine = flags_by_uid(ok(a, "S5", "FETCH 1:* (UID FLAGS)"))
    c = session(imapd)  # what a new session reads from the store
    ok(c, "C1", "EXAMINE INBOX")
    fresh = flags_by_uid(ok(c, "C2", "FETCH 1:* (UID FLAGS)"))
    assert mine == fresh, (mine, fresh)
    assert sorted(mine) == [2, 3, 4, 5]
    assert mine[2] == {b"$New"} and mine[3] == {b"$Label1"} and mine[4] == set()

    lines = ok(a, "S6", "SELECT INBOX")
    assert b"* 0 RECENT" in lines, lines  # claimed by the SELECT before
    lines, t = a.cmd("S7", "EXAMINE INBOX")
    assert t.startswith(b"S7 OK [READ-ONLY]"), t
    _, t = a.cmd("S8", "STORE 1 +FLAGS (\\Flagged)")
    assert t.startswith(b"S8 NO"), t
    _, t = a.cmd("S9", "SELECT INBOX")
    assert t.startswith(b"S9 OK [READ-WRITE]"), t
    ok(a, "S10", "STORE 1 +FLAGS (\\Flagged)")


def select_lines(lines):
    """SELECT's untagged answers but RECENT (claimed once) and [CLOSED] (a re-SELECT's)."""
    return [x for x in lines if b"RECENT" not in x and b"[CLOSED]" not in x]


def same_as_fresh(imapd, a, tag, cmd="SELECT INBOX"):
    """a's SELECT again answers as a new session's, and shows the same flags; returns a's
    untagged lines."""
    mine = ok(a, tag, cmd)
    c = session(imapd)
    fresh = ok(c, "C1", cmd)
    assert select_lines(mine) == select_lines(fresh), (mine, fresh)
    assert flags_by_uid(ok(a, tag + "f", "FETCH 1:* (UID FLAGS)")) == flags_by_uid(ok(c, "C2", "FETCH 1:* (UID FLAGS)"))
    c.close()
    return mine


def test_reselect_after_changes_answers_as_a_fresh_session(imapd):
    """The first unseen message and \\Recent of a view already read are kept as it
    changes (seen_below, recent_low in imapd/imap_view.c), not found by a pass over
    every message at each SELECT: unseen again before it, expunged before it, keywords
    gone or new, \\Recent ended by the next SELECT (issue 15)."""
    a = session(imapd)
    for i, flags in enumerate(("\\Seen", "\\Seen $A", "\\Seen", "\\Seen $B", "\\Seen", "", "\\Seen $A", "")):
        append(a, f"P{i}", flags, i)  # UIDs 1..8, first unseen UID 6
    ok(a, "S1", "SELECT INBOX")
    ok(a, "S2", "FETCH 1:* (FLAGS)")  # the view read
    assert any(b"[UNSEEN 6]" in x for x in same_as_fresh(imapd, a, "S3"))
    b = session(imapd)
    ok(b, "B1", "SELECT INBOX")

    ok(b, "B2", "UID STORE 2 -FLAGS (\\Seen)")  # unseen again, before the first one
    assert any(b"[UNSEEN 2]" in x for x in same_as_fresh(imapd, a, "S4"))
    ok(b, "B3", "UID STORE 2 +FLAGS (\\Seen)")
    assert any(b"[UNSEEN 6]" in x for x in same_as_fresh(imapd, a, "S5"))
    ok(b, "B4", "UID STORE 1 +FLAGS (\\Deleted)")
    ok(b, "B5", "UID EXPUNGE 1")  # one before the first unseen goes: UID 6 is now 5th
    assert any(b"[UNSEEN 5]" in x for x in same_as_fresh(imapd, a, "S6"))

    ok(b, "B6", "UID STORE 4 -FLAGS ($B)")  # no message holds $B any more
    ok(b, "B7", "UID STORE 3 +FLAGS ($C)")
    lines = same_as_fresh(imapd, a, "S7", "EXAMINE INBOX")
    flags = [x for x in lines if x.startswith(b"* FLAGS")]
    assert flags and b"$C" in flags[0] and b"$B" not in flags[0], lines

    ok(b, "B8", "UNSELECT")
    append(b, "B9", "", 9)  # UID 9, recent for a's next SELECT
    lines = same_as_fresh(imapd, a, "S8")
    assert b"* 1 RECENT" in lines, lines
    assert sum(b"\\Recent" in x for x in ok(a, "S9", "FETCH 1:* (FLAGS)")) == 1
    lines = same_as_fresh(imapd, a, "S10")
    assert b"* 0 RECENT" in lines, lines
    assert not any(b"\\Recent" in x for x in ok(a, "S11", "FETCH 1:* (FLAGS)"))
    append(b, "B10", "", 10)  # UID 10, told to a selected a: recent in its view
    lines = ok(a, "S12", "NOOP")
    assert b"* 9 EXISTS" in lines and b"* 1 RECENT" in lines, lines
    lines = same_as_fresh(imapd, a, "S13")
    assert b"* 0 RECENT" in lines, lines
    assert not any(b"\\Recent" in x for x in ok(a, "S14", "FETCH 1:* (FLAGS)"))


def pro_session(imapd):
    """A RawImap logged in as a professional (EXTERNAL with the certificate)."""
    from test_imap_helpers import RawImap
    r = RawImap(imapd, cert="pro")
    ok(r, "L1", "AUTHENTICATE EXTERNAL =")
    return r


def locks_and_drains(pid, run):
    """What the process pid does while run() runs: the database's read locks it takes
    (SQLite's WAL read marks, one per read transaction) and its watch drains (reads
    that find nothing, EAGAIN), from strace."""
    import subprocess
    import tempfile
    import time
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as out:
        st = subprocess.Popen(["strace", "-p", str(pid), "-e", "trace=fcntl,read", "-o", out.name],
                              stderr=subprocess.PIPE, text=True)
        try:
            assert "attached" in st.stderr.readline()
            run()
            time.sleep(0.2)
        finally:
            st.terminate()
            st.wait(timeout=10)
        text = out.read()
    return text.count("F_RDLCK"), text.count("EAGAIN")


@pytest.mark.sqlite_only
@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_reselect_reads_in_one_transaction(imapd):
    """A SELECT again of a mailbox not read yet, and of one read: one read transaction
    for its reads (the mailbox, the changes since, the keywords in use), the watch
    drained once before it, and no statement more for the catching up before its tagged
    reply, which compares with what it read (issue 15: 4 read transactions fewer). A
    change committed afterwards is told at the next command all the same."""
    from test_imap_memory import session_process
    a = pro_session(imapd)  # a patient's commands also read her vault first
    for i in range(3):
        append(a, f"P{i}", "", i)
    ok(a, "S1", "SELECT INBOX")
    ok(a, "S2", "SELECT INBOX")
    pid = session_process(imapd)
    assert pid is not None
    assert locks_and_drains(pid, lambda: ok(a, "S3", "SELECT INBOX")) == (1, 1)  # counts only
    ok(a, "S4", "FETCH 1:* (FLAGS)")  # the view read
    assert locks_and_drains(pid, lambda: ok(a, "S5", "SELECT INBOX")) == (1, 1)  # caught up
    b = pro_session(imapd)
    append(b, "B1", "", 9)
    assert b"* 4 EXISTS" in ok(a, "S6", "NOOP")
    lines = ok(a, "S7", "SELECT INBOX")
    assert b"* 4 EXISTS" in lines and b"* 0 RECENT" in lines, lines  # told by the NOOP
