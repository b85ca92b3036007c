"""mss-imapd with real clients other than imaplib: curl (imaps://), openssl s_client
-starttls imap, mbsync syncing 1,000 messages byte for byte, and a message delivered by
mss-smtpd fetched over IMAP byte for byte."""
import re
import shutil
import smtplib
import socket
import subprocess
import time

import pytest

from conftest import PATIENT, PASSWORDS, PRO
from test_imap_helpers import multipart_message, simple_message, tls_client


def need(tool):
    assert shutil.which(tool), f"{tool} is not installed (scripts/install-deps)"


def test_curl_imaps(imapd):
    need("curl")
    msg = multipart_message("curl test")
    c = tls_client(imapd, PATIENT)
    c.append("INBOX", None, None, msg)
    c.logout()
    base = f"imaps://127.0.0.1:{imapd.port('imaps')}"
    common = ["curl", "-sS", "--max-time", "30", "--cacert", str(imapd.pki / "ca.crt"),
              "--user", f"{PATIENT}:{PASSWORDS[PATIENT]}"]
    r = subprocess.run(common + [f"{base}/"], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert b'"/" INBOX' in r.stdout or b'"/" "INBOX"' in r.stdout
    r = subprocess.run(common + [f"{base}/INBOX;UID=1"], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == msg
    r = subprocess.run(common + ["--user", f"{PATIENT}:wrong", f"{base}/INBOX;UID=1"],
                       capture_output=True, timeout=60)
    assert r.returncode != 0


def test_openssl_starttls(imapd):
    need("openssl")
    c = tls_client(imapd, PATIENT)
    c.append("INBOX", None, None, simple_message(1))
    c.logout()
    script = (f'a1 LOGIN "{PATIENT}" "{PASSWORDS[PATIENT]}"\n'
              "a2 SELECT INBOX\na3 FETCH 1 (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])\na4 LOGOUT\n")
    r = subprocess.run(["openssl", "s_client", "-quiet", "-ign_eof", "-crlf", "-starttls", "imap",
                        "-connect", f"127.0.0.1:{imapd.port('imap')}",
                        "-CAfile", str(imapd.pki / "ca.crt"), "-verify_return_error"],
                       input=script.encode(), capture_output=True, timeout=60)
    out = r.stdout.decode(errors="replace")
    assert "a1 OK" in out, out + r.stderr.decode(errors="replace")
    assert "a2 OK [READ-WRITE]" in out
    assert "Subject: message 1" in out and "a3 OK" in out
    assert "* BYE" in out and "a4 OK" in out


def append_many(mss, user, msgs):
    c = tls_client(mss, user)
    # imaplib writes a literal and its closing CRLF separately: without TCP_NODELAY the
    # CRLF waits for the server's delayed ACK (~40 ms per APPEND), a client artifact.
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        for m in msgs:
            typ, _ = c.append("INBOX", None, None, m)
            assert typ == "OK"
    finally:
        c.logout()


def test_mbsync_1000_messages(imapd, tmp_path):
    need("mbsync")
    msgs = []
    for i in range(1000):
        if i % 50 == 0:
            msgs.append(multipart_message(f"multipart {i}", n=i))
        else:
            msgs.append(simple_message(i, size=(i * 37) % 5000))
    t0 = time.monotonic()
    append_many(imapd, PATIENT, msgs)
    print(f"appended 1000 messages in {time.monotonic() - t0:.1f} s")
    maildir = tmp_path / "maildir"
    maildir.mkdir()
    rc = tmp_path / "mbsyncrc"
    rc.write_text(f"""IMAPAccount mss
Host localhost
Port {imapd.port('imaps')}
User {PATIENT}
Pass {PASSWORDS[PATIENT]}
SSLType IMAPS
CertificateFile {imapd.pki / 'ca.crt'}
PipelineDepth 50

IMAPStore remote
Account mss

MaildirStore local
Path {maildir}/
Inbox {maildir}/INBOX

Channel sync
Far :remote:
Near :local:
Patterns INBOX
Sync Pull
Create Near
SyncState *
""")
    t0 = time.monotonic()
    r = subprocess.run(["mbsync", "-c", str(rc), "sync"], capture_output=True, timeout=600)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    files = sorted((maildir / "INBOX" / "new").iterdir()) + sorted((maildir / "INBOX" / "cur").iterdir())
    assert len(files) == 1000
    # mbsync stores messages with Unix line ends and adds its own X-TUID tracking
    # header (its documented behaviour); the server's bytes are CRLF. Compare after
    # undoing those two, every other byte as served.
    got = sorted(re.sub(rb"(?m)^X-TUID: [^\n]*\n", b"", f.read_bytes(), count=1) for f in files)
    want = sorted(m.replace(b"\r\n", b"\n") for m in msgs)
    assert got == want
    assert time.monotonic() - t0 < 300
    # a second run finds nothing new
    r = subprocess.run(["mbsync", "-c", str(rc), "sync"], capture_output=True, timeout=300)
    assert r.returncode == 0


def test_smtpd_delivery_fetched_byte_for_byte(mss):
    mss.start("smtpd")
    mss.start("imapd")
    original = multipart_message("delivered by smtpd", n=77)
    with smtplib.SMTP("127.0.0.1", mss.port("submission"), timeout=30) as s:
        s.starttls(context=mss.login_context(PRO))
        s.login(PRO, PASSWORDS[PRO])
        s.sendmail(PRO, [PATIENT], original)
    c = tls_client(mss, PATIENT)
    try:
        # the vault may add a notification beside it: find the message by its Message-ID
        c.select("INBOX")
        typ, data = c.search(None, "HEADER", "Message-ID", "test-77@pro.mss.test")
        assert typ == "OK" and len(data[0].split()) == 1, data
        seq = data[0].decode()
        typ, data = c.fetch(seq, "(RFC822.SIZE BODY.PEEK[])")
        fetched = data[0][1]
        size = int(data[0][0].split(b"RFC822.SIZE ")[1].split()[0])
        assert size == len(fetched)
        # the server prepends its trace header(s); the rest is the message as sent
        assert fetched.endswith(original)
        assert fetched.startswith(b"Received:") or fetched.startswith(b"Return-Path:")
        typ, data = c.fetch(seq, "(BODY.PEEK[2])")
        assert data[0][1] in original
    finally:
        c.logout()
