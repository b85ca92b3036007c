"""Process separation before login (issue 12, doc/architecture.md "Process separation
before login"): who holds what once the daemon is started as root, for mss-imapd and
mss-smtpd (its MX and submission listeners alike).

A mss-imapd connection is two processes, both forked by the master: its pre-login
process (login_user, chrooted
to the empty root-owned data_dir/run/empty, only its sockets open), which runs the TLS
handshake, the command parser and the SASL exchange; and its session process (the
daemons' user, the database), which verifies logins asked over a SOCK_SEQPACKET
socketpair of typed, checked messages (auth/auth_chan.h) and, once logged in, runs the
session on the cleartext the pre-login process relays. These tests look at the
processes from /proc, as an attacker holding the pre-login process would see the
machine."""
import ctypes
import imaplib
import os
import pwd
import re
import socket
import struct
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest

from conftest import PASSWORDS, PATIENT, PG_BASE, PRO
from test_privsep import children, comm, fd_targets
from test_smtp_mx import OPERATOR_DN, deliver, mx  # noqa: F401 (the mx fixture)
from test_smtp_protocol import connect, inbox_count, plain

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")

SYS_PIDFD_GETFD = 438  # the same number on every architecture since Linux 5.6


def status(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return line.split()[1:]
    return []


def descendants(pid):
    out = []
    for c in children(pid):
        out += [c] + descendants(c)
    return out


def holds_db(pid):
    """Whether pid holds the store: the SQLite file open, or on PostgreSQL (MSS_TEST_PG)
    a connection to its server (a session process's descriptors, not a file's name)."""
    targets = fd_targets(pid)
    if any(t.endswith("mss.db") for t in targets):
        return True
    return bool(PG_BASE) and bool(pg_connections() & {t[8:-1] for t in targets if t.startswith("socket:[")})


def pg_connections():
    """The socket inodes of the TCP connections to the PostgreSQL server's port, from
    /proc/net/tcp{,6}: "sl local remote state ... inode", addresses as hex ip:port."""
    port = urllib.parse.urlsplit(PG_BASE).port or 5432
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) > 9 and int(f[2].rsplit(":", 1)[1], 16) == port and f[3] == "01":  # ESTABLISHED
                out.add(f[9])
    return out


def connect_prelogin(m):
    """An IMAPS connection after its handshake, not logged in, with its two processes,
    both children of the master: the session process (the database) and the
    pre-login process (the client socket)."""
    master = m.procs["imapd"].pid
    before = set(children(master))
    c = imaplib.IMAP4_SSL("127.0.0.1", m.port("imaps"), ssl_context=m.client_context(None),
                          timeout=20)
    c.capability()
    for _ in range(50):
        new = sorted(p for p in children(master) if p not in before)
        sessions = [p for p in new if holds_db(p)]
        pre = [p for p in new if p not in sessions and len(sockets_of(p)) == 4]
        if len(sessions) == 1 and len(pre) == 1:
            return c, sessions[0], pre[0]
        time.sleep(0.1)
    raise AssertionError("no session and pre-login process found")


def sockets_of(pid):
    return [t for t in fd_targets(pid) if t.startswith("socket:")]


def test_prelogin_process_is_confined(imapd):
    """The pre-login process runs as login_user (nobody, no supplementary group), its
    root is the empty root-owned directory, and it holds no database handle, no key
    file and no file of data_dir: its descriptors are its sockets (client, key agent
    channel, authentication channel, relay) and the log it was started with."""
    m = imapd
    nobody = pwd.getpwnam("nobody")
    c, session, pre = connect_prelogin(m)
    try:
        assert status(pre, "Uid") == [str(nobody.pw_uid)] * 4
        assert status(pre, "Gid") == [str(nobody.pw_gid)] * 4
        assert status(pre, "Groups") == []
        assert status(pre, "CapEff") == ["0000000000000000"]
        assert status(pre, "NoNewPrivs") == ["1"]  # nor any to gain by running a program
        empty = m.data_dir / "run" / "empty"
        assert os.readlink(f"/proc/{pre}/root") == str(empty)
        assert os.readlink(f"/proc/{pre}/cwd") == str(empty)
        st = empty.stat()
        assert st.st_uid == 0 and st.st_gid == 0 and st.st_mode & 0o7777 == 0o755
        assert list(empty.iterdir()) == []
        targets = fd_targets(pre)
        assert not [t for t in targets if "mss.db" in t or "/keys" in t or str(m.data_dir) in t]
        assert not holds_db(pre)  # nor, on PostgreSQL, a connection to its server
        assert len(sockets_of(pre)) == 4, targets
        files = [t for t in targets if not t.startswith("socket:")]
        assert set(files) <= {str(m.log_path("imapd")), "/dev/null"}, targets
        # the session process holds the database; the pre-login one asks it
        assert holds_db(session)
        assert c.login(PATIENT, PASSWORDS[PATIENT])[0] == "OK"
        assert c.select("INBOX")[0] == "OK"
    finally:
        c.logout()


