"""The patient's copy of a message fails closed (issue 11): a document marked
INVISIBLE_PATIENT, or one naming another patient (904), never reaches the patient's
mailboxes, however it is wrapped; whatever the server could not inspect (past the
part or archive limits, inside a forwarded message) is withheld from the patient's
copy, and the sender gets the integration report that says so. Real smtplib and
imaplib clients, the exact inputs of the issue."""
import smtplib
import time

import pytest

from conftest import PASSWORDS, PATIENT, PATIENT2, PRO, PRO2
from controls_helpers import (SECRET, assert_never_seen, decoded_payloads, everything_of, inbox_copy,
                              invisible_cda, invisible_entry, ko_reports, message, parsed, pdf,
                              report_text, send, vault_rows, xdm, xdm_with_padding)

WITHHELD = "n'ont pas été transmises au patient"


@pytest.fixture
def both(mss):
    mss.start("smtpd")
    mss.start("imapd")
    return mss


def withheld_note(raw):
    texts = [p.get_content() for p in parsed(raw).walk() if p.get_content_type() == "text/plain"]
    return any("retenue" in t or "réservée aux professionnels" in t for t in texts)


def assert_reported(m, subject, code=906):
    ko = [k for k in ko_reports(m) if subject in str(k["Subject"])]
    assert ko, "no integration report for " + subject
    assert f"[KO Intégration système !][{code}]" in str(ko[0]["Subject"])
    return report_text(ko[0])


def test_invisible_as_the_65th_mime_part(both):
    """64 document parts, then the XDM holding an INVISIBLE_PATIENT document."""
    m = both
    cda = invisible_cda()
    msg = message(subject="65 parties")
    for i in range(64):
        msg.add_attachment(pdf(i), maintype="application", subtype="pdf", filename=f"scan{i:02d}.pdf")
    msg.add_attachment(xdm.build_xdm([invisible_entry(cda)]), maintype="application", subtype="zip",
                       filename="IHE_XDM.ZIP")
    send(m, msg)
    copy = inbox_copy(m, b"65 parties")
    assert withheld_note(copy)
    assert_never_seen(m, [cda, SECRET.encode(), b"PK\x03\x04"])
    assert WITHHELD in assert_reported(m, "65 parties")


