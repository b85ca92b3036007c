"""mss-smtpd's reused MX processes (issue 15, lib/master.h "reuse"): one pre-login and
session process pair serves up to smtp_session_max_use connections on the MX listener,
one after another, each as a freshly forked pair would (its own session id, nothing of
the previous peer), and ends after the last one, after smtp_session_idle_time without
one, at SIGHUP and when the CRL file changes. On submission only the pre-login process
is reused (test_smtp_sub_reuse.py)."""
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import PATIENT, PG_BASE, PRO
from test_smtp_mx import deliver, mail, trust_list
from test_smtp_protocol import RawSmtp, connect, inbox_count
from test_privsep import children
from test_tls_agent import memory_holds

OPERATOR = "dr.x@other-operator.test"
OPERATOR_DN = "CN=mx.other-operator.test,OU=12345678900011,O=Other Operator,C=FR"


def connects(m):
    """(pid, session) of each smtp.connect line, in order (the pre-login process's)."""
    return re.findall(r"mss-smtpd\[(\d+)\] level=info event=smtp\.connect session=(\w+) listener=(\w+)",
                      m.log("smtpd"))


def disconnects(m):
    """{session: pid} of each smtp.disconnect line (the session process's on the MX)."""
    return {s: p for p, s in re.findall(
        r"mss-smtpd\[(\d+)\] level=info event=smtp\.disconnect session=(\w+)", m.log("smtpd"))}


def gone(pid, wait=10):
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(")")[-1].split()[0] == "Z":
                    return True
        except (FileNotFoundError, ProcessLookupError):  # gone before, or while, it was read
            return True
        time.sleep(0.05)
    return False


def ended(m, c, session=None, wait=30):
    """Closes c (session: its id, the last connection's by default) and waits until it
    is over on both sides: smtp.disconnect was logged and each of its processes waits
    for its next connection (or is gone). A process waits in recvmsg only after it told
    the master it is done, and the master reads that before it accepts the connection
    made next (lib/master.c master_run): the next connection finds it idle."""
    session = session or connects(m)[-1][1]
    c.close()
    deadline = time.monotonic() + wait
    while session not in disconnects(m) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert session in disconnects(m), m.log("smtpd")[-3000:]
    pids = {pid for pid, sid, _ in connects(m) if sid == session} | {disconnects(m)[session]}
    while not all(waiting(int(p)) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    # not a silent pass: a process still busy here gets the next connection forked anew
    assert all(waiting(int(p)) for p in pids), f"{session}: {sorted(pids)} not back waiting after {wait} s"


RECVMSG = 47  # x86_64


def waiting(pid):
    """Whether pid waits for its next connection (in recvmsg), or is gone."""
    try:
        with open(f"/proc/{pid}/syscall") as f:
            return f.read().split()[0] == str(RECVMSG)
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True
    except PermissionError:
        return True


@pytest.fixture
def reuse(mss):
    f = trust_list(mss.root / "trust.xml", [("other-operator.test", OPERATOR_DN)])
    mss.ctl("trust", "import", str(f))
    mss.set(smtp_session_max_use=3)
    return mss


def test_one_pair_serves_max_use_connections_then_ends(reuse):
    m = reuse
    m.start("smtpd")
    for _ in range(3):
        c = connect(m, "smtp", cert="operator")
        code, text = deliver(c, OPERATOR, PRO)
        assert code == 250, text
        assert c.cmd("QUIT")[0] == 221
        ended(m, c)
    assert inbox_count(m, PRO) == 3
    seen = connects(m)
    assert len({pid for pid, _, _ in seen}) == 1, seen  # one pre-login process
    assert len({sid for _, sid, _ in seen}) == 3, seen  # a session id per connection
    sessions = {disconnects(m)[sid] for _, sid, _ in seen}
    assert len(sessions) == 1 and sessions != {seen[0][0]}  # one session process
    # max_use: both processes ended after the third; the next connection gets new ones
    assert gone(int(seen[0][0])) and gone(int(sessions.pop()))
    c = connect(m, "smtp", cert="operator")
    assert deliver(c, OPERATOR, PRO)[0] == 250
    assert connects(m)[-1][0] != seen[0][0]
    c.close()


def test_next_connection_sees_nothing_of_the_previous(reuse):
    m = reuse
    m.start("smtpd")
    first = connect(m, "smtp", cert="operator")
    assert mail(first, OPERATOR)[0] == 250
    assert first.cmd(f"RCPT TO:<{PRO}>")[0] == 250
    ended(m, first)  # gone mid-transaction, without QUIT
    second = connect(m, "smtp")  # no certificate this time, same processes
    (p1, s1, _), (p2, s2, _) = connects(m)[-2:]
    assert p1 == p2 and s1 != s2
    assert disconnects(m)[s1] == disconnects(m).get(s2, disconnects(m)[s1])
    # no transaction, no sender, no identity left over
    code, text = second.cmd(f"RCPT TO:<{PRO}>")
    assert (code, text[0][:5]) == (503, "5.5.1"), text
    code, text = mail(second, OPERATOR)
    assert (code, text[0][:5]) == (550, "5.7.1"), text
    tls = [l for l in m.log("smtpd").splitlines() if "event=smtp.tls " in l and f"session={s2}" in l]
    assert tls and "client_cert=none" in tls[0], tls
    assert second.cmd("QUIT")[0] == 221
    ended(m, second)
    # and the pair still works for a peer with its certificate
    third = connect(m, "smtp", cert="operator")
    assert connects(m)[-1][0] == p1
    assert deliver(third, OPERATOR, PRO)[0] == 250
    third.close()
    assert inbox_count(m, PRO) == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="reads another user's memory")
