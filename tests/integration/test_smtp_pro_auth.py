"""Submission authentication of professionals: a password is accepted only together
with the account's own client certificate; patients log in with their password alone.
(The same rules on IMAP: test_auth_roles.py.)"""
import pytest

from conftest import ORG, PATIENT, PRO, PRO2, PASSWORDS
from test_smtp_protocol import connect, plain


@pytest.fixture
def strict(mss):
    mss.start("smtpd")
    return mss


@pytest.mark.parametrize("listener", ["submission", "submissions"])
def test_professional_password_without_certificate_refused(strict, listener):
    c = connect(strict, listener)
    code, text = c.cmd("AUTH PLAIN " + plain(PRO, PASSWORDS[PRO]))
    assert (code, text[0][:5]) == (535, "5.7.8")
    # The session goes on: the certificate-less patient logs in with a password.
    assert c.cmd("AUTH PLAIN " + plain(PATIENT, PASSWORDS[PATIENT]))[0] == 235


@pytest.mark.parametrize("user,cert", [(PRO, "pro"), (PRO2, "pro2"), (ORG, "org")])
def test_professional_password_with_own_certificate_accepted(strict, user, cert):
    c = connect(strict, "submission", cert=cert)
    assert c.cmd("AUTH PLAIN " + plain(user, PASSWORDS[user]))[0] == 235


def test_password_with_another_accounts_certificate_refused(strict):
    c = connect(strict, "submission", cert="pro2")
    code, _ = c.cmd("AUTH PLAIN " + plain(PRO, PASSWORDS[PRO]))
    assert code == 535


def test_certificate_alone_still_works(strict):
    c = connect(strict, "submission", cert="pro")
    assert c.cmd("AUTH EXTERNAL =")[0] == 235


def test_refusal_is_logged_without_the_password(strict):
    c = connect(strict, "submission")
    assert c.cmd("AUTH PLAIN " + plain(PRO, PASSWORDS[PRO]))[0] == 535
    c.cmd("QUIT")
    log = strict.log("smtpd")
    assert "reason=password-without-certificate" in log
    assert PASSWORDS[PRO] not in log
