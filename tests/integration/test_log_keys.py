"""One vocabulary of log keys (doc/architecture.md, "Log lines"): every line that an
mss-imapd session writes names its session (session=, as mss-smtpd's lines do), one id
per connection. (error= not why=, qid= not queue_id=: scripts/check-style.)"""
import imaplib
import re
import time

from conftest import PATIENT
from test_imap_helpers import starttls_client, tls_client

IMAP_LINE = re.compile(r"event=(imap\.[a-z_.]+)(.*)$")
SESSION = re.compile(r"^ session=([0-9a-f]{8}) ")


def imap_lines(log):
    """(pid, event, rest) of each imap.* line of the log."""
    out = []
    for line in log.splitlines():
        m = IMAP_LINE.search(line)
        if m:
            pid = re.search(r"\[(\d+)\]", line).group(1)
            out.append((pid, m.group(1), m.group(2)))
    return out


def test_every_imap_line_carries_its_session(imapd):
    for client in (starttls_client, tls_client):
        c = client(imapd, PATIENT)
        c.select("INBOX")
        c.logout()
    bad = imaplib.IMAP4("127.0.0.1", imapd.port("imap"), timeout=30)
    bad.shutdown()  # connect and go: a session with nothing but its connect line
    time.sleep(0.5)
    lines = imap_lines(imapd.log("imapd"))
    assert len({pid for pid, _, _ in lines}) >= 3, lines
    ids = {}
    for pid, event, rest in lines:
        m = SESSION.match(rest)
        assert m, f"{event} has no session=: {rest}"
        ids.setdefault(pid, set()).add(m.group(1))
    # one id per process; a different one for each connection, whose two processes
    # (pre-login and session, issue 12) share it
    assert all(len(v) == 1 for v in ids.values()), ids
    per_id = {}
    for v in ids.values():
        per_id[next(iter(v))] = per_id.get(next(iter(v)), 0) + 1
    assert all(n <= 2 for n in per_id.values()), ids

