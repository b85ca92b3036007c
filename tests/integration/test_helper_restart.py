"""Long-lived helpers started again when they die (lib/keeper.h): the audit signer (a
failed WAL sync ends it on purpose), the account key agent and the TLS key agent are
root's, forked before the master drops to the daemons' user, so each runs under a root
keeper that forks it again. kill -9 of each under a running daemon: one log line names
it with its status, the service comes back (signatures, reads of mail, handshakes).
A helper that cannot start is started again after pauses that double up to
child_restart_max, never in a loop; meanwhile a read that needs it gets a temporary
failure (IMAP NO [UNAVAILABLE])."""
import imaplib
import os
import re
import signal
import time

import pytest

from conftest import PASSWORDS, PATIENT, PRO
from test_audit_signer import head_seq, installed, max_seq, send, verify  # noqa: F401  (installed)
from test_key_agent import deliver
from test_metrics import metered, scrape  # noqa: F401  (metered)
from test_privsep import children, comm, direct_children
from test_relay_faults import relay_to  # noqa: F401  (fixture)
from test_relay_peers import queue_pid, waiting
from test_relay_process import Gate, deferred_once
from test_smtp_mx import deliver as mx_deliver, mx  # noqa: F401  (the mx fixture)
from test_smtp_protocol import connect

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the helpers are root's: needs root")


