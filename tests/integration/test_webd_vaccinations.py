"""The vaccination book: a professional's vaccination CDA sent over SMTP submission is
filed and rebuilds the message "Carnet de vaccination" in the patient's folder
Vaccinations (read back over the patient's real IMAP session, with its FHIR
Immunization resources); the patient declares a vaccination on mss-webd (HTTP and a
real browser), marked as self-declared; bad input is refused in French and changes
nothing."""
import html
import imaplib
import json
import re
import time

import pytest

from browser_helpers import By, browser, open_page, quit_browser, screenshot, wait_alert, wait_status
from conftest import PASSWORDS, PATIENT, PATIENT2, PRO
from web_helpers import folder_messages, logged_in, send_document, started


@pytest.fixture
def web(mss):
    return started(mss, "smtpd", "imapd", "webd")


def immunization(vaccine, date, dose=None, performer=None, negated=False, display_only=False):
    material = (f'<code code="J07CA02" codeSystem="2.16.840.1.113883.6.73" displayName="{vaccine}"/>'
                if display_only else f'<code code="J07CA02" codeSystem="2.16.840.1.113883.6.73"/><name>{vaccine}</name>')
    dose_xml = (f'<entryRelationship typeCode="SUBJ"><sequenceNumber value="{dose}"/>'
                f'<observation classCode="OBS" moodCode="EVN"><code code="30973-2"/></observation>'
                f'</entryRelationship>' if dose else "")
    who = (f'<performer><assignedEntity><id root="1.2.250.1.71.4.2.1" extension="10001234567"/>'
           f'<assignedPerson><name><prefix>Dr</prefix> <given>Jean</given>\n<family>{performer}</family></name>'
           f'</assignedPerson></assignedEntity></performer>' if performer else "")
    return f"""<entry><substanceAdministration classCode="SBADM" moodCode="EVN" negationInd="{'true' if negated else 'false'}">
  <templateId root="1.3.6.1.4.1.19376.1.5.3.1.4.12"/>
  <statusCode code="completed"/>
  <effectiveTime value="{date}"/>
  <doseQuantity value="0.5" unit="mL"/>
  <consumable><manufacturedProduct><manufacturedMaterial>{material}</manufacturedMaterial></manufacturedProduct></consumable>
  {who}{dose_xml}
</substanceAdministration></entry>"""


def vaccination_cda(entries, doc_id="vacc-1"):
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3">
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <id root="1.2.250.1.999.1" extension="{doc_id}"/>
  <code code="11369-6" codeSystem="2.16.840.1.113883.6.1" displayName="Historique des vaccinations"/>
  <title>Carnet de vaccination</title>
  <effectiveTime value="20261120100000+0100"/>
  <confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/>
  <recordTarget><patientRole><id root="1.2.250.1.213.1.4.10" extension="146026322000196"/>
    <patient><name><given>Patient</given><family>DEMO</family></name></patient></patientRole></recordTarget>
  <component><structuredBody><component><section>
    <code code="11369-6" codeSystem="2.16.840.1.113883.6.1"/>
    <title>Vaccinations</title><text>Voir les entrées.</text>
    {''.join(entries)}
  </section></component></structuredBody></component>
