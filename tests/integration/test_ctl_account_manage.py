"""mssctl account delete|enable|passwd|set-cert, the dates of show, and what account add
refuses (issue 16): checked through real IMAP logins and the database."""
import imaplib
import re

import pytest

from conftest import ORG, PATIENT, PATIENT2, PASSWORDS, PRO, PRO2, cert_sha256
from test_imap_helpers import starttls_client
from test_smtp_delivery import send_one


def login(mss, user, password):
    c = imaplib.IMAP4("127.0.0.1", mss.port("imap"), timeout=30)
    c.starttls(ssl_context=mss.client_context())
    try:
        c.login(user, password)
        return True
    except imaplib.IMAP4.error:
        return False
    finally:
        try:
            c.logout()
        except Exception:
            pass


def audit_actions(m):
    return [r[0] for r in m.sql("SELECT action FROM audit_log ORDER BY seq")]


@pytest.mark.parametrize("address,role,message", [
    ("dr.x@gmail.com", "professional", "dr.x@gmail.com is not in a domain served here"),
    ("labo@gmail.com", "organisation", "labo@gmail.com is not in a domain served here"),
    ("dr.x@patient.mss.test", "professional", "is in the patient domain patient.mss.test"),
    ("labo@patient.mss.test", "organisation", "is in the patient domain patient.mss.test"),
])
def test_add_refuses_professional_outside_domains(mss_factory, address, role, message):
    m = mss_factory()
    r = m.add_account(address, role, check=False)
    assert r.returncode == 1 and message in r.stderr
    assert m.sql("SELECT count(*) FROM accounts WHERE address = ?", address) == [(0,)]


def test_add_refuses_short_password_with_a_documented_minimum(mss_factory):
    m = mss_factory()
    r = m.add_account(PATIENT, "patient", password="x", check=False)
    assert r.returncode == 1
    assert "password too short: at least 12 characters (password_min_length)" in r.stderr
    assert m.add_account(PATIENT, "patient", password="é" * 12).returncode == 0  # characters
    m.set(password_min_length=20)
    r = m.add_account(PATIENT2, "patient", password="nineteen-characters", check=False)
    assert r.returncode == 1 and "at least 20 characters" in r.stderr
    assert m.add_account(PATIENT2, "patient", password="twenty-characters-ok").returncode == 0


def test_show_prints_dates(mss):
    show = mss.ctl("account", "show", PATIENT).stdout
    assert re.search(r"^created: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$", show, re.M), show


def test_disable_then_enable(imapd):
    m = imapd
    assert login(m, PATIENT, PASSWORDS[PATIENT])
    m.ctl("account", "disable", PATIENT)
    assert not login(m, PATIENT, PASSWORDS[PATIENT])
    r = m.ctl("account", "enable", PATIENT)
    assert r.stdout.strip() == f"enabled {PATIENT}"
    assert "state: active" in m.ctl("account", "show", PATIENT).stdout
    assert login(m, PATIENT, PASSWORDS[PATIENT])
    assert "admin.account.enable" in audit_actions(m)
    assert m.ctl("account", "enable", "nobody@patient.mss.test", check=False).returncode == 1


def test_passwd_replaces_the_password(imapd):
    m = imapd
    new = "a-brand-new-password"
    r = m.ctl("account", "passwd", PATIENT, "--password-stdin", input=new + "\n")
    assert r.returncode == 0
    assert not login(m, PATIENT, PASSWORDS[PATIENT])
    assert login(m, PATIENT, new)
    assert "admin.account.passwd" in audit_actions(m)
    r = m.ctl("account", "passwd", PATIENT, "--password-stdin", input="short\n", check=False)
    assert r.returncode == 1 and "password too short" in r.stderr
    assert login(m, PATIENT, new)
    r = m.ctl("account", "passwd", PATIENT, check=False)
    assert r.returncode == 2
    r = m.ctl("account", "passwd", "nobody@patient.mss.test", "--password-stdin",
              input=new + "\n", check=False)
    assert r.returncode == 1 and "no account" in r.stderr


