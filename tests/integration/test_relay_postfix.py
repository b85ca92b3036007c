"""Postfix as the other operator (issue 13, DESIGN.md "Relay out to the trust space"):
MSS's queue process relays to a private Postfix from Debian's package (bench/benchlib's
harness: its own main.cf and master.cf in a temporary directory, loopback only, STARTTLS
required with a client certificate verified against the test CA, virtual(8) delivering
into a Maildir), whose certificate is the operator's that MSS's trust list names. The
message arrives whole (dot-stuffed lines, 8-bit text, the headers MSS added), with
CRLF line ends only; a submission that tries SMTP smuggling (a bare CR or LF before a
dot, CVE-2023-51764) is refused on the way in, so Postfix never sees a second message."""
import os
import socket
import ssl
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest

from conftest import PRO
from test_policy_smtp import as_professional
from test_relay_peers import PEER_DOMAIN, REMOTE_PRO, relay_via, wait_for, waiting

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from benchlib.postfix import Postfix, available  # noqa: E402


def start_postfix(mss, extra=None):
    """A running Postfix serving other-operator.test (main.cf's extra settings added),
    and MSS (smtpd started) relaying that domain to it."""
    if os.geteuid() != 0:
        pytest.skip("a private Postfix master needs root (CI runs the suite as root)")
    assert available(), "Postfix is missing: scripts/install-deps installs it"
    pf = Postfix(str(mss.pki), maxproc=5).configure([REMOTE_PRO], domain=PEER_DOMAIN, cert="operator",
                                                    extra=extra)
    try:
        pf.start()
        # rsa.crt has the clientAuth purpose Postfix checks (server.crt, the default
        # relay_cert here, is a server certificate only: "Client certificate not trusted")
        relay_via(mss, pf.ports["starttls"], relay_cert=mss.pki / "rsa.crt", relay_key=mss.pki / "rsa.key")
        yield pf
    finally:
        pf.remove()


@pytest.fixture
def postfix_peer(mss):
    yield from start_postfix(mss)


@pytest.fixture
def postfix_holding_reports(mss):
    """As postfix_peer, but Postfix keeps what it would send onward (its DSNs to MSS's
    senders) in its deferred queue, where postcat reads them."""
    yield from start_postfix(mss, {"defer_transports": "smtp"})


def maildir_messages(pf):
    found = []
    for root, _dirs, files in os.walk(pf.vmail):
        if os.path.basename(root) == "new":
            found += [Path(root, f).read_bytes() for f in sorted(files)]
    return found


def test_relayed_message_arrives_whole_at_postfix(postfix_peer, mss):
    pf = postfix_peer
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = PRO, REMOTE_PRO, "Compte rendu"
    body = "Bonjour confrère,\n.\n..deux points\n.un point\nRésultats joints.\n"
    m.set_content(body, cte="8bit")
    with as_professional(mss) as s:
        assert s.send_message(m, from_addr=PRO, to_addrs=[REMOTE_PRO]) == {}
    assert wait_for(lambda: pf.delivered() == 1, 60), (waiting(mss), pf.log_tail(20))
    assert waiting(mss) == []
    (raw,) = maildir_messages(pf)
    # Postfix's Maildir holds LF line ends; the text and the dot lines came through whole
    text = raw.decode("utf-8")
    assert "Subject: Compte rendu" in text
    assert "\n.\n..deux points\n.un point\nRésultats joints.\n" in text, text
    assert "\r" not in text  # no bare CR survived anywhere on the way
    # the hop MSS -> Postfix was TLS with MSS's client certificate (Postfix's Received)
    assert "(using TLSv1.3" in text or "(using TLSv1.2" in text, text
    rows = mss.sql("SELECT result FROM audit_log WHERE action = 'relay.deliver'")
    assert len(rows) == 1 and rows[0][0].startswith("ok: 250"), rows


