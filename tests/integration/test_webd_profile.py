"""The medical profile, as a patient keeps it: sections edited on mss-webd's page or
sent from a mail client (a real imaplib APPEND to Profil), one message per version in
Profil with a FHIR R4 Bundle beside the French text, earlier versions kept and marked
$Superseded, the history entry; bad input refused in French, nothing changed."""
import email
import email.policy
import html
import imaplib
import json
import time
from email.message import EmailMessage

import pytest

from conftest import PASSWORDS, PATIENT, PATIENT2
from web_helpers import folder_messages, forms, logged_in


@pytest.fixture
def web(mss):
    mss.start("imapd")
    mss.start("webd")
    return mss


def text(page):
    return html.unescape(page.text)


def imap(m, user=PATIENT):
    c = imaplib.IMAP4("127.0.0.1", m.port("imap"), timeout=60)
    c.starttls(ssl_context=m.login_context(user))
    c.login(user, PASSWORDS[user])
    return c


def profil(m, user=PATIENT):
    """Every message of the patient's Profil: (flags, parsed message)."""
    c = imap(m, user)
    try:
        typ, _ = c.select('"Profil"', readonly=True)
        if typ != "OK":
            return []
        typ, data = c.uid("SEARCH", None, "ALL")
        out = []
        for uid in data[0].split():
            typ, parts = c.uid("FETCH", uid, "(FLAGS BODY.PEEK[])")
            meta = next(p for p in parts if isinstance(p, tuple))
            out.append((meta[0].decode(), email.message_from_bytes(meta[1], policy=email.policy.default)))
        return out
    finally:
        c.logout()


def save(w, section, body):
    return w.post("/profil", {"csrf": w.get("/profil").csrf(), "section": section, "texte": body})


def bundle(msg):
    part = next(p for p in msg.iter_attachments() if p.get_content_type() == "application/fhir+json")
    return json.loads(part.get_content() if isinstance(part.get_content(), str) else part.get_content().decode())


def test_sections_edited_on_the_page_versioned_with_fhir(web):
    w = logged_in(web)
    page = w.get("/profil")
    assert page.status == 200 and 'lang="fr"' in page.text
    for label in ("Allergies", "Antécédents médicaux", "Antécédents familiaux", "Traitements en cours",
                  "Contacts d'urgence"):
        assert label in text(page)
    assert len(forms(page, "/profil")) == 5
    assert 'for="t-allergies"' in page.text and 'aria-describedby="h-allergies"' in page.text

    r = save(w, "allergies", "- Pénicilline – urticaire\n\n* Arachide <grave>\n")
    assert r.status == 303 and r.headers["Location"] == "/profil?fait=allergies#allergies"
    page = w.get("/profil?fait=allergies")
    assert "La rubrique « Allergies » est enregistrée." in text(page)
    assert "Version 1" in text(page) and "&lt;grave&gt;" in page.text and "<grave>" not in page.text
    r = save(w, "allergies", "Pénicilline – urticaire\nArachide <grave>\nLatex\n")
    assert r.status == 303
    assert "Version 2" in text(w.get("/profil"))

    msgs = profil(web)
    assert len(msgs) == 2
    (old_flags, old), (new_flags, new) = msgs
    assert "$Superseded" in old_flags and "$Superseded" not in new_flags
    assert new["X-MSS-Profile"] == "allergies 2" and new["Subject"] == "Profil médical : Allergies (version 2)"
    body = new.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
    assert "- Pénicilline – urticaire\n- Arachide <grave>\n- Latex\n" in body and "version 2" in body
    b = bundle(new)
    assert b["resourceType"] == "Bundle" and b["type"] == "collection"
    res = [e["resource"] for e in b["entry"]]
    assert [r["resourceType"] for r in res] == ["AllergyIntolerance"] * 3
    assert [r["code"]["text"] for r in res] == ["Pénicilline – urticaire", "Arachide <grave>", "Latex"]
    assert res[0]["patient"]["reference"] == PATIENT

    r = save(w, "contacts", "Marie Dupont ; 06 12 34 56 78 ; épouse\nJean Dupont;+33 6 00 00 00 01\n")
    assert r.status == 303
    c = [m for f, m in profil(web) if m["X-MSS-Profile"] == "contacts 1"][0]
    people = [e["resource"] for e in bundle(c)["entry"]]
    assert people[0]["resourceType"] == "RelatedPerson"
    assert people[0]["name"][0]["text"] == "Marie Dupont"
    assert people[0]["telecom"][0]["value"] == "06 12 34 56 78"
    assert people[0]["relationship"][0]["text"] == "épouse"
    assert "relationship" not in people[1]
    for section, kind in (("antecedents", "Condition"), ("familiaux", "FamilyMemberHistory"),
                          ("traitements", "MedicationStatement")):
        assert save(w, section, "Un élément").status == 303
        m = [m for f, m in profil(web) if m["X-MSS-Profile"] == f"{section} 1"][0]
        assert bundle(m)["entry"][0]["resource"]["resourceType"] == kind
    # an empty section is a version too: nothing declared
    assert save(w, "traitements", "").status == 303
    assert "Rien n'est déclaré." in [m for f, m in profil(web) if m["X-MSS-Profile"] == "traitements 2"][
        0].get_body(preferencelist=("plain",)).get_content()

    hist = text(w.get("/historique"))
    assert hist.count('class="what">Profil médical modifié') == 7
    rows = web.sql("SELECT actor, detail, result FROM audit_log WHERE action = 'profile.update' "
                   "AND patient = ? ORDER BY seq", PATIENT)
    assert rows[0] == (PATIENT, "section=allergies version=1 items=2", "ok")
    assert "Latex" not in str(web.sql("SELECT detail, target FROM audit_log"))  # no content audited
    # another patient's profile is their own
    other = logged_in(web, PATIENT2)
    assert "Latex" not in other.get("/profil").text and "Version 1" not in text(other.get("/profil"))


