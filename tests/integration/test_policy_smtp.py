"""The conversation rules end to end: mss-smtpd asks the policy at MAIL and RCPT, and
records authorised contacts at delivery. Real client: Python smtplib (STARTTLS, client
certificates, SASL EXTERNAL and PLAIN). Each case asserts the exact reply code."""
import smtplib
from email.message import EmailMessage

import pytest

from conftest import ORG, PASSWORDS, PATIENT, PATIENT2, PRO, PRO2

NS = "https://listeblanche.mssante.fr/schema"
OPERATOR_DN = "CN=mx.other-operator.test,OU=12345678900011,O=Other Operator,C=FR"
PHARMACY = "pharmacie@pro.mss.test"
REMOTE_PRO = "dr.remote@other-operator.test"
REMOTE_INACTIVE = "dr.inactive@other-operator.test"

DIRECTORY = (
    "Type de BAL|Adresse BAL|Type Identifiant PP|Identifiant PP|Identification nationale PP|"
    "Type identifiant structure|Identification Structure|Service de rattachement|Civilité d'exercice|"
    "Nom d'exercice|Prénom d'exercice|Code Profession|Libellé Profession|Code savoir-faire|"
    "Libellé savoir-faire|Raison Sociale structure BAL|Code postal\n"
    f"PER|{REMOTE_PRO}|8|10000000001|810000000001|1|750000001||DR|REMOTE|Rémi|10|Médecin|SM54|MG|CH Test|75001\n"
    f"PER|{REMOTE_INACTIVE}|8|10000000002|810000000002|1|750000001||DR|INACTIF|Ina|10|Médecin|||CH Test|75001\n"
    f"ORG|{PHARMACY}||||3|12345678900011|||||21|Pharmacien|||Pharmacie du Parc|75002\n"
    f"PER|{PRO}|8|10000000003|810000000003|1|750000002||DR|MARTIN|Jean|10|Médecin|SM54|MG|Cabinet|75003\n"
)


def trust_xml(entries):
    doms = "".join(f"<Domaine><Nom>{d}</Nom><Description>test</Description>"
                   f"<DNCertificatOperateur>{dn}</DNCertificatOperateur><DateMAJ>2026-01-01</DateMAJ></Domaine>"
                   for d, dn in entries)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<ListeBlancheMSSante xmlns="{NS}">'
            f"<ListeDomaines>{doms}</ListeDomaines></ListeBlancheMSSante>\n")


@pytest.fixture
def space(mss):
    """Demo accounts, a pharmacy, the directory and the trust list, smtpd running."""
    mss.add_account(PHARMACY, "organisation", name="Pharmacie du Parc")
    d = mss.root / "directory.csv"
    d.write_text(DIRECTORY, encoding="utf-8")
    mss.ctl("directory", "import", "--strict", str(d))
    mss.ctl("directory", "disable", REMOTE_INACTIVE)
    t = mss.root / "trust.xml"
    t.write_text(trust_xml([("other-operator.test", OPERATOR_DN)]))
    mss.ctl("trust", "import", str(t))
    mss.start("smtpd")
    return mss


def message(sender, rcpt, subject="Consultation", headers=None):
    m = EmailMessage()
    m["From"] = sender
    m["To"] = rcpt
    m["Subject"] = subject
    for k, v in (headers or {}).items():
        m[k] = v
    m.set_content("Bonjour.\n")
    return m


def as_professional(m, cert="pro"):
    """Submission with STARTTLS and the professional's certificate (SASL EXTERNAL)."""
    s = smtplib.SMTP("127.0.0.1", m.port("submission"), timeout=30)
    s.starttls(context=m.client_context(cert))
    s.ehlo("client.test")
    code, text = s.docmd("AUTH", "EXTERNAL =")
    assert code == 235, text
    return s


def as_password(m, user):
    s = smtplib.SMTP("127.0.0.1", m.port("submission"), timeout=30)
    s.starttls(context=m.login_context(user))
    s.login(user, PASSWORDS[user])
    return s


def as_operator(m):
    """The other operator's MTA on the MX port, presenting its server certificate."""
    s = smtplib.SMTP("127.0.0.1", m.port("smtp"), timeout=30)
    s.starttls(context=m.client_context("operator"))
    s.ehlo("mx.other-operator.test")
    return s


def send(s, sender, rcpt, **kw):
    """Sends one message; returns (code, enhanced+text) of the refusal, or (250, '')."""
    try:
        refused = s.send_message(message(sender, rcpt, **kw), from_addr=sender, to_addrs=[rcpt])
    except smtplib.SMTPRecipientsRefused as e:
        code, text = e.recipients[rcpt]
        return code, text.decode()
    except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as e:
        return e.smtp_code, e.smtp_error.decode()
    assert refused == {}
    return 250, ""


