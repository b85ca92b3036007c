"""What the patient reads makes sense (issue 11): every Historique entry and every
notification in French, in local time (the timezone key, default Europe/Paris), people
named by their directory name (a certificate DN never), one French label per event
kind with the right direction; a CDA shown as readable HTML beside its original XML;
one vault entry per document (the PDF beside an XDM's CDA is its rendition); an XDS
replacement supersedes the earlier version, kept as history; the document's own date;
subjects without the XDM/1.0/DDM+ prefix."""
import datetime
import email.policy
import email.utils
import imaplib
import re
import smtplib
import time
from zoneinfo import ZoneInfo

import pytest

from conftest import PASSWORDS, PATIENT, PRO, PRO2
from controls_helpers import (PDF, history, history_text, imap, inbox_copy, message, parsed, raw_messages,
                              send, session, vault_rows, xdm)
from test_policy_smtp import REMOTE_PRO, as_operator, space  # noqa: F401  (fixture)

# The one French label of each event kind, as the patient reads it (subject prefix).
LABELS = {
    ("smtp.deliver", "in"): "Message reçu",
    ("smtp.deliver", "out"): "Message envoyé",
    ("smtp.rcpt", "in"): "Message refusé",
    ("smtp.rcpt", "out"): "Envoi refusé",
    ("contact.open", None): "Échange ouvert",
    ("contact.close", None): "Échange clos",
    ("vault.file", "ok"): "Document classé",
    ("vault.file", "refused"): "Document non classé",
    ("vault.ko", None): "Erreur d'intégration signalée à l'expéditeur",
    ("vault.notify", None): "Notification envoyée",
    ("vault.open", None): "Coffre-fort consulté",
    ("vault.read", None): "Document consulté",
    ("vault.search", None): "Recherche dans vos documents",
    ("vault.refused", None): "Tentative d'accès refusée",
    ("vault.mask", None): "Document masqué aux professionnels",
    ("vault.unmask", None): "Document de nouveau visible des professionnels",
    ("vault.delete", None): "Document supprimé",
    ("access.grant", None): "Accès au coffre-fort accordé",
    ("access.revoke", None): "Accès au coffre-fort retiré",
    ("access.block", None): "Professionnel bloqué",
    ("access.unblock", None): "Professionnel débloqué",
}
RAW_CODES = re.compile(r"contact\.open|contact\.close|vault\.\w+|smtp\.\w+|access\.\w+|\brefused\b|"
                       r"\bsender\b|\berror\b|Qui : mss\b|Qui : mssctl|reason=|UTC|CN=")


@pytest.fixture
def both(mss):
    mss.start("smtpd")
    mss.start("imapd")
    return mss


def wait_rows(m, n=1, patient=PATIENT):
    for _ in range(100):
        rows = vault_rows(m, patient)
        if len(rows) >= n:
            return rows
        time.sleep(0.1)
    raise AssertionError("nothing filed")


def local(t, zone="Europe/Paris"):
    return datetime.datetime.fromtimestamp(t, ZoneInfo(zone))


def patient_rows(m):
    return m.sql("SELECT seq, time, action, actor, target, result FROM audit_log WHERE patient = ? ORDER BY seq",
                 PATIENT)


def expected_label(action, actor, result):
    if action.startswith("smtp."):
        return LABELS[(action, "out" if actor == PATIENT else "in")]
    if action == "vault.file":
        return LABELS[(action, "ok" if result == "ok" else "refused")]
    return LABELS[(action, None)]


def check_history(m, zone="Europe/Paris"):
    entries = history(m)
    rows = patient_rows(m)
    assert len(entries) == len(rows), ([str(e["Subject"]) for e in entries], rows)
    for e, (seq, t, action, actor, target, result) in zip(entries, rows):
        subject, body = str(e["Subject"]), history_text(e)
        assert subject.startswith(expected_label(action, actor, result) + " : "), (action, subject)
        assert not RAW_CODES.search(subject + "\n" + body), (action, subject, body)
        when = local(t, zone)
        assert when.strftime("le %d/%m/%Y à %H:%M:%S") in body, (when, body)
        date = email.utils.parsedate_to_datetime(e["Date"])
        assert date.utcoffset() == when.utcoffset() and abs(date.timestamp() - t) < 1
    return entries, rows


