"""mss-imapd with Python's imaplib over STARTTLS and implicit TLS: login, list, select,
every FETCH item on a multipart message with attachments, search, store, copy, move,
expunge, append, idle; plus the pre-TLS rules and certificate login."""
import email
import re
import threading
import time

import pytest

from conftest import PATIENT, PATIENT2, PASSWORDS, PRO
from test_imap_helpers import RawImap, multipart_message, starttls_client, tls_client

CLIENTS = {"starttls": starttls_client, "tls": tls_client}


def fetch_one(c, seq, item, uid=False):
    typ, data = c.uid("FETCH", seq, item) if uid else c.fetch(seq, item)
    assert typ == "OK", (typ, data)
    return data


def literal_of(data):
    """The literal of a single-item FETCH answer."""
    parts = [d for d in data if isinstance(d, tuple)]
    assert len(parts) == 1, data
    return parts[0][1]


@pytest.mark.parametrize("kind", ["starttls", "tls"])
def test_full_session(imapd, kind):
    c = CLIENTS[kind](imapd, PATIENT)
    try:
        typ, caps = c.capability()
        assert typ == "OK"
        for cap in (b"IMAP4rev1", b"IDLE", b"UIDPLUS", b"MOVE", b"LITERAL+", b"CONDSTORE"):
            assert cap in caps[0]
        assert b"LOGINDISABLED" not in caps[0] and b"STARTTLS" not in caps[0]

        typ, boxes = c.list()
        assert typ == "OK"
        names = [re.search(rb'"/" (.*)$', b).group(1) for b in boxes]
        assert b'"INBOX"' in names and b'"Sent"' in names and b'"Trash"' in names
        assert any(b"\\Sent" in b for b in boxes)

        msg = multipart_message()
        typ, data = c.append("INBOX", "(\\Flagged $Important)", '"03-Mar-2026 10:00:00 +0100"', msg)
        assert typ == "OK"
        assert re.search(rb"\[APPENDUID \d+ 1\]", data[0])

        typ, data = c.select("INBOX")
        assert typ == "OK" and data == [b"1"]
        assert b"$Important" in c.response("FLAGS")[1][0]  # keywords in use are listed

        flags = fetch_one(c, "1", "(FLAGS)")[0]
        assert b"\\Flagged" in flags and b"$Important" in flags and b"\\Seen" not in flags
        assert b"UID 1" in fetch_one(c, "1", "(UID)")[0]
        assert b'INTERNALDATE "03-Mar-2026 09:00:00 +0000"' in fetch_one(c, "1", "(INTERNALDATE)")[0]
        assert f"RFC822.SIZE {len(msg)}".encode() in fetch_one(c, "1", "(RFC822.SIZE)")[0]

        env = fetch_one(c, "1", "(ENVELOPE)")[0]
        assert b'"Compte rendu"' in env and b'"dr.martin" "pro.mss.test"' in env
        assert b"<test-0@pro.mss.test>" in env
        bs = fetch_one(c, "1", "(BODYSTRUCTURE)")[0]
        assert b'"MIXED"' in bs.upper() and b'"PDF"' in bs.upper() and b'"OCTET-STREAM"' in bs.upper()
        assert b'"ATTACHMENT"' in bs.upper()
        body = fetch_one(c, "1", "(BODY)")[0]
        assert b"BODY (" in body and b'"MIXED"' in body.upper()

        # BODY.PEEK never sets \Seen
        assert literal_of(fetch_one(c, "1", "(BODY.PEEK[])")) == msg
        assert b"\\Seen" not in fetch_one(c, "1", "(FLAGS)")[0]

        header, text = msg.split(b"\r\n\r\n", 1)
        assert literal_of(fetch_one(c, "1", "(BODY.PEEK[HEADER])")) == header + b"\r\n\r\n"
        assert literal_of(fetch_one(c, "1", "(BODY.PEEK[TEXT])")) == text
        subj = literal_of(fetch_one(c, "1", "(BODY.PEEK[HEADER.FIELDS (Subject)])"))
        assert subj == b"Subject: Compte rendu\r\n\r\n"
        notsubj = literal_of(fetch_one(c, "1", "(BODY.PEEK[HEADER.FIELDS.NOT (Subject)])"))
        assert b"Subject" not in notsubj and b"Message-ID" in notsubj
        assert literal_of(fetch_one(c, "1", "(BODY.PEEK[]<0.10>)")) == msg[:10]
        assert literal_of(fetch_one(c, "1", "(BODY.PEEK[]<20.5>)")) == msg[20:25]

        parsed = email.message_from_bytes(msg)
        parts = parsed.get_payload()
        part1 = literal_of(fetch_one(c, "1", "(BODY.PEEK[1])"))
        assert part1.strip() == parts[0].get_payload().encode().strip().replace(b"\n", b"\r\n")
        part2 = literal_of(fetch_one(c, "1", "(BODY.PEEK[2])"))
        import base64
        assert base64.b64decode(part2) == parts[1].get_payload(decode=True)
        mime2 = literal_of(fetch_one(c, "1", "(BODY.PEEK[2.MIME])"))
        assert b"application/pdf" in mime2.lower() and mime2.endswith(b"\r\n\r\n")

        assert literal_of(fetch_one(c, "1", "(RFC822.HEADER)")) == header + b"\r\n\r\n"
        assert b"\\Seen" not in fetch_one(c, "1", "(FLAGS)")[0]
        # BODY[] without PEEK sets \Seen
        assert literal_of(fetch_one(c, "1", "(BODY[TEXT])")) == text
        assert b"\\Seen" in fetch_one(c, "1", "(FLAGS)")[0]
        assert literal_of(fetch_one(c, "1", "(RFC822)")) == msg
        assert literal_of(fetch_one(c, "1", "(RFC822.TEXT)")) == text

        typ, data = c.fetch("1", "(MODSEQ)")
        assert typ == "OK" and re.search(rb"MODSEQ \(\d+\)", data[0])
        data = fetch_one(c, "1", "ALL")
        assert b"ENVELOPE" in data[0] and b"INTERNALDATE" in data[0]

        # SEARCH
        c.append("INBOX", None, None, b"From: a@b.test\r\nSubject: other\r\n\r\nnothing\r\n")
        c.noop()
        assert c.search(None, "ALL") == ("OK", [b"1 2"])
        assert c.search(None, "SUBJECT", '"compte"') == ("OK", [b"1"])
        assert c.search(None, "FROM", "martin") == ("OK", [b"1"])
        assert c.search(None, "BODY", "rendu") == ("OK", [b"1"])
        assert c.search(None, "TEXT", "nothing") == ("OK", [b"2"])
        assert c.search(None, "HEADER", "Message-ID", "test-0") == ("OK", [b"1"])
        assert c.search(None, "FLAGGED") == ("OK", [b"1"])
        assert c.search(None, "KEYWORD", "$Important") == ("OK", [b"1"])
        assert c.search(None, "UNSEEN") == ("OK", [b"2"])
        assert c.search(None, "OR", "SEEN", "SUBJECT", "other") == ("OK", [b"1 2"])
        assert c.search(None, "NOT", "SEEN") == ("OK", [b"2"])
        assert c.search(None, "LARGER", "1000") == ("OK", [b"1"])
        assert c.search(None, "SMALLER", "1000") == ("OK", [b"2"])
        assert c.search(None, "SENTBEFORE", "4-Mar-2026") == ("OK", [b"1"])
        assert c.search(None, "SENTON", "3-Mar-2026") == ("OK", [b"1"])
        assert c.search(None, "SINCE", "1-Jan-2026") == ("OK", [b"1 2"])
        assert c.search(None, "BEFORE", "1-Jan-2000") == ("OK", [b""])
        assert c.uid("SEARCH", None, "UID", "2:*") == ("OK", [b"2"])
        assert c.search(None, "2") == ("OK", [b"2"])
        assert c.search("UTF-8", "SUBJECT", "compte") == ("OK", [b"1"])
        assert c.search(None, "(FLAGGED SEEN)") == ("OK", [b"1"])

        # STORE
        typ, data = c.store("2", "+FLAGS", "(\\Answered $Label1)")
        assert typ == "OK" and b"\\Answered" in data[0] and b"$Label1" in data[0]
        typ, data = c.store("2", "-FLAGS.SILENT", "($Label1)")
        assert typ == "OK" and data == [None]
        typ, data = c.store("2", "FLAGS", "(\\Draft)")
        assert typ == "OK" and b"\\Draft" in data[0] and b"\\Answered" not in data[0]

        # COPY and MOVE
        assert c.create("Archives/2026")[0] == "OK"
        typ, data = c.copy("1:2", "Archives/2026")
        assert typ == "OK" and re.search(rb"\[COPYUID \d+ 1:2 1:2\]", data[0])
        assert c.copy("1", "Nowhere")[0] == "NO"
        typ, data = c.uid("MOVE", "2", "Trash")
        assert typ == "OK"
        assert c.response("EXPUNGE") == ("EXPUNGE", [b"2"])
        assert c.search(None, "ALL") == ("OK", [b"1"])
        typ, data = c.status("Archives/2026", "(MESSAGES UIDNEXT UNSEEN)")
        assert typ == "OK" and b"MESSAGES 2" in data[0] and b"UIDNEXT 3" in data[0]
        typ, data = c.status("Trash", "(MESSAGES)")
        assert b"MESSAGES 1" in data[0]

        # EXPUNGE
        c.store("1", "+FLAGS", "(\\Deleted)")
        typ, data = c.expunge()
        assert typ == "OK" and data == [b"1"]
        assert c.search(None, "ALL") == ("OK", [b""])

        # the copies are intact, byte for byte
        assert c.select("Archives/2026") == ("OK", [b"2"])
        assert literal_of(fetch_one(c, "1", "(BODY.PEEK[])")) == msg
        assert c.unselect()[0] == "OK"
        assert c.select("Archives/2026") == ("OK", [b"2"])
        c.store("1", "+FLAGS.SILENT", "(\\Deleted)")
        assert c.close()[0] == "OK"  # CLOSE expunges silently
        assert c.status("Archives/2026", "(MESSAGES)")[1][0].endswith(b"(MESSAGES 1)")
    finally:
        c.logout()