@pytest.mark.parametrize("section,body,message", [
    ("allergies", "x" * 201, "Ligne 1 : trop longue (au plus 200 caractères)."),
    ("allergies", "\n".join(f"allergie {i}" for i in range(31)), "au plus 30 par rubrique"),
    ("allergies", "ok\nbad\x07bell", "Ligne 2 : caractère de contrôle refusé."),
    ("contacts", "Marie Dupont", "indiquez le nom puis le numéro de téléphone"),
    ("contacts", "Marie ; 12", "indiquez le nom puis le numéro de téléphone"),
    ("contacts", " ; 06 12 34 56 78", "indiquez le nom puis le numéro de téléphone"),
    ("inconnue", "x", "n'est pas celui de cette page"),
])
def test_bad_input_refused_in_french_changes_nothing(web, section, body, message):
    w = logged_in(web)
    assert save(w, "allergies", "Latex").status == 303
    r = save(w, section, body)
    assert r.status == 400 and message in text(r) and "Rien n'a été modifié." in text(r)
    assert 'lang="fr"' in r.text
    assert len(profil(web)) == 1
    assert web.sql("SELECT count(*) FROM audit_log WHERE action = 'profile.update'") == [(1,)]


def test_csrf_required(web):
    w = logged_in(web)
    other = logged_in(web, PATIENT2)
    for extra in ({}, {"csrf": other.get("/profil").csrf()}):
        r = w.post("/profil", dict({"section": "allergies", "texte": "Latex"}, **extra))
        assert r.status == 403 and "Rien n'a été modifié" in text(r)
    assert profil(web) == [] and profil(web, PATIENT2) == []


def mail(subject, body):
    m = EmailMessage()
    m["From"] = PATIENT
    m["To"] = PATIENT
    m["Subject"] = subject
    m.set_content(body)
    return m.as_bytes(policy=email.policy.SMTP)


