"""Password guessing, stopped for both daemons at once (auth/auth_throttle.h), with the
attacks of issue 10 replayed: 100 IMAP guesses from one address, and on submission 4
wrong guesses then a login to the attacker's own account, again and again. Failures
count per client address and per account in the store; a success clears only its own
account's count; certificate logins are never locked out; every failure is audited
with the mechanism and the address, never the secret."""
import imaplib
import smtplib
import time

import pytest

from auth_helpers import Issuer, Sasl, b64, plain_msg, xoauth2
from conftest import PASSWORDS, PATIENT, PATIENT2, PRO
from test_imap_helpers import RawImap


@pytest.fixture
def both(mss):
    mss.set(auth_failure_delay=20)
    mss.start("smtpd")
    mss.start("imapd")
    return mss


def imap_login(m, user, password):
    """One LOGIN on a fresh IMAPS connection: "ok", "failed" or "locked"."""
    r = RawImap(m)
    try:
        _, t = r.cmd("L1", f'LOGIN "{user}" "{password}"')
        if t.startswith(b"L1 OK"):
            return "ok"
        assert t.startswith(b"L1 NO [AUTHENTICATIONFAILED]"), t
        r.sock.settimeout(0.5)
        try:
            return "locked" if r.readline().startswith(b"* BYE") else "failed"
        except (OSError, EOFError):
            return "failed"
    finally:
        r.close()


def test_hundred_imap_guesses_never_find_the_password(both):
    """Issue 10: IMAP had no limit; 100 guesses from one address found the password.
    Now the address is locked after auth_max_failures (5): the right password, tried
    as the 50th guess, is refused unchecked."""
    results = []
    start = time.monotonic()
    for i in range(100):
        guess = PASSWORDS[PATIENT] if i == 49 else f"guess-{i}"
        results.append(imap_login(both, PATIENT, guess))
    assert results[:4] == ["failed"] * 4
    assert results[4] == "locked"
    assert set(results[5:]) == {"locked"}, results
    assert "ok" not in results
    # a locked attempt costs no Argon2id check: the 95 refusals are quick
    assert time.monotonic() - start < 60
    # the lock is the address's and the account's, shared with mss-smtpd
    s = Sasl(both, "submissions")
    assert s.login(PATIENT2, PASSWORDS[PATIENT2]) == "locked"
    # a certificate login from the same address is never locked out
    for listener in ("imaps", "submission"):
        assert Sasl(both, listener, cert="pro").start("EXTERNAL", "=") == "ok"
    # each guess checked was audited with the mechanism and the address, never the secret
    rows = both.sql("SELECT actor, detail, result, peer FROM audit_log WHERE action = 'imap.login' "
                    "AND target = ?", PATIENT)
    assert len([r for r in rows if r[2] == "refused: bad-credentials"]) == 5, rows
    assert all(r[0] == "anonymous" and r[1].startswith("mech=LOGIN") and r[3] == "127.0.0.1" for r in rows)
    assert any(r[2] == "refused: client-locked" for r in rows)
    assert not both.sql("SELECT count(*) FROM audit_log WHERE detail LIKE '%guess-%' "
                        "OR result LIKE '%guess-%' OR target LIKE '%guess-%'")[0][0]
    assert "guess-" not in both.log("imapd")


def test_own_login_between_guesses_does_not_reset(both):
    """Issue 10: on submission, 4 wrong guesses + 1 login to the attacker's own account,
    repeated, never locked out: the success cleared the address's count. Now it clears
    only its own account's."""
    s = Sasl(both, "submission")
    for _ in range(4):
        assert s.login(PATIENT, "guess") == "failed"
    assert s.login(PATIENT2, PASSWORDS[PATIENT2]) == "ok"  # the attacker's own account
    s = Sasl(both, "submission")
    assert s.login(PATIENT, "guess") == "locked"
    assert s.c.closed()
    # and from then on every password attempt from the address, right or wrong
    s = Sasl(both, "submission")
    assert s.login(PATIENT2, PASSWORDS[PATIENT2]) == "locked"


