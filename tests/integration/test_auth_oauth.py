"""OAuth 2.0 access tokens (Pro Santé Connect) on both daemons, as DESIGN.md "OAuth 2.0
for professionals" says: SASL XOAUTH2 and OAUTHBEARER (RFC 7628) after TLS, tokens
minted here with python3-jwt and python3-cryptography (RS256, PS256, ES256), real
clients (imaplib, smtplib, curl --oauth2-bearer), every bad token refused with the
RFC 7628 error challenge and the session going on, a missing or broken JWKS stopping
the daemon with the file's name and why."""
import base64
import hashlib
import hmac
import imaplib
import json
import shutil
import signal
import smtplib
import subprocess
import time

import pytest

from auth_helpers import AUDIENCE, ISSUER, Issuer, Sasl, oauthbearer, xoauth2
from conftest import PASSWORDS, PATIENT, PRO, PRO2
from test_smtp_protocol import inbox_count

RPPS = "10001234567"


@pytest.fixture
def oauth(mss):
    """Both daemons with OAuth configured; throttling out of the way (its own tests)."""
    issuer = Issuer(mss.root)
    mss.set(auth_max_failures=1000, auth_account_max_failures=1000, auth_failure_delay=0, smtp_max_errors=1000,
            **issuer.settings())
    mss.ctl("account", "add", "dr.rpps2@pro.mss.test", "--role", "professional", "--rpps", "10009999999")
    mss.start("smtpd")
    mss.start("imapd")
    mss.issuer = issuer
    return mss


def message(sender, rcpt, subject="token"):
    return (f"From: {sender}\r\nTo: {rcpt}\r\nSubject: {subject}\r\n\r\nBonjour.\r\n").encode()


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256"])
def test_good_token_each_algorithm_imaplib_smtplib(oauth, alg):
    token = oauth.issuer.token(PRO, alg=alg)
    c = imaplib.IMAP4_SSL("127.0.0.1", oauth.port("imaps"), ssl_context=oauth.client_context(), timeout=30)
    assert "AUTH=XOAUTH2" in c.capabilities and "AUTH=OAUTHBEARER" in c.capabilities
    typ, _ = c.authenticate("XOAUTH2", lambda _: f"user={PRO}\x01auth=Bearer {token}\x01\x01".encode())
    assert typ == "OK"
    assert c.select("INBOX")[0] == "OK"
    c.logout()
    with smtplib.SMTP("127.0.0.1", oauth.port("submission"), timeout=30) as s:
        s.starttls(context=oauth.client_context())
        s.ehlo("client.test")
        assert "XOAUTH2" in s.esmtp_features["auth"] and "OAUTHBEARER" in s.esmtp_features["auth"]
        code, _ = s.auth("OAUTHBEARER",
                         lambda challenge=None: f"n,a={PRO},\x01auth=Bearer {token}\x01\x01"
                         if challenge is None else "\x01")
        assert code == 235
        s.sendmail(PRO, [PATIENT], message(PRO, PATIENT))
    assert inbox_count(oauth, PATIENT) == 1
    # the login is strong: audited as a token, and the token itself is nowhere
    rows = oauth.sql("SELECT action, auth, detail FROM audit_log WHERE actor = ? AND action LIKE '%.login'", PRO)
    assert ("imap.login", "token", "mech=XOAUTH2 listener=imaps") in rows, rows
    assert ("smtp.login", "token", "mech=OAUTHBEARER listener=submission") in rows, rows
    sig = token.split(".")[2]
    assert not oauth.sql("SELECT count(*) FROM audit_log WHERE detail LIKE ? OR result LIKE ? OR target LIKE ?",
                         f"%{sig}%", f"%{sig}%", f"%{sig}%")[0][0]
    for daemon in ("smtpd", "imapd"):
        assert sig not in oauth.log(daemon) and token[:40] not in oauth.log(daemon)


