"""QRESYNC (RFC 7162 3.2): ENABLE QRESYNC, SELECT/EXAMINE (QRESYNC (uidvalidity modseq
[known-uids [seq-match]])) with VANISHED (EARLIER) and the changed flags, untagged
VANISHED instead of EXPUNGE once enabled, UID FETCH (CHANGEDSINCE n VANISHED). Exact
responses over a raw connection, and Python's imaplib driving the same commands."""
import re

from conftest import PATIENT
from test_imap_helpers import RawImap, simple_message, tls_client


def ok(r, tag, text):
    lines, t = r.cmd(tag, text)
    assert t.startswith(f"{tag} OK".encode()), (text, t, lines)
    return lines


def login(imapd):
    r = RawImap(imapd)
    r.login(PATIENT)
    return r


def append(r, box, n):
    for i in range(1, n + 1):
        msg = simple_message(i)
        r.send(f"p{i} APPEND {box} {{{len(msg)}+}}\r\n".encode() + msg + b"\r\n")
        _, t = r.read_until_tagged(f"p{i}")
        assert t.startswith(f"p{i} OK".encode()), t


def state(r, box):
    """(uidvalidity, highestmodseq) as SELECT tells them."""
    lines = ok(r, "s0", f"SELECT {box}")
    text = b"\n".join(lines)
    uv = int(re.search(rb"\[UIDVALIDITY (\d+)\]", text).group(1))
    hm = int(re.search(rb"\[HIGHESTMODSEQ (\d+)\]", text).group(1))
    return uv, hm


