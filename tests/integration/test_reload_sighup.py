"""SIGHUP and file changes in the running daemons (DESIGN.md "Command line contract",
issue 10, Référentiel CONF.22), on both mss-smtpd and mss-imapd: a certificate revoked
while running is refused without a restart, whether the CRL file changed or SIGHUP
asked for it; past its nextUpdate the last CRL stays in force (revoked stays revoked,
valid certificates keep working) with a warning; a CRL that does not load at SIGHUP is
refused with a log line and the one in force stays; the daemon never stops. (The
OAuth keys' reload is in test_auth_oauth.py.)"""
import os
import shutil
import signal
import socket
import ssl
import time

import pytest

GREETING = {"smtpd": ("submissions", b"220"), "imapd": ("imaps", b"* OK")}


def install(src, dst):
    tmp = dst.with_name(dst.name + ".new")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def accepted(m, daemon, cert):
    """True when the implicit-TLS listener greets a client presenting cert (TLS 1.3
    reports a refused client certificate on the first read)."""
    listener, greeting = GREETING[daemon]
    try:
        with socket.create_connection(("127.0.0.1", m.port(listener)), timeout=10) as raw:
            with m.client_context(cert).wrap_socket(raw, server_hostname="localhost") as s:
                s.settimeout(10)
                return s.recv(512).startswith(greeting)
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return False


def events(m, daemon, name):
    return [line for line in m.log(daemon).splitlines() if f"event={name} " in line]


def wait_event(m, daemon, name, count, timeout=10):
    deadline = time.monotonic() + timeout
    while len(events(m, daemon, name)) < count:
        assert time.monotonic() < deadline, (name, m.log(daemon)[-2000:])
        time.sleep(0.05)
    return events(m, daemon, name)


@pytest.fixture(params=["smtpd", "imapd"])
def running(request, mss, pki, tmp_path):
    crl = tmp_path / "tls-crl.pem"
    shutil.copyfile(pki / "crl.pem", crl)
    mss.set(tls_crl=str(crl))
    mss.start(request.param)
    return mss, request.param, crl


def test_sighup_revokes_while_running(running, pki):
    m, daemon, crl = running
    pid = m.procs[daemon].pid
    assert accepted(m, daemon, "late")
    install(pki / "crl-next.pem", crl)
    m.procs[daemon].send_signal(signal.SIGHUP)
    # the master reloads at once, before any connection asks for it
    assert "result=ok" in wait_event(m, daemon, "tls.reload", 1)[-1]
    assert not accepted(m, daemon, "late")
    assert not accepted(m, daemon, "revoked")
    assert accepted(m, daemon, "pro")
    # a CRL that does not verify, at SIGHUP: refused with the file named, crl-next.pem
    # stays in force (late stays revoked), the daemon goes on
    install(pki / "crl-forged.pem", crl)
    m.procs[daemon].send_signal(signal.SIGHUP)
    refused = wait_event(m, daemon, "tls.crl_refused", 1)
    assert str(crl) in refused[-1] and "signature does not verify" in refused[-1], refused
    failed = wait_event(m, daemon, "tls.reload", 2)[-1]
    assert "result=failed" in failed and str(crl) in failed, failed
    assert not accepted(m, daemon, "late")
    assert accepted(m, daemon, "pro")
    assert m.procs[daemon].poll() is None and m.procs[daemon].pid == pid


def test_file_change_and_stale_grace(running, pki):
    """Without SIGHUP: a new CRL file is noticed (at most a second later); one past its
    nextUpdate stays in force with one warning, never refusing every certificate."""
    m, daemon, crl = running
    assert accepted(m, daemon, "late")
    install(pki / "crl-next.pem", crl)
    time.sleep(1.2)
    assert not accepted(m, daemon, "late")
    install(pki / "crl-expired.pem", crl)
    time.sleep(1.2)
    assert accepted(m, daemon, "pro")
    assert not accepted(m, daemon, "revoked")
    assert accepted(m, daemon, "late")  # crl-expired.pem does not list it
    stale = events(m, daemon, "tls.crl_stale")
    assert len(stale) == 1 and "next_update=2021-01-01T00:00:00Z" in stale[0], stale
