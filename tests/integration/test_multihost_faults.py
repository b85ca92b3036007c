"""Faults with several hosts on one PostgreSQL cluster: the server restarting under
load, a host killed with -9, a network partition between a host and the database.
Sessions then get temporary failures (SMTP 4xx, IMAP NO), never a crash; an
acknowledged (250) message is never lost; the other host keeps serving. Each test has
a PostgreSQL server of its own (scripts/pg-test-cluster) so that restarting it
disturbs no other test. Runs only with MSS_TEST_PG."""
import os
import select
import socket
import subprocess
import tempfile
import threading
import time

import pytest

import atrest_helpers
from conftest import CERT_OF, PASSWORDS, PATIENT, PG_BASE, PRO, SRC
from test_imap_helpers import starttls_client
from test_smtp_protocol import connect, plain

pytestmark = [pytest.mark.postgresql,
              pytest.mark.skipif(not PG_BASE, reason="needs MSS_TEST_PG (a PostgreSQL server)")]

CLUSTER = str(SRC / "scripts" / "pg-test-cluster")


@pytest.fixture
def own_pg():
    d = tempfile.mkdtemp(prefix="mss-pg-", dir="/tmp")
    uri = subprocess.run([CLUSTER, "start", d], check=True, capture_output=True,
                         text=True).stdout.strip()
    yield d, uri
    subprocess.run([CLUSTER, "stop", d], check=False)


def two_hosts(mss_factory, tmp_path, pg_uri, b_store=None):
    a = mss_factory(name="a", init=False, pg_base=pg_uri,
                    extra={"blob_dir": str(tmp_path / "shared-blobs"), "store_timeout": "4"})
    a.init()
    a.add_demo_accounts()
    b = mss_factory(name="b", init=False, extra={"store_timeout": "4"})
    b.join(a)
    if b_store:
        b.set(store=b_store(a.pg_db))
    return a, b


class Writer(threading.Thread):
    """Sends numbered messages on one host until stopped, opening a new session after
    any failure. Records every reply: acked subjects must all be stored."""

    def __init__(self, host, name):
        super().__init__(daemon=True)
        self.host, self.name = host, name
        self.acked, self.codes, self.errors = [], [], []
        self.stop = threading.Event()

    def run(self):
        i = 0
        c = None
        while not self.stop.is_set():
            try:
                if c is None:
                    c = self.session()
                if c is None:
                    time.sleep(0.2)
                    continue
                subject = f"{self.name}-{i}"
                i += 1
                body = f"From: {PRO}\r\nTo: {PATIENT}\r\nSubject: {subject}\r\n\r\nx\r\n".encode()
                code = c.cmd("MAIL FROM:<%s>" % PRO)[0]
                if code == 250:
                    code = c.cmd("RCPT TO:<%s>" % PATIENT)[0]
                if code == 250:
                    code = c.cmd("DATA")[0]
                    if code == 354:
                        c.send(body + b".\r\n")
                        code = c.reply()[0]
                self.codes.append(code)
                if code == 250:
                    self.acked.append(subject)
                else:
                    if not 400 <= code < 500:  # temporary, never a refusal
                        self.errors.append(f"{subject}: {code}")
                    c.cmd("RSET")
            except (OSError, AssertionError, EOFError):
                # a session that ended, or a login refused for the time being (the
                # database unreachable): a new session, as a client would
                try:
                    c and c.close()
                except OSError:
                    pass
                c = None
                time.sleep(0.2)
        try:
            c and c.cmd("QUIT")
        except OSError:
            pass

    def session(self):
        """A submission session; a login refused while the store is unreachable must be
        temporary (4xx) and counts as the temporary failure it is."""
        c = connect(self.host, "submission", cert=CERT_OF.get(PRO))
        code, text = c.cmd("AUTH PLAIN " + plain(PRO, PASSWORDS[PRO]))
        if code == 235:
            return c
        self.codes.append(code)
        if not 400 <= code < 500:
            self.errors.append(f"login: {code} {text}")
        c.close()
        return None


def subjects(host):
    return set(atrest_helpers.stored_envelopes(host, PATIENT))


def assert_acked_stored(reader, writers):
    stored = " ".join(subjects(reader))
    for w in writers:
        assert w.acked, f"{w.name} had no message accepted"
        lost = [s for s in w.acked if f'"{s}"' not in stored]
        assert not lost, f"acknowledged but not stored: {lost}"


