"""INVISIBLE_PATIENT documents: never in any of the patient's mailboxes (INBOX
included: the patient's copy has them replaced by a short note, under a new
Message-ID), never in their history; filed for professionals, who read them byte for
byte under Patients/<patient>/Documents-PS/<Class> once granted. Real smtplib and
imaplib clients."""
import base64
import email
import email.policy
import imaplib
import smtplib
import sys
import time
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest

from conftest import PASSWORDS, PATIENT, PRO, PRO2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import xdm  # noqa: E402  (tests/xdm.py)
from test_vault_filing import raw_messages  # noqa: E402

SECRET = "Résultat-réservé-aux-soignants-7f3a9c"
PDF_SECRET = b"%PDF-1.4\n% " + SECRET.encode() + b"\n" + bytes(range(256)) * 4 + b"\n%%EOF\n"


@pytest.fixture
def both(mss):
    mss.start("smtpd")
    mss.start("imapd")
    return mss


def invisible_message(to=(PATIENT,), with_pdf=True, invisible=True):
    cda = xdm.cda_document(code="18748-4", title=SECRET)
    conf = ["N", "INVISIBLE_PATIENT"] if invisible else ["N"]
    archive = xdm.build_xdm([{"name": "DOC0001.XML", "data": cda, "type_code": "18748-4",
                              "type_label": "CR d'imagerie", "confidentiality": conf}])
    msg = EmailMessage()
    msg["From"] = PRO
    msg["To"] = ", ".join(to)
    msg["Subject"] = "XDM/1.0/DDM+CR d'imagerie"
    msgid = make_msgid(domain="pro.mss.test")
    msg["Message-ID"] = msgid
    msg.set_content("Bonjour, vous trouverez le compte rendu en pièce jointe.\n")
    if with_pdf:
        msg.add_attachment(PDF_SECRET, maintype="application", subtype="pdf", filename="cr.pdf")
    msg.add_attachment(archive, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    return msg, msgid.strip("<>"), cda


def send(m, msg, rcpts):
    with smtplib.SMTP("127.0.0.1", m.port("submission"), timeout=30) as s:
        s.starttls(context=m.login_context(PRO))
        s.login(PRO, PASSWORDS[PRO])
        s.send_message(msg, to_addrs=list(rcpts))


def imap(m, user):
    c = imaplib.IMAP4("127.0.0.1", m.port("imap"), timeout=30)
    c.starttls(ssl_context=m.login_context(user))
    typ, _ = c.login(user, PASSWORDS[user])
    assert typ == "OK"
    return c


def names(c, pattern="*"):
    typ, data = c.list('""', pattern)
    assert typ == "OK"
    return [line.decode().rsplit(" ", 1)[-1].strip('"') for line in data if line]


every_message = raw_messages


def decoded_parts(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    for part in msg.walk():
        if not part.is_multipart():
            yield part.get_payload(decode=True) or b""


def wait_filed(m, n=1):
    for _ in range(100):
        rows = m.sql("SELECT count(*) FROM vault_document WHERE patient = ? AND invisible_patient = 1", PATIENT)
        if rows[0][0] >= n:
            return
        time.sleep(0.1)
    raise AssertionError("invisible document not filed")


def assert_patient_never_sees(m, msgid, cda):
    needles = [cda, PDF_SECRET, SECRET.encode(), base64.b64encode(cda)[:60], base64.b64encode(PDF_SECRET)[:60],
               msgid.encode()]
    c = imap(m, PATIENT)
    try:
        boxes = names(c)
        assert boxes and "INBOX" in boxes
        seen = 0
        for box in boxes:
            for raw in every_message(c, box):
                seen += 1
                for needle in needles:
                    assert needle not in raw, (box, needle[:40])
                for payload in decoded_parts(raw):
                    assert SECRET.encode() not in payload and PDF_SECRET not in payload, box
                    assert b"PK\x03\x04" not in payload, box  # no archive at all
            typ, data = c.search(None, "HEADER", "Message-ID", f'"{msgid}"')
            assert typ != "OK" or not data[0].split(), box
        assert seen >= 1
    finally:
        c.logout()


def test_invisible_never_reaches_the_patient(both):
    m = both
    msg, msgid, cda = invisible_message()
    send(m, msg, [PATIENT])
    wait_filed(m, 1)  # the CDA, with the PDF beside it as its readable copy
    assert_patient_never_sees(m, msgid, cda)
    # the patient still gets the message, with a note in place of the documents
    c = imap(m, PATIENT)
    inbox = every_message(c, "INBOX")
    c.logout()
    copies = [r for r in inbox if b"Bonjour, vous trouverez" in r]
    assert len(copies) == 1
    copy = email.message_from_bytes(copies[0], policy=email.policy.default)
    assert copy["Message-ID"].startswith("<copie-patient.")
    texts = [p.get_content() for p in copy.walk() if p.get_content_type() == "text/plain"]
    assert sum("réservée aux professionnels de santé" in t for t in texts) == 1, texts
    leaves = [p for p in copy.walk() if not p.is_multipart()]
    assert [p.get_content_type() for p in leaves] == ["text/plain", "text/plain"]
    assert not any(p.get_filename() for p in leaves)
    # not notified, not in the history
    hist = m.ctl("history", PATIENT).stdout
    assert "Imagerie" not in hist and "Documents-PS" not in hist


def test_granted_professional_reads_it_byte_for_byte(both):
    m = both
    msg, msgid, cda = invisible_message()
    send(m, msg, [PATIENT])
    wait_filed(m, 1)
    pro = imap(m, PRO)
    # no grant: neither listed nor readable, and the refusal stays out of the patient's history
    assert not any("Documents-PS" in n for n in names(pro))
    typ, _ = pro.select(f'"Patients/{PATIENT}/Documents-PS/Imagerie"', readonly=True)
    assert typ == "NO"
    pro.logout()

    pat = imap(m, PATIENT)
    typ, _ = pat.setacl("Documents", PRO, "lr")
    assert typ == "OK"
    pat.logout()

    pro = imap(m, PRO)
    shared = [n for n in names(pro) if n.startswith(f"Patients/{PATIENT}/Documents-PS/")]
    assert shared == [f"Patients/{PATIENT}/Documents-PS/Imagerie"], names(pro)
    before = m.sql("SELECT coalesce(max(seq), 0) FROM audit_log")[0][0]
    typ, data = pro.select(f'"{shared[0]}"', readonly=True)
    assert typ == "OK" and int(data[0]) == 1  # one document: the PDF is its readable copy
    found = set()
    for i in (1,):
        typ, parts = pro.fetch(str(i), "(BODY[])")
        raw = next(p[1] for p in parts if isinstance(p, tuple))
        doc = email.message_from_bytes(raw, policy=email.policy.default)
        for att in doc.iter_attachments():
            found.add(att.get_payload(decode=True))
    assert cda in found and PDF_SECRET in found
    # read-only for the professional too
    typ, data = pro.store("1", "+FLAGS", "(\\Deleted)")
    assert typ == "NO"
    status = pro.status(f'"{shared[0]}"', "(MESSAGES)")
    assert b"MESSAGES 1" in status[1][0]
    pro.logout()
    rows = m.sql("SELECT action, patient, target FROM audit_log WHERE seq > ? AND actor = ?", before, PRO)
    assert any(r[0] == "vault.open" for r in rows) and any(r[0] == "vault.read" for r in rows), rows
    assert all(r[1] == "" for r in rows), rows  # never in the patient's history
    # another professional, not granted, still cannot
    pro2 = imap(m, PRO2)
    typ, _ = pro2.select(f'"{shared[0]}"', readonly=True)
    assert typ == "NO"
    pro2.logout()
    # nor the patient, by the shared name
    pat = imap(m, PATIENT)
    typ, _ = pat.select(f'"{shared[0]}"', readonly=True)
    assert typ == "NO"
    pat.logout()
    # a block withdraws the professional's access at once
    m.ctl("access", "block", PATIENT, PRO)
    pro = imap(m, PRO)
    typ, _ = pro.select(f'"{shared[0]}"', readonly=True)
    assert typ == "NO"
    pro.logout()
    assert m.ctl("audit", "verify", check=False).returncode == 0


def test_other_recipients_get_the_original(both):
    m = both
    msg, msgid, cda = invisible_message()
    send(m, msg, [PATIENT, PRO2])
    wait_filed(m, 1)
    assert_patient_never_sees(m, msgid, cda)
    c = imap(m, PRO2)
    inbox = every_message(c, "INBOX")
    c.logout()
    originals = [r for r in inbox if msgid.encode() in r]
    assert len(originals) == 1
    payloads = list(decoded_parts(originals[0]))
    assert PDF_SECRET in payloads


def test_visible_documents_leave_the_message_untouched(both):
    m = both
    msg, msgid, cda = invisible_message(invisible=False)
    send(m, msg, [PATIENT])
    c = imap(m, PATIENT)
    for _ in range(50):
        inbox = every_message(c, "INBOX")
        mine = [r for r in inbox if msgid.encode() in r]
        if mine:
            break
        time.sleep(0.1)
    c.logout()
    assert len(mine) == 1
    assert PDF_SECRET in list(decoded_parts(mine[0]))


def test_invisible_alone_in_a_single_part_message(both):
    """The whole body is the archive (no multipart): the copy is the note alone."""
    m = both
    cda = xdm.cda_document(code="18748-4", title=SECRET)
    archive = xdm.build_xdm([{"name": "DOC0001.XML", "data": cda, "type_code": "18748-4",
                              "confidentiality": ["INVISIBLE_PATIENT"]}])
    msg = EmailMessage()
    msg["From"] = PRO
    msg["To"] = PATIENT
    msg["Subject"] = "XDM/1.0/DDM"
    msgid = make_msgid(domain="pro.mss.test")
    msg["Message-ID"] = msgid
    msg.set_content(archive, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    send(m, msg, [PATIENT])
    wait_filed(m, 1)
    assert_patient_never_sees(m, msgid.strip("<>"), cda)
    c = imap(m, PATIENT)
    inbox = every_message(c, "INBOX")
    c.logout()
    note = [r for r in inbox if b"copie-patient." in r]
    assert len(note) == 1
    parsed = email.message_from_bytes(note[0], policy=email.policy.default)
    assert parsed.get_content_type() == "text/plain"
    assert "réservée aux professionnels" in parsed.get_content()
    assert parsed["Subject"] == "XDM/1.0/DDM"
