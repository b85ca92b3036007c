"""Authorisation matrix: for each role and each state of the patient's controls
(no grant, granted, revoked, blocked, masked, invisible to the patient, another
patient's data, another account's INBOX through crafted IMAP names), every forbidden
read or write is refused, leaves the data unchanged, and is audited.

One MSS instance is built per module (both daemons, the demo accounts, the directory,
one vault document for each patient); each test puts its state in place and takes it
away again."""
import email
import email.policy
import email.utils
import imaplib
import smtplib
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import pytest

from relhelp import (CERT_OF, ORG, PASSWORDS, PATIENT, PATIENT2, PRO, PRO2, audit_max_seq,
                     audit_since, imap_login, imap_quote, import_directory, integration,
                     require_binaries, submission, wait_until)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import xdm  # noqa: E402  (tests/xdm.py: IHE XDM archives)

INS2 = PATIENT2.split("@")[0]


def document_message(sender, rcpt, ins, docs, subject="XDM/1.0/DDM+CR BIO TEST Jean"):
    """A message carrying an IHE_XDM.ZIP for patient ins; returns (Message-ID, bytes)."""
    m = EmailMessage(policy=email.policy.SMTP)
    m["From"] = sender
    m["To"] = rcpt
    m["Subject"] = subject
    m["Date"] = "Sun, 29 Nov 2026 10:00:00 +0000"
    m["Message-ID"] = email.utils.make_msgid(domain="rel.mss.test")
    m["X-MSS-NIL"] = "mss-reliability"
    m["X-MSS-INS"] = "O"
    m.set_content("Compte rendu en pièce jointe.\n")
    m.add_attachment(xdm.build_xdm(docs, ins=ins), maintype="application", subtype="zip",
                     filename="IHE_XDM.ZIP")
    return m["Message-ID"], m.as_bytes()


def command(c, name, *args):
    """Runs one IMAP command; returns "OK", "NO" or "BAD" (never raises on NO/BAD)."""
    try:
        typ, _ = c._simple_command(name, *args)
        return typ
    except imaplib.IMAP4.abort:
        raise
    except imaplib.IMAP4.error as e:
        return "BAD" if "BAD" in str(e) or "command" in str(e).lower() else "NO"


def append(c, mailbox):
    try:
        return c.append(imap_quote(mailbox), None, None, b"Subject: planted\r\n\r\nplanted\r\n")[0]
    except imaplib.IMAP4.abort:
        raise
    except imaplib.IMAP4.error:
        return "BAD"


def list_names(c, pattern):
    typ, data = c.list('""', imap_quote(pattern))
    assert typ == "OK", data
    names = []
    for item in data:
        if item is None:
            continue
        if isinstance(item, tuple):  # a literal name
            names.append(item[1].decode(errors="replace"))
            continue
        text = item.decode(errors="replace")
        names.append(text.rsplit(" ", 1)[-1].strip('"') if not text.endswith('"')
                     else text[text.rstrip('"').rfind('"') + 1:-1])
    return names


class World:
    def __init__(self, m):
        self.m = m
        self.doc_folder = {}  # patient -> "Documents/<Class>" holding their document

    def login(self, who):
        if who in CERT_OF and who not in PASSWORDS:
            return imap_login(self.m, who, cert=CERT_OF[who])
        return imap_login(self.m, who, PASSWORDS[who])

    def shared(self, patient, folder=None):
        return f"Patients/{patient}/{folder or self.doc_folder[patient]}"

    def audited_refusal(self, before, actor):
        """True when a refusal by actor was audited after seq before."""
        def found():
            return any(r[0] == actor and r[3].startswith("refused")
                       for r in audit_since(self.m, before))
        return found()  # appended before the reply is sent

    def messages_of(self, who, mailbox):
        c = self.login(who)
        try:
            typ, data = c.status(imap_quote(mailbox), "(MESSAGES)")
            assert typ == "OK", data
            return int(data[0].decode().split("MESSAGES")[1].strip(" )"))
        finally:
            c.logout()


def find_document_folder(m, patient):
    """The Documents/<Class> folder in which the patient's document was filed."""
    c = imap_login(m, patient, PASSWORDS[patient])
    try:
        for name in list_names(c, "Documents/*"):
            typ, data = c.status(imap_quote(name), "(MESSAGES)")
            if typ == "OK" and b"MESSAGES 0" not in data[0]:
                return name
    finally:
        c.logout()
    return None