def inbox(m, address):
    return m.sql("SELECT count(*) FROM messages m JOIN mailboxes b ON m.mailbox_id = b.id "
                 "JOIN store_users u ON b.user_id = u.id WHERE u.address = ? AND b.name = 'INBOX'",
                 address)[0][0]


def refused_5_7_1(result):
    code, text = result
    return code == 550 and text.startswith("5.7.1")


def test_professional_to_patient_accepted(space):
    with as_professional(space) as s:
        assert send(s, PRO, PATIENT) == (250, "")
    assert inbox(space, PATIENT) == 1
    rows = space.sql("SELECT state FROM policy_contacts WHERE patient = ? AND contact = ?", PATIENT, PRO)
    assert rows == [("open",)]


def test_patient_to_patient_refused(space):
    with as_password(space, PATIENT) as s:
        assert refused_5_7_1(send(s, PATIENT, PATIENT2))
        # to oneself: refused at DATA (only a profile section passes, test_webd_profile)
        code, text = send(s, PATIENT, PATIENT)
        assert code == 550 and text.startswith("5.7.1 patients cannot write to patients"), text
    assert inbox(space, PATIENT2) == 0 and inbox(space, PATIENT) == 0
    rows = space.sql("SELECT detail, result FROM audit_log WHERE action = 'smtp.rcpt' AND target = ?", PATIENT2)
    assert any("reason=patient-to-patient" in d and r.startswith("refused: 550 5.7.1") for d, r in rows), rows


def test_patient_cannot_start_but_may_reply(space):
    with as_password(space, PATIENT) as s:
        assert refused_5_7_1(send(s, PATIENT, PRO))
    with as_professional(space) as s:
        assert send(s, PRO, PATIENT) == (250, "")
    with as_password(space, PATIENT) as s:
        assert send(s, PATIENT, PRO) == (250, "")
        # a reply to one professional opens no door to another
        assert refused_5_7_1(send(s, PATIENT, PRO2))
    assert inbox(space, PRO) == 1


def test_reply_to_in_trust_space_is_the_contact(space):
    with as_professional(space) as s:
        assert send(s, PRO, PATIENT, headers={"Reply-To": f"Laboratoire <{ORG}>"}) == (250, "")
    with as_password(space, PATIENT) as s:
        assert send(s, PATIENT, ORG) == (250, "")
        assert refused_5_7_1(send(s, PATIENT, PRO))
    # a Reply-To outside the trust space is ignored: From is the contact
    with as_professional(space, "pro2") as s:
        assert send(s, PRO2, PATIENT2, headers={"Reply-To": "someone@gmail.example"}) == (250, "")
    with as_password(space, PATIENT2) as s:
        assert send(s, PATIENT2, PRO2) == (250, "")


def test_after_fin_refused_until_written_again(space):
    with as_professional(space) as s:
        assert send(s, PRO, PATIENT) == (250, "")
        assert send(s, PRO, PATIENT, headers={"X-MSS-MES": "FIN"}) == (250, "")
    with as_password(space, PATIENT) as s:
        code, text = send(s, PATIENT, PRO)
        assert (code, text[:5]) == (550, "5.7.1") and "closed" in text
    with as_professional(space) as s:
        assert send(s, PRO, PATIENT) == (250, "")
    with as_password(space, PATIENT) as s:
        assert send(s, PATIENT, PRO) == (250, "")
    # the subject form: exactly "[FIN]"
    with as_professional(space, "pro2") as s:
        assert send(s, PRO2, PATIENT, subject="[FIN]") == (250, "")
    with as_password(space, PATIENT) as s:
        assert refused_5_7_1(send(s, PATIENT, PRO2))
    rows = space.sql("SELECT state FROM policy_contacts WHERE patient = ? AND contact = ?", PATIENT, PRO2)
    assert rows == [("closed",)]


def test_history_records_an_exchange_opening_and_end_not_each_message(space):
    """The patient's history says when an exchange opened or closed, once each: not
    "Échange ouvert" for every message of an open exchange."""
    def records():
        return [r[0] for r in space.sql(
            "SELECT action FROM audit_log WHERE patient = ? AND target = ? AND action LIKE 'contact.%'"
            " ORDER BY seq", PATIENT, PRO)]
    with as_professional(space) as s:
        for _ in range(3):
            assert send(s, PRO, PATIENT) == (250, "")
        assert records() == ["contact.open"]
        assert send(s, PRO, PATIENT, headers={"X-MSS-MES": "FIN"}) == (250, "")
        assert send(s, PRO, PATIENT, headers={"X-MSS-MES": "FIN"}) == (250, "")
        assert records() == ["contact.open", "contact.close"]
        assert send(s, PRO, PATIENT) == (250, "")
        assert send(s, PRO, PATIENT) == (250, "")
    assert records() == ["contact.open", "contact.close", "contact.open"]
    assert inbox(space, PATIENT) == 7  # every message delivered, and each has its record
    assert space.sql("SELECT count(*) FROM audit_log WHERE patient = ? AND action = 'smtp.deliver'",
                     PATIENT)[0][0] == 7