@pytest.mark.parametrize("way", ["DATA", "BDAT"])
@pytest.mark.parametrize("lines", [600, 5000])
def test_idle_processes_hold_no_message_of_the_last_peer(reuse, way, lines):
    """The MX pair is reused for any operator: the text of the message it took last is
    not in the memory of either process once they wait for the next peer, neither in
    the buffers it went through (the relay's, the session's) nor in the storage they
    left as they grew (5000 lines, ~420 kB: past malloc's mmap threshold, earlier
    storage stays in the heap). Without this a later peer that took over a process
    would read what an earlier one wrote to a professional, which write-only delivery
    keeps even the session process from reading."""
    m = reuse
    m.start("smtpd")
    marker = "clinical-note-3c9e1f-of-the-last-peer"
    lines = "".join(f"{marker} line {i:05d} " + "x" * 40 + "\r\n" for i in range(lines))
    msg = f"From: {OPERATOR}\r\nTo: {PRO}\r\nSubject: test\r\n\r\n{lines}".encode()
    c = connect(m, "smtp", cert="operator")
    assert mail(c, OPERATOR)[0] == 250
    assert c.cmd(f"RCPT TO:<{PRO}>")[0] == 250
    if way == "DATA":
        assert c.cmd("DATA")[0] == 354
        c.send(msg + b".\r\n")
    else:
        half = len(msg) // 2
        c.send(f"BDAT {half}\r\n".encode() + msg[:half])
        assert c.reply()[0] == 250
        c.send(f"BDAT {len(msg) - half} LAST\r\n".encode() + msg[half:])
    assert c.reply()[0] == 250
    assert c.cmd("QUIT")[0] == 221
    ended(m, c)
    pre, sid, _ = connects(m)[-1]
    for pid in (int(pre), int(disconnects(m)[sid])):
        assert os.path.exists(f"/proc/{pid}")  # idle, kept for the next peer
        assert memory_holds(pid, [marker.encode()]) == set(), pid
    assert inbox_count(m, PRO) == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="reads another user's memory")