def test_every_history_kind_in_french_and_local_time(both):
    m = both
    msg = message(subject="premier message")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="cr.pdf")
    send(m, msg)                                                   # received, contact, filed, notified
    folder = wait_rows(m)[0][7]
    send(m, message(subject="réponse", to=PRO, sender=PATIENT), user=PATIENT)   # sent
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send(m, message(subject="sans contact", to=PRO2, sender=PATIENT), user=PATIENT)  # send refused
    other = xdm.build_xdm([{"name": "DOC0001.XML", "data": xdm.cda_document(ins="279035121518989")}],
                          ins="279035121518989")
    bad = message(subject="mauvais patient")
    bad.add_attachment(other, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    send(m, bad)                                                   # not filed, KO to the sender
    pat = session(m, PATIENT)
    try:
        _, t = pat.cmd("a1", f'SETACL Documents "{PRO}" lr')       # granted by the patient
        assert t.startswith(b"a1 OK")
        pro2 = session(m, PRO2)
        pro2.cmd("b1", f'EXAMINE "Patients/{PATIENT}/{folder}"')   # refused attempt
        pro2.close()
        pro = session(m, PRO)
        pro.cmd("c1", f'EXAMINE "Patients/{PATIENT}/{folder}"')    # opened
        pro.cmd("c2", "FETCH 1 (BODY.PEEK[2])")                    # read
        pro.cmd("c3", "SEARCH BODY Bonjour")                       # searched
        pro.close()
        pat.cmd("a2", f'SELECT "{folder}"')
        pat.cmd("a3", "STORE 1 +FLAGS ($Masked)")                  # masked
        pat.cmd("a4", "STORE 1 -FLAGS ($Masked)")                  # unmasked
        pat.cmd("a5", f'DELETEACL Documents "{PRO}"')              # revoked
        pat.cmd("a6", "STORE 1 +FLAGS (\\Deleted)")
        pat.cmd("a7", "EXPUNGE")                                   # deleted
    finally:
        pat.close()
    send(m, _fin(), user=PRO)                                      # closed
    m.ctl("access", "block", PATIENT, PRO2)                        # blocked
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send(m, message(subject="bloqué", sender=PRO2), user=PRO2)  # received refused
    m.ctl("access", "unblock", PATIENT, PRO2)                      # unblocked
    entries, rows = check_history(m)
    kinds = {expected_label(a, actor, r) for _, _, a, actor, _, r in rows}
    assert kinds == set(LABELS.values()), set(LABELS.values()) ^ kinds
    assert not any(r[2] == "smtp.rcpt" and r[5] == "ok" for r in rows)  # an accepted RCPT is no event
    by_label = {str(e["Subject"]).split(" : ")[0]: history_text(e) for e in entries}
    assert "Dr Martin (dr.martin@pro.mss.test)" in by_label["Coffre-fort consulté"]
    assert "vous avez bloqué" in by_label["Message refusé"], by_label["Message refusé"]
    sent = [history_text(e) for e in entries if str(e["Subject"]).startswith("Message envoyé")]
    assert sent and "Dr Martin" in sent[0] and "À : " in sent[0], sent
    assert "Documents/" in by_label["Document consulté"]
    assert "Qui : le service" in by_label["Notification envoyée"], by_label["Notification envoyée"]


def _fin():
    msg = message(subject="fin de l'échange")
    msg["X-MSS-MES"] = "FIN"
    return msg


def test_history_in_the_configured_timezone(mss_factory):
    m = mss_factory(extra={"timezone": "America/Cayenne"})
    m.add_demo_accounts()
    m.start("smtpd")
    m.start("imapd")
    m.ctl("access", "grant", PATIENT, PRO)
    send(m, message(subject="heure locale"))
    check_history(m, zone="America/Cayenne")


def test_bad_timezone_stops_the_daemon(mss):
    mss.set(timezone="Europe/Atlantide")
    with pytest.raises(AssertionError) as e:
        mss.start("smtpd")
    assert "mss.conf:" in str(e.value) and "timezone" in str(e.value)
    mss.set(timezone="../../../etc/passwd")
    with pytest.raises(AssertionError) as e:
        mss.start("imapd")
    assert "timezone" in str(e.value)


def test_a_message_refused_at_data_is_not_received(mss_factory):
    m = mss_factory(extra={"max_message_size": "20000"})
    m.add_demo_accounts()
    m.start("smtpd")
    m.start("imapd")
    big = message(subject="trop gros", text="x" * 70 + "\n" * 0 + ("y" * 70 + "\n") * 500)
    with smtplib.SMTP("127.0.0.1", m.port("submission"), timeout=30) as s:
        s.starttls(context=m.login_context(PRO))
        s.login(PRO, PASSWORDS[PRO])
        assert s.mail(PRO)[0] == 250  # no SIZE: refused only at the end of DATA
        assert s.rcpt(PATIENT)[0] == 250
        code, _ = s.data(big.as_bytes(policy=email.policy.SMTP))
        assert code == 552
    subjects = [str(e["Subject"]) for e in history(m)]
    assert not any(s.startswith("Message reçu") for s in subjects), subjects


def test_operators_doctor_named_by_directory_name(space):  # noqa: F811
    m = space
    m.start("imapd")
    with as_operator(m) as s:
        msg = message(subject="depuis un autre opérateur", sender=REMOTE_PRO)
        s.send_message(msg, from_addr=REMOTE_PRO, to_addrs=[PATIENT])
    entries = history(m)
    received = [e for e in entries if str(e["Subject"]).startswith("Message reçu")]
    assert received, [str(e["Subject"]) for e in entries]
    text = str(received[0]["Subject"]) + history_text(received[0])
    assert "Rémi REMOTE" in text and REMOTE_PRO in text and "CN=" not in text, text


# ---- notifications ---------------------------------------------------------------------

def notices(m):
    c = imap(m)
    try:
        return [parsed(r) for r in raw_messages(c, "INBOX") if b"From: service@" in r]
    finally:
        c.logout()


def test_access_notice_says_how_to_withdraw_in_local_time(both):
    m = both
    msg = message(subject="pour la consultation")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="cr.pdf")
    send(m, msg)
    folder = wait_rows(m)[0][7]
    m.ctl("access", "grant", PATIENT, PRO)
    pro = session(m, PRO)
    pro.cmd("a1", f'EXAMINE "Patients/{PATIENT}/{folder}"')
    pro.close()
    t = m.sql("SELECT time FROM audit_log WHERE action = 'vault.open' ORDER BY seq DESC LIMIT 1")[0][0]
    opened = [n for n in notices(m) if str(n["Subject"]) == "Consultation de votre coffre-fort"]
    assert len(opened) == 1
    body = opened[0].get_body().get_content()
    assert "Dr Martin" in body and "UTC" not in body
    assert any(local(t + d).strftime("le %d/%m/%Y à %H:%M") in body for d in (-1, 0, 1, 2)), body
    assert "Pour retirer cet accès" in body and "Documents" in body and PRO in body, body
    date = email.utils.parsedate_to_datetime(opened[0]["Date"])
    assert date.utcoffset() == local(t).utcoffset() and abs(date.timestamp() - t) < 5
    added = [n for n in notices(m) if str(n["Subject"]) == "Nouveau document dans votre coffre-fort"]
    assert added and "Un nouveau document a été ajouté" in added[0].get_body().get_content()


