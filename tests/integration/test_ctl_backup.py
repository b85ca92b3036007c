"""mssctl backup DIR (issue 16): a consistent copy taken while the daemons run, under
load, restored as doc/operations.md says, and every acknowledged message read back."""
import imaplib
import os
import pwd
import shutil
import subprocess
import threading
import time

import pytest

from conftest import Mss, PASSWORDS, PATIENT, PATIENT2
from test_privileges import unprivileged  # noqa: F401 (fixture)
from test_imap_helpers import starttls_client

# mssctl backup copies a SQLite store only (PostgreSQL has its own tools: operations.md)
pytestmark = pytest.mark.sqlite_only


class Appender(threading.Thread):
    """APPENDs to user's INBOX until stopped; with expunge, deletes each message again
    right away (so blobs are being removed while the backup runs)."""

    def __init__(self, mss, user, expunge=False):
        super().__init__(daemon=True)
        self.mss, self.user, self.expunge = mss, user, expunge
        self.acked = []  # (time acknowledged, subject, body)
        self.stop = threading.Event()
        self.error = None

    def run(self):
        try:
            c = starttls_client(self.mss, self.user)
            c.select("INBOX")
            n = 0
            while not self.stop.is_set():
                n += 1
                subject = f"{self.user.split('@')[0]}-{n}"
                body = (f"Subject: {subject}\r\n\r\n" + f"line {n}\r\n" * (n % 50 + 1)).encode()
                typ, _ = c.append("INBOX", None, None, body)
                assert typ == "OK"
                self.acked.append((time.monotonic(), subject, body))
                if self.expunge:
                    c.store("1:*", "+FLAGS", "(\\Deleted)")
                    c.expunge()
            c.logout()
        except Exception as e:  # reported by the test
            self.error = e


def wait_for(cond, *threads, timeout=120):
    deadline = time.monotonic() + timeout
    while not cond():
        assert all(t.error is None for t in threads), [t.error for t in threads]
        assert time.monotonic() < deadline, "the load did not run"
        time.sleep(0.05)


def read_all(m, user):
    """Subject -> full message, for every message of user's INBOX."""
    c = imaplib.IMAP4("127.0.0.1", m.port("imap"), timeout=60)
    c.starttls(ssl_context=m.client_context())
    c.login(user, PASSWORDS[user])
    c.select("INBOX", readonly=True)
    typ, data = c.uid("FETCH", "1:*", "(BODY.PEEK[])")
    assert typ == "OK", data
    out = {}
    for item in data:
        if isinstance(item, tuple):
            raw = item[1]
            subject = raw.split(b"\r\n", 1)[0].decode().removeprefix("Subject: ")
            out[subject] = raw
    c.logout()
    return out


