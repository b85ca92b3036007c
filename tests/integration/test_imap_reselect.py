"""SELECT of the mailbox already selected (imapd/imap_view.c, view_reselect): the view
is caught up from the changes made since, not read again whole; the client sees what a
first SELECT shows (counts, UNSEEN, keywords in use, flags, \\Recent claimed once),
without an EXPUNGE or FETCH for the changes in between; EXAMINE makes it read-only;
"$" ends with the selection (RFC 5182 2.1)."""
import re

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
