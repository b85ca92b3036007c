"""The patient's history over IMAP: the read-only folder Historique, where every audit
entry concerning the patient (documents filed, access granted, folders opened,
documents read, masked, professionals blocked) appears as one small French message.
A patient with only a mail client (real imaplib) sees who consulted their documents;
only \\Seen may change there; a second look adds only the new entries; professionals
never see it."""
import email
import email.policy
import imaplib
import re
import smtplib
import time
from email.message import EmailMessage

import pytest

from conftest import PASSWORDS, PATIENT, PRO, PRO2

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"


@pytest.fixture
def both(mss):
    mss.start("smtpd")
    mss.start("imapd")
    return mss


def send_document(m):
    msg = EmailMessage()
    msg["From"] = PRO
    msg["To"] = PATIENT
    msg["Subject"] = "Compte rendu"
    msg.set_content("Bonjour, voici le compte rendu.\n")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="cr-biologie.pdf")
    with smtplib.SMTP("127.0.0.1", m.port("submission"), timeout=30) as s:
        s.starttls(context=m.login_context(PRO))
        s.login(PRO, PASSWORDS[PRO])
        s.send_message(msg)


def imap(m, user):
    c = imaplib.IMAP4("127.0.0.1", m.port("imap"), timeout=30)
    c.starttls(ssl_context=m.login_context(user))
    typ, _ = c.login(user, PASSWORDS[user])
    assert typ == "OK"
    return c


def names(c):
    typ, data = c.list()
    assert typ == "OK"
    return [line.decode().rsplit(" ", 1)[-1].strip('"') for line in data]


def doc_folder(c):
    for _ in range(50):
        for n in names(c):
            if n.startswith("Documents/"):
                return n
        time.sleep(0.2)
    raise AssertionError("no document filed")


def history(c):
    """Every message of Historique: {uid: (raw bytes, parsed)}, read without \\Seen."""
    typ, data = c.select("Historique", readonly=True)
    assert typ == "OK", data
    typ, data = c.uid("SEARCH", None, "ALL")
    out = {}
    for uid in data[0].split():
        typ, parts = c.uid("FETCH", uid, "(BODY.PEEK[])")
        assert typ == "OK"
        part = next(p for p in parts if isinstance(p, tuple))
        typ, date = c.uid("FETCH", uid, "(INTERNALDATE)")
        assert typ == "OK"
        out[int(uid)] = (part[1], email.message_from_bytes(part[1], policy=email.policy.default), date[0])
    return out


def raw_of(h):
    return {uid: raw for uid, (raw, _, _) in h.items()}


def patient_rows(m):
    return m.sql("SELECT seq, action, actor FROM audit_log WHERE patient = ? ORDER BY seq", PATIENT)


def subjects(h):
    return [str(msg["Subject"]) for _, msg, _ in h.values()]