</ClinicalDocument>
""".encode()


def send_cda(m, cda, subject="Vaccinations", sender=PRO, to=PATIENT):
    send_document(m, cda, "text", "xml", "vaccinations.xml", subject=subject, sender=sender, to=to)


def books(m, user=PATIENT):
    return folder_messages(m, "Vaccinations", user)


def immunizations(book):
    part = next(p for p in book.iter_attachments() if p.get_content_type() == "application/fhir+json")
    bundle = json.loads(part.get_payload(decode=True))
    assert bundle["resourceType"] == "Bundle"
    return [e["resource"] for e in bundle["entry"]]


def declare(w, **fields):
    csrf = w.get("/vaccinations").csrf()
    return w.post("/vaccinations", {"csrf": csrf, **fields})


def test_vaccination_cda_filed_over_smtp_rebuilds_the_book(web):
    send_cda(web, vaccination_cda([
        immunization("Repevax", "20250115", dose="2", performer="MARTIN"),
        immunization("Gardasil 9", "20240610", display_only=True),
        immunization("Grippe", "20241001", negated=True),  # not administered: left out
    ]))
    (book,) = books(web)
    assert str(book["Subject"]) == "Carnet de vaccination"
    assert str(book["X-MSS-Vaccination"]) == "1 2"
    text = book.get_body(("plain",)).get_content()
    # no performer in the entry: the professional who sent it
    lines = text.splitlines()
    assert "- 10/06/2024 : Gardasil 9, dose 0.5 mL, par Dr Martin" in lines, text
    assert "- 15/01/2025 : Repevax, dose 2, par Dr Jean MARTIN" in lines, text
    assert text.index("Gardasil") < text.index("Repevax")  # oldest first
    assert "Grippe" not in text and "déclaré par le patient" not in text
    imm = immunizations(book)
    assert [i["vaccineCode"]["text"] for i in imm] == ["Gardasil 9", "Repevax"]
    rep = imm[1]
    assert rep["resourceType"] == "Immunization" and rep["status"] == "completed"
    assert rep["occurrenceDateTime"] == "2025-01-15" and rep["primarySource"] is True
    assert rep["protocolApplied"] == [{"doseNumberString": "2"}]
    assert rep["performer"] == [{"actor": {"display": "Dr Jean MARTIN"}}]
    assert rep["patient"] == {"reference": PATIENT}
    # a second document: the book is rebuilt, still one message, nothing lost or doubled
    send_cda(web, vaccination_cda([immunization("Repevax", "20250115", dose="2", performer="MARTIN"),
                                   immunization("ROR", "20261101", dose="1")], doc_id="vacc-2"))
    (book,) = books(web)
    assert str(book["X-MSS-Vaccination"]) == "2 3"
    assert [i["vaccineCode"]["text"] for i in immunizations(book)] == ["Gardasil 9", "Repevax", "ROR"]
    # the documents themselves are filed as usual; the rebuilds are in the history
    assert web.sql("SELECT count(*) FROM vault_document WHERE class = 'Vaccinations'") == [(2,)]
    assert web.sql("SELECT actor, detail FROM audit_log WHERE action = 'vaccination.add' ORDER BY seq") == [
        (PRO, "origin=document entries=2 version=1"), (PRO, "origin=document entries=1 version=2")]
    w = logged_in(web)
    assert "Carnet de vaccination mis à jour" in html.unescape(w.get("/historique").text)
    page = html.unescape(w.get("/vaccinations").text)
    assert "Repevax" in page and "Document d'un professionnel" in page
    # another patient's book is empty
    assert books(web, PATIENT2) == []
    assert "Repevax" not in logged_in(web, PATIENT2).get("/vaccinations").text


def test_the_patient_cannot_write_the_book_over_imap(web):
    """A book APPENDed or copied by the patient would pass their entries off as a
    professional's: Vaccinations is written by the vault only."""
    send_cda(web, vaccination_cda([immunization("Repevax", "20250115")]))
    (book,) = books(web)
    forged = book.as_bytes().replace(b"Repevax", b"Forged!")
    c = imaplib.IMAP4("127.0.0.1", web.port("imap"), timeout=60)
    try:
        c.starttls(ssl_context=web.login_context(PATIENT))
        c.login(PATIENT, PASSWORDS[PATIENT])
        typ, data = c.append('"Vaccinations"', None, None, forged)
        assert typ == "NO" and b"[NOPERM]" in data[0], data
        assert c.append("INBOX", None, None, forged)[0] == "OK"
        c.select("INBOX")
        typ, data = c.uid("SEARCH", None, "ALL")
        last = data[0].split()[-1]
        for cmd in ("COPY", "MOVE"):
            typ, data = c.uid(cmd, last, '"Vaccinations"')
            assert typ == "NO" and b"[NOPERM]" in data[0], (cmd, data)
        c.select('"Vaccinations"')
        typ, data = c.uid("MOVE", "1:*", "INBOX")
        assert typ == "NO" and b"[NOPERM]" in data[0], data
        for typ, data in (c.delete('"Vaccinations"'), c.rename('"Vaccinations"', '"Autre"')):
            assert typ == "NO" and b"[NOPERM]" in data[0], data
    finally:
        c.logout()
    (book,) = books(web)
    assert [i["vaccineCode"]["text"] for i in immunizations(book)] == ["Repevax"]


