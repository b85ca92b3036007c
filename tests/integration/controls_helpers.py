"""Helpers (no tests) for the tests of the patient's controls at every edge (issue 11):
sending as a professional or a patient over submission, reading every message of an
account over IMAP, the integration reports a sender received, the Historique folder."""
import email
import email.policy
import imaplib
import io
import smtplib
import sys
import time
import zipfile
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from conftest import CERT_OF, PASSWORDS, PATIENT, PRO
from test_imap_helpers import RawImap

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import xdm  # noqa: E402  (tests/xdm.py)

SECRET = "Résultat-réservé-aux-soignants-7f3a9c"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"


def pdf(n):
    """A small PDF whose bytes differ with n."""
    return b"%PDF-1.4\n% document " + str(n).encode() + b"\n" + bytes(range(256)) * 2 + b"\n%%EOF\n"


def send(m, msg, user=PRO, rcpts=None):
    """Submits msg as user (password over STARTTLS, with user's certificate if any)."""
    with smtplib.SMTP("127.0.0.1", m.port("submission"), timeout=120) as s:
        s.starttls(context=m.login_context(user))
        s.login(user, PASSWORDS[user])
        s.send_message(msg, from_addr=user, to_addrs=rcpts)


def message(subject="Compte rendu", to=PATIENT, sender=PRO, text="Bonjour, voici le document.\n"):
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="pro.mss.test")
    msg.set_content(text)
    return msg


def invisible_cda(title=SECRET):
    return xdm.cda_document(code="18748-4", title=title)


def invisible_entry(cda=None, name="DOC0001.XML"):
    return {"name": name, "data": cda or invisible_cda(), "type_code": "18748-4",
            "type_label": "CR d'imagerie", "confidentiality": ["N", "INVISIBLE_PATIENT"]}


def xdm_with_padding(documents, padding):
    """An XDM archive with `padding` extra small files besides its documents."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("README.TXT", "IHE XDM archive\r\n")
        z.writestr("IHE_XDM/SUBSET01/METADATA.XML", xdm.metadata_xml(documents))
        for d in documents:
            z.writestr("IHE_XDM/SUBSET01/" + d["name"], d["data"])
        for i in range(padding):
            z.writestr(f"IHE_XDM/SUBSET01/PAD{i:04d}.TXT", f"padding {i}\r\n")
    return out.getvalue()


def imap(m, user=PATIENT):
    c = imaplib.IMAP4("127.0.0.1", m.port("imap"), timeout=60)
    c.starttls(ssl_context=m.login_context(user))
    typ, _ = c.login(user, PASSWORDS[user])
    assert typ == "OK"
    return c


def session(m, user):
    """A raw line-level IMAP session, logged in (a professional with their certificate)."""
    r = RawImap(m, cert=CERT_OF.get(user))
    r.login(user)
    return r


def names(c, pattern="*"):
    typ, data = c.list('""', pattern)
    assert typ == "OK"
    return [line.decode().rsplit(" ", 1)[-1].strip('"') for line in data if line]


def raw_messages(c, mailbox):
    typ, _ = c.select('"%s"' % mailbox, readonly=True)
    if typ != "OK":
        return []
    typ, data = c.uid("SEARCH", None, "ALL")
    out = []
    for uid in data[0].split():
        typ, parts = c.uid("FETCH", uid, "(BODY.PEEK[])")
        assert typ == "OK"
        out.extend(p[1] for p in parts if isinstance(p, tuple))
    return out


def parsed(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


def decoded_payloads(raw):
    for part in parsed(raw).walk():
        if not part.is_multipart():
            payload = part.get_payload(decode=True)
            if payload is None:  # message/rfc822 and the like
                payload = part.as_bytes()
            yield payload


def everything_of(m, user=PATIENT):
    """[(mailbox, raw)] for every message of every mailbox of user."""
    c = imap(m, user)
    try:
        return [(box, raw) for box in names(c) for raw in raw_messages(c, box)]
    finally:
        c.logout()


def assert_never_seen(m, needles, user=PATIENT):
    """No message of user holds any needle, raw or decoded (base64, QP, nested)."""
    seen = everything_of(m, user)
    assert seen, "the account holds no message at all"
    for box, raw in seen:
        for needle in needles:
            assert needle not in raw, (box, needle[:40])
            for payload in decoded_payloads(raw):
                assert needle not in payload, (box, needle[:40])
    return seen


def inbox_copy(m, marker, user=PATIENT):
    """The one message of user's INBOX whose raw bytes hold marker."""
    for _ in range(100):
        c = imap(m, user)
        try:
            got = [r for r in raw_messages(c, "INBOX") if marker in r]
        finally:
            c.logout()
        if got:
            assert len(got) == 1
            return got[0]
        time.sleep(0.1)
    raise AssertionError(f"no message with {marker!r} in {user}'s INBOX")


def ko_reports(m, user=PRO, wait=True):
    """The integration error reports in user's INBOX, parsed."""
    for _ in range(30 if wait else 1):
        c = imap(m, user)
        try:
            ko = [msg for msg in map(parsed, raw_messages(c, "INBOX"))
                  if str(msg["Subject"]).startswith("[KO Intégration système !]")]
        finally:
            c.logout()
        if ko or not wait:
            return ko
        time.sleep(0.2)
    return []


def report_text(ko):
    return "\n".join(p.get_content() for p in ko.walk() if p.get_content_type() == "text/plain")


def vault_rows(m, patient=PATIENT):
    return m.sql("SELECT id, class, type_code, mime, masked_ps, invisible_patient, store_user, mailbox, uid "
                 "FROM vault_document WHERE patient = ? ORDER BY id", patient)


def last_seq(m):
    return m.sql("SELECT coalesce(max(seq), 0) FROM audit_log")[0][0]


def history(m, patient=PATIENT):
    """Every Historique message of patient, parsed, in UID order."""
    c = imap(m, patient)
    try:
        c.noop()
        return [parsed(r) for r in raw_messages(c, "Historique")]
    finally:
        c.logout()


def history_text(msg):
    return msg.get_body().get_content()
