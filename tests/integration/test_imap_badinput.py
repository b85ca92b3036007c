"""mss-imapd against bad input: unbalanced parentheses, huge literals, LITERAL+ abuse,
invalid sequence sets, commands in the wrong state, 8-bit garbage, overlong lines and
too many errors. Each gets a tagged BAD or NO (or BYE), never a crash, and the daemon
keeps serving."""
import os
import random

import pytest

from conftest import PATIENT
from test_imap_helpers import RawImap, simple_message


def assert_serving(mss):
    r = RawImap(mss)
    try:
        r.login(PATIENT)
        _, t = r.cmd("z1", "NOOP")
        assert t.startswith(b"z1 OK")
    finally:
        r.close()


def assert_no_crash(mss):
    log = mss.log("imapd")
    for sig in ("signal=11", "signal=6", "signal=7", "signal=8", "signal=4"):
        assert sig not in log, log[-3000:]


@pytest.fixture
def session(imapd):
    r = RawImap(imapd)
    r.login(PATIENT)
    yield r
    r.close()
    assert_serving(imapd)
    assert_no_crash(imapd)


def test_unbalanced_parentheses(session):
    for tag, cmd in (("a1", "SEARCH (SEEN"), ("a2", "SEARCH SEEN)"), ("a3", "LIST (\"\" *"),
                     ("a4", "FETCH 1 (FLAGS"), ("a5", "STATUS INBOX (MESSAGES")):
        _, t = session.cmd(tag, cmd)
        assert t.startswith(f"{tag} BAD".encode()), t
    _, t = session.cmd("a6", "NOOP")
    assert t.startswith(b"a6 OK")


def test_huge_synchronising_literal_refused(session):
    session.send(b"a1 APPEND INBOX {999999999999}\r\n")
    _, t = session.read_until_tagged("a1")
    assert t.startswith(b"a1 NO [TOOBIG]")
    session.send(b"a2 LOGIN {99999999999999999999}\r\n")
    _, t = session.read_until_tagged("a2")
    assert t.startswith(b"a2 BAD")
    _, t = session.cmd("a3", "NOOP")
    assert t.startswith(b"a3 OK")


def test_literal_over_limit_before_login(imapd):
    r = RawImap(imapd)
    try:
        r.send(b"a1 LOGIN {200000}\r\n")  # only APPEND, after login, may be large
        _, t = r.read_until_tagged("a1")
        assert t.startswith(b"a1 NO [TOOBIG]")
        r.send(b"a2 LOGIN {200000+}\r\n" + b"x" * 1000)
        _, t = r.read_until_tagged("a2")
        assert t.startswith(b"a2 BAD [TOOBIG]")
        assert r.closed()
    finally:
        r.close()
    assert_serving(imapd)


def test_many_literals_in_one_command_bounded(imapd):
    """Literals within the per-literal limit still cannot add up past the command limit."""
    r = RawImap(imapd)
    try:
        r.send(b"a1 LOGIN {60000}\r\n")
        refused = False
        for _ in range(10):
            line = r.readline()
            if line.startswith(b"a1 "):
                assert line.startswith(b"a1 NO [TOOBIG]"), line
                refused = True
                break
            assert line.startswith(b"+"), line
            r.send(b"x" * 60000 + b" {60000}\r\n")
        assert refused
        _, t = r.cmd("a2", "NOOP")
        assert t.startswith(b"a2 OK")
    finally:
        r.close()


def test_literal_plus_abuse(imapd):
    r = RawImap(imapd)
    try:
        r.login(PATIENT)
        r.send(b"a1 APPEND INBOX {999999999999+}\r\n" + os.urandom(4096))
        lines, t = r.read_until_tagged("a1")
        assert t.startswith(b"a1 BAD [TOOBIG]")
        assert r.closed()
    finally:
        r.close()
    r = RawImap(imapd)
    try:
        r.login(PATIENT)
        # a literal+ shorter than announced: the rest of the stream is literal data
        r.send(b"a1 APPEND INBOX {50+}\r\nshort\r\na2 NOOP\r\n")
        r.send(b"x" * 40 + b"\r\n")
        _, t = r.read_until_tagged("a1")
        assert t.startswith(b"a1 OK") or t.startswith(b"a1 NO") or t.startswith(b"a1 BAD")
        _, t = r.cmd("a3", "NOOP")
        assert t.startswith(b"a3 OK")
        # many literal+ in one command, within limits, are fine
        msg = simple_message(1)
        r.send(b"a4 APPEND {5+}\r\nINBOX (\\Seen) " + f"{{{len(msg)}+}}\r\n".encode() + msg + b"\r\n")
        _, t = r.read_until_tagged("a4")
        assert t.startswith(b"a4 OK [APPENDUID")
    finally:
        r.close()
    assert_serving(imapd)
    assert_no_crash(imapd)