@pytest.fixture(scope="module")
def world(pki, tmp_path_factory):
    require_binaries("smtpd", "imapd", "mssctl")
    root = tmp_path_factory.mktemp("authz")
    m = integration.Mss(root / "mss", pki, {"max_sessions_per_ip": "100"})
    m.init()
    m.add_demo_accounts()
    r = import_directory(m, root)
    assert r.returncode == 0, r.stderr
    try:  # the daemons stop even when the setup below fails
        m.start("smtpd")
        m.start("imapd")
        w = World(m)
        for cert, sender, patient, ins in (("pro", PRO, PATIENT, xdm.INS_DEMO),
                                           ("pro2", PRO2, PATIENT2, INS2)):
            _, raw = document_message(sender, patient, ins,
                                      [{"name": "DOC0001.XML", "data": xdm.cda_document(ins=ins)}])
            s = submission(m, cert)
            assert not s.sendmail(sender, [patient], raw)
            s.quit()
        for patient in (PATIENT, PATIENT2):
            assert wait_until(lambda: find_document_folder(m, patient), 10), \
                f"no vault document for {patient}"
            w.doc_folder[patient] = find_document_folder(m, patient)
        yield w
    finally:
        m.stop_all()


def grant(w, patient, pro):
    c = w.login(patient)
    try:
        assert command(c, "SETACL", "Documents", imap_quote(pro), "lr") == "OK"
    finally:
        c.logout()


def revoke(w, patient, pro):
    c = w.login(patient)
    try:
        assert command(c, "DELETEACL", "Documents", imap_quote(pro)) == "OK"
    finally:
        c.logout()


def assert_read_refused(w, actor, mailbox):
    """actor can neither open, examine, query nor list mailbox; each refusal audited."""
    c = w.login(actor)
    try:
        for cmd, args in (("SELECT", ()), ("EXAMINE", ()), ("STATUS", ("(MESSAGES)",))):
            before = audit_max_seq(w.m)
            typ = command(c, cmd, imap_quote(mailbox), *args)
            assert typ != "OK", f"{actor} {cmd} {mailbox}: {typ}"
            assert w.audited_refusal(before, actor), f"{actor} {cmd} {mailbox}: refusal not audited"
        assert mailbox not in list_names(c, "*"), f"{actor} lists {mailbox}"
        assert mailbox not in list_names(c, "Patients/%/Documents/%")
    finally:
        c.logout()


def assert_read_allowed(w, actor, mailbox):
    c = w.login(actor)
    try:
        typ, data = c.select(imap_quote(mailbox), readonly=True)
        assert typ == "OK", f"{actor} EXAMINE {mailbox}: {data}"
        return int(data[0])
    finally:
        c.logout()


# --- states of the patient's controls -----------------------------------------------
@pytest.mark.parametrize("actor", [PRO, PRO2, ORG])
def test_no_grant(world, actor):
    assert_read_refused(world, actor, world.shared(PATIENT))


def test_granted_reader_only_reads(world):
    grant(world, PATIENT, PRO)
    try:
        assert assert_read_allowed(world, PRO, world.shared(PATIENT)) >= 1
        for other in (PRO2, ORG):  # the grant is for PRO only
            assert_read_refused(world, other, world.shared(PATIENT))
        box = world.shared(PATIENT)
        count = world.messages_of(PATIENT, world.doc_folder[PATIENT])
        c = world.login(PRO)
        try:
            # SELECT, not EXAMINE, so that each write is refused for want of rights.
            # The server answers [READ-ONLY]; imaplib would then refuse writes itself
            # without sending them, so its guard is told the state is expected.
            assert command(c, "SELECT", imap_quote(box)) == "OK"
            c.state, c.is_readonly = "SELECTED", True
            writes = [
                ("STORE", ("1", "+FLAGS", "(\\Deleted)")),
                ("STORE", ("1", "+FLAGS", "($Masked)")),
                ("EXPUNGE", ()),
                ("SETACL", (imap_quote(box), imap_quote(PRO2), "lr")),
                ("SETACL", ("Documents", imap_quote(PRO2), "lr")),
                ("DELETEACL", (imap_quote(box), imap_quote(PRO))),
                ("DELETE", (imap_quote(box),)),
                ("RENAME", (imap_quote(box), '"Stolen"')),
                ("CREATE", (imap_quote(box + "/New"),)),
            ]
            for cmd, args in writes:
                before = audit_max_seq(world.m)
                typ = command(c, cmd, *args)
                if cmd == "EXPUNGE" and typ == "OK":
                    continue  # nothing could be marked \Deleted: checked by the count below
                assert typ != "OK", f"PRO {cmd} {args}: {typ}"
                assert world.audited_refusal(before, PRO), f"PRO {cmd} {args}: not audited"
            before = audit_max_seq(world.m)
            assert append(c, box) != "OK", "PRO APPEND into the patient's vault"
            assert world.audited_refusal(before, PRO), "APPEND refusal not audited"
        finally:
            c.logout()
        assert world.messages_of(PATIENT, world.doc_folder[PATIENT]) == count
        c = world.login(PATIENT)
        try:  # the patient's document kept its flags
            c.select(imap_quote(world.doc_folder[PATIENT]), readonly=True)
            typ, data = c.fetch("1:*", "(FLAGS)")
            assert b"\\Deleted" not in b"".join(d for d in data if isinstance(d, bytes))
        finally:
            c.logout()
    finally:
        revoke(world, PATIENT, PRO)


