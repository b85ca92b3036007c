"""A mask, a revocation or a block holds in sessions already open (issue 11): from the
moment the patient's change commits, a professional's session that has the folder
selected gets nothing more of the document, by any command (FETCH, UID FETCH, BINARY,
COPY, MOVE, SEARCH, STATUS). STATUS reveals nothing about masked documents; a SEARCH
in the documents' content is a consultation, a listing is not; the patient's own
keywords never cross; $Masked works in any case. Raw IMAP sessions (exact commands)."""
import re
import time

import pytest

from conftest import PATIENT, PRO, PRO2
from controls_helpers import PDF, last_seq, message, send, session

MUTT_HEADERS = ("UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (DATE FROM "
                "SENDER SUBJECT TO CC MESSAGE-ID REFERENCES CONTENT-TYPE CONTENT-DESCRIPTION IN-REPLY-TO "
                "REPLY-TO LINES LIST-POST X-LABEL X-ORIGINAL-TO)])")


@pytest.fixture
def shared(mss):
    """One PDF filed in the patient's vault, the professional granted; returns the
    instance with .folder (the patient's) and .shared (the professional's name)."""
    mss.start("smtpd")
    mss.start("imapd")
    msg = message(subject="compte rendu live")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="cr-live.pdf")
    send(mss, msg)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        rows = mss.sql("SELECT mailbox FROM vault_document WHERE patient = ?", PATIENT)
        if rows:
            break
        time.sleep(0.1)
    assert rows, "nothing filed"
    mss.folder = rows[0][0]
    mss.shared = f"Patients/{PATIENT}/{mss.folder}"
    mss.ctl("access", "grant", PATIENT, PRO)
    return mss


def opened(m):
    pro = session(m, PRO)
    lines, t = pro.cmd("s1", f'SELECT "{m.shared}"')
    assert t.startswith(b"s1 OK"), t
    assert b"* 1 EXISTS" in lines
    lines, t = pro.cmd("s2", "UID FETCH 1:* (UID)")
    uid = re.search(rb"UID (\d+)", lines[0]).group(1).decode()
    return pro, uid


def no_pdf(lines):
    blob = b"\n".join(lines)
    assert PDF not in blob and b"%PDF" not in blob and b"JVBERi0" not in blob, blob[:300]


def mask(m, keyword="$Masked"):
    pat = session(m, PATIENT)
    try:
        _, t = pat.cmd("p1", f'SELECT "{m.folder}"')
        assert t.startswith(b"p1 OK")
        _, t = pat.cmd("p2", f"STORE 1 +FLAGS ({keyword})")
        assert t.startswith(b"p2 OK"), t
    finally:
        pat.close()


def revoke(m):
    pat = session(m, PATIENT)
    try:
        _, t = pat.cmd("p1", f'DELETEACL Documents "{PRO}"')
        assert t.startswith(b"p1 OK"), t
    finally:
        pat.close()


def block(m):
    m.ctl("access", "block", PATIENT, PRO)


CHANGES = {"mask": mask, "revoke": revoke, "block": block}


def pro_inbox_count(m):
    return m.sql("SELECT count(*) FROM messages x JOIN mailboxes b ON x.mailbox_id = b.id "
                 "JOIN store_users u ON b.user_id = u.id WHERE u.address = ? AND b.name = 'INBOX'", PRO)[0][0]


