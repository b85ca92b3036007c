"""mss-smtpd's committer (smtpd/committer.h, delivery_batch_max): MX deliveries of several
sessions in one write transaction. The UIDs and the audit chain are given out in order
inside it; a delivery that fails in a batch fails alone (451) and leaves nothing; kill -9
of the committer in the middle of a batch (after its deliveries ran, before its commit)
gives 451 4.3.0 to every session of it, stores nothing of them, and a new committer
takes the next ones; 0 and 1 keep the sessions' own delivery, as do PostgreSQL and a
patient's submission."""
import os
import re
import shutil
import select
import signal
import struct
import subprocess
import sys
import threading
import time

import pytest

from conftest import PATIENT, PRO
from test_smtp_mx import trust_list
from test_smtp_protocol import connect, inbox_count, login

OPERATOR = "dr.x@other-operator.test"
OPERATOR_DN = "CN=mx.other-operator.test,OU=12345678900011,O=Other Operator,C=FR"
SMALL = b"Subject: batch\r\n\r\n" + (b"y" * 76 + b"\r\n") * 50  # 4 KiB: in its row
LARGE = b"Subject: batch\r\n\r\n" + (b"x" * 76 + b"\r\n") * 1000  # a blob file


@pytest.fixture
def mx(mss):
    f = trust_list(mss.root / "trust.xml", [("other-operator.test", OPERATOR_DN)])
    mss.ctl("trust", "import", str(f))
    return mss


def children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def committer_pid(m, wait=10):
    """The committer the master forked (its name: mss-committer), None when there is none."""
    deadline = time.monotonic() + wait
    while True:
        for p in children(m.procs["smtpd"].pid):
            try:
                with open(f"/proc/{p}/comm") as f:
                    if f.read().strip() == "mss-committer":
                        return p
            except OSError:
                continue
        if time.monotonic() > deadline:
            return None
        time.sleep(0.05)


def listening(m, count=1, wait=10):
    """Until the committer logged its start (it does once it listens): deliveries made
    before go the sessions' own way."""
    deadline = time.monotonic() + wait
    while m.log("smtpd").count("event=committer.start") < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert m.log("smtpd").count("event=committer.start") >= count, m.log("smtpd")[-2000:]