def wait_for(what, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = what()
        if got:
            return got
        time.sleep(0.05)
    return what()


def helper(m, daemon, name, other_than=None):
    """The pid of daemon's helper called name (under its keeper), once one runs."""
    def find():
        found = [p for p in children(m.procs[daemon].pid) if comm(p) == name and p != other_than]
        return found[0] if found else None
    pid = wait_for(find)
    assert pid, f"no {name} under {daemon}"
    return pid


def kill9_and_see_it_back(m, daemon, name, logged):
    old = helper(m, daemon, name)
    os.kill(old, signal.SIGKILL)
    line = f"event=child.ended name={logged} pid={old} signal=9 restart_in=1"
    assert wait_for(lambda: line in m.log(daemon)), m.log(daemon)[-3000:]
    new = helper(m, daemon, name, other_than=old)
    assert wait_for(lambda: f"event=child.restarted name={logged} pid={new} restarts=1" in m.log(daemon))
    assert m.procs[daemon].poll() is None
    return new


def read_inbox(m, subject):
    c = imaplib.IMAP4_SSL("127.0.0.1", m.port("imaps"), ssl_context=m.client_context(None), timeout=30)
    try:
        assert c.login(PATIENT, PASSWORDS[PATIENT])[0] == "OK"
        assert c.select("INBOX")[0] == "OK"
        typ, data = c.fetch("*", "(BODY.PEEK[])")
        return typ, data
    finally:
        c.logout()


def test_audit_signer_killed_is_started_again_and_the_log_verifies(installed):  # noqa: F811
    """The signer killed with records waiting: its keeper starts it again, the new one
    signs what was committed meanwhile and what comes after, the final checkpoint is
    written at stop, and mssctl audit verify passes."""
    m = installed
    checkpoints = m.sql("SELECT count(*) FROM audit_checkpoint")[0][0]
    m.start("smtpd")
    kill9_and_see_it_back(m, "smtpd", "mss-audit-sign", "audit-signer")
    for i in range(3):
        send(m, 20 + i)
    assert wait_for(lambda: head_seq(m) == max_seq(m), timeout=15), (head_seq(m), max_seq(m))
    m.stop("smtpd")
    assert head_seq(m) == max_seq(m)
    assert m.sql("SELECT count(*) FROM audit_checkpoint")[0][0] > checkpoints
    code, out = verify(m)
    assert code == 0, out


def test_account_key_agent_killed_is_started_again(mss):
    """A session whose agent died gets NO [UNAVAILABLE] (never a crash, never another
    account's key); the next sessions read their mail through the new agent."""
    m = mss
    m.start("smtpd")
    m.start("imapd")
    deliver(m, PATIENT, "before-kill")
    c = imaplib.IMAP4_SSL("127.0.0.1", m.port("imaps"), ssl_context=m.client_context(None), timeout=30)
    assert c.login(PATIENT, PASSWORDS[PATIENT])[0] == "OK"
    assert c.select("INBOX")[0] == "OK"
    kill9_and_see_it_back(m, "imapd", "mss-keyagent", "account-key-agent")
    typ, data = c.fetch("*", "(BODY.PEEK[])")
    assert typ == "NO" and b"[UNAVAILABLE]" in data[0], data
    c.logout()
    typ, data = read_inbox(m, "before-kill")
    assert typ == "OK" and b"body of before-kill" in data[0][1], data
    # smtpd's agent as well: a delivery after it was started again
    kill9_and_see_it_back(m, "smtpd", "mss-keyagent", "account-key-agent")
    deliver(m, PATIENT, "after-kill")
    typ, data = read_inbox(m, "after-kill")
    assert typ == "OK" and b"body of after-kill" in data[0][1], data


def test_tls_key_agent_killed_is_started_again(mss):
    m = mss
    m.start("smtpd")
    kill9_and_see_it_back(m, "smtpd", "mss-tls-agent", "tls-key-agent")
    deliver(m, PATIENT, "after-tls-agent")
    m.start("imapd")
    kill9_and_see_it_back(m, "imapd", "mss-tls-agent", "tls-key-agent")
    typ, data = read_inbox(m, "after-tls-agent")
    assert typ == "OK" and b"body of after-tls-agent" in data[0][1], data


def test_a_helper_that_cannot_start_is_not_restarted_in_a_loop(mss):
    """The master key gone: the account key agent cannot start again. Its keeper waits
    1, 2, 4, 4... seconds (child_restart_max = 4) between attempts, each logged once;
    a read meanwhile gets NO [UNAVAILABLE]; with the key back the agent runs again."""
    m = mss
    m.set(child_restart_max="4s")
    m.start("smtpd")
    m.start("imapd")
    deliver(m, PATIENT, "while-down")
    key = m.data_dir / "keys" / "master.key"
    aside = key.with_name("master.key.aside")
    old = helper(m, "imapd", "mss-keyagent")
    os.rename(key, aside)
    try:
        os.kill(old, signal.SIGKILL)
        t0 = time.monotonic()
        typ, data = read_inbox(m, "while-down")
        assert typ == "NO" and b"[UNAVAILABLE]" in data[0], data
        time.sleep(max(0.0, 10 - (time.monotonic() - t0)))
        ended = re.findall(r"event=child\.ended name=account-key-agent pid=\d+ (\S+) restart_in=(\d+)",
                           m.log("imapd"))
        # 10 s: the kill, then failed starts at about 1 s, 3 s and 7 s
        assert 3 <= len(ended) <= 4, ended
        assert ended[0] == ("signal=9", "1")
        assert [int(p) for _, p in ended] == [1, 2, 4, 4][:len(ended)], ended
        assert all(s == "status=1" for s, _ in ended[1:]), ended
        assert "event=keyagent.start result=failed" in m.log("imapd")
    finally:
        os.rename(aside, key)
    assert wait_for(lambda: helper(m, "imapd", "mss-keyagent"), timeout=10)
    typ, data = wait_for(lambda: (lambda r: r if r[0] == "OK" else None)(read_inbox(m, "while-down")),
                         timeout=15) or ("NO", None)
    assert typ == "OK" and b"body of while-down" in data[0][1], data


def test_a_keeper_killed_is_logged_by_the_master(mss):
    """The keeper itself (it never should end): the master, running as the daemons'
    user, cannot start a root helper again; it says so in one line. The helper goes on
    (test_privsep: the TLS agent then killed too, connections get a 421)."""
    m = mss
    m.start("smtpd")
    master = m.procs["smtpd"].pid
    keeper = wait_for(lambda: [p for p in direct_children(master) if comm(p) == "mss-tls-keep"])[0]
    os.kill(keeper, signal.SIGKILL)
    assert wait_for(lambda: f"event=child.ended name=tls-key-agent-keeper pid={keeper} signal=9 "
                    "restart_in=never" in m.log("smtpd")), m.log("smtpd")[-2000:]
    deliver(m, PATIENT, "agent-without-keeper")
    assert m.procs["smtpd"].poll() is None


def test_metrics_server_killed_is_started_again(metered):  # noqa: F811
    """The helpers that run as the daemons' user have keepers too (the master could
    restart them, but one mechanism serves all): the metrics server killed, /metrics is
    served again."""
    m = metered
    m.start("smtpd")
    scrape(m)
    master = m.procs["smtpd"].pid
    keeper = wait_for(lambda: [p for p in direct_children(master) if comm(p) == "mss-metric-keep"])[0]
    old = wait_for(lambda: direct_children(keeper))[0]
    os.kill(old, signal.SIGKILL)
    line = f"event=child.ended name=metrics-server pid={old} signal=9 restart_in=1"
    assert wait_for(lambda: line in m.log("smtpd")), m.log("smtpd")[-3000:]
    assert wait_for(lambda: [p for p in direct_children(keeper) if p != old])
    head, body = scrape(m)
    assert "200" in head.splitlines()[0] and body.endswith("# EOF\n")


def test_mx_after_tls_agent_restart(mx):  # noqa: F811
    """The MX's reused processes (smtp_session_max_use) forked before the TLS agent was
    started again are retired, their channels dead with it: the next MX connections,
    handed to new ones, deliver."""
    m = mx
    c = connect(m, "smtp", cert="operator")
    assert mx_deliver(c, "dr.x@other-operator.test", PRO)[0] == 250
    c.close()
    kill9_and_see_it_back(m, "smtpd", "mss-tls-agent", "tls-key-agent")
    for _ in range(3):
        c = connect(m, "smtp", cert="operator")
        assert mx_deliver(c, "dr.x@other-operator.test", PRO)[0] == 250
        c.close()


def test_relay_after_both_agents_restart(relay_to, mss):  # noqa: F811
    """The queue process signs and unwraps through channels of its own: the agents
    started again, the master has it hand over to a new queue process (as after SIGHUP,
    never a crash) that relays what was waiting."""
    m = mss
    gate = Gate()
    peer = relay_to(gate)
    deferred_once(m)
    for name, logged in (("mss-tls-agent", "tls-key-agent"), ("mss-keyagent", "account-key-agent")):
        first = queue_pid(m)
        kill9_and_see_it_back(m, "smtpd", name, logged)
        assert wait_for(lambda: queue_pid(m) not in (None, first), 15), m.log("smtpd")[-2000:]
    assert "event=relay.process result=ended" not in m.log("smtpd")
    gate.open = True
    m.ctl("queue", "flush")
    assert wait_for(lambda: waiting(m) == []), waiting(m)
    assert len(peer.data) == 1 and b"Bonjour" in peer.data[0]


def test_sighup_after_tls_agent_restart(mss):
    """The master's own channel to the TLS agent is made again: a SIGHUP after the
    restart reloads (its context is built through that channel)."""
    m = mss
    m.start("smtpd")
    kill9_and_see_it_back(m, "smtpd", "mss-tls-agent", "tls-key-agent")
    before = m.log("smtpd").count("event=reload result=ok")
    os.kill(m.procs["smtpd"].pid, signal.SIGHUP)
    assert wait_for(lambda: m.log("smtpd").count("event=reload") > before), m.log("smtpd")[-2000:]
    assert m.log("smtpd").count("event=reload result=ok") == before + 1, m.log("smtpd")[-2000:]
    deliver(m, PATIENT, "after-reload")


SIGNER_ONLY = r"""
static int signer(void)
{
	char name[32] = "";
	FILE *f = fopen("/proc/self/comm", "r");
	if (f != NULL) {
		if (fgets(name, sizeof name, f) == NULL)
			name[0] = 0;
		fclose(f);
	}
	return strncmp(name, "mss-audit-sign", 14) == 0;
}
"""


@pytest.mark.sqlite_only  # the WAL and its group commit are SQLite's (lib/sql_sqlite_sync.c)
def test_signer_ended_by_a_failed_wal_sync_is_started_again(smtpd, tmp_path):
    """The case that ends the signer on purpose: the WAL's fdatasync fails (the LD_PRELOAD
    shim of test_smtp_delivery) while it signs. It exits (sql.sync_failed, status 1),
    its keeper starts it again once the disk is back, and the new signer signs the head
    the failed one could not: audit verify passes."""
    import shutil
    import subprocess
    from conftest import BINARIES
    from test_smtp_delivery import FAIL_WAL_SYNC, send_one

    m = smtpd
    if "asan" in subprocess.run(["ldd", str(BINARIES["smtpd"])], capture_output=True, text=True).stdout:
        pytest.skip("the sanitizers' runtime must come first in LD_PRELOAD")
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler for the fdatasync shim")
    # the signer's syncs only: the deliveries go on and notify it
    shim = FAIL_WAL_SYNC.replace("access(trigger, F_OK) == 0 &&", "access(trigger, F_OK) == 0 && signer() &&")
    shim = shim.replace("int fdatasync(int fd)", SIGNER_ONLY + "int fdatasync(int fd)")
    assert "signer() &&" in shim and "static int signer(void)" in shim
    (tmp_path / "failsync.c").write_text(shim)
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(tmp_path / "failsync.so"),
                    str(tmp_path / "failsync.c"), "-ldl"], check=True)
    trigger = tmp_path / "fail-now"
    m.stop("smtpd")
    m.wrapper = ["env", "LD_PRELOAD=%s" % (tmp_path / "failsync.so"), "MSS_TEST_FAIL_WAL_SYNC=%s" % trigger]
    try:
        m.start("smtpd")
        c, (code, text) = send_one(m)
        assert code == 250, text
        assert wait_for(lambda: head_seq(m) == max_seq(m)), (head_seq(m), max_seq(m))
        signer = helper(m, "smtpd", "mss-audit-sign")
        trigger.write_text("")
        c, (code, text) = send_one(m)
        assert code == 250, text
        line = f"event=child.ended name=audit-signer pid={signer} status=1 restart_in=1"
        assert wait_for(lambda: line in m.log("smtpd")), m.log("smtpd")[-3000:]
        assert "event=sql.sync_failed" in m.log("smtpd")
        trigger.unlink()
        assert wait_for(lambda: head_seq(m) == max_seq(m), timeout=30), (head_seq(m), max_seq(m))
        c, (code, text) = send_one(m)
        assert code == 250, text
        assert wait_for(lambda: head_seq(m) == max_seq(m)), (head_seq(m), max_seq(m))
    finally:
        m.stop("smtpd")
        m.wrapper = []
    r = m.ctl("audit", "verify", check=False)
    assert r.returncode == 0, r.stdout + r.stderr