def test_invalid_sequence_sets(session):
    _, t = session.cmd("a0", "SELECT INBOX")
    assert t.startswith(b"a0 OK")
    # empty mailbox: '*' names no message
    _, t = session.cmd("a1", "FETCH *:* FLAGS")
    assert t.startswith(b"a1 BAD")
    _, t = session.cmd("a2", "UID FETCH *:* FLAGS")
    assert t.startswith(b"a2 OK")
    msg = simple_message(1)
    session.send(f"a3 APPEND INBOX {{{len(msg)}+}}\r\n".encode() + msg + b"\r\n")
    session.read_until_tagged("a3")
    for tag, cmd in (("b1", "FETCH 0 FLAGS"), ("b2", "FETCH 4294967296 FLAGS"),
                     ("b3", "FETCH 1:4294967296 FLAGS"), ("b4", "FETCH 2 FLAGS"),
                     ("b5", "UID FETCH 0 FLAGS"), ("b6", "FETCH 1,,2 FLAGS"),
                     ("b7", "FETCH -1 FLAGS"), ("b8", "STORE 0 +FLAGS (\\Seen)"),
                     ("b9", "COPY 99 Trash"), ("b10", "SEARCH 0"), ("b11", "UID EXPUNGE 0"),
                     ("b12", "FETCH 1 (FLAGS"), ("b13", "FETCH 1 BODY[99999999999999999999]"),
                     ("b14", "FETCH 1 BODY[]<0.0>"), ("b15", "FETCH 1 NOSUCHITEM")):
        _, t = session.cmd(tag, cmd)
        assert t.startswith(f"{tag} BAD".encode()), t
        _, t = session.cmd("n" + tag, "NOOP")  # stay below imap_max_bad BAD in a row
        assert t.startswith(f"n{tag} OK".encode()), t
    # '*:*' is valid syntax (RFC 9051 9): in a non-empty mailbox it is the last message
    lines, t = session.cmd("c1", "FETCH *:* (UID)")
    assert t.startswith(b"c1 OK") and lines == [b"* 1 FETCH (UID 1)"]
    lines, t = session.cmd("c2", "UID FETCH 4294967295 (UID)")
    assert t.startswith(b"c2 OK") and lines == []  # the largest UID number: no message
    lines, t = session.cmd("c3", "UID FETCH 5:* (UID)")
    assert t.startswith(b"c3 OK") and lines == [b"* 1 FETCH (UID 1)"]


def test_commands_in_wrong_state(imapd):
    r = RawImap(imapd)
    try:
        for tag, cmd in (("a1", "SELECT INBOX"), ("a2", "FETCH 1 FLAGS"), ("a3", "LIST \"\" *"),
                         ("a4", "ENABLE CONDSTORE"), ("a5", "IDLE"), ("a6", "STARTTLS")):
            _, t = r.cmd(tag, cmd)
            assert t.startswith(f"{tag} BAD".encode()), t
        r.login(PATIENT)
        for tag, cmd in (("b1", "FETCH 1 FLAGS"), ("b2", "EXPUNGE"), ("b3", "CLOSE"),
                         ("b4", f'LOGIN "{PATIENT}" x'), ("b5", "AUTHENTICATE PLAIN"),
                         ("b6", "UID FETCH 1 FLAGS"), ("b7", "NOSUCHCOMMAND"), ("b8", "UID NOSUCH 1")):
            _, t = r.cmd(tag, cmd)
            assert t.startswith(f"{tag} BAD".encode()), t
        _, t = r.cmd("c1", "LOGOUT")
        assert t.startswith(b"c1 OK")
    finally:
        r.close()
    assert_serving(imapd)


def test_8bit_garbage(imapd):
    rnd = random.Random(42)
    for round_ in range(5):
        r = RawImap(imapd)
        try:
            if round_ % 2:
                r.login(PATIENT)
                r.cmd("s1", "SELECT INBOX")
            for i in range(8):  # fewer than imap_max_bad in a row
                garbage = bytes(rnd.randrange(1, 256) for _ in range(rnd.randrange(1, 300)))
                garbage = garbage.replace(b"\r", b"").replace(b"\n", b"")
                if garbage.endswith(b"}"):
                    garbage += b"x"
                r.send(f"g{i} ".encode() + garbage + b"\r\n")
                _, t = r.read_until_tagged(f"g{i}")
                assert t.startswith(f"g{i} BAD".encode()) or t.startswith(f"g{i} NO".encode()), t
            _, t = r.cmd("ok", "NOOP")
            assert t.startswith(b"ok OK")
            r.send(b"\xff\xfe\xfd garbage without tag\r\n")
            line = r.readline()
            assert line.startswith(b"* BAD")
        finally:
            r.close()
    assert_serving(imapd)
    assert_no_crash(imapd)


def test_too_many_errors_closes(imapd):
    r = RawImap(imapd)
    try:
        for i in range(9):
            _, t = r.cmd(f"e{i}", "BOGUS")
            assert t.startswith(f"e{i} BAD".encode())
        _, t = r.cmd("ok", "NOOP")  # an OK resets the count
        assert t.startswith(b"ok OK")
        for i in range(9):
            r.cmd(f"f{i}", "BOGUS")
        r.send(b"f9 BOGUS\r\n")
        lines, t = r.read_until_tagged("f9")
        assert t.startswith(b"f9 BAD")
        assert r.readline().startswith(b"* BYE")
        assert r.closed()
    finally:
        r.close()
    assert_serving(imapd)


def test_overlong_line(imapd):
    r = RawImap(imapd)
    try:
        r.send(b"a1 LOGIN " + b"x" * 70000 + b"\r\n")
        line = r.readline()
        assert b"BAD" in line and b"TOOBIG" in line
        _, t = r.cmd("a2", "NOOP")
        assert t.startswith(b"a2 OK")
    finally:
        r.close()


def test_plaintext_commands_before_starttls_are_discarded(imapd):
    """Commands pipelined in the clear after STARTTLS are never run (CVE-2011-0411)."""
    import socket
    s = socket.create_connection(("127.0.0.1", imapd.port("imap")), timeout=10)
    try:
        s.recv(4096)
        s.sendall(b"a1 STARTTLS\r\na2 LOGOUT\r\n")
        data = b""
        while b"a1 OK" not in data:
            data += s.recv(4096)
        tls = imapd.client_context().wrap_socket(s, server_hostname="localhost")
        tls.sendall(b"a3 NOOP\r\n")
        data = tls.recv(4096)
        assert data.startswith(b"a3 OK"), data
        tls.close()
    finally:
        s.close()