def test_backup_under_load_restores_every_acknowledged_message(imapd, tmp_path, pki):
    m = imapd
    writer, expunger = Appender(m, PATIENT), Appender(m, PATIENT2, expunge=True)
    writer.start()
    expunger.start()
    wait_for(lambda: len(writer.acked) >= 5 and len(expunger.acked) >= 2, writer, expunger)
    started = time.monotonic()
    dest = tmp_path / "backup"
    r = m.ctl("backup", dest)
    n = len(writer.acked)
    wait_for(lambda: len(writer.acked) > n, writer, expunger)  # the load outlived the backup
    writer.stop.set()
    expunger.stop.set()
    writer.join(60)
    expunger.join(60)
    assert writer.error is None and expunger.error is None, (writer.error, expunger.error)
    assert "blobs" in r.stdout and "MANIFEST" in r.stdout
    before = [(s, b) for t, s, b in writer.acked if t < started]
    assert len(before) >= 5, "the load did not run"
    assert len(writer.acked) > len(before), "no message was written during the backup"

    check = subprocess.run(["sha256sum", "-c", "--quiet", "MANIFEST"], cwd=dest,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    # the database alone: no WAL, shared memory or group commit file of the copy
    assert sorted(p.name for p in dest.iterdir()) == ["MANIFEST", "blobs", "keys", "mss.db", "run"]

    # Restore as doc/operations.md says: the backup is a data_dir; copy it into place.
    restored = Mss(tmp_path / "restored", pki)
    shutil.copytree(dest, restored.data_dir, symlinks=True)
    (restored.data_dir / "MANIFEST").unlink()
    try:
        assert restored.ctl("config", "check").returncode == 0
        assert restored.ctl("audit", "verify").returncode == 0
        restored.start("imapd")
        got = read_all(restored, PATIENT)
        sent = {s: b for _, s, b in writer.acked}
        for subject, body in before:  # acknowledged before the backup began: all there
            assert got.get(subject) == body, subject
        for subject, raw in got.items():  # and whatever is there reads back whole
            assert sent[subject] == raw, subject
        read_all(restored, PATIENT2)  # the expunged mailbox's survivors read back too
    finally:
        restored.stop_all()


def test_backup_holds_blobs_kept_in_rows(mss, tmp_path, pki):
    """Delivered messages whose blobs are in their rows (store_inline_blob_max) come
    with the database copy; the larger one's file is linked, copied and in MANIFEST; the
    restored data_dir reads both back."""
    from test_smtp_delivery import MSG, inbox_bodies, send_one
    large = MSG + (b"y" * 76 + b"\r\n") * 1000  # over the default 64K: a file
    mss.start("smtpd")
    for body in (MSG, large):
        assert send_one(mss, body=body)[1][0] == 250
    assert mss.sql("SELECT count(*) FROM blobs WHERE data IS NOT NULL") == [(1,)]
    dest = tmp_path / "backup"
    r = mss.ctl("backup", dest)
    assert "database, 1 blobs" in r.stdout, r.stdout
    check = subprocess.run(["sha256sum", "-c", "--quiet", "MANIFEST"], cwd=dest,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert len([line for line in (dest / "MANIFEST").read_text().splitlines() if " blobs/" in line]) == 1
    restored = Mss(tmp_path / "restored", pki)
    shutil.copytree(dest, restored.data_dir, symlinks=True)
    (restored.data_dir / "MANIFEST").unlink()
    try:
        bodies = inbox_bodies(restored, PATIENT)
        assert len(bodies) == 2 and bodies[0].endswith(MSG) and bodies[1].endswith(large)
    finally:
        restored.stop_all()


def test_backup_refuses_a_folder_in_use(mss, tmp_path):
    dest = tmp_path / "used"
    dest.mkdir()
    (dest / "something").write_text("x")
    r = mss.ctl("backup", dest, check=False)
    assert r.returncode == 1 and "exists and is not empty" in r.stderr
    assert (dest / "something").read_text() == "x"
    r = mss.ctl("backup", "relative/dir", check=False)
    assert r.returncode == 2
    r = mss.ctl("backup", check=False)
    assert r.returncode == 2


def test_backup_is_audited_and_private(mss, tmp_path):
    dest = tmp_path / "b"
    mss.ctl("backup", dest)
    assert (dest / "mss.db").stat().st_mode & 0o077 == 0
    assert (dest / "keys" / "master.key").stat().st_mode & 0o077 == 0
    assert dest.stat().st_mode & 0o077 == 0
    actions = [r[0] for r in mss.sql("SELECT action FROM audit_log ORDER BY seq")]
    assert actions[-1] == "admin.backup"


def test_backup_as_root_with_a_daemon_user_holds_the_keys(unprivileged):
    """In production data_dir belongs to the daemons' user and keys/master.key to root,
    0400: mssctl backup, run as root, still copies every key (without the master key a
    backup's blobs cannot be read)."""
    m = unprivileged
    keys = sorted(p.name for p in (m.data_dir / "keys").iterdir() if p.is_file())
    assert "master.key" in keys and (m.data_dir / "keys" / "master.key").stat().st_uid == 0
    room = m.root / "backups"  # where the daemons' user may make the new folder
    room.mkdir()
    nobody = pwd.getpwnam("nobody")
    os.chown(room, nobody.pw_uid, nobody.pw_gid)
    out = room / "backup"
    r = m.ctl("backup", str(out), check=False)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (out / "keys").iterdir()) == keys, r.stdout