def test_section_appended_from_a_mail_client(web):
    w = logged_in(web)
    assert save(w, "traitements", "Metformine 500 mg").status == 303
    c = imap(web)
    try:
        # "Re: Profil médical : ... (version 1)", as a reply to the current version reads
        typ, data = c.append('"Profil"', None, None,
                             mail("Re: Profil médical : Traitements en cours (version 1)",
                                  "- Metformine 850 mg, matin et soir\n- Ramipril 5 mg\n\n-- \nJean\n"))
        assert typ == "OK", data
        assert b"APPENDUID" in data[0] and b"traitements, version 2" in data[0]
        new_uid = int(data[0].split(b"APPENDUID ")[1].split()[1].rstrip(b"]"))
        typ, data = c.append('"Profil"', None, None, mail("Allergies", "Latex\n"))
        assert typ == "OK", data
        # refused: no section named, a bad contact, a signature-only text: NO in French
        for subject, body, reason in (("Bonjour", "Latex\n", "objet du message doit nommer la rubrique"),
                                      ("Contacts d'urgence", "Marie sans numero\n",
                                       "indiquez le nom puis le num"),
                                      ("Allergies", "x" * 201 + "\n", "trop longue")):
            typ, data = c.append('"Profil"', None, None, mail(subject, body))
            said = data[0].decode("utf-8")
            assert typ == "NO" and said.startswith("[CANNOT]") and reason in said, said
            assert "Rien n'a été modifié." in said
        assert c.noop()[0] == "OK"  # the session goes on
    finally:
        c.logout()
    msgs = profil(web)
    marks = [m["X-MSS-Profile"] for f, m in msgs]
    assert marks == ["traitements 1", "traitements 2", "allergies 1"]  # nothing raw left in Profil
    t2 = [m for f, m in msgs if m["X-MSS-Profile"] == "traitements 2"][0]
    body = t2.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
    assert "- Metformine 850 mg, matin et soir\n- Ramipril 5 mg\n" in body and "Jean" not in body
    page = text(w.get("/profil"))
    assert "Ramipril 5 mg" in page and "Version 2" in page
    assert web.sql("SELECT count(*) FROM audit_log WHERE action = 'profile.update'") == [(3,)]
    assert web.sql("SELECT target FROM audit_log WHERE action = 'profile.update' ORDER BY seq")[1] == (
        f"Profil {new_uid}",)


def test_copy_and_move_into_profil_file_the_section(web):
    """A section written as a draft (or received) and then copied or moved into Profil
    with the mail client is filed as APPEND does; a refused one loses nothing."""
    c = imap(web)
    try:
        for subject, body in (("Allergies", "Latex\n"), ("Traitements en cours", "Ramipril 5 mg\n"),
                              ("Bonjour", "pas une rubrique\n")):
            assert c.append("INBOX", None, None, mail(subject, body))[0] == "OK"
        c.select("INBOX")
        typ, data = c.uid("SEARCH", None, "ALL")
        allergies, traitements, other = data[0].split()[-3:]
        typ, data = c.uid("COPY", allergies, '"Profil"')
        assert typ == "NO" and b"[TRYCREATE]" in data[0]  # as for any folder: the client creates it
        assert c.create('"Profil"')[0] == "OK"
        typ, data = c.uid("COPY", allergies, '"Profil"')
        assert typ == "OK", data
        assert [m["X-MSS-Profile"] for f, m in profil(web)] == ["allergies 1"]
        typ, data = c.uid("MOVE", traitements, '"Profil"')
        assert typ == "OK", data
        typ, data = c.uid("MOVE", other, '"Profil"')
        said = data[0].decode()
        assert typ == "NO" and "[CANNOT]" in said and "objet du message doit nommer la rubrique" in said, said
        typ, data = c.uid("COPY", allergies + b"," + other, '"Profil"')
        assert typ == "NO" and "Un seul message à la fois" in data[0].decode(), data
        typ, data = c.uid("SEARCH", None, "ALL")
        left = data[0].split()
        assert allergies in left and other in left and traitements not in left  # moved, refused one kept
    finally:
        c.logout()
    assert [m["X-MSS-Profile"] for f, m in profil(web)] == ["allergies 1", "traitements 1"]