# ---- documents --------------------------------------------------------------------------

NARRATIVE_CDA = """<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xhtml="http://www.w3.org/1999/xhtml">
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <id root="1.2.250.1.999.1" extension="narrative-1"/>
  <code code="11502-2" codeSystem="2.16.840.1.113883.6.1" displayName="CR d'examens biologiques"/>
  <title>Compte rendu de biologie</title>
  <effectiveTime value="20261129093000+0100"/>
  <confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/>
  <setId root="1.2.250.1.999.1" extension="set-1"/>
  <versionNumber value="1"/>
  <recordTarget><patientRole><id root="1.2.250.1.213.1.4.10" extension="146026322000196"/>
    <patient><name><given>Patient</given><family>DEMO</family></name></patient></patientRole></recordTarget>
  <component><structuredBody>
    <component><section>
      <title>Résultats</title>
      <text>
        <table border="1"><thead><tr><th>Examen</th><th>Valeur</th></tr></thead>
          <tbody><tr><td>Hémoglobine</td><td>13,5 g/dL</td></tr></tbody></table>
        <paragraph>Commentaire : &lt;script&gt;alert(1)&lt;/script&gt; à revoir.</paragraph>
        <xhtml:script>evil()</xhtml:script>
        <list><item>Contrôle dans <content styleCode="Bold">3 mois</content></item></list>
      </text>
    </section></component>
  </structuredBody></component>
</ClinicalDocument>
""".encode()


