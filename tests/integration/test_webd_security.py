"""mss-webd's security rules at the HTTP level, with a real TLS client (http.client and
the test CA): headers on every response, cookie flags, CSRF on every form, no page of
one patient from another's session, login throttling shared with the mail daemons,
idle timeout, logout, TLS 1.2+ only, bad input refused in French with nothing
changed."""
import imaplib
import ssl
import socket
import time

import pytest

from conftest import PASSWORDS, PATIENT, PATIENT2, PRO
from web_helpers import Web, file_document, forms, links, logged_in, sql_write

DOC = "/document?box=Documents%2FBiologie&uid=1"


@pytest.fixture
def web(mss):
    mss.start("smtpd")
    mss.start("webd")
    return mss


def masked(m, patient=PATIENT):
    rows = m.sql("SELECT m.keywords FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id "
                 "JOIN store_users u ON u.id = b.user_id "
                 "WHERE u.address = ? AND b.name = 'Documents/Biologie'", patient)
    return [("$Masked" in (k or "")) for (k,) in rows]


def check_headers(r):
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Referrer-Policy"] == "no-referrer"


def test_headers_on_every_response(web):
    file_document(web)
    anon = Web(web)
    for path in ("/login", "/style.css", "/nowhere", "/documents", "/"):
        check_headers(anon.get(path))
    w = logged_in(web)
    page = w.get("/documents")
    check_headers(page)
    doc = w.get(DOC)
    check_headers(doc)
    f = w.get(links(doc, "/document/file")[0])
    check_headers(f)
    assert "sandbox" in f.headers["Content-Security-Policy"]
    assert f.headers["Content-Disposition"].startswith("attachment;")
    assert f.headers["Content-Type"] == "application/octet-stream"
    check_headers(w.post("/documents/mask", forms(page, "/documents/mask")[0]))
    # nothing health-related in the log: no document title, no file name
    assert "resultats" not in web.log("webd") and "CR de biologie" not in web.log("webd")


def test_cookie_flags_and_fresh_token(web):
    w = Web(web)
    page = w.get("/login")
    login_cookie = next(c for c in page.cookies if c.startswith("__Host-mss_login="))
    r = w.post("/login", {"csrf": page.csrf(), "address": PATIENT, "password": PASSWORDS[PATIENT]})
    assert r.status == 303
    cookie = next(c for c in r.cookies if c.startswith("__Host-mss_session="))
    attrs = [a.strip() for a in cookie.split(";")[1:]]
    for a in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"):
        assert a in attrs, cookie
    assert not any(a.lower().startswith("domain") for a in attrs)
    assert "Secure" in login_cookie and "HttpOnly" in login_cookie
    token = cookie.split(";")[0].split("=", 1)[1]
    assert len(token) == 64
    # the table keeps the token's hash only
    assert web.sql("SELECT count(*) FROM web_sessions WHERE token_sha256 = ?", token) == [(0,)]
    assert web.sql("SELECT count(*) FROM web_sessions") == [(1,)]
    w2 = logged_in(web)
    assert w2.cookies["__Host-mss_session"] != token


def test_csrf_missing_or_foreign(web):
    file_document(web)
    file_document(web, to=PATIENT2)
    w = logged_in(web)
    other = logged_in(web, PATIENT2)
    fields = forms(w.get("/documents"), "/documents/mask")[0]
    foreign = other.get("/documents").csrf()
    assert foreign != fields["csrf"]
    for bad in ({k: v for k, v in fields.items() if k != "csrf"},
                dict(fields, csrf=foreign),
                dict(fields, csrf="0" * 64),
                dict(fields, csrf=fields["csrf"][:-1])):
        r = w.post("/documents/mask", bad)
        assert r.status == 403
        assert "Rien n'a été modifié" in r.text.replace("&#39;", "'")
    assert masked(web) == [False]
    # a repeated field is refused too, even with the right token
    body = "csrf=%s&box=Documents%%2FBiologie&uid=1&masked=1&masked=0" % fields["csrf"]
    assert w.request("POST", "/documents/mask", body=body).status == 400
    assert masked(web) == [False]
    # the login form has its own token: a login posted from elsewhere is refused
    anon = Web(web)
    r = anon.post("/login", {"address": PATIENT, "password": PASSWORDS[PATIENT], "csrf": "a" * 64})
    assert r.status == 403 and not any(c.startswith("__Host-mss_session") for c in r.cookies)
    # the right token works
    assert w.post("/documents/mask", fields).status == 303
    assert masked(web) == [True]


