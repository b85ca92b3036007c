"""TLS session resumption on mss-smtpd (issue 15, smtp_tls_ticket_lifetime, both TLS
backends: scripts/run-tests runs this file on the GnuTLS build too): a client that
comes back with its session ticket resumes without a full handshake, whichever process
serves it, and still carries its verified certificate (the operator it was stays the
operator it is); the certificate a resumed session carries is checked again against
the CRL in force, so a revoked one is refused even when resumed. With
smtp_tls_ticket_lifetime = 0 nothing resumes; after SIGHUP (a new ticket key) a ticket
made before gets a full handshake. Driven with openssl s_client -sess_out / -sess_in."""
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from conftest import PRO
from test_smtp_mx import trust_list

OPERATOR = "dr.x@other-operator.test"
OPERATOR_DN = "CN=mx.other-operator.test,OU=12345678900011,O=Other Operator,C=FR"


def s_client(m, cert, sess_out=None, sess_in=None, lines=(), version=None):
    """One STARTTLS session on the MX with openssl s_client: (output, reused)."""
    pki = m.pki
    cmd = ["openssl", "s_client", "-starttls", "smtp", "-connect", f"127.0.0.1:{m.port('smtp')}",
           "-CAfile", str(pki / "ca.crt"), "-cert", str(pki / f"{cert}.crt"),
           "-key", str(pki / f"{cert}.key"), "-crlf", "-ign_eof"]
    if sess_out:
        cmd += ["-sess_out", str(sess_out)]
    if sess_in:
        cmd += ["-sess_in", str(sess_in)]
    if version:
        cmd.append(version)  # "-tls1_2": a session id (OpenSSL) or RFC 5077 ticket (GnuTLS)
    text = "".join(line + "\n" for line in ("EHLO mx.other-operator.test", *lines, "QUIT"))
    r = subprocess.run(cmd, input=text, capture_output=True, text=True, timeout=30)
    out = r.stdout + r.stderr
    return out, re.search(r"^Reused, TLSv", out, re.M) is not None


def ticket(sess):
    """The session ticket a session file holds (openssl sess_id), as bytes."""
    out = subprocess.run(["openssl", "sess_id", "-in", str(sess), "-noout", "-text"],
                         capture_output=True, text=True, timeout=30).stdout
    dump = out.split("TLS session ticket:\n", 1)[1] if "TLS session ticket:\n" in out else ""
    data = b""
    for line in dump.splitlines():
        m = re.match(r"^\s+[0-9a-f]{4} - (.*)$", line)
        if not m:
            break
        data += bytes.fromhex(m.group(1)[:48].replace("-", " "))
    return data


def tls_lines(m):
    return [l for l in m.log("smtpd").splitlines() if "event=smtp.tls " in l]


@pytest.fixture
def mx(mss, tmp_path, pki):
    f = trust_list(mss.root / "trust.xml", [("other-operator.test", OPERATOR_DN)])
    mss.ctl("trust", "import", str(f))
    crl = tmp_path / "tls-crl.pem"
    shutil.copyfile(pki / "crl.pem", crl)
    mss.set(tls_crl=str(crl))
    mss.crl = crl
    return mss


def started(m):
    m.start("smtpd")


@pytest.mark.parametrize("max_use", [1, 100])
def test_resumed_session_keeps_the_verified_identity(mx, tmp_path, max_use):
    m = mx
    m.set(smtp_session_max_use=max_use)
    started(m)
    sess = tmp_path / "sess.pem"
    out, reused = s_client(m, "operator", sess_out=sess)
    assert not reused and sess.exists(), out
    out, reused = s_client(m, "operator", sess_in=sess,
                           lines=(f"MAIL FROM:<{OPERATOR}>", f"RCPT TO:<{PRO}>"))
    assert reused, out  # also across processes: the ticket key is the master's
    # the operator's DN, verified, came back with the session: MAIL and RCPT pass
    assert re.search(r"^250 2\.1\.0", out, re.M) and re.search(r"^250 2\.1\.5", out, re.M), out
    last = tls_lines(m)[-1]
    assert "resumed=yes client_cert=verified" in last and "O=Other Operator" in last, last
    assert "resumed=no" in tls_lines(m)[-2]


