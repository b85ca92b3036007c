"""The patient's controls at the other edges (issue 11): only the filing creates vault
documents; no one writes into a patient's Historique; no patient address probing at
RCPT; XDM metadata cannot inject header lines nor pass for the sender; mbsync syncs a
professional's shared vault; filing bounds its memory, counts the expanded size
against max_message_size and files a repeated file once. Real clients: imaplib, raw
IMAP, smtplib, mbsync."""
import random
import re
import shutil
import smtplib
import subprocess
import time

import pytest

from conftest import PASSWORDS, PATIENT, PATIENT2, PRO, PRO2
from controls_helpers import (PDF, everything_of, history, history_text, imap, inbox_copy, ko_reports,
                              message, parsed, raw_messages, send, session, vault_rows, xdm)
from test_policy_smtp import REMOTE_PRO, as_operator, space  # noqa: F401  (fixture)


@pytest.fixture
def both(mss):
    mss.start("smtpd")
    mss.start("imapd")
    return mss


def filed_folder(m, patient=PATIENT, n=1):
    for _ in range(100):
        rows = vault_rows(m, patient)
        if len(rows) >= n:
            return rows[0][7]
        time.sleep(0.1)
    raise AssertionError("nothing filed")


def with_document(m):
    msg = message(subject="document de reference")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="reference.pdf")
    send(m, msg)
    return filed_folder(m)


# ---- only the filing creates vault documents ------------------------------------------

FORGED = (b"From: Dr Jean MARTIN <dr.martin@pro.mss.test>\r\nSubject: Analyse falsifiee\r\n"
          b"X-MSS-Author: Dr Jean MARTIN\r\nX-MSS-Document-Class: Biologie\r\n\r\nfaux resultat 9e41\r\n")


def test_patient_cannot_plant_documents_in_the_vault(both):
    m = both
    folder = with_document(m)
    m.ctl("access", "grant", PATIENT, PRO)
    pat = session(m, PATIENT)
    try:
        pat.send(f'a1 APPEND "Documents/Biologie" {{{len(FORGED)}+}}\r\n'.encode() + FORGED + b"\r\n")
        _, t = pat.read_until_tagged("a1")
        assert t.startswith(b"a1 NO"), t
        pat.send(f'a2 APPEND "{folder}" {{{len(FORGED)}+}}\r\n'.encode() + FORGED + b"\r\n")
        _, t = pat.read_until_tagged("a2")
        assert t.startswith(b"a2 NO"), t
        pat.send(f"a3 APPEND INBOX {{{len(FORGED)}+}}\r\n".encode() + FORGED + b"\r\n")
        _, t = pat.read_until_tagged("a3")
        assert t.startswith(b"a3 OK"), t
        pat.cmd("a4", "SELECT INBOX")
        for tag, cmd in (("b1", f'COPY 1:* "{folder}"'), ("b2", f'MOVE 1:* "{folder}"'),
                         ("b3", 'CREATE "Documents/Psychiatrie"'), ("b4", f'RENAME "{folder}" "Documents/Autre"'),
                         ("b5", f'RENAME INBOX "Documents/Biologie"'), ("b6", f'DELETE "{folder}"'),
                         ("b7", 'RENAME "Documents" "Archives"'), ("b8", 'DELETE "Documents"')):
            _, t = pat.cmd(tag, cmd)
            assert t.startswith(f"{tag} NO".encode()), (cmd, t)
    finally:
        pat.close()
    pro = session(m, PRO)
    try:
        lines, _ = pro.cmd("c1", 'LIST "" "Patients/*"')
        for line in lines:
            name = re.search(rb'"/" "?([^"]*)"?$', line).group(1).decode()
            got, _ = pro.cmd("c2", f'EXAMINE "{name}"')
            got, _ = pro.cmd("c3", "FETCH 1:* (BODY.PEEK[])")
            assert b"9e41" not in b"\n".join(got), name
    finally:
        pro.close()


def test_patient_deleting_a_document_is_their_own_action(both):
    m = both
    folder = with_document(m)
    pat = session(m, PATIENT)
    try:
        pat.cmd("a1", f'SELECT "{folder}"')
        _, t = pat.cmd("a2", "STORE 1 +FLAGS (\\Deleted)")
        assert t.startswith(b"a2 OK")
        _, t = pat.cmd("a3", "EXPUNGE")
        assert t.startswith(b"a3 OK")
    finally:
        pat.close()
    rows = m.sql("SELECT actor, action, patient FROM audit_log WHERE action = 'vault.delete'")
    assert rows == [(PATIENT, "vault.delete", PATIENT)], rows
    subjects = [str(h["Subject"]) for h in history(m)]
    assert any(s.startswith("Document supprimé") for s in subjects), subjects


# ---- no Historique injection -----------------------------------------------------------