def test_idle_wakes_on_new_mail(imapd):
    c = tls_client(imapd, PATIENT)
    other = tls_client(imapd, PATIENT)
    try:
        c.select("INBOX")
        tag = c._new_tag()
        c.send(tag + b" IDLE\r\n")
        assert c.readline().startswith(b"+")
        t0 = time.monotonic()
        other.append("INBOX", None, None, b"Subject: new\r\n\r\nhello\r\n")
        line = c.readline()
        assert line.strip() == b"* 1 EXISTS", line
        assert time.monotonic() - t0 < 2.0
        c.send(b"DONE\r\n")
        while True:
            line = c.readline()
            if line.startswith(tag):
                assert b"OK" in line
                break
    finally:
        other.logout()
        c.logout()


def test_logindisabled_before_tls(imapd):
    r = RawImap(imapd, implicit=False, starttls=False)
    try:
        assert b"LOGINDISABLED" in r.greeting and b"STARTTLS" in r.greeting
        assert b"AUTH=PLAIN" not in r.greeting
        _, t = r.cmd("a1", f'LOGIN "{PATIENT}" "{PASSWORDS[PATIENT]}"')
        assert t.startswith(b"a1 NO [PRIVACYREQUIRED]")
        _, t = r.cmd("a2", "AUTHENTICATE PLAIN")
        assert t.startswith(b"a2 NO [PRIVACYREQUIRED]")
        _, t = r.cmd("a3", "SELECT INBOX")
        assert t.startswith(b"a3 BAD")
    finally:
        r.close()