def keepers_of(master):
    return [p for p in direct_children(master) if comm(p).endswith("-keep")]


def test_a_stop_ends_the_helpers_without_a_restart(mss):
    """SIGTERM to the process group (the daemons' stop): the helpers end with their
    master, not as deaths to restart; no keeper outlives it."""
    m = mss
    for daemon in ("smtpd", "imapd"):
        m.start(daemon)
        master = m.procs[daemon].pid
        # a keeper names itself just after its fork: one may still bear the daemon's name
        assert wait_for(lambda: len(keepers_of(master)) >= 3, timeout=10), \
            [comm(p) for p in direct_children(master)]
        keepers = keepers_of(master)
        m.stop(daemon)
        assert "event=child.ended" not in m.log(daemon), m.log(daemon)[-2000:]
        assert wait_for(lambda: not any(os.path.exists(f"/proc/{p}") for p in keepers), timeout=10)


def dead_or_zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def test_account_key_agent_gone_for_good_refuses_connections(mss):
    """The account key agent killed with its keeper (nothing starts it again): a new
    connection is told so, 421 4.7.0 (submission; the MX, whose idle reused process
    cannot be handed it) or * BYE (IMAP), never a session that would fail later; the
    masters stay up."""
    import socket
    from test_smtp_protocol import RawSmtp

    m = mss
    m.start("smtpd")
    m.start("imapd")
    c = connect(m, "smtp", cert="operator")  # leaves an idle reused MX process
    c.close()
    for daemon in ("smtpd", "imapd"):
        keeper = wait_for(lambda: [p for p in direct_children(m.procs[daemon].pid)
                                   if comm(p) == "mss-keys-keep"])[0]
        agent = helper(m, daemon, "mss-keyagent")
        os.kill(keeper, signal.SIGKILL)
        try:
            os.kill(agent, signal.SIGKILL)
        except ProcessLookupError:
            pass  # it already ended with its keeper (seen on a loaded fresh root)
        assert wait_for(lambda: f"name=account-key-agent-keeper pid={keeper} signal=9" in m.log(daemon))
        assert wait_for(lambda: dead_or_zombie(agent))
    for listener in ("submission", "smtp"):
        c = RawSmtp(m.port(listener))
        code, text = c.reply()
        c.close()
        assert code == 421 and text[0].startswith("4.7.0"), (listener, code, text)
    with socket.create_connection(("127.0.0.1", m.port("imap")), timeout=20) as s:
        assert s.recv(200).startswith(b"* BYE "), "no BYE"
    assert "event=keyagent.channel_failed" in m.log("smtpd")
    assert m.procs["smtpd"].poll() is None and m.procs["imapd"].poll() is None


