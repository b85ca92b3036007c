"""Availability and hygiene limits of issue 12, each against real daemons: a total
deadline per command and per DATA/APPEND transfer (a client trickling one byte a second
is cut at the deadline, not kept alive by each byte), separate session limits for MX and
submission, a bounded pool for password hashing, a bound on one SEARCH, notify_command
started with no descriptor of the daemon, and every file in data_dir private (0600)."""
import imaplib
import threading
import os
import signal
import smtplib
import socket
import ssl
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage

import pytest

from conftest import PASSWORDS, PATIENT, PRO


def send(m, subject="hello"):
    msg = EmailMessage()
    msg["From"] = PRO
    msg["To"] = PATIENT
    msg["Subject"] = subject
    msg.set_content("Bonjour.\n")
    with smtplib.SMTP("127.0.0.1", m.port("submission"), timeout=30) as s:
        s.starttls(context=m.login_context(PRO))
        s.login(PRO, PASSWORDS[PRO])
        s.send_message(msg)


def trickle(sock, data, every=1.0, limit=20.0):
    """Sends data one byte at a time; returns the seconds until the server closed."""
    t0 = time.monotonic()
    sock.settimeout(every)
    for b in data:
        if time.monotonic() - t0 > limit:
            break
        try:
            sock.sendall(bytes([b]))
        except OSError:
            return time.monotonic() - t0
        try:
            got = sock.recv(4096)
            if got == b"" or b"421" in got or b"BYE" in got:
                return time.monotonic() - t0
        except socket.timeout:
            pass
        except OSError:
            return time.monotonic() - t0
    return time.monotonic() - t0


def test_smtp_command_deadline_is_total(mss):
    mss.set(smtp_command_timeout=3)
    mss.start("smtpd")
    s = socket.create_connection(("127.0.0.1", mss.port("smtp")), timeout=10)
    assert s.recv(512).startswith(b"220")
    took = trickle(s, b"NOOP and a very long line that never ends" * 2)
    s.close()
    assert took < 7, f"a trickling client held the session {took:.1f} s past a 3 s deadline"


def test_smtp_data_deadline_is_total(mss):
    mss.set(smtp_data_timeout=3)
    mss.start("smtpd")
    c = smtplib.SMTP("127.0.0.1", mss.port("submission"), timeout=30)
    c.starttls(context=mss.login_context(PRO))
    c.login(PRO, PASSWORDS[PRO])
    c.mail(PRO)
    c.rcpt(PATIENT)
    assert c.docmd("DATA")[0] == 354
    took = trickle(c.sock, b"Subject: slow\r\n\r\n" + b"x" * 60)
    c.close()
    assert took < 7, f"DATA trickled for {took:.1f} s past a 3 s deadline"


def test_imap_command_deadline_is_total(mss):
    mss.set(imap_command_timeout=3)
    mss.start("imapd")
    raw = socket.create_connection(("127.0.0.1", mss.port("imaps")), timeout=10)
    s = mss.client_context().wrap_socket(raw, server_hostname="localhost")
    assert b"OK" in s.recv(512)
    took = trickle(s, b"a1 NOOP and more and more and more and more")
    s.close()
    assert took < 7, f"an IMAP command trickled for {took:.1f} s past a 3 s deadline"


def test_idle_mx_connections_leave_submission_its_places(mss):
    mss.set(max_sessions=50, smtp_max_sessions=3, submission_max_sessions=5)
    mss.start("smtpd")
    held = []
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", mss.port("smtp")), timeout=10)
        assert s.recv(512).startswith(b"220")
        held.append(s)
    extra = socket.create_connection(("127.0.0.1", mss.port("smtp")), timeout=10)
    assert extra.recv(512).startswith(b"421")
    extra.close()
    sub = socket.create_connection(("127.0.0.1", mss.port("submission")), timeout=10)
    assert sub.recv(512).startswith(b"220")
    sub.close()
    for s in held:
        s.close()
    assert "too many sessions on this service" in mss.log("smtpd")


def imap_login(m):
    c = imaplib.IMAP4_SSL("127.0.0.1", m.port("imaps"), ssl_context=m.login_context(PATIENT), timeout=60)
    try:
        typ, data = c.login(PATIENT, PASSWORDS[PATIENT])
        c.logout()
        return typ
    except imaplib.IMAP4.error as e:
        return str(e)


def logins_at_once(m, n):
    """n password logins sent at one moment: every connection is made first (TLS, the
    greeting), then all wait at one barrier and send LOGIN. Without the barrier the
    clients' handshakes spread the logins over more than the pool's wait (seen on a
    fresh machine: sixteen logins, one hashing place, all got a place; with the barrier,
    sixteen hashes of about 60 ms still could fit in the second: thirty-two cannot)."""
    clients = [imaplib.IMAP4_SSL("127.0.0.1", m.port("imaps"), ssl_context=m.login_context(PATIENT),
                                 timeout=60) for _ in range(n)]
    barrier = threading.Barrier(n)

    def login(c):
        barrier.wait(timeout=60)
        try:
            typ, _ = c.login(PATIENT, PASSWORDS[PATIENT])
            c.logout()
            return typ
        except imaplib.IMAP4.error as e:
            return str(e)
    with ThreadPoolExecutor(max_workers=n) as ex:
        return list(ex.map(login, clients))