def test_set_cert_replaces_the_fingerprint(imapd, pki):
    """After set-cert, the professional logs in with the new certificate only."""
    m = imapd
    old, new = cert_sha256(pki / "pro.crt"), cert_sha256(pki / "expired.crt")
    r = m.ctl("account", "set-cert", PRO, "--cert-sha256", new)
    assert r.returncode == 0
    show = m.ctl("account", "show", PRO).stdout
    assert new in show and old not in show
    # A fingerprint registered to another account is refused.
    r = m.ctl("account", "set-cert", PRO2, "--cert-sha256", new, check=False)
    assert r.returncode == 1 and "already registered to another account" in r.stderr
    r = m.ctl("account", "set-cert", PRO, "--cert-sha256", "abc", check=False)
    assert r.returncode == 1 and "bad certificate fingerprint" in r.stderr
    assert m.ctl("account", "set-cert", PRO, "--cert-sha256", old).returncode == 0
    assert cert_sha256(pki / "pro.crt") in m.ctl("account", "show", PRO).stdout
    assert "admin.account.set_cert" in audit_actions(m)


def blob_files(m):
    return {p.name for p in (m.data_dir / "blobs").rglob("*") if p.is_file()}


def test_delete_removes_mailboxes_and_blobs_keeps_audit(imapd):
    m = imapd
    c = starttls_client(m, PATIENT)
    for i in range(3):
        c.append("INBOX", None, None, f"Subject: m{i}\r\n\r\nbody {i}\r\n".encode())
    c.create("Archives")
    c.append("Archives", None, None, b"Subject: a\r\n\r\nkept?\r\n")
    c.logout()
    m.start("smtpd")  # a delivered message: its blob in its row (store_inline_blob_max)
    assert send_one(m)[1][0] == 250
    m.ctl("access", "grant", PATIENT, PRO)
    before = blob_files(m)
    mine = {r[0] for r in m.sql("SELECT b.name FROM blobs b JOIN store_users u ON u.id = b.user_id"
                                " WHERE u.address = ? AND b.data IS NULL", PATIENT)}
    assert len(mine) == 4 and mine <= before
    assert m.sql("SELECT count(*) FROM blobs WHERE data IS NOT NULL") == [(1,)]
    r = m.ctl("account", "delete", PATIENT)
    assert r.stdout.strip() == f"deleted {PATIENT} (patient)"
    assert m.sql("SELECT count(*) FROM accounts WHERE address = ?", PATIENT) == [(0,)]
    assert m.sql("SELECT count(*) FROM store_users WHERE address = ?", PATIENT) == [(0,)]
    assert m.sql("SELECT count(*) FROM vault_grant WHERE patient = ?", PATIENT) == [(0,)]
    after = blob_files(m)
    assert not (mine & after) and before - after == mine
    assert m.sql("SELECT count(*) FROM blobs WHERE data IS NOT NULL") == [(0,)]
    assert not login(m, PATIENT, PASSWORDS[PATIENT])
    # The audit log is kept, holds the deletion, and still verifies.
    actions = audit_actions(m)
    assert "admin.account.delete" in actions and "admin.account.add" in actions
    assert m.ctl("audit", "verify").returncode == 0
    # The address can be given again: a new, empty account.
    m.add_account(PATIENT, "patient", password=PASSWORDS[PATIENT])
    c = starttls_client(m, PATIENT)
    assert c.select("INBOX")[1][0] == b"0"
    c.logout()
    r = m.ctl("account", "delete", PATIENT2 + "x", check=False)
    assert r.returncode == 1 and "no account" in r.stderr


def test_delete_professional_removes_its_grants(mss):
    mss.ctl("access", "grant", PATIENT, PRO)
    mss.ctl("account", "delete", PRO)
    assert mss.sql("SELECT count(*) FROM vault_grant WHERE professional = ?", PRO) == [(0,)]
    assert mss.sql("SELECT count(*) FROM account_certs") == [(2,)]  # PRO2's and ORG's
    assert ORG in mss.ctl("account", "list").stdout