def test_no_history_injection_through_fake_shared_names(both):
    m = both
    folder = with_document(m)
    before = len(history(m))
    for who in (PATIENT2, PRO2):
        r = session(m, who)
        try:
            for i in range(60):
                name = f"Patients/{PATIENT}/Documents/Vous avez gagné {i} euros"
                r.cmd(f"x{i}", f'SELECT "{name}"')
                r.cmd(f"y{i}", f'STATUS "Patients/{PATIENT}/Documents/Appelez le 0899 {i}" (MESSAGES)')
                r.cmd(f"z{i}", f'EXAMINE "Patients/{PATIENT}/Appelez-moi {i}"')
            for i in range(20):  # a real folder, many times
                r.cmd(f"w{i}", f'EXAMINE "Patients/{PATIENT}/{folder}"')
        finally:
            r.close()
    entries = history(m)
    added = entries[before:]
    for e in added:
        text = str(e["Subject"]) + history_text(e)
        assert "gagné" not in text and "0899" not in text and "Appelez" not in text, text
        assert PATIENT2 not in text, text
    assert len(added) <= 2, [str(e["Subject"]) for e in added]  # at most one per professional


# ---- no patient address probing at RCPT ------------------------------------------------

def rcpt_reply(s, rcpt):
    code, text = s.rcpt(rcpt)
    return code, text.decode()


def test_patient_cannot_probe_patient_addresses(both):
    m = both
    with smtplib.SMTP("127.0.0.1", m.port("submission"), timeout=30) as s:
        s.starttls(context=m.client_context())
        s.login(PATIENT, PASSWORDS[PATIENT])
        s.mail(PATIENT)
        existing = rcpt_reply(s, PATIENT2)
        missing = rcpt_reply(s, "100000000000099@patient.mss.test")
        assert existing[0] == 550 and existing == missing, (existing, missing)


def test_unapproved_sender_cannot_probe_patient_addresses(space):  # noqa: F811
    m = space
    with as_operator(m) as s:
        s.mail("unknown@other-operator.test")
        existing = rcpt_reply(s, PATIENT)
        missing = rcpt_reply(s, "100000000000099@patient.mss.test")
        assert existing[0] == 550 and existing == missing, (existing, missing)
        s.rset()
        s.mail(REMOTE_PRO)  # an approved professional may learn that an address is wrong
        assert rcpt_reply(s, "100000000000099@patient.mss.test")[1].startswith("5.1.1")


# ---- XDM metadata: no header injection, the sender shown beside the author ----------

