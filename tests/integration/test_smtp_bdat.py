"""CHUNKING / BDAT (RFC 3030) over real TLS sessions with raw sockets: chunks across
line ends, BDAT LAST and BDAT 0 LAST, DATA and BDAT never mixed, RSET between chunks,
the chunk always read (also when refused) so its octets never run as commands, the
same line, NUL, bare CR/LF and size limits as DATA, a chunk past max_message_size
dropped as it arrives, and the message read back over IMAP as sent."""
import imaplib
import time

from conftest import PASSWORDS, PATIENT, PATIENT2, PRO
from test_smtp_protocol import connect, inbox_count, login, still_serving

HEAD = f"From: {PRO}\r\nTo: {PATIENT}\r\nSubject: chunked\r\n\r\n".encode()


def bdat(c, data, last=False):
    c.send(b"BDAT %d%s\r\n" % (len(data), b" LAST" if last else b"") + data)
    return c.reply()


def envelope(c, rcpt=PATIENT):
    assert c.cmd("MAIL FROM:<%s>" % PRO)[0] == 250
    assert c.cmd("RCPT TO:<%s>" % rcpt)[0] == 250


def fetch_all(m, user=PATIENT):
    m.start("imapd")
    im = imaplib.IMAP4_SSL("127.0.0.1", m.port("imaps"), ssl_context=m.login_context(user))
    im.login(user, PASSWORDS[user])
    im.select("INBOX", readonly=True)
    out = []
    for num in im.search(None, "ALL")[1][0].split():
        out.append(im.fetch(num, "(BODY.PEEK[TEXT])")[1][0][1])
    im.logout()
    return out


def test_chunking_advertised_binarymime_not(smtpd):
    c = connect(smtpd, "smtp", tls=False, ehlo=False)
    code, lines = c.cmd("EHLO client.test")
    assert code == 250 and "CHUNKING" in lines and not any("BINARYMIME" in x for x in lines)
    assert c.cmd("HELP")[1][0].count("BDAT") == 1


def test_message_in_chunks_read_back(smtpd):
    c = login(smtpd)
    envelope(c)
    body = b"line one\r\n.\r\n..two\r\nthree\r\n"
    # chunks cut inside a line and between the CR and the LF
    assert bdat(c, HEAD + b"line o") == (250, ["2.0.0 Ok: chunk received"])
    assert bdat(c, b"ne\r\n.\r\n..two\r")[0] == 250
    code, text = bdat(c, b"\nthree\r\n", last=True)
    assert code == 250 and text[0].startswith("2.0.0 Ok: queued as "), text
    # BDAT 0 LAST ends a message sent in sized chunks
    envelope(c)
    assert bdat(c, HEAD + b"second\r\n")[0] == 250
    assert bdat(c, b"", last=True)[0] == 250
    assert c.cmd("NOOP")[0] == 250
    got = fetch_all(smtpd)
    # no dot-stuffing in BDAT: the dots arrive as sent
    assert got == [body, b"second\r\n"]


def test_data_and_bdat_not_mixed_rset_between_chunks(smtpd):
    c = login(smtpd)
    envelope(c)
    assert bdat(c, HEAD)[0] == 250
    assert c.cmd("DATA") == (503, ["5.5.1 Error: DATA after BDAT in the same transaction"])
    assert c.cmd("RSET")[0] == 250
    # the transaction is gone: the next chunk is read whole, refused, and nothing runs
    assert bdat(c, b"QUIT\r\nRCPT TO:<%s>\r\n" % PATIENT2.encode(), last=True) == \
        (503, ["5.5.1 Error: need MAIL command"])
    assert c.cmd("NOOP")[0] == 250
    # DATA after RSET works; BDAT after a DATA transaction starts a new one
    envelope(c)
    assert c.cmd("DATA")[0] == 354
    c.send(HEAD + b"by data\r\n.\r\n")
    assert c.reply()[0] == 250
    envelope(c)
    assert bdat(c, HEAD + b"by bdat\r\n", last=True)[0] == 250
    assert inbox_count(smtpd, PATIENT) == 2 and inbox_count(smtpd, PATIENT2) == 0


def test_bdat_refused_chunks_are_read(smtpd):
    """Before TLS, before MAIL, before RCPT: the chunk is read, then the refusal; its
    octets never run as commands."""
    inner = b"MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n" % (PRO.encode(), PATIENT.encode())
    c = connect(smtpd, "smtp", tls=False)
    assert bdat(c, inner, last=True) == (530, ["5.7.0 Must issue a STARTTLS command first"])
    assert c.cmd("NOOP")[0] == 250
    c = login(smtpd)
    assert bdat(c, inner)[0] == 503
    assert c.cmd("MAIL FROM:<%s>" % PRO)[0] == 250
    assert bdat(c, inner) == (503, ["5.5.1 Error: need RCPT command"])
    assert c.cmd("NOOP")[0] == 250
    assert inbox_count(smtpd, PATIENT) == 0


def test_bdat_syntax_error_closes(smtpd):
    for bad in ("BDAT", "BDAT x", "BDAT -1", "BDAT 10 NOW", "BDAT 1234567890123456789"):
        c = login(smtpd)
        envelope(c)
        code, text = c.cmd(bad)
        assert (code, text[0][:5]) == (501, "5.5.4"), bad
        assert c.closed()
    still_serving(smtpd)


def test_bdat_same_limits_as_data(smtpd):
    """Line limit, NUL, bare LF, bare CR: each refuses the message, the session goes on."""
    c = login(smtpd)
    cases = [(HEAD + b"x" * 1200 + b"\r\n", (500, "5.5.2")),
             (HEAD + b"a\0b\r\n", (554, "5.6.0")),
             (HEAD + b"a\nMAIL FROM:<x@y>\r\n", (550, "5.5.2")),
             (HEAD + b"a\r.\rb\r\n", (550, "5.5.2"))]
    for data, want in cases:
        envelope(c)
        # the bad part in a middle chunk: refused there, the transaction reset
        code, text = bdat(c, data)
        assert (code, text[0][:5]) == want, data[:40]
        assert bdat(c, b"end\r\n", last=True)[0] == 503
    envelope(c)
    assert bdat(c, HEAD + b"fine\r\n", last=True)[0] == 250
    assert inbox_count(smtpd, PATIENT) == 1


def test_bdat_past_max_message_size(smtpd):
    smtpd.stop("smtpd")
    smtpd.set(max_message_size="64K")
    smtpd.start("smtpd")
    c = login(smtpd)
    # one chunk announced beyond the limit: read and dropped in pieces, then 552
    envelope(c)
    big = b"y" * 78 + b"\r\n"
    t0 = time.monotonic()
    code, text = bdat(c, HEAD + big * (8 * 1024 * 1024 // 80), last=True)  # 8 MiB
    assert (code, text[0][:5]) == (552, "5.3.4")
    assert time.monotonic() - t0 < 60
    # the limit reached over several chunks: refused at the chunk that passes it
    envelope(c)
    for i in range(100):
        code, text = bdat(c, big * 100)  # 8000 octets a chunk
        if code != 250:
            break
    assert (code, text[0][:5]) == (552, "5.3.4") and 7 <= i <= 9
    assert bdat(c, b"", last=True)[0] == 503
    # within the limit, in chunks: delivered
    envelope(c)
    assert bdat(c, HEAD + big * 100)[0] == 250
    assert bdat(c, big * 100, last=True)[0] == 250
    assert inbox_count(smtpd, PATIENT) == 1
    still_serving(smtpd)