def test_qresync_capability_enable_and_bad_without_it(imapd):
    r = login(imapd)
    try:
        assert b" QRESYNC" in ok(r, "c", "CAPABILITY")[0]
        # RFC 7162 3.2.5: the parameter before ENABLE QRESYNC is BAD
        _, t = r.cmd("s1", "SELECT INBOX (QRESYNC (1 1))")
        assert t.startswith(b"s1 BAD"), t
        ok(r, "s2", "SELECT INBOX")
        # RFC 7162 3.2.6: VANISHED before ENABLE QRESYNC is BAD too
        _, t = r.cmd("f1", "UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
        assert t.startswith(b"f1 BAD"), t
        lines = ok(r, "e", "ENABLE QRESYNC")
        assert lines[0] == b"* ENABLED QRESYNC", lines
        for bad in ("(QRESYNC)", "(QRESYNC (0 1))", "(QRESYNC (1))", "(QRESYNC (1 x))",
                    "(QRESYNC (1 1 1:x))", "(QRESYNC (1 1 1:5 (1:2)))", "(QRESYNC (1 1) QRESYNC (1 1))"):
            _, t = r.cmd("s3", f"SELECT INBOX {bad}")
            assert t.startswith(b"s3 BAD"), (bad, t)
    finally:
        r.close()


def test_qresync_select_vanished_earlier_and_changed_flags(imapd):
    r = login(imapd)
    try:
        ok(r, "c", "CREATE qr")
        append(r, "qr", 6)
        uv, hm = state(r, "qr")
        ok(r, "x1", "UID STORE 2,5 +FLAGS.SILENT (\\Seen)")
        ok(r, "x2", "UID STORE 3,4 +FLAGS.SILENT (\\Deleted)")
        ok(r, "x3", "EXPUNGE")
        ok(r, "u", "UNSELECT")
        ok(r, "e", "ENABLE QRESYNC")
        lines = ok(r, "s", f"SELECT qr (QRESYNC ({uv} {hm}))")
        assert b"* VANISHED (EARLIER) 3:4" in lines, lines
        fetches = [l for l in lines if b" FETCH " in l]
        assert fetches == [b"* 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ (%d))" % (hm + 1),
                           b"* 3 FETCH (UID 5 FLAGS (\\Seen) MODSEQ (%d))" % (hm + 1)], lines
        # the VANISHED comes after the mailbox's state, before the tagged OK
        assert lines.index(b"* VANISHED (EARLIER) 3:4") > max(
            i for i, l in enumerate(lines) if b"HIGHESTMODSEQ" in l), lines
        # known-uids limits both answers
        lines = ok(r, "s2", f"EXAMINE qr (QRESYNC ({uv} {hm} 4:5))")
        assert b"* VANISHED (EARLIER) 4" in lines, lines
        assert [l for l in lines if b" FETCH " in l] == [
            b"* 3 FETCH (UID 5 FLAGS (\\Seen) MODSEQ (%d))" % (hm + 1)], lines
        # seq-match is accepted (and not needed)
        lines = ok(r, "s3", f"EXAMINE qr (QRESYNC ({uv} {hm} 1:* (1:4 1:4)))")
        assert b"* VANISHED (EARLIER) 3:4" in lines, lines
        # nothing changed since the current HIGHESTMODSEQ
        uv2, hm2 = state(r, "qr")
        lines = ok(r, "s4", f"SELECT qr (QRESYNC ({uv2} {hm2}))")
        assert not [l for l in lines if b"VANISHED" in l or b" FETCH " in l], lines
        # another UIDVALIDITY: a full resynchronisation, nothing incremental
        lines = ok(r, "s5", f"SELECT qr (QRESYNC ({uv + 1} {hm}))")
        assert not [l for l in lines if b"VANISHED" in l or b" FETCH " in l], lines
    finally:
        r.close()


def test_qresync_untagged_vanished_replaces_expunge(imapd):
    a, b = login(imapd), login(imapd)
    try:
        ok(a, "c", "CREATE qv")
        append(a, "qv", 5)
        ok(a, "e", "ENABLE QRESYNC")
        ok(a, "s", "SELECT qv")
        ok(b, "s", "SELECT qv")
        # own EXPUNGE: one VANISHED with the set, no EXPUNGE
        ok(a, "x1", "UID STORE 1,2 +FLAGS.SILENT (\\Deleted)")
        lines = ok(a, "x2", "EXPUNGE")
        assert lines == [b"* VANISHED 1:2"], lines
        # another session's expunge, seen at NOOP
        ok(b, "x3", "UID STORE 4 +FLAGS.SILENT (\\Deleted)")
        ok(b, "x4", "EXPUNGE")
        lines = ok(a, "n", "NOOP")
        assert lines == [b"* VANISHED 4"], lines
        # UID EXPUNGE and MOVE too
        ok(a, "x5", "UID STORE 5 +FLAGS.SILENT (\\Deleted)")
        assert ok(a, "x6", "UID EXPUNGE 5") == [b"* VANISHED 5"]
        lines = ok(a, "m", "UID MOVE 3 INBOX")
        assert lines[-1] == b"* VANISHED 3" and not [l for l in lines if b"EXPUNGE" in l], lines
        # the session without QRESYNC still gets EXPUNGE (UIDs 3 and 5 left)
        lines = ok(b, "n", "NOOP")
        assert lines == [b"* 1 EXPUNGE", b"* 1 EXPUNGE"], lines
    finally:
        a.close()
        b.close()


def test_uid_fetch_changedsince_vanished(imapd):
    r = login(imapd)
    try:
        ok(r, "c", "CREATE qf")
        append(r, "qf", 6)
        ok(r, "e", "ENABLE QRESYNC")
        uv, hm = state(r, "qf")
        ok(r, "x1", "UID STORE 1,6 +FLAGS.SILENT (\\Deleted)")
        ok(r, "x2", "EXPUNGE")
        lines = ok(r, "x3", "UID STORE 3 +FLAGS (\\Flagged)")
        flagged = int(re.search(rb"MODSEQ \((\d+)\)", lines[0]).group(1))
        changed = b"* 2 FETCH (UID 3 FLAGS (\\Flagged \\Recent) MODSEQ (%d))" % flagged
        lines = ok(r, "f", f"UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE {hm} VANISHED)")
        assert lines == [b"* VANISHED (EARLIER) 1,6", changed], lines
        # only the UIDs of the set; a MODSEQ past the expunge: none
        lines = ok(r, "f2", f"UID FETCH 2:5 (UID FLAGS) (CHANGEDSINCE {hm} VANISHED)")
        assert lines == [changed], lines
        lines = ok(r, "f3", f"UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE {flagged - 1} VANISHED)")
        assert lines == [changed], lines
        # VANISHED needs UID FETCH and CHANGEDSINCE
        _, t = r.cmd("f4", f"FETCH 1:* (FLAGS) (CHANGEDSINCE {hm} VANISHED)")
        assert t.startswith(b"f4 BAD"), t
        _, t = r.cmd("f5", "UID FETCH 1:* (FLAGS) (VANISHED)")
        assert t.startswith(b"f5 BAD"), t
    finally:
        r.close()


def test_qresync_with_imaplib(imapd):
    """Python's imaplib (a real client, raw commands through its own parser)."""
    c = tls_client(imapd, PATIENT)
    try:
        c.create("qi")
        for i in range(1, 4):
            c.append("qi", None, None, simple_message(i))
        typ, _ = c.enable("QRESYNC")
        assert typ == "OK" and c.untagged_responses.get("ENABLED") == [b"QRESYNC"], c.untagged_responses
        typ, _ = c.select("qi")
        uv = int(c.untagged_responses["UIDVALIDITY"][0])
        hm = int(c.untagged_responses["HIGHESTMODSEQ"][0])
        c.uid("STORE", "2", "+FLAGS.SILENT", "(\\Deleted)")
        c.expunge()
        c.close()
        c.untagged_responses = {}  # imaplib's own select() would clear them
        typ, data = c._simple_command("SELECT", "qi", f"(QRESYNC ({uv} {hm}))")
        assert typ == "OK", data
        assert c.untagged_responses.get("VANISHED") == [b"(EARLIER) 2"], c.untagged_responses
    finally:
        c.logout()
