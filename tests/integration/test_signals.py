"""SIGHUP and SIGTERM as DESIGN.md's command-line contract says (issue 16 "Reload",
issue 12): SIGHUP re-reads the config file and the TLS material for the sessions that
start afterwards, a bad file keeps the old settings and says why, the daemon never dies
on it; SIGTERM lets sessions say goodbye ("* BYE", "421") instead of being cut."""
import hashlib
import imaplib
import os
import shutil
import signal
import smtplib
import socket
import ssl
import time

from conftest import PASSWORDS, PATIENT, PRO


def greeting(m, listener="submission"):
    with socket.create_connection(("127.0.0.1", m.port(listener)), timeout=10) as s:
        return s.recv(512).decode()


def hup(m, daemon, expect):
    """Sends SIGHUP and waits for the daemon's reload line containing expect."""
    before = m.log(daemon).count("event=reload")
    os.kill(m.procs[daemon].pid, signal.SIGHUP)
    deadline = time.time() + 10
    while time.time() < deadline:
        lines = [l for l in m.log(daemon).splitlines() if "event=reload" in l]
        if len(lines) > before:
            assert expect in lines[-1], lines[-1]
            return lines[-1]
        time.sleep(0.1)
    raise AssertionError(f"no reload logged by {daemon}")


def test_sighup_reloads_config_and_keeps_it_when_bad(mss):
    mss.set(hostname="before.mss.test")
    mss.start("smtpd")
    assert "before.mss.test" in greeting(mss)
    held = socket.create_connection(("127.0.0.1", mss.port("submission")), timeout=10)
    assert "before.mss.test" in held.recv(512).decode()

    mss.set(hostname="after.mss.test")
    hup(mss, "smtpd", "result=ok")
    assert "after.mss.test" in greeting(mss)
    # The session in progress keeps what it started with and is not ended.
    held.sendall(b"EHLO client.test\r\n")
    assert "before.mss.test" in held.recv(2048).decode()
    held.close()

    # A file that does not parse: the daemon lives on with the last good settings.
    good = mss.conf.read_text()
    mss.conf.write_text(good + "this is not a setting\n")
    line = hup(mss, "smtpd", "result=failed")
    assert "mss.conf" in line
    assert mss.procs["smtpd"].poll() is None
    assert "after.mss.test" in greeting(mss)

    # A certificate that does not load: the same, and TLS still works with the old one.
    mss.conf.write_text(good)
    mss.set(hostname="third.mss.test", tls_cert=str(mss.root / "missing.crt"))
    line = hup(mss, "smtpd", "result=failed")
    assert "missing.crt" in line
    assert "after.mss.test" in greeting(mss)
    with smtplib.SMTP("127.0.0.1", mss.port("submission"), timeout=30) as c:
        c.starttls(context=mss.login_context(PRO))
        assert c.login(PRO, PASSWORDS[PRO])[0] == 235
    assert mss.procs["smtpd"].poll() is None


def test_sighup_to_imapd_reloads_and_never_kills(mss):
    mss.start("imapd")
    for _ in range(3):
        hup(mss, "imapd", "result=ok")
    mss.conf.write_text(mss.conf.read_text() + "imap_max_bad = many\n")
    hup(mss, "imapd", "result=failed")
    assert mss.procs["imapd"].poll() is None
    c = imaplib.IMAP4_SSL("127.0.0.1", mss.port("imaps"), ssl_context=mss.login_context(PATIENT))
    assert c.login(PATIENT, PASSWORDS[PATIENT])[0] == "OK"
    c.logout()


def test_sigterm_says_bye_to_imap_sessions(mss):
    mss.start("imapd")
    c = imaplib.IMAP4_SSL("127.0.0.1", mss.port("imaps"), ssl_context=mss.login_context(PATIENT))
    c.login(PATIENT, PASSWORDS[PATIENT])
    c.select("INBOX")
    os.kill(mss.procs["imapd"].pid, signal.SIGTERM)
    data = b""
    c.sock.settimeout(10)
    try:
        while b"\r\n" not in data:
            chunk = c.sock.recv(1024)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    assert data.startswith(b"* BYE"), data
    mss.procs["imapd"].wait(timeout=15)
    assert "session_crashed" not in mss.log("imapd")


def test_sigterm_gives_smtp_clients_421(mss):
    mss.start("smtpd")
    c = smtplib.SMTP("127.0.0.1", mss.port("submission"), timeout=30)
    c.ehlo()
    os.kill(mss.procs["smtpd"].pid, signal.SIGTERM)
    c.sock.settimeout(10)
    data = c.sock.recv(1024)
    assert data.startswith(b"421 4.3.2"), data
    mss.procs["smtpd"].wait(timeout=15)
    assert "session_crashed" not in mss.log("smtpd")


def test_sighup_takes_the_tls_files_the_new_config_names(mss, pki):
    """The TLS reload (tls_ctx_sighup) reads the files the new config names, not those
    the daemon started with, on both daemons."""
    def served(daemon_port):
        ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        ctx.check_hostname = False
        with socket.create_connection(("127.0.0.1", daemon_port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()

    def der(name):
        return hashlib.sha256(ssl.PEM_cert_to_DER_cert((pki / name).read_text())).hexdigest()

    for name in ("operator.crt", "operator.key"):
        shutil.copyfile(pki / name, mss.root / name)
    mss.start("smtpd")
    mss.start("imapd")
    assert served(mss.port("submissions")) == der("server.crt")
    mss.set(tls_cert=str(mss.root / "operator.crt"), tls_key=str(mss.root / "operator.key"))
    for daemon, listener in (("smtpd", "submissions"), ("imapd", "imaps")):
        hup(mss, daemon, "result=ok")
        assert served(mss.port(listener)) == der("operator.crt"), daemon
        tls = [l for l in mss.log(daemon).splitlines() if "event=tls.reload " in l]
        assert f"context={daemon} result=ok" in tls[-1], tls