def test_password_hashing_is_a_bounded_pool(mss):
    """One hashing place, one second of patience: among many simultaneous password
    logins some are told to come back (NO [UNAVAILABLE]), none is refused as wrong,
    and the session count never means that many 64 MiB hashes at once."""
    mss.real_password_cost(PATIENT, PASSWORDS[PATIENT])  # the pool is about 64 MiB checks
    mss.set(auth_hash_concurrency=1, auth_hash_wait=1, max_sessions_per_ip=40)
    mss.start("imapd")
    results = logins_at_once(mss, 32)
    assert "OK" in results
    busy = [r for r in results if r != "OK"]
    assert busy and all("UNAVAILABLE" in r for r in busy), results
    assert "auth.hash_busy" in mss.log("imapd")


def test_password_pool_queues_within_its_wait(mss):
    mss.real_password_cost(PATIENT, PASSWORDS[PATIENT])  # the pool is about 64 MiB checks
    mss.set(auth_hash_concurrency=2, auth_hash_wait=60, max_sessions_per_ip=40)
    mss.start("imapd")
    with ThreadPoolExecutor(max_workers=8) as ex:
        results = list(ex.map(lambda _: imap_login(mss), range(8)))
    assert results == ["OK"] * 8


def test_search_with_too_many_keys_is_refused(mss):
    mss.set(imap_max_search_keys=20)
    mss.start("smtpd")
    send(mss)
    mss.start("imapd")
    c = imaplib.IMAP4_SSL("127.0.0.1", mss.port("imaps"), ssl_context=mss.login_context(PATIENT))
    c.login(PATIENT, PASSWORDS[PATIENT])
    c.select("INBOX")
    keys = " ".join(f'NOT BODY "needle{i}"' for i in range(30))
    typ, data = c._simple_command("SEARCH", keys)
    assert typ == "NO" and b"[LIMIT]" in data[0], data
    typ, data = c.search(None, *[f'NOT BODY "needle{i}"' for i in range(5)])
    assert typ == "OK" and data[0].split() == [b"1"]
    c.logout()


def test_notify_command_gets_no_descriptor_of_the_daemon(mss, tmp_path):
    out = tmp_path / "fds"
    script = tmp_path / "notify.sh"
    script.write_text(f"#!/bin/sh\nls -l /proc/$$/fd > {out}.tmp 2>&1; mv {out}.tmp {out}\n")
    script.chmod(0o755)
    mss.set(notify_command=str(script), notify_timeout=5)
    mss.start("smtpd")
    msg = EmailMessage()
    msg["From"] = PRO
    msg["To"] = PATIENT
    msg["Subject"] = "compte rendu"
    msg.set_content("Bonjour.\n")
    msg.add_attachment(b"%PDF-1.4\n%%EOF\n", maintype="application", subtype="pdf", filename="a.pdf")
    with smtplib.SMTP("127.0.0.1", mss.port("submission"), timeout=30) as s:
        s.starttls(context=mss.login_context(PRO))
        s.login(PRO, PASSWORDS[PRO])
        s.send_message(msg)
    deadline = time.time() + 10
    while not out.exists() and time.time() < deadline:
        time.sleep(0.2)
    listing = out.read_text()
    fds = {}
    for line in listing.splitlines():
        if "->" in line:
            name, target = line.split("->")
            fds[name.split()[-1]] = target.strip()
    # The shell's stdio is /dev/null (its saved copies show as such), its own script,
    # and the listing it writes: nothing of the daemon (log, sockets, database).
    assert fds["0"] == "/dev/null", listing
    allowed = {"/dev/null", str(script), f"{out}.tmp"}
    assert set(fds.values()) <= allowed, listing


def private(path):
    mode = stat.S_IMODE(path.stat().st_mode)
    if path.name == "empty" and path.parent.name == "run" and path.is_dir():
        # mss-imapd's pre-login chroot (issue 12): root's, 0755 and empty by design
        return path.stat().st_uid == 0 and mode == 0o755 and not any(path.iterdir())
    return mode & 0o077 == 0


def test_every_file_in_data_dir_is_private(mss_factory):
    m = mss_factory()
    m.add_account(PATIENT, "patient", password=PASSWORDS[PATIENT])
    m.add_account(PRO, "professional", password=PASSWORDS[PRO], cert=m.pki / "pro.crt")
    m.start("smtpd")
    m.start("imapd")
    send(m)
    c = imaplib.IMAP4_SSL("127.0.0.1", m.port("imaps"), ssl_context=m.login_context(PATIENT))
    c.login(PATIENT, PASSWORDS[PATIENT])
    c.select("INBOX")
    c.fetch("1", "(BODY.PEEK[])")
    # While the daemons run (WAL and shared-memory files exist) and after.
    def check(running):
        paths = [p for p in m.data_dir.rglob("*") if not p.is_symlink()]
        names = {p.name for p in paths}
        assert "mss.db" in names and (not running or "mss.db-wal" in names), names
        public = [f"{p} {oct(p.stat().st_mode)}" for p in paths if not private(p) and p.name != "audit.pub"]
        assert not public, public
    check(True)
    c.logout()
    m.stop("smtpd")
    m.stop("imapd")
    check(False)
    assert stat.S_IMODE(m.data_dir.stat().st_mode) == 0o700