def test_xdm_mime_type_cannot_inject_header_lines(both):
    m = both
    cda = xdm.cda_document(title="injection")
    archive = xdm.build_xdm([{"name": "DOC0001.XML", "data": cda,
                              "mime": "text/xml\r\nX-Injected: yes\r\nBcc: someone@example.org"}])
    # the metadata carries the attribute as the input: mimeType="text/xml&#13;&#10;..."
    assert b"&#13;&#10;X-Injected" in xdm.metadata_xml([{"name": "DOC0001.XML", "data": cda,
                                                         "mime": "text/xml\r\nX-Injected: yes"}])
    msg = message(subject="injection mime")
    msg.add_attachment(archive, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    send(m, msg)
    filed_folder(m)
    for box, raw in everything_of(m):
        if box.startswith("Documents/"):
            assert not re.search(rb"(?m)^(X-Injected|Bcc):", raw), raw[:800]
            doc = parsed(raw)
            types = [p.get_content_type() for p in doc.walk()]
            assert all(re.fullmatch(r"[a-z0-9.+-]+/[a-z0-9.+-]+", t) for t in types), types


def test_xdm_author_shown_beside_the_authenticated_sender(both):
    """Dr Durand sends an XDM whose metadata names Jean MARTIN as the author."""
    m = both
    archive = xdm.build_xdm([{"name": "DOC0001.XML", "data": xdm.cda_document(title="auteur"),
                              "author": ("801234567890", "MARTIN", "Jean")}])
    msg = message(subject="auteur declare", sender=PRO2)
    msg.add_attachment(archive, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    send(m, msg, user=PRO2)
    folder = filed_folder(m)
    c = imap(m)
    docs = [parsed(r) for r in raw_messages(c, folder)]
    notices = [parsed(r) for r in raw_messages(c, "INBOX") if b"service@" in r]
    c.logout()
    assert len(docs) == 1
    assert "Jean MARTIN" in str(docs[0]["X-MSS-Author"])
    assert PRO2 in str(docs[0]["X-MSS-Sender"])
    body = docs[0].get_body(("plain",)).get_content()
    assert "Jean MARTIN" in body and "Dr Durand" in body and PRO2 in body, body
    notice = notices[0].get_body().get_content()
    assert "Jean MARTIN" in notice and "Dr Durand" in notice, notice


# ---- mbsync on a professional's shared vault ----------------------------------------

def test_mbsync_syncs_a_shared_vault(both, tmp_path):
    assert shutil.which("mbsync"), "mbsync is not installed (scripts/install-deps)"
    m = both
    folder = with_document(m)
    m.ctl("access", "grant", PATIENT, PRO)
    maildir = tmp_path / "maildir"
    maildir.mkdir()
    rc = tmp_path / "mbsyncrc"
    rc.write_text(f"""IMAPAccount pro
Host localhost
Port {m.port('imaps')}
User {PRO}
Pass {PASSWORDS[PRO]}
SSLType IMAPS
CertificateFile {m.pki / 'ca.crt'}
ClientCertificate {m.pki / 'pro.crt'}
ClientKey {m.pki / 'pro.key'}

IMAPStore remote
Account pro

MaildirStore local
Path {maildir}/
Inbox {maildir}/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns *
Sync Pull
Create Near
SyncState *
""")
    r = subprocess.run(["mbsync", "-c", str(rc), "sync"], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    synced = maildir / "Patients" / PATIENT / folder
    files = list((synced / "new").iterdir()) + list((synced / "cur").iterdir())
    assert len(files) == 1
    assert b"reference.pdf" in files[0].read_bytes()


# ---- filing within bounds -----------------------------------------------------------

def compressible(size, seed=7):
    """size bytes that deflate about 80:1 (under the ratio limit, unlike zeros)."""
    r = random.Random(seed)
    base = bytearray(b"<value>0000000000</value>\n" * 2000)
    out = bytearray()
    while len(out) < size:
        c = bytearray(base)
        for k in range(0, len(c), 300):
            c[k] = r.getrandbits(8)
        out += c
    return bytes(out[:size])


def xdm_naming_one_file(data, times):
    entries = [{"name": "DOC0001.XML", "data": data, "title": f"copie {i}",
                "unique_id": f"1.2.250.1.999.7.{i}"} for i in range(times)]
    import io
    import zipfile
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("IHE_XDM/SUBSET01/METADATA.XML", xdm.metadata_xml(entries))
        z.writestr("IHE_XDM/SUBSET01/DOC0001.XML", data)
    return out.getvalue()


def maxrss_kb(m):
    found = re.findall(r"event=vault_file .*maxrss_kb=(\d+)", m.log("smtpd"))
    assert found, "vault_file logs no maxrss_kb"
    return int(found[-1])


def test_one_30_mib_file_named_64_times(both):
    m = both
    archive = xdm_naming_one_file(compressible(30 * 1024 * 1024), 64)
    assert len(archive) < 1024 * 1024
    msg = message(subject="un fichier 64 fois")
    msg.add_attachment(archive, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    t0 = time.monotonic()
    send(m, msg)
    ko = [k for k in ko_reports(m) if "un fichier 64 fois" in str(k["Subject"])]
    elapsed = time.monotonic() - t0
    assert ko and "[906]" in str(ko[0]["Subject"])  # 30 MiB expanded > max_message_size
    assert vault_rows(m) == []
    assert elapsed < 30, elapsed
    assert maxrss_kb(m) < 256 * 1024
    stored = m.sql("SELECT coalesce(sum(size), 0) FROM messages")[0][0]
    assert stored < 8 * 1024 * 1024


def test_repeated_file_filed_once(both):
    m = both
    data = xdm.cda_document(title="une seule fois")
    archive = xdm_naming_one_file(data, 3)
    msg = message(subject="trois fois")
    msg.add_attachment(archive, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    send(m, msg)
    filed_folder(m)
    time.sleep(0.5)
    assert len(vault_rows(m)) == 1
    msg = message(subject="deux fois le meme pdf")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="a.pdf")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="b.pdf")
    send(m, msg)
    filed_folder(m, n=2)
    time.sleep(0.5)
    assert len(vault_rows(m)) == 2


def test_expanded_size_counts_against_max_message_size(mss_factory):
    m = mss_factory(extra={"max_message_size": str(1024 * 1024)})
    m.add_demo_accounts()
    m.start("smtpd")
    m.start("imapd")
    archive = xdm_naming_one_file(compressible(2 * 1024 * 1024), 1)
    assert len(archive) < 200 * 1024
    msg = message(subject="trop grand une fois ouvert")
    msg.add_attachment(archive, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    send(m, msg)
    ko = [k for k in ko_reports(m) if "trop grand" in str(k["Subject"])]
    assert ko and "[906]" in str(ko[0]["Subject"])
    assert vault_rows(m) == []
    copy = inbox_copy(m, b"trop grand une fois ouvert")
    assert archive not in copy and b"UEsDB" not in copy  # not inspected: not in the patient's copy


def test_one_30_mib_file_named_64_times_filed_once_when_allowed(mss_factory):
    """The same archive where max_message_size lets it expand: filed once, one document
    in memory at a time."""
    m = mss_factory(extra={"max_message_size": "64M"})
    m.add_demo_accounts()
    m.start("smtpd")
    m.start("imapd")
    data = compressible(30 * 1024 * 1024)
    msg = message(subject="un fichier 64 fois, permis")
    msg.add_attachment(xdm_naming_one_file(data, 64), maintype="application", subtype="zip",
                       filename="IHE_XDM.ZIP")
    t0 = time.monotonic()
    send(m, msg)
    filed_folder(m)
    elapsed = time.monotonic() - t0
    time.sleep(0.5)
    assert len(vault_rows(m)) == 1
    assert elapsed < 60, elapsed
    assert maxrss_kb(m) < 320 * 1024
    stored = m.sql("SELECT coalesce(sum(size), 0) FROM messages")[0][0]
    assert stored < 2 * 45 * 1024 * 1024  # the document once (base64), and the message
