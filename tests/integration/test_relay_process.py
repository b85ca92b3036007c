"""The queue process is the master's to keep (issue 13): killed, it is started again
after a short pause and delivers what was waiting; on SIGHUP the master reloads the
settings and the running queue process ends its round and hands over to a new one that
uses them (here: a new relay_routes entry), so a route or certificate change never
needs a restart of mss-smtpd."""
import os
import signal

from test_relay_faults import Peer, ok_script, relay_to  # noqa: F401 (fixture)
from test_relay_peers import PEER_DOMAIN, queue_pid, wait_for, waiting


class Gate:
    """A peer script that defers MAIL (451) until opened."""

    def __init__(self):
        self.open = False

    def __call__(self, conn, line):
        if line.upper().startswith(b"MAIL") and not self.open:
            return b"451 4.3.0 not now\r\n"
        return ok_script(conn, line)


def deferred_once(m):
    assert wait_for(lambda: any(r[1] >= 1 for r in waiting(m))), m.log("smtpd")[-2000:]


def test_killed_queue_process_is_restarted_and_delivers(relay_to, mss):  # noqa: F811
    gate = Gate()
    peer = relay_to(gate)
    deferred_once(mss)
    first = queue_pid(mss)
    assert first is not None
    os.kill(first, signal.SIGKILL)
    assert wait_for(lambda: queue_pid(mss) not in (None, first), 15), mss.log("smtpd")[-2000:]
    # the master logs the start after its fork returns: the child may be seen first
    assert wait_for(lambda: "event=relay.process result=started" in mss.log("smtpd"), 15), \
        mss.log("smtpd")[-2000:]
    assert "event=relay.process result=ended signal=9" in mss.log("smtpd"), mss.log("smtpd")[-2000:]
    gate.open = True
    mss.ctl("queue", "flush")
    assert wait_for(lambda: waiting(mss) == []), waiting(mss)
    assert len(peer.data) == 1 and b"Bonjour" in peer.data[0]
    assert mss.procs["smtpd"].poll() is None  # the master never went down


def test_sighup_hands_over_to_a_queue_process_with_the_new_routes(relay_to, mss):  # noqa: F811
    old = relay_to(Gate())  # never opens: everything stays deferred there
    deferred_once(mss)
    first = queue_pid(mss)
    new = Peer(mss.pki, ok_script)
    try:
        mss.set(relay_routes=f"{PEER_DOMAIN}=127.0.0.1:{new.port}")
        os.kill(mss.procs["smtpd"].pid, signal.SIGHUP)
        assert wait_for(lambda: queue_pid(mss) not in (None, first), 15), mss.log("smtpd")[-2000:]
        log = mss.log("smtpd")
        assert "event=relay.reload result=ok" in log, log[-2000:]
        assert "event=relay.process result=ended" not in log  # a handover, not a crash
        mss.ctl("queue", "flush")
        assert wait_for(lambda: waiting(mss) == []), waiting(mss)
        assert len(new.data) == 1 and old.data == []
    finally:
        new.close()


def test_a_bad_config_on_sighup_keeps_the_queue_process(relay_to, mss):  # noqa: F811
    relay_to(Gate())
    deferred_once(mss)
    first = queue_pid(mss)
    mss.set(relay_routes="not a route")
    os.kill(mss.procs["smtpd"].pid, signal.SIGHUP)
    assert wait_for(lambda: "event=reload " in mss.log("smtpd"), 10), mss.log("smtpd")[-2000:]
    assert queue_pid(mss) == first  # the old settings stay whole: nothing to hand over


def test_relay_certificate_without_client_purpose_is_named_at_start(mss):
    """Postfix refuses a client certificate made for servers only ("Client certificate
    not trusted", found by test_relay_postfix): the start says so, naming the file."""
    mss.start("smtpd")  # relay_cert unset: tls_cert, server.crt (serverAuth only)
    log = mss.log("smtpd")
    assert "event=relay.cert_purpose" in log and "server.crt" in log, log[-2000:]
    mss.stop("smtpd")
    mss.set(relay_cert=mss.pki / "rsa.crt", relay_key=mss.pki / "rsa.key")  # both purposes
    before = mss.log("smtpd").count("event=relay.cert_purpose")
    mss.start("smtpd")
    assert mss.log("smtpd").count("event=relay.cert_purpose") == before
