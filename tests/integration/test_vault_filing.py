"""The vault end to end: a professional sends documents to a patient over submission
(real smtplib client); the patient's real IMAP client (imaplib) finds each document in
Documents/<Class> byte for byte, and a notification in the INBOX. Identity mismatch,
INVISIBLE_PATIENT, MASQUE_PS, zip bombs and malformed archives are handled without
losing the message."""
import email
import email.policy
import imaplib
import os
import re
import shutil
import smtplib
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import pytest

from conftest import ORG, PASSWORDS, PATIENT, PATIENT2, PRO

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import xdm  # noqa: E402  (tests/xdm.py)

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n" + bytes(range(256)) * 20 + b"\n%%EOF\n"


def send(m, msg, user=PRO):
    with smtplib.SMTP("127.0.0.1", m.port("submission"), timeout=30) as s:
        s.starttls(context=m.login_context(user))
        s.login(user, PASSWORDS[user])
        s.send_message(msg)


def message(subject="XDM/1.0/DDM+CR de biologie DEMO Patient", to=PATIENT, headers=None):
    msg = EmailMessage()
    msg["From"] = PRO
    msg["To"] = to
    msg["Subject"] = subject
    for k, v in (headers or {}).items():
        msg[k] = v
    msg.set_content("Bonjour, voici vos résultats.\n")
    return msg


def imap(m, user=PATIENT):
    c = imaplib.IMAP4("127.0.0.1", m.port("imap"), timeout=30)
    c.starttls(ssl_context=m.login_context(user))
    c.login(user, PASSWORDS[user])
    return c


def mailboxes(c):
    typ, data = c.list()
    assert typ == "OK"
    names = []
    for line in data:
        line = line.decode()
        names.append(line.rsplit(" ", 1)[-1].strip('"'))
    return names


def raw_messages(c, mailbox):
    """Every message of mailbox as bytes, by UID ([] when it does not exist)."""
    typ, _ = c.select('"%s"' % mailbox, readonly=True)
    if typ != "OK":
        return []
    typ, data = c.uid("SEARCH", None, "ALL")
    out = []
    for uid in data[0].split():
        typ, parts = c.uid("FETCH", uid, "(BODY.PEEK[])")
        assert typ == "OK"
        out.append(next(p[1] for p in parts if isinstance(p, tuple)))
    return out


def fetch_all(c, mailbox):
    """Every message of mailbox as email.message objects ([] when it does not exist)."""
    return [email.message_from_bytes(raw, policy=email.policy.default)
            for raw in raw_messages(c, mailbox)]


def attachments(msg):
    return [(p.get_filename(), p.get_content_type(), p.get_payload(decode=True))
            for p in msg.iter_attachments()]


def vault_docs(m, patient=PATIENT):
    return m.sql("SELECT class, type_code, mime, masked_ps, invisible_patient, store_user, mailbox "
                 "FROM vault_document WHERE patient = ? ORDER BY id", patient)


@pytest.fixture
def both(mss):
    mss.start("smtpd")
    mss.start("imapd")
    return mss