def run_writers(hosts, names):
    ws = [Writer(h, n) for h, n in zip(hosts, names)]
    for w in ws:
        w.start()
    return ws


def wait_acked(ws, timeout=60):
    """Waits until every writer had a message accepted (logins cost an Argon2id)."""
    deadline = time.monotonic() + timeout
    while not all(w.acked for w in ws):
        assert time.monotonic() < deadline, [(w.name, w.codes) for w in ws]
        time.sleep(0.1)


def stop_writers(ws):
    for w in ws:
        w.stop.set()
    for w in ws:
        w.join(timeout=60)
    for w in ws:
        assert not w.errors, w.errors


def alive(host, daemon):
    return host.procs[daemon].poll() is None


def test_postgresql_restart_under_load(own_pg, mss_factory, tmp_path):
    pg_dir, uri = own_pg
    a, b = two_hosts(mss_factory, tmp_path, uri)
    for h in (a, b):
        h.start("smtpd")
        h.start("imapd")
    reader = starttls_client(b, PATIENT)
    reader.select("INBOX")
    ws = run_writers((a, a, b, b), ("a1", "a2", "b1", "b2"))
    wait_acked(ws)
    subprocess.run([CLUSTER, "restart", pg_dir, "-m", "immediate"], check=True)
    replies = []
    for _ in range(6):  # the open IMAP session: OK or NO [UNAVAILABLE], never a crash
        typ, data = reader.status("INBOX", "(MESSAGES)")
        replies.append(typ)
        if typ == "NO":
            assert b"[UNAVAILABLE]" in data[0], data
        time.sleep(0.3)
    time.sleep(3)
    stop_writers(ws)
    for h in (a, b):
        assert alive(h, "smtpd") and alive(h, "imapd"), h.log("smtpd")[-2000:]
    for w in ws:
        assert w.codes.count(250) > 0
    assert set(replies) <= {"OK", "NO"}
    assert_acked_stored(a, ws)
    # both hosts serve new sessions afterwards
    for h in (a, b):
        c = starttls_client(h, PATIENT)
        assert c.select("INBOX")[0] == "OK"
        c.logout()
    assert a.ctl("audit", "verify").returncode == 0
    reader.logout()


def test_host_killed_other_keeps_serving(own_pg, mss_factory, tmp_path):
    _, uri = own_pg
    a, b = two_hosts(mss_factory, tmp_path, uri)
    for h in (a, b):
        h.start("smtpd")
    ws = run_writers((a, a, b, b), ("a1", "a2", "b1", "b2"))
    wait_acked(ws)
    a.kill9("smtpd")  # master and sessions, mid-transaction or not
    killed_at = time.monotonic()
    before = len(ws[2].acked) + len(ws[3].acked)
    time.sleep(4)
    stop_writers(ws)
    assert len(ws[2].acked) + len(ws[3].acked) > before, "host b stopped serving"
    assert time.monotonic() - killed_at < 30
    assert alive(b, "smtpd")
    assert_acked_stored(b, ws)
    assert b.ctl("audit", "verify").returncode == 0