def test_authenticate_plain_and_failures(imapd):
    import base64
    r = RawImap(imapd)
    try:
        assert b"AUTH=PLAIN" in r.greeting and b"LOGINDISABLED" not in r.greeting
        bad = base64.b64encode(f"\0{PATIENT}\0wrong".encode()).decode()
        _, t = r.cmd("a1", f"AUTHENTICATE PLAIN {bad}")
        assert t.startswith(b"a1 NO [AUTHENTICATIONFAILED]")
        r.send(b"a2 AUTHENTICATE PLAIN\r\n")
        assert r.readline().startswith(b"+")
        r.send(base64.b64encode(f"\0{PATIENT}\0{PASSWORDS[PATIENT]}".encode()) + b"\r\n")
        _, t = r.read_until_tagged("a2")
        assert t.startswith(b"a2 OK [CAPABILITY")
        _, t = r.cmd("a3", "SELECT INBOX")
        assert t.startswith(b"a3 OK [READ-WRITE]")
    finally:
        r.close()
    rows = imapd.sql("SELECT actor, action, target, result FROM audit_log WHERE action = 'imap.login'")
    results = [row[3] for row in rows if row[2] == PATIENT]
    assert "ok" in results and any(x.startswith("refused") for x in results)


def test_authenticate_external_with_certificate(imapd):
    r = RawImap(imapd, cert="pro")
    try:
        assert b"AUTH=EXTERNAL" in r.greeting
        _, t = r.cmd("a1", "AUTHENTICATE EXTERNAL =")
        assert t.startswith(b"a1 OK"), t
        _, t = r.cmd("a2", "SELECT INBOX")
        assert t.startswith(b"a2 OK")
    finally:
        r.close()
    r = RawImap(imapd, cert="pro")
    try:
        import base64
        other = base64.b64encode(PATIENT.encode()).decode()
        _, t = r.cmd("a1", f"AUTHENTICATE EXTERNAL {other}")
        assert t.startswith(b"a1 NO [AUTHENTICATIONFAILED]")
    finally:
        r.close()
    r = RawImap(imapd)  # no certificate: EXTERNAL is neither offered nor accepted
    try:
        assert b"AUTH=EXTERNAL" not in r.greeting
        _, t = r.cmd("a1", "AUTHENTICATE EXTERNAL =")
        assert t.startswith(b"a1 NO")
    finally:
        r.close()


