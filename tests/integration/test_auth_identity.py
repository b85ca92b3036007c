"""A sender sends only as who it proved to be (auth/identity.h), on every port: MAIL
FROM and every address of the header From and Sender are the authenticated identity
(550 5.7.1 saying which rule otherwise). Replays the forgeries of issue 10: the lab's
certificate sending as Dr Martin on the MX, an SPF relay doing the same, a patient
showing another patient as author, a forged From with X-MSS-MES: FIN closing another
professional's exchange; a disabled directory entry or account cannot send."""
import pytest

from conftest import ORG, PASSWORDS, PATIENT, PATIENT2, PRO, PRO2
from test_policy_smtp import DIRECTORY, OPERATOR_DN, REMOTE_PRO, trust_xml
from test_smtp_clients import swaks
from test_smtp_protocol import connect, inbox_count, login


def data(c, mail_from, rcpt, header, body="Bonjour.\r\n"):
    """One transaction; returns (code, text) of the first refusal or of the final dot."""
    code, text = c.cmd(f"MAIL FROM:<{mail_from}>")
    if code != 250:
        return code, text[0]
    code, text = c.cmd(f"RCPT TO:<{rcpt}>")
    if code != 250:
        c.cmd("RSET")
        return code, text[0]
    assert c.cmd("DATA")[0] == 354
    c.send(header.encode() + b"\r\n" + body.encode() + b".\r\n")
    code, text = c.reply()
    return code, text[0]


@pytest.fixture
def space(mss):
    d = mss.root / "directory.csv"
    d.write_text(DIRECTORY, encoding="utf-8")
    mss.ctl("directory", "import", "--strict", str(d))
    t = mss.root / "trust.xml"
    t.write_text(trust_xml([("other-operator.test", OPERATOR_DN)]))
    mss.ctl("trust", "import", str(t))
    zone = mss.root / "spf.zone"
    # the health domain's SPF covers the relay's address: SPF alone must not let the
    # relay speak for accounts of this server
    zone.write_text('etab.test TXT "v=spf1 ip4:127.0.0.1 -all"\n'
                    'pro.mss.test TXT "v=spf1 ip4:127.0.0.1 -all"\n')
    mss.set(relay_networks="127.0.0.0/8", spf_zone_file=str(zone))
    mss.start("smtpd")
    return mss


def test_lab_certificate_sends_only_as_the_lab(space):
    """Issue 10: on the MX the lab's certificate sent MAIL FROM:<dr.martin> and got 250."""
    c = connect(space, "smtp", cert="org")
    code, text = c.cmd(f"MAIL FROM:<{PRO}>")
    assert (code, text[0]) == (550, "5.7.1 MAIL FROM must be your establishment's own address (your "
                                    "certificate's)")
    assert data(c, ORG, PATIENT, f"From: {ORG}\r\nSubject: résultats")[0] == 250
    code, text = data(c, ORG, PATIENT, f"From: Dr Martin <{PRO}>\r\nSubject: x")
    assert (code, text[:5]) == (550, "5.7.1") and text.startswith("5.7.1 header From must be your establishment")
    assert inbox_count(space, PATIENT) == 1
    rows = space.sql("SELECT action, detail, result FROM audit_log WHERE action IN ('smtp.mail', 'smtp.header') "
                     "AND result LIKE 'refused%'")
    assert ("smtp.mail", "reason=address-not-theirs") in [(r[0], r[1]) for r in rows], rows
    assert ("smtp.header", "reason=header-not-theirs") in [(r[0], r[1]) for r in rows], rows


def test_spf_relay_never_sends_as_this_servers_accounts(space):
    c = connect(space, "smtp")
    code, text = c.cmd(f"MAIL FROM:<{PRO}>")
    assert code == 550 and text[0].startswith("5.7.1 MAIL FROM is served here")
    assert data(c, "automate@etab.test", PRO, "From: automate@etab.test\r\nSubject: x")[0] == 250
    code, text = data(c, "automate@etab.test", PRO, f"From: {PRO}\r\nSubject: x")
    assert code == 550 and text.startswith("5.7.1 header From is served here")
    code, text = data(c, "automate@etab.test", PRO, "From: someone@elsewhere.test\r\nSubject: x")
    assert code == 550 and text.startswith("5.7.1 header From must be in the domain SPF vouched for")
    assert inbox_count(space, PRO) == 1


def test_operator_header_in_its_domains(space):
    c = connect(space, "smtp", cert="operator")
    assert data(c, REMOTE_PRO, PRO, f"From: {REMOTE_PRO}\r\nSubject: x")[0] == 250
    code, text = data(c, REMOTE_PRO, PRO, f"From: {PRO2}\r\nSubject: x")
    assert code == 550 and text.startswith("5.7.1 header From is served here, not by your operator")
    code, text = data(c, REMOTE_PRO, PRO, "From: dr.x@unlisted.test\r\nSubject: x")
    assert code == 550 and "trust list" in text


