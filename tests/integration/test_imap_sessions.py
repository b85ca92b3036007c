"""Two mss-imapd sessions on one mailbox: new mail, flag changes and expunges made by
one are sent to the other (EXISTS, FETCH FLAGS, EXPUNGE), also during IDLE."""
import time

from conftest import PATIENT
from controls_helpers import message, send
from test_imap_helpers import RawImap, ok_cmd, simple_message


def untagged(lines, word):
    return [l for l in lines if isinstance(l, bytes) and l.startswith(b"* ") and word in l]


def test_flags_and_expunges_seen_by_other_session(imapd):
    a = RawImap(imapd)
    b = RawImap(imapd, implicit=False)
    try:
        a.login(PATIENT)
        b.login(PATIENT)
        for i in range(3):
            msg = simple_message(i)
            a.send(f"p{i} APPEND INBOX {{{len(msg)}+}}\r\n".encode() + msg + b"\r\n")
            _, t = a.read_until_tagged(f"p{i}")
            assert t.startswith(f"p{i} OK".encode())
        _, t = a.cmd("a1", "SELECT INBOX")
        lines, t = b.cmd("b1", "SELECT INBOX")
        assert b"* 3 EXISTS" in lines

        _, t = a.cmd("a2", "STORE 2 +FLAGS (\\Flagged)")
        assert t.startswith(b"a2 OK")
        lines, t = b.cmd("b2", "NOOP")
        assert any(b"* 2 FETCH" in l and b"\\Flagged" in l for l in lines), lines

        _, t = a.cmd("a3", "STORE 1 +FLAGS.SILENT (\\Deleted)")
        lines, t = a.cmd("a4", "EXPUNGE")
        assert b"* 1 EXPUNGE" in lines
        lines, t = b.cmd("b3", "NOOP")
        assert b"* 1 EXPUNGE" in lines, lines
        lines, t = b.cmd("b4", "FETCH 1:* (UID FLAGS)")
        assert len(untagged(lines, b"FETCH")) == 2
        assert b"UID 2" in untagged(lines, b"FETCH")[0]

        # no EXPUNGE while answering FETCH (RFC 9051 7.5.1): it waits for the next NOOP
        _, t = a.cmd("a5", "UID STORE 3 +FLAGS.SILENT (\\Deleted)")
        _, t = a.cmd("a6", "UID EXPUNGE 3")
        lines, t = b.cmd("b5", "FETCH 1 (FLAGS)")
        assert not untagged(lines, b"EXPUNGE")
        lines, t = b.cmd("b6", "NOOP")
        assert b"* 2 EXPUNGE" in lines

        # during IDLE: new message, flag change and expunge arrive without a command
        b.send(b"b7 IDLE\r\n")
        assert b.readline().startswith(b"+")
        t0 = time.monotonic()
        msg = simple_message(9)
        a.send(f"a7 APPEND INBOX {{{len(msg)}+}}\r\n".encode() + msg + b"\r\n")
        a.read_until_tagged("a7")
        assert b.readline() == b"* 2 EXISTS"
        # \Recent goes to whichever of the two sessions saw the message first
        assert b.readline() in (b"* 0 RECENT", b"* 1 RECENT")
        assert time.monotonic() - t0 < 2
        a.cmd("a8", "NOOP")
        a.cmd("a9", "STORE 2 +FLAGS (\\Seen)")
        line = b.readline()
        assert line.startswith(b"* 2 FETCH") and b"\\Seen" in line, line
        a.cmd("a10", "STORE 1 +FLAGS.SILENT (\\Deleted)")
        a.cmd("a11", "EXPUNGE")
        line = b.readline()
        if line.startswith(b"* 1 FETCH"):  # the \Deleted flag may be seen before the expunge
            assert b"\\Deleted" in line
            line = b.readline()
        assert line == b"* 1 EXPUNGE"
        b.send(b"DONE\r\n")
        _, t = b.read_until_tagged("b7")
        assert t.startswith(b"b7 OK")
    finally:
        a.close()
        b.close()


