"""Relay out to the trust space, delivery side (issue 13): two MSS instances on loopback,
each the other's trusted operator (their own certificates from the test PKI, trust lists
naming each other, relay_routes), exchange mail both ways through the queue process of
mss-smtpd (libetpan's SMTP client over our TLS). A peer whose certificate DN is not the
one listed, or whose certificate comes from another CA, is never delivered to: the
recipient stays queued with the reason. kill -9 of the queue process and the daemon
loses nothing acknowledged (at least once)."""
import errno
import os
import signal
import smtplib
import socket
import time
from email.message import EmailMessage

import pytest

from conftest import PRO
from test_policy_smtp import as_professional, trust_xml

PEER_DOMAIN = "other-operator.test"
REMOTE_PRO = "dr.remote@other-operator.test"
OPERATOR_DN = "CN=mx.other-operator.test,OU=12345678900011,O=Other Operator,C=FR"
A_SERVER_DN = "CN=localhost,O=MSS Test,C=FR"  # server.crt: A's MX, verified by B
A_RELAY_DN = "CN=rsa.mss.test,O=MSS Test,C=FR"  # rsa.crt: the certificate A relays with


def inbox(m, user):
    return m.sql("SELECT count(*) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id "
                 "JOIN store_users u ON u.id = b.user_id WHERE u.address = ? AND b.name = 'INBOX'", user)[0][0]


def waiting(m):
    return m.sql("SELECT rcpt, attempts, last_reply FROM queue_rcpts")


def wait_for(cond, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.2)
    return cond()


def import_trust(m, entries):
    t = m.root / "trust.xml"
    t.write_text(trust_xml(entries))
    m.ctl("trust", "import", str(t))


def relay_via(m, port, **settings):
    """Starts m's mss-smtpd relaying other-operator.test to 127.0.0.1:port (retries after
    a second), the other operator's DN on its trust list; settings: more keys (or other
    values of these)."""
    m.set(**{"relay_routes": f"{PEER_DOMAIN}=127.0.0.1:{port}", "queue_retry": "1s", **settings})
    import_trust(m, [(PEER_DOMAIN, OPERATOR_DN)])
    m.start("smtpd")


@pytest.fixture
def peers(mss, mss_factory):
    """A: the demo instance (pro.mss.test); B: another operator (other-operator.test)
    with its own certificate (operator.crt). Each relays to the other by relay_routes."""
    a, pki = mss, mss.pki
    b = mss_factory(extra={"hostname": "mx.other-operator.test", "domains": PEER_DOMAIN,
                           "patient_domain": "patient.other-operator.test",
                           "tls_cert": str(pki / "operator.crt"), "tls_key": str(pki / "operator.key"),
                           "relay_timeout": "5", "queue_retry": "1s"}, name="peer")
    b.add_account(REMOTE_PRO, "professional", cert=pki / "pro2.crt", name="Dr Remote")
    a.set(relay_cert=pki / "rsa.crt", relay_key=pki / "rsa.key", relay_timeout=5, queue_retry="1s",
          relay_routes=f"{PEER_DOMAIN}=127.0.0.1:{b.port('smtp')}")
    b.set(relay_routes=f"pro.mss.test=127.0.0.1:{a.port('smtp')}")
    import_trust(a, [(PEER_DOMAIN, OPERATOR_DN)])
    import_trust(b, [("pro.mss.test", A_SERVER_DN), ("pro.mss.test", A_RELAY_DN)])
    return a, b


def message(sender, rcpt, subject="Relais"):
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = sender, rcpt, subject
    m.set_content("Bonjour confrère.\n")
    return m


def submit_remote(b, sender, rcpt):
    s = smtplib.SMTP("127.0.0.1", b.port("submission"), timeout=30)
    ctx = b.client_context("pro2")  # B maps this certificate to its professional
    ctx.check_hostname = False  # operator.crt names mx.other-operator.test, not 127.0.0.1
    s.starttls(context=ctx)
    s.ehlo("client.test")
    code, text = s.docmd("AUTH", "EXTERNAL =")
    assert code == 235, text
    assert s.send_message(message(sender, rcpt), from_addr=sender, to_addrs=[rcpt]) == {}
    s.quit()