def test_no_page_of_another_patient(web):
    file_document(web)  # PATIENT's Documents/Biologie uid 1
    other = logged_in(web, PATIENT2)
    r = other.get(DOC)
    assert r.status == 404 and "Document introuvable" in r.text
    assert other.get(DOC.replace("/document?", "/document/file?") + "&part=3").status == 404
    fields = {"csrf": other.get("/documents").csrf(), "box": "Documents/Biologie", "uid": "1", "masked": "1"}
    r = other.post("/documents/mask", fields)
    assert r.status == 400 and "Rien n'a été modifié" in r.text.replace("&#39;", "'")
    assert masked(web) == [False]
    assert "Biologie" not in other.get("/documents").text
    # a box outside Documents/ is never served, even the patient's own INBOX
    w = logged_in(web)
    assert w.get("/document?box=INBOX&uid=1").status == 404
    assert w.get("/document?box=Documents%2F..%2FINBOX&uid=1").status == 404


@pytest.mark.parametrize("fields,status", [
    ({"box": "Documents/Biologie", "uid": "abc", "masked": "1"}, 400),
    ({"box": "Documents/Biologie", "uid": "99", "masked": "1"}, 400),
    ({"box": "Documents/Biologie", "uid": "1", "masked": "yes"}, 400),
    ({"box": "Documents/Biologie", "uid": "1"}, 400),
    ({"box": "Documents/Biologie", "uid": "-1", "masked": "1"}, 400),
])
def test_bad_input_changes_nothing(web, fields, status):
    file_document(web)
    w = logged_in(web)
    r = w.post("/documents/mask", dict(fields, csrf=w.get("/documents").csrf()))
    assert r.status == status
    assert 'lang="fr"' in r.text and "Rien n'a été modifié" in r.text.replace("&#39;", "'")
    assert masked(web) == [False]


def test_oversized_form_and_other_methods(web):
    w = logged_in(web)
    csrf = w.get("/documents").csrf()
    r = w.request("POST", "/documents/mask", body="csrf=%s&box=%s" % (csrf, "A" * 70000))
    assert r.status == 413
    w.close()
    assert w.request("PUT", "/documents", body="x").status == 405
    assert w.request("GET", "/documents/mask").status == 405


def test_session_required_and_logout(web):
    anon = Web(web)
    r = anon.get("/documents")
    assert r.status == 303 and r.headers["Location"] == "/login"
    r = anon.post("/documents/mask", {"csrf": "0" * 64, "box": "Documents/Biologie", "uid": "1", "masked": "1"})
    assert r.status == 403
    w = logged_in(web)
    stolen = w.cookies["__Host-mss_session"]
    csrf = w.get("/documents").csrf()
    r = w.post("/logout", {"csrf": csrf})
    assert r.status == 303 and r.headers["Location"].startswith("/login")
    assert "__Host-mss_session" not in w.cookies
    assert web.sql("SELECT count(*) FROM web_sessions") == [(0,)]
    # the old cookie opens nothing once logged out
    replay = Web(web)
    replay.cookies["__Host-mss_session"] = stolen
    assert replay.get("/documents").status == 303


@pytest.mark.parametrize("action", ["disable", "delete", "passwd"])
def test_disabled_deleted_or_reset_account_ends_its_web_sessions(web, action):
    """A patient's account disabled (or deleted) by the administrator, or its password
    reset after a theft, kept its web sessions: the cookie still opened the documents
    until the idle timeout."""
    w = logged_in(web)
    assert w.get("/documents").status == 200
    other = logged_in(web, PATIENT2)
    args = ("--password-stdin",) if action == "passwd" else ()
    web.ctl("account", action, PATIENT.upper(), *args, input="a-new-password-1234\n")
    r = w.get("/documents")
    assert r.status == 303 and r.headers["Location"] == "/login"
    assert web.sql("SELECT account FROM web_sessions") == [(PATIENT2,)]
    # a POST with the old cookie changes nothing
    r = w.post("/logout", {"csrf": "0" * 64})
    assert r.status == 403
    assert other.get("/documents").status == 200
    if action == "disable":  # enabled again: the ended session stays ended
        web.ctl("account", "enable", PATIENT)
        assert w.get("/documents").status == 303


