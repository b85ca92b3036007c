"""mss-webd's processes and what they hold (issue 12, part c; doc/architecture.md
"webd/: the patient's web space"): the TLS private key stays in the key agent, which
the master forks before dropping privileges, as mss-imapd and mss-smtpd do; the
process that runs a connection's handshakes (libmicrohttpd's GnuTLS) signs through
its own agent channel and never holds the key, nor does the master. Searched in
/proc/PID/mem as test_tls_agent.py does, with the agent itself as the control.

Started as root, a connection is two processes: the front (login_user, chrooted in the
empty root, no capability, only its sockets: TLS, HTTP, forms) and the session process
(user, the database without the master key), joined by a socketpair of checked
messages (webd/web_msg.h); a connection serves one account."""
import http.client
import os
import pwd
import re
import socket
import ssl
import struct
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import BINARIES, Mss, PASSWORDS, PATIENT, PATIENT2
from test_privsep import children, comm, fd_targets
from test_tls_agent import memory_holds, secrets_of
from web_helpers import Web, logged_in


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


def status(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return line.split()[1:]
    return []


def ended(pid):
    """The process exited: a zombie, or reaped (its /proc entry may go between any two
    reads, so a missing one is an answer, not an error)."""
    try:
        return "Z" in status(pid, "State")
    except (FileNotFoundError, ProcessLookupError):
        return True


def sockets_of(pid):
    return [t for t in fd_targets(pid) if t.startswith("socket:")]


def holds_db(pid):
    return any(t.endswith("mss.db") for t in fd_targets(pid))


def front_and_session(m, before):
    """The two processes of the newest connection: the session process holds the
    database, the front the client socket."""
    master = m.procs["webd"].pid
    for _ in range(150):  # the session process may take seconds to open the store under ASan
        # the master's own forks only: a helper its keeper started late (a loaded
        # machine, the sanitizer build) is new too, and was taken for a second front
        new = [p for p in new_children(master, before) if comm(p) == comm(master)]
        sessions = [p for p in new if holds_db(p)]
        fronts = [p for p in new if p not in sessions]
        if len(sessions) == 1 and len(fronts) == 1:
            return fronts[0], sessions[0]
        time.sleep(0.1)
    raise AssertionError("no front and session process found")


root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")


@root_only
def test_front_process_is_confined(mss, pki):
    """The front process runs as login_user (nobody), in the empty root-owned
    directory, with no capability; its descriptors are its three sockets (client, key
    agent channel, session channel) and the log; no database, no key file, no TLS key
    in its memory. The session process holds the database, and once the patient has
    read a document, not the master key (the account key agent alone holds it)."""
    m = mss
    m.start("webd")
    master = m.procs["webd"].pid
    nobody = pwd.getpwnam("nobody")
    before = set(children(master))
    w = logged_in(m)
    try:
        front, session = front_and_session(m, before)
        assert status(front, "Uid") == [str(nobody.pw_uid)] * 4
        assert status(front, "Groups") == []
        assert status(front, "CapEff") == ["0000000000000000"]
        assert status(front, "CapPrm") == ["0000000000000000"]
        empty = m.data_dir / "run" / "empty"
        assert os.readlink(f"/proc/{front}/root") == str(empty)
        assert os.readlink(f"/proc/{front}/cwd") == str(empty)
        targets = fd_targets(front)
        assert not [t for t in targets if "mss.db" in t or "/keys" in t or str(m.data_dir) in t]
        assert len(sockets_of(front)) == 3, targets
        assert set(t for t in targets if not t.startswith("socket:")) <= {
            str(m.log_path("webd")), "/dev/null"}, targets
        assert memory_holds(front, secrets_of(pki, "server")) == set()
        # the session process: the pages, on the database
        assert w.get("/documents").status == 200
        master_key = (m.data_dir / "keys" / "master.key").read_bytes()
        assert memory_holds(session, [master_key]) == set()
        assert memory_holds(front, [master_key]) == set()
        assert "privsep.reduced" not in m.log("webd")
    finally:
        w.close()


def channel_of(front, session):
    """The front's descriptor number of its channel to the session process: its unix
    stream socket whose peer the session process holds."""
    session_inodes = {t[len("socket:["):-1] for t in sockets_of(session)}
    out = subprocess.run(["ss", "-xpn"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if not line.startswith("u_str") or f"pid={front}," not in line:
            continue
        f = line.split()
        fd = re.search(rf"pid={front},fd=(\d+)", line)
        if f[7] in session_inodes and fd:
            return int(fd.group(1))
    raise AssertionError("no session channel in\n" + out)


def grab_fd(pid, fd):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        got = libc.syscall(438, pidfd, fd, 0)  # pidfd_getfd
        if got < 0:
            raise OSError(ctypes.get_errno(), "pidfd_getfd")
        return got
    finally:
        os.close(pidfd)


def request_frame(payload):
    return struct.pack(">IHHI", 0x5753534D, 1, 1, len(payload)) + payload


@root_only
@pytest.mark.parametrize("forged", ["bad-magic", "truncated", "too-long"])
def test_forged_request_ends_the_front_process(mss, forged):
    """A message on the session channel that does not check (wrong magic; a request
    whose path runs past the end of its frame; a frame longer than web_max_form allows)
    is logged by the session process, which ends, and its sender, the front process,
    is ended by the master; the client's connection closes and the daemon goes on."""
    m = mss
    m.start("webd")
    master = m.procs["webd"].pid
    before = set(children(master))
    w = Web(m)
    assert w.get("/login").status == 200
    front, session = front_and_session(m, before)
    s = socket.socket(fileno=grab_fd(front, channel_of(front, session)))
    try:
        if forged == "bad-magic":
            s.sendall(b"EVIL" + b"\0" * 60)
        elif forged == "truncated":  # flags, then a path said to be 500 bytes long
            s.sendall(request_frame(b"\0" + struct.pack(">H", 500) + b"/login"))
        else:
            s.sendall(struct.pack(">IHHI", 0x5753534D, 1, 1, 1 << 30))
    finally:
        s.close()
    for _ in range(50):
        if ended(front):
            break
        time.sleep(0.1)
    assert ended(front)
    assert re.search(rf"event=web\.chan_refused .*peer_pid={front} error=", m.log("webd"))
    with pytest.raises((http.client.HTTPException, OSError)):
        w.conn.request("GET", "/login")
        w.conn.getresponse().read()
    w.close()
    w2 = logged_in(m)
    assert w2.get("/documents").status == 200
    w2.close()


@root_only
def test_forged_response_closes_the_connection(mss):
    """A response on the session channel that does not check (as a compromised session
    process could write) is refused by the front process: logged, the client's
    connection closed, nothing of it sent; the daemon goes on."""
    m = mss
    m.start("webd")
    master = m.procs["webd"].pid
    before = set(children(master))
    w = Web(m)
    assert w.get("/login").status == 200
    front, session = front_and_session(m, before)
    # the session process's end: the peer of the front's channel
    inode = None
    out = subprocess.run(["ss", "-xpn"], capture_output=True, text=True, check=True).stdout
    fd_front = channel_of(front, session)
    for line in out.splitlines():
        if line.startswith("u_str") and f"pid={front},fd={fd_front})" in line:
            inode = line.split()[7]
    fd = next(int(p.name) for p in Path(f"/proc/{session}/fd").iterdir()
              if os.readlink(p) == f"socket:[{inode}]")
    s = socket.socket(fileno=grab_fd(session, fd))
    try:
        s.sendall(struct.pack(">IHHI", 0x5753534D, 1, 2, 3) + b"\x02\x00\x00")
    finally:
        s.close()
    with pytest.raises((http.client.HTTPException, OSError)):
        w.conn.request("GET", "/login")
        w.conn.getresponse().read()
    w.close()
    assert re.search(r"event=web\.chan_refused .*error=", m.log("webd"))
    w2 = logged_in(m)
    assert w2.get("/documents").status == 200
    w2.close()


def raw_get(s, path, cookie):
    """One keep-alive GET on the TLS socket s; the response read whole."""
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              f"Cookie: __Host-mss_session={cookie}\r\n\r\n".encode())
    r = http.client.HTTPResponse(s)
    r.begin()
    r.body = r.read()
    return r


def test_second_account_on_one_connection_refused(mss):
    """A connection serves the first account a request authenticates: another
    patient's session cookie on it (or a login as another patient) is refused with 403,
    nothing of that account shown, the connection closed, and a log line."""
    m = mss
    m.start("webd")
    w1, w2 = logged_in(m, PATIENT), logged_in(m, PATIENT2)
    try:
        mine, other = w1.cookies["__Host-mss_session"], w2.cookies["__Host-mss_session"]
        s = m.client_context().wrap_socket(socket.create_connection(("127.0.0.1", m.port("web"))),
                                           server_hostname="127.0.0.1")
        s.settimeout(20)
        try:
            r = raw_get(s, "/documents", mine)
            assert r.status == 200 and r.getheader("Connection", "").lower() != "close"
            r = raw_get(s, "/documents", other)
            body = r.body.decode()
            assert r.status == 403 and r.getheader("Connection", "").lower() == "close"
            assert "Patient Deux" not in body
            assert s.recv(1) == b"", "the server closed the connection"
        finally:
            s.close()
        assert re.search(r"event=web\.account_refused .*user=" + re.escape(PATIENT2), m.log("webd"))
        # a fresh connection still serves the first patient's cookie, and w2's own
        assert w1.get("/documents").status == 200
        assert w2.get("/documents").status == 200
        # a login as another patient on a bound connection: refused, no session made
        w3 = logged_in(m, PATIENT)
        w3.cookies.clear()  # the same connection, no cookie left
        page = w3.get("/login")
        r = w3.post("/login", {"csrf": page.csrf(), "address": PATIENT2,
                               "password": PASSWORDS[PATIENT2]})
        assert r.status == 403 and not [c for c in r.cookies if c.startswith("__Host-mss_session=")]
        w3.close()
    finally:
        w1.close()
        w2.close()


@root_only
def test_not_root_one_process_privsep_reduced(pki):
    """Not started as root (here: started as nobody), mss-webd logs privsep.reduced and
    serves each connection in one process, as the mail daemons do; the key still stays
    in the agent."""
    root = Path(tempfile.mkdtemp(prefix="mss-webd-nr-"))
    root.chmod(0o755)
    nobody = pwd.getpwnam("nobody")
    # the PKI and the binary where nobody reaches them: the test PKI and the build may
    # sit under a directory of root's, 0700 (/root/project on a fresh machine)
    own_pki = root / "pki"
    shutil.copytree(pki, own_pki)
    own_pki.chmod(0o755)
    os.chown(own_pki / "server.key", nobody.pw_uid, nobody.pw_gid)
    m = Mss(root, own_pki, {"user": "nobody", "tls_key": str(own_pki / "server.key")})
    try:
        m.init()
        m.add_account(PATIENT, "patient", password=PASSWORDS[PATIENT])
        for key in (m.data_dir / "keys").iterdir():  # root's for a daemon started as root
            os.chown(key, nobody.pw_uid, nobody.pw_gid)
        logf = open(m.log_path("webd"), "ab")

        def as_nobody():
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)

        webd = root / "mss-webd"
        shutil.copy(BINARIES["webd"], webd)
        webd.chmod(0o755)
        m.procs["webd"] = subprocess.Popen(
            [str(webd), "-c", str(m.conf), "-d"], stdout=logf, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=as_nobody)
        logf.close()
        m.wait_ready("webd")
        assert "event=privsep.reduced" in m.log("webd")
        master = m.procs["webd"].pid
        before = set(children(master))
        w = logged_in(m)
        assert w.get("/documents").status == 200
        new = new_children(master, before)
        assert len(new) == 1 and holds_db(new[0]), "one process per connection"
        assert memory_holds(new[0], secrets_of(pki, "server")) == set()
        w.close()
    finally:
        m.stop_all()
        shutil.rmtree(root, ignore_errors=True)