def test_two_operators_exchange_mail_both_ways(peers):
    a, b = peers
    a.start("smtpd")
    b.start("smtpd")
    with as_professional(a) as s:
        assert s.send_message(message(PRO, REMOTE_PRO), from_addr=PRO, to_addrs=[REMOTE_PRO]) == {}
    assert wait_for(lambda: inbox(b, REMOTE_PRO) == 1), (waiting(a), a.log("smtpd")[-3000:])
    assert wait_for(lambda: waiting(a) == [])
    rows = a.sql("SELECT target, result, detail FROM audit_log WHERE action = 'relay.deliver'")
    assert len(rows) == 1 and rows[0][0] == REMOTE_PRO and rows[0][1].startswith("ok: 250"), rows
    assert OPERATOR_DN in rows[0][2]
    assert list((a.data_dir / "blobs" / "queue").iterdir()) == []  # the file left with its last recipient
    # B accepted it as from a listed operator (its certificate and MAIL FROM domain)
    rows = b.sql("SELECT actor, auth FROM audit_log WHERE action = 'smtp.deliver' AND target = ?", REMOTE_PRO)
    assert rows and rows[0][1] == "operator", rows
    # and back: B's professional answers A's
    submit_remote(b, REMOTE_PRO, PRO)
    assert wait_for(lambda: inbox(a, PRO) == 1), (waiting(b), b.log("smtpd")[-3000:])
    assert wait_for(lambda: waiting(b) == [])


def test_several_messages_share_one_connection(peers):
    """Six messages due in one round, relay_max_per_domain 2: two workers, each
    carrying three messages over one connection. queue_retry 1h: after its first
    attempt, a message is due again only by the flush (with 1s, a's own retries ran
    into b's start and the flush: some messages went before the flush, and a flush
    makes due again those a retry has claimed, which then went twice)."""
    a, b = peers
    a.set(relay_max_per_domain=2, queue_retry="1h")
    a.start("smtpd")  # B down: every attempt fails to connect, the messages wait
    with as_professional(a) as s:
        for i in range(6):
            assert s.send_message(message(PRO, REMOTE_PRO, f"n{i}"), from_addr=PRO, to_addrs=[REMOTE_PRO]) == {}
    assert wait_for(lambda: len(waiting(a)) == 6 and all(r[1] >= 1 for r in waiting(a))), waiting(a)
    assert all("cannot connect" in r[2] for r in waiting(a)), waiting(a)
    b.start("smtpd")
    before = a.log("smtpd").count("event=relay.connect ")
    a.ctl("queue", "flush")  # all six due in the same round
    assert wait_for(lambda: inbox(b, REMOTE_PRO) == 6), waiting(a)
    assert a.log("smtpd").count("event=relay.connect ") - before == 2, a.log("smtpd")[-3000:]


def test_peer_starts_on_the_port_the_other_relays_to(peers):
    """Each instance holds its ports from its making (conftest.held_port): no other socket
    can have b's port before b starts, so b starts on the port a's relay_routes names. A
    port only picked in advance was taken on a loaded CI by some client's connect(), b
    started on another one and a's six messages kept failing to connect to the old one."""
    a, b = peers
    port = b.port("smtp")
    with socket.socket() as s:
        with pytest.raises(OSError) as e:
            s.bind(("127.0.0.1", port))  # what a connect() could have done by chance
    assert e.value.errno == errno.EADDRINUSE
    b.start("smtpd")
    assert b.port("smtp") == port and a.settings["relay_routes"].endswith(f":{port}")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        assert b"mx.other-operator.test" in s.ehlo()[1]


def test_queued_message_and_flush_wake_the_queue_process(peers):
    """The queue process looks for due recipients only every queue_scan_interval, an
    hour here: a newly queued message wakes it at once, and so does mssctl queue flush
    (a retry that fell due meanwhile would wait for the hour)."""
    a, b = peers
    a.set(queue_scan_interval="1h")
    b.start("smtpd")
    a.start("smtpd")
    with as_professional(a) as s:
        assert s.send_message(message(PRO, REMOTE_PRO, "one"), from_addr=PRO, to_addrs=[REMOTE_PRO]) == {}
    assert wait_for(lambda: inbox(b, REMOTE_PRO) == 1), (waiting(a), a.log("smtpd")[-2000:])
    b.stop("smtpd")
    with as_professional(a) as s:
        assert s.send_message(message(PRO, REMOTE_PRO, "two"), from_addr=PRO, to_addrs=[REMOTE_PRO]) == {}
    assert wait_for(lambda: any(r[1] >= 1 for r in waiting(a))), waiting(a)
    b.start("smtpd")
    time.sleep(1.5)  # queue_retry (1s) has passed: due, but nobody looks for an hour
    assert inbox(b, REMOTE_PRO) == 1
    a.ctl("queue", "flush")
    assert wait_for(lambda: inbox(b, REMOTE_PRO) == 2), (waiting(a), a.log("smtpd")[-2000:])


