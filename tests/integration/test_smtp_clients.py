"""mss-smtpd with real clients: Python smtplib (STARTTLS and implicit TLS, with and
without client certificates), swaks, openssl s_client -starttls smtp and
gnutls-cli --starttls-proto=smtp."""
import base64
import select
import shutil
import smtplib
import subprocess
import time
from email.message import EmailMessage

import pytest

import atrest_helpers
from conftest import ORG, PATIENT, PRO, PASSWORDS
from test_smtp_protocol import inbox_count


def message(sender, rcpt, subject="test"):
    m = EmailMessage()
    m["From"] = sender
    m["To"] = rcpt
    m["Subject"] = subject
    m.set_content("Bonjour,\n\nCeci est un test.\n")
    return m


def stored_envelopes(m, address):
    return atrest_helpers.stored_envelopes(m, address, "INBOX")


def test_smtplib_starttls_password(smtpd):
    with smtplib.SMTP("127.0.0.1", smtpd.port("submission"), timeout=30) as s:
        s.ehlo("client.test")
        assert s.has_extn("starttls") and not s.has_extn("auth")
        s.starttls(context=smtpd.login_context(PRO))
        s.ehlo("client.test")
        assert s.has_extn("pipelining") and s.has_extn("enhancedstatuscodes")
        assert s.has_extn("8bitmime") and s.esmtp_features["size"] == "26214400"
        # the certificate maps to PRO: EXTERNAL is offered beside the passwords
        assert s.esmtp_features["auth"].split() == ["PLAIN", "LOGIN", "EXTERNAL"]
        s.login(PRO, PASSWORDS[PRO])
        assert s.send_message(message(PRO, PATIENT)) == {}
    assert inbox_count(smtpd, PATIENT) == 1
    # No Message-ID was given: the server added one (visible in the cached envelope).
    assert "@mx.mss.test>" in stored_envelopes(smtpd, PATIENT)[0]


def test_smtplib_implicit_tls_password(smtpd):
    with smtplib.SMTP_SSL("127.0.0.1", smtpd.port("submissions"), timeout=30,
                          context=smtpd.login_context(PATIENT)) as s:
        s.login(PATIENT, PASSWORDS[PATIENT])
        # A patient cannot start a conversation: refused at RCPT.
        with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
            s.send_message(message(PATIENT, PRO))
        code, text = e.value.recipients[PRO]
        assert code == 550 and text.startswith(b"5.7.1")


@pytest.mark.parametrize("listener", ["submission", "submissions"])
def test_smtplib_client_certificate_external(smtpd, listener):
    ctx = smtpd.client_context("pro")
    if listener == "submission":
        s = smtplib.SMTP("127.0.0.1", smtpd.port(listener), timeout=30)
        s.starttls(context=ctx)
    else:
        s = smtplib.SMTP_SSL("127.0.0.1", smtpd.port(listener), timeout=30, context=ctx)
    with s:
        s.ehlo("client.test")
        assert "EXTERNAL" in s.esmtp_features["auth"]
        code, text = s.docmd("AUTH", "EXTERNAL =")
        assert code == 235, text
        msg = message(PRO, PATIENT)
        msg["Message-ID"] = "<given@client.test>"
        assert s.send_message(msg) == {}
    assert "given@client.test" in stored_envelopes(smtpd, PATIENT)[0]


def test_smtplib_client_certificate_with_password(smtpd):
    """Password login while presenting a certificate (DESIGN: password + certificate)."""
    with smtplib.SMTP("127.0.0.1", smtpd.port("submission"), timeout=30) as s:
        s.starttls(context=smtpd.client_context("org"))
        s.login(ORG, PASSWORDS[ORG])
        assert s.send_message(message(ORG, PRO)) == {}


def swaks(smtpd, *args):
    # scripts/install-deps installs swaks and its TLS modules: missing is a failure.
    assert shutil.which("swaks"), "swaks is not installed (scripts/install-deps)"
    r = subprocess.run(["swaks", "--server", "127.0.0.1", "--tls-verify",
                        "--tls-ca-path", str(smtpd.pki / "ca.crt"), *args],
                       capture_output=True, text=True, timeout=60)
    return r


