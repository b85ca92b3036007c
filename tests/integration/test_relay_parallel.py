"""Parallel relay connections (issue 13, bench/relay): the queue process hands its
claimed batches to delivery workers, at most relay_max_connections at once and at most
relay_max_per_domain to one domain, each worker one connection carrying several
messages. The peer here holds the first MAIL until a second connection waits at MAIL
too, then delays its replies to MAIL, so that the sessions overlap, and counts its
connections open at once. A worker killed in the middle of a transfer loses nothing:
the queue process gives its recipients back as a deferral, which mssctl queue flush
makes due (test_relay_claims: claims, and the queue process itself killed)."""
import os
import signal
import threading
import time

import test_relay_faults
from conftest import PRO
from test_policy_smtp import as_professional
from test_relay_faults import Peer, ok_script, relay_to, take_data  # noqa: F401 (fixture)
from test_relay_peers import REMOTE_PRO, children_named, message, queue_pid, wait_for, waiting


class CountingPeer(Peer):
    """A scripted peer that counts its connections open at once, and the sessions begun
    since reset(). A connection counts until the relay's QUIT, before the 221: the
    worker waits for that reply before it ends, so a connection that ends cannot overlap
    the next worker's here, however late this peer's thread runs on a loaded machine
    (counted until its thread saw the end, one did: 4 at once for 3 workers)."""

    def __init__(self, pki, script):
        self.lock = threading.Lock()
        self.mine = threading.local()  # this thread's session has been counted out
        self.active = self.most = self.sessions = 0
        super().__init__(pki, lambda conn, line: self.command(conn, line, script))

    def command(self, conn, line, script):
        if line.upper() == b"QUIT":
            self.ended()
        return script(conn, line)

    def ended(self):
        if not self.mine.ended:
            self.mine.ended = True
            with self.lock:
                self.active -= 1

    def session(self, c):
        self.mine.ended = False
        with self.lock:
            self.active += 1
            self.sessions += 1
            self.most = max(self.most, self.active)
        try:
            super().session(c)
        finally:
            self.ended()

    def reset(self):
        """The most at once restarts from the connections open now; sessions from 0."""
        with self.lock:
            self.most = self.active
            self.sessions = 0


class SlowGate:
    """Defers MAIL (451) until opened. Once open, holds MAIL until `together` sessions
    (1: no hold) wait at MAIL at once (met), or `hold` seconds passed (a relay that opens one
    connection only still delivers, and the test sees it), then answers each MAIL after
    a pause, so that the sessions go on overlapping. Without the hold, the first worker
    could deliver its whole share before a loaded machine started the second."""

    def __init__(self, together=1, hold=20, pause=0.4):
        self.open = False
        self.together, self.hold, self.pause = together, hold, pause
        self.cond = threading.Condition()
        self.waiting = 0
        self.holding = True
        self.met = False

    def __call__(self, conn, line):
        if line.upper().startswith(b"MAIL"):
            if not self.open:
                return b"451 4.3.0 not now\r\n"
            self.wait_for_others()
            time.sleep(self.pause)
        return ok_script(conn, line)

    def wait_for_others(self):
        with self.cond:
            self.waiting += 1
            if self.waiting >= self.together:
                self.met = True
            self.cond.notify_all()
            self.cond.wait_for(lambda: self.met or not self.holding, self.hold)
            self.holding = False  # met, or waited long enough: no more holds
            self.waiting -= 1


def gated(mss, monkeypatch, together, **keys):
    """relay_to's peer becomes a CountingPeer; keys set; a closed SlowGate for it that
    holds MAIL until `together` sessions wait. No connection reuse: the gated phase's
    kept connections would carry the flush, and these count the connections a backlog
    opens (test_relay_reuse.py counts the kept ones)."""
    monkeypatch.setattr(test_relay_faults, "Peer", CountingPeer)
    mss.set(relay_connection_reuse_time=0, **keys)
    return SlowGate(together)


def queue_all(mss, relay_to, gate, n):  # noqa: F811
    """n messages queued and each tried once behind the closed gate; then the gate opens,
    the counts restart and the queue is flushed: all n delivered. queue_retry 1h: no
    retry of the gated phase runs into the flush (each would be a batch, and a session,
    of its own); relay_timeout 30 s: past the peer's hold."""
    peer = relay_to(gate, queue_retry="1h", relay_timeout=30)  # queues the first message
    with as_professional(mss) as s:
        for i in range(n - 1):
            assert s.send_message(message(PRO, REMOTE_PRO, f"Relais {i}"), from_addr=PRO,
                                  to_addrs=[REMOTE_PRO]) == {}
    assert wait_for(lambda: len(waiting(mss)) == n and all(r[1] >= 1 for r in waiting(mss)), 60), \
        waiting(mss)
    gate.open = True
    peer.reset()
    mss.ctl("queue", "flush")
    assert wait_for(lambda: waiting(mss) == [], 90), (waiting(mss), mss.log("smtpd")[-2000:])
    assert len(peer.data) == n, len(peer.data)
    return peer


def test_one_domain_uses_several_connections_up_to_relay_max_per_domain(relay_to, mss, monkeypatch):  # noqa: F811
    gate = gated(mss, monkeypatch, 2, relay_max_connections=10, relay_max_per_domain=3)
    peer = queue_all(mss, relay_to, gate, 12)
    assert gate.met, "a single connection carried the backlog"
    assert 2 <= peer.most <= 3, peer.most
    assert peer.sessions <= 3, peer.sessions  # a batch per connection: 4 messages each


def test_relay_max_connections_1_is_one_connection(relay_to, mss, monkeypatch):  # noqa: F811
    gate = gated(mss, monkeypatch, 1, relay_max_connections=1, relay_max_per_domain=5)
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
        if take_data(conn) is None:
            return None
        for pid in workers(mss):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        return None  # no reply to the final dot

    mss.set(relay_max_connections=2)
    peer = relay_to(script, queue_retry=3600)  # the deferral waits for the flush
    assert wait_for(lambda: killed and "event=relay.release" in mss.log("smtpd"), 30), \
        mss.log("smtpd")[-2000:]
    first = queue_pid(mss)
    log = mss.log("smtpd")
    assert "result=ended signal=9" in log, log[-2000:]
    assert [r[0] for r in waiting(mss)] == [REMOTE_PRO]  # nothing recorded for the dead one
    assert mss.sql("SELECT count(*) FROM audit_log WHERE action LIKE 'relay.%'") == [(0,)]
    mss.ctl("queue", "flush")  # the deferral the worker's end left, now
    assert wait_for(lambda: waiting(mss) == []), waiting(mss)
    assert len(peer.data) == 1 and b"Bonjour" in peer.data[0]
    assert queue_pid(mss) == first  # the queue process went on
    assert mss.sql("SELECT count(*) FROM audit_log WHERE action = 'relay.deliver'") == [(1,)]
