"""mss-imapd IMAP4rev2 (RFC 9051) and the extensions it folds in: ENABLE IMAP4rev2,
ESEARCH and SEARCH RETURN, SEARCHRES ("$"), BINARY and literal8, UTF-8 mailbox names,
LIST-EXTENDED (RECURSIVEMATCH, CHILDINFO), LIST-STATUS, [CLOSED], CONDSTORE."""
import base64
import email
import re

from conftest import PATIENT
from test_imap_helpers import RawImap, multipart_message, simple_message


def append(r, tag, msg, box="INBOX", literal8=False):
    prefix = b"~" if literal8 else b""
    r.send(f"{tag} APPEND {box} ".encode() + prefix + f"{{{len(msg)}+}}\r\n".encode() + msg + b"\r\n")
    _, t = r.read_until_tagged(tag)
    assert t.startswith(f"{tag} OK".encode()), t


def test_capabilities_advertised(imapd):
    r = RawImap(imapd)
    try:
        caps = r.greeting.split(b"[CAPABILITY ")[1].split(b"]")[0].split()
        for c in (b"IMAP4rev1", b"IMAP4rev2", b"ESEARCH", b"SEARCHRES", b"BINARY", b"LIST-EXTENDED",
                  b"LIST-STATUS", b"STATUS=SIZE", b"AUTH=PLAIN", b"SASL-IR"):
            assert c in caps
    finally:
        r.close()


def test_esearch_and_searchres(imapd):
    r = RawImap(imapd)
    try:
        r.login(PATIENT)
        for i in range(5):
            append(r, f"p{i}", simple_message(i, size=i * 1000))
        r.cmd("s", "SELECT INBOX")
        r.cmd("f", "STORE 2,4 +FLAGS (\\Flagged)")
        lines, t = r.cmd("a1", "SEARCH RETURN (MIN MAX COUNT) FLAGGED")
        assert lines == [b'* ESEARCH (TAG "a1") MIN 2 MAX 4 COUNT 2'], lines
        lines, t = r.cmd("a2", "UID SEARCH RETURN () ALL")
        assert lines == [b'* ESEARCH (TAG "a2") UID ALL 1:5'], lines
        lines, t = r.cmd("a3", "SEARCH RETURN (COUNT) SUBJECT nothing-like-this")
        assert lines == [b'* ESEARCH (TAG "a3") COUNT 0']
        lines, t = r.cmd("a4", "SEARCH RETURN (SAVE) LARGER 2500")
        assert lines == [] and t.startswith(b"a4 OK")
        lines, t = r.cmd("a5", "FETCH $ (UID)")
        assert lines == [b"* 4 FETCH (UID 4)", b"* 5 FETCH (UID 5)"], lines
        lines, t = r.cmd("a6", "SEARCH $ FLAGGED")
        assert lines == [b"* SEARCH 4"]
        lines, t = r.cmd("a7", "UID SEARCH UID $")
        assert lines == [b"* SEARCH 4 5"]
        r.cmd("a8", "SEARCH RETURN (SAVE MIN) ALL")
        lines, t = r.cmd("a9", "UID FETCH $ (UID)")
        assert lines == [b"* 1 FETCH (UID 1)"]
        _, t = r.cmd("b1", "SEARCH RETURN (BOGUS) ALL")
        assert t.startswith(b"b1 BAD")
        # after ENABLE IMAP4rev2, plain SEARCH answers ESEARCH
        lines, t = r.cmd("c1", "ENABLE IMAP4rev2")
        assert lines == [b"* ENABLED IMAP4rev2"]
        lines, t = r.cmd("c2", "SEARCH FLAGGED")
        assert lines == [b'* ESEARCH (TAG "c2") ALL 2,4'], lines
        lines, t = r.cmd("c3", "SEARCH SUBJECT none-such")
        assert lines == [b'* ESEARCH (TAG "c3")'], lines
    finally:
        r.close()


def test_binary_fetch_and_literal8(imapd):
    r = RawImap(imapd)
    try:
        r.login(PATIENT)
        msg = multipart_message("binary")
        append(r, "p1", msg)
        r.cmd("s", "SELECT INBOX")
        parts = email.message_from_bytes(msg).get_payload()
        pdf = parts[1].get_payload(decode=True)
        lines, t = r.cmd("a1", "FETCH 1 (BINARY.PEEK[2])")
        assert t.startswith(b"a1 OK")
        assert lines[0].startswith(b"* 1 FETCH (BINARY[2] ~{") or lines[0].startswith(b"* 1 FETCH (BINARY[2] {")
        assert lines[1] == pdf
        lines, t = r.cmd("a2", "FETCH 1 (BINARY.SIZE[2] BINARY.SIZE[3])")
        assert f"BINARY.SIZE[2] {len(pdf)}".encode() in lines[0]
        assert f"BINARY.SIZE[3] {len(parts[2].get_payload(decode=True))}".encode() in lines[0]
        lines, t = r.cmd("a3", "FETCH 1 (BINARY.PEEK[1]<0.7>)")
        assert lines[0].endswith(b"BINARY[1]<0> {7}") and lines[1] == b"Bonjour"
        lines, t = r.cmd("a4", "FETCH 1 (FLAGS)")
        assert b"\\Seen" not in lines[0]
        lines, t = r.cmd("a5", "FETCH 1 (BINARY[3])")
        assert lines[1] == parts[2].get_payload(decode=True)
        assert lines[2] == b" FLAGS (\\Seen \\Recent))"  # \Seen just set: FLAGS sent unasked
        lines, t = r.cmd("a6", "FETCH 1 (FLAGS)")
        assert b"\\Seen" in lines[0]
        _, t = r.cmd("a7", "FETCH 1 (BINARY[HEADER])")
        assert t.startswith(b"a7 BAD")
        # literal8 APPEND
        plain = simple_message(8)
        append(r, "p2", plain, literal8=True)
        lines, t = r.cmd("a8", "FETCH 2 (BODY.PEEK[])")
        assert lines[1] == plain
    finally:
        r.close()