def smtp_session(mss):
    """A raw submission session (STARTTLS, the professional's certificate, EXTERNAL),
    so that bytes go out exactly as written."""
    raw = socket.create_connection(("127.0.0.1", mss.port("submission")), timeout=30)
    f = raw.makefile("rb")

    def reply(stream):
        lines = []
        while True:
            line = stream.readline()
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                return b"".join(lines)
    assert reply(f).startswith(b"220")
    raw.sendall(b"EHLO client.test\r\n")
    reply(f)
    raw.sendall(b"STARTTLS\r\n")
    assert reply(f).startswith(b"220")
    ctx = mss.client_context("pro")
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    t = ctx.wrap_socket(raw)
    tf = t.makefile("rb")
    t.sendall(b"EHLO client.test\r\n")
    reply(tf)
    t.sendall(b"AUTH EXTERNAL =\r\n")
    assert reply(tf).startswith(b"235")
    return t, tf, reply


def test_smuggling_never_reaches_postfix(postfix_peer, mss):
    pf = postfix_peer
    hidden = (f"MAIL FROM:<{PRO}>\r\nRCPT TO:<{REMOTE_PRO}>\r\nDATA\r\n"
              f"From: {PRO}\r\nTo: {REMOTE_PRO}\r\nSubject: smuggled\r\n\r\nfaux\r\n.\r\n").encode()
    # each refused whole with 550 5.5.2 (a bare LF also ends the session, as Postfix's
    # smtpd does: one session each)
    for smuggled in (b"\n.\r\n", b"\r.\r\n", b"\r\n.\r"):
        t, tf, reply = smtp_session(mss)
        t.sendall(f"MAIL FROM:<{PRO}>\r\n".encode())
        assert reply(tf).startswith(b"250")
        t.sendall(f"RCPT TO:<{REMOTE_PRO}>\r\n".encode())
        assert reply(tf).startswith(b"250")
        t.sendall(b"DATA\r\n")
        assert reply(tf).startswith(b"354")
        t.sendall(f"From: {PRO}\r\nTo: {REMOTE_PRO}\r\nSubject: visible\r\n\r\nvrai\r\n".encode()
                  + smuggled + hidden + b"fin\r\n.\r\n")
        answers = reply(tf)
        assert answers.startswith(b"550 5.5.2"), (smuggled, answers)
        t.close()
    assert mss.sql("SELECT count(*) FROM queue_rcpts") == [(0,)]
    # Postfix got nothing at all: not the visible message, not a smuggled one
    assert not wait_for(lambda: pf.delivered() > 0, 3)
    assert maildir_messages(pf) == []


def test_dsn_parameters_reach_postfix(postfix_holding_reports, mss):
    """RFC 3461 end to end: Postfix offers DSN, MSS passes RET, ENVID, NOTIFY and ORCPT
    on, and Postfix honours them: NOTIFY=SUCCESS makes it write a success DSN to MSS's
    sender (its log names it), carrying the ENVID and ORCPT MSS was given."""
    import re
    import subprocess
    pf = postfix_holding_reports
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = PRO, REMOTE_PRO, "Avec accuse"
    m.set_content("Bonjour confrere.\n")
    with as_professional(mss) as s:
        s.send_message(m, PRO, [REMOTE_PRO], mail_options=["RET=HDRS", "ENVID=QQ314159+2Bx"],
                       rcpt_options=["NOTIFY=SUCCESS", "ORCPT=rfc822;Dr+2BRemote@" + PEER_DOMAIN])
    assert wait_for(lambda: pf.delivered() == 1, 60), (waiting(mss), pf.log_tail(20))
    # a next hop with DSN reports success itself: MSS sends no "relayed" report
    assert mss.sql("SELECT count(*) FROM audit_log WHERE action = 'dsn.success'") == [(0,)]

    def notification():
        found = re.search(r"sender delivery status notification: ([0-9A-F]+)", pf.log_tail(200))
        return found.group(1) if found else None
    assert wait_for(lambda: notification() is not None, 30), pf.log_tail(30)
    report = subprocess.run(["postcat", "-c", pf.conf, "-bh", "-q", notification()], capture_output=True,
                            text=True, timeout=60)
    assert report.returncode == 0, report.stderr
    text = report.stdout
    assert "Original-Envelope-Id: QQ314159+x" in text, text
    assert re.search(r"Original-Recipient: rfc822; ?Dr\+Remote@" + re.escape(PEER_DOMAIN), text), text
    assert "Action: delivered" in text and f"<{PRO}>" in text, text