def test_webd_helpers_killed_are_started_again(mss):
    """mss-webd's TLS key agent and account key agent: killed, started again; a new
    browser logs in and reads its documents page."""
    from web_helpers import logged_in

    m = mss
    m.start("webd")
    for name, logged in (("mss-tls-agent", "tls-key-agent"), ("mss-keyagent", "account-key-agent")):
        kill9_and_see_it_back(m, "webd", name, logged)
        w = logged_in(m)
        assert w.get("/documents").status == 200
        w.close()


def test_mx_connection_while_tls_agent_is_down(mx):  # noqa: F811
    """A reused MX pre-login process has one TLS key agent channel for its life, which
    dies with the agent. The master sees the agent's end gone before it hands the
    process a connection and forks a new pair instead, whose channel waits in the
    keeper's socket for the next agent: a connection made while the agent is down
    handshakes in full and delivers once it is back, rather than failing."""
    m = mx
    c = connect(m, "smtp", cert="operator")
    assert mx_deliver(c, "dr.x@other-operator.test", PRO)[0] == 250
    c.close()
    old = helper(m, "smtpd", "mss-tls-agent")
    time.sleep(0.5)  # the pair is idle again
    os.kill(old, signal.SIGKILL)
    assert wait_for(lambda: f"event=child.ended name=tls-key-agent pid={old}" in m.log("smtpd"))
    c = connect(m, "smtp", cert="operator")  # before the restart (1 s later)
    assert mx_deliver(c, "dr.x@other-operator.test", PRO)[0] == 250
    c.close()
