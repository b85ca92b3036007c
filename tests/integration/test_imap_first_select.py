"""A first SELECT answers from the mailbox's counts and reads its messages only when a
command needs them (imapd/imap_view.c, imap_view_load; issue 15). What the client sees
does not change: SELECT's FLAGS (keywords in the order of their first message), EXISTS,
RECENT and UNSEEN are those of a pass over the messages, and when another session
changes the mailbox between the SELECT and the first command that reads it, the
messages are numbered as the SELECT announced them and the changes come as untagged
EXPUNGE, FETCH and EXISTS at the next catching up, as for a view read at SELECT."""
import re
import shutil

import pytest

from test_imap_helpers import append_with_flags as append, ok_cmd as ok, patient_session as session


def fetched(lines):
    """[(seq, uid, flags)] of FETCH (UID FLAGS) lines, \\Recent left out."""
    out = []
    for line in lines:
        m = re.match(rb"\* (\d+) FETCH \(UID (\d+) FLAGS \(([^)]*)\)\)", line)
        if m:
            out.append((int(m.group(1)), int(m.group(2)), set(m.group(3).split()) - {b"\\Recent"}))
    return out


def fill(imapd):
    a = session(imapd)
    for i, flags in enumerate(("\\Seen", "\\Seen $Zed", "", "$Alpha $Zed", "\\Seen $Beta", "")):
        append(a, f"P{i}", flags, i)  # UIDs 1..6
    return a


def test_first_select_answers_as_a_full_read(imapd):
    a = fill(imapd)
    lines = ok(a, "S1", "SELECT INBOX")
    flags = [x for x in lines if x.startswith(b"* FLAGS")]
    # keywords in the order a pass over the messages meets them
    assert flags and flags[0].endswith(b"\\Draft $Zed $Alpha $Beta)"), lines
    assert b"* 6 EXISTS" in lines, lines
    assert b"* 6 RECENT" in lines, lines  # appended before any SELECT
    assert any(b"[UNSEEN 3]" in x for x in lines), lines
    assert any(b"[UIDNEXT 7]" in x for x in lines), lines
    got = fetched(ok(a, "S2", "FETCH 1:* (UID FLAGS)"))
    assert [(s, u) for s, u, _ in got] == [(i, i) for i in range(1, 7)], got
    assert got[3][2] == {b"$Alpha", b"$Zed"}, got
    lines = ok(a, "S3", "FETCH 1:* (FLAGS)")
    assert sum(b"\\Recent" in x for x in lines) == 6, lines  # claimed by this session

    b = session(imapd)
    lines = ok(b, "B1", "SELECT INBOX")
    assert b"* 0 RECENT" in lines, lines  # the first session took them
    ok(b, "B2", "STORE 1:* +FLAGS (\\Seen)")
    lines = ok(b, "B3", "EXAMINE INBOX")  # a new view: no unseen left
    assert not any(b"UNSEEN" in x for x in lines), lines


def test_changes_between_select_and_first_read(imapd):
    a = fill(imapd)
    ok(a, "S1", "SELECT INBOX")  # 6 messages announced, none read yet

    b = session(imapd)
    ok(b, "B1", "SELECT INBOX")
    ok(b, "B2", "UID STORE 3 +FLAGS (\\Deleted)")
    ok(b, "B3", "UID EXPUNGE 3")
    ok(b, "B4", "UID STORE 5 +FLAGS ($New)")
    ok(b, "B5", "UNSELECT")
    append(b, "B6", "", 9)  # UID 7

    # FETCH may not announce an expunge (RFC 9051 7.5.1): numbered as SELECT said
    lines = ok(a, "S2", "FETCH 1:* (UID)")
    uids = [int(m.group(1)) for m in (re.match(rb"\* \d+ FETCH \(UID (\d+)\)", x) for x in lines) if m]
    assert uids == [1, 2, 3, 4, 5, 6], lines
    lines = ok(a, "S3", "NOOP")
    assert b"* 3 EXPUNGE" in lines, lines
    assert any(re.match(rb"\* 4 FETCH \(UID 5 FLAGS \([^)]*\$New", x) for x in lines), lines
    assert b"* 6 EXISTS" in lines, lines  # 6 - 1 + 1

    mine = fetched(ok(a, "S4", "FETCH 1:* (UID FLAGS)"))
    c = session(imapd)
    ok(c, "C1", "EXAMINE INBOX")
    fresh = fetched(ok(c, "C2", "FETCH 1:* (UID FLAGS)"))
    assert mine == fresh, (mine, fresh)