def test_message_expunged_by_another_session_stays_readable_until_told(imapd):
    """Issue 14 (imaptest stress): RFC 9051 7.5.1 lets no EXPUNGE be sent during FETCH,
    STORE or SEARCH, so a session may ask for a message another session expunged; as
    Dovecot does, it is answered in full (no NO [EXPUNGEISSUED], no NO [SERVERBUG] for
    a missing blob) until this session was told, and removed once every session was."""
    a, b, c = RawImap(imapd), RawImap(imapd), RawImap(imapd)
    try:
        for r in (a, b, c):
            r.login(PATIENT)
        _, t = a.cmd("c", "CREATE kept")
        for i in range(2):
            msg = simple_message(i, size=3000)
            a.send(f"p{i} APPEND kept {{{len(msg)}+}}\r\n".encode() + msg + b"\r\n")
            _, t = a.read_until_tagged(f"p{i}")
            assert t.startswith(f"p{i} OK".encode())
        blobs = imapd.sql("SELECT count(*) FROM blobs")[0][0]
        for r in (a, b, c):
            lines, t = r.cmd("s", "SELECT kept")
            assert b"* 2 EXISTS" in lines
        _, t = a.cmd("a1", "UID STORE 1 +FLAGS.SILENT (\\Deleted)")
        lines, t = a.cmd("a2", "EXPUNGE")
        assert b"* 1 EXPUNGE" in lines and t.startswith(b"a2 OK")

        # b was not told: FETCH and SEARCH still answer for message 1, whole
        lines, t = b.cmd("b1", "FETCH 1 (UID BODY.PEEK[] ENVELOPE)")
        assert t.startswith(b"b1 OK"), (t, lines)
        assert any(isinstance(l, bytes) and l.startswith(b"* 1 FETCH (UID 1 BODY[] {") for l in lines), lines
        assert simple_message(0, size=3000) in lines  # the literal, whole
        assert not untagged(lines, b"EXPUNGE")
        lines, t = b.cmd("b2", "SEARCH BODY \"number 0\"")
        assert t.startswith(b"b2 OK") and lines == [b"* SEARCH 1"], (t, lines)
        lines, t = b.cmd("b3", "NOOP")
        assert b"* 1 EXPUNGE" in lines, lines
        assert imapd.sql("SELECT count(*) FROM retained") == [(1,)]  # c is still behind

        lines, t = c.cmd("c1", "FETCH 1 (BINARY.PEEK[1])")
        assert t.startswith(b"c1 OK"), (t, lines)
        lines, t = c.cmd("c2", "NOOP")
        assert b"* 1 EXPUNGE" in lines, lines
        # every session told: the row and its blob are gone
        assert imapd.sql("SELECT count(*) FROM retained") == [(0,)]
        assert imapd.sql("SELECT count(*) FROM blobs")[0][0] == blobs - 1
    finally:
        for r in (a, b, c):
            r.close()


def test_mailbox_deleted_under_a_session(imapd):
    a = RawImap(imapd)
    b = RawImap(imapd)
    try:
        a.login(PATIENT)
        b.login(PATIENT)
        a.cmd("a1", "CREATE Temp")
        _, t = b.cmd("b1", "SELECT Temp")
        assert t.startswith(b"b1 OK")
        _, t = a.cmd("a2", "DELETE Temp")
        assert t.startswith(b"a2 OK")
        lines, t = b.cmd("b2", "NOOP")
        assert any(l.startswith(b"* BYE") for l in lines)
    finally:
        a.close()
        b.close()


def test_every_writer_seen_by_the_next_uid_fetch(mss):
    """A session catches up after each command from one statement when the mailbox's
    HIGHESTMODSEQ and UIDNEXT have not moved (issue 15): every writer (flags,
    keywords, APPEND, COPY into, MOVE out, EXPUNGE, a delivery) must move them, else
    the next UID FETCH of the session that has the mailbox selected says nothing."""
    mss.start("smtpd")
    mss.start("imapd")
    a, b = RawImap(mss), RawImap(mss)
    try:
        a.login(PATIENT)
        b.login(PATIENT)
        ok_cmd(b, "c", "CREATE Archive")
        for i in range(4):
            msg = simple_message(i)
            b.send(f"p{i} APPEND INBOX {{{len(msg)}+}}\r\n".encode() + msg + b"\r\n")
            _, t = b.read_until_tagged(f"p{i}")
            assert t.startswith(f"p{i} OK".encode())
        ok_cmd(a, "a0", "SELECT INBOX")
        ok_cmd(b, "b0", "SELECT INBOX")

        def seen(tag):
            lines = ok_cmd(a, tag, "UID FETCH 1 (BODY.PEEK[])")
            assert simple_message(0) in lines
            return [l for l in lines if l.startswith(b"* ") and not l.startswith(b"* 1 FETCH (BODY[]")]

        # before the view is read (SELECT answered from the counts) and after
        ok_cmd(b, "b1", "UID STORE 2 +FLAGS.SILENT (\\Flagged)")
        assert any(b"* 2 FETCH" in l and b"\\Flagged" in l for l in seen("a1"))
        assert seen("a2") == []
        ok_cmd(b, "b2", "UID STORE 2 +FLAGS.SILENT ($Rappel)")
        assert any(b"* 2 FETCH" in l and b"$Rappel" in l for l in seen("a3"))
        ok_cmd(b, "b3", "UID STORE 2 -FLAGS.SILENT (\\Flagged $Rappel)")
        assert any(b"* 2 FETCH" in l and b"\\Flagged" not in l for l in seen("a4"))
        msg = simple_message(5)
        b.send(f"p5 APPEND INBOX {{{len(msg)}+}}\r\n".encode() + msg + b"\r\n")
        _, t = b.read_until_tagged("p5")
        assert b"* 5 EXISTS" in seen("a5")
        ok_cmd(b, "b4", "UID COPY 2 INBOX")
        assert b"* 6 EXISTS" in seen("a6")
        ok_cmd(b, "b5", "UID MOVE 3 Archive")
        assert b"* 3 EXPUNGE" in seen("a7")
        ok_cmd(b, "b6", "UID STORE 4 +FLAGS.SILENT (\\Deleted)")
        ok_cmd(b, "b7", "UID EXPUNGE 4")
        assert b"* 3 EXPUNGE" in seen("a8")
        ok_cmd(b, "b8", "SELECT Archive")
        ok_cmd(b, "b9", "UID COPY 1:* INBOX")
        assert b"* 5 EXISTS" in seen("a9")
        send(mss, message(subject="livraison"))
        assert b"* 6 EXISTS" in seen("a10")
        assert seen("a11") == []
    finally:
        a.close()
        b.close()
