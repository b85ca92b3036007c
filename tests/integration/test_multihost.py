"""Several hosts on one PostgreSQL cluster (issue 18 step 3): two MSS instances on
loopback, each with its own data_dir, run dir and ports, sharing the config keys store
and blob_dir (and the first host's keys, copied as doc/operations.md says). Mail
delivered on one host is read, flagged and announced by IDLE on the other; mssctl
works from either; many writers on both hosts at once never give two messages one UID
and never fork the audit chain. Runs only with MSS_TEST_PG (scripts/run-tests starts a
private server)."""
import threading
import time

import pytest

from conftest import PATIENT, PATIENT2, PASSWORDS, PG_BASE, PRO
from test_imap_helpers import starttls_client
from test_smtp_protocol import MSG, login

pytestmark = [pytest.mark.postgresql,
              pytest.mark.skipif(not PG_BASE, reason="needs MSS_TEST_PG (a PostgreSQL server)")]


@pytest.fixture
def hosts(mss_factory, tmp_path):
    """Host a (the first: makes the schema, the keys, the demo accounts) and host b
    (joins it)."""
    a = mss_factory(name="a", init=False, extra={"blob_dir": str(tmp_path / "shared-blobs")})
    a.init()
    a.add_demo_accounts()
    b = mss_factory(name="b", init=False)
    b.join(a)
    return a, b


