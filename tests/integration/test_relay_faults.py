"""Relay faults (issue 13): a peer that answers garbage, very long or multi-line
replies, closes in the middle of DATA, or stalls (per-stage timeouts, RFC 5321
4.5.3.2). The peer is a small scripted SMTP server here (real TLS with the listed
operator's certificate, so that every fault happens after our checks passed); each
fault is retried or failed as the rules say, never a crash, and the queue process goes
on delivering afterwards."""
import socket
import ssl
import threading
import time

import pytest

from conftest import PRO
from test_policy_smtp import as_professional
from test_relay_peers import REMOTE_PRO, message, queue_pid, relay_via, wait_for, waiting


class Peer:
    """Speaks SMTP with STARTTLS; after TLS, `script(conn, line)` answers each command
    (returns the reply bytes, None to close, or "stall" to go silent)."""

    def __init__(self, pki, script):
        self.script = script
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(str(pki / "operator.crt"), str(pki / "operator.key"))
        self.commands = []
        self.data = []
        self.stop = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(c,), daemon=True).start()

    def session(self, c):
        try:
            f = c.makefile("rb")
            c.sendall(b"220 peer.test ESMTP\r\n")
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.strip().upper()
                if cmd.startswith(b"EHLO"):
                    c.sendall(b"250-peer.test\r\n250 STARTTLS\r\n")
                elif cmd == b"STARTTLS":
                    c.sendall(b"220 go ahead\r\n")
                    break
                else:
                    c.sendall(b"503 5.5.1 STARTTLS first\r\n")
            t = self.ctx.wrap_socket(c, server_side=True)
            f = t.makefile("rb")
            while True:
                line = f.readline()
                if not line:
                    return
                self.commands.append(line.strip())
                if line.strip().upper() == b"DATA" and self.script is not None:
                    out = self.script(t, line.strip())
                    if out == "read-some-then-close":
                        f.read(10)
                        return
                    if out is None:
                        return
                    t.sendall(out)
                    if out.startswith(b"354"):
                        body = []
                        while True:
                            l = f.readline()
                            if not l or l == b".\r\n":
                                break
                            body.append(l)
                        self.data.append(b"".join(body))
                        t.sendall(b"250 2.0.0 ok\r\n")
                    continue
                out = self.script(t, line.strip()) if self.script else None
                if out == "stall":
                    time.sleep(30)
                    return
                if out is None:
                    return
                t.sendall(out)
        except (OSError, ssl.SSLError):
            pass
        finally:
            c.close()

    def close(self):
        self.stop = True
        self.sock.close()


def ok_script(conn, line):
    u = line.upper()
    if u.startswith(b"EHLO"):
        return b"250-peer.test\r\n250 8BITMIME\r\n"
    if u == b"DATA":
        return b"354 go\r\n"
    if u == b"QUIT":
        return b"221 bye\r\n"
    return b"250 2.0.0 ok\r\n"


def take_data(conn):
    """Answers DATA with 354 and reads the message up to its final dot: its bytes, or
    None when the relay closed the connection first."""
    conn.sendall(b"354 go\r\n")
    got = b""
    while not got.endswith(b"\r\n.\r\n"):
        chunk = conn.recv(65536)
        if not chunk:
            return None
        got += chunk
    return got


def on_command(prefix, answer):
    """A script that answers the command starting with prefix with answer (bytes to send,
    or a callable(conn) returning what the Peer takes), and every other as ok_script."""
    def script(conn, line):
        if line.upper().startswith(prefix):
            return answer(conn) if callable(answer) else answer
        return ok_script(conn, line)
    return script


@pytest.fixture
def relay_to(mss):
    """A started instance relaying other-operator.test to a scripted peer (keys: config
    keys for relay_via)."""
    made = []

    def make(script, **keys):
        peer = Peer(mss.pki, script)
        made.append(peer)
        relay_via(mss, peer.port, **{"relay_timeout": 2, **keys})
        with as_professional(mss) as s:
            assert s.send_message(message(PRO, REMOTE_PRO), from_addr=PRO, to_addrs=[REMOTE_PRO]) == {}
        return peer

    yield make
    for p in made:
        p.close()


def deferred_with(m, text, timeout=30):
    assert wait_for(lambda: any(r[1] >= 1 for r in waiting(m)), timeout), m.log("smtpd")[-2000:]
    (rcpt, attempts, reply), = waiting(m)
    assert text in reply, reply
    assert queue_pid(m) is not None  # the queue process goes on
    return reply


def test_scripted_peer_delivers(relay_to, mss):
    peer = relay_to(ok_script)
    assert wait_for(lambda: waiting(mss) == []), waiting(mss)
    assert len(peer.data) == 1 and b"Bonjour" in peer.data[0]
    assert peer.commands[1].upper().startswith(b"MAIL FROM:<" + PRO.upper().encode())


def test_garbage_reply_is_retried(relay_to, mss):
    relay_to(on_command(b"MAIL", b"\x00\xffgarbage without a code\r\n"))
    deferred_with(mss, "no usable reply")