def test_utf8_names_after_enable_rev2(imapd):
    r = RawImap(imapd)
    try:
        r.login(PATIENT)
        _, t = r.cmd("a1", 'CREATE "R&AOk-sultats/Biologie"')
        assert t.startswith(b"a1 OK")
        lines, t = r.cmd("a2", 'LIST "" "R*"')
        assert b'* LIST (\\HasChildren) "/" "R&AOk-sultats"' in lines
        r.cmd("a3", "ENABLE IMAP4rev2")
        lines, t = r.cmd("a4", 'LIST "" "R*"')
        assert '* LIST (\\HasChildren) "/" "Résultats"'.encode() in lines, lines
        _, t = r.cmd("a5", 'SELECT "Résultats/Biologie"'.encode())
        assert t.startswith(b"a5 OK")
        lines, t = r.cmd("a6", "SELECT INBOX")
        assert lines[0] == b"* OK [CLOSED] Previous mailbox closed"
        assert not any(b"RECENT" in l for l in lines)
    finally:
        r.close()


def test_list_extended(imapd):
    r = RawImap(imapd)
    try:
        r.login(PATIENT)
        r.cmd("a1", "CREATE Dossiers/Cardio")
        r.cmd("a2", "CREATE Dossiers/Dermato")
        r.cmd("a3", "SUBSCRIBE Dossiers/Cardio")
        r.cmd("a4", "UNSUBSCRIBE Dossiers")
        lines, t = r.cmd("b1", 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
        assert t.startswith(b"b1 OK")
        assert b'* LIST (\\HasChildren) "/" "Dossiers" ("CHILDINFO" ("SUBSCRIBED"))' in lines, lines
        assert b'* LIST (\\HasNoChildren \\Subscribed) "/" "INBOX"' in lines
        lines, t = r.cmd("b2", 'LIST (SUBSCRIBED) "" "*"')
        assert b'* LIST (\\HasNoChildren \\Subscribed) "/" "Dossiers/Cardio"' in lines
        assert not any(b'"Dossiers"' in l or b"Dermato" in l for l in lines)
        _, t = r.cmd("b3", 'LIST (RECURSIVEMATCH) "" "*"')
        assert t.startswith(b"b3 BAD")
        lines, t = r.cmd("b4", 'LIST "" ("INBOX" "Dossiers/*") RETURN (SUBSCRIBED STATUS (MESSAGES SIZE))')
        assert b'* LIST (\\HasNoChildren \\Subscribed) "/" "Dossiers/Cardio"' in lines
        assert b'* STATUS "Dossiers/Dermato" (MESSAGES 0 SIZE 0)' in lines
        assert any(l.startswith(b'* STATUS "INBOX"') for l in lines)
        lines, t = r.cmd("b5", 'LIST "" ""')
        assert lines == [b'* LIST (\\Noselect) "/" ""']
    finally:
        r.close()


def test_condstore(imapd):
    r = RawImap(imapd)
    try:
        r.login(PATIENT)
        for i in range(3):
            append(r, f"p{i}", simple_message(i))
        lines, t = r.cmd("a1", "SELECT INBOX (CONDSTORE)")
        hms = int(re.search(rb"HIGHESTMODSEQ (\d+)", b" ".join(lines)).group(1))
        lines, t = r.cmd("a2", "STORE 2 +FLAGS (\\Seen)")
        m = re.search(rb"\* 2 FETCH \(FLAGS \(\\Seen \\Recent\) MODSEQ \((\d+)\)\)", lines[0])
        assert m and int(m.group(1)) > hms, lines
        lines, t = r.cmd("a3", f"FETCH 1:* (UID FLAGS) (CHANGEDSINCE {hms})")
        assert len(lines) == 1 and lines[0].startswith(b"* 2 FETCH")
        lines, t = r.cmd("a4", f"STORE 1,2 (UNCHANGEDSINCE {hms}) +FLAGS (\\Flagged)")
        assert t.startswith(b"a4 OK [MODIFIED 2]"), t
        lines, t = r.cmd("a5", f"SEARCH MODSEQ {hms + 1}")
        assert lines[0].startswith(b"* SEARCH 1 2 (MODSEQ "), lines
        lines, t = r.cmd("a6", "STATUS INBOX (HIGHESTMODSEQ MESSAGES)")
        assert re.match(rb'\* STATUS "INBOX" \(HIGHESTMODSEQ \d+ MESSAGES 3\)', lines[0])
    finally:
        r.close()