def send_and_wait_deferred(a, b):
    """Starts both, sends one message from A to B's professional, and returns the reply
    A recorded for it once it is deferred."""
    b.start("smtpd")
    a.start("smtpd")
    with as_professional(a) as s:
        assert s.send_message(message(PRO, REMOTE_PRO), from_addr=PRO, to_addrs=[REMOTE_PRO]) == {}
    assert wait_for(lambda: any(r[1] >= 1 for r in waiting(a))), a.log("smtpd")[-2000:]
    (rcpt, attempts, reply), = waiting(a)
    return reply


def test_peer_with_unlisted_dn_is_never_delivered_to(peers):
    a, b = peers
    import_trust(a, [(PEER_DOMAIN, "CN=mx.someone-else.test,O=Someone Else,C=FR")])
    reply = send_and_wait_deferred(a, b)
    assert "not listed" in reply and "mx.other-operator.test" in reply, reply
    assert inbox(b, REMOTE_PRO) == 0
    rows = a.sql("SELECT result FROM audit_log WHERE action = 'relay.defer'")
    assert rows and rows[0][0].startswith("deferred: "), rows
    # B never saw a MAIL FROM: the check happens before any transaction
    assert "smtp.mail" not in b.log("smtpd")


def test_peer_from_another_ca_is_never_delivered_to(peers):
    a, b = peers
    b.set(tls_cert=b.pki / "server-untrusted.crt", tls_key=b.pki / "server-untrusted.key")
    reply = send_and_wait_deferred(a, b)
    assert "TLS handshake failed" in reply, reply
    assert inbox(b, REMOTE_PRO) == 0


def children_named(parent, name):
    """The pids of parent's children whose comm is name (from /proc)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        if int(fields[1]) == parent and comm == name:
            found.append(int(pid))
    return found


def queue_pid(m):
    found = children_named(m.procs["smtpd"].pid, "mss-queue")
    return found[0] if found else None


def test_kill9_loses_nothing_acknowledged(peers):
    a, b = peers
    b.start("smtpd")
    a.start("smtpd")
    n = 8
    with as_professional(a) as s:
        for i in range(n):
            assert s.send_message(message(PRO, REMOTE_PRO, f"k{i}"), from_addr=PRO, to_addrs=[REMOTE_PRO]) == {}
    pid = queue_pid(a)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # at whatever point it was
    a.kill9("smtpd")
    a.start("smtpd")
    a.ctl("queue", "flush")  # claims of the killed process are due now
    assert wait_for(lambda: waiting(a) == [], timeout=60), waiting(a)
    subjects = {r[0] for r in b.sql("SELECT m.envelope FROM messages m JOIN mailboxes x ON x.id = m.mailbox_id "
                                    "WHERE x.name = 'INBOX'")}
    assert inbox(b, REMOTE_PRO) >= n, subjects


def test_new_message_not_slowed_by_100000_deferred(peers):
    """100,000 deferred recipients (DESIGN.md): the claim reads the due ones through the
    next-attempt index (one range scan), so a new message leaves as fast as with an
    empty queue. Measured here: the time from 250 to the peer's INBOX, both ways."""
    import sqlite3
    a, b = peers
    if a.settings.get("store"):
        pytest.skip("the bulk insert below writes SQLite directly")
    b.start("smtpd")
    a.start("smtpd")

    def latency(subject):
        # counted before the send: the relay may deliver before the client's QUIT returns
        n = inbox(b, REMOTE_PRO)
        t0 = time.time()
        with as_professional(a) as s:
            assert s.send_message(message(PRO, REMOTE_PRO, subject), from_addr=PRO, to_addrs=[REMOTE_PRO]) == {}
        assert wait_for(lambda: inbox(b, REMOTE_PRO) > n, 60)
        return time.time() - t0

    empty = latency("empty")
    later = int(time.time()) + 86400
    con = sqlite3.connect(str(a.data_dir / "mss.db"), timeout=30)
    with con:
        con.executemany("INSERT INTO queue_messages(qid, mail_from, account, size, created) VALUES (?, ?, '', 100, ?)",
                        ((f"D{i:07d}", PRO, int(time.time())) for i in range(100000)))
        con.executemany("INSERT INTO queue_rcpts(qid, rcpt, domain, next_attempt) VALUES (?, ?, ?, ?)",
                        ((f"D{i:07d}", f"x{i}@deferred.test", "deferred.test", later) for i in range(100000)))
    plan = " ".join(r[3] for r in con.execute(
        "EXPLAIN QUERY PLAN SELECT r.qid FROM queue_rcpts r JOIN queue_messages m ON m.qid = r.qid "
        "WHERE r.next_attempt <= 1 ORDER BY r.next_attempt LIMIT 100"))
    con.close()
    assert "queue_rcpts_due" in plan, plan
    loaded = latency("loaded")
    print(f"relay latency: empty queue {empty:.2f} s, with 100,000 deferred {loaded:.2f} s")
    assert loaded < empty + 5, (empty, loaded)
