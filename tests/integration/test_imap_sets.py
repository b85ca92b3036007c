"""Sequence sets and UID sets resolved against the view (imapd/imap_view.c,
imap_view_resolve: each range found by binary search and walked): gaps left by
expunges, reversed ranges, '*', overlapping and repeated parts, UIDs past the last."""
import re

from conftest import PATIENT
from test_imap_helpers import RawImap, simple_message


def fetched(lines):
    """(sequence number, UID) of each FETCH line, in order."""
    return [(int(m.group(1)), int(m.group(2)))
            for m in (re.match(rb"\* (\d+) FETCH \(UID (\d+)\)", x) for x in lines) if m]


def test_sets_against_a_mailbox_with_gaps(imapd):
    r = RawImap(imapd)
    r.login(PATIENT)
    for i in range(6):
        msg = simple_message(i)
        r.send(f"A{i} APPEND INBOX {{{len(msg)}+}}\r\n".encode() + msg + b"\r\n")
        _, t = r.read_until_tagged(f"A{i}")
        assert b"OK" in t, t
    _, t = r.cmd("S", "SELECT INBOX")
    assert b"OK" in t, t
    _, t = r.cmd("D", "UID STORE 3,5 +FLAGS.SILENT (\\Deleted)")
    assert b"OK" in t, t
    _, t = r.cmd("E", "EXPUNGE")
    assert b"OK" in t, t  # UIDs 1, 2, 4, 6 left: sequence numbers 1 to 4

    cases = {
        "UID FETCH 2:4 (UID)": [(2, 2), (3, 4)],
        "UID FETCH 5:3 (UID)": [(3, 4)],
        "UID FETCH 7:* (UID)": [(4, 6)],  # '*' is the highest UID: always named
        "UID FETCH 6,1,4:5,1:2 (UID)": [(1, 1), (2, 2), (3, 4), (4, 6)],
        "UID FETCH 3 (UID)": [],
        "UID FETCH 100:200 (UID)": [],
        "UID FETCH 1:* (UID)": [(1, 1), (2, 2), (3, 4), (4, 6)],
        "FETCH 2:* (UID)": [(2, 2), (3, 4), (4, 6)],
        "FETCH 4,1:2,2 (UID)": [(1, 1), (2, 2), (4, 6)],
        "FETCH *:3 (UID)": [(3, 4), (4, 6)],
    }
    for k, (cmd, want) in enumerate(cases.items()):
        lines, t = r.cmd(f"F{k}", cmd)
        assert t.startswith(f"F{k} OK".encode()), (cmd, t)
        assert fetched(lines) == want, (cmd, lines)
    _, t = r.cmd("X", "FETCH 5 (UID)")
    assert t.startswith(b"X BAD") and b"Invalid message sequence number" in t, t
