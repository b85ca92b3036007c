"""Connection reuse (issue 13, Postfix's smtp_connection_cache_on_demand): a delivery
worker that finished its batch keeps its connection, idle, for
relay_connection_reuse_time and relay_connection_reuse_count messages; the queue
process gives the domain's next message to it rather than to a new connection. A
connection the peer closed meanwhile fails RSET: the message goes over a new one, once."""
import signal
import socket

import test_relay_faults
from conftest import PRO
from test_policy_smtp import as_professional
from test_relay_faults import ok_script, relay_to  # noqa: F401 (fixture)
from test_relay_parallel import CountingPeer, SlowGate
from test_relay_peers import REMOTE_PRO, message, queue_pid, wait_for, waiting


class Counted(CountingPeer):
    """Keeps each session's TLS socket."""

    def __init__(self, pki, script):
        super().__init__(pki, script)
        self.conns = []


def one_by_one(mss, peer, n, between=None):
    """n more messages, each sent once the one before was delivered."""
    for i in range(n):
        if between:
            between()
        with as_professional(mss) as s:
            assert s.send_message(message(PRO, REMOTE_PRO, f"Suite {i}"), from_addr=PRO,
                                  to_addrs=[REMOTE_PRO]) == {}
        assert wait_for(lambda: len(peer.data) == i + 2 and waiting(mss) == [], 30), \
            (len(peer.data), waiting(mss), mss.log("smtpd")[-2000:])


def started(mss, relay_to, monkeypatch, script=ok_script, **keys):  # noqa: F811
    monkeypatch.setattr(test_relay_faults, "Peer", Counted)
    mss.set(**keys)
    peer = relay_to(script)
    assert wait_for(lambda: len(peer.data) == 1 and waiting(mss) == [], 30), mss.log("smtpd")[-2000:]
    return peer


def test_messages_one_after_another_share_one_connection(relay_to, mss, monkeypatch):  # noqa: F811
    peer = started(mss, relay_to, monkeypatch, relay_connection_reuse_time=10)
    one_by_one(mss, peer, 3)
    assert peer.sessions == 1, peer.sessions
    assert b"RSET" in peer.commands  # checked before each reuse


def test_reuse_time_0_is_a_connection_per_message(relay_to, mss, monkeypatch):  # noqa: F811
    peer = started(mss, relay_to, monkeypatch, relay_connection_reuse_time=0)
    one_by_one(mss, peer, 2)
    assert peer.sessions == 3, peer.sessions


def test_reuse_count_bounds_the_messages_per_connection(relay_to, mss, monkeypatch):  # noqa: F811
    peer = started(mss, relay_to, monkeypatch, relay_connection_reuse_time=10,
                   relay_connection_reuse_count=2)
    one_by_one(mss, peer, 3)
    assert peer.sessions == 2, peer.sessions


def test_peer_closes_the_idle_connection(relay_to, mss, monkeypatch):  # noqa: F811
    """The peer drops the kept connection: the next message arrives over a new one, once."""
    def script(conn, line):
        if line.upper().startswith(b"MAIL"):
            peer_conns.append(conn)
        return ok_script(conn, line)

    def drop():
        for c in peer_conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    peer_conns = []
    peer = started(mss, relay_to, monkeypatch, script=script, relay_connection_reuse_time=10)
    one_by_one(mss, peer, 1, between=drop)
    assert peer.sessions == 2, peer.sessions
    assert len(peer.data) == 2 and b"Suite 0" in peer.data[1]
    assert "event=relay.reuse" in mss.log("smtpd") and "action=reconnect" in mss.log("smtpd")
    assert mss.sql("SELECT count(*) FROM audit_log WHERE action = 'relay.deliver'") == [(2,)]
    assert mss.sql("SELECT count(*) FROM audit_log WHERE action = 'relay.defer'") == [(0,)]  # not a retry


def test_idle_connections_count_against_relay_max_per_domain(relay_to, mss, monkeypatch):  # noqa: F811
    """Messages arriving while the domain's connections are busy or idle: never more than
    relay_max_per_domain open at once, idle ones included."""
    gate = SlowGate(pause=0.3)
    gate.open = True
    peer = started(mss, relay_to, monkeypatch, script=gate, relay_connection_reuse_time=10,
                   relay_max_per_domain=2)
    with as_professional(mss) as s:
        for i in range(8):
            assert s.send_message(message(PRO, REMOTE_PRO, f"Lot {i}"), from_addr=PRO,
                                  to_addrs=[REMOTE_PRO]) == {}
    assert wait_for(lambda: len(peer.data) == 9 and waiting(mss) == [], 60), mss.log("smtpd")[-2000:]
    assert 1 <= peer.most <= 2, peer.most
    assert peer.sessions <= 2, peer.sessions  # the kept ones carried the rest


def test_sighup_quits_the_idle_connection(relay_to, mss, monkeypatch):  # noqa: F811
    """SIGHUP: the idle worker QUITs and ends with the queue process it belongs to."""
    peer = started(mss, relay_to, monkeypatch, relay_connection_reuse_time=60)
    first = queue_pid(mss)
    assert peer.active == 1  # kept open, idle
    mss.procs["smtpd"].send_signal(signal.SIGHUP)
    assert wait_for(lambda: peer.active == 0 and queue_pid(mss) not in (None, first), 20), \
        mss.log("smtpd")[-2000:]
    assert peer.commands[-1].upper() == b"QUIT", peer.commands[-3:]
