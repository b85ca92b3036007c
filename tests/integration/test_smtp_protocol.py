"""mss-smtpd at the protocol level, over raw sockets: PIPELINING, replies and enhanced
status codes, bad input (long lines, NUL, bare LF, garbage around STARTTLS), limits,
timeouts. Each refusal gives its documented code and the daemon keeps serving."""
import base64
import socket
import ssl
import time

import pytest

from conftest import CERT_OF, PATIENT, PATIENT2, PRO, PRO2, PASSWORDS

MSG = (f"From: {PRO}\r\nTo: {PATIENT}\r\nSubject: test\r\n\r\nHello.\r\n").encode()


class RawSmtp:
    """A minimal SMTP client that shows the server's bytes as they are."""

    def __init__(self, port, implicit_tls=False, ctx=None, timeout=20):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        if implicit_tls:
            self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("server closed: " + repr(self.buf))
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def reply(self):
        """One (possibly multi-line) reply: (code, [texts])."""
        lines = []
        while True:
            line = self._line()
            lines.append(line[4:])
            if len(line) < 4 or line[3] != "-":
                return int(line[:3]), lines

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def closed(self, wait=5):
        """True when the server closed the connection (EOF) within wait seconds."""
        self.sock.settimeout(wait)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (socket.timeout, TimeoutError):
            return False
        except (ConnectionResetError, ssl.SSLError, OSError):
            return True

    def starttls(self, ctx):
        code, _ = self.cmd("STARTTLS")
        assert code == 220
        assert self.buf == b""
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")


def plain(user, password):
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


def connect(m, listener="submission", cert=None, tls=True, ehlo=True):
    """Connects; with tls, runs EHLO/STARTTLS (or implicit TLS) and EHLO again."""
    ctx = m.client_context(cert)
    c = RawSmtp(m.port(listener), implicit_tls=(listener == "submissions"), ctx=ctx)
    code, text = c.reply()
    assert code == 220, text
    if tls and listener != "submissions":
        assert c.cmd("EHLO client.test")[0] == 250
        c.starttls(ctx)
    if ehlo:
        assert c.cmd("EHLO client.test")[0] == 250
    return c


def login(m, user=PRO, listener="submission", cert=None):
    """A password login; a professional's own certificate is presented with it."""
    c = connect(m, listener, cert=cert or CERT_OF.get(user))
    code, text = c.cmd("AUTH PLAIN " + plain(user, PASSWORDS[user]))
    assert code == 235, text
    return c


def inbox_count(m, address):
    return m.sql("SELECT count(*) FROM messages m JOIN mailboxes b ON m.mailbox_id = b.id "
                 "JOIN store_users u ON b.user_id = u.id WHERE u.address = ? AND b.name = 'INBOX'",
                 address)[0][0]


def still_serving(m):
    """A fresh session gets its greeting and answers NOOP."""
    c = connect(m, "submission", tls=False, ehlo=False)
    assert c.cmd("NOOP") == (250, ["2.0.0 Ok"])
    c.cmd("QUIT")
    c.close()


# --- replies -----------------------------------------------------------------------

def test_greeting_ehlo_and_small_verbs(smtpd):
    c = connect(smtpd, "smtp", tls=False, ehlo=False)
    code, lines = c.cmd("EHLO client.test")
    assert code == 250
    assert lines[0] == "mx.mss.test"
    assert set(lines[1:]) == {"PIPELINING", "SIZE 26214400", "8BITMIME", "CHUNKING",
                              "ENHANCEDSTATUSCODES", "SMTPUTF8", "DSN", "STARTTLS"}
    assert c.cmd("HELO client.test") == (250, ["mx.mss.test"])
    assert c.cmd("NOOP") == (250, ["2.0.0 Ok"])
    assert c.cmd("RSET")[0] == 250
    assert c.cmd("VRFY someone")[0] == 252
    assert c.cmd("HELP")[0] == 214
    code, text = c.cmd("EXPN list")
    assert code == 500 and text[0].startswith("5.5.2")
    code, text = c.cmd("MAIL FROM:<a@other-operator.test>")
    assert (code, text[0][:5]) == (530, "5.7.0")
    code, text = c.cmd("QUIT")
    assert (code, text[0][:5]) == (221, "2.0.0")
    assert c.closed()