def test_revoked(world):
    grant(world, PATIENT, PRO)
    assert_read_allowed(world, PRO, world.shared(PATIENT))
    revoke(world, PATIENT, PRO)
    assert_read_refused(world, PRO, world.shared(PATIENT))


def test_blocked_overrides_grant(world):
    grant(world, PATIENT, PRO)
    world.m.ctl("access", "block", PATIENT, PRO)
    try:
        assert_read_refused(world, PRO, world.shared(PATIENT))
        before = audit_max_seq(world.m)
        s = submission(world.m, "pro")
        try:
            with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
                s.sendmail(PRO, [PATIENT], b"Subject: hello\r\n\r\nblocked?\r\n")
            code, text = e.value.recipients[PATIENT]
            assert code == 550 and b"5.7.1" in text, (code, text)
        finally:
            s.close()
        assert world.audited_refusal(before, PRO), "blocked RCPT not audited"
    finally:
        world.m.ctl("access", "unblock", PATIENT, PRO)
        revoke(world, PATIENT, PRO)


def test_masked_document_hidden_from_professionals(world):
    grant(world, PATIENT, PRO)
    folder = world.doc_folder[PATIENT]
    c = world.login(PATIENT)
    try:
        assert c.select(imap_quote(folder))[0] == "OK"
        assert c.store("1", "+FLAGS", "($Masked)")[0] == "OK"
        mine = c.uid("SEARCH", None, "ALL")[1][0].split()
    finally:
        c.logout()
    try:
        p = world.login(PRO)
        try:
            typ, data = p.select(imap_quote(world.shared(PATIENT)), readonly=True)
            if typ == "OK":
                seen = p.uid("SEARCH", None, "ALL")[1][0].split()
                assert mine[0] not in seen, "masked document visible to a granted professional"
                typ, data = p.uid("FETCH", mine[0].decode(), "(BODY.PEEK[])")
                assert not [d for d in data if isinstance(d, tuple)], "masked document fetched"
        finally:
            p.logout()
        # The patient still sees it.
        assert world.messages_of(PATIENT, folder) >= 1
    finally:
        c = world.login(PATIENT)
        try:
            c.select(imap_quote(folder))
            c.store("1", "-FLAGS", "($Masked)")
        finally:
            c.logout()
        revoke(world, PATIENT, PRO)


def test_invisible_to_patient(world):
    """A document coded INVISIBLE_PATIENT never shows in the patient's mailbox: the
    message is refused, or neither it nor the document appears in any folder."""
    docs = [{"name": "DOC0001.XML", "data": xdm.cda_document(code="18748-4", title="Imagerie"),
             "type_code": "18748-4", "type_label": "CR d'imagerie",
             "confidentiality": ["N", "INVISIBLE_PATIENT"]}]
    msgid, raw = document_message(PRO, PATIENT, xdm.INS_DEMO, docs)
    s = submission(world.m, "pro")
    try:
        refused = False
        try:
            s.sendmail(PRO, [PATIENT], raw)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError):
            refused = True
        s.quit()
    except smtplib.SMTPServerDisconnected:
        refused = True
    if refused:
        return
    time.sleep(0.5)
    c = world.login(PATIENT)
    try:
        for name in list_names(c, "*"):
            typ, _ = c.select(imap_quote(name), readonly=True)
            if typ != "OK":
                continue
            for header in ("Message-ID", "X-MSS-Source-Message-ID"):
                typ, data = c.search(None, "HEADER", header, imap_quote(msgid.strip("<>")))
                assert typ != "OK" or not data[0].split(), \
                    f"invisible document visible to the patient in {name} ({header})"
    finally:
        c.logout()


