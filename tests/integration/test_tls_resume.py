"""TLS session resumption on mss-smtpd (issue 15, smtp_tls_ticket_lifetime, both TLS
backends: scripts/run-tests runs this file on the GnuTLS build too): a client that
comes back with its session ticket resumes without a full handshake, whichever process
serves it, and still carries its verified certificate (the operator it was stays the
operator it is); the certificate a resumed session carries is checked again against
the CRL in force, so a revoked one is refused even when resumed. With
smtp_tls_ticket_lifetime = 0 nothing resumes; after SIGHUP (a new ticket key) a ticket
made before gets a full handshake. Pre-login processes killed (kill -9) in the middle
of their handshakes do not stop later clients resuming. Driven with openssl s_client
-sess_out / -sess_in."""
import os
import re
import shutil
import signal
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import PRO
from test_privsep import children, fd_targets
from test_smtp_mx import trust_list
from test_smtp_protocol import RawSmtp

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


@pytest.mark.parametrize("version", ["-tls1_3", "-tls1_2"])
def test_operator_taken_off_the_trust_list_refused_on_resumption(mx, tmp_path, version):
    """A resumed session brings back the certificate, never the trust list's answer: an
    operator taken off the list since its full handshake is refused at MAIL though its
    ticket still resumes, also in a reused process that kept the certificate decoded
    (tls_openssl_peer.c), and is accepted again once listed again. Each connection
    resumes with the newest ticket, as a client should (RFC 8446 C.4): an older one's
    slot in the table may have been taken by a newer session."""
    m = mx
    m.set(smtp_session_max_use=100)
    started(m)
    sessions = iter(tmp_path / f"sess{i}.pem" for i in range(10))
    sess = next(sessions)
    mail = (f"MAIL FROM:<{OPERATOR}>",)

    def resume():
        nonlocal sess
        newer = next(sessions)
        r = s_client(m, "operator", sess_in=sess, sess_out=newer, lines=mail, version=version)
        if newer.exists():  # TLS 1.2 keeps its session id: s_client writes nothing new
            sess = newer
        return r

    out, reused = s_client(m, "operator", sess_out=sess, version=version)
    assert not reused, out
    for _ in range(2):  # the certificate decoded once, then kept by the process
        out, reused = resume()
        assert reused and re.search(r"^250 2\.1\.0", out, re.M), out
    m.ctl("trust", "import", str(trust_list(m.root / "trust2.xml",
                                            [("third.test", "CN=mx.third.test,O=Third,C=FR")])))
    for _ in range(2):
        out, reused = resume()
        assert reused, out  # the ticket itself is still good...
        assert re.search(r"^550 5\.7\.1", out, re.M), out  # ...the operator is not listed
        assert "resumed=yes client_cert=verified" in tls_lines(m)[-1]
    m.ctl("trust", "import", str(trust_list(m.root / "trust3.xml",
                                            [("other-operator.test", OPERATOR_DN)])))
    out, reused = resume()
    assert reused and re.search(r"^250 2\.1\.0", out, re.M), out


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


# ---- pre-login processes killed in their handshakes ----------------------------------
# The pre-login process, the one that parses the peer's bytes, writes the table of TLS
# sessions (OpenSSL, smtp_tls_session_cache): one killed while it writes a slot leaves
# the slot half-written, and the next writer takes it over (lib/tls_scache.h). With a
# table of one slot, every session goes through that slot.

