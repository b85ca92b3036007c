"""Claims on queued recipients (queue.h "Claims"): a recipient the queue process has
claimed belongs to it while it lives. mssctl queue flush during a delivery must not send
the message a second time beside the one in progress (a lab result filed twice in the
other operator's vault); a claim whose owner is gone (a worker killed, the queue process
killed and started again by the master) is released, so that nothing is lost (delivery
is at least once). The peer is the scripted one of test_relay_faults, which holds its
reply to the final dot here."""
import os
import signal
import threading
import time

from test_relay_faults import ok_script, relay_to, take_data  # noqa: F401 (fixture)
from test_relay_parallel import workers
from test_relay_peers import REMOTE_PRO, queue_pid, wait_for, waiting


class HeldData:
    """A script that reads the first message whole, then holds its reply to the final
    dot until released (or `hold` seconds); every later DATA is answered at once. Each
    message received is counted in `bodies`, held or not."""

    def __init__(self, hold=25):
        self.hold = hold
        self.held = threading.Event()
        self.go = threading.Event()
        self.bodies = []

    def __call__(self, conn, line):
        if line.upper() != b"DATA":
            return ok_script(conn, line)
        got = take_data(conn)
        if got is None:
            return None
        self.bodies.append(got)
        if not self.held.is_set():
            self.held.set()
            if not self.go.wait(self.hold):
                return None
        return b"250 2.0.0 ok\r\n"


def audit_count(m, action):
    return m.sql("SELECT count(*) FROM audit_log WHERE action = ?", action)[0][0]


def test_flush_during_a_delivery_does_not_send_it_twice(relay_to, mss):  # noqa: F811
    """A flush while a worker waits for the reply to its final dot: the recipient is that
    worker's (its queue process lives), so the flush leaves it alone and no second worker
    sends it. Before claims named their owner, the flush made it due and a second
    connection delivered a second copy while the first waited."""
    peer = HeldData()
    relay_to(peer, relay_timeout=30, relay_max_per_domain=3)
    assert peer.held.wait(30), mss.log("smtpd")[-2000:]
    (qid,), = mss.sql("SELECT qid FROM queue_rcpts")
    shown = mss.ctl("queue", "show", qid).stdout
    assert f"claimed by the running queue process {queue_pid(mss)}" in shown, shown
    out = mss.ctl("queue", "flush").stdout
    time.sleep(3)  # the flush wakes the queue process at once: a second copy would be here
    assert len(peer.bodies) == 1, "sent twice during the flush"
    assert "0 recipients due now" in out, out
    peer.go.set()
    assert wait_for(lambda: waiting(mss) == []), waiting(mss)
    time.sleep(1)
    assert len(peer.bodies) == 1
    assert audit_count(mss, "relay.deliver") == 1


def test_flush_makes_a_deferred_recipient_due(relay_to, mss):  # noqa: F811
    """What a flush is for stays: a deferred recipient (no claim) goes now."""
    tries = []

    def script(conn, line):
        if line.upper().startswith(b"MAIL") and not tries:
            tries.append(1)
            return b"451 4.3.0 later\r\n"
        return ok_script(conn, line)

    relay_to(script, queue_retry=3600)
    assert wait_for(lambda: [r[1] for r in waiting(mss)] == [1]), waiting(mss)
    out = mss.ctl("queue", "flush").stdout
    assert "1 recipient due now" in out, out
    assert wait_for(lambda: waiting(mss) == []), waiting(mss)