def test_an_edit_based_on_an_old_version_is_refused(web):
    """Two pages opened on version 1: the first save files version 2, the second (based on
    version 1) is refused with the reason, nothing lost; a mail replying to an old version
    likewise."""
    w = logged_in(web)
    assert save(w, "allergies", "Latex").status == 303
    first, second = (forms(w.get("/profil"), "/profil")[0] for _ in range(2))
    assert first["version"] == "1" and first["section"] == "allergies"
    r = w.post("/profil", dict(first, texte="Latex\nPénicilline"))
    assert r.status == 303
    r = w.post("/profil", dict(second, texte="Arachide"))
    assert r.status == 409
    said = text(r)
    assert "modifiée entre-temps (version 2, vous modifiiez la version 1)" in said and "Rien n'a été modifié." in said
    assert "Pénicilline" in said  # the page shows the current version to start again from
    assert [m["X-MSS-Profile"] for f, m in profil(web)] == ["allergies 1", "allergies 2"]
    c = imap(web)
    try:
        typ, data = c.append('"Profil"', None, None, mail("Re: Profil médical : Allergies (version 1)", "Noix\n"))
        said = data[0].decode()
        assert typ == "NO" and "[CANNOT]" in said and "modifiée entre-temps" in said, said
    finally:
        c.logout()
    r = w.post("/profil", dict(second, version="abc", texte="Arachide"))
    assert r.status == 400
    assert [m["X-MSS-Profile"] for f, m in profil(web)] == ["allergies 1", "allergies 2"]


def test_concurrent_saves_become_versions(web):
    """Saves at the same moment from two sessions, without a base version: each is a
    version of its own, none lost, one current."""
    import threading
    sessions = [logged_in(web) for _ in range(4)]
    csrfs = [w.get("/profil").csrf() for w in sessions]
    results = []

    def go(i):
        results.append(sessions[i].post("/profil", {"csrf": csrfs[i], "section": "antecedents",
                                                    "texte": f"Antécédent {i}"}).status)
    threads = [threading.Thread(target=go, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [303] * 4
    msgs = profil(web)
    assert sorted(m["X-MSS-Profile"] for f, m in msgs) == [f"antecedents {v}" for v in (1, 2, 3, 4)]
    assert sum("$Superseded" not in f for f, m in msgs) == 1


def submit(m, subject, body, to=PATIENT):
    """The patient's real SMTP submission (STARTTLS, AUTH) of a message to `to`."""
    import smtplib
    msg = EmailMessage()
    msg["From"] = PATIENT
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    with smtplib.SMTP("127.0.0.1", m.port("submission"), timeout=60) as s:
        s.starttls(context=m.login_context(PATIENT))
        s.login(PATIENT, PASSWORDS[PATIENT])
        s.send_message(msg)


def test_section_sent_over_smtp_to_ones_own_address(mss):
    """The patient answers a version of Profil with their mail client (Reply goes to
    their own address): filed as the next version, not stored in INBOX; a refused one is
    told at DATA with the reason, nothing stored; other mail to oneself is refused as mail
    to any patient."""
    import smtplib
    mss.start("smtpd")
    mss.start("imapd")
    submit(mss, "Profil médical : Allergies", "Latex\n")
    submit(mss, "Re: Profil médical : Allergies (version 1)", "- Latex\n- Pénicilline\n")
    for subject, body, reason in (("Profil médical : Bonjour", "x\n", b"doit nommer la rubrique"),
                                  ("Re: Profil médical : Allergies (version 1)", "Noix\n",
                                   b"modifiee entre-temps (version 2, vous modifiiez la version 1)")):
        with pytest.raises(smtplib.SMTPDataError) as e:
            submit(mss, subject, body)
        assert e.value.smtp_code == 550 and reason in e.value.smtp_error, e.value.smtp_error
        assert b"Rien n'a ete modifie." in e.value.smtp_error
    # anything else to oneself stays refused, as to any patient
    with pytest.raises(smtplib.SMTPDataError) as e:
        submit(mss, "Note pour moi : Profil médical à relire", "pense-bête\n")
    assert e.value.smtp_code == 550 and b"patients cannot write to patients" in e.value.smtp_error
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        submit(mss, "Profil médical : Allergies", "Latex\n", to=PATIENT2)
    assert [m["X-MSS-Profile"] for f, m in profil(mss)] == ["allergies 1", "allergies 2"]
    subjects = [m["Subject"] for m in folder_messages(mss, "INBOX")]
    assert subjects == [], subjects  # nothing stored in INBOX
    assert mss.sql("SELECT actor, detail FROM audit_log WHERE action = 'profile.update' ORDER BY seq") == [
        (PATIENT, "section=allergies version=1 items=1"), (PATIENT, "section=allergies version=2 items=2")]