@pytest.mark.parametrize("change", sorted(CHANGES))
@pytest.mark.parametrize("command", [
    "UID FETCH {uid} (BODY.PEEK[2])",
    "FETCH 1 (BODY.PEEK[2])",
    "FETCH 1 (BODY[])",
    "FETCH 1 (RFC822)",
    "FETCH 1 (BINARY.PEEK[2])",
    "UID FETCH {uid} (BINARY.PEEK[2])",
])
def test_open_session_gets_nothing_after_the_change(shared, change, command):
    m = shared
    pro, uid = opened(m)
    try:
        CHANGES[change](m)
        before = last_seq(m)
        cmd = command.format(uid=uid)
        for i in range(3):  # "plain FETCH served it three times in a row"
            try:
                lines, t = pro.cmd(f"f{i}", cmd)
            except EOFError:
                break  # the session was closed (BYE): nothing served either
            no_pdf(lines)
            assert not t.startswith(f"f{i} BAD".encode()), t
        reads = m.sql("SELECT count(*) FROM audit_log WHERE seq > ? AND action = 'vault.read'", before)[0][0]
        assert reads == 0
    finally:
        pro.close()


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_search_status_copy_move_after_the_change(shared, change):
    m = shared
    pro, uid = opened(m)
    inbox_before = pro_inbox_count(m)
    try:
        CHANGES[change](m)
        for tag, cmd in (("a1", "SEARCH ALL"), ("a2", f"UID SEARCH UID {uid}"), ("a3", "SEARCH BODY PDF"),
                         ("a4", f'STATUS "{m.shared}" (MESSAGES UIDNEXT UNSEEN)'), ("a5", "COPY 1 INBOX"),
                         ("a6", f"UID COPY {uid} INBOX"), ("a7", "MOVE 1 INBOX"),
                         ("a8", f"UID MOVE {uid} INBOX")):
            try:
                lines, t = pro.cmd(tag, cmd)
            except EOFError:
                break
            blob = b"\n".join(lines)
            assert not re.search(rb"\* SEARCH \d", blob), (cmd, blob)
            assert not re.search(rb"MESSAGES [1-9]", blob), (cmd, blob)
            assert not t.startswith(f"{tag} OK [COPYUID".encode()), (cmd, t)
        assert pro_inbox_count(m) == inbox_before
    finally:
        pro.close()


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_nothing_after_the_change_once_a_body_was_read(shared, change):
    """The catching up after a body fetch reads no statement of its own (issue 15: the
    mailbox's HIGHESTMODSEQ and UIDNEXT come with the body): a document read, then
    masked, withdrawn or blocked, is not served again by any command, listed by no
    search, sort or thread, and no read of it is recorded after the change."""
    m = shared
    pro, uid = opened(m)
    try:
        lines, t = pro.cmd("b0", f"UID FETCH {uid} (BODY.PEEK[2])")
        assert t.startswith(b"b0 OK") and b"JVBERi0" in b"".join(lines), t  # the PDF, in base64
        CHANGES[change](m)
        before = last_seq(m)
        for i, cmd in enumerate((f"UID FETCH {uid} (ENVELOPE BODYSTRUCTURE FLAGS)", "FETCH 1:* (ENVELOPE)",
                                 f"UID FETCH {uid} (BODY.PEEK[2])", "UID SORT (SUBJECT) UTF-8 ALL",
                                 "UID THREAD REFERENCES UTF-8 ALL", "SEARCH RETURN (ALL COUNT) ALL",
                                 "NOOP", f"UID FETCH {uid} (BODY.PEEK[HEADER])")):
            try:
                lines, t = pro.cmd(f"c{i}", cmd)
            except EOFError:
                break  # the session was closed (BYE): nothing served either
            no_pdf(lines)
            blob = b"\n".join(lines)
            assert b"compte rendu" not in blob.lower(), (cmd, blob)
            assert not re.search(rb"\* (\d+ FETCH|SORT \d|THREAD \(|SEARCH \d)|COUNT [1-9]", blob), (cmd, blob)
        reads = m.sql("SELECT count(*) FROM audit_log WHERE seq > ? AND action = 'vault.read'", before)[0][0]
        assert reads == 0
    finally:
        pro.close()


@pytest.mark.parametrize("change", ["revoke", "block"])
def test_idle_ends_at_the_next_document_after_the_change(shared, change):
    """A professional idling in the folder when the grant goes (no mailbox change wakes
    IDLE) gets BYE at the next document filed there, never its EXISTS."""
    m = shared
    pro, uid = opened(m)
    try:
        pro.send(b"i1 IDLE\r\n")
        assert pro.readline().startswith(b"+")
        CHANGES[change](m)
        msg = message(subject="second document", sender=PRO2)
        msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="cr-2.pdf")
        send(m, msg, user=PRO2)
        got = b""
        while b"BYE" not in got:
            line = pro.readline()  # bounded by the session's timeout (15 s)
            assert line, got
            got += line
        assert b"EXISTS" not in got and b"Access to this folder was withdrawn" in got, got
    finally:
        pro.close()