@pytest.mark.parametrize("version", ["-tls1_3", "-tls1_2"])
def test_revoked_certificate_refused_on_resumption(mx, tmp_path, pki, version):
    m = mx
    started(m)
    sess = tmp_path / "sess.pem"
    out, reused = s_client(m, "late", sess_out=sess, version=version)
    assert not reused and "client_cert=verified" in tls_lines(m)[-1], out
    tmp = m.crl.with_name("crl.new")
    shutil.copyfile(pki / "crl-next.pem", tmp)
    os.replace(tmp, m.crl)  # revokes "late"
    time.sleep(1.2)
    out, reused = s_client(m, "late", sess_in=sess, lines=(f"MAIL FROM:<{OPERATOR}>",),
                           version=version)
    assert reused, out  # the ticket itself is still good...
    assert not re.search(r"^250 2\.1\.0", out, re.M), out  # ...the certificate is not
    last = tls_lines(m)[-1]
    assert "result=failed" in last and 'error="certificate revoked"' in last, last


@pytest.mark.parametrize("cache", [1000, 0])
def test_resumption_gets_a_fresh_ticket(mx, tmp_path, cache):
    """A resumed connection gets a new ticket, which resumes in turn (a client may use
    each once, RFC 8446 C.4). On OpenSSL with smtp_tls_session_cache the ticket names a
    session the server keeps (32 bytes: issuing it encodes the session once, where a
    stateless ticket made OpenSSL decode it again, certificate included); with 0 it
    is the sealed session itself. GnuTLS ignores the key (stateless tickets)."""
    m = mx
    m.set(smtp_tls_session_cache=cache, smtp_session_max_use=1)  # a new process each time
    started(m)
    first, second = tmp_path / "1.pem", tmp_path / "2.pem"
    s_client(m, "operator", sess_out=first)
    out, reused = s_client(m, "operator", sess_in=first, sess_out=second)
    assert reused, out
    t1, t2 = ticket(first), ticket(second)
    assert t1 and t2 and t1 != t2
    out, reused = s_client(m, "operator", sess_in=second, lines=(f"MAIL FROM:<{OPERATOR}>",))
    assert reused and re.search(r"^250 2\.1\.0", out, re.M), out
    assert "resumed=yes client_cert=verified" in tls_lines(m)[-1]
    if "tls=openssl" in m.log("smtpd"):
        assert (len(t1) == 32) == (cache > 0), len(t1)


def test_no_resumption_without_tickets(mx, tmp_path):
    m = mx
    m.set(smtp_tls_ticket_lifetime=0)
    started(m)
    sess = tmp_path / "sess.pem"
    s_client(m, "operator", sess_out=sess)
    out, reused = s_client(m, "operator", sess_in=sess)
    assert not reused, out
    assert "resumed=no client_cert=verified" in tls_lines(m)[-1]


def test_sighup_replaces_the_ticket_key(mx, tmp_path):
    m = mx
    started(m)
    sess = tmp_path / "sess.pem"
    s_client(m, "operator", sess_out=sess)
    out, reused = s_client(m, "operator", sess_in=sess)
    assert reused, out  # the ticket is good...
    reloads = m.log("smtpd").count("event=reload ")
    os.kill(m.procs["smtpd"].pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while m.log("smtpd").count("event=reload ") == reloads and time.monotonic() < deadline:
        time.sleep(0.05)
    out, reused = s_client(m, "operator", sess_in=sess)
    assert not reused, out  # ...until the key that made it is replaced
    assert "resumed=no client_cert=verified" in tls_lines(m)[-1]


def test_sighup_follows_the_ticket_lifetime(mx, tmp_path):
    """smtp_tls_ticket_lifetime follows SIGHUP as the other keys do: set to 0, nothing
    resumes (not even a ticket issued before); set back, tickets resume again."""
    m = mx
    started(m)
    sess = tmp_path / "sess.pem"

    def hup(**kw):
        m.set(**kw)
        reloads = m.log("smtpd").count("event=reload result=ok")
        os.kill(m.procs["smtpd"].pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while m.log("smtpd").count("event=reload result=ok") == reloads and time.monotonic() < deadline:
            time.sleep(0.05)
        assert m.log("smtpd").count("event=reload result=ok") == reloads + 1, m.log("smtpd")[-2000:]

    hup(smtp_tls_ticket_lifetime=0)
    out, _ = s_client(m, "operator", sess_out=sess)
    out, reused = s_client(m, "operator", sess_in=sess)
    assert not reused, out
    hup(smtp_tls_ticket_lifetime="1h")
    s_client(m, "operator", sess_out=sess)
    out, reused = s_client(m, "operator", sess_in=sess)
    assert reused, out