def test_failures_on_one_daemon_lock_the_other(both):
    for _ in range(4):
        assert imap_login(both, PATIENT, "guess") == "failed"
    s = Sasl(both, "submissions")
    assert s.login(PATIENT, "guess") == "locked"
    assert imap_login(both, PATIENT2, PASSWORDS[PATIENT2]) == "locked"
    # password + certificate is a password attempt: locked too; the certificate alone works
    s = Sasl(both, "submission", cert="pro")
    assert s.login(PRO, PASSWORDS[PRO]) == "locked"
    s = Sasl(both, "imap", cert="pro")
    assert s.start("EXTERNAL", "=") == "ok"


def smtp_login(m, source, user, password):
    """AUTH PLAIN on submissions from another loopback address."""
    s = smtplib.SMTP_SSL("127.0.0.1", m.port("submissions"), context=m.client_context(),
                         source_address=(source, 0), timeout=30)
    try:
        s.ehlo("client.test")
        code, _ = s.docmd("AUTH", "PLAIN " + plain_msg(user, password))
        return code
    except smtplib.SMTPServerDisconnected:
        return 421
    finally:
        s.close()


def test_per_account_limit_across_addresses(mss):
    """Distributed guessing: each address stays under its limit, the account does not.
    Other accounts and the certificate are not affected; a lock of one address leaves
    the others free."""
    mss.set(auth_failure_delay=0, auth_max_failures=3, auth_account_max_failures=4)
    mss.start("smtpd")
    mss.start("imapd")
    for i in range(3):
        assert smtp_login(mss, f"127.0.0.{10 + i}", PATIENT, "guess") == 535
    assert smtp_login(mss, "127.0.0.20", PATIENT, "guess") == 421  # the account's 4th
    assert smtp_login(mss, "127.0.0.21", PATIENT, PASSWORDS[PATIENT]) == 421
    assert smtp_login(mss, "127.0.0.21", PATIENT2, PASSWORDS[PATIENT2]) == 235
    # one address locked (3 failures on other accounts): another address is free
    for user in ("nobody1@patient.mss.test", "nobody2@patient.mss.test", "nobody3@patient.mss.test"):
        smtp_login(mss, "127.0.0.30", user, "guess")
    assert smtp_login(mss, "127.0.0.30", PATIENT2, PASSWORDS[PATIENT2]) == 421
    assert smtp_login(mss, "127.0.0.31", PATIENT2, PASSWORDS[PATIENT2]) == 235
    rows = mss.sql("SELECT scope, key, failures, locked_until > 0 FROM auth_failures ORDER BY scope, key")
    assert ("account", PATIENT, 4, 1) in rows, rows
    assert ("client", "127.0.0.30", 3, 1) in rows, rows


def test_failure_delay_grows(mss):
    mss.set(auth_failure_delay=150)
    mss.start("imapd")
    r = RawImap(mss)
    times = []
    for i in range(3):
        t0 = time.monotonic()
        _, t = r.cmd(f"a{i}", f"AUTHENTICATE PLAIN {plain_msg(PATIENT, 'guess')}")
        assert t.startswith(f"a{i} NO [AUTHENTICATIONFAILED]".encode())
        times.append(time.monotonic() - t0)
    # 150 ms times the failures so far (plus the Argon2id check)
    assert times[0] >= 0.14 and times[1] >= 0.29 and times[2] >= 0.44, times
    r.close()


def token_attempt(m, listener, token):
    """One XOAUTH2 login on a fresh session: "ok", "failed" or "locked"."""
    s = Sasl(m, listener)
    try:
        answer = s.start("XOAUTH2", xoauth2(PRO, token))
        if answer == "challenge":  # RFC 7628 3.2.2: the error challenge, then the failure
            answer = s.send("")
        return answer
    finally:
        s.close()


