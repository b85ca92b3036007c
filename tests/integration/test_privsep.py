"""Process separation (issue 12, doc/architecture.md "Process separation before
login"): what a session process holds. mss-smtpd and mss-imapd run their handshakes
through the TLS key agent (lib/key_agent.h): the agent alone reads tls_key; neither the
master nor a session process ever has the private key in memory."""
import imaplib
import os
import re
import signal
import smtplib
import subprocess
import time
from pathlib import Path

from conftest import PASSWORDS, PATIENT, PRO
from test_tls_agent import memory_holds, secrets_of


def direct_children(pid):
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


def children(pid):
    """pid's children, a helper under its keeper (lib/keeper.h, "mss-*-keep") counted
    as its own: the master's root helpers, restarted by their keepers."""
    out = []
    for c in direct_children(pid):
        out.extend(direct_children(c) if comm(c).endswith("-keep") else [c])
    return out


def comm(pid):
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def fd_targets(pid):
    out = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            out.append(str(fd.readlink()))
        except OSError:
            pass
    return out


def logged_in_sessions(mss):
    """Both daemons started, with a session of each logged in: a submission session
    after AUTH EXTERNAL and an IMAPS one after LOGIN."""
    mss.start("smtpd")
    mss.start("imapd")
    s = smtplib.SMTP("127.0.0.1", mss.port("submission"), timeout=20)
    s.starttls(context=mss.client_context("pro"))
    s.ehlo()
    assert s.docmd("AUTH", "EXTERNAL =")[0] == 235
    c = imaplib.IMAP4_SSL("127.0.0.1", mss.port("imaps"), ssl_context=mss.login_context(PATIENT))
    c.login(PATIENT, PASSWORDS[PATIENT])
    return s, c


def test_tls_key_only_in_the_agent(mss, pki):
    """Both daemons, a session of each in the middle of its work (logged in, after the
    handshake): the key's secret numbers are in the agent's memory and nowhere else; no
    process but the agent has the key file open."""
    needles = secrets_of(pki, "server")
    s, c = logged_in_sessions(mss)
    try:
        for daemon in ("smtpd", "imapd"):
            master = mss.procs[daemon].pid
            kids = children(master)
            agents = [p for p in kids if comm(p) == "mss-tls-agent"]
            sessions = [p for p in kids if comm(p) == comm(master)]
            assert len(agents) == 1 and sessions, (daemon, kids)
            for pid in [master, *sessions]:
                assert memory_holds(pid, needles) == set(), (daemon, pid)
                assert str(pki / "server.key") not in fd_targets(pid)
            # control: the search finds the key where it is
            assert memory_holds(agents[0], needles), daemon
        s.sendmail(PRO, [PATIENT], b"Subject: hello\r\n\r\nbody\r\n")
    finally:
        s.quit()
        c.logout()


def agent_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def kill_tls_agent_and_keeper(mss):
    """The TLS key agent gone for good: its keeper killed first (it would start the
    agent again: test_helper_restart), then the agent, waited for until dead."""
    master = mss.procs["smtpd"].pid
    # the keeper and the agent each name themselves just after their fork: until then
    # the keeper's comm is the master's, the agent's the keeper's
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        keepers = [p for p in direct_children(master) if comm(p) == "mss-tls-keep"]
        agents = [p for k in keepers for p in direct_children(k) if comm(p) == "mss-tls-agent"]
        if keepers and agents:
            break
        time.sleep(0.05)
    assert keepers and agents, [(p, comm(p)) for p in children(master)]
    agent = agents[0]
    os.kill(keepers[0], signal.SIGKILL)
    os.kill(agent, signal.SIGKILL)
    # kill() returns before either is gone, and the keeper holds the agent's end of the
    # master's control socket too (for the agent it would start again): until both
    # have run their exit, a connection accepted meanwhile still gets its channel (seen
    # under load: the agent a zombie, the keeper not yet scheduled). Wait until both
    # are dead (a zombie or reaped).
    deadline = time.monotonic() + 10
    while (agent_alive(agent) or agent_alive(keepers[0])) and time.monotonic() < deadline:
        time.sleep(0.05)


def assert_refused(mss):
    """A submission connection gets 421; if it is greeted instead, the failure lists
    the daemon's processes and its log (how the keeper's late exit was found)."""
    try:
        s = smtplib.SMTP("127.0.0.1", mss.port("submission"), timeout=20)
    except smtplib.SMTPConnectError as e:
        assert e.smtp_code == 421, e
        return
    s.close()
    master = mss.procs["smtpd"].pid
    procs = [(p, comm(p), agent_alive(p)) for p in direct_children(master) + children(master)]
    raise AssertionError(f"greeted, not refused; processes {procs}; log:\n{mss.log('smtpd')[-4000:]}")


