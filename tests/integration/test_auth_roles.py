"""The role rules of auth/, the same on every port (submission, submissions, IMAP with
STARTTLS, IMAPS), with a byte-level client and with real clients: patients log in
with their password; professionals and organisations with their certificate
(EXTERNAL), their password together with that certificate, or a token; a password
alone never logs a professional in; EXTERNAL is offered only for a certificate that
maps to an account, never a patient's; a disabled account never logs in; bad SASL
input gets a plain refusal and the session goes on."""
import imaplib
import smtplib

import pytest

from auth_helpers import LISTENERS, Sasl, b64, mint_cert, plain_msg
from conftest import ORG, PASSWORDS, PATIENT, PATIENT2, PRO, PRO2


@pytest.fixture
def both(mss):
    mss.start("smtpd")
    mss.start("imapd")
    return mss


@pytest.mark.parametrize("listener", LISTENERS)
def test_patient_by_password_only(both, listener):
    s = Sasl(both, listener)
    assert s.mechs == ["PLAIN", "LOGIN"]
    assert s.login(PATIENT, "wrong") == "failed"
    assert s.noop()
    assert s.login(PATIENT, PASSWORDS[PATIENT]) == "ok", s.text
    # SASL LOGIN too: "Username:", "Password:"
    s = Sasl(both, listener)
    assert s.start("LOGIN") == "challenge" and s.challenge == "VXNlcm5hbWU6"
    assert s.send(b64(PATIENT2)) == "challenge" and s.challenge == "UGFzc3dvcmQ6"
    assert s.send(b64(PASSWORDS[PATIENT2])) == "ok"


@pytest.mark.parametrize("listener", LISTENERS)
@pytest.mark.parametrize("user,own,other", [(PRO, "pro", "pro2"), (ORG, "org", "pro")])
def test_professional_password_needs_own_certificate(both, listener, user, own, other):
    s = Sasl(both, listener)
    assert s.login(user, PASSWORDS[user]) == "failed"
    assert s.start("LOGIN", b64(user)) == "challenge"
    assert s.send(b64(PASSWORDS[user])) == "failed"
    assert s.noop()
    s = Sasl(both, listener, cert=other)
    assert s.login(user, PASSWORDS[user]) == "failed"
    s = Sasl(both, listener, cert=own)
    assert "EXTERNAL" in s.mechs
    assert s.login(user, PASSWORDS[user]) == "ok", s.text


@pytest.mark.parametrize("listener", LISTENERS)
def test_external_with_mapped_certificate(both, listener):
    s = Sasl(both, listener, cert="pro")
    assert s.mechs == ["PLAIN", "LOGIN", "EXTERNAL"]
    assert s.start("EXTERNAL", b64(PRO2)) == "failed"  # another identity named
    assert s.start("EXTERNAL", "=") == "ok", s.text
    s = Sasl(both, listener, cert="org")
    assert s.start("EXTERNAL") == "challenge" and s.challenge == ""
    assert s.send(b64(ORG)) == "ok"


@pytest.mark.parametrize("listener", LISTENERS)
def test_external_not_offered_without_mapping(mss_factory, listener):
    """No certificate, or one whose e-mail has no account: no EXTERNAL, and asking for
    it is refused like an unknown mechanism."""
    m = mss_factory()
    m.add_account(PRO, "professional")
    m.start("smtpd")
    m.start("imapd")
    for cert in (None, "pro2"):
        s = Sasl(m, listener, cert=cert)
        assert "EXTERNAL" not in s.mechs
        assert s.start("EXTERNAL", "=") == "unknown"
        assert s.noop()
    # by its e-mail alone (no fingerprint registered), pro.crt maps to PRO
    s = Sasl(m, listener, cert="pro")
    assert s.start("EXTERNAL", "=") == "ok"


@pytest.mark.parametrize("listener", LISTENERS)
def test_patient_address_certificate_never_maps(both, listener):
    """A certificate of the configured CA whose subjectAltName is a patient's address:
    not offered EXTERNAL, refused if it asks; the patient's password still works."""
    name = mint_cert(both.pki, "patient-san", PATIENT, cn="Patient Demo")
    s = Sasl(both, listener, cert=name)
    assert "EXTERNAL" not in s.mechs
    assert s.start("EXTERNAL", "=") == "unknown"
    assert s.start("EXTERNAL", b64(PATIENT)) == "unknown"
    assert s.login(PATIENT, PASSWORDS[PATIENT]) == "ok"


