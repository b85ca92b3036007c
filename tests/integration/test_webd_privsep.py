"""mss-webd's processes and what they hold (issue 12, part c; doc/architecture.md
"webd/: the patient's web space"): the TLS private key stays in the key agent, which
the master forks before dropping privileges, as mss-imapd and mss-smtpd do; the
process that runs a connection's handshakes (libmicrohttpd's GnuTLS) signs through
its own agent channel and never holds the key, nor does the master. Searched in
/proc/PID/mem as test_tls_agent.py does, with the agent itself as the control."""
import http.client
import ssl
import time

import pytest

from test_privsep import children, comm
from test_tls_agent import memory_holds, secrets_of


def open_page(m, version):
    """A keep-alive HTTPS connection after one page, with the TLS version asked."""
    ctx = m.client_context()
    ctx.minimum_version = ctx.maximum_version = version
    c = http.client.HTTPSConnection("127.0.0.1", m.port("web"), context=ctx, timeout=30)
    c.request("GET", "/login")
    r = c.getresponse()
    body = r.read()
    assert r.status == 200 and b"csrf" in body
    return c


def new_children(master, before):
    for _ in range(50):
        new = [p for p in children(master) if p not in before and comm(p) != "mss-tls-agent"]
        if new:
            return new
        time.sleep(0.1)
    raise AssertionError("no session process found")


@pytest.mark.parametrize("cert,version", [
    ("server", ssl.TLSVersion.TLSv1_3),  # EC P-256: ECDSA
    ("server", ssl.TLSVersion.TLSv1_2),
    ("rsa", ssl.TLSVersion.TLSv1_3),     # RSA 2048: RSA-PSS
    ("rsa", ssl.TLSVersion.TLSv1_2),     # RSA PKCS#1 v1.5 or PSS, as the client offers
])
def test_tls_key_only_in_agent(mss, pki, cert, version):
    m = mss
    m.set(tls_cert=pki / f"{cert}.crt", tls_key=pki / f"{cert}.key")
    m.start("webd")
    master = m.procs["webd"].pid
    agents = [p for p in children(master) if comm(p) == "mss-tls-agent"]
    assert len(agents) == 1, "the master forks one key agent"
    before = set(children(master))
    c = open_page(m, version)
    try:
        sessions = new_children(master, before)
        needles = secrets_of(pki, cert)
        for pid in sessions + [master]:
            assert memory_holds(pid, needles) == set(), f"process {pid} ({comm(pid)}) holds the key"
        assert memory_holds(agents[0], needles), "control: the agent holds the key"
        # the connection goes on: a second page over the same TLS session
        c.request("GET", "/style.css")
        r = c.getresponse()
        assert r.status == 200 and r.read()
    finally:
        c.close()


def test_key_not_matching_certificate_refused_at_start(mss, pki):
    """The agent holds rsa.key, the certificate is server.crt's (EC): mss-webd stops at
    start naming both files, rather than failing every handshake."""
    m = mss
    m.set(tls_key=pki / "rsa.key")
    proc = m.start("webd", wait=False)
    assert proc.wait(timeout=20) != 0
    log = m.log("webd")
    assert "rsa.key" in log and "server.crt" in log, log[-2000:]
    assert "event=webd.start" not in log
