"""More wrappings of an INVISIBLE_PATIENT document (issue 11, "however it is wrapped"):
the patient's copy fails closed for every container a mail client opens and the server
did not: a forwarded message whose own transfer encoding is base64, a message/global
part, an x-uuencode transfer encoding (Thunderbird decodes it), an XDM whose metadata
sit in a second submission set or under lower-case names, and an XDM zipped inside a
plain ZIP. What the patient's mailboxes hold is unpacked the way a patient would unpack
it (every transfer encoding, every forwarded message, every ZIP inside a ZIP) and must
never hold the document. Real smtplib and imaplib clients."""
import base64
import binascii
import email
import email.policy
import io
import re
import time
import zipfile

import pytest

from conftest import PATIENT
from controls_helpers import (SECRET, everything_of, inbox_copy, invisible_cda, invisible_entry, ko_reports,
                              message, pdf, report_text, send, vault_rows, xdm)
from test_vault_fail_closed import WITHHELD, withheld_note


@pytest.fixture
def both(mss):
    mss.start("smtpd")
    mss.start("imapd")
    return mss


def unpack(data, depth=0):
    """Every byte string a patient could reach from data: data itself, its ZIP entries,
    and, for a message, each part decoded (base64, QP, x-uuencode) and unpacked."""
    yield data
    if depth > 8:
        return
    if not data:
        return
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                for name in z.namelist():
                    yield name.encode()
                    yield from unpack(z.read(name), depth + 1)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError):
            pass
        return
    if b"\n" not in data[:2000] or b":" not in data[:2000]:
        return
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    for part in msg.walk():
        if part.is_multipart():
            continue
        cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
        raw = part.get_payload(decode=False)
        raw = raw.encode("latin-1", "replace") if isinstance(raw, str) else b""
        if cte == "base64":
            try:
                body = base64.b64decode(raw)
            except binascii.Error:
                body = raw
        elif cte in ("x-uuencode", "uuencode", "x-uue"):
            body = uudecode(raw)
        else:
            body = part.get_payload(decode=True) or raw
        yield body
        if b"begin " in body:  # uuencoded inside a text: Thunderbird shows it as an attachment
            yield from unpack(uudecode(body), depth + 1)
        if part.get_content_maintype() == "message" or body.lstrip()[:5].lower() in (b"from:", b"subje",
                                                                                      b"mime-", b"to: p"):
            yield from unpack(body, depth + 1)
        elif body[:4] == b"PK\x03\x04":
            yield from unpack(body, depth + 1)


def uudecode(text):
    out = bytearray()
    inside = False
    for line in text.splitlines():
        if line.startswith(b"begin "):
            inside = True
            continue
        if not inside:
            continue
        if line.strip() in (b"end", b"`"):
            break
        try:
            out += binascii.a2b_uu(line)
        except binascii.Error:
            pass
    return bytes(out)


def uuencode(data, name):
    lines = [f"begin 644 {name}".encode()]
    for i in range(0, len(data), 45):
        lines.append(binascii.b2a_uu(data[i:i + 45]).rstrip(b"\n"))
    lines += [b"`", b"end"]
    return b"\r\n".join(lines) + b"\r\n"


def assert_patient_never_reaches(m, needles):
    seen = everything_of(m, PATIENT)
    assert seen
    for box, raw in seen:
        for blob in unpack(raw):
            for needle in needles:
                assert needle not in blob, (box, needle[:40])


def assert_reported(m, subject):
    ko = [k for k in ko_reports(m) if subject in str(k["Subject"])]
    assert ko, "no integration report for " + subject
    assert "[KO Intégration système !][906]" in str(ko[0]["Subject"])
    assert WITHHELD in report_text(ko[0])


def send_raw(m, raw, rcpts=(PATIENT,)):
    import smtplib
    from conftest import PASSWORDS, PRO
    with smtplib.SMTP("127.0.0.1", m.port("submission"), timeout=120) as s:
        s.starttls(context=m.login_context(PRO))
        s.login(PRO, PASSWORDS[PRO])
        s.sendmail(PRO, list(rcpts), raw)


def invisible_xdm():
    return xdm.build_xdm([invisible_entry(invisible_cda())])