def vanished_named(lines):
    """The UIDs of the VANISHED (EARLIER) lines."""
    out = set()
    for l in lines:
        m = re.match(rb"\* VANISHED \(EARLIER\) ([\d:,]+)$", l)
        for part in m.group(1).split(b",") if m else ():
            lo, _, hi = part.partition(b":")
            out |= set(range(int(lo), int(hi or lo) + 1))
    return out


def more_documents(m, n, commands):
    """n more documents filed in the shared folder (UIDs 2...), then the patient's
    commands run in it."""
    for i in range(2, n + 2):
        msg = message(subject=f"document {i}")
        msg.add_attachment(PDF, maintype="application", subtype="pdf", filename=f"cr-{i}.pdf")
        send(m, msg)
    deadline = time.monotonic() + 20
    while len(m.sql("SELECT 1 FROM vault_document WHERE patient = ?", PATIENT)) < n + 1:
        assert time.monotonic() < deadline, "not filed"
        time.sleep(0.1)
    pat = session(m, PATIENT)
    try:
        for i, cmd in enumerate((f'SELECT "{m.folder}"',) + commands):
            _, t = pat.cmd(f"p{i}", cmd)
            assert t.startswith(f"p{i} OK".encode()), t
    finally:
        pat.close()


def test_qresync_tells_no_masked_document_from_a_deleted_one(shared):
    """To a professional a masked document is an expunged one (an open view tells its
    EXPUNGE). A shared view has no MODSEQ (NOMODSEQ, test_vault_nomodseq), so QRESYNC
    cannot tell one from the other: the parameter is ignored (no VANISHED (EARLIER),
    which named the store's expunged UIDs only, so that a UID neither visible nor
    vanished was a masked document) and UID FETCH CHANGEDSINCE VANISHED answers BAD."""
    m = shared
    more_documents(m, 2, ("UID STORE 2 +FLAGS ($Masked)", "UID STORE 3 +FLAGS (\\Deleted)", "EXPUNGE"))
    pro = session(m, PRO)
    try:
        pro.cmd("q0", "ENABLE QRESYNC")
        lines, _ = pro.cmd("q1", f'EXAMINE "{m.shared}"')
        uidvalidity = re.search(rb"UIDVALIDITY (\d+)", b"\n".join(lines)).group(1).decode()
        assert b"* OK [UIDNEXT 2] Predicted next UID" in lines, lines
        for tag, cmd, ok in ((f"q2", f'EXAMINE "{m.shared}" (QRESYNC ({uidvalidity} 1))', True),
                             (f"q3", f'EXAMINE "{m.shared}" (QRESYNC ({uidvalidity} 1 1:10))', True),
                             (f"q4", "UID FETCH 1:10 (FLAGS) (CHANGEDSINCE 1 VANISHED)", False),
                             (f"q5", "UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)", False)):
            lines, t = pro.cmd(tag, cmd)
            assert t.startswith(tag.encode() + (b" OK" if ok else b" BAD")), t
            assert not vanished_named(lines), (cmd, lines)
    finally:
        pro.close()


def test_condstore_enabled_late_says_nomodseq(shared):
    """CONDSTORE enabled by a command after SELECT says NOMODSEQ, as SELECT did, never
    the folder's HIGHESTMODSEQ (a masked document's MODSEQ above the ones shown would
    tell that one is there), and the command needing a MODSEQ answers BAD."""
    m = shared
    more_documents(m, 1, ("UID STORE 2 +FLAGS ($Masked)",))
    for cmd in ("FETCH 1 (FLAGS) (CHANGEDSINCE 1)", "SEARCH MODSEQ 1", "FETCH 1 (MODSEQ)"):
        other = session(m, PRO)
        try:
            lines, t = other.cmd("o1", f'EXAMINE "{m.shared}"')
            assert b"* OK [NOMODSEQ] No MODSEQ in a shared folder" in lines, lines
            lines, t = other.cmd("o3", cmd)
            assert t.startswith(b"o3 BAD"), t
            assert lines == [b"* OK [NOMODSEQ] No MODSEQ in a shared folder"], (cmd, lines)
        finally:
            other.close()


