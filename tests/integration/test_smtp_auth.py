"""mss-smtpd authentication and the rules the policy applies to authenticated senders:
AUTH PLAIN/LOGIN against the stored Argon2id hashes, AUTH EXTERNAL with a client
certificate, failure delay and per-IP lockout, sender identity, conversation rules."""
import base64
import ssl
import time

import pytest

from conftest import ORG, PATIENT, PATIENT2, PRO, PRO2, PASSWORDS
from test_smtp_protocol import RawSmtp, connect, inbox_count, login, plain


def b64(s):
    return base64.b64encode(s.encode()).decode()


def send(c, mail_from, rcpt, body=None):
    """Runs one transaction; returns the reply codes of MAIL, RCPT, final dot. The
    header's From is the sender (auth/identity.h), unless body is given."""
    if body is None:
        body = f"From: {mail_from}\r\nTo: {rcpt}\r\nSubject: test\r\n\r\nHello.\r\n".encode()
    codes = [c.cmd("MAIL FROM:<%s>" % mail_from)]
    if codes[-1][0] != 250:
        return codes
    codes.append(c.cmd("RCPT TO:<%s>" % rcpt))
    if codes[-1][0] != 250:
        c.cmd("RSET")
        return codes
    assert c.cmd("DATA")[0] == 354
    c.send(body + b".\r\n")
    codes.append(c.reply())
    return codes


def test_auth_plain_both_listeners(smtpd):
    for listener in ("submission", "submissions"):
        c = login(smtpd, PATIENT, listener)
        c.cmd("QUIT")


def test_auth_plain_with_challenge_and_login(smtpd):
    c = connect(smtpd, cert="pro")
    code, text = c.cmd("AUTH PLAIN")
    assert code == 334 and text == [""]
    assert c.cmd(plain(PRO, PASSWORDS[PRO]))[0] == 235
    c = connect(smtpd)
    code, text = c.cmd("AUTH LOGIN")
    assert (code, text) == (334, ["VXNlcm5hbWU6"])
    code, text = c.cmd(b64(PATIENT))
    assert (code, text) == (334, ["UGFzc3dvcmQ6"])
    assert c.cmd(b64(PASSWORDS[PATIENT]))[0] == 235
    # LOGIN with the user name as initial response.
    c = connect(smtpd)
    assert c.cmd("AUTH LOGIN " + b64(PATIENT))[0] == 334
    assert c.cmd(b64(PASSWORDS[PATIENT]))[0] == 235


def test_auth_cancel_and_bad_input(smtpd):
    c = connect(smtpd)
    assert c.cmd("AUTH LOGIN")[0] == 334
    code, text = c.cmd("*")
    assert (code, text[0][:5]) == (501, "5.7.0")
    code, text = c.cmd("AUTH PLAIN !!!notbase64")
    assert code == 501
    code, text = c.cmd("AUTH CRAM-MD5")
    assert (code, text[0][:5]) == (504, "5.5.4")
    code, text = c.cmd("AUTH EXTERNAL =")  # not offered without a certificate
    assert code == 504
    assert c.cmd("AUTH PLAIN " + plain(PATIENT, PASSWORDS[PATIENT]))[0] == 235


def test_auth_external_with_client_certificate(smtpd):
    for listener in ("submission", "submissions"):
        c = connect(smtpd, listener, cert="pro")
        code, lines = c.cmd("EHLO client.test")
        assert "AUTH PLAIN LOGIN EXTERNAL" in lines, lines
        code, text = c.cmd("AUTH EXTERNAL " + b64(PRO2))  # another identity: refused
        assert (code, text[0][:5]) == (535, "5.7.8")
        code, text = c.cmd("AUTH EXTERNAL =")
        assert (code, text[0][:5]) == (235, "2.7.0")
        codes = send(c, PRO, PATIENT)
        assert codes[-1][0] == 250, codes
    # EXTERNAL with the identity named, after an empty challenge.
    c = connect(smtpd, "submission", cert="org")
    assert c.cmd("AUTH EXTERNAL")[0] == 334
    assert c.cmd(b64(ORG))[0] == 235


def test_auth_external_by_certificate_email(mss_factory):
    """No fingerprint registered: the certificate's subjectAltName e-mail maps it."""
    m = mss_factory()
    m.add_account(PRO, "professional")
    m.add_account(PATIENT, "patient", password=PASSWORDS[PATIENT])
    m.start("smtpd")
    c = connect(m, "submissions", cert="pro")
    assert c.cmd("AUTH EXTERNAL =")[0] == 235
    assert send(c, PRO, PATIENT)[-1][0] == 250
    # A certificate whose e-mail has no account offers no EXTERNAL.
    c = connect(m, "submissions", cert="pro2")
    code, lines = c.cmd("EHLO client.test")
    assert "AUTH PLAIN LOGIN" in lines
    assert c.cmd("AUTH EXTERNAL =")[0] == 504


