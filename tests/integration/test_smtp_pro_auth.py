"""Submission authentication of professionals: a password is accepted only together
with the account's own client certificate; patients log in with their password alone.
(The same rules on IMAP: test_auth_roles.py.)"""
import time

import pytest

from conftest import ORG, PATIENT, PRO, PRO2, PASSWORDS
from test_smtp_auth import send
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


def login_records(m, user):
    """The seq of each accepted smtp.login record of user, oldest first."""
    return [r[0] for r in m.sql("SELECT seq FROM audit_log WHERE action = 'smtp.login' AND actor = ? "
                                "AND result = 'ok' ORDER BY seq", user)]


def test_login_record_written_with_the_delivery(strict):
    """An accepted submission login stores nothing: its audit record is kept and written
    in the transaction of what the session stores next (auth.h defer_login_record), before
    the records of the MAIL and RCPT it led to; without a delivery, at the connection's
    end. A refusal is written before its answer."""
    m = strict
    c = connect(m, "submission", cert="pro")
    assert c.cmd("AUTH EXTERNAL =")[0] == 235
    assert login_records(m, PRO) == []  # kept: no commit of its own at the login
    assert send(c, PRO, PATIENT)[-1][0] == 250
    # acknowledged: the login's record is stored, with the delivery, before its MAIL's
    logins = login_records(m, PRO)
    assert len(logins) == 1
    mail = m.sql("SELECT min(seq) FROM audit_log WHERE action = 'smtp.mail' AND actor = ?", PRO)[0][0]
    assert logins[0] < mail
    c.cmd("QUIT")
    # a login followed by nothing: written when the connection ends (QUIT, or a drop)
    for quit in (True, False):
        c = connect(m, "submission", cert="pro")
        assert c.cmd("AUTH EXTERNAL =")[0] == 235
        if quit:
            assert c.cmd("QUIT")[0] == 221
        c.close()
        want = len(logins) + 1
        deadline = time.monotonic() + 10
        while len(login_records(m, PRO)) < want and time.monotonic() < deadline:
            time.sleep(0.05)
        logins = login_records(m, PRO)
        assert len(logins) == want
    # a refusal: written before the 535
    c = connect(m, "submission", cert="pro2")
    assert c.cmd("AUTH PLAIN " + plain(PRO, PASSWORDS[PRO]))[0] == 535
    assert m.sql("SELECT count(*) FROM audit_log WHERE action = 'smtp.login' AND target = ? "
                 "AND result LIKE 'refused%'", PRO)[0][0] == 1
    c.close()
