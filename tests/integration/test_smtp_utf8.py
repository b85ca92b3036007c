"""SMTPUTF8 (RFC 6531) and REQUIRETLS (RFC 8689) on mss-smtpd's listeners (issue 13):
EHLO offers them (REQUIRETLS on TLS sessions only), a non-ASCII address outside an
SMTPUTF8 transaction gets 553 5.6.7, malformed UTF-8 and C1 controls get 501, MAIL
REQUIRETLS before TLS gets 530 5.7.10, each time the session goes on. A message to a
UTF-8 address is stored (Received: says UTF8SMTPS...) and read with imaplib, with IMAP
UTF8=ACCEPT as it is, without it in RFC 6858's downgraded form."""
import imaplib
import re
from email.header import decode_header, make_header

from conftest import PATIENT, PRO
from test_policy_smtp import as_professional
from test_smtp_protocol import connect, login

UTF8_PRO = "chloé.dubois@pro.mss.test"  # a professional whose address is UTF-8


def ehlo_lines(c):
    code, lines = c.cmd("EHLO client.test")
    assert code == 250
    return lines[1:]


def test_ehlo_offers_smtputf8_everywhere_and_requiretls_on_tls_only(smtpd):
    for listener in ("smtp", "submission"):
        c = connect(smtpd, listener, tls=False, ehlo=False)
        before = ehlo_lines(c)
        assert "SMTPUTF8" in before and "REQUIRETLS" not in before, before
        # RFC 8689 4.1: MAIL with REQUIRETLS outside TLS has its own refusal
        code, text = c.cmd(f"MAIL FROM:<{PRO}> REQUIRETLS")
        assert (code, text[0][:6]) == (530, "5.7.10"), text
        code, text = c.cmd(f"MAIL FROM:<{PRO}>")
        assert (code, text[0][:5]) == (530, "5.7.0"), text
        c.starttls(smtpd.client_context())
        after = ehlo_lines(c)
        assert "SMTPUTF8" in after and "REQUIRETLS" in after, after
        c.cmd("QUIT")
        c.close()
    c = connect(smtpd, "submissions", ehlo=False)
    lines = ehlo_lines(c)
    assert "SMTPUTF8" in lines and "REQUIRETLS" in lines, lines
    c.close()


def test_utf8_addresses_need_the_smtputf8_parameter(smtpd):
    c = login(smtpd)
    # RFC 6531 3.3: no SMTPUTF8 on MAIL, no UTF-8 address
    code, text = c.cmd("MAIL FROM:<chloé@pro.mss.test>")
    assert (code, text[0][:5]) == (553, "5.6.7") and "SMTPUTF8" in text[0], text
    assert c.cmd(f"MAIL FROM:<{PRO}>")[0] == 250
    code, text = c.cmd(f"RCPT TO:<{UTF8_PRO}>")
    assert (code, text[0][:5]) == (553, "5.6.7"), text
    assert c.cmd("RSET")[0] == 250
    # with it: malformed UTF-8 (an overlong '/', a truncated sequence) and a C1 control
    # are syntax errors, the session goes on
    assert c.cmd(f"MAIL FROM:<{PRO}> SMTPUTF8 REQUIRETLS")[0] == 250
    for bad in (b"a\xc0\xafb@pro.mss.test", b"a\xc3@pro.mss.test", b"a\xc2\x85@pro.mss.test"):
        c.send(b"RCPT TO:<" + bad + b">\r\n")
        code, text = c.reply()
        assert (code, text[0][:5]) == (501, "5.1.3"), (bad, text)
    code, text = c.cmd("RCPT TO:<inconnu.é@pro.mss.test>")
    assert code == 550, text  # valid UTF-8, no such account: the usual refusal
    # parameters given twice or with a value
    assert c.cmd("RSET")[0] == 250
    for params in ("SMTPUTF8 SMTPUTF8", "REQUIRETLS=yes"):
        code, text = c.cmd(f"MAIL FROM:<{PRO}> {params}")
        assert (code, text[0][:5]) == (501, "5.5.4"), (params, text)
    assert c.cmd("NOOP")[0] == 250
    c.cmd("QUIT")
    c.close()


def utf8_message(rcpt):
    return (f"From: Dr Martin <{PRO}>\r\nTo: Chloé Dubois <{rcpt}>\r\n"
            "Subject: Résultats d'analyse\r\n\r\nBonne journée.\r\n").encode()