def test_idle_on_the_book_sees_it_rebuilt(web):
    """Filing only records a document's entries (it holds no key of the patient's): a
    patient idling on Vaccinations sees the book rebuilt at once by their own session
    (the old book expunged, the new one holding both entries), not at their next
    command."""
    send_cda(web, vaccination_cda([immunization("Repevax", "20250115")]))
    c = imaplib.IMAP4("127.0.0.1", web.port("imap"), timeout=60)
    try:
        c.starttls(ssl_context=web.login_context(PATIENT))
        c.login(PATIENT, PASSWORDS[PATIENT])
        typ, data = c.select('"Vaccinations"')
        assert typ == "OK" and int(data[0]) == 1, data
        tag = c._new_tag().decode()
        c.send(f"{tag} IDLE\r\n".encode())
        assert c.readline().startswith(b"+")
        send_cda(web, vaccination_cda([immunization("ROR", "20261101")], doc_id="vacc-2"))
        c.sock.settimeout(30)
        seen = b""
        deadline = time.monotonic() + 30  # the keepalive comes after 2 minutes
        while time.monotonic() < deadline and b"EXPUNGE" not in seen:
            seen += c.readline()
        c.send(b"DONE\r\n")
        while not c.readline().startswith(tag.encode()):
            pass
        assert re.search(rb"\* 1 EXPUNGE", seen), seen
        typ, data = c.uid("SEARCH", None, "ALL")
        assert typ == "OK" and len(data[0].split()) == 1, data
        typ, data = c.uid("FETCH", data[0], "(BODY.PEEK[TEXT])")
        assert typ == "OK" and b"Repevax" in data[0][1] and b"ROR" in data[0][1], data
    finally:
        c.logout()


def test_a_vaccination_document_without_entries_is_one_line(web):
    send_cda(web, vaccination_cda([]))
    (book,) = books(web)
    text = book.get_body(("plain",)).get_content()
    assert "- 20/11/2026 : Carnet de vaccination, par " in text, text


def test_declared_over_http_marked_self_declared(web):
    send_cda(web, vaccination_cda([immunization("Repevax", "20250115", dose="2", performer="MARTIN")]))
    w = logged_in(web)
    r = declare(w, vaccine="Grippe saisonnière", date="2025-10-20", dose="1", who="Pharmacie du Centre")
    assert r.status == 303 and r.headers["Location"] == "/vaccinations?fait=ajoute"
    page = w.get("/vaccinations?fait=ajoute")
    text = html.unescape(page.text)
    assert "La vaccination est ajoutée à votre carnet." in text
    assert "Grippe saisonnière" in text and "Déclarée par vous" in text and "Repevax" in text
    (book,) = books(web)
    assert str(book["X-MSS-Vaccination"]) == "2 2"
    body = book.get_body(("plain",)).get_content()
    assert "- 20/10/2025 : Grippe saisonnière, dose 1, par Pharmacie du Centre (déclaré par le patient)" in body
    assert "aucun professionnel de santé ne les a vérifiées" in body
    grippe = next(i for i in immunizations(book) if i["vaccineCode"]["text"] == "Grippe saisonnière")
    assert grippe["primarySource"] is False
    assert grippe["reportOrigin"]["coding"][0]["code"] == "recipient"
    rep = next(i for i in immunizations(book) if i["vaccineCode"]["text"] == "Repevax")
    assert rep["primarySource"] is True and "reportOrigin" not in rep
    assert web.sql("SELECT actor, detail FROM audit_log WHERE action = 'vaccination.add' ORDER BY seq")[-1] == (
        PATIENT, "origin=patient entries=1 version=2")
    # the same declaration twice: refused, nothing changed
    r = declare(w, vaccine="Grippe saisonnière", date="2025-10-20", dose="1", who="Pharmacie du Centre")
    assert r.status == 400 and "déjà dans votre carnet" in html.unescape(r.text)
    (book,) = books(web)
    assert str(book["X-MSS-Vaccination"]) == "2 2"
    # nothing health-related in the daemons' logs
    assert "Grippe" not in web.log("webd") and "Repevax" not in web.log("smtpd")