def test_vault_documents_are_not_shared_by_url(shared):
    """A vault document is shared by a grant, where a mask, a revocation and a block
    hold and every read is audited: GENURLAUTH of a patient's vault folder is refused
    (a URL for a professional served the document, unrecorded, after the patient
    blocked them or masked it), and a URL signed before that for one is NIL."""
    m = shared
    user, host = PATIENT.split("@")
    pat = session(m, PATIENT)
    try:
        _, t = pat.cmd("p1", f'SELECT "{m.folder}"')
        assert t.startswith(b"p1 OK"), t
        for i, access in enumerate((f"user+{PRO.replace('@', '%40')}", "authuser")):
            lines, t = pat.cmd(f"g{i}", f'GENURLAUTH "imap://{user}@{host}/{m.folder}/;uid=1;urlauth={access}" INTERNAL')
            assert t.startswith(f"g{i} NO [NOPERM]".encode()) and not lines, (lines, t)
    finally:
        pat.close()
    # a URL signed when its mailbox was not a patient's vault: a professional's own
    # "Documents/..." folder, its account then made a patient's (as a URL signed for a
    # vault document before GENURLAUTH refused them)
    owner = session(m, PRO2)
    msg = b"From: a@pro.mss.test\r\nSubject: vault by url\r\n\r\nsecret-by-url\r\n"
    try:
        for i, cmd in enumerate(('CREATE "Documents/Notes"', 'SELECT "Documents/Notes"')):
            _, t = owner.cmd(f"o{i}", cmd)
            assert t.startswith(f"o{i} OK".encode()), t
        owner.send(f'a1 APPEND "Documents/Notes" {{{len(msg)}+}}\r\n'.encode() + msg + b"\r\n")
        assert owner.read_until_tagged("a1")[-1].startswith(b"a1 OK")
        ouser, ohost = PRO2.split("@")
        lines, t = owner.cmd("g", f'GENURLAUTH "imap://{ouser}@{ohost}/Documents/Notes/;uid=1;'
                                  f'urlauth=user+{PRO.replace("@", "%40")}" INTERNAL')
        assert t.startswith(b"g OK"), t
        url = re.findall(rb'"([^"]+)"', lines[0])[0].decode()
    finally:
        owner.close()
    for role, served in (("professional", True), ("patient", False)):
        m.sql("UPDATE accounts SET role = ? WHERE address = ?", role, PRO2)
        pro = session(m, PRO)
        try:
            lines, t = pro.cmd("u", f'URLFETCH "{url}"')
            assert t.startswith(b"u OK"), t
            assert (b"secret-by-url" in b"\n".join(lines)) == served, (role, lines)
        finally:
            pro.close()


def test_status_does_not_reveal_a_masked_document(shared):
    """A folder whose only document is masked answers as if it never held one."""
    m = shared
    mask(m)
    pro = session(m, PRO)
    try:
        lines, t = pro.cmd("a1", f'STATUS "{m.shared}" (MESSAGES UIDNEXT UIDVALIDITY)')
        blob = b"\n".join(lines) + t
        assert b"UIDNEXT 2" not in blob and b"MESSAGES 0 UIDNEXT" not in blob, blob
        unknown = f"Patients/{PATIENT}/Documents/Vaccinations"  # never held anything
        lines2, t2 = pro.cmd("a2", f'STATUS "{unknown}" (MESSAGES UIDNEXT UIDVALIDITY)')
        assert t.split(b" ", 1)[1].split(b"]")[0] == t2.split(b" ", 1)[1].split(b"]")[0], (t, t2)
        lines, _ = pro.cmd("a3", 'LIST "" "Patients/*"')
        assert not any(m.folder.encode() in l for l in lines), lines
        _, t = pro.cmd("a4", f'EXAMINE "{m.shared}"')
        _, t2 = pro.cmd("a5", f'EXAMINE "{unknown}"')
        assert t.split(b" ", 1)[1].split(b"]")[0] == t2.split(b" ", 1)[1].split(b"]")[0], (t, t2)
    finally:
        pro.close()


