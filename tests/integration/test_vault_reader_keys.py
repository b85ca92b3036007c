"""A professional reads a patient's granted documents with its own key, never the
patient's (issue 12, blob_keys): each document's message key is sealed to every
grantee at grant time and at filing; revocation, block, mask and deletion remove the
grantee's row, so a document is unreadable to it even past the policy checks; mssctl
migrate fills the rows of grants made before, rewriting first the documents stored
under the patient's account key (before key pairs)."""
import re
import smtplib
import time

import atrest_helpers
from conftest import PATIENT, PASSWORDS, PRO
from test_imap_helpers import multipart_message
from test_imap_vault import session, vault  # noqa: F401 (the fixture)


def pro_rows(m, pro=PRO):
    return m.sql("SELECT count(*) FROM blob_keys k JOIN store_users u ON u.id = k.user_id"
                 " WHERE lower(u.address) = lower(?)", pro)[0][0]


def documents(m, folder=None):
    """The patient's live documents (blob ids): in folder, or in every Documents folder."""
    return [r[0] for r in m.sql(
        "SELECT DISTINCT m.blob_id FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id"
        " JOIN store_users u ON u.id = b.user_id WHERE lower(u.address) = lower(?)"
        " AND (b.name = ? OR (? = '' AND (b.name = 'Documents' OR b.name LIKE 'Documents/%')))",
        PATIENT, folder or "", folder or "")]