def test_invisible_as_the_65th_xdm_entry(both):
    """64 scans and the report: the 65th entry of the metadata is INVISIBLE_PATIENT."""
    m = both
    cda = invisible_cda()
    scans = [{"name": f"SCAN{i:02d}.JPG", "data": b"\xff\xd8\xff\xe0" + bytes([i]) * 300, "mime": "image/jpeg",
              "type_code": "18748-4", "title": f"scan {i}"} for i in range(64)]
    archive = xdm.build_xdm(scans + [invisible_entry(cda, name="DOC0065.XML")])
    msg = message(subject="65 entrees")
    msg.add_attachment(archive, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    send(m, msg)
    copy = inbox_copy(m, b"65 entrees")
    assert withheld_note(copy)
    assert_never_seen(m, [cda, SECRET.encode(), b"PK\x03\x04"])
    assert WITHHELD in assert_reported(m, "65 entrees")


def test_invisible_in_an_xdm_padded_to_257_files(both):
    m = both
    cda = invisible_cda()
    archive = xdm_with_padding([invisible_entry(cda)], padding=255)  # + README + METADATA = 258
    msg = message(subject="257 fichiers")
    msg.add_attachment(pdf(1), maintype="application", subtype="pdf", filename="copie.pdf")
    msg.add_attachment(archive, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    send(m, msg)
    copy = inbox_copy(m, b"257 fichiers")
    assert withheld_note(copy)
    assert_never_seen(m, [cda, SECRET.encode(), b"PK\x03\x04", pdf(1)])
    assert WITHHELD in assert_reported(m, "257 fichiers")


def test_invisible_inside_a_forwarded_message(both):
    m = both
    cda = invisible_cda()
    inner = message(subject="XDM/1.0/DDM+CR d'imagerie")
    inner.add_attachment(xdm.build_xdm([invisible_entry(cda)]), maintype="application", subtype="zip",
                         filename="IHE_XDM.ZIP")
    outer = message(subject="Transfert du compte rendu", text="Je vous transfère le message ci-joint.\n")
    outer.add_attachment(inner)
    send(m, outer)
    copy = inbox_copy(m, b"Transfert du compte rendu")
    assert b"Je vous transf" in copy or "Je vous transfère" in parsed(copy).get_body().get_content()
    assert withheld_note(copy)
    assert_never_seen(m, [cda, SECRET.encode(), b"PK\x03\x04"])
    assert WITHHELD in assert_reported(m, "Transfert du compte rendu")


def test_forwarded_message_without_documents_is_kept(both):
    m = both
    inner = message(subject="Message d'origine", text="Texte d'origine 81f2.\n")
    outer = message(subject="Transfert simple", text="Voici le message.\n")
    outer.add_attachment(inner)
    send(m, outer)
    copy = inbox_copy(m, b"Transfert simple")
    assert any(b"Texte d'origine 81f2." in p for p in decoded_payloads(copy))
    assert not withheld_note(copy)
    assert ko_reports(m, wait=False) == []


def test_904_document_leaves_the_inbox_copy(both):
    """An XDM for another patient: not filed (904), and not left in this patient's
    INBOX inside its zip, nor its PDF copy."""
    m = both
    other = xdm.cda_document(ins="279035121518989", title="Dossier de l'autre patient 5c1e")
    archive = xdm.build_xdm([{"name": "DOC0001.XML", "data": other}], ins="279035121518989")
    msg = message(subject="XDM/1.0/DDM+CR de biologie AUTRE Patient")
    msg.add_attachment(pdf(904), maintype="application", subtype="pdf", filename="copie.pdf")
    msg.add_attachment(archive, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    send(m, msg)
    assert vault_rows(m) == []
    copy = inbox_copy(m, b"AUTRE Patient")
    assert withheld_note(copy)
    assert_never_seen(m, [other, b"279035121518989", b"5c1e", b"PK\x03\x04", pdf(904)])
    assert_reported(m, "AUTRE Patient", code=904)


def test_904_standalone_cda_leaves_the_inbox_copy(both):
    m = both
    other = xdm.cda_document(ins="279035121518989", title="Lettre pour un autre 77ab")
    msg = message(subject="lettre autre patient")
    msg.add_attachment(other, maintype="text", subtype="xml", filename="lettre.xml")
    send(m, msg)
    copy = inbox_copy(m, b"lettre autre patient")
    assert withheld_note(copy)
    assert_never_seen(m, [other, b"77ab"])
    assert_reported(m, "lettre autre patient", code=904)


def test_each_patient_gets_their_own_copy(both):
    """One message for two patients, an XDM for the second: the first's copy withholds
    it, the second's keeps it (and it is filed in the second's vault)."""
    m = both
    doc = xdm.cda_document(ins="279035121518989", title="Compte rendu du patient deux 3d9a")
    archive = xdm.build_xdm([{"name": "DOC0001.XML", "data": doc}], ins="279035121518989")
    msg = message(subject="deux patients", to=f"{PATIENT}, {PATIENT2}")
    msg.add_attachment(archive, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    send(m, msg, rcpts=[PATIENT, PATIENT2, PRO2])
    assert_never_seen(m, [doc, b"3d9a", b"PK\x03\x04"], user=PATIENT)
    theirs = inbox_copy(m, b"deux patients", user=PATIENT2)
    assert any(p == archive for p in decoded_payloads(theirs))
    pro = inbox_copy(m, b"deux patients", user=PRO2)
    assert any(p == archive for p in decoded_payloads(pro))
    for _ in range(50):
        if vault_rows(m, PATIENT2):
            break
        time.sleep(0.1)
    assert len(vault_rows(m, PATIENT2)) == 1


def test_nothing_withheld_leaves_the_message_as_sent(both):
    m = both
    archive = xdm.build_xdm([{"name": "DOC0001.XML", "data": xdm.cda_document(title="visible 42c")}])
    msg = message(subject="rien a retenir")
    msg.add_attachment(archive, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    send(m, msg)
    copy = inbox_copy(m, b"rien a retenir")
    assert any(p == archive for p in decoded_payloads(copy))
    assert msg["Message-ID"].encode() in copy
    assert ko_reports(m, wait=False) == []


def test_everything_reported_is_audited_and_chain_holds(both):
    m = both
    msg = message(subject="audit 257")
    msg.add_attachment(xdm_with_padding([invisible_entry()], padding=255), maintype="application",
                       subtype="zip", filename="IHE_XDM.ZIP")
    send(m, msg)
    assert_reported(m, "audit 257")
    rows = m.sql("SELECT action, result FROM audit_log WHERE action = 'vault.withhold'")
    assert rows and all(r[1].startswith("ok") for r in rows), rows
    assert m.ctl("audit", "verify", check=False).returncode == 0
    assert everything_of(m)


def test_unknown_visibility_code_fails_closed(both):
    """A visibility code the server does not know (here a misspelt INVISIBLE_PATIENT in
    the health service's code system) might mean a visibility it would not apply: the
    archive is withheld from the patient, not filed, and reported (906). HL7's own
    codes beside it (N, R...) change nothing: test_nothing_withheld_..."""
    m = both
    cda = invisible_cda()
    entry = invisible_entry(cda)
    entry["confidentiality"] = ["N", ("INVISIBLE-PATIENT", xdm.CONF_SYSTEM)]
    msg = message(subject="code inconnu")
    msg.add_attachment(xdm.build_xdm([entry]), maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    send(m, msg)
    copy = inbox_copy(m, b"code inconnu")
    assert withheld_note(copy)
    assert_never_seen(m, [cda, SECRET.encode(), b"PK\x03\x04"])
    assert WITHHELD in assert_reported(m, "code inconnu")
    assert vault_rows(m) == []


def test_hl7_confidentiality_codes_change_nothing(both):
    m = both
    doc = xdm.cda_document(title="visible R 5b0e")
    archive = xdm.build_xdm([{"name": "DOC0001.XML", "data": doc, "confidentiality": ["R"]}])
    msg = message(subject="code HL7 R")
    msg.add_attachment(archive, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    send(m, msg)
    copy = inbox_copy(m, b"code HL7 R")
    assert any(p == archive for p in decoded_payloads(copy))
    assert ko_reports(m, wait=False) == []


def wrapped_parts():
    """Parts the patient's client unwraps and the server cannot read, each holding an
    XDM with an INVISIBLE_PATIENT document: S/MIME enveloped data, TNEF (winmail.dat),
    PGP/MIME (RFC 3156), inline OpenPGP in the text, a PDF with an embedded file."""
    from email.mime.application import MIMEApplication
    from email.mime.multipart import MIMEMultipart
    from email.mime.text import MIMEText
    inner = xdm.build_xdm([invisible_entry()])
    smime = MIMEApplication(b"0\x82\x10\x00" + inner, "pkcs7-mime", name="smime.p7m")
    smime.set_param("smime-type", "enveloped-data")
    tnef = MIMEApplication(b"\x78\x9f\x3e\x22\x01\x00" + inner, "ms-tnef", name="winmail.dat")
    pgp = MIMEMultipart("encrypted", protocol="application/pgp-encrypted")
    pgp.attach(MIMEApplication(b"Version: 1\n", "pgp-encrypted"))
    pgp.attach(MIMEApplication(b"-----BEGIN PGP MESSAGE-----\n\n" + inner, "octet-stream", name="encrypted.asc"))
    inline = MIMEText("-----BEGIN PGP MESSAGE-----\n\nhQEMA" + SECRET + "\n-----END PGP MESSAGE-----\n")
    carrier = (b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Names << /EmbeddedFiles 2 0 R >> >>\nendobj\n"
               b"3 0 obj\n<< /Type /EmbeddedFile /Length 9 >>\nstream\n" + inner + b"\nendstream\nendobj\n%%EOF\n")
    pdf_part = MIMEApplication(carrier, "pdf", name="compte-rendu.pdf")
    return {"smime": smime, "tnef": tnef, "pgp-mime": pgp, "inline-pgp": inline, "pdf-embedded": pdf_part}


@pytest.mark.parametrize("kind", ["smime", "tnef", "pgp-mime", "inline-pgp", "pdf-embedded"])
def test_encrypted_or_wrapped_parts_fail_closed(both, kind):
    m = both
    msg = message(subject=f"emballage {kind}", text="Le document suit.\n")
    msg.make_mixed()
    msg.attach(wrapped_parts()[kind])
    send(m, msg)
    copy = inbox_copy(m, f"emballage {kind}".encode())
    assert withheld_note(copy)
    assert_never_seen(m, [SECRET.encode(), b"PK\x03\x04", b"BEGIN PGP MESSAGE", b"\x78\x9f\x3e\x22"])
    assert WITHHELD in assert_reported(m, f"emballage {kind}")


def test_patient_disabled_between_rcpt_and_data_still_gets_the_patients_copy(both):
    """RCPT accepted the patient, whose account is disabled before the end of DATA. The
    message still goes in (RCPT's answer stands, as Postfix's queue keeps what its smtpd
    accepted), and what goes into the patient's INBOX is still the patient's copy: the
    kind of account decides it, not its state, so a document kept from patients never
    waits there for the account's return."""
    m = both
    cda = invisible_cda()
    msg = message(subject="Entre RCPT et DATA")
    msg.add_attachment(xdm.build_xdm([invisible_entry(cda)]), maintype="application", subtype="zip",
                       filename="IHE_XDM.ZIP")
    with smtplib.SMTP("127.0.0.1", m.port("submission"), timeout=120) as s:
        s.starttls(context=m.login_context(PRO))
        s.login(PRO, PASSWORDS[PRO])
        assert s.mail(PRO)[0] == 250
        assert s.rcpt(PATIENT)[0] == 250
        m.ctl("account", "disable", PATIENT)
        r = s.data(msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")))
        assert r[0] == 250, r
    m.ctl("account", "enable", PATIENT)
    copy = inbox_copy(m, b"Entre RCPT et DATA")
    assert withheld_note(copy)
    assert_never_seen(m, [cda, SECRET.encode(), b"PK\x03\x04"])