def test_no_auth_before_tls_on_submission(smtpd):
    c = connect(smtpd, "submission", tls=False, ehlo=False)
    code, lines = c.cmd("EHLO client.test")
    assert "STARTTLS" in lines and not any(l.startswith("AUTH") for l in lines)
    code, text = c.cmd("AUTH PLAIN " + plain(PRO, PASSWORDS[PRO]))
    assert (code, text[0][:5]) == (530, "5.7.0")
    code, text = c.cmd("MAIL FROM:<%s>" % PRO)
    assert (code, text[0][:5]) == (530, "5.7.0")
    # After TLS, AUTH is offered, and MAIL without it is refused.
    ctx = smtpd.client_context()
    c.starttls(ctx)
    code, lines = c.cmd("EHLO client.test")
    assert "AUTH PLAIN LOGIN" in lines and "STARTTLS" not in lines
    code, text = c.cmd("MAIL FROM:<%s>" % PRO)
    assert (code, text[0]) == (530, "5.7.0 Authentication required")


def test_sequence_errors_keep_session_usable(smtpd):
    c = login(smtpd)
    assert c.cmd("RCPT TO:<%s>" % PATIENT)[0] == 503
    assert c.cmd("DATA")[0] == 503
    assert c.cmd("MAIL FROM:<%s>" % PRO)[0] == 250
    assert c.cmd("MAIL FROM:<%s>" % PRO)[0] == 503  # nested
    assert c.cmd("DATA")[0] == 503                  # no recipient yet
    code, text = c.cmd("RCPT TO:<not an address>")
    assert (code, text[0][:5]) == (501, "5.1.3")
    code, text = c.cmd("RCPT TO:<%s> XFOO=1" % PATIENT)
    assert (code, text[0][:5]) == (555, "5.5.4")
    assert c.cmd("RCPT TO:<%s>" % PATIENT)[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(MSG + b".\r\n")
    code, text = c.reply()
    assert code == 250 and text[0].startswith("2.0.0 Ok: queued as ")
    assert c.cmd("AUTH PLAIN " + plain(PRO, PASSWORDS[PRO]))[0] == 503  # already authenticated
    assert inbox_count(smtpd, PATIENT) == 1


# --- PIPELINING -------------------------------------------------------------------

def test_pipelining_one_write_replies_in_order(smtpd):
    ctx = smtpd.client_context("pro")
    c = RawSmtp(smtpd.port("submissions"), implicit_tls=True, ctx=ctx)
    assert c.reply()[0] == 220
    c.send("EHLO client.test\r\n"
           "AUTH PLAIN %s\r\n"
           "MAIL FROM:<%s>\r\n"
           "RCPT TO:<%s>\r\n"
           "RCPT TO:<nobody@elsewhere.test>\r\n"
           "RCPT TO:<%s>\r\n"
           "DATA\r\n" % (plain(PRO, PASSWORDS[PRO]), PRO, PATIENT, PATIENT2))
    codes = [c.reply()[0] for _ in range(7)]
    assert codes == [250, 235, 250, 250, 550, 250, 354]
    # The message, the final dot and the next commands in one write as well.
    c.send(MSG + b".\r\nRSET\r\nNOOP\r\nQUIT\r\n")
    code, text = c.reply()
    assert code == 250 and "queued as" in text[0]
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 221]
    assert inbox_count(smtpd, PATIENT) == 1 and inbox_count(smtpd, PATIENT2) == 1


def test_pipelining_mx_group_before_tls(smtpd):
    c = RawSmtp(smtpd.port("smtp"))
    assert c.reply()[0] == 220
    c.send("EHLO a.test\r\nMAIL FROM:<x@other-operator.test>\r\nRCPT TO:<%s>\r\nDATA\r\nQUIT\r\n" % PRO)
    assert [c.reply()[0] for _ in range(5)] == [250, 530, 530, 530, 221]


def test_two_tls_records_in_one_segment_both_answered(smtpd):
    """Two commands in two TLS records that arrive together (corked into one segment)
    once the pre-login process relays: the server reads ahead, takes both records in one
    read and must answer the second without waiting for more bytes from the socket."""
    c = login(smtpd)
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
    c.send("NOOP first\r\n")
    c.send("NOOP second\r\n")
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
    c.sock.settimeout(5)
    assert [c.reply()[0] for _ in range(2)] == [250, 250]
    assert c.cmd("QUIT")[0] == 221


# --- bad input ---------------------------------------------------------------------

def test_long_command_line(smtpd):
    c = connect(smtpd, "submission", tls=False, ehlo=False)
    c.send("NOOP " + "x" * 100_000 + "\r\n")
    code, text = c.reply()
    assert (code, text[0][:5]) == (500, "5.5.2")
    assert c.cmd("NOOP")[0] == 250
    # 998 octets of command plus CRLF is the RFC limit and is fine.
    assert c.cmd("NOOP " + "y" * 993)[0] == 250
    assert c.cmd("NOOP " + "y" * 994)[0] == 500
    still_serving(smtpd)