def server_socket(port, peer_port):
    """The inode of the server's end of a TCP connection from 127.0.0.1:peer_port to
    127.0.0.1:port (/proc/net/tcp), None while the server has not accepted it."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if int(f[1].split(":")[1], 16) == port and int(f[2].split(":")[1], 16) == peer_port and f[3] == "01":
            return f[9]
    return None


def holds(pid, target):
    return target in fd_targets_or_none(pid)


def mx_prelogin(m, meanwhile=None):
    """An MX connection after its greeting and EHLO, in clear, and its pre-login process:
    the new child of the master that holds the connection's socket and not the database
    (smtp_session_max_use 1: a new one per connection). Found by the socket, not as "the
    one of the two new children": other children may start meanwhile (a helper its
    keeper forks after the start was logged, slow under load; another connection's
    processes; meanwhile() opens one)."""
    master = m.procs["smtpd"].pid
    before = set(children(master))
    if meanwhile is not None:
        meanwhile()
    c = RawSmtp(m.port("smtp"))
    assert c.reply()[0] == 220
    assert c.cmd("EHLO mx.other-operator.test")[0] == 250
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        inode = server_socket(m.port("smtp"), c.sock.getsockname()[1])
        pre = [p for p in children(master) if p not in before and inode is not None
               and holds(p, f"socket:[{inode}]")
               and not any(t.endswith("mss.db") for t in fd_targets_or_none(p))]
        if len(pre) == 1:
            return c, pre[0]
        time.sleep(0.05)
    raise AssertionError("no pre-login process found")


def fd_targets_or_none(pid):
    try:
        return fd_targets(pid)
    except OSError:
        return []  # gone meanwhile


def handshake(c, ctx):
    try:
        c.sock = ctx.wrap_socket(c.sock, server_hostname="localhost")
        c.cmd("EHLO mx.other-operator.test")
    except (OSError, EOFError, ssl.SSLError, AssertionError):
        pass  # the server was killed


def resumes(m, tmp_path):
    """A full handshake keeps a session, which the next connection resumes (with MAIL
    FROM accepted: the operator's certificate came back with it)."""
    sess = tmp_path / "sess.pem"
    out, reused = s_client(m, "operator", sess_out=sess)
    assert not reused and sess.exists(), out
    out, reused = s_client(m, "operator", sess_in=sess, lines=(f"MAIL FROM:<{OPERATOR}>",))
    assert reused and re.search(r"^250 2\.1\.0", out, re.M), out
    return out


def test_prelogin_found_beside_other_new_processes(mx):
    """mx_prelogin names the connection's own pre-login process when other children of
    the master start meanwhile: here another MX connection's pair, after a start under
    load a helper its keeper forks late (the gdb test below failed so once, "no
    pre-login process found", when two new children were looked for)."""
    m = mx
    m.set(smtp_session_max_use=1)
    started(m)
    other = []

    def another():
        o = RawSmtp(m.port("smtp"))
        other.append(o)
        assert o.reply()[0] == 220

    c, pre = mx_prelogin(m, meanwhile=another)
    try:
        mine = server_socket(m.port("smtp"), c.sock.getsockname()[1])
        theirs = server_socket(m.port("smtp"), other[0].sock.getsockname()[1])
        assert holds(pre, f"socket:[{mine}]") and not holds(pre, f"socket:[{theirs}]")
        assert not any(t.endswith("mss.db") for t in fd_targets_or_none(pre))
    finally:
        c.close()
        other[0].close()


def test_resumption_survives_killed_prelogin_processes(mx, tmp_path):
    """20 pre-login processes killed 0 to 38 ms after STARTTLS, at any point of their
    handshakes: the next clients still get a session kept, and resume it."""
    m = mx
    m.set(smtp_tls_session_cache=1, smtp_session_max_use=1)
    started(m)
    ctx = m.client_context("operator")
    for i in range(20):
        c, pre = mx_prelogin(m)
        assert c.cmd("STARTTLS")[0] == 220
        t = threading.Thread(target=handshake, args=(c, ctx))
        t.start()
        time.sleep(i * 0.002)
        os.kill(pre, signal.SIGKILL)
        t.join(30)
        c.close()
        assert not t.is_alive()
    resumes(m, tmp_path)


def state(pid):
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def gdb_running(pid, *commands):
    """gdb -batch attached to pid running commands (-ex each), returned once it has
    attached, set its first breakpoint and let pid run again (traced, sleeping)."""
    gdb = subprocess.Popen(["gdb", "-nx", "-batch", "-p", str(pid)] + [a for c in commands for a in ("-ex", c)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while not (state(pid).get("TracerPid", "0") != "0" and state(pid).get("State", "")[:1] == "S"):
        if time.monotonic() > deadline or gdb.poll() is not None:
            gdb.kill()
            gdb.wait()
            raise AssertionError("gdb did not attach")
        time.sleep(0.1)
    time.sleep(0.5)
    return gdb


@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb stops the writer inside the table")
def test_slot_of_a_writer_killed_inside_it_is_taken_over(mx, tmp_path):
    """Not left to chance: gdb stops a pre-login process inside tls_scache_put, the
    table's one slot taken and written but not handed back (at slot_release, inlined
    in it), and kills it there.
    The next full handshake's session is kept all the same (the dead writer's slot
    taken over), and resumes."""
    m = mx
    m.set(smtp_tls_session_cache=1, smtp_session_max_use=1)
    started(m)
    c, pre = mx_prelogin(m)
    if "tls=openssl" not in m.log("smtpd"):
        c.close()
        pytest.skip("GnuTLS keeps no table (stateless tickets)")
    gdb = gdb_running(pre, "break tls_scache_put", "continue", "break slot_release", "continue", "kill")
    try:
        assert c.cmd("STARTTLS")[0] == 220
        handshake(c, m.client_context("operator"))
        out = gdb.communicate(timeout=60)[0]
    finally:
        if gdb.poll() is None:
            gdb.kill()
            gdb.wait()
        c.close()
    assert re.search(r"^Breakpoint 2(\.[0-9]+)?, slot_release", out, re.M) and "tls_scache_put" in out, out
    deadline = time.monotonic() + 10
    while state(pre).get("State", "Z")[:1] != "Z" and state(pre) and time.monotonic() < deadline:
        time.sleep(0.05)
    resumes(m, tmp_path)
