"""Parallel relay connections (issue 13, bench/relay): the queue process hands its
claimed batches to delivery workers, at most relay_max_connections at once and at most
relay_max_per_domain to one domain, each worker one connection carrying several
messages. The peer here delays its replies to MAIL, so that the sessions overlap, and
counts its sessions open at once. A worker killed in the middle of a transfer loses
nothing: its recipients come due again (the lease, here mssctl queue flush)."""
import os
import signal
import threading
import time

import test_relay_faults
from conftest import PRO
from test_policy_smtp import as_professional
from test_relay_faults import Peer, ok_script, relay_to  # noqa: F401 (fixture)
from test_relay_peers import REMOTE_PRO, children_named, message, queue_pid, wait_for, waiting


class CountingPeer(Peer):
    """A scripted peer that counts its sessions begun since reset(): all of them, and the
    most at once (a session of the gated phase may still be ending meanwhile)."""

    def __init__(self, pki, script):
        self.lock = threading.Lock()
        self.counting = False
        self.active = self.most = self.sessions = 0
        super().__init__(pki, script)

    def session(self, c):
        with self.lock:
            counted = self.counting
            if counted:
                self.active += 1
                self.sessions += 1
                self.most = max(self.most, self.active)
        try:
            super().session(c)
        finally:
            if counted:
                with self.lock:
                    self.active -= 1

    def reset(self):
        with self.lock:
            self.counting = True
            self.active = self.most = self.sessions = 0


class SlowGate:
    """Defers MAIL (451) until opened; once open, answers MAIL after a pause."""

    def __init__(self, pause=0.4):
        self.open = False
        self.pause = pause

    def __call__(self, conn, line):
        if line.upper().startswith(b"MAIL"):
            if not self.open:
                return b"451 4.3.0 not now\r\n"
            time.sleep(self.pause)
        return ok_script(conn, line)


def gated(mss, monkeypatch, **keys):
    """relay_to's peer becomes a CountingPeer; keys set; a closed SlowGate for it. No
    connection reuse: the gated phase's kept connections would carry the flush, and these
    count the connections a backlog opens (test_relay_reuse.py counts the kept ones)."""
    monkeypatch.setattr(test_relay_faults, "Peer", CountingPeer)
    mss.set(relay_connection_reuse_time=0, **keys)
    return SlowGate()


def queue_all(mss, relay_to, gate, n):  # noqa: F811
    """n messages queued and each tried once behind the closed gate; then the gate opens,
    the counts restart and the queue is flushed: all n delivered."""
    peer = relay_to(gate)  # queues the first message
    with as_professional(mss) as s:
        for i in range(n - 1):
            assert s.send_message(message(PRO, REMOTE_PRO, f"Relais {i}"), from_addr=PRO,
                                  to_addrs=[REMOTE_PRO]) == {}
    assert wait_for(lambda: len(waiting(mss)) == n and all(r[1] >= 1 for r in waiting(mss)), 60), \
        waiting(mss)
    gate.open = True
    peer.reset()
    mss.ctl("queue", "flush")
    assert wait_for(lambda: waiting(mss) == [], 60), (waiting(mss), mss.log("smtpd")[-2000:])
    assert len(peer.data) == n, len(peer.data)
    return peer


def test_one_domain_uses_several_connections_up_to_relay_max_per_domain(relay_to, mss, monkeypatch):  # noqa: F811
    gate = gated(mss, monkeypatch, relay_max_connections=10, relay_max_per_domain=3)
    peer = queue_all(mss, relay_to, gate, 12)
    assert 2 <= peer.most <= 3, peer.most
    assert peer.sessions <= 3 + 1, peer.sessions  # a batch per connection (a late session may end)


def test_relay_max_connections_1_is_one_connection(relay_to, mss, monkeypatch):  # noqa: F811
    gate = gated(mss, monkeypatch, relay_max_connections=1, relay_max_per_domain=5)
    peer = queue_all(mss, relay_to, gate, 6)
    assert peer.most == 1, peer.most
    assert peer.sessions == 1, peer.sessions  # the six messages over one connection


def workers(m):
    """The queue process's delivery workers (comm mss-relay)."""
    return children_named(queue_pid(m), "mss-relay")


def test_worker_killed_mid_data_loses_nothing(relay_to, mss):  # noqa: F811
    """The worker dies after sending the whole message, before the peer's 250 to the final
    dot: nothing was recorded, so the recipient stays queued and is delivered again."""
    killed = []

    def script(conn, line):
        if line.upper() != b"DATA" or killed:
            return ok_script(conn, line)
        conn.sendall(b"354 go\r\n")
        got = b""
        while not got.endswith(b"\r\n.\r\n"):
            chunk = conn.recv(65536)
            if not chunk:
                return None
            got += chunk
        for pid in workers(mss):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        return None  # no reply to the final dot

    mss.set(relay_max_connections=2)
    peer = relay_to(script)
    assert wait_for(lambda: killed and "event=relay.worker" in mss.log("smtpd"), 30), \
        mss.log("smtpd")[-2000:]
    first = queue_pid(mss)
    log = mss.log("smtpd")
    assert "result=ended signal=9" in log, log[-2000:]
    assert [r[0] for r in waiting(mss)] == [REMOTE_PRO]  # nothing recorded for the dead one
    assert mss.sql("SELECT count(*) FROM audit_log WHERE action LIKE 'relay.%'") == [(0,)]
    mss.ctl("queue", "flush")  # the lease, now
    assert wait_for(lambda: waiting(mss) == []), waiting(mss)
    assert len(peer.data) == 1 and b"Bonjour" in peer.data[0]
    assert queue_pid(mss) == first  # the queue process went on
    assert mss.sql("SELECT count(*) FROM audit_log WHERE action = 'relay.deliver'") == [(1,)]


def test_workers_end_with_the_queue_process(relay_to, mss):  # noqa: F811
    """kill -9 of the queue process while a worker waits on a stalled peer: the worker
    ends with it (PR_SET_PDEATHSIG) rather than record its outcome after the fact; the
    recipient waits for its lease, untouched."""
    stalled = []

    def script(conn, line):
        if line.upper().startswith(b"MAIL"):
            stalled.append(1)
            return "stall"
        return ok_script(conn, line)

    relay_to(script)
    assert wait_for(lambda: stalled and workers(mss), 30), mss.log("smtpd")[-2000:]
    first, (worker,) = queue_pid(mss), workers(mss)
    os.kill(first, signal.SIGKILL)
    assert wait_for(lambda: not os.path.exists(f"/proc/{worker}") or
                    open(f"/proc/{worker}/stat").read().rsplit(")", 1)[1].split()[0] == "Z", 10)
    time.sleep(3)  # past relay_timeout (2 s): a worker still alive would have deferred it
    assert waiting(mss) == [(REMOTE_PRO, 0, "")], waiting(mss)
    assert mss.sql("SELECT count(*) FROM audit_log WHERE action LIKE 'relay.%'") == [(0,)]
