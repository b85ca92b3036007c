"""SIGHUP reloads the TLS material of both running daemons (DESIGN.md "Command line
contract"; issue 10's CRL item): a new certificate and key are presented by the next
connections, without a restart; a key that does not match, or a certificate file
that is gone, is refused with one tls.reload line naming the file and why, and the
material in force stays; a session that is open keeps working. (tls_ctx_reload
itself, CA and CRL included, is tested through tls_test_server: test_tls_reload.py.)"""
import hashlib
import os
import shutil
import signal
import socket
import ssl
import time

import pytest

LISTENER = {"smtpd": "submissions", "imapd": "imaps"}


def served_sha256(m, daemon, cert=None):
    """SHA-256 of the certificate the daemon presents on its implicit-TLS port."""
    ctx = ssl.create_default_context(cafile=str(m.pki / "ca.crt"))
    ctx.check_hostname = False  # operator.crt names mx.other-operator.test
    if cert:
        ctx.load_cert_chain(str(m.pki / f"{cert}.crt"), str(m.pki / f"{cert}.key"))
    with socket.create_connection(("127.0.0.1", m.port(LISTENER[daemon])), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.settimeout(10)
            s.recv(512)
            return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()


def file_sha256(path):
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(path.read_text())).hexdigest()


def reload_lines(m, daemon):
    return [ln for ln in m.log(daemon).splitlines() if "event=tls.reload " in ln]


def hup(m, daemon, count):
    pid = m.procs[daemon].pid
    m.procs[daemon].send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while len(reload_lines(m, daemon)) < count:
        assert time.monotonic() < deadline, m.log(daemon)[-2000:]
        time.sleep(0.05)
    assert m.procs[daemon].poll() is None and m.procs[daemon].pid == pid  # no restart
    return reload_lines(m, daemon)[-1]


def install(src, dst):
    tmp = dst.with_name(dst.name + ".new")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


@pytest.fixture
def daemons(mss, pki, tmp_path):
    """Both daemons on copies of the server certificate and key that the test replaces."""
    crt, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    shutil.copyfile(pki / "server.crt", crt)
    shutil.copyfile(pki / "server.key", key)
    mss.set(tls_cert=str(crt), tls_key=str(key))
    mss.start("smtpd")
    mss.start("imapd")
    return mss, crt, key


@pytest.mark.parametrize("daemon", ["smtpd", "imapd"])
def test_sighup_new_certificate_and_bad_key(daemons, pki, daemon):
    m, crt, key = daemons
    server, operator = file_sha256(pki / "server.crt"), file_sha256(pki / "operator.crt")
    assert served_sha256(m, daemon) == server
    # a certificate whose key is not there yet: refused, the old pair stays
    install(pki / "operator.crt", crt)
    line = hup(m, daemon, 1)
    assert "result=failed" in line and "action=previous-kept" in line, line
    assert str(key) in line and str(crt) in line and "does not match" in line, line
    assert served_sha256(m, daemon) == server
    # the matching key: the next connections get the new certificate
    install(pki / "operator.key", key)
    line = hup(m, daemon, 2)
    assert f"context={daemon} result=ok" in line, line
    assert served_sha256(m, daemon) == operator
    assert served_sha256(m, daemon, cert="pro") == operator  # client certificates still verified
    # a certificate file that is gone: named, and the material in force stays
    crt.unlink()
    line = hup(m, daemon, 3)
    assert "result=failed" in line and str(crt) in line and "No such file" in line, line
    assert served_sha256(m, daemon) == operator


def test_sighup_open_session_keeps_working(daemons, pki):
    m, crt, key = daemons
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    with socket.create_connection(("127.0.0.1", m.port("submissions")), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.settimeout(10)
            assert s.recv(512).startswith(b"220")
            install(pki / "operator.crt", crt)
            install(pki / "operator.key", key)
            assert "result=ok" in hup(m, "smtpd", 1)
            s.sendall(b"EHLO client.test\r\n")
            assert s.recv(4096).startswith(b"250")
    assert served_sha256(m, "smtpd") == file_sha256(pki / "operator.crt")