@pytest.mark.parametrize("cert", ["revoked", "expired", "untrusted"])
def test_bad_client_certificate_refused(smtpd, cert):
    ctx = smtpd.client_context(cert)
    with pytest.raises((ssl.SSLError, EOFError, ConnectionResetError, BrokenPipeError)):
        c = RawSmtp(smtpd.port("submissions"), implicit_tls=True, ctx=ctx)
        c.reply()
        c.cmd("EHLO x")
    c = connect(smtpd, "submission", cert=None)
    assert c.cmd("NOOP")[0] == 250


def test_wrong_password_delay_and_lockout(smtpd):
    c = connect(smtpd)
    for i in range(4):
        start = time.monotonic()
        code, text = c.cmd("AUTH PLAIN " + plain(PATIENT, "wrong"))
        assert (code, text[0][:5]) == (535, "5.7.8")
        # auth_failure_delay = 100 ms, times the failures so far
        assert time.monotonic() - start >= 0.09 * (i + 1)
    code, text = c.cmd("AUTH PLAIN " + plain(PATIENT, "wrong"))
    assert (code, text[0][:5]) == (421, "4.7.0")
    assert c.closed()
    # The count is per IP: a new session from the same address is refused too,
    # even with the right password, until the lockout passes.
    c = connect(smtpd)
    code, text = c.cmd("AUTH PLAIN " + plain(PATIENT, PASSWORDS[PATIENT]))
    assert (code, text[0][:5]) == (421, "4.7.0")


def test_unknown_user_and_no_password_account(mss):
    mss.add_account("nopass@pro.mss.test", "professional")
    mss.start("smtpd")
    c = connect(mss, cert="pro")
    assert c.cmd("AUTH PLAIN " + plain("nobody@pro.mss.test", "x"))[0] == 535
    assert c.cmd("AUTH PLAIN " + plain("nopass@pro.mss.test", ""))[0] in (501, 535)
    assert c.cmd("AUTH PLAIN " + plain(PRO, PASSWORDS[PRO]))[0] == 235


def test_authenticated_identity_is_the_sender(smtpd):
    c = login(smtpd, PRO)
    code, text = c.cmd("MAIL FROM:<%s>" % PRO2)
    assert (code, text[0][:5]) == (550, "5.7.1")
    code, text = c.cmd("MAIL FROM:<%s>" % ORG)
    assert code == 550
    assert c.cmd("MAIL FROM:<%s>" % PRO)[0] == 250
    # The audit log names the refused attempt.
    rows = smtpd.sql("SELECT actor, action, result FROM audit_log WHERE action = 'smtp.mail' "
                     "AND result LIKE 'refused%'")
    assert any(r[0] == PRO and "550 5.7.1" in r[2] for r in rows), rows


def test_conversation_rules_at_rcpt(smtpd):
    # A patient cannot start a conversation, nor write to another patient.
    p = login(smtpd, PATIENT)
    codes = send(p, PATIENT, PRO)
    assert codes[-1][0] == 550 and codes[-1][1][0].startswith("5.7.1"), codes
    codes = send(p, PATIENT, PATIENT2)
    assert codes[-1][0] == 550 and codes[-1][1][0].startswith("5.7.1"), codes
    # Unknown local mailbox.
    codes = send(p, PATIENT, "nobody@pro.mss.test")
    assert codes[-1][0] == 550, codes
    # The professional writes first; then the patient may reply.
    d = login(smtpd, PRO)
    codes = send(d, PRO, PATIENT)
    assert codes[-1][0] == 250, codes
    codes = send(p, PATIENT, PRO)
    assert codes[-1][0] == 250, codes
    # Refusals are audited with their reason, never with content.
    rows = smtpd.sql("SELECT target, result, detail FROM audit_log WHERE action = 'smtp.rcpt'")
    assert any(r[0] == PATIENT2 and r[1].startswith("refused: 550") for r in rows), rows
    assert not any("Hello." in (r[2] or "") for r in rows)


def test_blocked_professional_refused(smtpd):
    r = smtpd.ctl("access", "block", PATIENT, PRO2, check=False)
    assert r.returncode == 0, r.stderr
    d = login(smtpd, PRO2)
    codes = send(d, PRO2, PATIENT)
    assert codes[-1][0] == 550 and codes[-1][1][0].startswith("5.7.1"), codes
    assert inbox_count(smtpd, PATIENT) == 0


def test_remote_recipient_from_submission(smtpd):
    d = login(smtpd, PRO)
    codes = send(d, PRO, "someone@other-operator.test")
    assert codes[-1][0] == 550 and codes[-1][1][0].startswith("5.7.1"), codes