@pytest.mark.parametrize("fields,message", [
    ({"vaccine": "", "date": "2025-10-20"}, "Indiquez le nom du vaccin."),
    ({"vaccine": "   ", "date": "2025-10-20"}, "Indiquez le nom du vaccin."),
    ({"vaccine": "x" * 101, "date": "2025-10-20"}, "au plus 100 caractères"),
    ({"vaccine": "Grippe\x01", "date": "2025-10-20"}, "sans caractère de contrôle"),
    ({"vaccine": "Grippe", "date": ""}, "La date de la vaccination doit être une vraie date"),
    ({"vaccine": "Grippe", "date": "2025-02-30"}, "La date de la vaccination doit être une vraie date"),
    ({"vaccine": "Grippe", "date": "20/10/2025"}, "La date de la vaccination doit être une vraie date"),
    ({"vaccine": "Grippe", "date": "2099-01-01"}, "entre 1900 et aujourd'hui"),
    ({"vaccine": "Grippe", "date": "1850-01-01"}, "entre 1900 et aujourd'hui"),
    ({"vaccine": "Grippe", "date": "2025-10-20", "dose": "d" * 31}, "La dose doit faire au plus 30 caractères"),
    ({"vaccine": "Grippe", "date": "2025-10-20", "who": "w" * 101}, "Le nom de qui a vacciné"),
])
def test_bad_input_refused_in_french_nothing_stored(web, fields, message):
    w = logged_in(web)
    r = declare(w, **fields)
    assert r.status == 400
    text = html.unescape(r.text)
    assert message in text and "Rien n'a été enregistré." in text
    assert 'lang="fr"' in r.text and 'role="alert"' in r.text
    assert books(web) == []
    assert web.sql("SELECT count(*) FROM audit_log WHERE action = 'vaccination.add'") == [(0,)]


def test_csrf_required(web):
    w = logged_in(web)
    r = w.post("/vaccinations", {"vaccine": "Grippe", "date": "2025-10-20"})
    assert r.status == 403
    other = logged_in(web, PATIENT2)
    r = w.post("/vaccinations", {"csrf": other.get("/vaccinations").csrf(), "vaccine": "Grippe",
                                 "date": "2025-10-20"})
    assert r.status == 403
    assert books(web) == [] and books(web, PATIENT2) == []


def test_declared_in_the_browser(web):
    d = browser()
    try:
        open_page(d, web, PATIENT, PASSWORDS[PATIENT], "Mes vaccinations")
        d.find_element(By.ID, "vaccine").send_keys("DTP")
        d.execute_script("document.getElementById('date').value = '2099-01-01'")
        d.find_element(By.XPATH, "//button[text()='Ajouter au carnet']").click()
        wait_alert(d, "entre 1900 et aujourd'hui")
        assert d.find_element(By.ID, "vaccine").get_attribute("value") == "DTP"  # kept for the correction
        d.execute_script("document.getElementById('date').value = '2024-03-12'")
        d.find_element(By.ID, "dose").send_keys("rappel")
        d.find_element(By.ID, "who").send_keys("Dr Durand")
        d.find_element(By.XPATH, "//button[text()='Ajouter au carnet']").click()
        wait_status(d, "ajoutée à votre carnet")
        row = d.find_element(By.XPATH, "//td[text()='DTP']/..").text
        assert "12/03/2024" in row and "rappel" in row and "Dr Durand" in row and "Déclarée par vous" in row
        screenshot(d, "vaccinations.png")
    finally:
        quit_browser(d)
    (book,) = books(web)
    assert "- 12/03/2024 : DTP, dose rappel, par Dr Durand (déclaré par le patient)" in \
        book.get_body(("plain",)).get_content()