@pytest.mark.parametrize("batch", ["yes", "no"])
def test_relay_runs_under_sched_batch(mss, batch):
    """Once logged in, the pre-login process only relays: with imap_relay_batch (the
    default) it runs under SCHED_BATCH, so that a command or an answer waking it does not
    preempt the process that woke it (issue 15); before the login, and with the key set
    to no, it keeps the normal policy. The session process keeps it in every case."""
    mss.set(imap_relay_batch=batch)
    mss.start("imapd")
    c, session, pre = connect_prelogin(mss)
    try:
        assert os.sched_getscheduler(pre) == os.SCHED_OTHER
        assert c.login(PATIENT, PASSWORDS[PATIENT])[0] == "OK"
        assert c.select("INBOX")[0] == "OK"  # answered through the relay
        want = os.SCHED_BATCH if batch == "yes" else os.SCHED_OTHER
        assert os.sched_getscheduler(pre) == want
        assert os.sched_getscheduler(session) == os.SCHED_OTHER
        assert c.noop()[0] == "OK"
    finally:
        c.logout()
    assert "imap.relay_batch" not in mss.log_path("imapd").read_text()


def test_key_files_unreadable_by_login_user(imapd):
    """Whatever the pre-login process could do outside its chroot, login_user can read
    neither the master key, the audit key, the TLS key nor the database (SQLite's file;
    PostgreSQL's is its server's)."""
    m = imapd
    nobody = pwd.getpwnam("nobody")
    paths = [m.data_dir / "keys" / "master.key", m.data_dir / "keys" / "audit.key",
             Path(m.settings["tls_key"])] + ([] if PG_BASE else [m.data_dir / "mss.db"])
    assert all(p.exists() for p in paths)
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            readable = 0
            for p in paths:
                try:
                    with open(p, "rb") as f:
                        f.read(1)
                    readable += 1
                except OSError:
                    pass
            os._exit(readable)
        except BaseException:
            os._exit(100)
    _, code = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(code) == 0