def test_history_folder_shows_each_step(both):
    m = both
    send_document(m)
    pat = imap(m, PATIENT)
    folder = doc_folder(pat)
    typ, _ = pat.setacl("Documents", PRO, "lr")
    assert typ == "OK"
    shared = f"Patients/{PATIENT}/{folder}"
    pro2 = imap(m, PRO2)  # not granted: the attempt shows too
    typ, _ = pro2.select(f'"{shared}"', readonly=True)
    assert typ == "NO"
    pro2.logout()

    pro = imap(m, PRO)
    typ, _ = pro.select(f'"{shared}"', readonly=True)
    assert typ == "OK"
    typ, data = pro.fetch("1", "(BODY[])")
    assert typ == "OK"
    # professionals never see a patient's history, theirs or shared
    assert "Historique" not in names(pro)
    assert not any("Historique" in n for n in names(pro))
    typ, _ = pro.select(f'"Patients/{PATIENT}/Historique"', readonly=True)
    assert typ == "NO"
    pro.logout()

    typ, _ = pat.select(f'"{folder}"')
    assert typ == "OK"
    typ, _ = pat.store("1", "+FLAGS", "($Masked)")
    assert typ == "OK"
    m.ctl("access", "block", PATIENT, PRO2)

    typ, _ = pat.noop()
    assert "Historique" in names(pat)
    h = history(pat)
    subj = subjects(h)
    rows = patient_rows(m)
    assert len(h) == len(rows), (subj, rows)
    for what in ("Document classé", "Accès au coffre-fort accordé", "Coffre-fort consulté",
                 "Document consulté", "Document masqué aux professionnels", "Professionnel bloqué",
                 "Tentative d'accès refusée"):
        assert any(s.startswith(what) for s in subj), (what, subj)
    # who: by name when the account knows it, with the address
    opened = [msg for _, msg, _ in h.values() if str(msg["Subject"]).startswith("Coffre-fort consulté")]
    body = opened[0].get_body().get_content()
    assert "Dr Martin (dr.martin@pro.mss.test)" in body and "Quand :" in body
    assert "Document : " + folder in body
    # the internal date is the event's time, the Date header too
    seqs = [r[0] for r in rows]
    times = dict(m.sql("SELECT seq, time FROM audit_log WHERE patient = ?", PATIENT))
    for (uid, (raw, msg, meta)), seq in zip(sorted(h.items()), seqs):
        assert msg["Message-ID"].startswith(f"<history.{seq}@"), (msg["Message-ID"], seq)
        date = imaplib.Internaldate2tuple(meta)
        assert abs(time.mktime(date) - times[seq]) < 2
        assert str(msg["From"]).startswith("service@")
        assert b"Content-Type: text/plain; charset=utf-8" in raw
    # nothing else: no document bytes, no passwords
    for raw, _, _ in h.values():
        assert b"%PDF" not in raw and PASSWORDS[PATIENT].encode() not in raw
    pat.logout()


def refused(res):
    typ, data = res
    assert typ == "NO" and b"NOPERM" in data[0], (typ, data)


def test_history_is_read_only(both):
    m = both
    send_document(m)
    pat = imap(m, PATIENT)
    doc_folder(pat)
    typ, data = pat.select("Historique")
    assert typ == "OK"
    n = int(data[0])
    assert n >= 1
    typ, data = pat.response("PERMANENTFLAGS")
    assert data == [b"(\\Seen)"], data
    for flags in ("(\\Deleted)", "(\\Flagged)", "($Masked)", "(\\Answered)"):
        refused(pat.store("1", "+FLAGS", flags))
    refused(pat.store("1", "FLAGS", "(\\Seen \\Deleted)"))
    typ, _ = pat.store("1", "+FLAGS", "(\\Seen)")
    assert typ == "OK"
    typ, _ = pat.store("1", "-FLAGS", "(\\Seen)")
    assert typ == "OK"
    refused(pat.expunge())
    refused(pat.uid("EXPUNGE", "1:*"))
    refused(pat.uid("MOVE", "1:*", "INBOX"))
    typ, data = pat.fetch("1:*", "(FLAGS)")
    assert all(b"Deleted" not in d for d in data)
    typ, data = pat.select("Historique")
    assert int(data[0]) == n  # nothing removed
    typ, _ = pat.copy("1", "INBOX")  # copying out is reading: allowed
    assert typ == "OK"
    typ, data = pat.append("Historique", None, None, b"Subject: forged\r\n\r\nforged entry\r\n")
    assert typ == "NO" and b"NOPERM" in data[0]
    pat.select("INBOX")
    typ, data = pat.copy("1", "Historique")
    assert typ == "NO" and b"NOPERM" in data[0]
    for cmd, args in (("delete", ("Historique",)), ("rename", ("Historique", "Old")),
                      ("create", ("Historique",))):
        typ, data = getattr(pat, cmd)(*args)
        assert typ == "NO", (cmd, data)
    typ, data = pat.rename("INBOX", "Historique")
    assert typ == "NO"
    typ, data = pat.myrights("Historique")
    assert typ == "OK" and data[0].endswith(b" lrs"), data
    typ, data = pat.status("Historique", "(MESSAGES)")
    assert typ == "OK" and f"MESSAGES {n}".encode() in data[0]
    pat.logout()