def test_worker_killed_mid_data_is_released_and_flush_sends_it(relay_to, mss):  # noqa: F811
    """kill -9 of the worker while the peer holds its reply to the final dot: the queue
    process, which lives, gives the recipient back as a deferral (attempt counted, the
    signal as its reply); a flush then sends it again (once more: at least once)."""
    peer = HeldData()
    relay_to(peer, relay_timeout=30, queue_retry=3600)
    assert peer.held.wait(30), mss.log("smtpd")[-2000:]
    first = queue_pid(mss)
    for pid in workers(mss):
        os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: "event=relay.release" in mss.log("smtpd"), 30), mss.log("smtpd")[-2000:]
    (rcpt, attempts, reply), = waiting(mss)
    assert (rcpt, attempts) == (REMOTE_PRO, 1) and "signal 9" in reply, (rcpt, attempts, reply)
    time.sleep(2)
    assert len(peer.bodies) == 1  # a deferral with its backoff, not at once
    out = mss.ctl("queue", "flush").stdout
    assert "1 recipient due now" in out, out
    assert wait_for(lambda: waiting(mss) == []), waiting(mss)
    assert len(peer.bodies) == 2
    assert queue_pid(mss) == first
    assert audit_count(mss, "relay.deliver") == 1


def test_queue_process_killed_its_claims_go_after_its_restart(relay_to, mss):  # noqa: F811
    """kill -9 of the queue process while its worker waits for the reply to the final dot:
    the worker ends with it (PR_SET_PDEATHSIG) without recording anything; the queue
    process the master starts again releases the dead one's claim (its pid and start
    time no longer name a running process) and the message goes, without a flush."""
    peer = HeldData()
    relay_to(peer, relay_timeout=30, queue_retry=3600)
    assert peer.held.wait(30), mss.log("smtpd")[-2000:]
    first, (worker,) = queue_pid(mss), workers(mss)
    os.kill(first, signal.SIGKILL)
    assert wait_for(lambda: not os.path.exists(f"/proc/{worker}") or
                    open(f"/proc/{worker}/stat").read().rsplit(")", 1)[1].split()[0] == "Z", 10)
    assert wait_for(lambda: waiting(mss) == [], 30), (waiting(mss), mss.log("smtpd")[-2000:])
    assert queue_pid(mss) not in (None, first)
    assert "reason=\"claimed by a queue process that is gone\"" in mss.log("smtpd")
    assert len(peer.bodies) == 2  # once more, as at least once allows
    assert audit_count(mss, "relay.deliver") == 1


def test_a_claim_is_its_live_owners_and_only_its(relay_to, mss):  # noqa: F811
    """A claim names a running queue process by its pid and start time. Its lease run
    out (a batch longer than an hour, here made so), the queue process's own scan
    renews it rather than hand it to a second worker. A claim naming the same pid with
    another start time (the pid given again to a later process) is released by a flush;
    one naming the live queue process as it is is not."""
    peer = HeldData()
    relay_to(peer, relay_timeout=30)
    assert peer.held.wait(30), mss.log("smtpd")[-2000:]
    (claim,), = mss.sql("SELECT claim_owner FROM queue_rcpts")
    boot, ns, pid, start, generation = claim.split(" ")  # the owner, then its claim scan
    assert int(pid) == queue_pid(mss)
    mss.sql("UPDATE queue_rcpts SET next_attempt = 0")
    assert wait_for(lambda: [r[0] > time.time() for r in mss.sql("SELECT next_attempt FROM queue_rcpts")]
                    == [True], 10)  # renewed (or taken: then a second copy comes)
    time.sleep(2)
    assert len(peer.bodies) == 1, "a live claim whose lease ran out was sent again"
    assert "0 recipients due now" in mss.ctl("queue", "flush").stdout
    mss.sql("UPDATE queue_rcpts SET claim_owner = ?", " ".join((boot, ns, pid, str(int(start) + 1), generation)))
    (qid,), = mss.sql("SELECT qid FROM queue_rcpts")
    shown = mss.ctl("queue", "show", qid).stdout
    assert f"claimed by a queue process that is gone ({pid}): queue flush sends it" in shown, shown
    assert "1 recipient due now" in mss.ctl("queue", "flush").stdout
    assert wait_for(lambda: len(peer.bodies) == 2), peer.bodies
    peer.go.set()
    assert wait_for(lambda: waiting(mss) == []), waiting(mss)
