"""Patient controls from mssctl: access grant|revoke|block|unblock|list, history, and
their effect on who may write to the patient. Exit codes follow the contract: 0 done,
1 refused with one line on stderr, 2 usage error."""
import smtplib
from email.message import EmailMessage

import pytest

from conftest import ORG, PASSWORDS, PATIENT, PATIENT2, PRO, PRO2


def send(m, user, rcpt):
    msg = EmailMessage()
    msg["From"] = user
    msg["To"] = rcpt
    msg["Subject"] = "consultation"
    msg.set_content("Bonjour.\n")
    with smtplib.SMTP("127.0.0.1", m.port("submission"), timeout=30) as s:
        s.starttls(context=m.login_context(user))
        s.login(user, PASSWORDS[user])
        s.send_message(msg)


def test_grant_list_revoke(mss):
    r = mss.ctl("access", "grant", PATIENT, PRO)
    assert r.returncode == 0
    mss.ctl("access", "grant", PATIENT, ORG)
    out = mss.ctl("access", "list", PATIENT).stdout
    lines = [l.split() for l in out.splitlines()[1:]]
    assert [l[0] for l in lines] == [PRO, ORG] or [l[0] for l in lines] == sorted([PRO, ORG])
    assert all(l[1] == "lr" for l in lines)
    assert mss.ctl("access", "revoke", PATIENT, PRO).returncode == 0
    r = mss.ctl("access", "revoke", PATIENT, PRO, check=False)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and "no such grant" in r.stderr
    out = mss.ctl("access", "list", PATIENT).stdout
    assert PRO not in out and ORG in out


@pytest.mark.parametrize("args,code", [
    (("access", "grant", PRO, PATIENT), 1),            # the first must be a patient
    (("access", "grant", PATIENT, PATIENT2), 1),       # the second a professional
    (("access", "grant", PATIENT, "nobody@pro.mss.test"), 1),
    (("access", "unblock", PATIENT, PRO), 1),          # nothing to lift
    (("access", "grant", PATIENT), 2),
    (("access", "frobnicate", PATIENT, PRO), 2),
    (("access",), 2),
    (("history",), 2),
    (("history", PRO), 1),
    (("access", "list", PRO), 1),
    (("audit", "check"), 2),
])
def test_refusals_and_usage(mss, args, code):
    r = mss.ctl(*args, check=False)
    assert r.returncode == code, r.stderr
    assert r.stderr.startswith("mssctl: ") and len(r.stderr.strip().splitlines()) == 1


def test_block_stops_writing_and_grants(mss):
    mss.start("smtpd")
    mss.ctl("access", "grant", PATIENT, PRO)
    send(mss, PRO, PATIENT)  # allowed before the block
    mss.ctl("access", "block", PATIENT, PRO)
    out = mss.ctl("access", "list", PATIENT).stdout
    row = next(l.split() for l in out.splitlines() if l.startswith(PRO))
    assert row[2] == "blocked"
    with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
        send(mss, PRO, PATIENT)
    code, text = e.value.recipients[PATIENT]
    assert code == 550 and text.startswith(b"5.7.1")
    r = mss.ctl("access", "grant", PATIENT, PRO, check=False)
    assert r.returncode == 1 and "blocked" in r.stderr
    send(mss, PRO2, PATIENT)  # others are not affected
    mss.ctl("access", "unblock", PATIENT, PRO)
    send(mss, PRO, PATIENT)


def test_history_table(mss):
    mss.ctl("access", "grant", PATIENT, PRO)
    mss.ctl("access", "block", PATIENT, PRO2)
    mss.ctl("access", "revoke", PATIENT, PRO)
    out = mss.ctl("history", PATIENT).stdout.splitlines()
    assert out[0].split()[:3] == ["WHEN", "(UTC)", "WHO"]
    body = "\n".join(out[1:])
    assert "Accès au coffre-fort accordé" in body and "Professionnel bloqué" in body
    assert "Accès au coffre-fort retiré" in body
    assert body.index("accordé") < body.index("bloqué") < body.index("retiré")
    assert PRO in body and PRO2 in body and "mssctl" in body
    # Another patient's history holds none of it.
    out2 = mss.ctl("history", PATIENT2).stdout
    assert PRO not in out2
    assert mss.ctl("audit", "verify").returncode == 0