def curl(*args):
    assert shutil.which("curl"), "curl is not installed (scripts/install-deps)"
    return subprocess.run(["curl", "-sS", "--max-time", "30", *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("mech", ["XOAUTH2", "OAUTHBEARER"])
def test_curl_oauth2_bearer(oauth, tmp_path, mech):
    token = oauth.issuer.token(PRO, alg="ES256")
    ca = str(oauth.pki / "ca.crt")
    r = curl("--cacert", ca, "--user", f"{PRO}:", "--oauth2-bearer", token, "--login-options", f"AUTH={mech}",
             f"imaps://127.0.0.1:{oauth.port('imaps')}/INBOX", "-X", "STATUS INBOX (MESSAGES)")
    assert r.returncode == 0, r.stderr
    assert "MESSAGES" in r.stdout
    msg = tmp_path / "msg.eml"
    msg.write_bytes(message(PRO, PATIENT, f"curl {mech}"))
    r = curl("--cacert", ca, "--ssl-reqd", "--user", f"{PRO}:", "--oauth2-bearer", token, "--login-options",
             f"AUTH={mech}", "--mail-from", PRO, "--mail-rcpt", PATIENT, "--upload-file", str(msg),
             f"smtp://127.0.0.1:{oauth.port('submission')}")
    assert r.returncode == 0, r.stderr
    assert inbox_count(oauth, PATIENT) == 1
    # a bad token: curl reports the login failure (67), and nothing is delivered
    bad = oauth.issuer.token(PRO, key=oauth.issuer.other, kid="rsa-1")
    r = curl("--cacert", ca, "--ssl-reqd", "--user", f"{PRO}:", "--oauth2-bearer", bad, "--login-options",
             f"AUTH={mech}", "--mail-from", PRO, "--mail-rcpt", PATIENT, "--upload-file", str(msg),
             f"smtps://127.0.0.1:{oauth.port('submissions')}")
    assert r.returncode == 67, (r.returncode, r.stderr)
    assert inbox_count(oauth, PATIENT) == 1


def hs256_with_public_key(issuer, identity):
    """The key-confusion attack: HS256 keyed with the RSA public key (PyJWT refuses to
    mint it, so by hand)."""
    from cryptography.hazmat.primitives import serialization

    pem = issuer.rsa.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)

    def part(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    now = int(time.time())
    signing = part({"alg": "HS256", "kid": "rsa-1"}) + "." + part(
        {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 300, "preferred_username": identity})
    mac = hmac.new(pem, signing.encode(), hashlib.sha256).digest()
    return signing + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def bad_tokens(issuer):
    now = int(time.time())
    good = issuer.token(PRO)
    head, body, sig = good.split(".")
    return {
        "alg none": issuer.jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "exp": now + 300,
                                       "preferred_username": PRO}, None, algorithm="none"),
        "HS256 key confusion": hs256_with_public_key(issuer, PRO),
        "unknown kid": issuer.token(PRO, kid="nope", key=issuer.rsa),
        "signed by another key": issuer.token(PRO, kid="rsa-1", key=issuer.other),
        "expired": issuer.token(PRO, exp=now - 120),
        "not yet valid": issuer.token(PRO, nbf=now + 600),
        "wrong issuer": issuer.token(PRO, iss="https://evil.example"),
        "wrong audience": issuer.token(PRO, aud="someone-else"),
        "another account": issuer.token(PRO2),
        "no identity claim": issuer.token(None),
        "tampered payload": head + "." + body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + sig,
        "broken JSON": base64.urlsafe_b64encode(b'{"alg":"RS256",').rstrip(b"=").decode() + "." + body + "." + sig,
        "not a JWS": "not-a-token",
        # over 16 KiB, yet short enough to reach the token check (refused unread there)
        "over 16 KiB": issuer.token(PRO, padding="x" * 12300),
    }