def test_blocked_professional_refused(space):
    r = space.ctl("access", "block", PATIENT, PRO2, check=False)
    assert r.returncode == 0, r.stderr
    assert space.sql("SELECT count(*) FROM patient_blocks WHERE patient = ? AND professional = ?",
                     PATIENT, PRO2) == [(1,)]
    with as_professional(space, "pro2") as s:
        assert refused_5_7_1(send(s, PRO2, PATIENT))
        assert send(s, PRO2, PATIENT2) == (250, "")
    assert inbox(space, PATIENT) == 0


def test_patient_writes_to_pharmacy_first(space):
    with as_password(space, PATIENT) as s:
        assert send(s, PATIENT, PHARMACY) == (250, "")
    assert inbox(space, PHARMACY) == 1


def test_sender_address_not_theirs_refused(space):
    with as_professional(space) as s:
        code, text = send(s, PRO2, PATIENT)
        assert (code, text[:5]) == (550, "5.7.1")
    with as_password(space, PATIENT) as s:
        code, text = send(s, PATIENT2, PRO)
        assert (code, text[:5]) == (550, "5.7.1")


def test_operator_with_listed_dn_accepted(space):
    with as_operator(space) as s:
        assert send(s, REMOTE_PRO, PATIENT) == (250, "")
        # listed operator, but the sender's directory entry is inactive / absent
        assert refused_5_7_1(send(s, REMOTE_INACTIVE, PATIENT))
        assert refused_5_7_1(send(s, "unknown@other-operator.test", PATIENT))
        assert send(s, "unknown@other-operator.test", PRO) == (250, "")
        # an operator never speaks for our own addresses
        code, text = send(s, PRO2, PATIENT)
        assert (code, text[:5]) == (550, "5.7.1")
    assert inbox(space, PATIENT) == 1
    # the patient may answer the remote professional (an authorised contact now): the
    # reply goes to the outbound queue (issue 13)
    with as_password(space, PATIENT) as s:
        assert send(s, PATIENT, REMOTE_PRO) == (250, "")
    assert space.sql("SELECT rcpt FROM queue_rcpts") == [(REMOTE_PRO,)]


def test_sender_changes_count_from_next_transaction(space):
    """MAIL reads the sender's account and directory entry once for its transaction
    (auth/sender_rows.h): a change made between two messages of one connection
    counts for the second one."""
    with as_operator(space) as s:
        assert send(s, REMOTE_PRO, PATIENT) == (250, "")
        space.ctl("directory", "disable", REMOTE_PRO)
        assert refused_5_7_1(send(s, REMOTE_PRO, PATIENT))
        space.ctl("directory", "enable", REMOTE_PRO)
        assert send(s, REMOTE_PRO, PATIENT) == (250, "")
    with as_professional(space) as s:
        assert send(s, PRO, PATIENT) == (250, "")
        space.ctl("account", "disable", PRO)
        assert refused_5_7_1(send(s, PRO, PATIENT))
    assert inbox(space, PATIENT) == 3


def test_operator_with_unlisted_dn_refused(space):
    t = space.root / "trust2.xml"
    t.write_text(trust_xml([("other-operator.test", "CN=mx.someone-else.test,O=Someone Else,C=FR")]))
    space.ctl("trust", "import", str(t))
    with as_operator(space) as s:
        code, text = send(s, REMOTE_PRO, PATIENT)
        assert (code, text[:5]) == (550, "5.7.1")
    assert inbox(space, PATIENT) == 0
    rows = space.sql("SELECT detail, result FROM audit_log WHERE action = 'smtp.mail' AND target = ?", REMOTE_PRO)
    assert any("operator-not-listed" in d and r.startswith("refused: 550") for d, r in rows), rows


def test_outside_trust_space_refused(space):
    with as_password(space, PATIENT) as s:
        assert refused_5_7_1(send(s, PATIENT, "someone@gmail.example"))
    with as_professional(space) as s:
        assert refused_5_7_1(send(s, PRO, "someone@gmail.example"))
