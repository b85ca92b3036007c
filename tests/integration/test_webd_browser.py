"""The patient's web space as a patient uses it: a real headless chromium logs in,
masks a document and unmasks it, and logs out; a granted professional's real IMAP
session (password with their own client certificate) sees the effect in
Patients/<patient>/Documents/<Class>."""
import imaplib

import pytest

from browser_helpers import (By, Select, browser, login, quit_browser, screenshot, wait_alert, wait_element,
                             wait_status, wait_title)
from conftest import PASSWORDS, PATIENT, PRO, PRO2
from web_helpers import file_document

SHARED = f'"Patients/{PATIENT}/Documents/Biologie"'


@pytest.fixture
def web(mss):
    mss.start("smtpd")
    mss.start("imapd")
    mss.start("webd")
    return mss


def pro_sees(m):
    """How many documents PRO's real IMAP session sees in the patient's Biologie (a
    folder whose documents are all masked is not shown at all, nor one PRO may not
    read: 0)."""
    c = imaplib.IMAP4("127.0.0.1", m.port("imap"), timeout=60)
    try:
        c.starttls(ssl_context=m.login_context(PRO))
        c.login(PRO, PASSWORDS[PRO])
        typ, data = c.select(SHARED, readonly=True)
        if typ != "OK":
            assert b"NONEXISTENT" in data[0] or b"NOPERM" in data[0], data
            return 0
        typ, data = c.uid("SEARCH", None, "ALL")
        return len(data[0].split())
    finally:
        c.logout()


def test_login_mask_unmask_logout(web):
    file_document(web, subject="CR de biologie")
    web.ctl("access", "grant", PATIENT, PRO)
    assert pro_sees(web) == 1
    d = browser()
    try:
        login(d, web, PATIENT, "wrong-password")
        wait_alert(d, "Adresse ou mot de passe incorrect.")  # on a page titled "Connexion" too
        assert d.title.startswith("Connexion")
        screenshot(d, "login-error.png")
        login(d, web, PATIENT, PASSWORDS[PATIENT])
        wait_title(d, "Mes documents")
        cookie = d.get_cookie("__Host-mss_session")
        assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        screenshot(d, "documents.png")
        d.find_element(By.XPATH, "//button[text()='Masquer']").click()
        wait_status(d, "masqué aux professionnels")
        assert d.find_element(By.CSS_SELECTOR, "td.masked").text == "Masqué aux professionnels"
        screenshot(d, "documents-masked.png")
        assert pro_sees(web) == 0
        d.find_element(By.LINK_TEXT, "resultats.pdf").click()
        wait_title(d, "resultats.pdf")
        assert "Ce document est masqué aux professionnels." in d.page_source
        d.find_element(By.XPATH, "//button[text()='Rendre visible']").click()
        wait_title(d, "Mes documents")
        wait_status(d, "de nouveau visible")
        assert pro_sees(web) == 1
        # keyboard only: the skip link is the first stop
        d.find_element(By.TAG_NAME, "body").send_keys("\t")
        assert d.switch_to.active_element.text == "Aller au contenu"
        d.find_element(By.XPATH, "//button[text()='Se déconnecter']").click()
        wait_title(d, "Connexion")
        wait_status(d, "Vous êtes déconnecté.")
        assert d.get_cookie("__Host-mss_session") is None
        d.get(f"https://127.0.0.1:{web.port('web')}/documents")
        assert d.title.startswith("Connexion")
    finally:
        quit_browser(d)
    actions = [a for (a,) in web.sql("SELECT action FROM audit_log WHERE patient = ? AND detail = 'web' "
                                      "ORDER BY seq", PATIENT)]
    assert actions == ["vault.mask", "vault.unmask"]


def test_find_grant_block_and_history(web):
    file_document(web)
    assert pro_sees(web) == 0
    d = browser()
    try:
        login(d, web, PATIENT, PASSWORDS[PATIENT])
        wait_title(d, "Mes documents")
        d.find_element(By.LINK_TEXT, "Mes professionnels").click()
        wait_title(d, "Mes professionnels")
        box = d.find_element(By.ID, "nom")
        box.send_keys("Martin\n")  # Enter submits, as with the keyboard alone
        wait_element(d, "main ul li")
        assert "Dr Martin (dr.martin@pro.mss.test)" in d.find_element(By.CSS_SELECTOR, "main ul li").text
        d.find_element(By.XPATH, "//li//button[text()=\"Autoriser l'accès\"]").click()
        wait_status(d, "L'accès est accordé")
        assert pro_sees(web) == 1
        screenshot(d, "professionals.png")
        d.find_element(By.XPATH, "//td//button[text()='Bloquer']").click()
        wait_title(d, "Mes professionnels")
        wait_status(d, "est bloqué")
        assert pro_sees(web) == 0
        d.find_element(By.LINK_TEXT, "Mon historique").click()
        wait_title(d, "Mon historique")
        items = [li.text for li in d.find_elements(By.CSS_SELECTOR, "ol.history li")]
        assert items[0].startswith("Professionnel bloqué")
        assert any(i.startswith("Accès au coffre-fort accordé") for i in items)
        screenshot(d, "history.png")
        # a vital sign: out of range first (refused, with the reason), then right
        d.find_element(By.LINK_TEXT, "Mes constantes").click()
        wait_title(d, "Mes constantes")
        Select(d.find_element(By.ID, "kind")).select_by_value("8480-6")
        d.find_element(By.ID, "value").send_keys("400\n")
        wait_alert(d, "entre 50 et 300 mmHg")
        assert d.find_elements(By.CSS_SELECTOR, "svg.chart") == []
        Select(d.find_element(By.ID, "kind")).select_by_value("8480-6")
        d.find_element(By.ID, "value").send_keys("128\n")
        wait_status(d, "La mesure est enregistrée.")
        assert len(d.find_elements(By.CSS_SELECTOR, "svg.chart circle")) == 1
        assert "128 mmHg" in d.find_element(By.CSS_SELECTOR, "main table").text
        screenshot(d, "vitals.png")
    finally:
        quit_browser(d)