def test_long_multiline_permanent_reply_fails_cut_and_clean(relay_to, mss):
    lines = [f"550-5.1.1 {'x' * 400}\x07" for _ in range(100)] + ["550 5.1.1 no such user"]
    relay_to(on_command(b"RCPT", ("\r\n".join(lines) + "\r\n").encode()))
    assert wait_for(lambda: waiting(mss) == []), waiting(mss)
    rows = mss.sql("SELECT result FROM audit_log WHERE action = 'relay.fail'")
    assert len(rows) == 1 and rows[0][0].startswith("refused: 550 5.1.1"), rows
    assert "\x07" not in rows[0][0] and len(rows[0][0]) < 600 and rows[0][0].endswith("..."), rows


def test_endless_reply_line_is_cut_off(relay_to, mss):
    def endless(conn):
        conn.sendall(b"250-" + b"y" * 200000)
        return "stall"
    relay_to(on_command(b"MAIL", endless))
    deferred_with(mss, "reply too long")


def test_close_in_the_middle_of_data_is_retried(relay_to, mss):
    def close_mid_data(conn):
        conn.sendall(b"354 go\r\n")
        return "read-some-then-close"
    relay_to(on_command(b"DATA", close_mid_data))
    deferred_with(mss, "no usable reply")


def test_stalled_peer_times_out(relay_to, mss):
    t0 = time.time()
    relay_to(on_command(b"EHLO", "stall"))
    reply = deferred_with(mss, "timed out")
    assert time.time() - t0 < 25, reply


def read_inbox(m, user):
    """The messages of user's INBOX, read over IMAP (a real client)."""
    from test_imap_helpers import starttls_client
    m.start("imapd")
    c = starttls_client(m, user)
    c.select("INBOX")
    typ, data = c.uid("SEARCH", None, "ALL")
    out = []
    for uid in data[0].split():
        typ, d = c.uid("FETCH", uid, "(RFC822)")
        out.append(d[0][1])
    c.logout()
    return out


def test_permanent_failure_bounces_to_the_sender_in_both_languages(relay_to, mss):
    relay_to(on_command(b"RCPT", b"550-5.1.1 first line\r\n550 5.1.1 no such user: dr.remote\r\n"))
    assert wait_for(lambda: waiting(mss) == []), waiting(mss)
    assert wait_for(lambda: mss.sql("SELECT count(*) FROM audit_log WHERE action = 'relay.bounce'")[0][0] == 1)
    (raw,) = read_inbox(mss, PRO)
    import email
    from email import policy
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    assert msg["Auto-Submitted"] == "auto-replied" and msg["To"] == PRO
    text, status, headers = msg.get_payload()
    body = text.get_content()
    assert "n'a pas pu être remis" in body and "could not be delivered" in body, body
    assert f"<{REMOTE_PRO}>" in body and "550 5.1.1 first line 5.1.1 no such user: dr.remote" in body, body
    assert status.get_content_type() == "message/delivery-status"
    st = raw.decode("utf-8", "replace")
    assert f"Final-Recipient: rfc822; {REMOTE_PRO}" in st and "Action: failed" in st and "Status: 5.1.1" in st, st
    assert "Diagnostic-Code: smtp; 550 5.1.1" in st and "Remote-MTA: dns; 127.0.0.1" in st, st
    assert headers.get_content_type() == "text/rfc822-headers"
    assert "Subject: Relais" in st and "Bonjour" not in st  # the header, never the body


def test_lifetime_end_bounces_and_delay_warning(relay_to, mss):
    relay_to(on_command(b"MAIL", b"451 4.3.0 try later\r\n"))
    assert wait_for(lambda: any(r[1] >= 1 for r in waiting(mss))), waiting(mss)
    # five hours old: past the delay warning, not yet past queue_lifetime (5d)
    from test_relay_queue import write_sql
    write_sql(mss, "UPDATE queue_messages SET created = created - 5 * 3600")
    mss.ctl("queue", "flush")
    assert wait_for(lambda: mss.sql("SELECT count(*) FROM audit_log WHERE action = 'relay.delay'")[0][0] == 1)
    # the mark follows the report's commit (a crash between would warn twice, never not)
    assert wait_for(lambda: mss.sql("SELECT warned FROM queue_messages") == [(1,)])
    # then past the lifetime: one failure report, the recipient leaves the queue
    write_sql(mss, "UPDATE queue_messages SET created = created - 6 * 86400")
    mss.ctl("queue", "flush")
    assert wait_for(lambda: waiting(mss) == []), waiting(mss)
    assert wait_for(lambda: mss.sql("SELECT count(*) FROM audit_log WHERE action = 'relay.bounce'")[0][0] == 1)
    msgs = read_inbox(mss, PRO)
    assert len(msgs) == 2
    delayed, failed = (m.decode("utf-8", "replace") for m in msgs)
    assert "Action: delayed" in delayed and "Status: 4.3.0" in delayed, delayed
    assert "Action: failed" in failed and "queue_lifetime" not in failed.split("Action")[0]
    # RFC 3463 X.4.7 "delivery time expired", not the last reply's 4.3.0 nor a bare 5.0.0
    assert "Status: 5.4.7" in failed and "Diagnostic-Code: smtp; 451 4.3.0" in failed, failed
    rows = mss.sql("SELECT result FROM audit_log WHERE action = 'relay.fail'")
    assert rows and "queue_lifetime passed" in rows[0][0], rows