def test_agent_gone_refuses_connections_and_says_why(mss):
    """The agent gone for good (killed with its keeper, which would start it again:
    test_helper_restart): no session is forked that could not do its handshake; each
    connection gets a 421 and the log says why, and the master stays up."""
    mss.start("smtpd")
    kill_tls_agent_and_keeper(mss)
    assert_refused(mss)
    assert "event=tls.agent_channel_failed" in mss.log("smtpd")
    assert mss.procs["smtpd"].poll() is None


def test_agent_gone_retires_idle_reused_prelogin_processes(mss):
    """A submission pre-login process that served a connection waits, reused, for the
    next one with its channel to the agent (lib/master.h MASTER_REUSE_PRELOGIN). Once
    the agent's keeper is gone, that channel can never work again: the master retires
    the idle process, and the next connection gets the 421 of a fresh one, not a 220
    from a process whose STARTTLS would fail."""
    mss.start("smtpd")
    s = smtplib.SMTP("127.0.0.1", mss.port("submission"), timeout=20)
    s.ehlo()
    s.quit()
    pre = re.findall(r"mss-smtpd\[(\d+)\] level=info event=smtp\.connect ", mss.log("smtpd"))[-1]
    deadline = time.monotonic() + 10  # reused: it waits for its next connection
    while int(pre) not in direct_children(mss.procs["smtpd"].pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert int(pre) in direct_children(mss.procs["smtpd"].pid)
    kill_tls_agent_and_keeper(mss)
    assert_refused(mss)
    assert mss.procs["smtpd"].poll() is None


def socket_inodes(pid):
    return {int(t[len("socket:["):-1]) for t in fd_targets(pid) if t.startswith("socket:[")}


def unix_peers():
    """{inode: the peer's inode} of every connected AF_UNIX socket ("u_seq ESTAB 0 0 *
    <inode> * <peer's inode>")."""
    out = subprocess.run(["ss", "-xa"], capture_output=True, text=True, check=True).stdout
    return {int(f[5]): int(f[7]) for f in (l.split() for l in out.splitlines())
            if len(f) >= 8 and f[5].isdigit() and f[7].isdigit()}


def descendants(pid):
    out = []
    for c in direct_children(pid):
        out += [c, *descendants(c)]
    return out


def test_only_the_master_holds_its_sockets_to_the_key_agents(mss):
    """The master's control sockets to the TLS key agent and the account key agent, and
    its own TLS agent channel, are its alone: with them a process could ask for any number
    of channels (signatures with the server's key), channels of another kind or a reload.
    Checked in every process of both daemons while a session of each is logged in (the
    pre-login process and the session process), with the queue process and the other
    helpers: each has only the channels it was given."""
    s, c = logged_in_sessions(mss)
    try:
        for daemon, helpers in (("smtpd", 4), ("imapd", 3)):  # smtpd: and its queue process
            master = mss.procs[daemon].pid
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                tree = {p: comm(p) for p in descendants(master)}
                agents = [p for p, name in tree.items() if name in ("mss-tls-agent", "mss-keyagent")]
                sessions = [p for p, name in tree.items() if name == comm(master)]
                if len(agents) == 2 and len(sessions) >= 2 and \
                        len([p for p in direct_children(master) if tree.get(p) != comm(master)]) >= helpers:
                    break
                time.sleep(0.05)
            peers = unix_peers()
            agent_ends = set().union(*(socket_inodes(a) for a in agents))
            masters = {i for i in socket_inodes(master) if peers.get(i) in agent_ends}
            # a control socket: the peer of the one the agent shares with its keeper
            controls = {i for i in masters if any(peers[i] in socket_inodes(k) for k in tree
                                                  if tree[k].endswith("-keep"))}
            assert len(controls) == 2 and len(masters) >= 3, (daemon, controls, masters)
            # the master's copies of the channels of its reused processes (lib/master_pool.c:
            # one channel for a process's life, looked at for the agent's end) and of the
            # queue process's: each held by that one process beside the master, never passed
            # on to another (the committer signs nothing)
            holders = {i: [p for p in tree if i in socket_inodes(p)] for i in masters}
            copies = {i for i, held in holders.items() if held}
            assert all(len(held) <= 1 for held in holders.values()), (daemon, {i: [(p, tree[p]) for p in h] for i, h in holders.items() if len(h) > 1})
            masters -= copies
            for pid, name in tree.items():
                assert not socket_inodes(pid) & controls, (daemon, pid, name)
                # sessions hold none at all (the queue holds the one the master made for it)
                assert name != comm(master) or not socket_inodes(pid) & masters, (
                    daemon, pid, name, [(i, [(a, tree[a]) for a in agents if peers[i] in socket_inodes(a)])
                                        for i in socket_inodes(pid) & masters],
                    Path(f"/proc/{pid}/cmdline").read_bytes(), mss.log(daemon)[-1500:])
    finally:
        s.quit()
        c.logout()
