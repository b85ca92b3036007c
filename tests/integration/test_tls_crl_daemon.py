"""CRL reload in the running mss-smtpd (issue 10, Référentiel CONF.22): a CRL replaced
on disk revokes a certificate for the next connection, without a restart; a CRL past
its nextUpdate keeps valid certificates working (with a warning in the log) and
revoked ones refused; a corrupt, foreign or forged CRL is ignored with one log line
and the CRL in force stays. Sessions are forked from the master: each notices the new
file by itself, and the log says it once."""
import os
import shutil
import socket
import ssl
import time

import pytest


def install(src, dst):
    tmp = dst.with_name(dst.name + ".new")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def after_next_check():
    time.sleep(1.2)  # the CRL file is looked at, at most once a second


def submissions_greeting(m, cert):
    """The greeting on the implicit-TLS submission port with this client certificate,
    or None when the TLS handshake is refused (TLS 1.3 reports a refused client
    certificate on the first read)."""
    ctx = m.client_context(cert)
    try:
        with socket.create_connection(("127.0.0.1", m.port("submissions")), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.settimeout(10)
                data = s.recv(512)
                return data.decode() if data else None
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return None


def accepted(m, cert):
    greeting = submissions_greeting(m, cert)
    return greeting is not None and greeting.startswith("220")


def log_events(m, name):
    return [line for line in m.log("smtpd").splitlines() if f"event={name} " in line]


@pytest.fixture
def smtpd_crl(mss, pki, tmp_path):
    """mss-smtpd whose tls_crl is a copy of crl.pem that the test replaces."""
    crl = tmp_path / "tls-crl.pem"
    shutil.copyfile(pki / "crl.pem", crl)
    mss.set(tls_crl=str(crl))
    mss.start("smtpd")
    return mss, crl


def test_revocation_while_running(smtpd_crl, pki):
    m, crl = smtpd_crl
    pid = m.procs["smtpd"].pid
    assert accepted(m, "late")
    install(pki / "crl-next.pem", crl)
    after_next_check()
    assert not accepted(m, "late")
    assert accepted(m, "pro")
    assert m.procs["smtpd"].pid == pid and m.procs["smtpd"].poll() is None  # no restart
    assert len(log_events(m, "tls.crl_loaded")) == 1


def test_expired_crl_kept_in_force_with_warning(smtpd_crl, pki):
    m, crl = smtpd_crl
    install(pki / "crl-expired.pem", crl)
    after_next_check()
    assert accepted(m, "pro")
    assert not accepted(m, "revoked")
    after_next_check()
    assert accepted(m, "late")
    stale = log_events(m, "tls.crl_stale")
    assert len(stale) == 1, stale
    assert "next_update=2021-01-01T00:00:00Z" in stale[0]


@pytest.mark.parametrize("bad,why", [
    ("corrupt", "no CRL in file"),
    ("crl-foreign.pem", "not issued by a CA of"),
    ("crl-forged.pem", "signature does not verify"),
])
def test_bad_crl_ignored_old_kept(smtpd_crl, pki, tmp_path, bad, why):
    m, crl = smtpd_crl
    src = tmp_path / "corrupt.pem"
    if bad == "corrupt":
        src.write_bytes((pki / "crl-next.pem").read_bytes()[:150])
    else:
        src = pki / bad
    install(src, crl)
    after_next_check()
    assert not accepted(m, "revoked")  # crl.pem still in force (crl-forged lists nothing)
    assert accepted(m, "late")
    after_next_check()
    assert accepted(m, "pro")
    refused = log_events(m, "tls.crl_refused")
    assert len(refused) == 1, refused  # once, not once per session
    assert str(crl) in refused[0] and why in refused[0]