def test_second_sync_adds_only_new_entries(both):
    m = both
    send_document(m)
    pat = imap(m, PATIENT)
    folder = doc_folder(pat)
    first = history(pat)
    assert len(first) == len(patient_rows(m))
    typ, data = pat.select("Historique")
    n = int(data[0])
    # nothing new: a NOOP, a LIST, another login add nothing
    pat.noop()
    names(pat)
    assert raw_of(history(pat)) == raw_of(first)
    pat.select("Historique")

    # a professional is granted, opens and reads: the selected Historique grows on NOOP
    typ, _ = pat.setacl("Documents", PRO, "lr")
    assert typ == "OK"
    pro = imap(m, PRO)
    pro.select(f'"Patients/{PATIENT}/{folder}"', readonly=True)
    pro.fetch("1", "(BODY.PEEK[])")
    pro.logout()
    typ, _ = pat.noop()
    exists = [int(x) for x in pat.untagged_responses.get("EXISTS", [b"0"])]
    rows = patient_rows(m)
    assert max(exists) == len(rows) > n, (exists, rows)

    second = history(pat)
    assert len(second) == len(rows)
    # the old entries are untouched (same UIDs, same bytes), the new ones follow once
    for uid, (raw, _, _) in first.items():
        assert second[uid][0] == raw
    ids = [str(msg["Message-ID"]) for _, msg, _ in second.values()]
    assert len(ids) == len(set(ids))
    assert any(str(msg["Subject"]).startswith("Accès au coffre-fort accordé")
               for uid, (_, msg, _) in second.items() if uid not in first)

    # a second session of the same patient sees the same folder, no duplicates
    pat2 = imap(m, PATIENT)
    assert raw_of(history(pat2)) == raw_of(second)
    pat2.logout()
    pat.logout()
    # the table remembers the last record copied
    last = m.sql("SELECT last_seq FROM vault_history_sync WHERE patient = ?", PATIENT)[0][0]
    assert last == rows[-1][0]
    r = m.ctl("audit", "verify", check=False)
    assert r.returncode == 0, r.stderr


def start_idle_on_history(m):
    """A patient session idling on Historique after one filed document; returns the
    session, the IDLE tag and the message count before."""
    send_document(m)
    pat = imap(m, PATIENT)
    doc_folder(pat)
    typ, data = pat.select("Historique")
    before = int(data[0])
    tag = pat._new_tag().decode()
    pat.send(f"{tag} IDLE\r\n".encode())
    assert pat.readline().startswith(b"+")
    return pat, tag, before


def test_idle_on_history_sees_new_entries(mss):
    """Entries are audit records, not deliveries: an IDLE on Historique checks for new
    ones every imap_history_check (30 s by default; 2 s here) and shows them as EXISTS."""
    m = mss
    m.set(imap_history_check="2")
    m.start("smtpd")
    m.start("imapd")
    pat, tag, before = start_idle_on_history(m)
    m.ctl("access", "grant", PATIENT, PRO)  # by the administrator, while the patient idles
    seen = b""
    pat.sock.settimeout(45)
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        line = pat.readline()
        seen += line
        if re.search(rb"\* \d+ EXISTS", line):
            break
    pat.send(b"DONE\r\n")
    while True:
        line = pat.readline()
        if line.startswith(tag.encode()):
            assert b"OK" in line
            break
    found = re.findall(rb"\* (\d+) EXISTS", seen)
    assert found and int(found[-1]) > before, seen
    pat.logout()


def test_idle_wakes_when_another_session_syncs(both):
    """The copy is a store delivery: a session idling on Historique wakes at once when
    another session of the patient brings the folder up to date (here: its login)."""
    m = both
    pat, tag, before = start_idle_on_history(m)
    m.ctl("access", "grant", PATIENT, PRO)
    started = time.monotonic()
    other = imap(m, PATIENT)  # its login copies the new entry
    pat.sock.settimeout(20)
    line = pat.readline()
    assert re.match(rb"\* (\d+) EXISTS", line), line
    assert int(re.match(rb"\* (\d+) EXISTS", line).group(1)) > before
    assert time.monotonic() - started < 10  # not the 30 s periodic check
    pat.send(b"DONE\r\n")
    while not pat.readline().startswith(tag.encode()):
        pass
    other.logout()
    pat.logout()