class BrokenKey:
    """The patient's wrapped account key made unusable in the database while inside:
    whatever still reads the patient's documents does not use the patient's key."""

    def __init__(self, m):
        self.m = m

    def __enter__(self):
        self.saved = self.m.sql("SELECT wrapped_key FROM store_users WHERE lower(address) = lower(?)",
                                PATIENT)[0][0]
        broken = "00" * (len(self.saved) // 2)
        self.m.sql("UPDATE store_users SET wrapped_key = ? WHERE lower(address) = lower(?)", broken, PATIENT)
        return self

    def __exit__(self, *exc):
        self.m.sql("UPDATE store_users SET wrapped_key = ? WHERE lower(address) = lower(?)", self.saved,
                   PATIENT)


def grant(m, pro=PRO):
    pat = session(m, PATIENT)
    try:
        _, t = pat.cmd("g1", f'SETACL Documents "{pro}" lr')
        assert t.startswith(b"g1 OK"), t
    finally:
        pat.close()


def file_document(m, subject):
    with smtplib.SMTP("127.0.0.1", m.port("submission"), timeout=30) as s:
        s.starttls(context=m.login_context(PRO))
        s.login(PRO, PASSWORDS[PRO])
        s.sendmail(PRO, [PATIENT], multipart_message(subject, n=5))


def read_all(m):
    """The professional's view of the shared folder: (uids, subjects, bodies)."""
    pro = session(m, PRO, cert="pro")
    try:
        lines, t = pro.cmd("r1", f'EXAMINE "{m.shared}"')
        assert t.startswith(b"r1 OK"), t
        lines, t = pro.cmd("r2", "UID FETCH 1:* (UID ENVELOPE BODY.PEEK[TEXT])")
        assert t.startswith(b"r2 OK"), t
        text = b"\n".join(lines)
        uids = [int(u) for u in re.findall(rb"UID (\d+)", text)]
        return uids, text
    finally:
        pro.close()


def fetch_uid(m, uid):
    """UID FETCH of a known UID by the professional: (untagged lines, tagged reply)."""
    pro = session(m, PRO, cert="pro")
    try:
        _, t = pro.cmd("u1", f'EXAMINE "{m.shared}"')
        if not t.startswith(b"u1 OK"):
            return [], t
        return pro.cmd("u2", f"UID FETCH {uid} (UID BODY.PEEK[])")
    finally:
        pro.close()


def wait_documents(m, n):
    deadline = time.monotonic() + 15
    while len(documents(m)) < n and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(documents(m)) >= n


def test_professional_reads_without_the_patients_key(vault):
    m = vault
    assert pro_rows(m) == 0
    grant(m)  # the document filed before: sealed to the professional at grant time
    assert pro_rows(m) == len(documents(m)) >= 1
    file_document(m, "compte rendu apres le partage")  # filed after: sealed at delivery
    wait_documents(m, 2)
    assert pro_rows(m) == len(documents(m))
    with BrokenKey(m):
        uids, text = read_all(m)
        assert len(uids) == len(documents(m, m.folder)) >= 2
        # each ENVELOPE (the document's title as its subject) and each body, opened
        assert text.count(b"ENVELOPE (") == len(uids) and b'"cr.pdf"' in text
        assert text.count(b"BODY[TEXT]") == len(uids)


def test_revoke_block_mask_delete_remove_the_rows(vault):
    m = vault
    grant(m)
    n = len(documents(m))
    assert pro_rows(m) == n >= 1
    uid = read_all(m)[0][0]

    # revocation: no row, no read
    pat = session(m, PATIENT)
    try:
        _, t = pat.cmd("a1", f'DELETEACL Documents "{PRO}"')
        assert t.startswith(b"a1 OK"), t
    finally:
        pat.close()
    assert pro_rows(m) == 0
    lines, t = fetch_uid(m, uid)
    assert not any(b"BODY[]" in l for l in lines)
    grant(m)
    assert pro_rows(m) == n

    # block (mssctl): rows gone; unblock: the grant is in force again, rows back
    m.ctl("access", "block", PATIENT, PRO)
    assert pro_rows(m) == 0
    lines, t = fetch_uid(m, uid)
    assert not any(b"BODY[]" in l for l in lines)
    m.ctl("access", "unblock", PATIENT, PRO)
    assert pro_rows(m) == n

    # mask: that document's row goes; unmask brings it back, readable without the
    # patient's key
    pat = session(m, PATIENT)
    try:
        pat.cmd("b1", f'SELECT "{m.folder}"')
        _, t = pat.cmd("b2", f"UID STORE {uid} +FLAGS ($Masked)")
        assert t.startswith(b"b2 OK"), t
        assert pro_rows(m) == n - 1
        lines, t = fetch_uid(m, uid)
        assert not any(b"BODY[]" in l for l in lines)
        _, t = pat.cmd("b3", f"UID STORE {uid} -FLAGS ($Masked)")
        assert t.startswith(b"b3 OK"), t
        assert pro_rows(m) == n
        with BrokenKey(m):
            lines, t = fetch_uid(m, uid)
            assert t.startswith(b"u2 OK") and any(b"BODY[]" in l for l in lines), (lines, t)

        # the patient deletes the document: its rows go with it
        _, t = pat.cmd("b4", f"UID STORE {uid} +FLAGS (\\Deleted)")
        assert t.startswith(b"b4 OK"), t
        _, t = pat.cmd("b5", "EXPUNGE")
        assert t.startswith(b"b5 OK"), t
    finally:
        pat.close()
    assert pro_rows(m) == n - 1
    assert m.sql("SELECT count(*) FROM blob_keys WHERE blob_id NOT IN"
                 " (SELECT blob_id FROM messages)")[0][0] == 0


def test_migrate_fills_rows_of_older_grants(vault):
    m = vault
    grant(m)
    n = len(documents(m))
    m.sql("DELETE FROM blob_keys")  # as a grant made before blob_keys existed
    with BrokenKey(m):
        lines, t = fetch_uid(m, read_all_uids_unchecked(m))
        assert not any(b"BODY[]" in l for l in lines)  # the patient's key is not asked for
    r = m.ctl("migrate")
    assert f"readers' message keys: {n} made" in r.stdout, r.stdout
    assert pro_rows(m) == n
    r = m.ctl("migrate")
    assert "readers' message keys" not in r.stdout  # idempotent
    audit = m.sql("SELECT detail FROM audit_log WHERE action = 'admin.migrate' ORDER BY seq")
    assert any(f"reader_keys={n}" in (d[0] or "") for d in audit), audit
    with BrokenKey(m):
        uids, text = read_all(m)
        assert len(uids) == len(documents(m, m.folder)) and text.count(b"BODY[TEXT]") == len(uids)


def read_all_uids_unchecked(m):
    return m.sql("SELECT m.uid FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id"
                 " JOIN store_users u ON u.id = b.user_id WHERE lower(u.address) = lower(?) AND b.name = ?"
                 " ORDER BY m.uid", PATIENT, m.folder)[0][0]


def make_old(m):
    """The patient's shared documents as an MSS before key pairs stored them: blob and
    metadata under the account key, no sealed key, no reader rows. Returns how many."""
    pid = m.sql("SELECT id FROM store_users WHERE lower(address) = lower(?)", PATIENT)[0][0]
    account = atrest_helpers.account_key(m, pid)
    blobs = m.sql("SELECT DISTINCT b.id, b.name, b.sealed_key, b.data FROM blobs b"
                  " JOIN messages m ON m.blob_id = b.id JOIN mailboxes x ON x.id = m.mailbox_id"
                  " WHERE b.user_id = ? AND x.name LIKE 'Documents%'", pid)
    for blob_id, name, sealed, data in blobs:
        key = atrest_helpers.message_key(account, sealed)
        path = m.data_dir / "blobs" / name[:2] / name
        plain = atrest_helpers.blob_open(atrest_helpers.blob_bytes(m, name, data), key)
        path.parent.mkdir(mode=0o700, exist_ok=True)
        atrest_helpers.blob_write(path, account, plain)  # a file, as every blob was then
        for mailbox_id, uid, meta in m.sql("SELECT mailbox_id, uid, meta FROM messages WHERE blob_id = ?",
                                           blob_id):
            record = atrest_helpers.meta_seal(account, atrest_helpers.meta_open(key, meta))
            m.sql("UPDATE messages SET meta = ? WHERE mailbox_id = ? AND uid = ?", record, mailbox_id, uid)
        m.sql("UPDATE blobs SET sealed_key = NULL, data = NULL WHERE id = ?", blob_id)
    m.sql("DELETE FROM blob_keys")
    return len(blobs)


def test_migrate_rewrites_old_documents_then_fills(vault):
    m = vault
    grant(m)
    n = make_old(m)
    assert n >= 1 and pro_rows(m) == 0
    uid = read_all_uids_unchecked(m)
    lines, t = fetch_uid(m, uid)
    assert not any(b"BODY[]" in l for l in lines)  # never the patient's key instead
    r = m.ctl("migrate")
    assert f"shared messages of the old form: {n} rewritten under keys of their own" in r.stdout, r.stdout
    assert f"readers' message keys: {n} made" in r.stdout, r.stdout
    assert m.sql("SELECT count(*) FROM blobs WHERE sealed_key IS NULL AND id IN (?)",
                 documents(m)[0])[0][0] == 0
    assert m.sql("SELECT count(*) FROM blobs WHERE sealed_key IS NULL")[0][0] == 0
    assert pro_rows(m) == n
    with BrokenKey(m):
        uids, text = read_all(m)
        assert len(uids) == len(documents(m, m.folder)) and text.count(b"BODY[TEXT]") == len(uids)
    # the patient reads its documents, now under keys of their own
    pat = session(m, PATIENT)
    try:
        pat.cmd("p1", f'EXAMINE "{m.folder}"')
        lines, t = pat.cmd("p2", "FETCH 1:* (ENVELOPE BODY.PEEK[TEXT])")
        assert t.startswith(b"p2 OK") and b'"cr.pdf"' in b"\n".join(lines), t
    finally:
        pat.close()
