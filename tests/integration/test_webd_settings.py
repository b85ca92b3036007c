"""mss-webd's notification settings and password change, at the HTTP level with a real
TLS client, their effect checked as users meet it: the patient's INBOX over a real
IMAP session, a professional's real IMAP session opening the vault, the patient's
IMAP login with the old and the new password, the other browser session ended. Every
refusal answers in French and changes nothing; every form needs its CSRF token."""
import html
import imaplib
import time

import pytest

from conftest import PASSWORDS, PATIENT, PATIENT2, PRO
from web_helpers import Web, file_document, logged_in

NEW_PASSWORD = "un nouveau mot de passe bien long"
DOC_NOTICE = "Nouveau document dans votre coffre-fort"
OPEN_NOTICE = "Consultation de votre coffre-fort"


@pytest.fixture
def web(mss):
    mss.start("smtpd")
    mss.start("imapd")
    mss.start("webd")
    return mss


def text(page):
    return html.unescape(page.text)


def imap_login(m, user, password):
    c = imaplib.IMAP4("127.0.0.1", m.port("imap"), timeout=60)
    c.starttls(ssl_context=m.login_context(user))
    try:
        c.login(user, password)
    except imaplib.IMAP4.error:
        c.shutdown()
        return None
    return c


def inbox_subjects(m, user=PATIENT, password=None):
    c = imap_login(m, user, password or PASSWORDS[user])
    assert c is not None
    try:
        c.select("INBOX", readonly=True)
        typ, data = c.uid("SEARCH", None, "ALL")
        out = []
        for uid in data[0].split():
            typ, parts = c.uid("FETCH", uid, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            raw = b"".join(p[1] for p in parts if isinstance(p, tuple))
            import email.header
            value = raw.decode().partition(":")[2].strip()
            out.append(str(email.header.make_header(email.header.decode_header(value))))
        return out
    finally:
        c.logout()


def pro_opens_vault(m):
    c = imap_login(m, PRO, PASSWORDS[PRO])
    assert c is not None
    try:
        typ, _ = c.select(f'"Patients/{PATIENT}/Documents/Biologie"', readonly=True)
        assert typ == "OK"
    finally:
        c.logout()


def save_settings(w, **fields):
    f = {"csrf": w.get("/notifications").csrf(), "envoye": "1"}
    f.update(fields)
    return w.post("/notifications", f)


def wait_for(fn, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        if fn():
            return True
        time.sleep(0.2)
    return fn()


def test_notification_settings_turn_notices_off_and_on(web):
    w = logged_in(web)
    page = w.get("/notifications")
    assert page.status == 200 and 'lang="fr"' in page.text
    assert page.text.count(" checked>") == 2  # every notice on by default
    assert '<label class="inline" for="documents">' in page.text  # each box labelled (RGAA)

    r = save_settings(w)  # both boxes unticked
    assert r.status == 303 and r.headers["Location"] == "/notifications?fait=1"
    assert " checked>" not in w.get("/notifications").text
    file_document(web)
    web.ctl("access", "grant", PATIENT, PRO)
    pro_opens_vault(web)
    assert web.sql("SELECT count(*) FROM audit_log WHERE action = 'vault.open'") == [(1,)]
    time.sleep(1)
    subjects = inbox_subjects(web)
    assert DOC_NOTICE not in subjects and OPEN_NOTICE not in subjects
    assert web.sql("SELECT count(*) FROM audit_log WHERE action = 'vault.notify'") == [(0,)]

    r = save_settings(w, documents="1")  # documents on, vault opened still off
    assert r.status == 303
    assert w.get("/notifications").text.count(" checked>") == 1
    file_document(web, subject="CR 2")
    assert wait_for(lambda: DOC_NOTICE in inbox_subjects(web))
    pro_opens_vault(web)
    assert OPEN_NOTICE not in inbox_subjects(web)

    save_settings(w, documents="1", acces="1")
    pro_opens_vault(web)
    assert wait_for(lambda: OPEN_NOTICE in inbox_subjects(web))

    hist = text(w.get("/historique"))
    assert hist.count('class="what">Réglages des notifications modifiés') == 3
    rows = web.sql("SELECT actor, auth, detail, result FROM audit_log WHERE action = 'settings.notify' "
                   "AND patient = ? ORDER BY seq", PATIENT)
    assert [r[2] for r in rows] == ["documents=off access=off", "documents=on access=off",
                                    "documents=on access=on"]
    assert {(r[0], r[1], r[3]) for r in rows} == {(PATIENT, "password", "ok")}
    # patient 2's settings are their own
    assert logged_in(web, PATIENT2).get("/notifications").text.count(" checked>") == 2


@pytest.mark.parametrize("fields", [{}, {"documents": "oui"}, {"envoye": "1", "acces": "2"}])
def test_notification_settings_bad_form_changes_nothing(web, fields):
    w = logged_in(web)
    f = {"csrf": w.get("/notifications").csrf()}
    f.update(fields)
    r = w.post("/notifications", f)
    assert r.status == 400 and "Rien n'a été modifié" in text(r) and 'lang="fr"' in r.text
    assert web.sql("SELECT count(*) FROM vault_settings") == [(0,)]
    assert web.sql("SELECT count(*) FROM audit_log WHERE action = 'settings.notify'") == [(0,)]


def change_password(w, current, new, again=None):
    return w.post("/mot-de-passe", {"csrf": w.get("/mot-de-passe").csrf(), "actuel": current,
                                    "nouveau": new, "confirmation": new if again is None else again})


def test_password_change_ends_other_sessions(web):
    w = logged_in(web)
    other = logged_in(web)  # the same patient on another browser
    bystander = logged_in(web, PATIENT2)
    page = w.get("/mot-de-passe")
    assert page.status == 200 and "au moins 12 caractères" in text(page)
    assert 'autocomplete="current-password"' in page.text and 'for="nouveau"' in page.text
    r = change_password(w, PASSWORDS[PATIENT], NEW_PASSWORD)
    assert r.status == 303 and r.headers["Location"] == "/mot-de-passe?fait=1"
    assert "Votre mot de passe est changé" in text(w.get("/mot-de-passe?fait=1"))
    # this session goes on, the other one of the same patient is over, patient 2's is not
    assert w.get("/documents").status == 200
    assert other.get("/documents").status == 303
    assert bystander.get("/documents").status == 200
    # the mail client: the old password no longer logs in, the new one does
    assert imap_login(web, PATIENT, PASSWORDS[PATIENT]) is None
    c = imap_login(web, PATIENT, NEW_PASSWORD)
    assert c is not None
    c.logout()
    assert Web(web).login(PATIENT, NEW_PASSWORD).status == 303
    rows = web.sql("SELECT actor, auth, result, patient FROM audit_log WHERE action = 'account.password'")
    assert rows == [(PATIENT, "password", "ok", PATIENT)]
    assert "Mot de passe changé" in text(w.get("/historique"))
    assert NEW_PASSWORD not in web.log("webd") and PASSWORDS[PATIENT] not in web.log("webd")


@pytest.mark.parametrize("current,new,again,message,status", [
    ("wrong-password", NEW_PASSWORD, None, "Le mot de passe actuel est incorrect.", 400),
    (PASSWORDS[PATIENT], "court", None, "au moins 12 caractères", 400),
    (PASSWORDS[PATIENT], NEW_PASSWORD, NEW_PASSWORD + "x", "sont différentes", 400),
    (PASSWORDS[PATIENT], PASSWORDS[PATIENT], None, "différent de l'actuel", 400),
    ("", NEW_PASSWORD, None, "Indiquez votre mot de passe actuel", 400),
    (PASSWORDS[PATIENT], "", None, "Indiquez votre mot de passe actuel", 400),
])
def test_password_refusals_in_french_change_nothing(web, current, new, again, message, status):
    w = logged_in(web)
    other = logged_in(web)
    r = change_password(w, current, new, again)
    assert r.status == status and message in text(r) and 'lang="fr"' in r.text
    assert "Rien n'a été modifié" in text(r)
    c = imap_login(web, PATIENT, PASSWORDS[PATIENT])
    assert c is not None
    c.logout()
    assert other.get("/documents").status == 200
    assert web.sql("SELECT count(*) FROM audit_log WHERE action = 'account.password'") == [(0,)]


def test_password_form_is_throttled_like_login(mss):
    mss.set(auth_max_failures=3, auth_failure_delay=0)
    mss.start("imapd")
    mss.start("webd")
    w = logged_in(mss)
    statuses = [change_password(w, "wrong-password", NEW_PASSWORD).status for _ in range(3)]
    assert statuses[:2] == [400, 400]
    r = change_password(w, PASSWORDS[PATIENT], NEW_PASSWORD)  # right, but locked now
    assert r.status == 429 and "Trop de tentatives" in text(r)
    audit = mss.sql("SELECT result FROM audit_log WHERE action = 'web.login' AND target = ? "
                    "AND detail LIKE '%listener=password'", PATIENT)
    assert len(audit) == 4 and ("ok",) not in audit, audit
    assert mss.sql("SELECT count(*) FROM audit_log WHERE action = 'account.password'") == [(0,)]


@pytest.mark.parametrize("route", ["/notifications", "/mot-de-passe"])
def test_forms_need_their_csrf_token(web, route):
    w = logged_in(web)
    other = logged_in(web, PATIENT2)
    fields = {"envoye": "1", "actuel": PASSWORDS[PATIENT], "nouveau": NEW_PASSWORD,
              "confirmation": NEW_PASSWORD}
    for extra in ({}, {"csrf": other.get(route).csrf()}):
        r = w.post(route, dict(fields, **extra))
        assert r.status == 403 and "Rien n'a été modifié" in text(r)
    assert Web(web).get(route).status == 303  # no session: to the login page
    assert web.sql("SELECT count(*) FROM audit_log WHERE action IN ('account.password', "
                   "'settings.notify')") == [(0,)]
    c = imap_login(web, PATIENT, PASSWORDS[PATIENT])
    assert c is not None
    c.logout()