@pytest.mark.parametrize("listener", ["imaps", "submission"])
@pytest.mark.parametrize("mech", ["XOAUTH2", "OAUTHBEARER"])
def test_bad_tokens_refused_with_error_challenge(oauth, listener, mech):
    encode = xoauth2 if mech == "XOAUTH2" else oauthbearer
    s = Sasl(oauth, listener)
    tokens = bad_tokens(oauth.issuer)
    assert 16384 < len(tokens["over 16 KiB"]) < 18000
    for name, token in tokens.items():
        # the initial response in the command, or after an empty challenge (curl's way
        # for long SMTP lines)
        if len(token) < 900:
            answer = s.start(mech, encode(PRO, token))
        else:
            assert s.start(mech) == "challenge", name
            answer = s.send(encode(PRO, token))
        assert answer == "challenge", (name, s.text)
        status = json.loads(base64.b64decode(s.challenge))
        assert status["status"] == ("invalid_token" if mech == "OAUTHBEARER" else "401"), name
        assert s.send("AQ==" if mech == "OAUTHBEARER" else "") == "failed", (name, s.text)
        assert s.noop(), name
    reasons = {r[0] for r in oauth.sql("SELECT result FROM audit_log WHERE action LIKE '%.login' "
                                         "AND result LIKE 'refused%'")}
    assert reasons >= {"refused: token-alg-refused", "refused: token-unknown-key", "refused: token-bad-signature",
                       "refused: token-expired", "refused: token-not-yet-valid", "refused: token-wrong-issuer",
                       "refused: token-wrong-audience", "refused: token-for-another-account",
                       "refused: token-unknown-identity", "refused: token-malformed",
                       "refused: token-too-long"}, reasons
    # far over: the line itself is refused (501 / BAD), plainly
    assert s.start(mech) == "challenge"
    assert s.send(encode(PRO, oauth.issuer.token(PRO, padding="x" * 40000))) in ("malformed", "toolong")
    # the same session then logs in with a good token
    assert s.start(mech, encode(PRO, oauth.issuer.token(PRO))) == "ok"


def test_identity_claim_forms_and_roles(oauth):
    iss = oauth.issuer
    # "8" + RPPS names the account; the SASL user must be that account
    oauth.ctl("account", "add", "dr.x@pro.mss.test", "--role", "professional", "--rpps", RPPS)
    for listener in ("imaps", "submissions"):
        s = Sasl(oauth, listener)
        assert s.start("XOAUTH2", xoauth2("dr.x@pro.mss.test", iss.token("8" + RPPS))) == "ok"
        # OAUTHBEARER without a user (no a=): the claim alone names the account
        s = Sasl(oauth, listener)
        assert s.start("OAUTHBEARER", oauthbearer("", iss.token("8" + RPPS))) == "ok"
        s = Sasl(oauth, listener)
        assert s.start("OAUTHBEARER", oauthbearer("", iss.token(PRO))) == "ok"
        # another professional's RPPS for this user: refused
        s = Sasl(oauth, listener)
        assert s.start("XOAUTH2", xoauth2("dr.x@pro.mss.test", iss.token("810009999999"))) == "challenge"
        assert s.send("") == "failed"
        # patients never log in with a token
        s = Sasl(oauth, listener)
        assert s.start("XOAUTH2", xoauth2(PATIENT, iss.token(PATIENT))) == "challenge"
        assert s.send("") == "failed"
    assert oauth.sql("SELECT count(*) FROM audit_log WHERE result = 'refused: mechanism-not-for-role'")[0][0] == 2


def test_not_offered_without_jwks(mss):
    mss.start("smtpd")
    mss.start("imapd")
    for listener in ("imaps", "submission"):
        s = Sasl(mss, listener)
        assert "XOAUTH2" not in s.mechs and "OAUTHBEARER" not in s.mechs
        assert s.start("XOAUTH2", xoauth2(PRO, "x.y.z")) == "unknown"
        assert s.noop()


