"""Load: 50 concurrent SMTP sessions and 50 concurrent IMAP sessions on the same two
mailboxes for 30 s (MSS_RELIABILITY_LOAD_SECONDS). No client ever sees an error
reply (in particular no "database is locked" and no 4xx caused by contention), no
session process is left behind, and the masters' memory stays flat. Submission's
pre-login processes are reused (lib/master.h MASTER_REUSE_PRELOGIN): once the clients
have gone, one may wait idle for its next connection, never a busy one, until
smtp_session_idle_time ends it."""
import imaplib
import os
import pwd
import smtplib
import threading
import time

from relhelp import (CERT_OF, PASSWORDS, PRO, PRO2, group_pids, idle_reused, imap_login, import_directory,
                     message, require_binaries, rss_kb, submission, wait_until)

SECONDS = int(os.environ.get("MSS_RELIABILITY_LOAD_SECONDS", "30"))
SMTP_CLIENTS = int(os.environ.get("MSS_RELIABILITY_SMTP_CLIENTS", "50"))
IMAP_CLIENTS = int(os.environ.get("MSS_RELIABILITY_IMAP_CLIENTS", "50"))
MASTER_GROWTH_KB = 4096
IDLE_TIME = 10  # smtp_session_idle_time: an idle reused pre-login process ends after it


class Client(threading.Thread):
    def __init__(self, m, index, deadline):
        super().__init__(daemon=True)
        self.m, self.index, self.deadline = m, index, deadline
        self.errors = []
        self.ops = 0

    def fail(self, what):
        self.errors.append(f"{type(self).__name__} {self.index}: {what}"[:300])

    def run(self):
        while time.monotonic() < self.deadline and len(self.errors) < 5:
            try:
                self.session()
            except Exception as e:  # every failure is a finding, whatever its type
                self.fail(repr(e))


class SmtpClient(Client):
    def session(self):
        cert, sender, rcpt = (("pro", PRO, PRO2) if self.index % 2 == 0
                              else ("pro2", PRO2, PRO))
        s = submission(self.m, cert, timeout=60)
        try:
            for i in range(3):
                _, raw = message(sender, rcpt, f"load {self.index}.{i}",
                                 f"load test message {self.index} {i}\r\n" * 20)
                refused = s.sendmail(sender, [rcpt], raw)
                if refused:
                    self.fail(f"refused {refused}")
                self.ops += 1
            s.quit()
        except smtplib.SMTPResponseException as e:
            self.fail(f"{e.smtp_code} {e.smtp_error!r}")
            s.close()


class ImapClient(Client):
    def check(self, typ, data, what):
        if typ != "OK":
            self.fail(f"{what}: {typ} {data!r}")
        self.ops += 1
        return typ == "OK"

    def session(self):
        user = PRO2 if self.index % 2 == 0 else PRO
        # Mostly certificate logins: 50 Argon2id password checks at once would only
        # measure the CPU (0.3 s each here), not contention; every 10th uses a password.
        if self.index % 10 == 0:
            c = imap_login(self.m, user, PASSWORDS[user], timeout=60)
        else:
            c = imap_login(self.m, user, cert=CERT_OF[user], timeout=60)
        try:
            for _ in range(5):
                if time.monotonic() >= self.deadline:
                    break
                typ, data = c.select("INBOX")
                if not self.check(typ, data, "SELECT"):
                    break
                exists = int(data[0] or 0)
                self.check(*c.fetch("1:*", "(FLAGS)") if exists else ("OK", None), "FETCH FLAGS")
                self.check(*c.uid("SEARCH", None, "UNSEEN"), "UID SEARCH")
                if exists:
                    self.check(*c.fetch(str(exists), "(BODY.PEEK[])"), "FETCH BODY")
                    self.check(*c.store(str(exists), "+FLAGS", "(\\Seen)"), "STORE")
                self.check(*c.noop(), "NOOP")
            c.logout()
        except imaplib.IMAP4.error as e:
            self.fail(f"NO/BAD {e}")
            try:
                c.shutdown()
            except OSError:
                pass


def test_load_50_smtp_50_imap(mss, tmp_path):
    require_binaries("smtpd", "imapd", "mssctl")
    import_directory(mss, tmp_path)
    mss.set(max_sessions=300, max_sessions_per_ip=300, smtp_session_idle_time=IDLE_TIME)
    mss.start("smtpd")
    mss.start("imapd")
    masters = {d: p.pid for d, p in mss.procs.items()}
    baseline = {d: set(group_pids(pid)) for d, pid in masters.items()}

    # One message in each mailbox so that IMAP clients have something to read.
    for cert, sender, rcpt in (("pro", PRO, PRO2), ("pro2", PRO2, PRO)):
        s = submission(mss, cert)
        s.sendmail(sender, [rcpt], message(sender, rcpt, "seed", "seed\r\n")[1])
        s.quit()

    deadline = time.monotonic() + SECONDS
    clients = ([SmtpClient(mss, i, deadline) for i in range(SMTP_CLIENTS)]
               + [ImapClient(mss, i, deadline) for i in range(IMAP_CLIENTS)])
    for c in clients:
        c.start()
    time.sleep(min(5, SECONDS / 4))
    rss_start = {d: rss_kb(pid) for d, pid in masters.items()}
    peak_children = {d: 0 for d in masters}
    while time.monotonic() < deadline:
        for d, pid in masters.items():
            peak_children[d] = max(peak_children[d], len(group_pids(pid)) - 1)
        time.sleep(0.5)
    for c in clients:
        c.join(timeout=120)
    rss_end = {d: rss_kb(pid) for d, pid in masters.items()}

    errors = [e for c in clients for e in c.errors]
    smtp_ops = sum(c.ops for c in clients if isinstance(c, SmtpClient))
    imap_ops = sum(c.ops for c in clients if isinstance(c, ImapClient))
    summary = (f"{SECONDS}s: {smtp_ops} messages, {imap_ops} IMAP commands, "
               f"peak sessions {peak_children}, master RSS kB {rss_start} -> {rss_end}")
    print(summary)
    assert not [c for c in clients if c.is_alive()], "clients hung: " + summary
    locked = [e for e in errors if "locked" in e.lower()]
    assert not locked, f"'database is locked' reached clients: {locked[:5]}"
    assert not errors, f"{len(errors)} errors: {errors[:10]}\n{summary}"
    assert smtp_ops > 0 and imap_ops > 0, summary
    for d in masters:
        assert rss_end[d] - rss_start[d] <= MASTER_GROWTH_KB, f"{d} master grew: {summary}"

    # Every session ends once its client has gone; what is left is idle reused processes
    # (submission's pre-login processes, its session processes kept for their account),
    # and they end after smtp_session_idle_time.
    login_uid = pwd.getpwnam("nobody").pw_uid  # login_user's default
    for d, pid in masters.items():
        with open(f"/proc/{pid}/status") as f:  # and the daemons' user, the master's
            uids = {login_uid, next(int(l.split()[1]) for l in f if l.startswith("Uid:"))}

        def busy():
            return sorted(p for p in set(group_pids(pid)) - baseline[d] if not idle_reused(p, uids))
        assert wait_until(lambda: not busy(), 20), f"{d}: sessions left behind: {busy()}"
    for d, pid in masters.items():
        assert wait_until(lambda: set(group_pids(pid)) <= baseline[d], IDLE_TIME + 20), \
            f"{d}: idle processes outlived smtp_session_idle_time: {sorted(set(group_pids(pid)) - baseline[d])}"
    for d, pid in masters.items():
        mss.stop(d)
        assert wait_until(lambda: not group_pids(pid), 10), f"{d}: processes after stop"