def forwarded_xdm_message(subject):
    inner = message(subject="XDM/1.0/DDM+CR d'imagerie")
    inner.add_attachment(invisible_xdm(), maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    return inner.as_bytes(policy=email.policy.SMTP)


def outer_with_part(subject, part_headers, part_body):
    """A multipart/mixed message from the professional to the patient: a text, then one
    part given raw (its headers and its body)."""
    text = message(subject=subject, text="Je vous transfère le message ci-joint.\n")
    head = (f"From: {text['From']}\r\nTo: {text['To']}\r\nSubject: {subject}\r\n"
            f"Message-ID: {text['Message-ID']}\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"=-b0und4ry-=\"\r\n\r\n").encode()
    body = (b"--=-b0und4ry-=\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            b"Je vous transf\xc3\xa8re le message ci-joint.\r\n--=-b0und4ry-=\r\n" + part_headers + b"\r\n" +
            part_body + b"\r\n--=-b0und4ry-=--\r\n")
    return head + body


def wrap64(data):
    b = base64.b64encode(data)
    return b"\r\n".join(b[i:i + 76] for i in range(0, len(b), 76))


NEEDLES = [invisible_cda(), SECRET.encode()]


def check(m, subject, reported=True):
    copy = inbox_copy(m, subject.encode())
    assert withheld_note(copy)
    assert_patient_never_reaches(m, NEEDLES)
    if reported:
        assert_reported(m, subject)


def test_forwarded_message_in_base64(both):
    """message/rfc822 with Content-Transfer-Encoding: base64 (RFC 2046 5.2.1 forbids it;
    mail clients decode it all the same)."""
    m = both
    subject = "Transfert en base64"
    raw = outer_with_part(subject, b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n"
                                   b"Content-Disposition: attachment; filename=\"cr.eml\"\r\n",
                          wrap64(forwarded_xdm_message("inner")))
    send_raw(both, raw)
    check(m, subject)


def test_forwarded_message_global(both):
    """message/global (RFC 6532 3.7): a forwarded message that libetpan does not open."""
    m = both
    subject = "Transfert message global"
    raw = outer_with_part(subject, b"Content-Type: message/global\r\n"
                                   b"Content-Disposition: attachment; filename=\"cr.u8msg\"\r\n",
                          forwarded_xdm_message("inner"))
    send_raw(both, raw)
    check(m, subject)


def test_xdm_in_x_uuencode(both):
    m = both
    subject = "Archive uuencodee"
    raw = outer_with_part(subject, b"Content-Type: application/zip; name=\"IHE_XDM.ZIP\"\r\n"
                                   b"Content-Transfer-Encoding: x-uuencode\r\n"
                                   b"Content-Disposition: attachment; filename=\"IHE_XDM.ZIP\"\r\n",
                          uuencode(invisible_xdm(), "IHE_XDM.ZIP"))
    send_raw(both, raw)
    check(m, subject)


def zip_of(entries):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries:
            z.writestr(name, data)
    return out.getvalue()


def test_invisible_in_a_second_submission_set(both):
    """IHE ITI TF-1 16.1: an XDM may hold several submission sets, SUBSET01, SUBSET02..."""
    m = both
    visible = xdm.cda_document(title="visible 2a7e")
    cda = invisible_cda()
    archive = zip_of([("README.TXT", "IHE XDM\r\n"),
                      ("IHE_XDM/SUBSET01/METADATA.XML", xdm.metadata_xml([{"name": "DOC0001.XML", "data": visible}])),
                      ("IHE_XDM/SUBSET01/DOC0001.XML", visible),
                      ("IHE_XDM/SUBSET02/METADATA.XML", xdm.metadata_xml([invisible_entry(cda)])),
                      ("IHE_XDM/SUBSET02/DOC0001.XML", cda)])
    msg = message(subject="Deux lots")
    msg.add_attachment(archive, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    send(m, msg)
    check(m, "Deux lots")


def test_invisible_under_lower_case_names(both):
    """Names are matched without case (what a patient's unzip tool shows is the same
    file): read, the document is INVISIBLE_PATIENT, filed for professionals only."""
    m = both
    cda = invisible_cda()
    archive = zip_of([("ihe_xdm/subset01/metadata.xml", xdm.metadata_xml([invisible_entry(cda)])),
                      ("ihe_xdm/subset01/DOC0001.XML", cda)])
    msg = message(subject="Noms en minuscules")
    msg.add_attachment(archive, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    send(m, msg)
    check(m, "Noms en minuscules", reported=False)
    for _ in range(100):
        rows = vault_rows(m)
        if rows:
            break
        time.sleep(0.1)
    assert [r[5] for r in rows] == [1], rows


def test_invisible_xdm_zipped_in_a_zip(both):
    m = both
    archive = zip_of([("lisez-moi.txt", "Le dossier complet\r\n"), ("IHE_XDM.ZIP", invisible_xdm())])
    msg = message(subject="Zip dans un zip")
    msg.add_attachment(archive, maintype="application", subtype="zip", filename="dossier.zip")
    send(m, msg)
    check(m, "Zip dans un zip")


def test_plain_zip_of_documents_still_reaches_the_patient(both):
    """A ZIP of ordinary files (no metadata, no archive inside) is one document: kept
    and filed, as before."""
    m = both
    archive = zip_of([("scan1.pdf", pdf(1)), ("scan2.pdf", pdf(2))])
    msg = message(subject="Deux scans zippes")
    msg.add_attachment(archive, maintype="application", subtype="zip", filename="scans.zip")
    send(m, msg)
    copy = inbox_copy(m, b"Deux scans zippes")
    assert not withheld_note(copy)
    assert any(archive == b for b in unpack(copy))
    assert ko_reports(m, wait=False) == []


@pytest.mark.parametrize("with_pdf", [False, True])
def test_xdm_uuencoded_inside_the_text(both, with_pdf):
    """A uuencoded block inside a text/plain body (Thunderbird shows it as an
    attachment): the text goes, the note takes its place."""
    m = both
    subject = "Dossier dans le texte" + (" avec pdf" if with_pdf else "")
    block = uuencode(invisible_xdm(), "IHE_XDM.ZIP").decode().replace("\r\n", "\n")
    msg = message(subject=subject, text="Bonjour,\nvoici le dossier :\n\n" + block + "\nCordialement\n")
    if with_pdf:
        msg.add_attachment(pdf(7), maintype="application", subtype="pdf", filename="scan.pdf")
    send(m, msg)
    check(m, subject)


def test_the_word_begin_in_a_text_is_no_file(both):
    m = both
    subject = "Texte ordinaire"
    send(m, message(subject=subject, text="begin at 8:00\nbegin 644\nbeginning 644 x\nfin\n"))
    copy = inbox_copy(m, subject.encode())
    assert not withheld_note(copy) and b"begin 644" in copy


def conf_moved_out(xml):
    """The confidentiality classifications taken out of their ExtrinsicObject and put
    beside it, naming it by classifiedObject (ebRIM 3.0 allows either place)."""
    conf = re.findall(r'<rim:Classification [^>]*classificationScheme="%s".*?</rim:Classification>' % xdm.XDS_CONF,
                      xml)
    assert conf
    for c in conf:
        xml = xml.replace(c, "")
    return xml.replace("</rim:RegistryObjectList>", "".join(conf) + "</rim:RegistryObjectList>")


@pytest.mark.parametrize("spelling", ["outside the entry", "scheme in capitals", "code in lower case"])
def test_invisible_however_the_metadata_spell_it(both, spelling):
    m = both
    cda = invisible_cda()
    xml = xdm.metadata_xml([invisible_entry(cda)]).decode()
    if spelling == "outside the entry":
        xml = conf_moved_out(xml)
    elif spelling == "scheme in capitals":
        xml = xml.replace(xdm.XDS_CONF, xdm.XDS_CONF.upper())
    else:
        xml = xml.replace('nodeRepresentation="INVISIBLE_PATIENT"', 'nodeRepresentation=" invisible_patient "')
    assert "INVISIBLE_PATIENT" in xml.upper()
    subject = "Metadonnees " + spelling
    msg = message(subject=subject)
    msg.add_attachment(xdm.build_xdm([invisible_entry(cda)], metadata=xml.encode()), maintype="application",
                       subtype="zip", filename="IHE_XDM.ZIP")
    send(m, msg)
    check(m, subject, reported=False)
    for _ in range(100):
        rows = vault_rows(m)
        if rows:
            break
        time.sleep(0.1)
    assert [r[5] for r in rows] == [1], rows
