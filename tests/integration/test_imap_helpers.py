"""Helpers (no tests) for the mss-imapd integration tests: logged-in imaplib clients, a raw
line-level client for exact replies and bad input, and test messages."""
import imaplib
import re
import socket
import ssl
import time
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import SMTP

from conftest import CERT_OF, PASSWORDS


def starttls_client(mss, user=None, cert=None):
    """imaplib over STARTTLS on imap_listen, logged in as user when given (with their
    certificate, if they have one: a professional's password alone never logs in)."""
    c = imaplib.IMAP4("127.0.0.1", mss.port("imap"), timeout=30)
    c.starttls(ssl_context=mss.client_context(cert or CERT_OF.get(user)))
    if user:
        c.login(user, PASSWORDS[user])
    return c


def tls_client(mss, user=None, cert=None):
    """imaplib over implicit TLS on imaps_listen."""
    c = imaplib.IMAP4_SSL("127.0.0.1", mss.port("imaps"),
                          ssl_context=mss.client_context(cert or CERT_OF.get(user)),
                          timeout=30)
    if user:
        c.login(user, PASSWORDS[user])
    return c


def multipart_message(subject="Compte rendu", n=0):
    """A multipart/mixed message: text part, HTML alternative, PDF and binary attachments."""
    msg = MIMEMultipart("mixed")
    msg["From"] = "Dr Martin <dr.martin@pro.mss.test>"
    msg["To"] = "146026322000196@patient.mss.test"
    msg["Cc"] = "labo@pro.mss.test"
    msg["Subject"] = subject
    msg["Date"] = "Tue, 03 Mar 2026 10:00:00 +0100"
    msg["Message-ID"] = f"<test-{n}@pro.mss.test>"
    msg.attach(MIMEText(f"Bonjour,\nvoici le compte rendu {n}.\n", "plain", "utf-8"))
    pdf = MIMEApplication(b"%PDF-1.4\n" + bytes(range(256)) * 8 + b"\n%%EOF\n", "pdf")
    pdf.add_header("Content-Disposition", "attachment", filename="cr.pdf")
    msg.attach(pdf)
    bin_part = MIMEApplication(bytes(range(256)) * 3, "octet-stream")
    bin_part.add_header("Content-Disposition", "attachment", filename="data.bin")
    msg.attach(bin_part)
    return msg.as_bytes(policy=SMTP)


def simple_message(n, size=0):
    body = (f"Message number {n}\r\n" + ("x" * 70 + "\r\n") * (size // 72)).encode()
    return (f"From: dr.martin@pro.mss.test\r\nTo: 146026322000196@patient.mss.test\r\n"
            f"Subject: message {n}\r\nMessage-ID: <m{n}@pro.mss.test>\r\n"
            f"Date: Tue, 03 Mar 2026 10:00:00 +0100\r\n\r\n").encode() + body


class RawImap:
    """A line-level IMAP client over TLS (implicit or STARTTLS) for exact assertions."""

    def __init__(self, mss, implicit=True, starttls=True, cert=None, timeout=15):
        self.mss = mss
        port = mss.port("imaps" if implicit else "imap")
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = sock
        if implicit:
            self.sock = mss.client_context(cert).wrap_socket(sock, server_hostname="localhost")
        self.buf = b""
        self.greeting = self.readline()
        if not implicit and starttls:
            self.send(b"S0 STARTTLS\r\n")
            assert self.readline().startswith(b"S0 OK")
            self.sock = mss.client_context(cert).wrap_socket(sock, server_hostname="localhost")

    def send(self, data):
        self.sock.sendall(data)

    def readline(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; got " + repr(self.buf[-300:]))
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_until_tagged(self, tag):
        """Returns (untagged lines and literals, tagged line)."""
        lines = []
        while True:
            line = self.readline()
            m = re.search(rb"\{(\d+)\}$", line)
            if m:
                n = int(m.group(1))
                while len(self.buf) < n:
                    chunk = self.sock.recv(65536)
                    if not chunk:
                        raise EOFError("closed in literal")
                    self.buf += chunk
                lit, self.buf = self.buf[:n], self.buf[n:]
                lines.append(line)
                lines.append(lit)
                continue
            if line.startswith(tag.encode() + b" "):
                return lines, line
            lines.append(line)

    def cmd(self, tag, text):
        if isinstance(text, str):
            text = text.encode()
        self.send(tag.encode() + b" " + text + b"\r\n")
        return self.read_until_tagged(tag)

    def login(self, user):
        _, t = self.cmd("L1", f'LOGIN "{user}" "{PASSWORDS[user]}"')
        assert t.startswith(b"L1 OK"), t

    def closed(self, timeout=5):
        """True when the server closes the connection (reads and drops anything else)."""
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if not self.sock.recv(65536):
                    return True
        except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --- raw sessions of the patient: what test_imap_first_select and test_imap_reselect share


def patient_session(imapd):
    """A RawImap logged in as the patient."""
    from conftest import PATIENT
    r = RawImap(imapd)
    r.login(PATIENT)
    return r


def ok_cmd(r, tag, text):
    """Sends one command; asserts its tagged OK; returns its untagged lines."""
    lines, t = r.cmd(tag, text)
    assert t.startswith(tag.encode() + b" OK"), (text, lines, t)
    return lines


def append_with_flags(r, tag, flags, n):
    """APPENDs simple_message(n) to INBOX with the flags given (a non-synchronising literal)."""
    msg = simple_message(n)
    r.send(f"{tag} APPEND INBOX ({flags}) {{{len(msg)}+}}\r\n".encode() + msg + b"\r\n")
    lines, t = r.read_until_tagged(tag)
    assert t.startswith(tag.encode() + b" OK"), (lines, t)