# --- another patient's data, other accounts' mailboxes ----------------------------------
def test_other_patients_vault(world):
    assert_read_refused(world, PATIENT, world.shared(PATIENT2))
    assert_read_refused(world, PRO, world.shared(PATIENT2))
    c = world.login(PATIENT)
    try:
        before = audit_max_seq(world.m)
        typ = command(c, "SETACL", imap_quote(world.shared(PATIENT2, "Documents")),
                      imap_quote(PATIENT), "lr")
        assert typ != "OK"
        assert world.audited_refusal(before, PATIENT)
    finally:
        c.logout()


@pytest.mark.parametrize("sender", [PATIENT])
def test_submission_identity(world, sender):
    """A patient writes to neither another patient nor as someone else; a professional
    cannot send as a colleague."""
    ctx = world.m.client_context(None)
    s = smtplib.SMTP("127.0.0.1", world.m.port("submission"), timeout=30)
    s.starttls(context=ctx)
    s.login(sender, PASSWORDS[sender])
    before = audit_max_seq(world.m)
    with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
        s.sendmail(sender, [PATIENT2], b"Subject: hi\r\n\r\nhello\r\n")
    assert e.value.recipients[PATIENT2][0] == 550
    assert world.audited_refusal(before, sender)
    code, _ = s.docmd("RSET")
    with pytest.raises(smtplib.SMTPSenderRefused):
        s.sendmail(PATIENT2, [PRO], b"Subject: spoof\r\n\r\nspoof\r\n")
    s.close()
    p = submission(world.m, "pro")
    try:
        with pytest.raises(smtplib.SMTPSenderRefused):
            p.sendmail(PRO2, [PRO], b"Subject: spoof\r\n\r\nspoof\r\n")
    finally:
        p.close()


OTHER = {PATIENT: PATIENT2, PRO: PRO2, ORG: PRO2}
CRAFTED = [
    "../{other}/INBOX", "../{other}", "..", "../../INBOX", "INBOX/../../{other}/INBOX",
    "Patients/{patient2}", "Patients/{patient2}/INBOX", "Patients/{patient2}/Documents",
    "Patients/{patient2}/../../{other}/INBOX", "Patients/%", "Patients/*", "%", "*",
    "/{other}/INBOX", "~{other}/INBOX", "#shared/{other}", "{other}", "{other}/INBOX",
    "Other Users/{other}/INBOX", "Patients/{patient2}/Documents/%",
]


def crafted_names(actor):
    return [n.format(other=OTHER[actor], patient2=PATIENT2) for n in CRAFTED]


@pytest.mark.parametrize("actor", [PATIENT, PRO, ORG])
def test_crafted_names(world, actor):
    """Another account's INBOX or vault by any spelling: never opened, never written."""
    other = OTHER[actor]
    other_count = world.messages_of(other, "INBOX")
    vault2 = world.messages_of(PATIENT2, world.doc_folder[PATIENT2])
    c = world.login(actor)
    unaudited = []
    try:
        for name in crafted_names(actor):
            q = imap_quote(name)
            for cmd, args in (("SELECT", (q,)), ("EXAMINE", (q,)), ("STATUS", (q, "(MESSAGES)")),
                              ("DELETE", (q,)), ("RENAME", (q, '"Taken"')),
                              ("GETACL", (q,)), ("SETACL", (q, imap_quote(actor), "lrswipkxtea")),
                              ("MYRIGHTS", (q,))):
                before = audit_max_seq(world.m)
                typ = command(c, cmd, *args)
                assert typ != "OK", f"{actor}: {cmd} {name} answered OK"
                # A name that designates the other patient's data is a refused access
                # to audit; a mere wildcard or path trick names no one in particular.
                if (name.startswith("Patients/" + PATIENT2)
                        and not world.audited_refusal(before, actor)):
                    unaudited.append(f"{cmd} {name}")
            assert append(c, name) != "OK", f"{actor}: APPEND {name} answered OK"
        listed = list_names(c, "*") + list_names(c, "%") + list_names(c, "Patients/*")
        assert not [n for n in listed if PATIENT2 in n or (other in n and other != actor)], listed
    finally:
        c.logout()
    assert world.messages_of(other, "INBOX") == other_count, f"{other}'s INBOX changed"
    assert world.messages_of(PATIENT2, world.doc_folder[PATIENT2]) == vault2
    assert not unaudited, f"{actor}: refusals not audited: {unaudited}"