def test_search_in_content_is_a_consultation_listing_is_not(shared):
    m = shared
    pro, uid = opened(m)
    try:
        before = last_seq(m)
        lines, t = pro.cmd("m1", MUTT_HEADERS)
        assert t.startswith(b"m1 OK")
        lines, t = pro.cmd("m2", "FETCH 1 (ENVELOPE BODYSTRUCTURE FLAGS)")
        assert t.startswith(b"m2 OK")
        rows = m.sql("SELECT action FROM audit_log WHERE seq > ? AND patient = ?", before, PATIENT)
        assert rows == [], rows
        lines, t = pro.cmd("m3", "SEARCH BODY Bonjour")
        assert t.startswith(b"m3 OK")
        rows = m.sql("SELECT action, actor FROM audit_log WHERE seq > ? AND patient = ?", before, PATIENT)
        assert rows and all(r[1] == PRO for r in rows) and rows[0][0] in ("vault.search", "vault.read"), rows
        before = last_seq(m)
        lines, t = pro.cmd("m4", "FETCH 1 (BODY.PEEK[2])")
        rows = m.sql("SELECT action FROM audit_log WHERE seq > ? AND patient = ?", before, PATIENT)
        assert rows == [("vault.read",)], rows
    finally:
        pro.close()


def test_patient_keywords_never_cross(shared):
    m = shared
    pro, uid = opened(m)
    pat = session(m, PATIENT)
    try:
        pat.cmd("p1", f'SELECT "{m.folder}"')
        _, t = pat.cmd("p2", "STORE 1 +FLAGS (a_montrer_au_psy \\Flagged)")
        assert t.startswith(b"p2 OK")
        lines, _ = pro.cmd("a1", "NOOP")
        lines += pro.cmd("a2", "FETCH 1 (FLAGS)")[0]
        lines += pro.cmd("a3", "SEARCH KEYWORD a_montrer_au_psy")[0]
        lines += pro.cmd("a4", "SEARCH FLAGGED")[0]
        lines += pro.cmd("a5", f'EXAMINE "{m.shared}"')[0]
        blob = b"\n".join(lines)
        assert b"a_montrer_au_psy" not in blob, blob
        fetched_flags = [l for l in lines if re.match(rb"\* \d+ FETCH", l)]
        assert not any(b"\\Flagged" in l for l in fetched_flags), fetched_flags
        assert not re.search(rb"\* SEARCH \d", blob), blob
        other = session(m, PRO)
        lines, _ = other.cmd("b1", f'EXAMINE "{m.shared}"')
        lines += other.cmd("b2", "FETCH 1 (FLAGS)")[0]
        other.close()
        assert b"a_montrer_au_psy" not in b"\n".join(lines)
    finally:
        pat.close()
        pro.close()


@pytest.mark.parametrize("keyword", ["$masked", "$MASKED", "$Masked"])
def test_masked_in_any_case(shared, keyword):
    m = shared
    pro, uid = opened(m)
    try:
        mask(m, keyword)
        lines, _ = pro.cmd("a1", f"UID FETCH {uid} (BODY.PEEK[2])")
        no_pdf(lines)
        lines += pro.cmd("a2", "NOOP")[0]
        assert b"* 1 EXPUNGE" in lines, lines
        other = session(m, PRO)
        lines, t = other.cmd("b1", f'STATUS "{m.shared}" (MESSAGES)')
        other.close()
        assert b"MESSAGES 1" not in b"\n".join(lines)
    finally:
        pro.close()


@pytest.mark.parametrize("store", ["+FLAGS ($Superseded)", "+FLAGS ($superseded)", "FLAGS ($Superseded)",
                                   "FLAGS.SILENT (\\Seen $SUPERSEDED)"])