def test_patient_address_certificate_imaplib(both):
    name = mint_cert(both.pki, "patient-san", PATIENT, cn="Patient Demo")
    c = imaplib.IMAP4_SSL("127.0.0.1", both.port("imaps"), ssl_context=both.client_context(name),
                          timeout=30)
    assert "AUTH=EXTERNAL" not in c.capabilities
    with pytest.raises(imaplib.IMAP4.error):
        c.authenticate("EXTERNAL", lambda _: b"")
    c.logout()


@pytest.mark.parametrize("listener", LISTENERS)
def test_disabled_accounts_never_log_in(both, listener):
    both.ctl("account", "disable", PRO)
    both.ctl("account", "disable", PATIENT)
    s = Sasl(both, listener, cert="pro")
    assert "EXTERNAL" not in s.mechs
    assert s.start("EXTERNAL", "=") == "unknown"
    assert s.login(PRO, PASSWORDS[PRO]) == "failed"
    assert s.login(PATIENT, PASSWORDS[PATIENT]) == "failed"
    assert s.login(PATIENT2, PASSWORDS[PATIENT2]) == "ok"


@pytest.mark.parametrize("listener", LISTENERS)
def test_bad_sasl_input_refused_session_goes_on(mss, listener):
    # each broken attempt counts against the address (test_auth_throttle): room for all
    mss.set(auth_max_failures=50)
    both = mss
    mss.start("smtpd")
    mss.start("imapd")
    s = Sasl(both, listener)
    assert s.start("PLAIN", "!!!notbase64") == "malformed"
    assert s.start("PLAIN", "QUJD=") == "malformed"  # bad padding
    assert s.start("PLAIN", "=") == "failed"  # empty message
    assert s.start("PLAIN", b64("no-nul-at-all")) == "failed"
    assert s.start("PLAIN", b64(f"\0{PATIENT}\0")) == "failed"  # empty password
    assert s.start("PLAIN") == "challenge"
    assert s.send("*") == "cancelled"
    assert s.start("LOGIN") == "challenge"
    assert s.send("@@@@") == "malformed"
    assert s.start("CRAM-MD5") == "unknown"
    # oversized: a continuation line far past any SASL message
    assert s.start("PLAIN") == "challenge"
    assert s.send("QUFB" * 10000) in ("malformed", "toolong")
    assert s.noop()
    assert s.login(PATIENT, PASSWORDS[PATIENT]) == "ok"


def test_proxy_authorisation_refused(both):
    for listener in LISTENERS:
        s = Sasl(both, listener)
        assert s.start("PLAIN", plain_msg(PATIENT2, PASSWORDS[PATIENT2], authzid=PATIENT)) == "failed"
        assert s.start("PLAIN", plain_msg(PATIENT2, PASSWORDS[PATIENT2], authzid=PATIENT2)) == "ok"


def test_real_clients_professional_password(both):
    """smtplib and imaplib: the same password refused alone, accepted with the cert."""
    with smtplib.SMTP_SSL("127.0.0.1", both.port("submissions"), context=both.client_context(),
                          timeout=30) as s:
        with pytest.raises(smtplib.SMTPAuthenticationError):
            s.login(PRO, PASSWORDS[PRO])
    with smtplib.SMTP_SSL("127.0.0.1", both.port("submissions"), context=both.client_context("pro"),
                          timeout=30) as s:
        s.login(PRO, PASSWORDS[PRO])
    c = imaplib.IMAP4_SSL("127.0.0.1", both.port("imaps"), ssl_context=both.client_context(), timeout=30)
    with pytest.raises(imaplib.IMAP4.error):
        c.login(PRO, PASSWORDS[PRO])
    c.logout()
    c = imaplib.IMAP4_SSL("127.0.0.1", both.port("imaps"), ssl_context=both.client_context("pro"),
                          timeout=30)
    assert c.login(PRO, PASSWORDS[PRO])[0] == "OK"
    c.logout()
    # the refusals are in the audit log, with the mechanism and the client address
    rows = both.sql("SELECT action, target, detail, result, peer FROM audit_log WHERE result LIKE 'refused%' "
                    "AND target = ?", PRO)
    assert {r[0] for r in rows} == {"smtp.login", "imap.login"}, rows
    assert all(r[3] == "refused: password-without-certificate" and r[4] == "127.0.0.1" for r in rows), rows
    assert all(r[2].startswith("mech=") for r in rows), rows
    assert not both.sql("SELECT count(*) FROM audit_log WHERE detail LIKE ? OR result LIKE ?",
                        f"%{PASSWORDS[PRO]}%", f"%{PASSWORDS[PRO]}%")[0][0]
    for daemon in ("smtpd", "imapd"):
        assert PASSWORDS[PRO] not in both.log(daemon)