def test_changes_seen_by_noop_before_any_read(imapd):
    a = fill(imapd)
    ok(a, "S1", "SELECT INBOX")
    lines = ok(a, "S2", "NOOP")  # nothing changed: nothing to say
    assert not any(x.startswith(b"* ") for x in lines), lines

    b = session(imapd)
    ok(b, "B1", "SELECT INBOX")
    ok(b, "B2", "UID STORE 2 -FLAGS (\\Seen)")
    ok(b, "B3", "UID STORE 6 +FLAGS (\\Deleted)")
    ok(b, "B4", "UID EXPUNGE 6")

    lines = ok(a, "S3", "NOOP")
    assert b"* 6 EXPUNGE" in lines, lines
    two = [x for x in lines if x.startswith(b"* 2 FETCH (UID 2 FLAGS (")]
    assert len(two) == 1 and b"$Zed" in two[0] and b"\\Seen" not in two[0], lines
    assert not any(b"EXISTS" in x for x in lines), lines
    lines = ok(a, "S4", "NOOP")
    assert not any(x.startswith(b"* ") for x in lines), lines  # told once


def test_idle_after_first_select(imapd):
    a = fill(imapd)
    ok(a, "S1", "SELECT INBOX")
    ok(a, "S2", "STATUS INBOX (MESSAGES)")  # reads no message either
    a.send(b"I1 IDLE\r\n")
    assert a.readline().startswith(b"+ "), "IDLE refused"

    b = session(imapd)
    ok(b, "B1", "SELECT INBOX")
    ok(b, "B2", "UID STORE 1 +FLAGS (\\Deleted)")
    ok(b, "B3", "UID EXPUNGE 1")
    ok(b, "B4", "UID STORE 4 +FLAGS (\\Flagged)")
    append(b, "B5", "", 9)  # UID 7

    seen = []
    while not any(x.endswith(b" EXISTS") for x in seen):  # sent in one catching up
        seen.append(a.readline())
    a.send(b"DONE\r\n")
    lines, t = a.read_until_tagged("I1")
    assert t.startswith(b"I1 OK"), (lines, t)
    seen += lines
    assert b"* 1 EXPUNGE" in seen, seen
    flagged = [x for x in seen if x.startswith(b"* 3 FETCH (UID 4 FLAGS (")]
    assert len(flagged) == 1 and b"\\Flagged" in flagged[0], seen
    assert b"* 6 EXISTS" in seen, seen
    mine = fetched(ok(a, "S3", "FETCH 1:* (UID FLAGS)"))
    assert [u for _, u, _ in mine] == [2, 3, 4, 5, 6, 7], mine


def test_reselect_before_any_read(imapd):
    a = fill(imapd)
    ok(a, "S1", "SELECT INBOX")
    lines = ok(a, "S2", "SELECT INBOX")  # answered from the counts again
    assert b"* 6 EXISTS" in lines and b"* 0 RECENT" in lines, lines  # S1 claimed them

    b = session(imapd)
    ok(b, "B1", "SELECT INBOX")
    ok(b, "B2", "UID STORE 1:3 +FLAGS (\\Deleted \\Seen)")
    ok(b, "B3", "UID EXPUNGE 1:3")
    ok(b, "B4", "UID STORE 6 +FLAGS ($Late)")
    ok(b, "B5", "UNSELECT")
    append(b, "B6", "\\Seen", 9)  # UID 7

    lines = ok(a, "S4", "SELECT INBOX")
    assert b"* OK [CLOSED] Previous mailbox closed" in lines
    assert not any(b"EXPUNGE" in x or b" FETCH " in x for x in lines), lines
    assert b"* 4 EXISTS" in lines and b"* 1 RECENT" in lines, lines
    assert any(b"[UNSEEN 1]" in x for x in lines), lines  # UID 4
    flags = [x for x in lines if x.startswith(b"* FLAGS")]
    assert flags and flags[0].endswith(b"\\Draft $Alpha $Zed $Beta $Late)"), lines
    mine = fetched(ok(a, "S6", "FETCH 1:* (UID FLAGS)"))
    c = session(imapd)
    ok(c, "C1", "EXAMINE INBOX")
    fresh = fetched(ok(c, "C2", "FETCH 1:* (UID FLAGS)"))
    assert mine == fresh and [u for _, u, _ in mine] == [4, 5, 6, 7], (mine, fresh)


