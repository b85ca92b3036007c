"""mss-webd's professionals page and history, checked as users would: the patient
finds a professional by name, grants, blocks, unblocks and revokes over HTTPS; the
professional's real IMAP session (password with their own certificate) and SMTP
submission see each change at once; the history page tells it in French. Every refusal
answers in French and changes nothing; every form needs its CSRF token."""
import html
import imaplib
import smtplib
from email.message import EmailMessage

import pytest

from conftest import ORG, PASSWORDS, PATIENT, PATIENT2, PRO, PRO2
from web_helpers import Web, file_document, forms, logged_in

SHARED = f'"Patients/{PATIENT}/Documents/Biologie"'
ROUTES = ("/professionnels/autoriser", "/professionnels/retirer", "/professionnels/bloquer",
          "/professionnels/debloquer")


@pytest.fixture
def web(mss):
    mss.start("smtpd")
    mss.start("imapd")
    mss.start("webd")
    return mss


def pro_sees(m, pro=PRO):
    c = imaplib.IMAP4("127.0.0.1", m.port("imap"), timeout=60)
    try:
        c.starttls(ssl_context=m.login_context(pro))
        c.login(pro, PASSWORDS[pro])
        typ, data = c.select(SHARED, readonly=True)
        if typ != "OK":
            return 0
        typ, data = c.uid("SEARCH", None, "ALL")
        return len(data[0].split())
    finally:
        c.logout()


def pro_writes(m, pro=PRO):
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = pro, PATIENT, "suivi"
    msg.set_content("Bonjour.\n")
    with smtplib.SMTP("127.0.0.1", m.port("submission"), timeout=60) as s:
        s.starttls(context=m.login_context(pro))
        s.login(pro, PASSWORDS[pro])
        try:
            s.send_message(msg)
            return 250
        except smtplib.SMTPRecipientsRefused as e:
            return e.recipients[PATIENT][0]


def access(m):
    out = m.ctl("access", "list", PATIENT).stdout.splitlines()[1:]
    return {l.split()[0]: (l.split()[1], l.split()[2]) for l in out if not l.startswith("(")}


def text(page):
    return html.unescape(page.text)


def post_button(w, page, action, pro):
    f = next(f for f in forms(page, action) if f["pro"] == pro)
    return w.post(action, f)


def test_find_grant_block_unblock_revoke(web):
    file_document(web)
    assert pro_sees(web) == 0
    w = logged_in(web)
    page = w.get("/professionnels")
    assert "Aucun professionnel n'a accès à vos documents." in text(page)
    found = w.get("/professionnels?nom=martin")
    assert "Dr Martin (dr.martin@pro.mss.test)" in text(found)
    assert PRO2 not in found.text and PATIENT2 not in found.text
    r = post_button(w, found, "/professionnels/autoriser", PRO)
    assert r.status == 303 and r.headers["Location"] == "/professionnels?fait=autorise"
    assert access(web) == {PRO: ("lr", "-")}
    assert pro_sees(web) == 1 and pro_sees(web, PRO2) == 0
    page = w.get("/professionnels?fait=autorise")
    assert "L'accès est accordé" in text(page) and "Peut lire vos documents non masqués" in text(page)

    r = post_button(w, page, "/professionnels/bloquer", PRO)
    assert r.status == 303
    assert access(web)[PRO][1] == "blocked"
    assert pro_sees(web) == 0
    assert pro_writes(web) == 550
    page = w.get("/professionnels")
    assert "Bloqué : ne peut ni lire vos documents ni vous écrire" in text(page)
    assert forms(page, "/professionnels/retirer") == []

    r = post_button(w, page, "/professionnels/debloquer", PRO)
    assert r.status == 303
    assert pro_sees(web) == 1 and pro_writes(web) == 250
    r = post_button(w, w.get("/professionnels"), "/professionnels/retirer", PRO)
    assert r.status == 303 and access(web) == {}
    assert pro_sees(web) == 0

    hist = text(w.get("/historique"))
    labels = ["Accès au coffre-fort retiré", "Professionnel débloqué", "Professionnel bloqué",
              "Accès au coffre-fort accordé"]
    positions = [hist.index(l) for l in labels]
    assert positions == sorted(positions)  # newest first
    assert "Document classé" in hist
    actors = web.sql("SELECT actor, auth, peer FROM audit_log WHERE action LIKE 'access.%' "
                     "AND patient = ?", PATIENT)
    assert len(actors) == 4 and set(actors) == {(PATIENT, "password", "127.0.0.1")}


