"""Memory of an idle IMAP session (issue 15, imap_idle_release in mss.conf(5)): once the
client has said nothing for imap_idle_release, the session process gives back what it
cached for the last commands (the decrypted message, SQLite's page cache, malloc's free
pages), and the next command works as before."""
import imaplib
import os
import smtplib
import time

import pytest

from conftest import PASSWORDS, PATIENT, PRO
from test_privsep import children, comm

COPIES = 8000  # rows enough to fill SQLite's page cache (cache_size, 2 MB by default)
# An idle session's own memory with such a mailbox selected: about 1.2 MB once released
# (mostly the selected mailbox's list), 3.4 MB with the page cache kept.
IDLE_KB = 2400


def deliver(m, subject):
    s = smtplib.SMTP("127.0.0.1", m.port("submission"), timeout=60)
    s.starttls(context=m.client_context("pro"))
    s.ehlo()
    assert s.docmd("AUTH", "EXTERNAL =")[0] == 235
    s.sendmail(PRO, [PATIENT], f"Subject: {subject}\r\n\r\nbody of {subject}\r\n".encode())
    s.quit()


def fill_inbox(m):
    """One delivered message, its row copied COPIES times in SQL (the same blob): a
    mailbox whose list spans many database pages, made in a second."""
    deliver(m, "first")
    m.sql("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
          "INSERT INTO messages (mailbox_id, uid, modseq, internaldate, size, flags, keywords,"
          " blob_id, sent_date, header_size, envelope, bodystructure, body) "
          "SELECT mailbox_id, uid + i, modseq + i, internaldate, size, flags, keywords, blob_id,"
          " sent_date, header_size, envelope, bodystructure, body FROM messages, n", COPIES)
    m.sql("UPDATE mailboxes SET uidnext = uidnext + ?, highestmodseq = highestmodseq + ?"
          " WHERE id = (SELECT mailbox_id FROM messages LIMIT 1)", COPIES, COPIES)


def session_process(m):
    """The logged-in session process: the daemon's child that is not chrooted (the
    pre-login process is) and not one of its agents (named otherwise)."""
    for p in children(m.procs["imapd"].pid):
        try:
            if comm(p) == "mss-imapd" and os.readlink(f"/proc/{p}/root") == "/":
                return p
        except OSError:
            pass
    return None


def private_kb(pid):
    """Private (not shared) resident memory of pid, in kB."""
    kb = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                kb += int(line.split()[1])
    return kb


def sanitized(pid):
    """True for a sanitizer build: its allocator keeps freed memory (quarantine), so
    what the process gives back is not seen in its resident memory."""
    with open(f"/proc/{pid}/maps") as f:
        return "libasan" in f.read()


def wait_private_below(pid, kb, timeout=30):
    """Waits until pid's own memory is below kb; returns what it last was. Under a
    sanitizer build, waits long enough for the release to have run (so that it runs
    under the sanitizers) and returns 0."""
    if sanitized(pid):
        time.sleep(3)
        return 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = private_kb(pid)
        if got < kb:
            return got
        time.sleep(0.2)
    return private_kb(pid)


def read_all(c):
    """What a client's message list shows of every message: all of the list's rows
    go through the session's page cache."""
    assert c.select("INBOX")[0] == "OK"
    typ, data = c.fetch("1:*", "(ENVELOPE)")
    assert typ == "OK" and len(data) == COPIES + 1


@pytest.mark.sqlite_only
def test_idle_session_releases_its_caches(mss):
    m = mss
    m.start("smtpd")
    m.start("imapd")
    fill_inbox(m)
    c = imaplib.IMAP4_SSL("127.0.0.1", m.port("imaps"), ssl_context=m.client_context(None), timeout=60)
    try:
        assert c.login(PATIENT, PASSWORDS[PATIENT])[0] == "OK"
        read_all(c)
        pid = session_process(m)
        assert pid is not None
        got = wait_private_below(pid, IDLE_KB)
        assert got < IDLE_KB, f"idle session process {pid} keeps {got} kB of its own"
        # the session goes on as before: the same mailbox selected, the list read again
        typ, data = c.fetch("%d" % (COPIES + 1), "(BODY.PEEK[TEXT])")
        assert typ == "OK" and data[0][1] == b"body of first\r\n"
        read_all(c)
    finally:
        c.logout()


@pytest.mark.sqlite_only
def test_idle_command_releases_at_once(mss):
    """IDLE (RFC 2177) is the client saying it waits: the caches go as it starts, even
    with an imap_idle_release of a day."""
    m = mss
    m.set(imap_idle_release="1d")
    m.start("smtpd")
    m.start("imapd")
    fill_inbox(m)
    c = imaplib.IMAP4_SSL("127.0.0.1", m.port("imaps"), ssl_context=m.client_context(None), timeout=60)
    try:
        assert c.login(PATIENT, PASSWORDS[PATIENT])[0] == "OK"
        read_all(c)
        pid = session_process(m)
        tag = c._new_tag()
        c.send(tag + b" IDLE\r\n")
        assert c.readline().startswith(b"+ ")
        got = wait_private_below(pid, IDLE_KB)
        assert got < IDLE_KB, f"session process {pid} in IDLE keeps {got} kB of its own"
        c.send(b"DONE\r\n")
        assert c.readline().startswith(tag + b" OK")
        read_all(c)
    finally:
        c.logout()