class Proxy(threading.Thread):
    """A TCP proxy to the database that can be cut like a partition: packets are no
    longer carried in either direction, and no connection is refused or reset (so
    only timeouts can tell)."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.target = port
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.cut = threading.Event()
        self.heal_req = threading.Event()
        self.pairs = []
        self.done = False

    def run(self):
        while not self.done:
            if self.heal_req.is_set():
                for p in self.pairs:
                    for x in p:
                        x.close()
                self.pairs = []
                self.cut.clear()
                self.heal_req.clear()
            socks = [self.lsock] + [s for p in self.pairs for s in p]
            r, _, _ = select.select(socks, [], [], 0.1)
            for s in r:
                if s is self.lsock:
                    c, _ = s.accept()
                    try:
                        up = socket.create_connection(("127.0.0.1", self.target), timeout=5)
                    except OSError:
                        c.close()
                        continue
                    up.settimeout(None)
                    self.pairs.append((c, up))
                    continue
                if self.cut.is_set():
                    continue  # held, not forwarded: a partition
                pair = next((p for p in self.pairs if s in p), None)
                if pair is None:
                    continue  # its pair ended earlier in this round (both sides were ready)
                other = pair[1] if s is pair[0] else pair[0]
                # a side that went away (a client that timed out and exited) ends its
                # pair; it must not end this thread, or every later connection would
                # hang in the listen queue (b's start retries then all timed out)
                try:
                    data = s.recv(65536)
                    if data:
                        other.sendall(data)
                except OSError:
                    data = b""
                if not data:
                    for x in pair:
                        x.close()
                    self.pairs.remove(pair)
            if self.cut.is_set():
                time.sleep(0.05)

    def heal(self):
        """Ends the partition; the connections held across it are dropped (their
        peers timed out meanwhile), new ones work."""
        self.heal_req.set()
        while self.heal_req.is_set():
            time.sleep(0.05)


def test_partition_between_host_and_database(own_pg, mss_factory, tmp_path):
    _, uri = own_pg
    port = int(uri.rsplit(":", 1)[1])
    proxy = Proxy(port)
    proxy.start()
    a, b = two_hosts(mss_factory, tmp_path, uri,
                     b_store=lambda db: f"postgresql://mss@127.0.0.1:{proxy.port}/{db}")
    a.start("smtpd")
    # b's start opens several connections through the proxy, each within store_timeout
    # (4 s): on a loaded machine one can miss it (seen on a fresh root), before any cut
    for attempt in range(3):
        try:
            b.start("smtpd")
            break
        except AssertionError:
            if attempt == 2 or "timeout expired" not in b.log("smtpd"):
                raise
            b.procs.pop("smtpd", None)
    ws = run_writers((a, b), ("a1", "b1"))
    wait_acked(ws)
    proxy.cut.set()
    cut_at = time.monotonic()
    a_before = len(ws[0].acked)
    time.sleep(12)  # store_timeout is 4 s: b's calls fail, a goes on
    # Under load b's first attempt can outlast the client's own socket timeout (one
    # statement timeout, then a connection timeout); the next ones get the 4xx. Bounded.
    deadline = time.monotonic() + 28
    while not any(400 <= c < 500 for c in ws[1].codes) and time.monotonic() < deadline:
        time.sleep(0.5)
    b_during = len(ws[1].acked)
    assert len(ws[0].acked) > a_before, "host a stopped serving during b's partition"
    assert any(400 <= c < 500 for c in ws[1].codes), ("host b gave no temporary failure",
                                                      ws[1].codes[-5:], b.log("smtpd")[-3000:])
    proxy.heal()
    time.sleep(8)
    stop_writers(ws)
    assert len(ws[1].acked) > b_during, "host b did not serve again after the partition"
    assert alive(a, "smtpd") and alive(b, "smtpd")
    assert time.monotonic() - cut_at < 60
    assert_acked_stored(a, ws)
    assert a.ctl("audit", "verify").returncode == 0
    proxy.done = True


def test_watches_survive_a_postgresql_restart(own_pg, mss_factory, tmp_path):
    """A session's watches (its account's and its mailbox's, one LISTEN connection
    between them) are made again after PostgreSQL restarts: after its next command the
    session in IDLE is woken by a message appended elsewhere, then ended by a disable,
    and it still holds two connections (its own and the watches')."""
    from test_imap_kick import bye_within, idling, imaplib_session, settled_backends
    _, uri = own_pg
    m = mss_factory(name="a", init=False, pg_base=uri, extra={"store_timeout": "4"})
    m.init()
    m.add_demo_accounts()
    m.start("imapd")
    idle = idling(m, PATIENT)
    try:
        assert settled_backends(m) == 2
        subprocess.run([CLUSTER, "restart", own_pg[0], "-m", "immediate"], check=True)
        idle.send(b"DONE\r\n")
        idle.sock.settimeout(15)
        idle.read_until_tagged("i1")  # OK, or NO [UNAVAILABLE] while it comes back
        deadline = time.monotonic() + 15
        while True:  # its next commands make the connections again
            _, t = idle.cmd("n1", "STATUS INBOX (MESSAGES)")
            if t.startswith(b"n1 OK") or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert t.startswith(b"n1 OK"), t  # NO [UNAVAILABLE] until then
        idle.send(b"i2 IDLE\r\n")
        assert idle.readline().startswith(b"+")
        writer = imaplib_session(m, PATIENT)
        msg = b"From: a@example.org\r\nSubject: after the restart\r\n\r\nHello.\r\n"
        assert writer.append("INBOX", None, None, msg)[0] == "OK"
        writer.logout()
        got = b""
        while b"EXISTS" not in got:
            got += idle.readline() + b"\n"
        assert settled_backends(m) == 2
        start = time.monotonic()
        m.ctl("account", "disable", PATIENT)
        assert b"* BYE Account disabled" in bye_within(idle, start)
    finally:
        idle.close()