def send(c, rcpts, body):
    """One transaction on a logged-in RawSmtp session: the final reply code."""
    assert c.cmd("MAIL FROM:<%s>" % PRO)[0] == 250
    for r in rcpts:
        assert c.cmd("RCPT TO:<%s>" % r)[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(body + b".\r\n")
    return c.reply()[0]


def read_until(c, pred, timeout):
    """Reads untagged lines from an imaplib client until pred(line) or timeout."""
    c.sock.settimeout(timeout)
    lines = []
    while True:
        line = c.readline()
        assert line, "connection closed"
        lines.append(line)
        if pred(line):
            return lines


def test_deliver_on_one_read_flag_and_idle_on_other(hosts):
    a, b = hosts
    a.start("smtpd")
    a.start("imapd")
    b.start("imapd")
    watcher = starttls_client(b, PATIENT)
    assert watcher.select("INBOX")[1] == [b"0"]
    watcher.send(b"i1 IDLE\r\n")
    assert watcher.readline().startswith(b"+")

    c = login(a)
    t0 = time.monotonic()
    assert send(c, [PATIENT], MSG) == 250
    # the session on b wakes from host a's commit (LISTEN/NOTIFY), not from a poll
    lines = read_until(watcher, lambda line: line.endswith(b"EXISTS\r\n"), timeout=10)
    assert b"* 1 EXISTS\r\n" in lines
    assert time.monotonic() - t0 < 5
    watcher.send(b"DONE\r\n")
    read_until(watcher, lambda line: line.startswith(b"i1 "), timeout=10)

    # read and flag on b, see the flag on a
    typ, data = watcher.fetch("1", "(BODY[TEXT])")
    assert typ == "OK" and b"Hello." in data[0][1]
    assert watcher.store("1", "+FLAGS", "(\\Flagged)")[0] == "OK"
    other = starttls_client(a, PATIENT)
    other.select("INBOX")
    typ, data = other.fetch("1", "(FLAGS)")
    assert b"\\Flagged" in data[0] and b"\\Seen" in data[0]
    # a flag change on a reaches an IDLE session on b as well
    watcher.send(b"i2 IDLE\r\n")
    assert watcher.readline().startswith(b"+")
    assert other.store("1", "-FLAGS", "(\\Flagged)")[0] == "OK"
    lines = read_until(watcher, lambda line: b"FETCH" in line, timeout=10)
    assert b"\\Flagged" not in lines[-1]
    watcher.send(b"DONE\r\n")
    read_until(watcher, lambda line: line.startswith(b"i2 "), timeout=10)
    # another SELECT moves the session's LISTEN connection (kept, not made again) to
    # the new mailbox: a delivery to INBOX then still wakes it
    assert watcher.select("Sent")[0] == "OK"
    assert watcher.select("INBOX")[0] == "OK"
    watcher.send(b"i3 IDLE\r\n")
    assert watcher.readline().startswith(b"+")
    assert send(c, [PATIENT], MSG) == 250
    lines = read_until(watcher, lambda line: line.endswith(b"EXISTS\r\n"), timeout=10)
    assert b"* 2 EXISTS\r\n" in lines
    watcher.send(b"DONE\r\n")
    read_until(watcher, lambda line: line.startswith(b"i3 "), timeout=10)
    watcher.logout()
    other.logout()
    c.cmd("QUIT")


def test_mssctl_from_any_host(hosts):
    a, b = hosts
    new = "153057512345678@patient.mss.test"
    b.add_account(new, "patient", password="new-secret-1")  # made on b
    a.start("imapd")
    c = starttls_client(a)  # logs in on a
    c.login(new, "new-secret-1")
    assert c.select("INBOX")[0] == "OK"
    c.logout()
    assert new in a.ctl("account", "list").stdout
    a.ctl("audit", "verify")
    b.ctl("audit", "verify")
    # a further host without the first host's key is refused, and says why
    from conftest import Mss
    stray = Mss(a.root.parent / "stray", a.pki, {"store": a.settings["store"]})
    stray.pg_db = ""
    stray.write_config()
    r = stray.ctl("init", check=False)
    assert r.returncode != 0 and "already initialised by another host" in r.stderr


def test_many_writers_on_two_hosts(hosts):
    """4 SMTP sessions and 1 IMAP APPENDer per host, all into PATIENT's INBOX (and
    PATIENT2's) at once: every acknowledged message is stored once, UIDs are unique and
    dense, MODSEQs never repeat, and the audit chain verifies from either host."""
    a, b = hosts
    for h in hosts:
        h.start("smtpd")
        h.start("imapd")
    per_session, acked, errors = 12, [], []
    lock = threading.Lock()

    def smtp_writer(host, n):
        try:
            c = login(host)
            for i in range(per_session):
                body = (f"From: {PRO}\r\nTo: {PATIENT}\r\nSubject: w{n}-{i}\r\n\r\nx\r\n").encode()
                code = send(c, [PATIENT, PATIENT2], body)
                with lock:
                    acked.append(code)
            c.cmd("QUIT")
        except Exception as e:  # reported below: a thread's assert is otherwise lost
            errors.append(repr(e))

    def appender(host):
        try:
            c = starttls_client(host, PATIENT)
            for i in range(per_session):
                msg = f"Subject: a-{host.root.name}-{i}\r\n\r\nappended\r\n".encode()
                typ, _ = c.append("INBOX", None, None, msg)
                with lock:
                    acked.append(250 if typ == "OK" else typ)
            c.logout()
        except Exception as e:
            errors.append(repr(e))

    threads = [threading.Thread(target=smtp_writer, args=(h, i)) for h in hosts for i in range(4)]
    threads += [threading.Thread(target=appender, args=(h,)) for h in hosts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    assert acked.count(250) == len(acked) == 10 * per_session

    def uids(address):
        return [r[0] for r in a.sql(
            "SELECT m.uid FROM messages m JOIN mailboxes b ON m.mailbox_id = b.id"
            " JOIN store_users u ON b.user_id = u.id WHERE u.address = ? AND b.name = 'INBOX'"
            " ORDER BY m.uid", address)]

    for address, n in ((PATIENT, 10 * per_session), (PATIENT2, 8 * per_session)):
        got = uids(address)
        assert got == list(range(1, n + 1)), address  # unique and dense
    modseqs = [r[0] for r in a.sql("SELECT modseq FROM messages m JOIN mailboxes b"
                                   " ON m.mailbox_id = b.id JOIN store_users u ON b.user_id = u.id"
                                   " WHERE u.address = ? AND b.name = 'INBOX'", PATIENT)]
    assert len(set(modseqs)) == len(modseqs)
    # one chain: every record's prev is the hash of the record before it
    rows = a.sql("SELECT seq, prev, hash FROM audit_log ORDER BY seq")
    assert [r[0] for r in rows] == list(range(rows[0][0], rows[0][0] + len(rows)))
    for before, after in zip(rows, rows[1:]):
        assert after[1] == before[2], after[0]
    assert a.ctl("audit", "verify").returncode == 0
    assert b.ctl("audit", "verify").returncode == 0
    # both hosts' IMAP sessions see the same mailbox
    for h in hosts:
        c = starttls_client(h, PATIENT2)
        assert c.select("INBOX")[1] == [str(8 * per_session).encode()]
        c.logout()


def test_notify_across_hosts(hosts):
    """NOTIFY (RFC 5465) on host b is told of a delivery and a CREATE made on host a:
    its watch of every mailbox is a LISTEN on mss_mbox_all, not a poll."""
    from test_imap_helpers import RawImap

    a, b = hosts
    a.start("smtpd")
    a.start("imapd")
    b.start("imapd")
    watcher = RawImap(b)
    watcher.login(PATIENT)
    _, t = watcher.cmd("n1", "NOTIFY SET (personal (MessageNew MessageExpunge MailboxName))")
    assert t.startswith(b"n1 OK"), t
    c = login(a)
    t0 = time.monotonic()
    assert send(c, [PATIENT], MSG) == 250
    watcher.sock.settimeout(10)
    line = watcher.readline()
    while not line.startswith(b"* STATUS"):
        line = watcher.readline()
    assert b"INBOX" in line and b"MESSAGES 1 " in line, line
    assert time.monotonic() - t0 < 5
    actor = RawImap(a)
    actor.login(PATIENT)
    _, t = actor.cmd("a1", "CREATE Courrier")
    assert t.startswith(b"a1 OK")
    line = watcher.readline()
    while b"Courrier" not in line:  # Historique may appear first (the login's history)
        assert line.startswith(b"* "), line
        line = watcher.readline()
    assert line == b'* LIST () "/" "Courrier"', line
    actor.close()
    watcher.close()
    c.cmd("QUIT")