@pytest.mark.parametrize("daemon", ["smtpd", "imapd"])
def test_missing_or_broken_jwks_stops_the_daemon(mss, daemon):
    missing = mss.root / "nope.json"
    mss.set(oauth_issuer=ISSUER, oauth_audience=AUDIENCE, oauth_jwks_file=str(missing))
    with pytest.raises(AssertionError) as e:
        mss.start(daemon)
    assert f"{missing}: No such file or directory" in str(e.value)
    broken = mss.root / "broken.json"
    broken.write_text('{"keys": [{"kty": "RSA", "kid": "k", "n": "AQAB", "e": "AQAB"}]}')
    mss.set(oauth_jwks_file=str(broken))
    with pytest.raises(AssertionError) as e:
        mss.start(daemon)
    assert f"{broken}: key 1: RSA key shorter than 2048 bits" in str(e.value)
    issuer = Issuer(mss.root)
    mss.set(oauth_issuer="", oauth_jwks_file=str(issuer.jwks))
    with pytest.raises(AssertionError) as e:
        mss.start(daemon)
    assert "oauth_jwks_file needs oauth_issuer and oauth_audience" in str(e.value)
    mss.set(**issuer.settings())
    mss.start(daemon)


def log_events(m, daemon, name):
    return [line for line in m.log(daemon).splitlines() if f"event={name} " in line]


def wait_for_event(m, daemon, name, count, timeout=10):
    deadline = time.monotonic() + timeout
    while len(log_events(m, daemon, name)) < count:
        assert time.monotonic() < deadline, (name, m.log(daemon)[-2000:])
        time.sleep(0.05)
    return log_events(m, daemon, name)


def token_login(m, listener, token):
    s = Sasl(m, listener)
    answer = s.start("XOAUTH2", xoauth2(PRO, token))
    if answer == "challenge":
        answer = s.send("")
    s.close()
    return answer


def test_jwks_reload_on_sighup_keeps_old_keys_when_bad(oauth):
    """SIGHUP re-reads oauth_jwks_file (DESIGN.md "Command line contract"): a file that
    is missing or invalid at reload is refused with a log line naming it and why, the
    keys in force stay; a good file replaces them for the next logins; the daemon never
    dies on SIGHUP, and a session that is open keeps working."""
    iss = oauth.issuer
    jwks = iss.jwks
    old_token = iss.token(PRO)
    open_session = Sasl(oauth, "imaps")
    pids = {d: oauth.procs[d].pid for d in ("smtpd", "imapd")}
    reloads = {"smtpd": 0, "imapd": 0}

    def hup(expect):
        for d in ("smtpd", "imapd"):
            reloads[d] += 1
            oauth.procs[d].send_signal(signal.SIGHUP)
            line = wait_for_event(oauth, d, "oauth.reload", reloads[d])[-1]
            assert expect in line, line
            assert oauth.procs[d].poll() is None and oauth.procs[d].pid == pids[d]

    saved = jwks.read_text()
    jwks.write_text('{"keys": [')
    hup(f'result=failed error="{jwks}: not a JSON object')
    jwks.unlink()
    hup(f'result=failed error="{jwks}: No such file or directory"')
    for listener in ("imaps", "submissions"):
        assert token_login(oauth, listener, old_token) == "ok"
    # a new issuer key set: the new key works, the old one no longer does
    (oauth.root / "new").mkdir()
    other = Issuer(oauth.root / "new")
    jwks.write_text(other.jwks.read_text())
    hup("result=ok keys=2")
    for listener in ("imaps", "submissions"):
        assert token_login(oauth, listener, other.token(PRO)) == "ok"
        assert token_login(oauth, listener, iss.token(PRO)) == "failed"
    assert open_session.login(PATIENT, PASSWORDS[PATIENT]) == "ok"
    jwks.write_text(saved)
    hup("result=ok keys=2")
    assert token_login(oauth, "submission", iss.token(PRO)) == "ok"
    reasons = oauth.sql("SELECT result FROM audit_log WHERE action LIKE '%.login' AND result LIKE 'refused%'")
    assert {r[0] for r in reasons} == {"refused: token-bad-signature"}, reasons