def test_search_by_organisation_and_bad_search(web):
    w = logged_in(web)
    found = text(w.get("/professionnels?nom=laboratoire"))
    assert ORG in found
    r = w.get("/professionnels?nom=m")
    assert r.status == 200 and "Indiquez au moins deux caractères" in text(r)
    r = w.get("/professionnels?nom=%3Cscript%3E%22")
    assert "<script>" not in r.text and "&lt;script&gt;&quot;" in r.text
    assert "Aucun professionnel de ce service ne correspond." in text(r)


def test_search_offers_only_what_fits(web):
    """A blocked professional found by name offers Débloquer, never Autoriser (a grant
    would be refused); one who already has access offers Retirer."""
    web.ctl("access", "block", PATIENT, PRO)
    web.ctl("access", "grant", PATIENT, ORG)
    w = logged_in(web)
    found = w.get("/professionnels?nom=martin")
    assert PRO in found.text
    assert PRO not in [f["pro"] for f in forms(found, "/professionnels/autoriser")]
    assert PRO not in [f["pro"] for f in forms(found, "/professionnels/bloquer")]
    assert PRO in [f["pro"] for f in forms(found, "/professionnels/debloquer")]
    assert "(bloqué)" in found.text
    found = w.get("/professionnels?nom=laboratoire")
    assert ORG not in [f["pro"] for f in forms(found, "/professionnels/autoriser")]
    assert ORG in [f["pro"] for f in forms(found, "/professionnels/retirer")]
    r = post_button(w, found, "/professionnels/retirer", ORG)
    assert r.status == 303 and ORG not in access(web)
    assert ORG in [f["pro"] for f in forms(w.get("/professionnels?nom=laboratoire"),
                                           "/professionnels/autoriser")]


@pytest.mark.parametrize("route,pro,setup,message", [
    ("/professionnels/autoriser", PATIENT2, None, "Ce professionnel n'a pas de compte sur ce service."),
    ("/professionnels/autoriser", "nobody@pro.mss.test", None, "n'a pas de compte"),
    ("/professionnels/autoriser", PRO, ("block", PATIENT, PRO), "débloquez-le d'abord"),
    ("/professionnels/retirer", PRO, None, "n'avait pas accès"),
    ("/professionnels/debloquer", PRO, None, "n'est pas bloqué"),
    ("/professionnels/bloquer", "pas une adresse", None, "n'est pas valide"),
    ("/professionnels/bloquer", "", None, "Aucun professionnel n'est indiqué"),
])
def test_refusals_in_french_change_nothing(web, route, pro, setup, message):
    if setup:
        web.ctl("access", *setup)
    before = access(web)
    ok = "SELECT count(*) FROM audit_log WHERE action LIKE 'access.%' AND result = 'ok'"
    audit_before = web.sql(ok)
    w = logged_in(web)
    r = w.post(route, {"csrf": w.get("/professionnels").csrf(), "pro": pro})
    assert r.status == 400
    assert message in text(r) and 'lang="fr"' in r.text
    assert access(web) == before
    assert web.sql(ok) == audit_before  # a refusal may be audited, as over IMAP, never as done


@pytest.mark.parametrize("route", ROUTES)
def test_every_form_needs_its_csrf_token(web, route):
    w = logged_in(web)
    other = logged_in(web, PATIENT2)
    if route == "/professionnels/retirer":
        web.ctl("access", "grant", PATIENT, PRO)
    if route == "/professionnels/debloquer":
        web.ctl("access", "block", PATIENT, PRO)
    before = access(web)
    for fields in ({"pro": PRO}, {"pro": PRO, "csrf": other.get("/professionnels").csrf()}):
        r = w.post(route, fields)
        assert r.status == 403 and "Rien n'a été modifié" in text(r)
    assert access(web) == before


def test_pages_are_the_sessions_own(web):
    web.ctl("access", "grant", PATIENT, PRO)
    other = logged_in(web, PATIENT2)
    assert PRO not in other.get("/professionnels").text
    assert "Accès au coffre-fort accordé" not in text(other.get("/historique"))
    # patient 2 revoking "their" grant of PRO touches nothing of patient 1
    r = other.post("/professionnels/retirer", {"csrf": other.get("/professionnels").csrf(), "pro": PRO})
    assert r.status == 400
    assert access(web) == {PRO: ("lr", "-")}
    anon = Web(web)
    assert anon.get("/historique").status == 303 and anon.get("/professionnels").status == 303