@pytest.mark.parametrize("batch", ["0", "32"])
def test_idle_processes_hold_no_text_of_a_message_to_a_patient(mss, batch):
    """A listed operator's professional writes to a patient: the vault parses the
    message (libetpan), files its documents (a CDA parsed by expat; one inside an XDM
    archive, inflated by libzip) and builds her copy in the session process, which
    stores it itself (its filing in the delivery's transaction, whatever the batch); with
    the committer (the default) a second message, text only, is the committer's. Once the
    pair waits for the next operator, and the committer for the next delivery, none of
    them holds the message's text, its
    subject, its attachment or its documents: the project's buffers are wiped
    (buf_init_wiped), and so are the libraries' own once freed (lib/mem_wipe.h), which
    kept the header block, the CDA's narrative and, on the stack, the archived document.
    (Under AddressSanitizer, whose quarantine keeps freed memory, they are found.)"""
    from email.message import EmailMessage
    from test_policy_smtp import REMOTE_PRO, as_operator, inbox
    from test_imap_memory import sanitized
    from test_smtp_committer import committer_pid, listed_operator
    from test_vault_texts import NARRATIVE_CDA
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import xdm  # tests/xdm.py
    if batch != "0" and PG_BASE:
        pytest.skip("no committer on PostgreSQL: the sessions deliver themselves, as with 0")
    m = mss
    listed_operator(m)
    m.set(smtp_session_max_use=3, delivery_batch_max=batch)
    m.start("smtpd")
    text, attached, cda = "note-5d1e07-of-the-text", "note-a2c94b-of-the-attachment", "cda-e7730f"
    archived, subject = "xdm-4b81d2-of-the-archive", "subj-77c1e0-of-the-header"
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = REMOTE_PRO, PATIENT, "Consultation " + subject
    msg.set_content("".join(f"{text} line {i:05d}\n" for i in range(300)))
    msg.add_attachment((attached + "\n") * 200, filename="note.txt")
    msg.add_attachment(NARRATIVE_CDA.replace(b"13,5 g/dL", f"{cda} g/dL".encode()), maintype="application",
                       subtype="xml", filename="cr.xml")
    # a document inside an XDM archive: deflated in the message, in clear only once
    # libzip inflated it (and expat parsed it)
    doc = xdm.cda_document().replace("Résultats normaux.".encode(), f"{archived} ".encode() * 50)
    msg.add_attachment(xdm.build_xdm([{"name": "DOC0001.XML", "data": doc, "type_code": "11502-2"}]),
                       maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    if batch != "0":
        listening_committer(m)
    s = as_operator(m)
    assert s.send_message(msg, from_addr=REMOTE_PRO, to_addrs=[PATIENT]) == {}
    if batch != "0":  # nothing to file: the committer's
        plain = EmailMessage()
        plain["From"], plain["To"], plain["Subject"] = REMOTE_PRO, PATIENT, "Consultation " + subject
        plain.set_content("".join(f"{text} line {i:05d}\n" for i in range(300)))
        assert s.send_message(plain, from_addr=REMOTE_PRO, to_addrs=[PATIENT]) == {}
    s.quit()
    pre, sid, _ = connects(m)[-1]
    ended(m, RawSmtpClosed(), session=sid)
    assert inbox(m, PATIENT) >= 1  # her copy (and the vault's notice)
    assert re.search(r"event=vault_file .*filed=2 ", m.log("smtpd")), m.log("smtpd")[-2000:]
    assert re.search(r"event=smtp\.deliver .*result=ok batch=0", m.log("smtpd"))  # the documents' one
    assert batch == "0" or re.search(r"event=smtp\.deliver .*result=ok batch=1", m.log("smtpd"))
    pids = [int(pre), int(disconnects(m)[sid])] + ([committer_pid(m)] if batch != "0" else [])
    needles = [text, attached, cda, archived, subject]
    if sanitized(pids[0]):  # the libraries' freed buffers stay in its quarantine
        needles = [text]
    for pid in pids:
        assert os.path.exists(f"/proc/{pid}")  # idle, kept for the next peer or delivery
        assert {needles[i] for i in memory_holds(pid, [n.encode() for n in needles])} == set(), pid


def listening_committer(m, wait=10):
    """Until the committer listens (it logs its start): deliveries before go the sessions' own way."""
    deadline = time.monotonic() + wait
    while "event=committer.start" not in m.log("smtpd") and time.monotonic() < deadline:
        time.sleep(0.05)


class RawSmtpClosed:
    """A connection already closed (ended() closes what it is given)."""

    def close(self):
        pass


def starttls_accepted(m, cert):
    """Whether an MX STARTTLS with this client certificate gets to EHLO."""
    try:
        c = connect(m, "smtp", cert=cert)
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError, EOFError, OSError):
        return False
    ok = c.cmd("NOOP")[0] == 250 if c else False
    ended(m, c)
    return ok