def test_blocked_search_notifications_and_password(web):
    """A blocked professional found by name offers only Débloquer; the patient turns the
    document notices off, then changes the password and logs in again with it."""
    web.ctl("access", "block", PATIENT, PRO)
    new = "un autre mot de passe assez long"
    d = browser()
    try:
        login(d, web, PATIENT, PASSWORDS[PATIENT])
        wait_title(d, "Mes documents")
        d.find_element(By.LINK_TEXT, "Mes professionnels").click()
        wait_title(d, "Mes professionnels")
        d.find_element(By.ID, "nom").send_keys("Martin\n")
        item = wait_element(d, "main ul li")
        assert "Dr Martin" in item.text and "(bloqué)" in item.text
        assert [b.text for b in item.find_elements(By.TAG_NAME, "button")] == ["Débloquer"]

        d.find_element(By.LINK_TEXT, "Mes notifications").click()
        wait_title(d, "Mes notifications")
        box = d.find_element(By.ID, "documents")
        assert box.is_selected() and d.find_element(By.ID, "acces").is_selected()
        d.find_element(By.CSS_SELECTOR, "label[for=documents]").click()  # the label toggles it
        assert not box.is_selected()
        d.find_element(By.XPATH, "//button[text()='Enregistrer']").click()
        wait_status(d, "Vos choix sont enregistrés.")
        assert not d.find_element(By.ID, "documents").is_selected()
        assert d.find_element(By.ID, "acces").is_selected()
        screenshot(d, "notifications.png")
        file_document(web, sender=PRO2)  # PRO is blocked: another professional files it
        assert web.sql("SELECT count(*) FROM audit_log WHERE action = 'vault.file'") == [(1,)]
        assert web.sql("SELECT count(*) FROM audit_log WHERE action = 'vault.notify'") == [(0,)]

        d.find_element(By.LINK_TEXT, "Mon mot de passe").click()
        wait_title(d, "Mon mot de passe")
        d.find_element(By.ID, "actuel").send_keys(PASSWORDS[PATIENT])
        d.find_element(By.ID, "nouveau").send_keys("court")
        d.find_element(By.ID, "confirmation").send_keys("court\n")
        wait_alert(d, "au moins 12 caractères")
        d.find_element(By.ID, "actuel").send_keys(PASSWORDS[PATIENT])
        d.find_element(By.ID, "nouveau").send_keys(new)
        d.find_element(By.ID, "confirmation").send_keys(new + "\n")
        wait_status(d, "Votre mot de passe est changé")
        screenshot(d, "password.png")
        d.find_element(By.XPATH, "//button[text()='Se déconnecter']").click()
        wait_title(d, "Connexion")
        login(d, web, PATIENT, new)
        wait_title(d, "Mes documents")
    finally:
        quit_browser(d)


def test_profile_section_saved_and_bad_contact_refused(web):
    """The patient fills in allergies and an emergency contact with the keyboard; a
    contact without a phone number is refused with the reason, nothing saved."""
    d = browser()
    try:
        login(d, web, PATIENT, PASSWORDS[PATIENT])
        wait_title(d, "Mes documents")
        d.find_element(By.LINK_TEXT, "Mon profil médical").click()
        wait_title(d, "Mon profil médical")
        d.find_element(By.ID, "t-allergies").send_keys("Pénicilline – urticaire\nLatex")
        d.find_element(By.XPATH, "//button[text()='Enregistrer : Allergies']").click()
        wait_status(d, "« Allergies » est enregistrée")
        assert d.find_element(By.ID, "t-allergies").get_attribute("value") == "Pénicilline – urticaire\nLatex\n"
        d.find_element(By.ID, "t-contacts").send_keys("Marie Dupont")
        d.find_element(By.XPATH, "//button[text()=\"Enregistrer : Contacts d'urgence\"]").click()
        wait_alert(d, "numéro de téléphone")
        d.find_element(By.ID, "t-contacts").send_keys("Marie Dupont ; 06 12 34 56 78 ; épouse")
        d.find_element(By.XPATH, "//button[text()=\"Enregistrer : Contacts d'urgence\"]").click()
        wait_status(d, "enregistrée")
        screenshot(d, "profile.png")
    finally:
        quit_browser(d)
    assert web.sql("SELECT detail FROM audit_log WHERE action = 'profile.update' ORDER BY seq") == [
        ("section=allergies version=1 items=2",), ("section=contacts version=1 items=1",)]