FORGERIES = [
    ("another patient as author", f"From: {PATIENT2}\r\n"),
    ("two authors", f"From: {PATIENT}, {PATIENT2}\r\n"),
    ("a second From field", f"From: {PATIENT}\r\nFrom: {PATIENT2}\r\n"),
    ("Sender of another", f"From: {PATIENT}\r\nSender: {PATIENT2}\r\n"),
    ("group syntax", f"From: Patients: {PATIENT2};\r\n"),
    ("From after a line the parser stops at", f"Subject: x\r\nnot a header line\r\nFrom: {PATIENT2}\r\n"),
    ("upper case field name", f"FROM: {PATIENT2}\r\n"),
]


@pytest.mark.parametrize("listener", ["submission", "submissions"])
def test_patient_header_forgeries_refused(space, listener):
    """Issue 10: a patient sent a message that showed another patient as its author."""
    d = login(space, PRO, listener)
    assert data(d, PRO, PATIENT, f"From: {PRO}\r\nSubject: consultation")[0] == 250
    c = login(space, PATIENT, listener)
    for name, header in FORGERIES:
        code, text = data(c, PATIENT, PRO, header + "Subject: x")
        assert code == 550 and text.startswith("5.7.1 header "), (name, code, text)
    # a display name showing another patient's address is a forgery too
    code, text = data(c, PATIENT, PRO, f'From: "{PATIENT2}" <{PATIENT}>\r\nSubject: x')
    assert code == 550 and text.startswith("5.7.1 header From display name"), text
    assert data(c, PATIENT, PRO, f'From: "Patient Demo" <{PATIENT}>\r\nSubject: x')[0] == 250
    assert data(c, PATIENT, PRO, f"From: {PATIENT.upper()}\r\nSender: {PATIENT}\r\nSubject: x")[0] == 250
    assert inbox_count(space, PRO) == 2


def test_fin_only_from_the_contact_itself(space):
    """Issue 10: a professional forged From: dr.durand with X-MSS-MES: FIN and closed Dr
    Durand's exchange with a patient."""
    d2 = login(space, PRO2)
    assert data(d2, PRO2, PATIENT, f"From: {PRO2}\r\nSubject: consultation")[0] == 250
    d = login(space, PRO)
    code, text = data(d, PRO, PATIENT, f"From: {PRO2}\r\nX-MSS-MES: FIN\r\nSubject: fin")
    assert code == 550 and text.startswith("5.7.1 header From must be the address you authenticated as")
    # the third party's own address, naming Dr Durand as the contact: no closing
    assert data(d, PRO, PATIENT, f"From: {PRO}\r\nReply-To: {PRO2}\r\nX-MSS-MES: FIN\r\nSubject: fin")[0] == 250
    assert data(d, PRO, PATIENT, f"From: {PRO}\r\nReply-To: {PRO2}\r\nSubject: [FIN]")[0] == 250
    assert space.sql("SELECT state FROM policy_contacts WHERE patient = ? AND contact = ?", PATIENT, PRO2) == \
        [("open",)]
    p = login(space, PATIENT)
    assert data(p, PATIENT, PRO2, f"From: {PATIENT}\r\nSubject: re")[0] == 250
    # Dr Durand's own FIN closes it
    assert data(d2, PRO2, PATIENT, f"From: {PRO2}\r\nX-MSS-MES: FIN\r\nSubject: fin")[0] == 250
    code, text = data(p, PATIENT, PRO2, f"From: {PATIENT}\r\nSubject: re")
    assert code == 550 and "closed" in text


def test_closed_exchange_reopened_only_by_the_contact_itself(space):
    """Dr Durand closed his exchange with the patient (FIN); another professional naming
    him in Reply-To, without FIN, reopened it for him: the patient could write to Dr
    Durand again against his decision. Only his own message reopens it."""
    d2 = login(space, PRO2)
    assert data(d2, PRO2, PATIENT, f"From: {PRO2}\r\nX-MSS-MES: FIN\r\nSubject: fin")[0] == 250
    d = login(space, PRO)
    assert data(d, PRO, PATIENT, f"From: {PRO}\r\nReply-To: {PRO2}\r\nSubject: suite")[0] == 250
    assert space.sql("SELECT state FROM policy_contacts WHERE patient = ? AND contact = ?", PATIENT, PRO2) == \
        [("closed",)]
    p = login(space, PATIENT)
    code, text = data(p, PATIENT, PRO2, f"From: {PATIENT}\r\nSubject: re")
    assert code == 550 and "closed" in text
    # the third party's own contact is opened as before
    assert data(p, PATIENT, PRO, f"From: {PATIENT}\r\nSubject: re")[0] == 550  # Reply-To won
    assert data(d, PRO, PATIENT, f"From: {PRO}\r\nSubject: suite")[0] == 250
    assert data(p, PATIENT, PRO, f"From: {PATIENT}\r\nSubject: re")[0] == 250
    # Dr Durand writing again reopens it
    assert data(d2, PRO2, PATIENT, f"From: {PRO2}\r\nSubject: reprise")[0] == 250
    assert data(p, PATIENT, PRO2, f"From: {PATIENT}\r\nSubject: re")[0] == 250