def test_cda_rendered_as_html_beside_the_xml_and_its_pdf_is_a_rendition(both):
    m = both
    archive = xdm.build_xdm([{"name": "DOC0001.XML", "data": NARRATIVE_CDA, "title": "Compte rendu de biologie",
                              "creation": "20261129083000"}])
    msg = message(subject="XDM/1.0/DDM+CR de biologie DEMO Patient")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="20261129_CR-BIO_DEMO_Patient.pdf")
    msg.add_attachment(archive, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    send(m, msg, rcpts=[PATIENT, PRO2])
    rows = wait_rows(m)
    time.sleep(0.5)
    rows = vault_rows(m)
    assert len(rows) == 1, rows  # one document: the PDF is the CDA's rendition
    c = imap(m)
    raws = raw_messages(c, rows[0][7])
    typ, data = c.uid("FETCH", str(rows[0][8]), "(INTERNALDATE)")
    c.logout()
    doc = parsed(raws[0])
    html = [p for p in doc.walk() if p.get_content_type() == "text/html"]
    assert len(html) == 1
    h = html[0].get_content()
    assert "<h2>Résultats</h2>" in h and "<td>Hémoglobine</td>" in h and "<th>Examen</th>" in h, h
    assert "&lt;script&gt;" in h and "<script" not in h.lower() and "evil()" not in h, h
    assert "<li>" in h and "3 mois" in h
    atts = {p.get_filename(): p.get_payload(decode=True) for p in doc.iter_attachments() if p.get_filename()}
    assert atts["DOC0001.XML"] == NARRATIVE_CDA
    assert atts["20261129_CR-BIO_DEMO_Patient.pdf"] == PDF
    # the document's own date, not the filing time
    assert imaplib.Internaldate2tuple(data[0]) is not None
    internal = time.mktime(imaplib.Internaldate2tuple(data[0]))
    assert abs(internal - datetime.datetime(2026, 11, 29, 8, 30, tzinfo=datetime.timezone.utc).timestamp()) < 1
    assert email.utils.parsedate_to_datetime(doc["Date"]) == datetime.datetime(
        2026, 11, 29, 8, 30, tzinfo=datetime.timezone.utc)
    assert str(doc["Subject"]) == "Compte rendu de biologie"
    # the patient's copy of the message: no XDM/1.0/DDM+ prefix; others keep the subject as sent
    copy = parsed(inbox_copy(m, b"DEMO Patient"))
    assert str(copy["Subject"]) == "CR de biologie DEMO Patient"
    theirs = parsed(inbox_copy(m, b"DEMO Patient", user=PRO2))
    assert str(theirs["Subject"]) == "XDM/1.0/DDM+CR de biologie DEMO Patient"


def test_standalone_cda_uses_its_own_date(both):
    m = both
    msg = message(subject="cda seul")
    msg.add_attachment(NARRATIVE_CDA, maintype="text", subtype="xml", filename="cr.xml")
    send(m, msg)
    rows = wait_rows(m)
    c = imap(m)
    doc = parsed(raw_messages(c, rows[0][7])[0])
    c.logout()
    assert email.utils.parsedate_to_datetime(doc["Date"]) == datetime.datetime(
        2026, 11, 29, 8, 30, tzinfo=datetime.timezone.utc)
    assert any(p.get_content_type() == "text/html" for p in doc.walk())


def test_replacement_supersedes_the_earlier_version(both):
    m = both
    v1_uuid = "urn:uuid:0d6a9a1e-7c51-4e0b-9a57-2f1e0c6d1a01"
    v1 = xdm.build_xdm([{"name": "DOC0001.XML", "data": xdm.cda_document(title="version 1"),
                         "entry_uuid": v1_uuid, "unique_id": "1.2.250.1.999.1.100"}])
    msg = message(subject="version 1")
    msg.add_attachment(v1, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    send(m, msg)
    wait_rows(m, 1)
    v2 = xdm.build_xdm([{"name": "DOC0001.XML", "data": xdm.cda_document(title="version 2"),
                         "entry_uuid": "urn:uuid:0d6a9a1e-7c51-4e0b-9a57-2f1e0c6d1a02",
                         "unique_id": "1.2.250.1.999.1.101", "replaces": v1_uuid}])
    msg = message(subject="version 2")
    msg.add_attachment(v2, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    send(m, msg)
    rows = wait_rows(m, 2)
    sup = m.sql("SELECT id, superseded_by FROM vault_document WHERE patient = ? ORDER BY id", PATIENT)
    assert sup[0][1] == sup[1][0] and sup[1][1] in (None, 0), sup
    folder = rows[0][7]
    m.ctl("access", "grant", PATIENT, PRO)
    for who in (PATIENT, PRO):
        c = imap(m, who)
        box = folder if who == PATIENT else f"Patients/{PATIENT}/{folder}"
        typ, _ = c.select(f'"{box}"', readonly=True)
        typ, data = c.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        c.logout()
        flags = [d[0] for d in data if isinstance(d, tuple)]
        assert len(flags) == 2, data  # the earlier version stays reachable
        assert b"$Superseded" in flags[0] and b"$Superseded" not in flags[1], flags
    c = imap(m)
    v2doc = parsed(raw_messages(c, folder)[1])
    c.logout()
    assert "remplace" in v2doc.get_body(("plain",)).get_content().lower()
    pat = session(m, PATIENT)  # $Superseded is the vault's: the patient cannot clear it
    try:
        pat.cmd("p1", f'SELECT "{folder}"')
        for tag, store in (("p2", "STORE 1 -FLAGS ($Superseded)"), ("p3", "STORE 1 -FLAGS ($SUPERSEDED)"),
                           ("p4", "STORE 1 FLAGS (\\Seen)"), ("p5", "STORE 2 +FLAGS ($superseded)")):
            _, t = pat.cmd(tag, store)
            assert t.startswith(f"{tag} NO".encode()), (store, t)
        _, t = pat.cmd("p6", "STORE 1:2 +FLAGS (\\Flagged)")  # the patient's own flags still change
        assert t.startswith(b"p6 OK"), t
        lines, _ = pat.cmd("p7", "FETCH 1:2 (FLAGS)")
        assert b"$Superseded" in lines[0] and b"$Superseded" not in lines[1], lines
    finally:
        pat.close()
    subjects = [str(n["Subject"]) for n in notices(m)]
    assert subjects.count("Document mis à jour dans votre coffre-fort") == 1, subjects
