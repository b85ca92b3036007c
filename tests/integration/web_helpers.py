"""Helpers (no tests) for the tests of mss-webd: a small HTTPS client over
http.client with the test CA and a cookie jar, the forms' CSRF tokens read from the
pages, and a document filed in a patient's vault by a professional's real submission."""
import email
import email.policy
import html
import http.client
import imaplib
import re
import smtplib
from email.message import EmailMessage
from urllib.parse import urlencode

from conftest import PASSWORDS, PATIENT, PRO
from controls_helpers import raw_messages

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n" + bytes(range(256)) * 4 + b"\n%%EOF\n"


class Response:
    def __init__(self, r):
        self.status = r.status
        self.headers = r.headers
        self.cookies = r.headers.get_all("Set-Cookie") or []
        self.body = r.read()
        self.text = self.body.decode("utf-8", "replace")

    def csrf(self):
        """The CSRF token of the page's first form (value of the hidden field csrf)."""
        m = re.search(r'name="csrf" value="([0-9a-f]+)"', self.text)
        assert m, self.text[:2000]
        return m.group(1)


class Web:
    """One browser: its own cookies, one TLS connection reused (keep-alive)."""

    def __init__(self, m):
        self.m = m
        self.cookies = {}
        self.conn = None

    def _conn(self):
        if self.conn is None:
            self.conn = http.client.HTTPSConnection("127.0.0.1", self.m.port("web"),
                                                    context=self.m.client_context(), timeout=60)
        return self.conn

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method, path, body=None, headers=None, cookies=True):
        h = dict(headers or {})
        if cookies and self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None and "Content-Type" not in h:
            h["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in range(2):
            c = self._conn()
            try:
                c.request(method, path, body=body, headers=h)
                r = Response(c.getresponse())
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()  # the server closed an idle keep-alive connection
                if attempt == 1:
                    raise
        for line in r.cookies:
            name, _, rest = line.partition("=")
            value = rest.split(";", 1)[0]
            if "Max-Age=0" in line:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return r

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, fields):
        return self.request("POST", path, body=urlencode(fields))

    def login(self, address=PATIENT, password=None):
        page = self.get("/login")
        assert page.status == 200
        return self.post("/login", {"csrf": page.csrf(), "address": address,
                                    "password": password if password is not None else PASSWORDS[address]})


def started(m, *daemons):
    """m with these daemons started."""
    for d in daemons:
        m.start(d)
    return m


def logged_in(m, address=PATIENT):
    w = Web(m)
    r = w.login(address)
    assert r.status == 303 and r.headers["Location"] == "/documents", r.text[:2000]
    return w


def file_document(m, subject="CR de biologie", to=PATIENT, sender=PRO, filename="resultats.pdf"):
    """A professional sends a PDF laboratory report: the vault files it in
    Documents/Biologie."""
    send_document(m, PDF, "application", "pdf", filename, subject=subject, to=to, sender=sender,
                  headers={"X-MSS-INS": "O", "X-MSS-CODECDA": "11502-2"})


def send_document(m, data, maintype, subtype, filename, subject, to=PATIENT, sender=PRO, headers=None):
    """A professional's real submission (STARTTLS, AUTH) of one attached document."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    for k, v in (headers or {}).items():
        msg[k] = v
    msg.set_content("Bonjour, voici vos résultats.\n")
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    with smtplib.SMTP("127.0.0.1", m.port("submission"), timeout=60) as s:
        s.starttls(context=m.login_context(sender))
        s.login(sender, PASSWORDS[sender])
        s.send_message(msg)


def folder_messages(m, folder, user=PATIENT):
    """Every message of user's folder, parsed, over their real IMAP session ([] when the
    folder does not exist)."""
    c = imaplib.IMAP4("127.0.0.1", m.port("imap"), timeout=60)
    try:
        c.starttls(ssl_context=m.login_context(user))
        c.login(user, PASSWORDS[user])
        return [email.message_from_bytes(raw, policy=email.policy.default) for raw in raw_messages(c, folder)]
    finally:
        c.logout()


def links(page, prefix):
    """Every href of page starting with prefix, unescaped."""
    return [html.unescape(h) for h in re.findall(r'href="([^"]*)"', page.text) if html.unescape(h).startswith(prefix)]


def forms(page, action):
    """The hidden fields of every form posting to action, as dicts."""
    out = []
    for f in re.findall(r'<form method="post" action="%s">(.*?)</form>' % re.escape(action), page.text, re.S):
        out.append({html.unescape(k): html.unescape(v)
                    for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', f)})
    return out


def sql_write(m, query, *params):
    """Changes the database directly (a test's clock tricks); SQLite or PostgreSQL."""
    if m.settings.get("store"):
        m.sql(query, *params)  # commits
        return
    import sqlite3
    con = sqlite3.connect(str(m.data_dir / "mss.db"), timeout=30)
    try:
        con.execute(query, params)
        con.commit()
    finally:
        con.close()