def test_token_guessing_locked_on_both_daemons(mss):
    """Tokens are throttled like passwords: bad tokens from one address lock it for
    both daemons, so a good token is then refused unchecked; the certificate still
    logs in. Each refusal is audited with the mechanism and the address, and no token
    reaches the audit log or the logs."""
    issuer = Issuer(mss.root)
    mss.set(auth_failure_delay=0, auth_max_failures=3, auth_account_max_failures=100, **issuer.settings())
    mss.start("smtpd")
    mss.start("imapd")
    forged = [issuer.token(PRO, key=issuer.other, kid="rsa-1", jti=str(i)) for i in range(3)]
    assert token_attempt(mss, "imaps", forged[0]) == "failed"
    assert token_attempt(mss, "submission", forged[1]) == "failed"
    assert token_attempt(mss, "imap", forged[2]) == "locked"
    good = issuer.token(PRO)
    for listener in ("imaps", "submissions"):
        assert token_attempt(mss, listener, good) == "locked"
        assert Sasl(mss, listener, cert="pro").start("EXTERNAL", "=") == "ok"
    rows = mss.sql("SELECT action, detail, result, peer FROM audit_log WHERE action LIKE '%.login' "
                   "AND result LIKE 'refused%'")
    # the third was checked (and reached the limit); the two after it were not
    assert [r[2] for r in rows] == ["refused: token-bad-signature"] * 3 + ["refused: client-locked"] * 2, rows
    assert all(r[1].startswith("mech=XOAUTH2 ") and r[3] == "127.0.0.1" for r in rows), rows
    for token in forged + [good]:
        sig = token.split(".")[2]
        assert not mss.sql("SELECT count(*) FROM audit_log WHERE detail LIKE ? OR result LIKE ? OR target LIKE ?",
                           f"%{sig}%", f"%{sig}%", f"%{sig}%")[0][0]
        for daemon in ("smtpd", "imapd"):
            assert sig not in mss.log(daemon)


def test_malformed_and_cancelled_exchanges_are_audited_and_counted(mss):
    """Broken input is an attempt too: bad base64, an unusable answer and a cancel are
    each answered with their own code (501 / BAD), audited with the mechanism and the
    address, and counted against the address, so probing with broken input cannot go on
    unseen nor forever. The session goes on after each until the address is locked."""
    mss.set(auth_failure_delay=0, auth_max_failures=5, auth_account_max_failures=100)
    mss.start("smtpd")
    mss.start("imapd")
    s = Sasl(mss, "submission")
    assert s.start("PLAIN", "!!!not-base64!!!") == "malformed"
    assert s.noop()
    assert s.start("LOGIN") == "challenge"
    assert s.send("*") == "cancelled"
    assert s.noop()
    i = Sasl(mss, "imaps")
    assert i.start("PLAIN", "%%%") == "malformed"
    assert i.noop()
    assert i.start("PLAIN") == "challenge"
    assert i.send("*") == "cancelled"
    assert i.noop()
    rows = mss.sql("SELECT action, detail, result, peer FROM audit_log WHERE action LIKE '%.login' "
                   "ORDER BY seq")
    assert [(r[0], r[1].split()[0], r[2]) for r in rows] == [
        ("smtp.login", "mech=PLAIN", "refused: malformed"),
        ("smtp.login", "mech=LOGIN", "refused: cancelled"),
        ("imap.login", "mech=PLAIN", "refused: malformed"),
        ("imap.login", "mech=PLAIN", "refused: cancelled"),
    ], rows
    assert all(r[3] == "127.0.0.1" for r in rows), rows
    # the fifth broken attempt reaches the address's limit: locked, on both daemons
    assert i.start("PLAIN", "%%%") == "locked"
    assert Sasl(mss, "submissions").login(PATIENT2, PASSWORDS[PATIENT2]) == "locked"
    assert Sasl(mss, "imaps", cert="pro").start("EXTERNAL", "=") == "ok"
