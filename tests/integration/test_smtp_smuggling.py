"""SMTP smuggling (CVE-2023-51764 family) over real TLS sessions with raw sockets.

RFC 5321 2.3.8: CR and LF appear in mail data only as the CRLF pair; 4.1.1.4: only
CRLF.CRLF ends the data. A bare LF ends the session with 550 5.5.2 (Postfix's
smtpd_forbid_bare_newline = reject); a bare CR refuses the message with 550 5.5.2 and
the session goes on, in step with the client, since CRLF.CRLF alone ended the data.
Each variant tries to smuggle a second message to PATIENT2 in one DATA: it must never
reach any mailbox, and a correct message afterwards is delivered."""
import imaplib

import pytest

from conftest import PASSWORDS, PATIENT, PATIENT2, PRO
from test_smtp_protocol import connect, inbox_count, login, still_serving

MSG = (f"From: {PRO}\r\nTo: {PATIENT}\r\nSubject: outer\r\n\r\nouter body\r\n").encode()
SMUGGLED = (f"MAIL FROM:<{PRO}>\r\nRCPT TO:<{PATIENT2}>\r\nDATA\r\n"
            f"From: {PRO}\r\nTo: {PATIENT2}\r\nSubject: smuggled\r\n\r\nsmuggled body\r\n").encode()

# The end-of-data imitations that other servers took for the end (SEC Consult, 2023).
BARE_CR = [b"\r.\r", b"\r\n.\r", b"\r.\r\n", b"\r\n.\r\r\n"]
BARE_LF = [b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\n"]


def all_messages(m):
    return m.sql("SELECT count(*) FROM messages")[0][0]


def start_txn(c, rcpt=PATIENT):
    assert c.cmd("MAIL FROM:<%s>" % PRO)[0] == 250
    assert c.cmd("RCPT TO:<%s>" % rcpt)[0] == 250
    assert c.cmd("DATA")[0] == 354


def send_good(c, subject="good"):
    start_txn(c)
    c.send(f"From: {PRO}\r\nTo: {PATIENT}\r\nSubject: {subject}\r\n\r\nfine\r\n.\r\n".encode())
    return c.reply()


def bodies(m, user):
    """Every message of user's INBOX, read back over IMAP (TLS)."""
    m.start("imapd")
    im = imaplib.IMAP4_SSL("127.0.0.1", m.port("imaps"), ssl_context=m.login_context(user))
    im.login(user, PASSWORDS[user])
    im.select("INBOX", readonly=True)
    typ, data = im.search(None, "ALL")
    out = []
    for num in data[0].split():
        typ, part = im.fetch(num, "(BODY.PEEK[])")
        out.append(part[0][1])
    im.logout()
    return out


@pytest.mark.parametrize("seq", BARE_CR, ids=[repr(s) for s in BARE_CR])
def test_bare_cr_refused_session_goes_on(smtpd, seq):
    before = all_messages(smtpd)
    c = login(smtpd)
    start_txn(c)
    # The smuggled "message" then CRLF.CRLF: to us all of it is one message.
    c.send(MSG + b"x" + seq + SMUGGLED + b".\r\n")
    code, text = c.reply()
    assert (code, text[0]) == (550, "5.5.2 Error: bare <CR> received, lines must end with <CR><LF>")
    # in step: the next command is answered as a command, and a correct message passes
    assert c.cmd("NOOP")[0] == 250
    code, text = send_good(c)
    assert code == 250, text
    assert c.cmd("QUIT")[0] == 221
    assert all_messages(smtpd) == before + 1
    assert inbox_count(smtpd, PATIENT2) == 0
    stored = bodies(smtpd, PATIENT)
    assert len(stored) == 1 and b"Subject: good" in stored[0]
    assert not any(b"smuggled" in b or b"outer" in b for b in stored)
    for b in stored:  # nothing stored carries a bare CR or LF
        assert b.replace(b"\r\n", b"").count(b"\r") == 0 and b.replace(b"\r\n", b"").count(b"\n") == 0


@pytest.mark.parametrize("seq", BARE_LF, ids=[repr(s) for s in BARE_LF])
def test_bare_lf_closes_nothing_smuggled(smtpd, seq):
    before = all_messages(smtpd)
    c = login(smtpd)
    start_txn(c)
    c.send(MSG + b"x" + seq + SMUGGLED + b".\r\n")
    code, text = c.reply()
    assert (code, text[0]) == (550, "5.5.2 Error: bare <LF> received, lines must end with <CR><LF>")
    assert c.closed()
    # a new session delivers a correct message; the smuggled one never appears
    c = login(smtpd)
    code, text = send_good(c)
    assert code == 250, text
    c.cmd("QUIT")
    assert all_messages(smtpd) == before + 1
    assert inbox_count(smtpd, PATIENT2) == 0
    stored = bodies(smtpd, PATIENT)
    assert len(stored) == 1 and not any(b"smuggled" in b for b in stored)


def test_bare_cr_refused_over_implicit_tls(smtpd):
    """The same on the submissions listener (implicit TLS, RFC 8314)."""
    c = login(smtpd, listener="submissions")
    start_txn(c)
    c.send(MSG + b"a\rb\r\n.\r\n")
    assert c.reply()[0] == 550
    code, text = send_good(c)
    assert code == 250, text
    assert inbox_count(smtpd, PATIENT) == 1
    still_serving(smtpd)


def test_cr_lf_in_order_is_fine(smtpd):
    """Control: CRLF everywhere, dot-stuffed lines, a line of one dot inside: delivered."""
    c = login(smtpd)
    start_txn(c)
    c.send(MSG + b"..\r\n.x\r\n\r\n.\r\n")
    assert c.reply()[0] == 250
    assert inbox_count(smtpd, PATIENT) == 1