def test_swaks_starttls_and_tls_on_connect(smtpd):
    r = swaks(smtpd, "--port", str(smtpd.port("submission")), "--tls",
              "--auth", "PLAIN", "--auth-user", PRO, "--auth-password", PASSWORDS[PRO],
              "--tls-cert", str(smtpd.pki / "pro.crt"), "--tls-key", str(smtpd.pki / "pro.key"),
              "--from", PRO, "--to", PATIENT, "--header", "Subject: swaks")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "250 2.0.0 Ok: queued as" in r.stdout
    r = swaks(smtpd, "--port", str(smtpd.port("submissions")), "--tls-on-connect",
              "--auth", "LOGIN", "--auth-user", PRO, "--auth-password", PASSWORDS[PRO],
              "--tls-cert", str(smtpd.pki / "pro.crt"), "--tls-key", str(smtpd.pki / "pro.key"),
              "--pipeline", "--from", PRO, "--to", PATIENT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert inbox_count(smtpd, PATIENT) == 2


def test_swaks_refusals(smtpd):
    # MX without TLS: MAIL refused with 530 5.7.0.
    r = swaks(smtpd, "--port", str(smtpd.port("smtp")), "--from", "a@other-operator.test",
              "--to", PRO)
    assert r.returncode != 0
    assert "530 5.7.0" in r.stdout
    # Wrong password.
    r = swaks(smtpd, "--port", str(smtpd.port("submission")), "--tls", "--auth", "PLAIN",
              "--auth-user", PRO, "--auth-password", "wrong", "--from", PRO, "--to", PATIENT)
    assert r.returncode != 0 and "535 5.7.8" in r.stdout


def auth_plain(user):
    return base64.b64encode(f"\0{user}\0{PASSWORDS[user]}".encode()).decode()


def script(user, rcpt):
    return (f"EHLO cli.test\r\nAUTH PLAIN {auth_plain(user)}\r\nMAIL FROM:<{user}>\r\n"
            f"RCPT TO:<{rcpt}>\r\nDATA\r\nSubject: cli\r\n\r\nhello\r\n.\r\nQUIT\r\n")


def test_openssl_s_client_starttls(smtpd):
    for extra in ([], ["-cert", str(smtpd.pki / "pro.crt"), "-key", str(smtpd.pki / "pro.key")]):
        r = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect",
                            f"127.0.0.1:{smtpd.port('submission')}", "-CAfile",
                            str(smtpd.pki / "ca.crt"), "-verify_return_error", "-quiet",
                            "-nocommands", *extra],
                           input=script(PRO, PATIENT), capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert "221 2.0.0" in r.stdout
        if extra:
            assert "AUTH PLAIN LOGIN EXTERNAL" in r.stdout
            assert "235 2.7.0" in r.stdout and "250 2.0.0 Ok: queued as" in r.stdout, r.stdout
        else:  # a professional's password without their certificate
            assert "535 5.7.8" in r.stdout and "queued" not in r.stdout, r.stdout
    assert inbox_count(smtpd, PATIENT) == 1


def gnutls_cli(args, commands, timeout=60):
    """gnutls-cli with the commands on stdin, kept open until the server's 221 (or the
    timeout): gnutls-cli ends the session as soon as stdin ends, so a busy server's
    replies (an Argon2id check under load) would otherwise be cut off."""
    p = subprocess.Popen(["gnutls-cli", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    p.stdin.write(commands)
    p.stdin.flush()
    out = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([p.stdout], [], [], 1)
            line = p.stdout.readline() if ready else ""
            if ready and not line:
                break
            out.append(line)
            if line.startswith("221 "):
                break
    finally:
        p.stdin.close()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return "".join(out) + p.stdout.read()


def test_gnutls_cli_starttls(smtpd):
    assert shutil.which("gnutls-cli"), "gnutls-cli is not installed (scripts/install-deps)"
    # Lines already end in CRLF: gnutls-cli --crlf converts only the first LF of a read.
    out = gnutls_cli(["--starttls-proto=smtp", "--port", str(smtpd.port("submission")),
                      "--x509cafile", str(smtpd.pki / "ca.crt"),
                      "--x509certfile", str(smtpd.pki / "pro.crt"),
                      "--x509keyfile", str(smtpd.pki / "pro.key"), "127.0.0.1"], script(PRO, PATIENT))
    assert "235 2.7.0" in out and "250 2.0.0 Ok: queued as" in out, out
    assert inbox_count(smtpd, PATIENT) == 1
    # With a client certificate on the MX port, SASL is not offered, and an
    # organisation certificate makes an establishment relay.
    out = gnutls_cli(["--starttls-proto=smtp", "--port", str(smtpd.port("smtp")),
                      "--x509cafile", str(smtpd.pki / "ca.crt"),
                      "--x509certfile", str(smtpd.pki / "org.crt"),
                      "--x509keyfile", str(smtpd.pki / "org.key"), "127.0.0.1"],
                     f"EHLO relay.test\r\nMAIL FROM:<{ORG}>\r\nRCPT TO:<{PRO}>\r\nDATA\r\n"
                     "Subject: relay\r\n\r\nhello\r\n.\r\nQUIT\r\n")
    assert "AUTH" not in out.split("Simple Client Mode")[-1]
    assert "250 2.0.0 Ok: queued as" in out, out
