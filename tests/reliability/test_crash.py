"""Crash safety: 2,000 messages from 10 clients; at a random moment kill -9 both
daemons' masters and all their session processes; restart. Every message that got its
250 is fetched back intact over IMAP, the database passes PRAGMA integrity_check, the
audit chain verifies, and the restarted daemons work.

The moment is drawn from MSS_RELIABILITY_SEED when set (printed on failure)."""
import os
import random
import smtplib
import ssl
import sqlite3
import threading
import time

from relhelp import (PASSWORDS, PRO, PRO2, body_of, fetch_all, group_pids, imap_login,
                     import_directory, message, message_id_of, require_binaries, submission,
                     wait_until)

TOTAL = 2000
CLIENTS = 10
PER_CONNECTION = 10
SEND_CAP_S = 60  # the kill happens by then whatever the throughput


class Sender(threading.Thread):
    """One client: sends its share, PER_CONNECTION messages per session; records each
    message whose DATA got 250; stops at the first error (the crash)."""

    def __init__(self, m, index, count, stop):
        super().__init__(daemon=True)
        self.m, self.index, self.count, self.stop = m, index, count, stop
        self.acked = {}  # Message-ID -> body bytes
        self.errors = []

    def run(self):
        sent = 0
        while sent < self.count and not self.stop.is_set():
            try:
                s = submission(self.m, "pro", timeout=20)
                for _ in range(min(PER_CONNECTION, self.count - sent)):
                    body = (f"client {self.index} message {sent}\r\n"
                            + "".join(f"line {i} of a crash-test message, \u00e9t\u00e9\r\n"
                                      for i in range(1 + sent % 40)))
                    msgid, raw = message(PRO, PRO2, f"crash {self.index}/{sent}", body)
                    refused = s.sendmail(PRO, [PRO2], raw)
                    assert not refused, refused
                    self.acked[msgid] = body_of(raw)
                    sent += 1
                s.quit()
            except (OSError, smtplib.SMTPException, ssl.SSLError) as e:
                self.errors.append((time.monotonic(), repr(e)[:200]))
                return


def acked_count(senders):
    return sum(len(s.acked) for s in senders)


def test_kill9_during_delivery(mss, tmp_path):
    require_binaries("smtpd", "imapd", "mssctl")
    seed = int(os.environ.get("MSS_RELIABILITY_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    kill_after = rng.randint(100, TOTAL - 200)  # acknowledged messages before the kill
    import_directory(mss, tmp_path)
    mss.set(max_sessions=200, max_sessions_per_ip=100)
    mss.start("smtpd")
    mss.start("imapd")
    pgids = {d: p.pid for d, p in mss.procs.items()}

    stop = threading.Event()
    senders = [Sender(mss, i, TOTAL // CLIENTS, stop) for i in range(CLIENTS)]
    for s in senders:
        s.start()
    start = time.monotonic()
    wait_until(lambda: acked_count(senders) >= kill_after or all(not s.is_alive() for s in senders),
               SEND_CAP_S, step=0.005)
    killed_at = acked_count(senders)
    kill_time = time.monotonic()
    for daemon in ("smtpd", "imapd"):  # nothing died on its own before the kill
        assert mss.procs[daemon].poll() is None, f"{daemon} exited before the kill:\n" + \
            mss.log(daemon)[-2000:]
    mss.kill9("smtpd")
    mss.kill9("imapd")
    stop.set()
    for s in senders:
        s.join(timeout=60)
    acked = {}
    for s in senders:
        acked.update(s.acked)
    info = (f"seed={seed} kill_after={kill_after} acked_at_kill={killed_at} "
            f"acked={len(acked)} after {time.monotonic() - start:.1f}s")
    print(info)
    early = [e for s in senders for t, e in s.errors if t < kill_time]
    assert not early, f"errors before the kill: {early[:3]}: {info}"

    # kill -9 of the group left nothing behind.
    for daemon, pgid in pgids.items():
        assert wait_until(lambda: not group_pids(pgid), 10), f"{daemon} processes survived: {info}"

    # The database is sound before anything touches it again.
    con = sqlite3.connect(str(mss.data_dir / "mss.db"), timeout=30)
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)], info
    finally:
        con.close()

    mss.start("smtpd")
    mss.start("imapd")
    c = imap_login(mss, PRO2, PASSWORDS[PRO2])
    try:
        got = {}
        for _uid, raw in fetch_all(c):
            got.setdefault(message_id_of(raw), []).append(raw)
    finally:
        c.logout()
    missing = [mid for mid in acked if mid not in got]
    assert not missing, f"{len(missing)} acknowledged messages lost ({missing[:3]}): {info}"
    damaged = [mid for mid, body in acked.items() if body_of(got[mid][0]) != body]
    assert not damaged, f"{len(damaged)} messages damaged ({damaged[:3]}): {info}"
    dup = [mid for mid in acked if len(got[mid]) > 1]
    assert not dup, f"{len(dup)} acknowledged messages stored twice: {info}"

    # The restarted daemons accept and serve mail.
    s = submission(mss, "pro")
    msgid, raw = message(PRO, PRO2, "after the crash", "still here\r\n")
    assert not s.sendmail(PRO, [PRO2], raw)
    s.quit()

    r = mss.ctl("audit", "verify", check=False)
    assert r.returncode == 0, f"audit verify: {r.stdout} {r.stderr}: {info}"
    con = sqlite3.connect(str(mss.data_dir / "mss.db"), timeout=30)
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)], info
    finally:
        con.close()