@pytest.mark.sqlite_only
@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_first_select_catches_up_without_a_statement(imapd):
    """A session's first SELECT opens the mailbox's watch before it reads the counts, so
    that the catching up before its tagged reply compares with what it read instead of
    asking the store again (issue 15, firstselect: one read transaction and one watch
    drain fewer); a change committed right after is told at the next command, and wakes
    an IDLE begun after the SELECT, as before."""
    from test_imap_memory import session_process
    from test_imap_reselect import locks_and_drains, pro_session
    a = pro_session(imapd)  # a patient's commands also read her vault first
    for i in range(3):
        append(a, f"P{i}", ("$Zed", "$Alpha", "$Zed")[i], i)
    pid = session_process(imapd)
    assert pid is not None
    lines = []
    # the account and the mailbox by name (two), the counts, keywords and first unseen
    # (one), \Recent's claim (a write), the retained rows the view's registration may
    # free (one): five read locks and no drain; before, the catching up took a sixth and
    # drained the watch
    assert locks_and_drains(pid, lambda: lines.extend(ok(a, "S1", "SELECT INBOX"))) == (5, 0)
    flags = [x for x in lines if x.startswith(b"* FLAGS")]
    assert flags and flags[0].index(b"$Zed") < flags[0].index(b"$Alpha"), lines  # by first UID

    b = pro_session(imapd)
    append(b, "B1", "", 9)
    assert b"* 4 EXISTS" in ok(a, "S2", "NOOP")
    a.send(b"I1 IDLE\r\n")
    assert a.readline().startswith(b"+ "), "IDLE refused"
    append(b, "B2", "", 10)
    assert a.readline().strip() == b"* 5 EXISTS"
    a.send(b"DONE\r\n")
    lines, t = a.read_until_tagged("I1")
    assert t.startswith(b"I1 OK"), (lines, t)


@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb stops the session inside its SELECT")
def test_first_select_changes_around_its_reading_told_once(imapd, tmp_path):
    """Not left to chance: gdb stops the session process in its first SELECT, once with
    the mailbox's watch open and the counts not read yet (store_select_head), once with
    them read and the tagged reply not sent yet (its return), and another session
    appends a message at each stop (and expunges one at the second). The first is in
    SELECT's EXISTS and never told again; the second's are told once (at the next
    command since afc436c, where the watch
    is opened before the counts and the catching up before the tagged reply no longer
    asks the store), and an IDLE after has nothing to tell (review4)."""
    import time
    from test_imap_memory import session_process
    from test_imap_reselect import pro_session
    from test_tls_resume import gdb_running
    a = pro_session(imapd)
    for i in range(3):
        append(a, f"P{i}", "", i)
    pid = session_process(imapd)  # a's, the only one yet
    assert pid is not None
    b = pro_session(imapd)
    ok(b, "B0", "SELECT INBOX")
    hit, go = [tmp_path / f"hit{i}" for i in (1, 2)], [tmp_path / f"go{i}" for i in (1, 2)]

    def wait_for(path):
        return f"shell touch {hit[path]}; while [ ! -e {go[path]} ]; do sleep 0.05; done"

    gdb = gdb_running(pid, "break store_select_head", "continue", wait_for(0), "finish", wait_for(1), "detach")
    try:
        deadline = time.monotonic() + 60
        a.send(b"S1 SELECT INBOX\r\n")
        while not hit[0].exists() and gdb.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert hit[0].exists(), "no first stop"
        append(b, "B1", "", 7)  # after the watch, before the reading
        go[0].touch()
        deadline = time.monotonic() + 60
        while not hit[1].exists() and gdb.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert hit[1].exists(), "no second stop"
        # after the reading, before the tagged reply: UID 1 expunged, a message appended
        ok(b, "B2", "UID STORE 1 +FLAGS.SILENT (\\Deleted)")
        ok(b, "B3", "EXPUNGE")
        append(b, "B4", "", 8)
        go[1].touch()
        out = gdb.communicate(timeout=60)[0]
    finally:
        for g in go:
            g.touch()
        if gdb.poll() is None:
            gdb.kill()
            gdb.wait()
    assert "store_select_head" in out, out
    told, t = a.read_until_tagged("S1")
    assert t.startswith(b"S1 OK"), (told, t)
    assert b"* 4 EXISTS" in told, told  # B1: read by the SELECT
    told += ok(a, "N1", "NOOP") + ok(a, "N2", "NOOP")
    # the second stop's changes told once, before the tagged reply or at the next
    # command; B1 never again
    assert [x for x in told if x.endswith((b"EXISTS", b"EXPUNGE"))] == [
        b"* 4 EXISTS", b"* 1 EXPUNGE", b"* 4 EXISTS"], told
    a.send(b"I1 IDLE\r\n")
    assert a.readline().startswith(b"+ "), "IDLE refused"
    a.sock.settimeout(1.5)  # perhaps woken by the watch's events: nothing new to tell
    try:
        early = a.readline()
    except OSError:
        early = None
    a.sock.settimeout(20)
    assert early is None, early
    a.send(b"DONE\r\n")
    lines, t = a.read_until_tagged("I1")
    assert t.startswith(b"I1 OK") and not lines, (lines, t)
