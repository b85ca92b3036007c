"""A professional's real IMAP session reads the patient's medical profile, vital signs
and vaccination book under Patients/<patient>/Profil, .../Constantes and
.../Vaccinations, exactly as the documents: nothing without a grant or when blocked, a
masked profile section hidden, read-only, the patient notified and every access in the
history."""
import email
import email.policy
import html

import pytest

from controls_helpers import history, history_text, imap, names, raw_messages
from conftest import PATIENT, PRO, PRO2
from web_helpers import logged_in, started

SHARED = [f"Patients/{PATIENT}/{f}" for f in ("Constantes", "Profil", "Vaccinations")]


@pytest.fixture
def space(mss):
    """The patient filled in their profile, a vital sign and a vaccination on the web."""
    m = started(mss, "smtpd", "imapd", "webd")
    w = logged_in(m)
    for section, text in (("allergies", "Pénicilline\nLatex"), ("traitements", "Lévothyrox 75 µg")):
        r = w.post("/profil", {"csrf": w.get("/profil").csrf(), "section": section, "texte": text})
        assert r.status == 303, r.text[:500]
    r = w.post("/constantes", {"csrf": w.get("/constantes").csrf(), "kind": "8480-6", "value": "120", "when": ""})
    assert r.status == 303
    r = w.post("/vaccinations", {"csrf": w.get("/vaccinations").csrf(), "vaccine": "DTP", "date": "2024-03-12",
                                 "dose": "rappel", "who": ""})
    assert r.status == 303
    return m


def parsed_all(c, folder):
    return [email.message_from_bytes(r, policy=email.policy.default) for r in raw_messages(c, folder)]


def test_granted_professional_reads_profile_vitals_and_book(space):
    m = space
    c = imap(m, PRO)
    try:
        assert not [n for n in names(c) if n.startswith("Patients/")]  # no grant: nothing listed
        typ, data = c.select(f'"{SHARED[1]}"', readonly=True)
        assert typ == "NO" and b"NOPERM" in data[0]
    finally:
        c.logout()
    m.ctl("access", "grant", PATIENT, PRO)
    c = imap(m, PRO)
    try:
        listed = names(c)
        for folder in SHARED:
            assert folder in listed, listed
        profil = parsed_all(c, SHARED[1])
        assert sorted(str(p["X-MSS-Profile"]) for p in profil) == ["allergies 1", "traitements 1"]
        (vital,) = parsed_all(c, SHARED[0])
        assert str(vital["X-MSS-Vital"]).startswith("8480-6 120.00 mm[Hg]")
        (book,) = parsed_all(c, SHARED[2])
        assert "DTP, dose rappel (déclaré par le patient)" in book.get_body(("plain",)).get_content()
        # read-only: nothing written into the patient's folders
        typ, data = c.append(f'"{SHARED[1]}"', None, None, b"Subject: Allergies\r\n\r\n- rien\r\n")
        assert typ == "NO", data
        c.select(f'"{SHARED[1]}"', readonly=True)
        typ, data = c.uid("STORE", "1:*", "+FLAGS", "(\\Deleted)")
        assert typ == "NO", data
        typ, data = c.uid("COPY", "1:*", "INBOX")
        assert typ == "NO", data
    finally:
        c.logout()
    opened = {t for (t,) in m.sql("SELECT target FROM audit_log WHERE action = 'vault.open' AND actor = ?", PRO)}
    assert {"Profil", "Constantes", "Vaccinations"} <= opened, opened
    assert m.sql("SELECT count(*) FROM audit_log WHERE action = 'vault.read' AND actor = ? AND patient = ?",
                 PRO, PATIENT)[0][0] >= 4
    texts = [history_text(h) for h in history(m)]
    assert any("Coffre-fort consulté" in t and "Profil" in t for t in texts), texts[-5:]
    assert any("Document consulté" in t for t in texts)
    c = imap(m)
    try:
        notices = [str(p["Subject"]) for p in parsed_all(c, "INBOX")]
    finally:
        c.logout()
    assert "Consultation de votre coffre-fort" in notices


def test_masked_section_hidden_and_block_hides_everything(space):
    m = space
    m.ctl("access", "grant", PATIENT, PRO)
    c = imap(m)  # the patient masks the allergies from professionals with their mail client
    try:
        c.select('"Profil"')
        typ, data = c.uid("SEARCH", None, "HEADER", "X-MSS-Profile", "allergies")
        (uid,) = data[0].split()
        assert c.uid("STORE", uid, "+FLAGS", "($Masked)")[0] == "OK"
    finally:
        c.logout()
    assert m.sql("SELECT target FROM audit_log WHERE action = 'vault.mask'") == [(f"Profil {int(uid)}",)]
    c = imap(m, PRO)
    try:
        profil = parsed_all(c, SHARED[1])
        assert [str(p["X-MSS-Profile"]) for p in profil] == ["traitements 1"]
        typ, data = c.select(f'"{SHARED[1]}"', readonly=True)
        assert typ == "OK" and data == [b"1"]
    finally:
        c.logout()
    # a new version of a masked section stays masked
    w = logged_in(m)
    r = w.post("/profil", {"csrf": w.get("/profil").csrf(), "section": "allergies", "texte": "Pénicilline"})
    assert r.status == 303
    c = imap(m, PRO)
    try:
        assert [str(p["X-MSS-Profile"]) for p in parsed_all(c, SHARED[1])] == ["traitements 1"]
    finally:
        c.logout()
    # blocked: nothing at all, whatever was granted
    m.ctl("access", "block", PATIENT, PRO)
    c = imap(m, PRO)
    try:
        assert not [n for n in names(c) if n.startswith("Patients/")]
        for folder in SHARED:
            typ, data = c.select(f'"{folder}"', readonly=True)
            assert typ == "NO", (folder, data)
    finally:
        c.logout()
    refused = m.sql("SELECT count(*) FROM audit_log WHERE action = 'vault.refused' AND actor = ?", PRO)[0][0]
    assert refused >= 3
    # another professional without a grant sees nothing either
    c = imap(m, PRO2)
    try:
        assert not [n for n in names(c) if n.startswith("Patients/")]
    finally:
        c.logout()
    assert "Tentative d'accès refusée" in html.unescape(logged_in(m).get("/historique").text)