def test_pdf_and_xdm_filed_byte_for_byte(both):
    cda = xdm.cda_document()
    archive = xdm.build_xdm([{"name": "DOC0001.XML", "data": cda, "type_code": "11502-2",
                              "title": "CR de biologie"}])
    msg = message(headers={"X-MSS-INS": "O", "X-MSS-CODECDA": "11502-2"})
    msg.add_attachment(PDF, maintype="application", subtype="pdf",
                       filename="20261129_CR-BIO_DEMO_Patient.pdf")
    msg.add_attachment(archive, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    send(both, msg)

    c = imap(both)
    assert "Documents/Biologie" in mailboxes(c)
    docs = fetch_all(c, "Documents/Biologie")
    assert len(docs) == 1  # one document: the PDF beside the XDM is its readable copy
    got = {}
    for d in docs:
        assert d["X-MSS-Document-Class"] == "Biologie"
        assert d["X-MSS-Source-Message-ID"]
        assert d["X-MSS-Author"]
        for name, ctype, payload in attachments(d):
            got[name] = (ctype, payload, d["X-MSS-Document-Type"])
    assert got["DOC0001.XML"][1] == cda
    assert got["DOC0001.XML"][2] == "11502-2"
    assert got["20261129_CR-BIO_DEMO_Patient.pdf"][:2] == ("application/pdf", PDF)
    # The message itself is in the INBOX (the XDM/1.0/DDM+ prefix dropped), with a
    # notification beside it.
    inbox = fetch_all(c, "INBOX")
    subjects = [str(x["Subject"]) for x in inbox]
    assert msg["Subject"].replace("XDM/1.0/DDM+", "") in subjects
    notices = [x for x in inbox if str(x["From"]).startswith("service@patient.mss.test")]
    assert len(notices) == 1
    body = notices[0].get_body().get_content()
    assert "Biologie" in body and "DOC0001" not in body and "CR de biologie" not in body
    c.logout()
    rows = vault_docs(both)
    assert len(rows) == 1 and rows[0][0] == "Biologie"


def test_classification_without_metadata(both):
    msg = message(subject="Votre ordonnance")
    msg.add_attachment(b"%PDF-1.7 ordonnance", maintype="application", subtype="pdf",
                       filename="ordonnance.pdf")
    msg.add_attachment(b"\x89PNG\r\n\x1a\n" + b"\0" * 64, maintype="image", subtype="png",
                       filename="photo.png")
    msg.add_attachment("Compte rendu de consultation\n", subtype="plain", filename="cr-consultation.txt")
    send(both, msg)
    classes = sorted(r[0] for r in vault_docs(both))
    assert classes == ["Comptes-rendus", "Imagerie", "Ordonnances"]


def test_admin_class_table_extends(mss_factory, tmp_path):
    table = tmp_path / "classes.conf"
    table.write_text("# local codes\nX-LOCAL-1 = Vaccinations\n")
    m = mss_factory(extra={"vault_classes_file": str(table)})
    m.add_demo_accounts()
    m.start("smtpd")
    archive = xdm.build_xdm([{"name": "DOC0001.XML", "data": xdm.cda_document(code="X-LOCAL-1"),
                              "type_code": "X-LOCAL-1", "type_scheme": "1.2.250.1.999"}])
    msg = message(subject="carnet")
    msg.add_attachment(archive, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    send(m, msg)
    assert [r[0] for r in vault_docs(m)] == ["Vaccinations"]


def test_ins_mismatch_not_filed_and_sender_told(both):
    archive = xdm.build_xdm(ins="279035121518989")  # PATIENT2's INS, sent to PATIENT
    msg = message(headers={"X-MSS-INS": "O"})
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="copie.pdf")
    msg.add_attachment(archive, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    send(both, msg)
    assert vault_docs(both) == []
    c = imap(both)
    assert not any(n.startswith("Documents/") for n in mailboxes(c))
    assert msg["Subject"].replace("XDM/1.0/DDM+", "") in [str(x["Subject"]) for x in fetch_all(c, "INBOX")]
    c.logout()
    c = imap(both, PRO)
    ko = [x for x in fetch_all(c, "INBOX") if "[KO Intégration système !][904]" in str(x["Subject"])]
    assert len(ko) == 1
    assert ko[0].get_content_type() == "multipart/report"
    report = [p for p in ko[0].walk() if p.get_content_type() == "message/disposition-notification"]
    assert report and b"processed/Error: 904^" in report[0].as_bytes()
    c.logout()


def test_invisible_patient_never_shown_masked_flagged(both):
    archive = xdm.build_xdm([
        {"name": "DOC0001.XML", "data": xdm.cda_document(title="visible"), "type_code": "11502-2"},
        {"name": "DOC0002.XML", "data": xdm.cda_document(title="cache"), "type_code": "18748-4",
         "confidentiality": ["N", "INVISIBLE_PATIENT"]},
        {"name": "DOC0003.XML", "data": xdm.cda_document(title="masque"), "type_code": "11488-4",
         "confidentiality": ["MASQUE_PS"]},
    ])
    msg = message()
    msg.add_attachment(archive, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    send(both, msg)
    c = imap(both)
    names = mailboxes(c)
    assert "Documents/Biologie" in names and "Documents/Comptes-rendus" in names
    assert "Documents/Imagerie" not in names
    for name in names:
        for d in fetch_all(c, name):
            for _, _, payload in attachments(d):
                assert b"cache" not in (payload or b"")
    typ, _ = c.select('"Documents/Comptes-rendus"', readonly=True)
    typ, data = c.fetch("1", "(FLAGS)")
    assert b"$Masked" in data[0]
    notice = [x for x in fetch_all(c, "INBOX") if str(x["From"]).startswith("service@")]
    assert len(notice) == 1 and "Imagerie" not in notice[0].get_body().get_content()
    c.logout()
    rows = vault_docs(both)
    inv = [r for r in rows if r[4]]
    assert len(inv) == 1 and inv[0][5] == "vault-professionnels@patient.mss.test"
    # Nothing in the patient's history names the invisible document.
    hist = both.ctl("history", PATIENT).stdout
    assert "Imagerie" not in hist


@pytest.mark.parametrize("case", ["bomb", "no-metadata", "bad-xml", "wrong-mime", "pdf-as-inline-text"])
def test_bad_archives_and_types_still_delivered(both, case):
    msg = message(subject="cas " + case)
    if case == "bomb":
        msg.add_attachment(xdm.zip_bomb(), maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    elif case == "no-metadata":
        msg.add_attachment(xdm.build_xdm(with_metadata=False), maintype="application", subtype="zip",
                           filename="IHE_XDM.ZIP")
    elif case == "bad-xml":
        msg.add_attachment(xdm.build_xdm(metadata=b"<lcm:SubmitObjectsRequest><oops"),
                           maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    elif case == "wrong-mime":
        msg.add_attachment(PDF, maintype="application", subtype="octet-stream", filename="resultat")
    else:
        msg.add_attachment(PDF, maintype="text", subtype="plain", disposition="inline")
    send(both, msg)
    c = imap(both)
    assert "cas " + case in [str(x["Subject"]) for x in fetch_all(c, "INBOX")]
    rows = vault_docs(both)
    if case in ("bomb", "bad-xml"):  # not inspected: neither filed nor shown, the sender told
        assert rows == []
        c2 = imap(both, PRO)
        ko = [x for x in fetch_all(c2, "INBOX") if "[906]" in str(x["Subject"])]
        assert len(ko) == 1
        c2.logout()
    elif case in ("wrong-mime", "pdf-as-inline-text"):
        assert [(r[0], r[2]) for r in rows] == [("Autres", "application/pdf")]
        d = fetch_all(c, "Documents/Autres")[0]
        assert attachments(d)[0][1:] == ("application/pdf", PDF)
    else:
        assert [(r[0], r[2]) for r in rows] == [("Autres", "application/zip")]
        d = fetch_all(c, "Documents/Autres")[0]
        assert attachments(d)[0][2][:2] == b"PK"
    c.logout()
    assert "vault_" in both.log("smtpd")


def test_audit_chain_holds_after_filing(both):
    msg = message()
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="a.pdf")
    send(both, msg)
    r = both.ctl("audit", "verify")
    assert r.returncode == 0, r.stderr
    actions = [a for (a,) in both.sql("SELECT action FROM audit_log WHERE patient = ?", PATIENT)]
    assert "vault.file" in actions and "vault.notify" in actions


def test_standalone_cda_checked_and_classified(both):
    good = xdm.cda_document(code="18842-5", title="Lettre de liaison")
    msg = message(subject="compte rendu")
    msg.add_attachment(good, maintype="text", subtype="xml", filename="cr.xml")
    send(both, msg)
    assert [(r[0], r[1]) for r in vault_docs(both)] == [("Hospitalisation", "18842-5")]
    wrong = xdm.cda_document(ins="279035121518989")
    msg = message(subject="autre patient")
    msg.add_attachment(wrong, maintype="text", subtype="xml", filename="cr2.xml")
    send(both, msg)
    assert len(vault_docs(both)) == 1
    c = imap(both, PRO)
    assert any("[904]" in str(x["Subject"]) for x in fetch_all(c, "INBOX"))
    c.logout()


def test_replaced_document_notified_as_changed(both):
    for version in (1, 2):
        archive = xdm.build_xdm([{"name": "DOC0001.XML", "data": xdm.cda_document(title=f"v{version}"),
                                  "unique_id": "1.2.250.1.999.1.42"}])
        msg = message(subject=f"version {version}")
        msg.add_attachment(archive, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
        send(both, msg)
    c = imap(both)
    notices = [x for x in fetch_all(c, "INBOX") if str(x["From"]).startswith("service@")]
    c.logout()
    assert [str(n["Subject"]) for n in notices] == ["Nouveau document dans votre coffre-fort",
                                                    "Document mis à jour dans votre coffre-fort"]
    assert len(vault_docs(both)) == 2


def test_a_version_filed_earlier_in_the_same_message_is_the_one_replaced(both):
    """The filing plan builds a document before the transaction, against the version it
    replaces as read then; the transaction reads it again. A replacement of a document
    filed earlier in the same filing is found only there: the replacement's message is
    built again there, and its text says what it replaces, as across two messages."""
    archive = xdm.build_xdm([{"name": f"DOC000{v}.XML", "data": xdm.cda_document(title=f"v{v}"),
                              "unique_id": "1.2.250.1.999.1.43"} for v in (1, 2)])
    msg = message()
    msg.add_attachment(archive, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    send(both, msg)
    assert both.sql("SELECT superseded_by IS NOT NULL FROM vault_document ORDER BY id") == [(1,), (0,)]
    c = imap(both)
    v1, v2 = fetch_all(c, "Documents/Biologie")
    c.logout()
    assert "remplace" not in v1.get_body(("plain",)).get_content().lower()
    assert "remplace" in v2.get_body(("plain",)).get_content().lower()


def test_notify_command_gets_kind_and_address_only(mss_factory, tmp_path):
    out = tmp_path / "events"
    script = tmp_path / "notify.sh"
    script.write_text(f"#!/bin/sh\necho \"$# $1 $2\" >> {out}\n")
    script.chmod(0o755)
    m = mss_factory(extra={"notify_command": str(script), "notify_timeout": "5"})
    m.add_demo_accounts()
    m.start("smtpd")
    msg = message()
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="a.pdf")
    send(m, msg)
    assert out.read_text() == f"2 document.added {PATIENT}\n"


def test_hanging_notify_command_does_not_block_delivery(mss_factory, tmp_path):
    script = tmp_path / "hang.sh"
    script.write_text("#!/bin/sh\nsleep 60\n")
    script.chmod(0o755)
    m = mss_factory(extra={"notify_command": str(script), "notify_timeout": "1"})
    m.add_demo_accounts()
    m.start("smtpd")
    msg = message()
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="a.pdf")
    import time
    t0 = time.monotonic()
    send(m, msg)
    assert time.monotonic() - t0 < 15
    assert len(vault_docs(m)) == 1
    assert "result=timeout" in m.log("smtpd")


def killed_in_filing(m, function, data, more=()):
    """PRO's submission session process killed (-9) by gdb when it reaches function
    while it delivers data to PATIENT (more: gdb commands run there first); gdb's
    output. The connection must drop, never answer."""
    from test_smtp_committer import gdb_armed
    from test_smtp_protocol import login
    c = login(m, PRO)
    pid = session_of(m, PRO)
    gdb = gdb_armed(subprocess.Popen(["gdb", "-p", str(pid), "-batch", "-nx", "-ex", f"break {function}",
                                      "-ex", "continue", *more, "-ex", "signal SIGKILL"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT), pid)
    assert c.cmd("MAIL FROM:<%s>" % PRO)[0] == 250
    assert c.cmd("RCPT TO:<%s>" % PATIENT)[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(data + b".\r\n")
    try:
        r = c.reply()
    except (EOFError, OSError) as e:
        r = e
    if not isinstance(r, (EOFError, OSError)):
        gdb.kill()
        pytest.fail("answered %r: the filing was not stopped" % (r,))
    return (gdb.seen + gdb.communicate(timeout=60)[0]).decode(errors="replace")


def session_of(m, user):
    """The session process that logged user in last (the one that files its deliveries)."""
    pids = re.findall(r"mss-smtpd\[(\d+)\] .*event=auth\.login .*user=%s result=ok" % re.escape(user),
                      m.log("smtpd"))
    assert pids
    return int(pids[-1])


def unnamed_blob_files(m):
    """The blob files no blobs row names."""
    named = {name for (name,) in m.sql("SELECT name FROM blobs")}
    return [p for p in (m.data_dir / "blobs").rglob("*") if p.is_file() and p.name not in named]


@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb stops the session in its filing")
def test_a_large_document_is_written_before_the_filing_takes_the_lock(mss_factory):
    """The filing holds the write lock for its rows only (the filing plan): a document
    larger than store_inline_blob_max is built, sealed and its blob file written and
    fsynced before the delivery's transaction begins (the message's and its filing's
    rows, one transaction). The session killed (-9) there leaves the document's file and
    the message's, which no row names (store_blob_sweep's to remove), and nothing of the
    message nor of its filing; the next delivery is whole."""
    from test_smtp_protocol import inbox_count
    m = mss_factory()
    m.add_demo_accounts()
    m.start("smtpd")
    m.start("imapd")
    big = PDF[:-7] + os.urandom(200 * 1024) + b"\n%%EOF\n"  # its blob: a file
    msg = message()
    msg.add_attachment(big, maintype="application", subtype="pdf", filename="a.pdf")
    data = msg.as_bytes().replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n")
    out = killed_in_filing(m, "store_batch_begin", data, ["-ex", "bt"])
    assert "deliver_filed" in out, out
    assert inbox_count(m, PATIENT) == 0
    assert vault_docs(m) == []
    orphans = unnamed_blob_files(m)  # the document's and the message's, durable before the lock
    assert len(orphans) == 2 and all(p.stat().st_size > 200 * 1024 for p in orphans), orphans
    assert m.sql("SELECT count(*) FROM audit_log WHERE action = 'vault.file'")[0][0] == 0
    assert m.ctl("audit", "verify", check=False).returncode == 0
    send(m, msg)
    assert len(vault_docs(m)) == 1 and inbox_count(m, PATIENT) == 2  # the message, the notice
    assert len(unnamed_blob_files(m)) == 2  # the new ones' files are their rows'
    c = imap(m)
    [doc] = fetch_all(c, vault_docs(m)[0][6])
    assert [(n, p) for n, _, p in attachments(doc)] == [("a.pdf", big)]
    c.logout()


@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb stops the session in its filing")
def test_a_filing_commits_whole_or_not_at_all(mss_factory, tmp_path):
    """A filing is one transaction with its message's delivery: the session killed (-9)
    in the middle of it, its document stored, indexed and audited but the patient's
    notice not yet written, leaves nothing of it nor of the message (the client had no
    answer: its retry is the only copy), and notify_command, which runs only once the
    filing committed, never ran."""
    from test_smtp_protocol import inbox_count
    events = tmp_path / "events"
    script = tmp_path / "notify.sh"
    script.write_text(f"#!/bin/sh\necho \"$1 $2\" >> {events}\n")
    script.chmod(0o755)
    m = mss_factory(extra={"notify_command": str(script), "notify_timeout": "5"})
    m.add_demo_accounts()
    m.start("smtpd")
    msg = message()
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="a.pdf")
    data = msg.as_bytes().replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n")
    out = killed_in_filing(m, "vault_settings_get", data)
    assert "vault_settings_get" in out, out
    # nothing of the filing was committed, nor the message it is one transaction with
    assert inbox_count(m, PATIENT) == 0
    assert vault_docs(m) == []
    assert m.sql("SELECT count(*) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id "
                 "WHERE b.name LIKE 'Documents/%'")[0][0] == 0
    assert m.sql("SELECT count(*) FROM audit_log WHERE action = 'vault.file'")[0][0] == 0
    assert not events.exists()
    assert m.ctl("audit", "verify", check=False).returncode == 0
    # the daemon goes on, and the next filing is whole
    send(m, msg)
    assert len(vault_docs(m)) == 1
    assert m.sql("SELECT count(*) FROM audit_log WHERE action = 'vault.notify'")[0][0] == 1
    assert events.read_text() == f"document.added {PATIENT}\n"


@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb kills the session in its delivery")
@pytest.mark.parametrize("where", ["vault_file_plan", "vault_file_end"])
def test_a_message_is_never_stored_without_its_filing(mss_factory, where):
    """The message's rows and its filing's are one transaction: the session killed (-9)
    where a first commit (the message) and a second one (its filing) used to lie apart,
    before the documents are built (vault_file_plan), leaves nothing (the client had no
    answer: its retry is the only copy); killed once that transaction committed
    (vault_file_end), the message and its document are both there. Before, the first
    kill left the message stored and unfiled, and the retry delivered it twice."""
    from test_smtp_protocol import inbox_count
    m = mss_factory()
    m.add_demo_accounts()
    m.start("smtpd")
    msg = message()
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="a.pdf")
    data = msg.as_bytes().replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n")
    out = killed_in_filing(m, where, data)
    assert re.search(rf"Breakpoint 1(\.\d+)?, (0x[0-9a-f]+ in )?{where} ", out), out
    whole = (2, 1)  # in the INBOX the message and the notice of its document; the document
    stored = (inbox_count(m, PATIENT), len(vault_docs(m)))
    assert stored == ((0, 0) if where == "vault_file_plan" else whole), stored
    assert m.ctl("audit", "verify", check=False).returncode == 0
    if where == "vault_file_plan":
        send(m, msg)  # the client's retry: the only copy
        assert (inbox_count(m, PATIENT), len(vault_docs(m))) == whole


def refused_by_gdb(mss_factory, where, command):
    """A message with a PDF for the patient, sent while gdb, stopped at where in the
    professional's session process (inside deliver_filed), runs command there (a
    rollback): the client gets 451 and the store holds neither the message nor its
    document. Returns (m, msg) for the test's own checks."""
    from test_smtp_committer import gdb_armed
    from test_smtp_protocol import inbox_count, login
    m = mss_factory()
    m.add_demo_accounts()
    m.start("smtpd")
    msg = message()
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="a.pdf")
    data = msg.as_bytes().replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n")
    c = login(m, PRO)
    pid = session_of(m, PRO)
    gdb = gdb_armed(subprocess.Popen(["gdb", "-p", str(pid), "-batch", "-nx", "-ex", f"break {where}",
                                      "-ex", "continue", "-ex", "bt", "-ex", command, "-ex", "detach"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT), pid)
    assert c.cmd("MAIL FROM:<%s>" % PRO)[0] == 250
    assert c.cmd("RCPT TO:<%s>" % PATIENT)[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(data + b".\r\n")
    code, text = c.reply()
    out = (gdb.seen + gdb.communicate(timeout=60)[0]).decode(errors="replace")
    assert "deliver_filed" in out, out
    assert code == 451, text
    assert c.cmd("QUIT")[0] == 221
    assert (inbox_count(m, PATIENT), len(vault_docs(m))) == (0, 0)
    return m, msg


@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb ends the delivery's transaction")
def test_a_failed_commit_keeps_the_records_of_the_commands_before_it(mss_factory):
    """The accepted login, MAIL and RCPT of a message with documents are written in its
    delivery's transaction (deliver_filed): when that transaction fails to commit (here
    gdb rolls it back just before, as SQLite does itself on a full disk or an I/O error)
    the client gets 451 and the records are kept for the end of the SMTP transaction, as
    after a committer's failed batch, never lost: the audit log holds each once."""
    m, _ = refused_by_gdb(mss_factory, "store_batch_end", "call (void) sql_rollback(st->sql)")
    records = dict(m.sql("SELECT action, count(*) FROM audit_log WHERE actor = ? AND result = 'ok' "
                         "GROUP BY action", PRO))
    logins = sum(n for a, n in records.items() if a.endswith(".login"))
    kept = [logins] + [records.get(a, 0) for a in ("smtp.mail", "smtp.rcpt", "smtp.deliver")]
    assert kept == [1, 1, 1, 0], records
    assert m.ctl("audit", "verify", check=False).returncode == 0


@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb ends the delivery's transaction")
def test_a_transaction_the_database_ended_writes_nothing_alone(mss_factory):
    """SQLite rolls a transaction back itself on a full disk or an I/O error: here gdb
    does it (the driver's ROLLBACK, under the sql layer) as the filing's rows begin, after
    the message's. Nothing the filing does next commits on its own (its audit records of
    a document it could not store, of a message never stored): the client gets 451 and
    the store holds neither the message nor a record of its filing; the retry files it
    once. Before, the document's refusal (906) was audited alone and the retry's filing
    audited a second time."""
    from test_smtp_protocol import inbox_count
    if os.environ.get("MSS_TEST_PG"):
        pytest.skip("SQLite's own rollback; PostgreSQL refuses every statement of an aborted transaction")
    rollback = "call (void) f->store->sql->drv->rollback(f->store->sql)"  # the driver's, below sql_rollback
    m, msg = refused_by_gdb(mss_factory, "vault_file_rows", rollback)
    assert m.sql("SELECT count(*) FROM audit_log WHERE action LIKE 'vault.%'")[0][0] == 0
    assert m.ctl("audit", "verify", check=False).returncode == 0
    send(m, msg)  # the client's retry: the only copy, filed and audited once
    assert (inbox_count(m, PATIENT), len(vault_docs(m))) == (2, 1)
    assert m.sql("SELECT result FROM audit_log WHERE action = 'vault.file'") == [("ok",)]