def daemon_session(m, daemon):
    """A session of daemon that writes to the store, left open (its process keeps
    mss.db open, so the WAL and shared-memory files exist)."""
    if daemon == "smtpd":
        s = smtplib.SMTP("127.0.0.1", m.port("submission"), timeout=30)
        s.starttls(context=m.login_context(PRO))
        s.login(PRO, PASSWORDS[PRO])
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = PRO, PATIENT, "umask"
        msg.set_content("Bonjour.\n")
        s.send_message(msg)
        return s.quit
    if daemon == "imapd":
        c = imaplib.IMAP4_SSL("127.0.0.1", m.port("imaps"), ssl_context=m.login_context(PATIENT))
        c.login(PATIENT, PASSWORDS[PATIENT])
        c.append("INBOX", None, None, b"Subject: umask\r\n\r\nBonjour.\r\n")
        c.select("INBOX")
        return c.logout
    import web_helpers
    w = web_helpers.logged_in(m)
    assert w.get("/documents").status == 200
    return w.close


@pytest.mark.parametrize("daemon", ["smtpd", "imapd", "webd"])
@pytest.mark.sqlite_only
def test_each_daemon_sets_its_own_umask(mss, daemon):
    """Started from a shell whose umask is 000, each daemon alone (so its own processes
    create mss.db's WAL and shared-memory files, run/ and blobs) leaves nothing readable
    by group or others: the umask is the daemon's, not its caller's. (SQLite gives the
    WAL the database file's mode, and today's files are opened 0600 explicitly: this
    guards the files a later change opens with the default 0666, e.g. through fopen.)"""
    m = mss
    for p in m.data_dir.glob("mss.db-*"):
        p.unlink()
    old = os.umask(0)
    try:
        m.start(daemon)
    finally:
        os.umask(old)
    end = daemon_session(m, daemon)
    paths = [p for p in m.data_dir.rglob("*") if not p.is_symlink()]
    try:
        assert "mss.db-wal" in {p.name for p in paths}
        public = [f"{p} {oct(p.stat().st_mode)}" for p in paths if not private(p) and p.name != "audit.pub"]
        assert not public, public
    finally:
        end()
    m.stop(daemon)




def test_sighup_resizes_the_session_limits(mss):
    """A SIGHUP's new smtp_max_sessions applies to the next connections (issue 12:
    today's limits are not frozen at start)."""
    mss.set(max_sessions=50, smtp_max_sessions=1)
    mss.start("smtpd")
    deadline = time.monotonic() + 10
    while True:  # an earlier session may still hold the one place until it is reaped
        held = socket.create_connection(("127.0.0.1", mss.port("smtp")), timeout=10)
        if held.recv(512).startswith(b"220"):
            break
        held.close()
        assert time.monotonic() < deadline
        time.sleep(0.1)
    with socket.create_connection(("127.0.0.1", mss.port("smtp")), timeout=10) as extra:
        assert extra.recv(512).startswith(b"421")
    mss.set(smtp_max_sessions=2)
    reloads = mss.log("smtpd").count("event=reload ")
    mss.procs["smtpd"].send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while mss.log("smtpd").count("event=reload ") == reloads:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert "event=reload result=ok" in mss.log("smtpd")
    with socket.create_connection(("127.0.0.1", mss.port("smtp")), timeout=10) as second:
        assert second.recv(512).startswith(b"220")
    held.close()


def test_sighup_resizes_the_hashing_pool(mss):
    """One hashing place and one second of patience turn logins away; after a SIGHUP
    with more places and a longer wait, as many simultaneous logins all succeed."""
    mss.real_password_cost(PATIENT, PASSWORDS[PATIENT])  # the pool is about 64 MiB checks
    mss.set(auth_hash_concurrency=1, auth_hash_wait=1, max_sessions_per_ip=40)
    mss.start("imapd")
    # Thirty-two logins at once, of 50 to 100 ms of hashing each (Argon2id, mssctl's
    # cost) one at a time, cannot all get a place within a second.
    results = logins_at_once(mss, 32)
    assert any("UNAVAILABLE" in r for r in results), results
    mss.set(auth_hash_concurrency=8, auth_hash_wait=120)
    reloads = mss.log("imapd").count("event=reload ")
    mss.procs["imapd"].send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while mss.log("imapd").count("event=reload ") == reloads:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    with ThreadPoolExecutor(max_workers=8) as ex:
        results = list(ex.map(lambda _: imap_login(mss), range(8)))
    assert results == ["OK"] * 8