def test_patient_cannot_mark_a_document_superseded(shared, store):
    """$Superseded is the vault's own state (an XDS replacement set it) and crosses to
    professionals: the patient may not set it, in any case, whatever the STORE form."""
    m = shared
    pat = session(m, PATIENT)
    try:
        pat.cmd("p1", f'SELECT "{m.folder}"')
        _, t = pat.cmd("p2", f"STORE 1 {store}")
        assert t.startswith(b"p2 NO"), t
        lines, _ = pat.cmd("p3", "FETCH 1 (FLAGS)")
        assert b"uperseded" not in b"\n".join(lines).lower().replace(b"s", b"s"), lines
    finally:
        pat.close()
    pro, uid = opened(m)
    try:
        lines, _ = pro.cmd("a1", "FETCH 1 (FLAGS)")
        assert b"uperseded" not in b"\n".join(lines).lower(), lines
    finally:
        pro.close()


def status_of(m, items="MESSAGES UIDNEXT SIZE HIGHESTMODSEQ UNSEEN DELETED RECENT"):
    pro = session(m, PRO)
    try:
        lines, t = pro.cmd("s1", f'STATUS "{m.shared}" ({items})')
        assert t.startswith(b"s1 OK"), t
        listed, t = pro.cmd("s2", f'LIST "" "Patients/*" RETURN (STATUS ({items}))')
        assert t.startswith(b"s2 OK"), t
    finally:
        pro.close()
    status = [l for l in lines if l.startswith(b"* STATUS")]
    in_list = [l for l in listed if l.startswith(b"* STATUS") and m.folder.encode() in l]
    assert len(status) == 1 and in_list == status, (status, in_list)
    return dict(re.findall(rb"([A-Z]+) (\d+)", status[0].split(b"(", 1)[1]))


def test_status_counts_only_what_the_professional_may_see(shared):
    """Two documents, the later one masked: every STATUS item (and LIST RETURN STATUS)
    answers as if the folder held only the visible one."""
    m = shared
    before = status_of(m)
    assert before[b"MESSAGES"] == b"1" and before[b"UIDNEXT"] == b"2", before
    msg = message(subject="second compte rendu")
    msg.add_attachment(PDF + b"%second", maintype="application", subtype="pdf", filename="cr-live.pdf")
    send(m, msg)
    for _ in range(200):
        if len(m.sql("SELECT id FROM vault_document WHERE patient = ?", PATIENT)) == 2:
            break
        time.sleep(0.1)
    pat = session(m, PATIENT)
    try:
        _, t = pat.cmd("p1", f'SELECT "{m.folder}"')
        assert t.startswith(b"p1 OK")
        _, t = pat.cmd("p2", "UID STORE 2 +FLAGS ($Masked \\Deleted)")
        assert t.startswith(b"p2 OK"), t
    finally:
        pat.close()
    after = status_of(m)
    for item in (b"MESSAGES", b"UIDNEXT", b"SIZE", b"HIGHESTMODSEQ", b"UNSEEN", b"DELETED"):
        assert after[item] == before[item], (item, before, after)
    assert int(after[b"RECENT"]) <= 1, after


def test_rev1_clients_see_the_shared_parent_as_noselect(shared):
    """mbsync and other RFC 3501 clients know \\Noselect, not RFC 5258's \\NonExistent."""
    m = shared
    parent = f'"Patients/{PATIENT}/Documents"'.encode()
    pro = session(m, PRO)
    try:
        lines, _ = pro.cmd("l1", 'LIST "" "Patients/*"')
        line = [l for l in lines if l.endswith(parent)]
        assert len(line) == 1 and b"\\Noselect" in line[0] and b"\\NonExistent" not in line[0], lines
        pro.cmd("l2", "ENABLE IMAP4rev2")
        lines, _ = pro.cmd("l3", 'LIST "" "Patients/*"')
        line = [l for l in lines if l.endswith(parent)]
        assert len(line) == 1 and b"\\NonExistent" in line[0], lines
    finally:
        pro.close()