def test_nul_in_command(smtpd):
    c = connect(smtpd, "submission", tls=False, ehlo=False)
    c.send(b"NOOP \0 hidden\r\n")
    code, text = c.reply()
    assert (code, text[0][:5]) == (500, "5.5.2")
    c.send(b"EH\0LO x\r\n")
    assert c.reply()[0] == 500
    assert c.cmd("NOOP")[0] == 250


def test_bare_lf_in_command_closes(smtpd):
    c = connect(smtpd, "submission", tls=False, ehlo=False)
    c.send(b"NOOP\n")
    code, text = c.reply()
    assert (code, text[0][:5]) == (550, "5.5.2")
    assert c.closed()
    still_serving(smtpd)


def test_bare_lf_in_data_is_not_end_of_data(smtpd):
    """SMTP smuggling: <LF>.<CR><LF> must not end the data and start a new command."""
    c = login(smtpd)
    assert c.cmd("MAIL FROM:<%s>" % PRO)[0] == 250
    assert c.cmd("RCPT TO:<%s>" % PATIENT)[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(MSG + b"\n.\r\nMAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\nsmuggled\r\n.\r\n"
           % (PRO.encode(), PATIENT2.encode()))
    code, text = c.reply()
    assert (code, text[0][:5]) == (550, "5.5.2")
    assert c.closed()
    assert inbox_count(smtpd, PATIENT) == 0 and inbox_count(smtpd, PATIENT2) == 0
    still_serving(smtpd)


def test_nul_and_long_line_in_data_refused_session_continues(smtpd):
    c = login(smtpd)
    for body, want in ((b"Subject: x\r\n\r\na\0b\r\n", (554, "5.6.0")),
                       (b"Subject: x\r\n\r\n" + b"z" * 5000 + b"\r\n", (500, "5.5.2"))):
        assert c.cmd("MAIL FROM:<%s>" % PRO)[0] == 250
        assert c.cmd("RCPT TO:<%s>" % PATIENT)[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(body + b".\r\n")
        code, text = c.reply()
        assert (code, text[0][:5]) == want
    assert c.cmd("NOOP")[0] == 250
    assert inbox_count(smtpd, PATIENT) == 0


def test_dot_stuffing(smtpd):
    c = login(smtpd)
    assert c.cmd("MAIL FROM:<%s>" % PRO)[0] == 250
    assert c.cmd("RCPT TO:<%s>" % PATIENT)[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(MSG + b"..\r\n...two\r\n.\r\n")
    code, text = c.reply()
    assert code == 250
    size = smtpd.sql("SELECT size FROM messages")[0][0]
    assert size > len(MSG) + len(b".\r\n..two\r\n")


def test_garbage_before_starttls_and_injection_after(smtpd):
    """CVE-2011-0411: commands sent in the clear with STARTTLS are dropped."""
    ctx = smtpd.client_context()
    c = RawSmtp(smtpd.port("smtp"))
    assert c.reply()[0] == 220
    c.send(b"\x16\x03\x01garbage\r\n")
    assert c.reply()[0] == 500
    assert c.cmd("EHLO a.test")[0] == 250
    c.send("STARTTLS\r\nRSET\r\nMAIL FROM:<x@other-operator.test>\r\n")
    code, _ = c.reply()
    assert code == 220
    c.sock = ctx.wrap_socket(c.sock, server_hostname="localhost")
    # The first reply inside TLS answers our EHLO, not the injected RSET.
    code, lines = c.cmd("EHLO a.test")
    assert code == 250 and lines[0] == "mx.mss.test"
    assert c.cmd("NOOP") == (250, ["2.0.0 Ok"])
    # RFC 3207: what was said before TLS is forgotten (EHLO needed again after TLS).


def test_garbage_instead_of_tls_handshake(smtpd):
    c = RawSmtp(smtpd.port("smtp"))
    assert c.reply()[0] == 220
    assert c.cmd("EHLO a.test")[0] == 250
    assert c.cmd("STARTTLS")[0] == 220
    c.send(b"this is not a TLS handshake\r\n" * 10)
    assert c.closed()
    # Implicit TLS port with plain text.
    c = RawSmtp(smtpd.port("submissions"))
    c.send(b"EHLO plain.test\r\n")
    assert c.closed()
    still_serving(smtpd)


def test_helo_forgotten_after_starttls(smtpd):
    # RFC 3207 4.2: the EHLO before STARTTLS no longer counts.
    c = connect(smtpd, "submission", cert="pro", tls=True, ehlo=False)
    code, text = c.cmd("AUTH PLAIN " + plain(PRO, PASSWORDS[PRO]))
    assert (code, text[0][:5]) == (503, "5.5.1")
    assert c.cmd("EHLO again.test")[0] == 250
    assert c.cmd("STARTTLS")[0] == 503  # TLS already active
    assert c.cmd("AUTH PLAIN " + plain(PRO, PASSWORDS[PRO]))[0] == 235


# --- limits ------------------------------------------------------------------------

def test_two_hundred_recipients(smtpd):
    c = login(smtpd)
    assert c.cmd("MAIL FROM:<%s>" % PRO)[0] == 250
    c.send("".join("RCPT TO:<%s>\r\n" % PATIENT for _ in range(200)))
    replies = [c.reply() for _ in range(200)]
    assert [r[0] for r in replies[:100]] == [250] * 100
    assert all(r[0] == 452 and r[1][0].startswith("4.5.3") for r in replies[100:])
    assert c.cmd("DATA")[0] == 354
    c.send(MSG + b".\r\n")
    assert c.reply()[0] == 250
    assert inbox_count(smtpd, PATIENT) == 1


def test_size_declared_too_big(smtpd):
    c = login(smtpd)
    code, text = c.cmd("MAIL FROM:<%s> SIZE=%d" % (PRO, 30 * 1024 * 1024))
    assert (code, text[0][:5]) == (552, "5.3.4")
    assert c.cmd("MAIL FROM:<%s> SIZE=1000 BODY=8BITMIME" % PRO)[0] == 250


def test_thirty_mib_message_refused_session_continues(smtpd):
    c = login(smtpd)
    assert c.cmd("MAIL FROM:<%s>" % PRO)[0] == 250
    assert c.cmd("RCPT TO:<%s>" % PATIENT)[0] == 250
    assert c.cmd("DATA")[0] == 354
    line = b"x" * 998 + b"\r\n"
    c.send(b"Subject: big\r\n\r\n")
    chunk = line * 1024
    for _ in range(30):
        c.send(chunk)
    c.send(b".\r\n")
    code, text = c.reply()
    assert (code, text[0][:5]) == (552, "5.3.4")
    assert c.cmd("NOOP")[0] == 250
    assert inbox_count(smtpd, PATIENT) == 0
    # The next message in the same session goes through.
    assert c.cmd("MAIL FROM:<%s>" % PRO)[0] == 250
    assert c.cmd("RCPT TO:<%s>" % PATIENT)[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(MSG + b".\r\n")
    assert c.reply()[0] == 250


def test_too_many_errors_closes(smtpd):
    c = connect(smtpd, "submission", tls=False, ehlo=False)
    for _ in range(9):
        assert c.cmd("BOGUS")[0] == 500
    c.send("BOGUS\r\n")
    assert c.reply()[0] == 500
    code, text = c.reply()
    assert (code, text[0][:5]) == (421, "4.7.0")
    assert c.closed()
    still_serving(smtpd)


def test_command_timeout(mss):
    mss.set(smtp_command_timeout=2)
    mss.start("smtpd")
    c = connect(mss, "submission", tls=False, ehlo=False)
    start = time.monotonic()
    code, text = c.reply()
    assert (code, text[0][:5]) == (421, "4.4.2")
    assert 1 <= time.monotonic() - start < 10
    assert c.closed()


def test_data_timeout(mss):
    mss.set(smtp_data_timeout=2)
    mss.start("smtpd")
    c = login(mss)
    assert c.cmd("MAIL FROM:<%s>" % PRO)[0] == 250
    assert c.cmd("RCPT TO:<%s>" % PATIENT)[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: slow\r\n")
    code, text = c.reply()
    assert (code, text[0][:5]) == (421, "4.4.2")
    assert inbox_count(mss, PATIENT) == 0
    rows = mss.sql("SELECT target, result FROM audit_log WHERE action = 'smtp.data'")
    assert rows and rows[0][0] == PATIENT and rows[0][1].startswith("refused: 421 4.4.2"), rows


def test_max_sessions(mss):
    mss.set(max_sessions=2)
    mss.start("smtpd")
    time.sleep(1)
    a = connect(mss, "submission", tls=False, ehlo=False)
    b = connect(mss, "smtp", tls=False, ehlo=False)
    c = RawSmtp(mss.port("submission"))
    code, text = c.reply()
    assert (code, text[0][:5]) == (421, "4.7.0")
    for x in (a, b):
        x.cmd("QUIT")
        x.close()
    time.sleep(0.5)
    still_serving(mss)


def test_max_sessions_per_ip(mss):
    mss.set(max_sessions_per_ip=2)
    mss.start("smtpd")
    a = connect(mss, "smtp", tls=False, ehlo=False)
    b = connect(mss, "smtp", tls=False, ehlo=False)
    c = RawSmtp(mss.port("smtp"))
    code, text = c.reply()
    assert (code, text[0][:5]) == (421, "4.7.0")
    a.cmd("QUIT")
    a.close()
    b.cmd("QUIT")
    b.close()
    time.sleep(0.5)
    still_serving(mss)