def test_disabled_directory_entry_or_account_cannot_send(space):
    """Issue 10: a local professional whose directory entry is disabled could still start
    a conversation with a patient."""
    d = login(space, PRO)
    space.ctl("directory", "disable", PRO)
    code, text = d.cmd(f"MAIL FROM:<{PRO}>")
    assert (code, text[0]) == (550, "5.7.1 your directory entry is not active: it cannot send")
    code, text = d.cmd("MAIL FROM:<>")
    assert code == 550
    d2 = login(space, PRO2)
    space.ctl("account", "disable", PRO2)
    code, text = d2.cmd(f"MAIL FROM:<{PRO2}>")
    assert (code, text[0]) == (550, "5.7.1 your account is disabled: it cannot send")
    assert inbox_count(space, PATIENT) == 0


def test_mail_from_not_theirs_says_the_rule(space):
    d = login(space, PRO)
    code, text = d.cmd(f"MAIL FROM:<{PRO2}>")
    assert (code, text[0]) == (550, "5.7.1 MAIL FROM must be the address you authenticated as")
    assert d.cmd("MAIL FROM:<>")[0] == 250  # receipts and bounces


def test_swaks_forged_header_refused(space):
    d = login(space, PRO)
    assert data(d, PRO, PATIENT, f"From: {PRO}\r\nSubject: consultation")[0] == 250
    r = swaks(space, "--port", str(space.port("submission")), "--tls", "--auth", "PLAIN",
              "--auth-user", PATIENT, "--auth-password", PASSWORDS[PATIENT],
              "--from", PATIENT, "--to", PRO, "--header", f"From: {PATIENT2}")
    assert r.returncode != 0
    assert "550 5.7.1 header From must be the address you authenticated as" in r.stdout, r.stdout


DISPLAY_NAME_SPOOFS = [
    ("bare address as name", "From: {o} <{m}>\r\n"),
    ("quoted address as name", 'From: "{o}" <{m}>\r\n'),
    ("address inside a name", 'From: "Dr Durand ({o})" <{m}>\r\n'),
    ("encoded-word address", "From: =?utf-8?q?{oq}?= <{m}>\r\n"),
    ("Sender display name", "From: {m}\r\nSender: {o} <{m}>\r\n"),
    # RFC 822's "address (Full Name)": the comment is the name many readers show
    ("comment after the address", "From: {m} ({o})\r\n"),
    ("encoded-word comment", "From: {m} (=?utf-8?q?{oq}?=)\r\n"),
    ("folded comment", "From: Dr Martin <{m}>\r\n (\r\n {o})\r\n"),
    ("Sender comment", "From: {m}\r\nSender: {m} ({o})\r\n"),
    # lookalikes of '@' and '.' (fullwidth, small, ideographic) read as the address
    ("fullwidth at in a name", 'From: "{ofw}" <{m}>\r\n'),
    ("small at and ideographic stops", "From: {osm} <{m}>\r\n"),
    ("encoded fullwidth at and stop", "From: =?utf-8?q?{ofq}?= <{m}>\r\n"),
    ("fullwidth at in a comment", "From: {m} ({ofw})\r\n"),
    ("Sender fullwidth at", "From: {m}\r\nSender: {ofw} <{m}>\r\n"),
]


@pytest.mark.parametrize("name,header", DISPLAY_NAME_SPOOFS)
def test_display_name_naming_another_address_refused(space, name, header):
    """Many mail clients (phones first) show only the display name: a name that reads as
    another address shows that address as the author. Found replaying the forgeries of
    issue 10 against IMAP ENVELOPE: `From: dr.durand@... <dr.martin@...>` was taken."""
    d = login(space, PRO)
    h = header.format(m=PRO, o=PRO2, oq=PRO2.replace("@", "=40").replace(".", "=2E"),
                      ofw=PRO2.replace("@", "\uff20").replace(".", "\uff0e"),
                      osm=PRO2.replace("@", "\ufe6b").replace(".", "\u3002"),
                      ofq=PRO2.replace("@", "=EF=BC=A0").replace(".", "=EF=BC=8E"))
    code, text = data(d, PRO, PATIENT, h + "Subject: x")
    assert (code, text) == (550, "5.7.1 header " + ("Sender" if "Sender" in name else "From")
                            + " display name names another address than the sender's"), (name, text)
    # a name that is the address itself, or no address at all, is fine
    for ok in (f'From: "{PRO}" <{PRO}>\r\n', f"From: {PRO.upper()} <{PRO}>\r\n",
               f"From: Laboratoire @ CHU <{PRO}>\r\n", f'From: "Dr Martin" <{PRO}>\r\n',
               f"From: {PRO} (Dr Martin)\r\n", f"From: {PRO} ({PRO})\r\n",
               f"From: {PRO}\r\nSender: {PRO} (=?utf-8?q?Dr_Martin?=)\r\n",
               f"From: Laboratoire \uff20 CHU <{PRO}>\r\n",
               f"From: {PRO.replace('@', chr(0xff20))} <{PRO}>\r\n"):
        assert data(d, PRO, PATIENT, ok + "Subject: ok")[0] == 250, ok