def test_mailbox_management_and_mutf7(imapd):
    c = starttls_client(imapd, PATIENT2)
    try:
        assert c.create("R&AOk-sultats")[0] == "OK"         # "Résultats"
        assert c.create("R&AOk-sultats/Biologie")[0] == "OK"
        assert c.create("INBOX")[0] == "NO"
        assert c.create("bad&AOk")[0] == "NO"                # invalid modified UTF-7: no such name
        typ, data = c.list('""', "R*")
        assert typ == "OK"
        assert any(b'(\\HasChildren) "/" "R&AOk-sultats"' in d for d in data), data
        typ, data = c.list('""', "%")
        assert not any(b"Biologie" in d for d in data)
        assert c.rename("R&AOk-sultats", "Labo")[0] == "OK"
        typ, data = c.list('""', "Labo/*")
        assert any(b'"Labo/Biologie"' in d for d in data)
        assert c.subscribe("Labo")[0] == "OK"
        typ, data = c.lsub('""', "*")
        assert any(b'"Labo"' in d for d in data)
        assert c.unsubscribe("Labo")[0] == "OK"
        typ, data = c.lsub('""', "Labo")
        assert data == [None]
        assert c.delete("Labo/Biologie")[0] == "OK"
        assert c.delete("Labo/Biologie")[0] == "NO"
        assert c.delete("INBOX")[0] == "NO"
        typ, data = c._simple_command("LIST", "(SPECIAL-USE)", '""', "*")
        typ, data = c._untagged_response(typ, data, "LIST")
        assert len(data) == 3 and all(b"\\Sent" in d or b"\\Trash" in d or b"\\Drafts" in d for d in data)
        typ, data = c._simple_command("LIST", '""', "*", "RETURN", "(STATUS (MESSAGES UIDNEXT))")
        assert typ == "OK"
        typ, data = c._untagged_response(typ, data, "STATUS")
        assert any(b"MESSAGES 0" in d for d in data)
        typ, data = c.namespace()
        assert data == [b'(("" "/")) NIL NIL']
        typ, data = c.select("Trash", readonly=True)
        assert typ == "OK"
        assert c.append("Nowhere", None, None, b"x: y\r\n\r\nz\r\n")[0] == "NO"
    finally:
        c.logout()