def auth_channel(pre, session):
    """The pre-login process's descriptor number of its authentication channel: its
    SOCK_SEQPACKET socket whose peer the session process holds (the other one leads
    to the key agent)."""
    session_inodes = {t[len("socket:["):-1] for t in sockets_of(session)}
    out = subprocess.run(["ss", "-xpn"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if not line.startswith("u_seq") or f"pid={pre}," not in line:
            continue
        f = line.split()
        local, peer = f[5], f[7]
        fd = re.search(rf"pid={pre},fd=(\d+)", line)
        if peer in session_inodes and fd:
            return int(fd.group(1))
    raise AssertionError("no authentication channel in\n" + out)


def grab_fd(pid, fd):
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        got = libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
        if got < 0:
            raise OSError(ctypes.get_errno(), "pidfd_getfd")
        return got
    finally:
        os.close(pidfd)


# magic "MSSA", version 1, type VERIFY (1), the length of a whole VERIFY, pad
VERIFY_HEADER_LEN = 16


@pytest.mark.parametrize("forged", ["bad-magic", "truncated"])
def test_forged_auth_message_ends_the_prelogin_process(imapd, forged):
    """A message on the authentication channel that does not check (wrong magic; a
    VERIFY header with its body cut short) is logged, dropped, and its sender, the
    pre-login process, ended; the session ends with it, and the daemon goes on."""
    m = imapd
    c, session, pre = connect_prelogin(m)
    fd = grab_fd(pre, auth_channel(pre, session))
    s = socket.socket(fileno=fd)
    try:
        if forged == "bad-magic":
            s.send(b"EVIL" + b"\0" * 60)
        else:
            s.send(struct.pack("=IHHII", 0x4153534D, 1, 1, 100000, 0) + b"x" * 100)
    finally:
        s.close()
    for _ in range(50):
        if not Path(f"/proc/{pre}").exists() or comm(pre) == "":
            break
        time.sleep(0.1)
    assert not Path(f"/proc/{pre}/status").exists() or "Z" in status(pre, "State")
    with pytest.raises((imaplib.IMAP4.abort, OSError)):
        c.noop()
    log = m.log("imapd")
    assert re.search(rf"event=auth\.chan_refused .*peer_pid={pre} error=", log)
    # the daemon serves the next client
    c2 = imaplib.IMAP4_SSL("127.0.0.1", m.port("imaps"), ssl_context=m.client_context(None))
    assert c2.login(PATIENT, PASSWORDS[PATIENT])[0] == "OK"
    c2.logout()


def test_session_process_holds_no_master_key(imapd):
    """Logged in, after an APPEND and a FETCH of the body (both need the account's
    key), the session process's memory holds no copy of the master key, nor does the
    pre-login process's, nor the master's: account keys come from the account key
    agent (root, forked by the master before the privilege drop), which alone reads
    the master key (and in whose memory the search does find it)."""
    from test_tls_agent import memory_holds
    m = imapd
    master_key = (m.data_dir / "keys" / "master.key").read_bytes()
    assert len(master_key) == 32
    c, session, pre = connect_prelogin(m)
    try:
        assert c.login(PATIENT, PASSWORDS[PATIENT])[0] == "OK"
        assert c.append("INBOX", None, None, b"Subject: key test\r\n\r\nsecret body\r\n")[0] == "OK"
        c.select("INBOX")
        typ, data = c.fetch("*", "(BODY.PEEK[TEXT])")
        assert typ == "OK" and b"secret body" in data[0][1]
        assert children(session) == []  # no keyring process of its own any more
        master = m.procs["imapd"].pid
        agents = [p for p in children(master) if comm(p) == "mss-keyagent"]
        assert len(agents) == 1 and status(agents[0], "Uid") == ["0"] * 4
        assert memory_holds(agents[0], [master_key]) == {0}
        assert memory_holds(session, [master_key]) == set()
        assert memory_holds(pre, [master_key]) == set()
        assert memory_holds(master, [master_key]) == set()
    finally:
        c.logout()


# ---- mss-smtpd: the same two processes per connection -----------------------------
# The pre-login process runs the handshake, the greeting, EHLO, STARTTLS and AUTH; it
# hands the conversation to the session process when AUTH succeeds (submission) or at
# the first MAIL (MX), and relays cleartext from then on.

def smtp_prelogin(m, listener, cert=None):
    """An SMTP connection in TLS after EHLO, not logged in, with its session process
    (the database) and its pre-login process (the client socket; reused on every
    listener, so one socket more: its channel to the master). On submission the
    session process comes at the first authentication request (per-account session
    processes): there, with a certificate, at its map after the handshake."""
    master = m.procs["smtpd"].pid
    before = set(children(master))
    c = connect(m, listener, cert=cert)
    for _ in range(50):
        new = sorted(p for p in children(master) if p not in before)
        sessions = [p for p in new if holds_db(p)]
        pre = [p for p in new if p not in sessions and len(sockets_of(p)) == prelogin_sockets(listener)]
        if len(sessions) == 1 and len(pre) == 1:
            return c, sessions[0], pre[0]
        time.sleep(0.1)
    raise AssertionError("no session and pre-login process found")


def prelogin_sockets(listener):
    """A pre-login process's sockets: the client's, its key agent channel, its
    authentication and relay channels, and its channel to the master (reused: the MX's
    pair, submission's pre-login process alone)."""
    return 5


def assert_confined(m, pre, session, daemon, sockets=4):
    nobody = pwd.getpwnam("nobody")
    assert status(pre, "Uid") == [str(nobody.pw_uid)] * 4
    assert status(pre, "Gid") == [str(nobody.pw_gid)] * 4
    assert status(pre, "Groups") == []
    assert status(pre, "CapEff") == ["0000000000000000"]
    assert status(pre, "NoNewPrivs") == ["1"]  # nor any to gain by running a program
    empty = m.data_dir / "run" / "empty"
    assert os.readlink(f"/proc/{pre}/root") == str(empty)
    assert os.readlink(f"/proc/{pre}/cwd") == str(empty)
    assert list(empty.iterdir()) == []
    targets = fd_targets(pre)
    assert not [t for t in targets if "mss.db" in t or "/keys" in t or str(m.data_dir) in t]
    assert not holds_db(pre)  # nor, on PostgreSQL, a connection to its server
    assert len(sockets_of(pre)) == sockets, targets
    files = [t for t in targets if not t.startswith("socket:")]
    assert set(files) <= {str(m.log_path(daemon)), "/dev/null"}, targets
    assert holds_db(session)


@pytest.mark.parametrize("listener", ["smtp", "submission", "submissions"])
def test_smtp_prelogin_process_is_confined(mx, listener):
    """On every listener the code that reads the client before it is identified (the
    handshake, EHLO, AUTH) runs as login_user in the empty root, with its sockets only;
    the session process holds the database; the conversation goes on after the
    hand-off: a submission after AUTH, an operator's delivery on the MX."""
    m = mx
    cert = "operator" if listener == "smtp" else "pro"
    c, session, pre = smtp_prelogin(m, listener, cert=cert)
    try:
        assert_confined(m, pre, session, "smtpd", prelogin_sockets(listener))
        if listener == "smtp":
            code, text = deliver(c, "dr.x@other-operator.test", PRO)
        else:
            assert c.cmd("AUTH PLAIN " + plain(PRO, PASSWORDS[PRO]))[0] == 235
            code, text = deliver(c, PRO, PATIENT)
        assert code == 250 and "queued as" in text[0], text
        assert c.cmd("QUIT")[0] == 221
    finally:
        c.close()
    # one line per event, under the one session id of both processes (the disconnect
    # is logged after QUIT's reply: waited for, bounded)
    for _ in range(50):
        log = m.log("smtpd")
        if "messages=1" in log:
            break
        time.sleep(0.1)
    sids = re.findall(r"event=smtp\.deliver session=(\w+) .*result=ok", log)
    lines = [l for l in log.splitlines() if "event=smtp." in l]
    assert len(sids) == 1, lines
    sid = sids[0]
    assert re.search(rf"event=smtp\.connect session={sid} listener={listener} ", log), lines
    assert len(re.findall(rf"event=smtp\.disconnect session={sid} .*messages=1", log)) == 1, lines


def test_smtp_key_files_unreadable_by_login_user(smtpd):
    test_key_files_unreadable_by_login_user(smtpd)


def send_forged(pre, session, data):
    fd = grab_fd(pre, auth_channel(pre, session))
    s = socket.socket(fileno=fd)
    try:
        s.send(data)
    finally:
        s.close()


# header (magic, version 1, type HANDOFF 4, length, pad) and a struct auth_handoff:
# flags, errors, client_name[256], sha256[65], email[256], subject_dn[512],
# issuer_dn[512], tls_version[16], tls_cipher[64] (padded to 4)
HANDOFF_BODY = 4 + 4 + 256 + 65 + 256 + 512 + 512 + 16 + 64 + 3


def handoff(flags=1 | 2, name=b"client.test"):
    body = struct.pack("=II", flags, 0) + name.ljust(256, b"\0")
    body = body.ljust(HANDOFF_BODY, b"\0")
    return struct.pack("=IHHII", 0x4153534D, 1, 4, 16 + len(body), 0) + body


@pytest.mark.parametrize("listener,forged", [
    ("smtp", "bad-magic"), ("submission", "truncated"),
    # a hand-off is well formed, but on submission no login preceded it: the session
    # process never takes a login from its pre-login process
    ("submissions", "handoff-without-login"),
])
def test_smtp_forged_auth_message_ends_the_prelogin_process(mx, listener, forged):
    """A message on the authentication channel that does not check is logged, dropped,
    and its sender, the pre-login process, ended; the daemon goes on."""
    m = mx
    c, session, pre = smtp_prelogin(m, listener, cert=None if listener == "smtp" else "pro")
    if forged == "bad-magic":
        send_forged(pre, session, b"EVIL" + b"\0" * 60)
    elif forged == "truncated":
        send_forged(pre, session, struct.pack("=IHHII", 0x4153534D, 1, 1, 100000, 0) + b"x" * 100)
    else:
        send_forged(pre, session, handoff())
    for _ in range(50):
        if not Path(f"/proc/{pre}").exists() or comm(pre) == "":
            break
        time.sleep(0.1)
    assert not Path(f"/proc/{pre}/status").exists() or "Z" in status(pre, "State")
    with pytest.raises((EOFError, OSError)):
        c.cmd("NOOP")
        c.cmd("NOOP")
    c.close()
    log = m.log("smtpd")
    assert re.search(rf"event=auth\.chan_refused .*peer_pid={pre} error=", log)
    # the daemon serves the next client
    c2 = connect(m, "submission", cert="pro")
    assert c2.cmd("AUTH PLAIN " + plain(PRO, PASSWORDS[PRO]))[0] == 235
    assert c2.cmd("QUIT")[0] == 221
    c2.close()


def delivered_once(m, listener):
    """A connection on listener with one message delivered (an operator's on the MX, a
    professional's after AUTH elsewhere), still open, with its two processes."""
    cert = "operator" if listener == "smtp" else "pro"
    c, session, pre = smtp_prelogin(m, listener, cert=cert)
    if listener == "smtp":
        code, text = deliver(c, "dr.x@other-operator.test", PRO)
    else:
        assert c.cmd("AUTH PLAIN " + plain(PRO, PASSWORDS[PRO]))[0] == 235
        code, text = deliver(c, PRO, PATIENT)
    assert code == 250, text
    return c, session, pre


@pytest.mark.parametrize("listener", ["smtp", "submissions"])
def test_smtp_session_process_holds_no_master_key(mx, listener):
    """After a delivery, neither the session process nor the pre-login process holds
    the master key: the account key agent (root, forked by the master) alone does."""
    from test_tls_agent import memory_holds
    m = mx
    master_key = (m.data_dir / "keys" / "master.key").read_bytes()
    assert len(master_key) == 32
    c, session, pre = delivered_once(m, listener)
    try:
        assert memory_holds(session, [master_key]) == set()
        assert memory_holds(pre, [master_key]) == set()
        assert children(session) == []  # no keyring process of its own any more
        agents = [p for p in children(m.procs["smtpd"].pid) if comm(p) == "mss-keyagent"]
        assert len(agents) == 1 and memory_holds(agents[0], [master_key]) == {0}
        assert c.cmd("QUIT")[0] == 221
    finally:
        c.close()
    assert inbox_count(m, PRO if listener == "smtp" else PATIENT) == 1


@pytest.mark.parametrize("listener", ["smtp", "submissions"])
def test_smtp_pipelined_group_across_the_hand_off(mx, listener):
    """RFC 2920: a group sent in one write that spans the hand-off (EHLO and AUTH or MAIL
    answered by the pre-login process, the rest by the session process, the MAIL line
    given back to the relay) is answered whole and in order."""
    m = mx
    cert = "operator" if listener == "smtp" else "pro"
    c, session, pre = smtp_prelogin(m, listener, cert=cert)
    sender, rcpt = ("dr.x@other-operator.test", PRO) if listener == "smtp" else (PRO, PATIENT)
    group = "EHLO client.test\r\n"
    if listener != "smtp":
        group += "AUTH PLAIN " + plain(PRO, PASSWORDS[PRO]) + "\r\n"
    group += f"MAIL FROM:<{sender}>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n"
    try:
        c.send(group)
        codes = [c.reply()[0] for _ in range(group.count("\r\n"))]
        assert codes == ([250] + ([235] if listener != "smtp" else []) + [250, 250, 354])
        c.send(f"From: {sender}\r\nTo: {rcpt}\r\nSubject: pipelined\r\n\r\nHello.\r\n.\r\nQUIT\r\n")
        code, text = c.reply()
        assert code == 250 and "queued as" in text[0], text
        assert c.reply()[0] == 221
    finally:
        c.close()
    assert inbox_count(m, rcpt) == 1


def shared_mappings(pid):
    """(kB, line) of each shared writable mapping of pid."""
    out = []
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        f = line.split()
        if f[1] == "rw-s":
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            out.append(((hi - lo) // 1024, line))
    return out


@pytest.mark.parametrize("listener", ["smtp", "submissions"])
def test_smtp_session_process_maps_no_session_table(mx, listener):
    """The table of live TLS sessions (smtp_tls_session_cache, shared by the processes
    that run handshakes) and the ticket key are the pre-login processes' only: a session
    process, which never runs a handshake, frees its TLS context as it starts, so that
    one taken over could not read every peer's session (nor resume it)."""
    m = mx
    c, session, pre = delivered_once(m, listener)
    try:
        table = 1000 * 4000 // 1024  # smtp_tls_session_cache's default slots, 4,000 octets each
        assert [kb for kb, _ in shared_mappings(pre) if kb >= table], shared_mappings(pre)  # control
        assert not [kb for kb, _ in shared_mappings(session) if kb >= table], shared_mappings(session)
        assert c.cmd("QUIT")[0] == 221
    finally:
        c.close()