def send_utf8(m, rcpt, options=("SMTPUTF8",)):
    with as_professional(m) as s:
        assert s.has_extn("smtputf8") and s.has_extn("requiretls")
        assert s.sendmail(PRO, [rcpt], utf8_message(rcpt), mail_options=list(options)) == {}
        s.quit()


def imap_as_utf8_pro(m):
    """imaplib over implicit TLS as UTF8_PRO: EXTERNAL with its certificate (a UTF-8
    user name cannot go in LOGIN before ENABLE)."""
    c = imaplib.IMAP4_SSL("127.0.0.1", m.port("imaps"), ssl_context=m.client_context("odd"), timeout=30)
    typ, data = c.authenticate("EXTERNAL", lambda _: b"")
    assert typ == "OK", data
    return c


def fetched(data):
    """imaplib's FETCH data: (the response as one byte string, the parts outside
    literals, the literals)."""
    outside, literals = [], []
    for x in data:
        if isinstance(x, tuple):
            outside.append(x[0])
            literals.append(x[1])
        else:
            outside.append(x)
    whole = b"".join(o + (lit or b"") for o, lit in zip(outside, literals + [b""] * len(outside)))
    return whole, outside, literals


def test_utf8_recipient_stored_and_read_with_and_without_utf8_accept(mss):
    assert mss.add_account(UTF8_PRO, "professional", cert=mss.pki / "odd.crt",
                           name="Chloé Dubois").returncode == 0
    mss.start("smtpd")
    mss.start("imapd")
    send_utf8(mss, UTF8_PRO, ("SMTPUTF8", "REQUIRETLS"))
    assert "smtputf8=yes requiretls=yes" in mss.log("smtpd")
    c = imap_as_utf8_pro(mss)
    try:
        typ, data = c.enable("UTF8=ACCEPT")
        assert typ == "OK" and c.utf8_enabled, data
        assert c.select("INBOX")[0] == "OK"
        typ, data = c.fetch("1", "(ENVELOPE BODY.PEEK[HEADER])")
        assert typ == "OK", data
        whole, _, _ = fetched(data)
        assert "Résultats d'analyse".encode() in whole, whole
        assert b'"chlo\xc3\xa9.dubois"' in whole or "chloé.dubois".encode() in whole, whole
        text = whole.decode("utf-8")
        assert "Subject: Résultats d'analyse\r\n" in text, text
        assert "with UTF8SMTPSA id" in text, text  # RFC 6531 3.7.3
        assert f"for <{UTF8_PRO}>" in text, text
    finally:
        c.logout()
    # a client that did not enable UTF8=ACCEPT gets RFC 6858's downgraded ENVELOPE:
    # no 8-bit octet, the subject and names in encoded words, the UTF-8 address as an
    # empty group named after it
    c = imap_as_utf8_pro(mss)
    try:
        assert c.select("INBOX")[0] == "OK"
        typ, data = c.fetch("1", "(ENVELOPE)")
        assert typ == "OK", data
        whole, _, _ = fetched(data)
        assert all(b < 0x80 for b in whole), whole
        words = re.findall(rb'"(=\?utf-8\?b\?[^"]*)"', whole)
        decoded = [str(make_header(decode_header(w.decode()))) for w in words]
        assert "Résultats d'analyse" in decoded, (decoded, whole)
        assert f"Chloé Dubois <{UTF8_PRO}>" in decoded, (decoded, whole)
        assert b"(NIL NIL NIL NIL)" in whole  # the group's end
        # and the message itself is unchanged (8-bit in a literal, RFC 3501 CHAR8)
        typ, data = c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert "Résultats d'analyse".encode() in fetched(data)[0], data
    finally:
        c.logout()


def test_plain_session_received_keeps_esmtp(smtpd):
    """Without SMTPUTF8 nothing changes: ESMTPSA in Received, ASCII addresses."""
    with as_professional(smtpd) as s:
        msg = f"From: {PRO}\r\nTo: {PATIENT}\r\nSubject: x\r\n\r\nok\r\n".encode()
        assert s.sendmail(PRO, [PATIENT], msg) == {}
    assert "smtputf8=yes" not in smtpd.log("smtpd")
