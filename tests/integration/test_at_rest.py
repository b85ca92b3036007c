"""What a copied disk reveals (issue 12): messages whose subjects, From/To display
names and attachment file names carry marker strings, and XDM documents with marked
titles (one masked), are delivered; the patient searches, sorts, threads and reads them
over IMAP; then every byte of every file under data_dir (mss.db, its WAL and
shared-memory files, blobs, run/) and every row of every table is scanned for the
markers, in UTF-8 and in the encoded-word and base64 forms the messages carried. None
may appear. mssctl migrate seals a data_dir written by the previous code."""
import base64
import email.header
import imaplib
import smtplib
import sqlite3
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest

import atrest_helpers
from conftest import PASSWORDS, PATIENT, PRO

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import xdm  # noqa: E402  (tests/xdm.py)

MARKERS = {
    "subject": "QZSUBJmk7731",
    "subject2": "QZSUBJmk2204",
    "from": "QZFROMmk5520",
    "to": "QZTOmk6611",
    "file": "QZFILEmk9042",
    "title": "QZTITLEmk3317",
    "masked": "QZMASKmk8810",
}
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"


def forms(marker):
    """The marker as it may sit in a file: its UTF-8 octets (also inside a Q-encoded
    word, where ASCII letters stay), and the core of its base64 form at each of the
    three alignments it can have inside a B-encoded word or a base64 body."""
    raw = marker.encode()
    out = {raw}
    for pad in range(3):
        enc = base64.b64encode(b"\x00" * pad + raw + b"\x00\x00")
        skip = (pad * 4 + 2) // 3 + 1          # past the characters the padding touches
        out.add(enc[skip:skip + (len(raw) * 4) // 3 - 3])
    return out


def leaks(data, where):
    found = []
    low = data.lower()
    for name, marker in MARKERS.items():
        for f in forms(marker):
            hay = low if f == marker.encode() else data
            needle = f.lower() if f == marker.encode() else f
            if needle in hay:
                found.append(f"{name} ({f!r}) in {where}")
    return found


def scan_files(m):
    found = []
    for p in sorted(m.data_dir.rglob("*")):
        if p.is_file() and not p.is_symlink():
            found += leaks(p.read_bytes(), str(p.relative_to(m.data_dir)))
    return found


def scan_tables(m):
    """Every row of every table, through the engine (the PostgreSQL store has no file
    under data_dir)."""
    if m.settings.get("store"):
        tables = [r[0] for r in m.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    else:
        tables = [r[0] for r in m.sql("SELECT name FROM sqlite_master WHERE type = 'table'")]
    found = []
    for t in tables:
        for row in m.sql(f"SELECT * FROM {t}"):
            for v in row:
                if isinstance(v, str):
                    v = v.encode()
                if isinstance(v, (bytes, memoryview)):
                    found += leaks(bytes(v), f"table {t}")
    return found


def send(m, msg):
    with smtplib.SMTP("127.0.0.1", m.port("submission"), timeout=30) as s:
        s.starttls(context=m.login_context(PRO))
        s.login(PRO, PASSWORDS[PRO])
        s.send_message(msg)


def marked_messages():
    """Three messages: the first carries subject, names and a file name, the second
    answers it (THREAD), the third files two XDM documents, one masked."""
    first = EmailMessage()
    first["From"] = f'"Dr Éric {MARKERS["from"]}" <{PRO}>'
    first["To"] = f'"Mme Hélène {MARKERS["to"]}" <{PATIENT}>'
    first["Subject"] = f"Résultats {MARKERS['subject']} biopsie"
    first["Message-ID"] = "<first.atrest@pro.mss.test>"
    first.set_content("Bonjour, voici le compte rendu.\n")
    first.add_attachment(PDF, maintype="application", subtype="pdf",
                         filename=f"compte-rendu-{MARKERS['file']}-été.pdf")
    second = EmailMessage()
    second["From"] = PRO
    second["To"] = PATIENT
    second["Subject"] = f"Re: Résultats {MARKERS['subject2']} biopsie"
    second["Message-ID"] = "<second.atrest@pro.mss.test>"
    second["In-Reply-To"] = "<first.atrest@pro.mss.test>"
    second["References"] = "<first.atrest@pro.mss.test>"
    second.set_content("Suite.\n")
    archive = xdm.build_xdm([
        {"name": "DOC0001.XML", "data": xdm.cda_document(title=f"Biologie {MARKERS['title']}"),
         "type_code": "11502-2", "title": f"Biologie {MARKERS['title']}"},
        {"name": "DOC0002.XML", "data": xdm.cda_document(title=f"Consultation {MARKERS['masked']}"),
         "type_code": "11488-4", "title": f"Consultation {MARKERS['masked']}",
         "confidentiality": ["MASQUE_PS"]},
    ])
    third = EmailMessage()
    third["From"] = PRO
    third["To"] = PATIENT
    third["Subject"] = "XDM/1.0/DDM+Documents"
    third["X-MSS-INS"] = "O"
    third.set_content("Documents.\n")
    third.add_attachment(archive, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    return [first, second, third]


def imap(m):
    c = imaplib.IMAP4("127.0.0.1", m.port("imap"), timeout=30)
    c.starttls(ssl_context=m.login_context(PATIENT))
    c.login(PATIENT, PASSWORDS[PATIENT])
    return c


def decoded(raw):
    return str(email.header.make_header(email.header.decode_header(raw.decode())))


def use_as_patient(m):
    """What the patient does: search, sort, thread and read; each must still be right
    with the metadata sealed."""
    c = imap(m)
    assert c.select("INBOX")[0] == "OK"
    typ, data = c.uid("SEARCH", "CHARSET", "UTF-8", "SUBJECT", MARKERS["subject"])
    assert typ == "OK" and len(data[0].split()) == 1, data
    first = data[0].split()[0]
    typ, data = c.uid("SEARCH", "FROM", MARKERS["from"])
    assert typ == "OK" and data[0].split() == [first], data
    typ, data = c.uid("SEARCH", "TO", MARKERS["to"])
    assert typ == "OK" and data[0].split() == [first], data
    typ, data = c.uid("FETCH", first, "(ENVELOPE BODYSTRUCTURE)")
    assert typ == "OK"
    text = b" ".join(p if isinstance(p, bytes) else p[0] + p[1] for p in data)
    subject = text.split(b'"')[3]                  # ENVELOPE (date subject ...)
    assert MARKERS["subject"] in decoded(subject)
    assert MARKERS["from"].encode() in text and MARKERS["to"].encode() in text
    assert MARKERS["file"].encode() in text or b"filename*" in text.lower(), text
    # SORT by subject: "Re: Résultats ..." sorts with its base subject (RFC 5256)
    typ, data = c.uid("SORT", "(SUBJECT)", "UTF-8", "ALL")
    assert typ == "OK" and len(data[0].split()) >= 2, data
    typ, data = c.uid("THREAD", "REFERENCES", "UTF-8", "ALL")
    assert typ == "OK" and data[0].startswith(b"(" + first + b" "), data
    c.logout()
    # the documents were filed: titles readable by their owner
    c = imap(m)
    typ, boxes = c.list()
    names = [b.decode().rsplit(" ", 1)[-1].strip('"') for b in boxes]
    docs = [n for n in names if n.startswith("Documents/")]
    assert docs, names
    titles = []
    for box in docs:
        c.select(f'"{box}"', readonly=True)
        typ, data = c.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        titles += [decoded(p[1].split(b":", 1)[1].strip()) for p in data if isinstance(p, tuple)]
    c.logout()
    return titles


@pytest.fixture
def delivered(mss):
    mss.start("smtpd")
    mss.start("imapd")
    for msg in marked_messages():
        send(mss, msg)
    return mss


def test_no_marker_on_disk_while_running_and_after(delivered):
    m = delivered
    titles = use_as_patient(m)
    assert any(MARKERS["title"] in t for t in titles), titles
    # the small messages' blobs are in their rows (store_inline_blob_max): the scans of
    # the tables and of the database file below read them
    assert m.sql("SELECT count(*) FROM blobs WHERE data IS NOT NULL")[0][0] > 0
    found = scan_tables(m)
    if not m.settings.get("store"):
        found += scan_files(m)                    # the WAL and shared memory too
    assert not found, found
    m.stop("smtpd")
    m.stop("imapd")
    found = scan_tables(m) + ([] if m.settings.get("store") else scan_files(m))
    assert not found, found
    # nor in the daemons' logs (never health content in logs: STYLE.md)
    for daemon in ("smtpd", "imapd"):
        found += leaks(m.log(daemon).encode(), f"{daemon} log")
    assert not found, found


def test_envelope_is_sealed_under_the_account_key(delivered):
    """The record opens with the owner's key (unwrapped by the master key) and holds
    what FETCH ENVELOPE sends; the plaintext columns are empty."""
    m = delivered
    envs = atrest_helpers.stored_envelopes(m, PATIENT, "INBOX")
    assert any(MARKERS["subject"] in decoded(e.split('"')[3].encode()) for e in envs if e.count('"') > 3)
    rows = m.sql("SELECT envelope, bodystructure, body, refs FROM messages")
    assert rows and all(r == ("", "", "", None) for r in rows), rows[:3]


def unseal_as_old_code_did(m):
    """Rewrites the store as the code before metadata sealing left it: plaintext
    metadata columns, no meta column, blobs under the account key, no key pairs, no
    readers' keys, account keys wrapped in the first format (bound to no account),
    store schema 5."""
    keys = {}
    rows = m.sql("SELECT m.mailbox_id, m.uid, b.user_id, m.meta, b.sealed_key FROM messages m"
                 " JOIN blobs b ON b.id = m.blob_id")
    con = sqlite3.connect(str(m.data_dir / "mss.db"))
    try:
        for mailbox_id, uid, owner, meta, sealed in rows:
            if owner not in keys:
                keys[owner] = atrest_helpers.account_key(m, owner)
            key = atrest_helpers.message_key(keys[owner], sealed)
            env, bs, body, refs = atrest_helpers.meta_open(key, meta)
            con.execute("UPDATE messages SET envelope = ?, bodystructure = ?, body = ?, refs = ?"
                        " WHERE mailbox_id = ? AND uid = ?", (env, bs, body, refs, mailbox_id, uid))
        for name, owner, sealed, data in m.sql("SELECT name, user_id, sealed_key, data FROM blobs"):
            if owner not in keys:
                keys[owner] = atrest_helpers.account_key(m, owner)
            path = m.data_dir / "blobs" / name[:2] / name
            plain = atrest_helpers.blob_open(atrest_helpers.blob_bytes(m, name, data),
                                             atrest_helpers.message_key(keys[owner], sealed))
            path.parent.mkdir(mode=0o700, exist_ok=True)
            atrest_helpers.blob_write(path, keys[owner], plain)  # every blob a file then
        con.execute("ALTER TABLE messages DROP COLUMN meta")
        con.execute("ALTER TABLE retained DROP COLUMN meta")
        con.execute("ALTER TABLE mailboxes DROP COLUMN urlauth_generation")  # migration 7
        con.execute("ALTER TABLE blobs DROP COLUMN sealed_key")  # migration 8
        con.execute("ALTER TABLE store_users DROP COLUMN public_key")
        con.execute("DROP TABLE blob_keys")  # migration 9
        for (uid,) in con.execute("SELECT id FROM store_users").fetchall():  # migration 10
            key = keys.get(uid) or atrest_helpers.account_key(m, uid)
            con.execute("UPDATE store_users SET wrapped_key = ? WHERE id = ?",
                        (atrest_helpers.wrap_first_format(m, key), uid))
        con.execute("DELETE FROM store_counters WHERE name = 'wrap_format'")
        for stmt in atrest_helpers.UNDO_STORE_STEPS_AFTER_11:
            con.execute(stmt)
        con.execute("DROP TABLE urlauth_keys")  # migration 11
        con.execute("UPDATE schema_version SET version = 5 WHERE component = 'store'")
        con.commit()
    finally:
        con.close()
    return len(rows)


@pytest.mark.sqlite_only
def test_migrate_seals_an_old_data_dir(delivered):
    m = delivered
    c = imap(m)
    c.select("INBOX", readonly=True)
    before = c.fetch("1:*", "(ENVELOPE BODYSTRUCTURE)")
    c.logout()
    m.stop("smtpd")
    m.stop("imapd")
    n = unseal_as_old_code_did(m)
    assert scan_files(m), "the old form must show the markers, or this test proves nothing"
    accounts = m.sql("SELECT count(*) FROM store_users")[0][0]
    r = m.ctl("migrate")
    assert r.stdout.splitlines() == ["store schema: 14 migrations applied",
                                     f"account keys: {accounts} wrapped for their account",
                                     f"account key pairs: {accounts} made",
                                     f"store metadata: {n} message{'s' if n != 1 else ''} sealed"], r.stdout
    found = scan_files(m) + scan_tables(m)
    assert not found, found
    assert m.ctl("migrate").stdout.strip() == "store schema: up to date"
    # migration 12 counted the messages already there
    assert m.sql("SELECT mb.n_messages, mb.n_unseen, mb.total_size FROM mailboxes mb"
                 " WHERE EXISTS(SELECT 1 FROM messages WHERE mailbox_id = mb.id)") == m.sql(
        "SELECT count(*), sum(CASE WHEN (flags & 1) = 0 THEN 1 ELSE 0 END), sum(size)"
        " FROM messages GROUP BY mailbox_id ORDER BY mailbox_id")
    m.start("imapd")
    c = imap(m)
    c.select("INBOX", readonly=True)
    assert c.fetch("1:*", "(ENVELOPE BODYSTRUCTURE)") == before
    typ, data = c.uid("SEARCH", "CHARSET", "UTF-8", "SUBJECT", MARKERS["subject"])
    assert typ == "OK" and len(data[0].split()) == 1
    # old messages stay under the account key and read as before; a new one gets its
    # own key sealed to the account's new key pair, and both read side by side
    assert m.sql("SELECT count(*) FROM blobs WHERE sealed_key IS NOT NULL") == [(0,)]
    old_bodies = c.fetch("1:*", "(BODY.PEEK[])")
    assert old_bodies[0] == "OK" and len(old_bodies[1]) >= 2
    m.start("smtpd")
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = PRO, PATIENT, "after migrate"
    msg.set_content("new message body QZNEWmk4410\n")
    send(m, msg)
    assert m.sql("SELECT count(*) FROM blobs b JOIN store_users u ON u.id = b.user_id"
                 " WHERE u.address = ? AND b.sealed_key IS NOT NULL", PATIENT) == [(1,)]
    c.noop()
    typ, data = c.fetch("1:*", "(BODY.PEEK[])")
    assert typ == "OK"
    bodies = [d[1] for d in data if isinstance(d, tuple)]
    assert bodies[:-1] == [d[1] for d in old_bodies[1] if isinstance(d, tuple)]
    assert b"QZNEWmk4410" in bodies[-1]
    c.logout()