def send(m, body=SMALL, count=1, results=None):
    """count messages on one MX connection of the operator; their replies."""
    c = connect(m, "smtp", cert="operator")
    out = [] if results is None else results
    for _ in range(count):
        assert c.cmd("MAIL FROM:<%s>" % OPERATOR)[0] == 250
        assert c.cmd("RCPT TO:<%s>" % PRO)[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(f"From: {OPERATOR}\r\nTo: {PRO}\r\n".encode() + body + b".\r\n")
        out.append(c.reply())
    c.cmd("QUIT")
    return out


def in_threads(m, bodies):
    """One MX session per body, all at once; their replies in bodies' order."""
    results = [[] for _ in bodies]
    threads = [threading.Thread(target=send, args=(m, b, 1, results[i])) for i, b in enumerate(bodies)]
    for t in threads:
        t.start()
    return threads, results


def batches(m):
    """The batch= of every smtp.deliver line so far."""
    return [int(b) for b in re.findall(r"event=smtp\.deliver .*batch=(\d+)", m.log("smtpd"))]


def held_back(m, pid, bodies):
    """The committer stopped (SIGSTOP) while one session per body hands its message over,
    so that the next batch holds them all; returns the sessions' threads and replies."""
    os.kill(pid, signal.SIGSTOP)
    try:
        threads, results = in_threads(m, bodies)
        time.sleep(2)  # every session has sent its request and waits for the answer
    finally:
        os.kill(pid, signal.SIGCONT)
    for t in threads:
        t.join(60)
    return [r[0] for r in results]


@pytest.mark.sqlite_only
def test_concurrent_sessions_share_transactions_uids_and_audit_in_order(mx):
    mx.start("smtpd")
    listening(mx)
    pid = committer_pid(mx)
    assert pid is not None, mx.log("smtpd")[-2000:]
    first = held_back(mx, pid, [SMALL] * 6)
    assert all(code == 250 for code, _ in first), first
    assert batches(mx)[:6] == [6] * 6  # the six in one transaction
    # then a steady load: eight sessions of ten messages each
    results = [[] for _ in range(8)]
    threads = [threading.Thread(target=send, args=(mx, SMALL, 10, results[i])) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(code == 250 for r in results for code, _ in r) and sum(map(len, results)) == 80
    assert len(batches(mx)) == 86 and min(batches(mx)) >= 1
    uids = [u for (u,) in mx.sql("SELECT m.uid FROM messages m JOIN mailboxes b ON m.mailbox_id = b.id "
                                 "JOIN store_users u ON b.user_id = u.id WHERE u.address = ? "
                                 "AND b.name = 'INBOX' ORDER BY m.uid", PRO)]
    assert uids == list(range(1, 87))  # given out in order, none twice, none skipped
    modseqs = [s for (s,) in mx.sql("SELECT modseq FROM messages")]
    assert len(set(modseqs)) == 86
    # each delivery's MAIL and RCPT records, kept by its session, come before its own
    rows = mx.sql("SELECT seq, action, result FROM audit_log WHERE action LIKE 'smtp.%' ORDER BY seq")
    actions = [a for _, a, r in rows if r == "ok"]
    assert actions.count("smtp.deliver") == 86 and actions.count("smtp.mail") == 86
    assert actions.count("smtp.rcpt") == 86
    assert mx.ctl("audit", "verify", check=False).returncode == 0


@pytest.mark.sqlite_only
def test_a_failing_delivery_fails_alone_in_its_batch(mx):
    mx.start("smtpd")
    listening(mx)
    pid = committer_pid(mx)
    blobs = mx.data_dir / "blobs"
    away = mx.data_dir / "blobs.away"
    blobs.rename(away)
    blobs.write_text("not a directory\n")  # a large message's file cannot be written
    try:
        replies = held_back(mx, pid, [SMALL, LARGE, SMALL, SMALL])
    finally:
        blobs.unlink()
        away.rename(blobs)
    assert [code for code, _ in replies] == [250, 451, 250, 250], replies
    assert replies[1][1][0].startswith("4.3.0")
    assert batches(mx) == [4, 4, 4, 4]  # all four in one transaction
    assert inbox_count(mx, PRO) == 3
    assert mx.sql("SELECT count(*) FROM blobs")[0][0] == 3
    assert [p for p in blobs.rglob("*") if p.is_file()] == []
    rows = mx.sql("SELECT result FROM audit_log WHERE action = 'smtp.deliver'")
    assert sorted(r[0][:12] for r in rows) == ["ok", "ok", "ok", "refused: 451"], rows
    assert mx.ctl("audit", "verify", check=False).returncode == 0


@pytest.mark.sqlite_only
def test_kill9_of_the_committer_mid_batch_gives_451_and_stores_nothing_of_it(mx):
    mx.start("smtpd")
    listening(mx)
    pid = committer_pid(mx)
    send(mx)  # one before: its store is open, its statements ready
    before = inbox_count(mx, PRO)
    # the three sessions' requests wait while the committer is stopped; then a
    # breakpoint at the batch's commit: all three deliveries ran, none is committed
    os.kill(pid, signal.SIGSTOP)
    threads, results = in_threads(mx, [SMALL, SMALL, SMALL])
    time.sleep(2)
    gdb = subprocess.Popen(["gdb", "-p", str(pid), "-batch", "-nx", "-ex", "break sql_commit",
                            "-ex", "continue", "-ex", "signal SIGKILL"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    time.sleep(3)  # attached (gdb's continue resumes the stopped process), the breakpoint set
    try:
        os.kill(pid, signal.SIGCONT)
    except ProcessLookupError:
        pass  # already killed at the breakpoint
    for t in threads:
        t.join(60)
    out = gdb.communicate(timeout=60)[0].decode(errors="replace")
    replies = [r[0] for r in results]
    assert [(code, text[0][:5]) for code, text in replies] == [(451, "4.3.0")] * 3, (replies, out)
    assert inbox_count(mx, PRO) == before  # nothing of the batch
    assert mx.sql("SELECT count(*) FROM blobs")[0][0] == before
    assert mx.sql("SELECT count(*) FROM audit_log WHERE action = 'smtp.deliver'")[0][0] == before
    assert re.search(r"event=committer result=ended signal=9", mx.log("smtpd"))
    assert mx.log("smtpd").count("event=committer.lost") == 3
    # the daemon goes on: a new committer, and the next deliveries are its
    new = committer_pid(mx)
    deadline = time.monotonic() + 10
    while (new is None or new == pid) and time.monotonic() < deadline:
        time.sleep(0.1)
        new = committer_pid(mx)
    assert new is not None and new != pid
    listening(mx, 2)
    code, _ = send(mx)[0]
    assert code == 250 and batches(mx)[-1] == 1
    assert inbox_count(mx, PRO) == before + 1
    assert mx.ctl("audit", "verify", check=False).returncode == 0


@pytest.mark.sqlite_only
def test_a_batch_writes_no_temporary_file(mx, monkeypatch):
    """SQLite journals the pages each delivery's savepoint changes, as they were, for its
    rollback: past 64 KiB in a temporary file of SQLITE_TMPDIR (else TMPDIR, /var/tmp),
    outside data_dir, copies of the database's pages written there two writes a page
    (about 13 pages a delivery of 4 KiB). The committer keeps that journal in memory
    (store_batch_setup): eight sessions of ten messages neither create nor remove a
    file in that directory (without it, they did)."""
    tmp = mx.root / "sqlite-tmp"  # where the daemons' user can reach it
    tmp.mkdir()
    tmp.chmod(0o1777)
    monkeypatch.setenv("SQLITE_TMPDIR", str(tmp))
    mx.start("smtpd")
    listening(mx)
    before = os.stat(tmp).st_mtime_ns
    results = [[] for _ in range(8)]
    threads = [threading.Thread(target=send, args=(mx, SMALL, 10, results[i])) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert [code for r in results for code, _ in r] == [250] * 80, results
    assert max(batches(mx)) > 1
    assert os.stat(tmp).st_mtime_ns == before and list(tmp.iterdir()) == []
    assert inbox_count(mx, PRO) == 80


@pytest.mark.sqlite_only
def test_a_batch_is_prepared_before_its_begin(mx):
    """The write lock is held for the rows only: at the batch's BEGIN (store_batch_begin,
    under gdb) the delivery's large blob is already sealed, written and fsynced, and no
    row of it is in; then it commits and is answered 250."""
    mx.start("smtpd")
    listening(mx)
    pid = committer_pid(mx)
    send(mx)  # one before: its store is open
    blobs = mx.data_dir / "blobs"
    seen = mx.root / "at_begin.txt"
    count = mx.root / "count.py"  # what gdb's shell runs while the committer waits at BEGIN
    count.write_text("import sqlite3\nprint(sqlite3.connect(%r, uri=True).execute("
                     "'SELECT count(*) FROM messages').fetchone()[0])\n" % f"file:{mx.data_dir / 'mss.db'}?mode=ro")
    gdb = subprocess.Popen(["gdb", "-p", str(pid), "-batch", "-nx", "-ex", "break store_batch_begin",
                            "-ex", "continue",
                            "-ex", f"shell (find {blobs} -type f | wc -l; {sys.executable} {count}) > {seen}",
                            "-ex", "detach"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while "TracerPid:\t0\n" in open(f"/proc/{pid}/status").read() and time.monotonic() < deadline:
        time.sleep(0.05)  # until attached
    time.sleep(1)  # the breakpoint set, the process continued
    replies = send(mx, LARGE)
    out = gdb.communicate(timeout=60)[0].decode(errors="replace")
    assert "Breakpoint 1, store_batch_begin" in out, out
    assert [code for code, _ in replies] == [250], replies
    assert batches(mx)[-1] == 1
    assert seen.read_text().split() == ["1", "1"], out  # its blob file, before the lock and its row
    assert inbox_count(mx, PRO) == 2
    assert len([p for p in blobs.rglob("*") if p.is_file()]) == 1
    assert mx.ctl("audit", "verify", check=False).returncode == 0


@pytest.mark.sqlite_only
def test_a_new_committer_sweeps_old_blob_files_without_rows(mx):
    """What a killed committer (or session) left: the next committer's first pass, as it
    starts, removes the blob files no row names once store_blob_sweep_age old, and old
    temporary ones; it keeps a file its row names however old, a younger one (a delivery
    may be about to commit it), and files not named as blobs. A pass that removed
    nothing logs nothing (test_blob_sweep.py: the passes while it runs)."""
    mx.start("smtpd")
    listening(mx)
    assert "event=committer.sweep" not in mx.log("smtpd")
    assert send(mx, LARGE)[0][0] == 250
    [stored] = [p for p in (mx.data_dir / "blobs").rglob("*") if p.is_file()]
    d = stored.parent
    old = time.time() - 2 * 86400  # the default age is a day
    files = {"stored": stored, "orphan": d / (d.name + "1" * 30), "young": d / (d.name + "2" * 30),
             "tmp": d / ".tmp-blob-Ab12Cd", "other": d / "notes.txt"}
    for name, p in files.items():
        if name != "stored":
            p.write_bytes(b"x" * 100)
        if name != "young":
            os.utime(p, (old, old))
    os.kill(committer_pid(mx), signal.SIGKILL)
    listening(mx, 2, wait=20)  # the master starts another
    deadline = time.monotonic() + 10
    while "event=committer.sweep " not in mx.log("smtpd") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "event=committer.sweep result=ok removed=2 " in mx.log("smtpd"), mx.log("smtpd")[-2000:]
    assert {n for n, p in files.items() if p.exists()} == {"stored", "young", "other"}
    assert inbox_count(mx, PRO) == 1
    assert send(mx, LARGE)[0][0] == 250  # and it delivers


@pytest.mark.parametrize("value", ["0", "1"])
def test_zero_or_one_keeps_the_sessions_own_delivery(mx, value):
    mx.set(delivery_batch_max=value)
    mx.start("smtpd")
    assert committer_pid(mx, wait=1) is None
    assert [code for code, _ in send(mx, count=3)] == [250] * 3
    assert batches(mx) == [0, 0, 0]
    assert inbox_count(mx, PRO) == 3


def test_postgresql_keeps_the_sessions_own_delivery(mx):
    """The committer is SQLite's (its transaction and the WAL's group sync): with a
    PostgreSQL store the key is ignored; with SQLite the MX deliveries are the committer's."""
    mx.start("smtpd")
    if not mx.settings.get("store"):
        listening(mx)
    assert [code for code, _ in send(mx, count=2)] == [250] * 2
    if mx.settings.get("store"):
        assert committer_pid(mx, wait=1) is None
        assert batches(mx) == [0, 0]
    else:
        assert committer_pid(mx) is not None
        assert batches(mx) == [1, 1]  # the committer was listening before the first


@pytest.mark.sqlite_only
def test_sighup_turns_the_committer_off_and_on(mx):
    mx.start("smtpd")
    listening(mx)
    first = committer_pid(mx)
    assert first is not None
    mx.set(delivery_batch_max=0)
    os.kill(mx.procs["smtpd"].pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while committer_pid(mx, wait=0) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert committer_pid(mx, wait=0) is None
    assert send(mx)[0][0] == 250 and batches(mx)[-1] == 0
    mx.set(delivery_batch_max=8)
    os.kill(mx.procs["smtpd"].pid, signal.SIGHUP)
    again = committer_pid(mx)
    assert again is not None and again != first
    listening(mx, 2)
    assert "batch_max=8" in mx.log("smtpd")
    assert send(mx)[0][0] == 250 and batches(mx)[-1] == 1


@pytest.mark.sqlite_only
def test_migration_while_running_is_seen_by_the_next_batch(mx):
    """mssctl migrate while the committer waits: its next batch opens the store afresh
    (no statement of the old schema kept) and delivers into the new one."""
    from atrest_helpers import UNDO_STORE_STEPS_AFTER_11, blobs_to_files
    mx.start("smtpd")
    listening(mx)
    assert send(mx)[0][0] == 250
    blobs_to_files(mx)
    for stmt in ["DROP INDEX blobs_user", *UNDO_STORE_STEPS_AFTER_11]:  # the steps after 11
        mx.sql(stmt)
    mx.sql("UPDATE schema_version SET version = 11 WHERE component = 'store'")
    assert "migrat" in mx.ctl("migrate").stdout
    assert send(mx)[0][0] == 250 and batches(mx)[-1] == 1
    assert re.search(r'event=committer\.store action=reopen reason="the schema changed', mx.log("smtpd"))
    # the counters migration 12 made are kept by the new connection's delivery
    assert mx.sql("SELECT n_messages FROM mailboxes b JOIN store_users u ON b.user_id = u.id "
                  "WHERE u.address = ? AND b.name = 'INBOX'", PRO)[0][0] == 2


def submit(m, user, rcpt):
    c = login(m, user)
    assert c.cmd("MAIL FROM:<%s>" % user)[0] == 250
    assert c.cmd("RCPT TO:<%s>" % rcpt)[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(f"From: {user}\r\nTo: {rcpt}\r\nSubject: test\r\n\r\nHello.\r\n.\r\n".encode())
    reply = c.reply()
    c.cmd("QUIT")
    return reply


@pytest.mark.sqlite_only
def test_submission_batched_but_a_patients_own(mx):
    """A professional's submission goes to the committer; a patient's is delivered in her
    session (her profile section is read with her own key, which the committer has not)."""
    mx.start("smtpd")
    listening(mx)
    assert submit(mx, PRO, PATIENT)[0] == 250
    assert batches(mx)[-1] == 1
    assert submit(mx, PATIENT, PRO)[0] == 250  # a reply: the exchange is open
    assert batches(mx)[-1] == 0
    assert inbox_count(mx, PATIENT) == 1 and inbox_count(mx, PRO) == 1
    assert mx.ctl("audit", "verify", check=False).returncode == 0


def gdb_armed(gdb, pid):
    """gdb (started on pid with a breakpoint, then continue) once it has set its
    breakpoint (the slow part: an ASan binary's symbols read under load) and the process
    runs again (no longer in a tracing stop); gdb.seen holds the output read meanwhile,
    which communicate() will not return. A fixed pause was not enough under the
    sanitizers: gdb still reading symbols kept the committer stopped past the session's
    first wait, the hold ran past its second one too and the delivery got 451. gdb's
    "Continuing." is not flushed to a pipe: not waited for."""
    seen = b""
    deadline = time.monotonic() + 60
    while b"Breakpoint 1 at" not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([gdb.stdout], [], [], 0.5)
        if ready:
            chunk = os.read(gdb.stdout.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
    assert b"Breakpoint 1 at" in seen, seen.decode(errors="replace")
    while time.monotonic() < deadline:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        if state not in ("t", "T"):
            break
        time.sleep(0.02)
    gdb.seen = seen
    return gdb


def held_in_its_batch(m, pid, seconds):
    """gdb stops the committer at its next batch's BEGIN (store_batch_begin: the batch
    taken, its deliveries prepared) for seconds, then lets it go on; returns gdb once
    attached and the breakpoint set."""
    gdb = subprocess.Popen(["gdb", "-p", str(pid), "-batch", "-nx", "-ex", "break store_batch_begin",
                            "-ex", "continue", "-ex", f"shell sleep {seconds}", "-ex", "detach"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return gdb_armed(gdb, pid)


def listed_operator(m):
    """The directory of test_policy_smtp imported and its operator's DN on the trust
    list: its professionals (REMOTE_PRO) may write to the patients."""
    from test_policy_smtp import DIRECTORY, OPERATOR_DN
    from test_policy_smtp import trust_xml as listed
    d = m.root / "directory.csv"
    d.write_text(DIRECTORY, encoding="utf-8")
    m.ctl("directory", "import", "--strict", str(d))
    (m.root / "trust.xml").write_text(listed([("other-operator.test", OPERATOR_DN)]))
    m.ctl("trust", "import", str(m.root / "trust.xml"))


def send_retrying(m, count=2):
    """count messages on one MX connection, each sent again after a 4xx as a client
    does; the replies, in order (a retried message's two)."""
    c = connect(m, "smtp", cert="operator")
    out = []
    for i in range(count):
        while True:
            assert c.cmd("MAIL FROM:<%s>" % OPERATOR)[0] == 250
            assert c.cmd("RCPT TO:<%s>" % PRO)[0] == 250
            assert c.cmd("DATA")[0] == 354
            c.send(f"From: {OPERATOR}\r\nTo: {PRO}\r\nSubject: m{i}\r\n\r\nbody\r\n.\r\n".encode())
            out.append(c.reply())
            if out[-1][0] != 451 or len(out) > 2 * count:
                break
    c.cmd("QUIT")
    return out


@pytest.mark.sqlite_only
@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb holds the committer in its batch")
def test_a_session_that_waited_too_long_never_says_451_of_a_delivery_then_committed(mx):
    """A committer held in its batch longer than a session's wait (twice store_timeout),
    but not than its second one: the session asks it to withdraw the delivery, which it
    cannot (the batch has begun), and reads the batch's real outcome, 250. Before, it
    said 451 'not committed' at the first wait, the committer committed it after, and the
    client's retry stored the message twice. The stale withdrawal the committer reads
    after its answer is ignored: the next message on that connection is delivered."""
    mx.set(store_timeout="2")  # the session's wait: 4 s, then 4 s more
    mx.start("smtpd")
    listening(mx)
    pid = committer_pid(mx)
    send(mx)  # one before: its store is open
    before = inbox_count(mx, PRO)
    gdb = held_in_its_batch(mx, pid, 6)
    replies = send_retrying(mx, 2)
    out = (gdb.seen + gdb.communicate(timeout=60)[0]).decode(errors="replace")
    assert "Breakpoint 1, store_batch_begin" in out, out
    assert inbox_count(mx, PRO) == before + 2, (replies, mx.log("smtpd")[-3000:])  # once each
    assert [code for code, _ in replies] == [250, 250], replies
    log = mx.log("smtpd")
    assert "event=committer.withdraw qid=" in log and "result=withdrawn" not in log, log[-3000:]
    assert "event=committer.lost" not in log, log[-3000:]
    assert mx.ctl("audit", "verify", check=False).returncode == 0


@pytest.mark.sqlite_only
def test_a_delivery_withdrawn_before_its_batch_is_never_stored(mx):
    """A committer stopped before it read a session's request (SIGSTOP) past the
    session's wait: the session withdraws the delivery; the committer, let go within the
    second wait, reads the request and its withdrawal together, answers 451 4.3.0 and
    stores nothing of it; the client's retry is the only copy."""
    mx.set(store_timeout="2")
    mx.start("smtpd")
    listening(mx)
    pid = committer_pid(mx)
    send(mx)
    before = inbox_count(mx, PRO)
    os.kill(pid, signal.SIGSTOP)
    results = []
    t = threading.Thread(target=lambda: results.extend(send_retrying(mx, 1)))
    t.start()
    try:
        time.sleep(6)  # past the first wait (4 s), within the second
    finally:
        os.kill(pid, signal.SIGCONT)
    t.join(60)
    assert [(code, text[0][:5]) for code, text in results] == [(451, "4.3.0"), (250, "2.0.0")], results
    log = mx.log("smtpd")
    qid = re.search(r"event=committer\.withdraw qid=(\w+) result=withdrawn", log)
    assert qid, log[-3000:]
    assert re.search(rf"event=smtp\.deliver \S+ qid={qid.group(1)} .*result=failed", log), log[-3000:]
    assert inbox_count(mx, PRO) == before + 1
    assert mx.ctl("audit", "verify", check=False).returncode == 0


@pytest.mark.sqlite_only
@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb holds the committer in its batch")
def test_a_committer_silent_past_both_waits_gives_451_with_the_outcome_unknown(mx):
    """Held in its batch past both waits, the committer may still commit: the session's
    451 says a retry may deliver the message twice, and its log names the queue id."""
    mx.set(store_timeout="1")  # 2 s, then 2 s more
    mx.start("smtpd")
    listening(mx)
    pid = committer_pid(mx)
    send(mx)
    before = inbox_count(mx, PRO)
    gdb = held_in_its_batch(mx, pid, 7)
    replies = send(mx)
    gdb.communicate(timeout=60)
    (code, text), = replies
    assert code == 451 and text[0].startswith("4.3.0") and "twice" in text[0], replies
    log = mx.log("smtpd")
    lost = re.search(r"event=committer\.lost qid=(\w+) result=unknown", log)
    assert lost and re.search(rf"event=smtp\.deliver \S+ qid={lost.group(1)} ", log), log[-3000:]
    deadline = time.monotonic() + 10  # let go, the committer commits it: the copy the log names
    while inbox_count(mx, PRO) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert inbox_count(mx, PRO) == before + 1
    # its MAIL and RCPT records were in that commit: not kept to be written again
    assert send(mx)[0][0] == 250 and audit_counts(mx) == [before + 2] * 3


def killed_at(m, pid, function):
    """gdb stops the committer at function's next call and kills it there (kill -9);
    returns gdb once its breakpoint is set and the committer runs again."""
    gdb = subprocess.Popen(["gdb", "-p", str(pid), "-batch", "-nx", "-ex", f"break {function}",
                            "-ex", "continue", "-ex", "signal SIGKILL"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return gdb_armed(gdb, pid)


def restarted(m, pid):
    """The master's next committer, once it listens; the next message is its own."""
    deadline = time.monotonic() + 15
    new = committer_pid(m)
    while (new is None or new == pid) and time.monotonic() < deadline:
        time.sleep(0.1)
        new = committer_pid(m)
    assert new is not None and new != pid, m.log("smtpd")[-3000:]
    listening(m, 2)
    code, _ = send(m)[0]
    assert code == 250 and batches(m)[-1] == 1


def audit_counts(m):
    """How many MAIL, RCPT and delivery records the log holds, accepted ones."""
    rows = m.sql("SELECT action, count(*) FROM audit_log WHERE result = 'ok' GROUP BY action")
    counts = dict(rows)
    return [counts.get(a, 0) for a in ("smtp.mail", "smtp.rcpt", "smtp.deliver")]


@pytest.mark.sqlite_only
@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb kills the committer after its commit")
@pytest.mark.parametrize("where", ["lite_sync_committed", "committer_ans_write"])
def test_a_committer_killed_after_its_commit_gives_250_and_one_copy(mx, where):
    """kill -9 of the committer after its COMMIT (where: before the commit's WAL sync, or
    after it and before the answer): the session reads its batch's note, makes the commit
    durable and says 250; the store holds one copy. Before, it said 451 and the client's
    retry stored the message twice. Its MAIL and RCPT records, written in that commit, are
    not written again with the next message of the connection; the master starts another
    committer and the next message is its own."""
    mx.start("smtpd")
    listening(mx)
    pid = committer_pid(mx)
    send(mx)  # one before: its store is open, its statements ready
    before = inbox_count(mx, PRO)
    gdb = killed_at(mx, pid, where)
    replies = send_retrying(mx, 2)  # the second: the session's own or the new committer's
    out = (gdb.seen + gdb.communicate(timeout=60)[0]).decode(errors="replace")
    assert re.search(rf"Breakpoint 1(\.\d+)?, (0x[0-9a-f]+ in )?{where} ", out), out
    assert [code for code, _ in replies] == [250, 250], (replies, mx.log("smtpd")[-3000:])
    assert inbox_count(mx, PRO) == before + 2  # once each
    log = mx.log("smtpd")
    assert re.search(r"event=committer result=ended signal=9", log), log[-3000:]
    lost = re.search(r"event=committer\.lost qid=(\w+) result=stored", log)
    assert lost and re.search(rf"event=smtp\.deliver \S+ qid={lost.group(1)} .*result=ok", log), log[-3000:]
    assert audit_counts(mx) == [before + 2] * 3  # each decision once
    restarted(mx, pid)
    assert inbox_count(mx, PRO) == before + 3
    assert mx.ctl("audit", "verify", check=False).returncode == 0


@pytest.mark.sqlite_only
@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb kills the committer before its commit")
def test_a_committer_killed_before_its_commit_gives_451_and_the_retry_one_copy(mx):
    """kill -9 of the committer at its COMMIT (sql_commit, the batch's rows staged): no
    note holds the delivery, the session says 451 and logs that nothing was stored; the
    client's retry stores the only copy. The first attempt's MAIL and RCPT records, never
    written, are written with the retry's delivery."""
    mx.start("smtpd")
    listening(mx)
    pid = committer_pid(mx)
    send(mx)
    before = inbox_count(mx, PRO)
    gdb = killed_at(mx, pid, "sql_commit")
    replies = send_retrying(mx, 1)
    out = (gdb.seen + gdb.communicate(timeout=60)[0]).decode(errors="replace")
    assert re.search(r"Breakpoint 1(\.\d+)?, sql_commit ", out), out  # two locations
    assert [(code, text[0][:5]) for code, text in replies] == [(451, "4.3.0"), (250, "2.0.0")], replies
    assert inbox_count(mx, PRO) == before + 1
    log = mx.log("smtpd")
    lost = re.search(r"event=committer\.lost qid=(\w+) result=not-stored", log)
    assert lost and re.search(rf"event=smtp\.deliver \S+ qid={lost.group(1)} .*result=failed", log), log[-3000:]
    assert audit_counts(mx) == [before + 2, before + 2, before + 1]  # two attempts, one delivery
    restarted(mx, pid)
    assert inbox_count(mx, PRO) == before + 2
    assert mx.ctl("audit", "verify", check=False).returncode == 0


@pytest.mark.sqlite_only
@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb holds the committer before its answer")
def test_a_committer_silent_after_its_commit_gives_250(mx):
    """Held after its commit (committer_ans_write) past both of the session's waits: the
    session finds the delivery in its batch's note and says 250, not 451 'unknown'; the
    answer the committer writes afterwards goes to a closed connection."""
    mx.set(store_timeout="1")  # 2 s, then 2 s more
    mx.start("smtpd")
    listening(mx)
    pid = committer_pid(mx)
    send(mx)
    before = inbox_count(mx, PRO)
    gdb = subprocess.Popen(["gdb", "-p", str(pid), "-batch", "-nx", "-ex", "break committer_ans_write",
                            "-ex", "continue", "-ex", "shell sleep 7", "-ex", "detach"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    gdb_armed(gdb, pid)
    replies = send_retrying(mx, 1)
    gdb.communicate(timeout=60)
    assert [code for code, _ in replies] == [250], replies
    assert inbox_count(mx, PRO) == before + 1
    log = mx.log("smtpd")
    assert re.search(r"event=committer\.lost qid=\w+ result=stored .*nor to its withdrawal", log), log[-3000:]
    assert audit_counts(mx) == [before + 1] * 3
    assert send(mx)[0][0] == 250  # the committer goes on
    assert mx.ctl("audit", "verify", check=False).returncode == 0


@pytest.mark.sqlite_only
def test_the_vault_inspection_and_filing_stay_in_the_senders_session(mx):
    """No parser of an archive or a CDA runs in the committer, which sees every peer's
    messages: the session inspects (vault_inspect: libzip, expat), and a message with
    documents for a patient it delivers itself, its filing in the delivery's own
    transaction (never stored unfiled), not through the committer. Under gdb, the
    committer's first stop among the vault's parsers, its filing and its answer must be
    the answer to the plain message sent next; the patient's copy still withholds the
    INVISIBLE_PATIENT archive and its PDF, and the document is filed for professionals."""
    from test_vault_invisible import SECRET, assert_patient_never_sees, invisible_message, wait_filed
    from test_vault_invisible import send as submit
    mx.start("smtpd")
    mx.start("imapd")
    listening(mx)
    pid = committer_pid(mx)
    send(mx)  # one before: its store is open
    gdb = subprocess.Popen(["gdb", "-p", str(pid), "-batch", "-nx"]
                           + [x for f in ("vault_inspect", "xdm_open", "xdm_read_document", "cda_parse",
                                          "cda_render_html", "vault_file_delivery", "committer_ans_write")
                              for x in ("-ex", "break " + f)]
                           + ["-ex", "continue", "-ex", "detach"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while "TracerPid:\t0\n" in open(f"/proc/{pid}/status").read() and time.monotonic() < deadline:
        time.sleep(0.05)  # until attached
    time.sleep(1)  # the breakpoints set, the process continued
    msg, msgid, cda = invisible_message()
    submit(mx, msg, [PATIENT])
    wait_filed(mx, 1)
    assert batches(mx)[-1] == 0  # the session's own delivery
    assert send(mx)[0][0] == 250  # a plain one: the committer's
    out = gdb.communicate(timeout=60)[0].decode(errors="replace")
    stops = re.findall(r"Breakpoint \d+, (?:0x[0-9a-f]+ in )?(\w+)", out)
    assert stops == ["committer_ans_write"], out
    assert batches(mx)[-1] >= 1
    assert_patient_never_sees(mx, msgid, cda)
    assert SECRET not in mx.log("smtpd")
    assert mx.ctl("audit", "verify", check=False).returncode == 0


def frame_text(s):
    b = s if isinstance(s, bytes) else s.encode()
    return struct.pack(">I", len(b)) + b


def lying_request(copy):
    """A request as a session writes it (committer_msg.h, version 2): an operator's
    message to the patient, with copy (whole, prefix, three counts, part reasons)."""
    body = (b"MC\x02\x00" + frame_text("QLIAR1") + struct.pack(">I", 3) + frame_text("")
            + struct.pack(">I", 0) + frame_text(bytes(16)) + frame_text("192.0.2.9")
            + frame_text(OPERATOR_DN) + frame_text("smtp") + frame_text("") + frame_text("other-operator.test")
            + frame_text(OPERATOR) + struct.pack(">I", 0) + frame_text("")
            + struct.pack(">II", 0, 1) + frame_text(PATIENT) + struct.pack(">I", 0) + frame_text(""))
    whole, prefix, counts, parts = copy
    body += struct.pack(">5I", whole, prefix, *counts) + frame_text(bytes(parts))
    body += struct.pack(">I", 0)  # no kept records
    body += frame_text(f"From: {OPERATOR}\r\nTo: {PATIENT}\r\nSubject: liar\r\n\r\nHello\r\n".encode())
    return struct.pack(">I", len(body)) + body


def ask_committer(m, frame):
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(str(m.data_dir / "run" / "committer"))
    s.sendall(frame)
    head = s.recv(4, socket.MSG_WAITALL)
    body = s.recv(struct.unpack(">I", head)[0], socket.MSG_WAITALL)
    s.close()
    rc, kept, to_file, batch, code = struct.unpack(">5I", body[4:24])
    return rc, code, to_file


@pytest.mark.sqlite_only
def test_a_copy_that_does_not_fit_the_committers_parse_fails_the_delivery(mx):
    """A session may lie about the patient's copy: the committer builds only a copy that
    fits its own parse of the message (a reason for each of its parts, or the body
    whole). Anything else fails that delivery (451), stores nothing, and the committer
    goes on; a copy that fits is stored."""
    mx.start("smtpd")
    listening(mx)
    before = inbox_count(mx, PATIENT)
    for copy in ((0, 0, (0, 0, 0), [0] * 7),  # more parts than the message has
                 (0, 0, (0, 0, 0), []),  # none, and the body not whole
                 (0, 1, (0, 0, 0), [0, 0])):  # a prefix the subject has not
        assert ask_committer(mx, lying_request(copy))[:2] == (2, 451), copy
    assert inbox_count(mx, PATIENT) == before
    assert mx.log("smtpd").count("the patients' copies given do not fit the message") == 3
    rc, code, to_file = ask_committer(mx, lying_request((1, 0, (0, 0, 1), [])))  # whole: header and a note
    assert (rc, to_file) == (0, 1)
    assert inbox_count(mx, PATIENT) == before + 1
    assert mx.ctl("audit", "verify", check=False).returncode == 0


def to_patient(subject, cda=False):
    """An operator's message to the patient, with a CDA document when cda."""
    from test_policy_smtp import REMOTE_PRO
    from test_vault_texts import NARRATIVE_CDA
    from email.message import EmailMessage
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = REMOTE_PRO, PATIENT, subject
    msg.set_content("Bonjour,\nvoici le compte rendu.\n")
    if cda:
        msg.add_attachment(NARRATIVE_CDA, maintype="application", subtype="xml", filename="cr.xml")
    return msg


def hits_in_a_reused_session(m, function, messages):
    """Sends messages (to_patient's) from the operator in one connection, served by the
    session process a warm-up connection used (smtp_session_max_use), which gdb watches:
    returns how often it called function."""
    from test_policy_smtp import REMOTE_PRO, as_operator
    from test_smtp_reuse import connects, disconnects, listening_committer
    listed_operator(m)
    m.set(smtp_session_max_use=5)
    m.start("smtpd")
    listening_committer(m)
    s = as_operator(m)
    assert s.send_message(to_patient("warm-up"), from_addr=REMOTE_PRO, to_addrs=[PATIENT]) == {}
    s.quit()
    deadline = time.monotonic() + 10
    while connects(m)[-1][1] not in disconnects(m) and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = int(disconnects(m)[connects(m)[-1][1]])
    script = m.root / "count.gdb"
    script.write_text(f"set pagination off\nbreak {function}\ncommands\nsilent\n"
                      'printf "FUNCTION-HIT\\n"\ncontinue\nend\ncontinue\ndetach\n')
    gdb = gdb_armed(subprocess.Popen(["gdb", "-p", str(pid), "-batch", "-nx", "-x", str(script)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT), pid)
    try:
        s = as_operator(m)
        for msg in messages:
            assert s.send_message(msg, from_addr=REMOTE_PRO, to_addrs=[PATIENT]) == {}
        s.quit()
    finally:
        time.sleep(0.5)
        gdb.send_signal(signal.SIGINT)  # stops the process: the script detaches and ends
        out = (gdb.seen + gdb.communicate(timeout=60)[0]).decode(errors="replace")
    assert int(disconnects(m)[connects(m)[-1][1]]) == pid, "another session process served it"
    return out.count("FUNCTION-HIT")


@pytest.mark.sqlite_only
@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb counts the session's write transactions")
def test_a_plain_message_to_a_patient_takes_no_write_lock_in_its_session(mss):
    """A session that handed a message to a patient to the committer files its documents
    after the commit, in one write transaction of its own (vault_file_delivery). A plain
    message has none: its session begins no transaction (it did, an empty BEGIN and COMMIT
    a message, contending with the committer's batches); one with a CDA still files, once."""
    from test_policy_smtp import inbox
    m = mss
    messages = [to_patient("plain"), to_patient("with a CDA", cda=True)]
    assert hits_in_a_reused_session(m, "store_batch_begin", messages) == 1  # the CDA's filing only
    assert re.search(r"event=vault_file .*filed=1 ", m.log("smtpd")), m.log("smtpd")[-2000:]
    assert inbox(m, PATIENT) >= 3
    assert m.ctl("audit", "verify", check=False).returncode == 0


@pytest.mark.sqlite_only
@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb counts the session's inspections")
def test_a_message_with_documents_is_inspected_once_in_its_session(mss):
    """A message with documents for a patient, which its session delivers itself (its
    filing in the delivery's transaction), is inspected once there: the inspection
    made for the committer (policy_inspect) serves the delivery (it inspected the
    archives and the CDA a second time). A plain message is inspected once too."""
    from test_policy_smtp import inbox
    m = mss
    messages = [to_patient("plain"), to_patient("with a CDA", cda=True)]
    assert hits_in_a_reused_session(m, "vault_inspect", messages) == 2
    assert re.search(r"event=vault_file .*filed=1 ", m.log("smtpd")), m.log("smtpd")[-2000:]
    assert inbox(m, PATIENT) >= 3
    assert m.ctl("audit", "verify", check=False).returncode == 0