def test_idle_timeout(web):
    w = logged_in(web)
    assert w.get("/documents").status == 200
    # 14 minutes idle: still alive (and touched again)
    sql_write(web, "UPDATE web_sessions SET last_seen = last_seen - 840")
    assert w.get("/documents").status == 200
    # 15 minutes and one second idle: over, and the row is gone
    sql_write(web, "UPDATE web_sessions SET last_seen = last_seen - 901")
    r = w.get("/documents")
    assert r.status == 303 and r.headers["Location"] == "/login"
    assert web.sql("SELECT count(*) FROM web_sessions") == [(0,)]


def test_login_failures_in_french_and_professionals_refused(web):
    w = Web(web)
    r = w.login(PATIENT, "wrong-password")
    assert r.status == 401 and "Adresse ou mot de passe incorrect." in r.text
    assert "__Host-mss_session" not in w.cookies
    r = w.login(PATIENT, "")
    assert r.status == 400 and "Indiquez votre adresse et votre mot de passe." in r.text
    # a professional's password alone never logs in (auth/ role rules), here as on IMAP
    r = w.login(PRO, PASSWORDS[PRO])
    assert r.status == 401
    audit = web.sql("SELECT action, result FROM audit_log WHERE action = 'web.login'")
    assert ("web.login", "ok") not in audit and len(audit) >= 2


def test_throttling_shared_with_imap(mss):
    mss.set(auth_max_failures=3, auth_failure_delay=0)
    mss.start("imapd")
    mss.start("webd")
    w = Web(mss)
    statuses = [w.login(PATIENT2, "wrong-password").status for _ in range(3)]
    assert statuses[:2] == [401, 401] and statuses[2] in (401, 429)  # the third locks
    r = w.login(PATIENT, PASSWORDS[PATIENT])  # the right password, but this address is locked
    assert r.status == 429 and "Trop de tentatives" in r.text
    assert "__Host-mss_session" not in w.cookies
    # the same client address is locked on IMAP too: the counters are the daemons'
    c = imaplib.IMAP4("127.0.0.1", mss.port("imap"), timeout=30)
    c.starttls(ssl_context=mss.client_context())
    with pytest.raises(imaplib.IMAP4.error):
        c.login(PATIENT, PASSWORDS[PATIENT])
    c.shutdown()


def test_tls_only_and_12_minimum(web):
    ctx = ssl.create_default_context(cafile=str(web.pki / "ca.crt"))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with socket.create_connection(("127.0.0.1", web.port("web")), timeout=10) as s:
        with pytest.raises(ssl.SSLError):
            ctx.wrap_socket(s, server_hostname="127.0.0.1")
    with socket.create_connection(("127.0.0.1", web.port("web")), timeout=10) as s:
        s.sendall(b"GET /login HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(10)
        try:
            data = s.recv(100)
        except ConnectionResetError:
            data = b""
        assert not data.startswith(b"HTTP/")
    # TLS 1.2 without ECDHE or without AEAD: refused
    for ciphers in ("AES128-GCM-SHA256", "ECDHE-RSA-AES128-SHA"):
        ctx = web.client_context()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(ciphers)
        with socket.create_connection(("127.0.0.1", web.port("web")), timeout=10) as s:
            with pytest.raises(ssl.SSLError):
                ctx.wrap_socket(s, server_hostname="127.0.0.1")
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = web.client_context()
        ctx.minimum_version = ctx.maximum_version = v
        with socket.create_connection(("127.0.0.1", web.port("web")), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
                assert t.version() in ("TLSv1.2", "TLSv1.3")