def test_new_crl_file_ends_reused_processes(reuse, pki, tmp_path):
    m = reuse
    crl = tmp_path / "tls-crl.pem"
    shutil.copyfile(pki / "crl.pem", crl)
    m.set(tls_crl=str(crl))
    m.start("smtpd")
    assert starttls_accepted(m, "late")
    before = connects(m)[-1][0]
    tmp = crl.with_name("crl.new")
    shutil.copyfile(pki / "crl-next.pem", tmp)
    os.replace(tmp, crl)  # revokes "late", no SIGHUP
    time.sleep(1.2)
    assert not starttls_accepted(m, "late")
    assert starttls_accepted(m, "operator")
    assert connects(m)[-1][0] != before
    assert gone(int(before))


def test_sighup_ends_idle_reused_processes(reuse):
    m = reuse
    m.start("smtpd")
    c = connect(m, "smtp", cert="operator")
    assert c.cmd("QUIT")[0] == 221
    ended(m, c)
    before = connects(m)[-1][0]
    reloads = m.log("smtpd").count("event=reload ")
    os.kill(m.procs["smtpd"].pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while m.log("smtpd").count("event=reload ") == reloads and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(int(before))
    c = connect(m, "smtp", cert="operator")
    assert connects(m)[-1][0] != before
    assert deliver(c, OPERATOR, PRO)[0] == 250
    c.close()


def test_idle_processes_end_after_idle_time(reuse):
    m = reuse
    m.set(smtp_session_idle_time=1)
    m.start("smtpd")
    c = connect(m, "smtp", cert="operator")
    ended(m, c)
    assert gone(int(connects(m)[-1][0]), wait=5)


def connect_placed(m, wait=10):
    """A plain MX connection, tried again while the master answers 421 for a bounded
    time: a process back in recvmsg may not have had its "done" read by the master yet
    (seen under the sanitizers on a loaded fresh root)."""
    deadline = time.monotonic() + wait
    while True:
        c = RawSmtp(m.port("smtp"))
        code, text = c.reply()
        if code == 220:
            return c
        c.close()
        assert code == 421 and time.monotonic() < deadline, (code, text)
        time.sleep(0.1)


def test_idle_processes_hold_no_place_and_stop_ends_them(reuse):
    m = reuse
    m.set(max_sessions_per_ip=2)
    m.start("smtpd")
    held = [connect(m, "smtp", tls=False, ehlo=False) for _ in range(2)]
    third = RawSmtp(m.port("smtp"))
    assert third.reply()[0] == 421  # the limit holds
    third.close()
    for c, (_, sid, _) in zip(held, connects(m)):
        assert c.cmd("QUIT")[0] == 221
        ended(m, c, sid)
    pids = {pid for pid, _, _ in connects(m)}
    # two idle pairs now: neither counts against the address's two places (they stay
    # idle for smtp_session_idle_time, 60 s: were they counted, no connection within the
    # 10 s below would be let in)
    again = [connect_placed(m) for _ in range(2)]
    assert {pid for pid, _, _ in connects(m)[-2:]} == pids
    for c in again:
        c.close()
    start = time.monotonic()
    m.stop("smtpd")
    assert time.monotonic() - start < 5
    assert all(gone(int(p), wait=1) for p in pids)


def unix_peers():
    """{socket inode: its peer's inode} of every connected Unix socket (ss -x)."""
    out = subprocess.run(["ss", "-xaH"], capture_output=True, text=True, check=True).stdout
    return {int(a): int(b) for a, b in re.findall(r"\s(\d+)\s+\S+\s+(\d+)\s*$", out, re.M)}


def socket_inodes(pid):
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue
        if target.startswith("socket:["):
            found.add(int(target[8:-1]))
    return found


def comm(pid):
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


def test_restarted_queue_process_holds_no_socket_of_reused_processes(reuse):
    """The master's sockets to its reused processes are its alone: a queue process
    it restarts while pairs are running does not inherit them."""
    m = reuse
    m.start("smtpd")
    c = connect(m, "smtp", cert="operator")
    assert deliver(c, OPERATOR, PRO)[0] == 250
    ended(m, c)
    pre = connects(m)[-1][0]
    session = disconnects(m)[connects(m)[-1][1]]
    master = m.procs["smtpd"].pid
    queue = [p for p in map(int, open(f"/proc/{master}/task/{master}/children").read().split())
             if comm(p) == "mss-queue"]
    assert len(queue) == 1
    starts = m.log("smtpd").count("event=relay.start result=ok")
    os.kill(queue[0], signal.SIGKILL)
    deadline = time.monotonic() + 20
    while m.log("smtpd").count("event=relay.start result=ok") == starts and time.monotonic() < deadline:
        time.sleep(0.1)
    queue = [p for p in map(int, open(f"/proc/{master}/task/{master}/children").read().split())
             if comm(p) == "mss-queue"]
    assert len(queue) == 1
    peers = unix_peers()
    pool_peers = {peers.get(i) for p in (pre, session) for i in socket_inodes(int(p))} - {None}
    assert pool_peers & socket_inodes(master)  # the master's ends, found this way
    assert not pool_peers & socket_inodes(queue[0])
    # and the pair still serves
    c = connect(m, "smtp", cert="operator")
    assert connects(m)[-1][0] == pre
    c.close()


# ---- the session process keeps its store (its database connection) between connections


def tcp_ports(pid):
    """Local TCP ports of pid's sockets (its PostgreSQL connections)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[9] in inodes:
                    ports.add(int(cols[1].split(":")[1], 16))
    return ports


def database_handles(m, pid):
    """pid's connections to the database: its descriptors of mss.db (SQLite) as
    (fd, inode), or the PostgreSQL backends serving it (pids from pg_stat_activity)."""
    if not m.settings.get("store"):
        found = set()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}").endswith("/mss.db"):
                    found.add((int(fd), os.stat(f"/proc/{pid}/fd/{fd}").st_ino))
            except OSError:
                continue
        return found
    ports = tcp_ports(pid)
    rows = m.sql("SELECT pid, client_port FROM pg_stat_activity WHERE datname = current_database()")
    return {p for p, port in rows if port in ports}


def deliver_subject(c, rcpt, subject):
    assert mail(c, OPERATOR)[0] == 250
    assert c.cmd(f"RCPT TO:<{rcpt}>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(f"From: {OPERATOR}\r\nTo: {rcpt}\r\nSubject: {subject}\r\n\r\nHello.\r\n.\r\n".encode())
    return c.reply()


def one_delivery(m, subject):
    """One connection delivering one message; returns its session process's pid."""
    c = connect(m, "smtp", cert="operator")
    code, text = deliver_subject(c, PRO, subject)
    assert code == 250, text
    assert c.cmd("QUIT")[0] == 221
    ended(m, c)
    return int(disconnects(m)[connects(m)[-1][1]])


def test_mx_prelogin_asks_its_session_process_nothing_before_the_handoff(reuse):
    """The MX offers no AUTH, so no EXTERNAL: its pre-login process does not ask the
    session process whether the certificate maps to an account (a round trip and a
    lookup per connection that nothing read); the session process maps it itself at
    the hand-off. With its session process stopped, a connection still gets through
    STARTTLS and EHLO; MAIL, which needs the session process, waits for it."""
    m = reuse
    m.start("smtpd")
    pid = one_delivery(m, "first")
    os.kill(pid, signal.SIGSTOP)
    try:
        c = connect(m, "smtp", cert="operator", ehlo=False)
        c.sock.settimeout(5)
        code, lines = c.cmd("EHLO mx.other-operator.test")
        assert code == 250 and not any(l.startswith("AUTH") for l in lines), lines
    finally:
        os.kill(pid, signal.SIGCONT)
    c.sock.settimeout(30)
    code, text = deliver_subject(c, PRO, "second")
    assert code == 250, text
    assert c.cmd("QUIT")[0] == 221
    ended(m, c)
    assert int(disconnects(m)[connects(m)[-1][1]]) == pid  # the same pair, its session process
    assert inbox_count(m, PRO) == 2


@pytest.mark.parametrize("batch", ["yes", "no"])
def test_relay_and_session_process_run_under_sched_batch_after_the_handoff(reuse, batch):
    """From the hand-off (the first MAIL) on, the pre-login process only relays and the
    session process answers what it relays: with smtp_relay_batch (the default) both run
    under SCHED_BATCH, so that one waking the other does not preempt it (issue 15).
    Before the hand-off, with the key set to no, and once the connection ended (a
    reused pair's next peer starts as on a fresh pair), the normal policy."""
    m = reuse
    m.set(smtp_relay_batch=batch)
    m.start("smtpd")
    session = one_delivery(m, "first")
    c = connect(m, "smtp", cert="operator")
    pre = int(connects(m)[-1][0])
    assert int(connects(m)[-2][0]) == pre  # the same pair
    assert os.sched_getscheduler(pre) == os.SCHED_OTHER
    assert os.sched_getscheduler(session) == os.SCHED_OTHER
    code, text = deliver_subject(c, PRO, "second")
    assert code == 250, text
    want = os.SCHED_BATCH if batch == "yes" else os.SCHED_OTHER
    assert os.sched_getscheduler(pre) == want
    assert os.sched_getscheduler(session) == want
    assert c.cmd("QUIT")[0] == 221
    ended(m, c)
    assert int(disconnects(m)[connects(m)[-1][1]]) == session
    assert os.sched_getscheduler(pre) == os.SCHED_OTHER
    assert os.sched_getscheduler(session) == os.SCHED_OTHER
    assert inbox_count(m, PRO) == 2
    assert "smtp.relay_batch" not in m.log("smtpd")


def audit_after(m, seq):
    return m.sql("SELECT actor, action, target, result FROM audit_log WHERE seq > ? ORDER BY seq", seq)


def last_seq(m):
    return m.sql("SELECT coalesce(max(seq), 0) FROM audit_log")[0][0]


def test_session_process_keeps_one_database_connection(reuse):
    """Two connections on one reused pair: one database connection, kept while the
    pair is idle, and the second connection's delivery and audit records are its own."""
    m = reuse
    m.start("smtpd")
    pid = one_delivery(m, "first")
    kept = database_handles(m, pid)
    assert len(kept) == 1, kept  # open while the process waits for its next connection
    seq = last_seq(m)
    assert one_delivery(m, "second") == pid
    assert database_handles(m, pid) == kept
    assert inbox_count(m, PRO) == 2
    second = audit_after(m, seq)
    # the second peer's records only: the operator's DN, its sender, one delivery
    assert {actor for actor, _, _, _ in second} == {OPERATOR_DN}, second
    assert ("smtp.mail", OPERATOR) in {(a, t) for _, a, t, _ in second}, second
    assert [t.lower() for _, a, t, r in second if a == "smtp.deliver" and r == "ok"] == [PRO.lower()], second
    assert "event=smtp.store " not in m.log("smtpd")  # never opened again
    assert m.ctl("audit", "verify").returncode == 0


@pytest.mark.sqlite_only
def test_migration_while_idle_is_seen_by_the_next_connection(reuse):
    """mssctl migrate while a pair is idle: its next connection opens the store afresh
    (no statement of the old schema kept) and delivers into the new one."""
    from atrest_helpers import UNDO_STORE_STEPS_AFTER_11, blobs_to_files
    m = reuse
    m.set(delivery_batch_max=0)  # the session's own store delivers (the committer's: test_smtp_committer)
    m.start("smtpd")
    pid = one_delivery(m, "first")
    before = database_handles(m, pid)
    blobs_to_files(m)
    for stmt in ["DROP INDEX blobs_user", *UNDO_STORE_STEPS_AFTER_11]:  # the steps after 11
        m.sql(stmt)
    m.sql("UPDATE schema_version SET version = 11 WHERE component = 'store'")
    assert "migrat" in m.ctl("migrate").stdout
    assert one_delivery(m, "second") == pid
    assert re.search(r"event=smtp\.store session=\w+ action=reopen reason=\"the schema changed",
                     m.log("smtpd")), m.log("smtpd")[-2000:]
    assert database_handles(m, pid) != before
    # the counters migration 12 made are kept by the new connection's delivery
    assert m.sql("SELECT n_messages FROM mailboxes b JOIN store_users u ON b.user_id = u.id "
                 "WHERE u.address = ? AND b.name = 'INBOX'", PRO)[0][0] == 2


@pytest.fixture
def own_pg():
    """A PostgreSQL server of this test's own, to restart (scripts/pg-test-cluster)."""
    import tempfile
    from conftest import SRC
    cluster = str(SRC / "scripts" / "pg-test-cluster")
    d = tempfile.mkdtemp(prefix="mss-pg-", dir="/tmp")
    uri = subprocess.run([cluster, "start", d], check=True, capture_output=True, text=True).stdout.strip()
    yield cluster, d, uri
    subprocess.run([cluster, "stop", d], check=False)


@pytest.mark.postgresql
@pytest.mark.skipif(not os.environ.get("MSS_TEST_PG"), reason="needs MSS_TEST_PG")
def test_postgresql_restart_between_two_connections(own_pg, mss_factory):
    """The PostgreSQL server restarts while a pair is idle: its next connection works on
    a new database connection, not the broken one."""
    cluster, d, uri = own_pg
    m = mss_factory(name="pgr", pg_base=uri)
    m.add_demo_accounts()
    f = trust_list(m.root / "trust.xml", [("other-operator.test", OPERATOR_DN)])
    m.ctl("trust", "import", str(f))
    m.set(smtp_session_max_use=3)
    m.start("smtpd")
    pid = one_delivery(m, "first")
    before = database_handles(m, pid)
    assert len(before) == 1, before
    subprocess.run([cluster, "restart", d, "-m", "fast"], check=True)
    assert one_delivery(m, "second") == pid
    after = database_handles(m, pid)
    assert len(after) == 1 and after != before, (before, after)
    assert inbox_count(m, PRO) == 2
    assert m.ctl("audit", "verify").returncode == 0


# ---- a reused pre-login process has one TLS key agent channel for its life


def agent_ends(m, pid, name="mss-tls-agent"):
    """The inodes of the agent's ends of pid's channels to the daemon's helper name."""
    agents = [p for p in children(m.procs["smtpd"].pid) if comm(p) == name]
    assert len(agents) == 1, agents
    held = socket_inodes(agents[0])
    peers = unix_peers()
    return {peers[i] for i in socket_inodes(int(pid)) if peers.get(i) in held}


def test_reused_prelogin_keeps_its_tls_agent_channel(reuse):
    """The master makes a reused pre-login process's TLS key agent channel once, when it
    forks it, not for each connection (doc/architecture.md, "Key agent"):
    the agent adds and ends no channel per connection. The process served anyone with a
    new channel each time as well, so a longer-kept channel gives it nothing more; its
    session process still holds none."""
    m = reuse
    m.start("smtpd")
    seen = []
    for _ in range(2):
        c = connect(m, "smtp", cert="operator")
        code, text = deliver(c, OPERATOR, PRO)
        assert code == 250, text
        pre, sid, _ = connects(m)[-1]
        seen.append((pre, agent_ends(m, pre)))
        assert c.cmd("QUIT")[0] == 221
        ended(m, c)
        assert not agent_ends(m, disconnects(m)[sid])  # the session process signs nothing
    (pre1, chan1), (pre2, chan2) = seen
    assert pre1 == pre2
    assert len(chan1) == 1 and chan1 == chan2, seen


def test_reused_mx_session_process_keeps_its_account_key_channel(reuse):
    """An MX pair's session process serves any peer, so its account key agent channel
    (kind mx: no account key, bound to none) is its own too, made when the master forks
    it, of which each connection's store gets a copy: the agent adds and ends no channel
    per connection. Its pre-login process holds none."""
    m = reuse
    m.start("smtpd")
    seen = []
    for _ in range(2):
        c = connect(m, "smtp", cert="operator")
        code, text = deliver(c, OPERATOR, PRO)
        assert code == 250, text
        pre, sid, _ = connects(m)[-1]
        assert c.cmd("QUIT")[0] == 221
        ended(m, c)
        session = disconnects(m)[sid]
        seen.append((session, agent_ends(m, session, "mss-keyagent")))
        assert not agent_ends(m, pre, "mss-keyagent")
    (s1, chan1), (s2, chan2) = seen
    assert s1 == s2
    assert len(chan1) == 1 and chan1 == chan2, seen
    assert re.search(rf"event=master\.reused pid={s1} keys_channel=\w+", m.log("smtpd"))
