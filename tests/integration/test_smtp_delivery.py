"""mss-smtpd delivery: 250 only once the message is durable (it survives kill -9 of the
session and the master right after the 250, and of many sessions whose commits share
fdatasyncs in the middle of a load), whether its blob is kept in its row
(store_inline_blob_max) or in a file; a store failure gives 451 4.3.0 and
leaves nothing behind; every transaction is in the audit log without content; the
stored message carries Return-Path, Received and a Message-ID."""
import imaplib
import os
import subprocess
import time

import pytest

from conftest import BINARIES, PATIENT, PATIENT2, PRO, PASSWORDS
from test_smtp_protocol import MSG, inbox_count, login


def send_one(m, rcpts=(PATIENT,), body=MSG):
    c = login(m)
    assert c.cmd("MAIL FROM:<%s>" % PRO)[0] == 250
    for r in rcpts:
        assert c.cmd("RCPT TO:<%s>" % r)[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(body + b".\r\n")
    return c, c.reply()


def blobs_kept(m):
    """Every blobs row has its bytes, in the row or in its file; returns how many are
    kept in their rows."""
    in_rows = 0
    for name, in_row in m.sql("SELECT name, data IS NOT NULL FROM blobs"):
        if in_row:
            in_rows += 1
        else:
            assert (m.data_dir / "blobs" / name[:2] / name).is_file(), name
    return in_rows


def inbox_bodies(m, user):
    """Every message of user's INBOX read back whole through mss-imapd (started here)."""
    m.start("imapd")
    c = imaplib.IMAP4("127.0.0.1", m.port("imap"), timeout=60)
    c.starttls(ssl_context=m.client_context())
    c.login(user, PASSWORDS[user])
    c.select("INBOX", readonly=True)
    typ, data = c.uid("FETCH", "1:*", "(BODY.PEEK[])")
    assert typ == "OK", data
    c.logout()
    return [item[1] for item in data if isinstance(item, tuple)]


def test_acknowledged_message_survives_kill9(mss):
    for i in range(3):
        mss.start("smtpd")
        c, (code, text) = send_one(mss, rcpts=(PATIENT, PATIENT2))
        assert code == 250, text
        mss.kill9("smtpd")  # master and session, right after the 250
        c.close()
        assert inbox_count(mss, PATIENT) == i + 1
        assert inbox_count(mss, PATIENT2) == i + 1
        assert blobs_kept(mss) == 2 * (i + 1)  # small: in their rows
    bodies = inbox_bodies(mss, PATIENT2)
    assert len(bodies) == 3 and all(b.endswith(MSG) for b in bodies)


def test_kill9_during_concurrent_load_keeps_every_acknowledged_message(mss):
    """Group commit (lib/sql_sqlite_sync.c): eight sessions deliver at once, their
    commits sharing fdatasyncs, and kill -9 of the master and every session (whoever
    was syncing for the others among them) in the middle: every 250 has its message
    and its blob, at most the messages in flight are stored besides, the audit chain
    holds, and the restarted daemon goes on with the same sync file."""
    import smtplib
    import struct
    import threading

    mss.start("smtpd")
    acked, stop = [], threading.Event()
    body = b"Subject: load\r\n\r\n" + (b"x" * 76 + b"\r\n") * 52

    def sender():
        try:
            with smtplib.SMTP("127.0.0.1", mss.port("submission"), timeout=30) as s:
                s.starttls(context=mss.client_context("pro"))
                s.ehlo("load.test")
                assert s.docmd("AUTH", "EXTERNAL =")[0] == 235
                while not stop.is_set():
                    s.sendmail(PRO, [PATIENT], body)
                    acked.append(1)
        except (OSError, smtplib.SMTPException):
            pass  # the kill -9 below

    threads = [threading.Thread(target=sender) for _ in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(acked) < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    mss.kill9("smtpd")
    stop.set()
    for t in threads:
        t.join(60)
    assert len(acked) >= 40
    stored = inbox_count(mss, PATIENT)
    assert len(acked) <= stored <= len(acked) + len(threads)
    assert blobs_kept(mss) == stored  # 4 KiB each: every blob in its row
    if not mss.settings.get("store"):  # SQLite's group commit (PostgreSQL has its own)
        with open(mss.data_dir / "mss.db-sync", "rb") as f:
            started, done, failed, commits, syncs = struct.unpack("<5Q", f.read(48)[8:48])
        # the committer puts several sessions' deliveries in one commit, at most one
        # of each session (it waits for its answer before its next message)
        assert failed == 0 and commits * len(threads) >= len(acked) and 0 < syncs <= commits
    assert mss.ctl("audit", "verify", check=False).returncode == 0
    mss.start("smtpd")
    c, (code, text) = send_one(mss)
    assert code == 250, text
    assert inbox_count(mss, PATIENT) == stored + 1
    bodies = inbox_bodies(mss, PATIENT)  # every one decrypts whole
    assert len(bodies) == stored + 1
    assert sum(b.endswith(body) for b in bodies) == stored


FAIL_WAL_SYNC = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
/* fdatasync of a SQLite WAL fails (EIO) while the file named by
 * MSS_TEST_FAIL_WAL_SYNC exists: a disk that lost the commit's pages. */
int fdatasync(int fd)
{
	static int (*real)(int);
	if (real == NULL)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	const char *trigger = getenv("MSS_TEST_FAIL_WAL_SYNC");
	char link[64], target[4096];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, target, sizeof target);
	if (trigger != NULL && access(trigger, F_OK) == 0 && n > 4 && memcmp(target + n - 4, "-wal", 4) == 0) {
		errno = EIO;
		return -1;
	}
	return real(fd);
}
"""


@pytest.mark.sqlite_only  # the WAL and its group commit are SQLite's (lib/sql_sqlite_sync.c)
def test_failed_wal_sync_never_acknowledges_and_keeps_every_blob(smtpd, tmp_path):
    """Group commit's failure path: the WAL's fdatasync fails (an LD_PRELOAD shim of
    fdatasync; the kernel's would be the same). The commit was made but may not be on
    disk, so the session ends without a 250 (the client retries) instead of taking it
    for undone and removing the message's blobs; the daemon goes on, and once the disk
    is back every stored row still has its blob and the audit chain holds."""
    import shutil
    import smtplib

    if "asan" in subprocess.run(["ldd", str(BINARIES["smtpd"])], capture_output=True,
                                text=True).stdout:
        pytest.skip("the sanitizers' runtime must come first in LD_PRELOAD")
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler for the fdatasync shim")
    (tmp_path / "failsync.c").write_text(FAIL_WAL_SYNC)
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(tmp_path / "failsync.so"),
                    str(tmp_path / "failsync.c"), "-ldl"], check=True)
    trigger = tmp_path / "fail-now"
    smtpd.stop("smtpd")
    smtpd.wrapper = ["env", "LD_PRELOAD=%s" % (tmp_path / "failsync.so"),
                     "MSS_TEST_FAIL_WAL_SYNC=%s" % trigger]
    try:
        smtpd.start("smtpd")
        c, (code, text) = send_one(smtpd)
        assert code == 250, text
        c = login(smtpd)
        assert c.cmd("MAIL FROM:<%s>" % PRO)[0] == 250
        assert c.cmd("RCPT TO:<%s>" % PATIENT)[0] == 250
        assert c.cmd("DATA")[0] == 354
        trigger.write_text("")  # the delivery's commit is the first to sync
        c.send(MSG + b".\r\n")
        try:
            code = c.reply()[0]
        except (OSError, smtplib.SMTPException, EOFError, AssertionError):
            code = None  # the connection ended: no answer to the DATA
        assert code != 250
        assert "sql.sync_failed" in smtpd.log("smtpd")
        trigger.unlink()
        c, (code, text) = send_one(smtpd)
        assert code == 250, text
    finally:
        smtpd.stop("smtpd")
        smtpd.wrapper = []
    # the failed one may be stored (its commit was made): a retry makes it twice, never
    # a row without its body
    assert 2 <= inbox_count(smtpd, PATIENT) <= 3
    blobs_kept(smtpd)
    assert smtpd.ctl("audit", "verify", check=False).returncode == 0


def test_small_in_its_row_large_in_a_file(smtpd):
    """store_inline_blob_max: a message whose encrypted blob fits is kept in its row (no
    file), a larger one in a file, and with 0 every one in a file; all read back."""
    large = MSG + (b"x" * 76 + b"\r\n") * 1000  # over the default 64K
    for body in (MSG, large):
        assert send_one(smtpd, body=body)[1][0] == 250
    smtpd.stop("smtpd")
    smtpd.set(store_inline_blob_max=0)
    smtpd.start("smtpd")
    assert send_one(smtpd)[1][0] == 250
    rows = smtpd.sql("SELECT data IS NOT NULL FROM blobs ORDER BY id")
    assert [bool(r[0]) for r in rows] == [True, False, False]
    assert blobs_kept(smtpd) == 1
    files = [p for p in (smtpd.data_dir / "blobs").rglob("*") if p.is_file()]
    assert len(files) == 2
    bodies = inbox_bodies(smtpd, PATIENT)
    assert [b.endswith(x) for b, x in zip(bodies, (MSG, large, MSG))] == [True] * 3


def test_store_failure_gives_451_and_leaves_nothing(smtpd):
    blobs = smtpd.data_dir / "blobs"
    away = smtpd.data_dir / "blobs.away"
    blobs.rename(away)
    blobs.write_text("not a directory\n")
    large = MSG + (b"x" * 76 + b"\r\n") * 1000  # a file (a small one would go in its row)
    try:
        c, (code, text) = send_one(smtpd, body=large)
        assert (code, text[0][:5]) == (451, "4.3.0")
        assert smtpd.sql("SELECT count(*) FROM messages")[0][0] == 0
        assert smtpd.sql("SELECT count(*) FROM blobs")[0][0] == 0
        # The session goes on after a temporary failure.
        assert c.cmd("NOOP")[0] == 250
    finally:
        blobs.unlink()
        away.rename(blobs)
    leftovers = [p for p in blobs.rglob("*") if p.is_file()]
    assert leftovers == []
    c, (code, text) = send_one(smtpd)
    assert code == 250
    rows = smtpd.sql("SELECT result FROM audit_log WHERE action = 'smtp.deliver'")
    assert any(r[0].startswith("refused: 451") for r in rows), rows
    assert any(r[0] == "ok" for r in rows), rows


def test_audit_records_transactions_without_content(smtpd):
    c, (code, _) = send_one(smtpd, body=b"Subject: secret diagnosis\r\n\r\nconfidential text\r\n")
    assert code == 250
    # A refused message (too big) is recorded by smtpd with its reason.
    smtpd.stop("smtpd")
    smtpd.set(max_message_size="2K")
    smtpd.start("smtpd")
    c, (code, text) = send_one(smtpd, body=b"Subject: big\r\n\r\n" + (b"x" * 100 + b"\r\n") * 30)
    assert (code, text[0][:5]) == (552, "5.3.4")
    rows = smtpd.sql("SELECT actor, auth, action, target, detail, result, peer FROM audit_log")
    data = [r for r in rows if r[2] == "smtp.data"]
    assert data and data[0][0] == PRO and data[0][5].startswith("refused: 552 5.3.4")
    assert "size=" in data[0][4] and data[0][6] == "127.0.0.1"
    delivered = [r for r in rows if r[2] == "smtp.deliver"]
    assert delivered and delivered[0][3] == PATIENT and delivered[0][5] == "ok"
    for r in rows:
        text = " ".join(str(x) for x in r)
        assert "secret diagnosis" not in text and "confidential" not in text
    assert smtpd.ctl("audit", "verify", check=False).returncode == 0


def test_trace_headers_in_stored_message(smtpd):
    """Read back through mss-imapd: Return-Path, Received and the added Message-ID."""
    c, (code, text) = send_one(smtpd)
    assert code == 250
    qid = text[0].rsplit(" ", 1)[1]
    smtpd.start("imapd")
    im = imaplib.IMAP4_SSL("127.0.0.1", smtpd.port("imaps"), ssl_context=smtpd.login_context(PATIENT))
    im.login(PATIENT, PASSWORDS[PATIENT])
    im.select("INBOX")
    typ, data = im.fetch("1", "(BODY.PEEK[HEADER])")
    assert typ == "OK"
    header = data[0][1].decode()
    assert header.startswith("Return-Path: <%s>\r\nReceived: from client.test ([127.0.0.1])" % PRO)
    assert f"with ESMTPSA id {qid}" in header
    assert f"Message-ID: <{qid}@mx.mss.test>" in header
    assert "\r\nDate: " in header
    im.logout()


def test_concurrent_senders_all_stored(smtpd):
    """Ten sessions at once (STARTTLS, client certificate, EXTERNAL), five messages each:
    every 250 has its stored message and nothing else is stored."""
    import smtplib
    import threading

    ok, failures = [], []
    body = b"Subject: load\r\n\r\n" + (b"x" * 76 + b"\r\n") * 52

    def sender(n):
        try:
            with smtplib.SMTP("127.0.0.1", smtpd.port("submission"), timeout=60) as s:
                s.starttls(context=smtpd.client_context("pro"))
                s.ehlo("load.test")
                assert s.docmd("AUTH", "EXTERNAL =")[0] == 235
                for _ in range(5):
                    s.sendmail(PRO, [PATIENT], body)
                    ok.append(n)
        except Exception as e:  # reported below
            failures.append(repr(e))

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert failures == []
    assert len(ok) == 50
    assert inbox_count(smtpd, PATIENT) == 50