def test_mailbox_name_past_the_limit_is_refused_not_cut(imapd):
    """509 letters and an emoji (4 bytes in UTF-8) pass the 511-byte name limit: the name
    is refused, never created without its last character (issue 16)."""
    c = starttls_client(imapd, PATIENT2)
    try:
        name = "a" * 509 + "&2D3eAA-"
        assert c.create(name)[0] == "NO"
        typ, data = c.list('""', "a*")
        assert typ == "OK" and data == [None], data
        assert c.create("a" * 507 + "&2D3eAA-")[0] == "OK"  # 511 bytes: fits
    finally:
        c.logout()


def test_examine_is_read_only(imapd):
    c = tls_client(imapd, PATIENT)
    try:
        c.append("INBOX", None, None, b"Subject: a\r\n\r\nb\r\n")
        c.select("INBOX", readonly=True)
        typ, data = c.store("1", "+FLAGS", "(\\Seen)")
        assert typ == "NO"
        c.fetch("1", "(BODY[])")  # no \Seen in a read-only mailbox
        assert b"\\Seen" not in c.fetch("1", "(FLAGS)")[1][0]
    finally:
        c.logout()


def test_audit_login_and_counted_reading(imapd):
    c = tls_client(imapd, PATIENT)
    c.append("INBOX", None, None, multipart_message())
    c.select("INBOX")
    c.fetch("1", "(BODY[])")
    c.fetch("1", "(BODY.PEEK[1])")
    c.logout()
    deadline = time.monotonic() + 10
    rows = []
    while time.monotonic() < deadline:
        rows = imapd.sql("SELECT actor, auth, action, target, detail, result FROM audit_log "
                         "WHERE actor = ? AND action LIKE 'imap.%' ORDER BY seq", PATIENT)
        if any(r[2] == "imap.logout" for r in rows):
            break
        time.sleep(0.1)
    actions = [r[2] for r in rows]
    assert actions == ["imap.login", "imap.logout"], rows
    assert rows[0][1] == "password" and rows[0][5] == "ok"
    assert rows[1][4] == "selects=1 fetches=2 appends=1 expunges=0"
    # one's own reading is counted, not listed message by message
    assert imapd.sql("SELECT count(*) FROM audit_log WHERE action LIKE 'imap.fetch%'") == [(0,)]
    r = imapd.ctl("audit", "verify", check=False)
    assert r.returncode == 0, r.stderr


def test_large_append_within_and_over_max_message_size(mss):
    mss.set(max_message_size=3 * 1024 * 1024)
    mss.start("imapd")
    c = tls_client(mss, PATIENT)
    try:
        big = b"Subject: big\r\n\r\n" + (b"0123456789" * 7 + b"\r\n") * 36000  # ~2.6 MB
        typ, data = c.append("INBOX", None, None, big)
        assert typ == "OK", data
        c.select("INBOX")
        typ, data = c.fetch("1", "(RFC822.SIZE BODY.PEEK[])")
        assert data[0][1] == big
        too_big = big + b"x" * (1024 * 1024)
        typ, data = c.append("INBOX", None, None, too_big)
        assert typ == "NO" and b"TOOBIG" in data[0]
        assert c.noop()[0] == "OK"
    finally:
        c.logout()
