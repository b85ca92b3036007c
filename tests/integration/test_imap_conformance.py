"""mss-imapd against the points where Dovecot's imaptest found it wrong (issue 14), one
test per cause, each asserting the exact responses a conformant server gives:
\\Recent, NIL and '[' as atoms, subscriptions, CONDSTORE with ESEARCH, FLAGS updates for
new keywords, and nothing after BYE."""
import re

import pytest

from conftest import PATIENT
from test_imap_helpers import RawImap, simple_message


def append(r, tag, msg, box="INBOX", flags=""):
    flags = f" ({flags})" if flags else ""
    r.send(f"{tag} APPEND {box}{flags} {{{len(msg)}+}}\r\n".encode() + msg + b"\r\n")
    _, t = r.read_until_tagged(tag)
    assert t.startswith(f"{tag} OK".encode()), t


def ok(r, tag, text):
    lines, t = r.cmd(tag, text)
    assert t.startswith(f"{tag} OK".encode()), (text, t, lines)
    return lines


def login(imapd, user=PATIENT):
    r = RawImap(imapd)
    r.login(user)
    return r


# ---- cause 1: \Recent (RFC 3501 2.3.2) -------------------------------------------------

def test_recent_belongs_to_the_first_session_that_selects(imapd):
    a, b = login(imapd), login(imapd)
    try:
        ok(a, "c", "CREATE box")
        append(a, "p1", simple_message(1), "box")
        append(a, "p2", simple_message(2), "box")
        # EXAMINE shows \Recent without taking it (RFC 3501 6.3.2)
        lines = ok(a, "e", "EXAMINE box")
        assert b"* 2 RECENT" in lines, lines
        ok(a, "x", "CLOSE")
        assert b"* STATUS \"box\" (RECENT 2 MESSAGES 2)" in ok(a, "s", "STATUS box (RECENT MESSAGES)")
        lines = ok(a, "sel", "SELECT box")
        assert b"* 2 RECENT" in lines, lines
        assert b"\\Recent" in ok(a, "f", "FETCH 1 FLAGS")[0]
        assert ok(a, "n", "SEARCH NEW") == [b"* SEARCH 1 2"]
        assert ok(a, "o", "SEARCH OLD") == [b"* SEARCH"]
        # the second session to look finds nothing recent
        assert b"* STATUS \"box\" (RECENT 0)" in ok(b, "s", "STATUS box (RECENT)")
        lines = ok(b, "sel", "SELECT box")
        assert b"* 0 RECENT" in lines, lines
        assert ok(b, "r", "SEARCH RECENT") == [b"* SEARCH"]
        # a message arriving meanwhile is recent in exactly one of the two sessions
        c = login(imapd)
        append(c, "p3", simple_message(3), "box")
        c.close()
        la, lb = ok(a, "n1", "NOOP"), ok(b, "n2", "NOOP")
        assert b"* 3 EXISTS" in la and b"* 3 EXISTS" in lb
        recent = [x for x in (la, lb) if b"* 1 RECENT" in x or b"* 3 RECENT" in x]
        assert len(recent) == 1, (la, lb)
        got_a = ok(a, "q1", "SEARCH RECENT 3") == [b"* SEARCH 3"]
        got_b = ok(b, "q2", "SEARCH RECENT 3") == [b"* SEARCH 3"]
        assert got_a != got_b
    finally:
        a.close()
        b.close()


def test_copy_makes_recent_messages(imapd):
    a, b = login(imapd), login(imapd)
    try:
        ok(a, "c", "CREATE dst")
        append(a, "p1", simple_message(1))
        ok(a, "s", "SELECT INBOX")
        ok(b, "s", "SELECT dst")
        ok(a, "cp", "COPY 1 dst")
        lines = ok(b, "n", "NOOP")
        assert b"* 1 EXISTS" in lines and b"* 1 RECENT" in lines, lines
    finally:
        a.close()
        b.close()


# ---- cause 2: NIL and '[' are atoms where an astring is allowed (RFC 3501 9) ---------

def test_nil_is_an_astring(imapd):
    r = login(imapd)
    try:
        append(r, "p", b"From: a@b.test\r\nSubject: NIL here\r\n\r\nthe nil body\r\n")
        ok(r, "s", "SELECT INBOX")
        assert ok(r, "a", "SEARCH SUBJECT NIL") == [b"* SEARCH 1"]
        assert ok(r, "b", "SEARCH BODY nil") == [b"* SEARCH 1"]
        ok(r, "c", 'LIST "" NIL')
        ok(r, "d", "STORE 1 +FLAGS NIL")
        assert re.search(rb"FLAGS \(.*NIL.*\)", ok(r, "e", "FETCH 1 FLAGS")[0])
    finally:
        r.close()


def test_bracket_without_close_is_an_atom_char(imapd):
    r = login(imapd)
    try:
        _, t = r.cmd("a", "SELECT !#$&'+,-.0123456789:;<=>?@^_`|[}")
        assert t.startswith(b"a NO"), t
        ok(r, "b", "LIST \"\" !#$&'+,-.0123456789:;<=>?@^_`|[}%*")
        _, t = r.cmd("c", "SELECT foo[bar")
        assert t.startswith(b"c NO"), t
        ok(r, "d", 'LIST "" ~foo')  # not a literal8
    finally:
        r.close()


# ---- cause 8: subscriptions are names (RFC 3501 6.3.9, RFC 5258) ---------------------

def test_lsub_percent_shows_unsubscribed_parent_as_noselect(imapd):
    r = login(imapd)
    try:
        for box in ("t/a", "t/b/c", "t/d/e"):
            ok(r, f"c{box}", f"CREATE {box}")
        ok(r, "s1", "SUBSCRIBE t/a")
        ok(r, "s2", "SUBSCRIBE t/b/c")
        ok(r, "s3", "SUBSCRIBE t/d/e")
        lines = ok(r, "l", 'LSUB "" t/%')
        assert sorted(lines) == sorted([b'* LSUB () "/" "t/a"', b'* LSUB (\\Noselect) "/" "t/b"',
                                        b'* LSUB (\\Noselect) "/" "t/d"']), lines
        lines = ok(r, "l2", 'LSUB "" t/*')
        assert sorted(lines) == sorted([b'* LSUB () "/" "t/a"', b'* LSUB () "/" "t/b/c"',
                                        b'* LSUB () "/" "t/d/e"']), lines
    finally:
        r.close()


def test_delete_keeps_the_subscription(imapd):
    r = login(imapd)
    try:
        ok(r, "c", "CREATE gone")
        ok(r, "s", "SUBSCRIBE gone")
        ok(r, "d", "DELETE gone")
        lines = ok(r, "l", 'LIST (SUBSCRIBED) "" gone')
        assert len(lines) == 1 and b"\\NonExistent" in lines[0] and b"\\Subscribed" in lines[0], lines
        assert b"\\Noselect" not in lines[0]
        assert ok(r, "l2", 'LIST "" gone') == []
        ok(r, "u", "UNSUBSCRIBE gone")
        assert ok(r, "l3", 'LIST (SUBSCRIBED) "" gone') == []
    finally:
        r.close()


def test_recursivematch_childinfo_only_for_unlisted_children(imapd):
    r = login(imapd)
    try:
        ok(r, "c1", "CREATE p/q")
        ok(r, "s", "SUBSCRIBE p/q")
        lines = ok(r, "l1", 'LIST (SUBSCRIBED RECURSIVEMATCH) "" (p p/q)')
        assert lines == [b'* LIST (\\HasNoChildren \\Subscribed) "/" "p/q"'], lines
        lines = ok(r, "l2", 'LIST (SUBSCRIBED RECURSIVEMATCH) "" p')
        assert lines == [b'* LIST (\\HasChildren) "/" "p" ("CHILDINFO" ("SUBSCRIBED"))'], lines
    finally:
        r.close()


# ---- cause 9: CONDSTORE with ESEARCH (RFC 7162 3.1, RFC 4731) -------------------------

def test_fetch_modseq_enables_condstore_with_highestmodseq(imapd):
    r = login(imapd)
    try:
        for i in range(3):
            append(r, f"p{i}", simple_message(i))
        ok(r, "s", "SELECT INBOX")
        lines = ok(r, "f", "FETCH 1 MODSEQ")
        assert any(re.match(rb"\* OK \[HIGHESTMODSEQ \d+\]", x) for x in lines), lines
        # each message gets its own MODSEQ
        ok(r, "t1", "STORE 1 +FLAGS (\\Seen)")
        ok(r, "t2", "STORE 2 +FLAGS (\\Seen)")
        ok(r, "t3", "STORE 3 +FLAGS (\\Seen)")
        mods = {}
        for x in ok(r, "m", "FETCH 1:3 MODSEQ"):
            m = re.match(rb"\* (\d) FETCH \(MODSEQ \((\d+)\)\)", x)
            mods[int(m.group(1))] = int(m.group(2))
        assert mods[1] < mods[2] < mods[3]
        lines = ok(r, "e1", 'SEARCH RETURN (MIN) 1:3 MODSEQ "/flags/\\\\seen" all 1')
        assert lines == [f'* ESEARCH (TAG "e1") MIN 1 MODSEQ {mods[1]}'.encode()], lines
        lines = ok(r, "e2", "SEARCH RETURN (MAX) 1:3 MODSEQ 1")
        assert lines == [f'* ESEARCH (TAG "e2") MAX 3 MODSEQ {mods[3]}'.encode()], lines
        lines = ok(r, "e3", "SEARCH RETURN (MIN COUNT) 1:2 MODSEQ 1")
        assert lines == [f'* ESEARCH (TAG "e3") MIN 1 COUNT 2 MODSEQ {mods[2]}'.encode()], lines
    finally:
        r.close()


# ---- cause 10: FLAGS for new keywords, nothing after BYE ------------------------------

def test_new_keyword_is_announced_in_flags_before_fetch(imapd):
    a, b = login(imapd), login(imapd)
    try:
        append(a, "p", simple_message(1))
        ok(a, "s", "SELECT INBOX")
        ok(b, "s", "SELECT INBOX")
        lines = ok(a, "t", "STORE 1 +FLAGS ($Fresh)")
        flags = [i for i, x in enumerate(lines) if x.startswith(b"* FLAGS")]
        fetch = [i for i, x in enumerate(lines) if b"FETCH" in x]
        assert flags and fetch and flags[0] < fetch[0] and b"$Fresh" in lines[flags[0]], lines
        lines = ok(b, "n", "NOOP")
        flags = [i for i, x in enumerate(lines) if x.startswith(b"* FLAGS")]
        fetch = [i for i, x in enumerate(lines) if b"FETCH" in x]
        assert flags and fetch and flags[0] < fetch[0], lines
        # an appended message with a new keyword, and a COPY carrying one
        append(a, "p2", simple_message(2), flags="$Other")
        lines = ok(b, "n2", "NOOP")
        assert any(x.startswith(b"* FLAGS") and b"$Other" in x for x in lines), lines
    finally:
        a.close()
        b.close()


def test_nothing_after_bye_on_logout(imapd):
    a, b = login(imapd), login(imapd)
    try:
        ok(a, "s", "SELECT INBOX")
        append(b, "p", simple_message(1))
        lines, t = a.cmd("z", "LOGOUT")
        assert t.startswith(b"z OK"), t
        assert lines == [b"* BYE Logging out"], lines
    finally:
        a.close()
        b.close()


# ---- cause 3: obsolete address syntax in ENVELOPE and SEARCH (RFC 5322 4.4) ----------

def test_envelope_and_search_read_obsolete_addresses(imapd):
    r = login(imapd)
    try:
        append(r, "p1", b"From: user@domain (Real Name)\r\nTo: group: g1@d1.org, g2@d2.org;, g2: g3@d3.org;\r\n"
                        b"Cc: group:;, group2: (foo) ;\r\n\r\nbody\r\n")
        append(r, "p2", b"From: <@route:user@domain>\r\n\r\nbody\r\n")
        append(r, "p3", b"From: <user-from (comment)@ (comment) domain.org>\r\n\r\nbody\r\n")
        ok(r, "s", "SELECT INBOX")
        env = ok(r, "f1", "FETCH 1 ENVELOPE")[0]
        assert b'(("Real Name" NIL "user" "domain"))' in env, env
        assert (b'((NIL NIL "group" NIL)(NIL NIL "g1" "d1.org")(NIL NIL "g2" "d2.org")(NIL NIL NIL NIL)'
                b'(NIL NIL "g2" NIL)(NIL NIL "g3" "d3.org")(NIL NIL NIL NIL))') in env, env
        assert b'((NIL NIL "group" NIL)(NIL NIL NIL NIL)(NIL NIL "group2" NIL)(NIL NIL NIL NIL))' in env, env
        assert b'((NIL "@route" "user" "domain"))' in ok(r, "f2", "FETCH 2 ENVELOPE")[0]
        assert b'((NIL NIL "user-from" "domain.org"))' in ok(r, "f3", "FETCH 3 ENVELOPE")[0]
        assert ok(r, "q1", "SEARCH FROM user-from@domain.org") == [b"* SEARCH 3"]
        assert ok(r, "q2", "SEARCH FROM \"real name\"") == [b"* SEARCH 1"]
    finally:
        r.close()


# ---- cause 4: a MIME part with an empty header (RFC 2046 5.1.1, digest default) -------

DIGEST = (b"From: user@domain.org\r\nMime-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n"
          b"From: sub@domain.org\r\nSubject: submsg\r\nContent-Type: multipart/digest; boundary=\"foo\"\r\n\r\n"
          b"prologue\r\n\r\n--foo \r\n\r\nFrom: m1@example.com\r\nSubject: m1\r\n\r\nm1 body\r\n\r\n"
          b"--foo \r\nX-Mime: m2 header\r\n\r\nFrom: m2@example.com\r\nSubject: m2\r\n\r\nm2 body\r\n\r\n"
          b"--foo--\r\n\r\nepilogue\r\n")


def literal(lines):
    return lines[1] if len(lines) > 1 else None


def test_empty_mime_header_in_digest(imapd):
    r = login(imapd)
    try:
        append(r, "p", DIGEST)
        ok(r, "s", "SELECT INBOX")
        assert literal(ok(r, "a", "FETCH 1 BODY.PEEK[1.1]")) == b"From: m1@example.com\r\nSubject: m1\r\n\r\nm1 body\r\n"
        assert literal(ok(r, "b", "FETCH 1 BODY.PEEK[1.1.MIME]")) == b"\r\n"
        assert literal(ok(r, "c", "FETCH 1 BODY.PEEK[1.1.HEADER]")) == b"From: m1@example.com\r\nSubject: m1\r\n\r\n"
        assert literal(ok(r, "d", "FETCH 1 BODY.PEEK[1.2.MIME]")) == b"X-Mime: m2 header\r\n\r\n"
        assert literal(ok(r, "e", "FETCH 1 BODY.PEEK[1.2.TEXT]")) == b"m2 body\r\n"
    finally:
        r.close()


# ---- cause 5: quoted-printable for BINARY as Dovecot decodes it (RFC 2045 6.7) --------

QP_BODY = (b"hello  \r\nbar=\r\n\r\nfoo\t=\r\nbar\r\nfoo\t \t= \r\n=62\r\nfoo = \t\r\nbar\r\nfoo =\r\n=62\r\n"
           b"foo  \r\nbar=\r\n\r\nfoo_bar\r\n")


def test_binary_quoted_printable(imapd):
    r = login(imapd)
    try:
        append(r, "p", b"Mime-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n"
                       b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + QP_BODY + b"\r\n--x--\r\n")
        ok(r, "s", "SELECT INBOX")
        want = b"hello\r\nbar\r\nfoo\tbar\r\nfoo\t \tb\r\nfoo bar\r\nfoo b\r\nfoo\r\nbar\r\nfoo_bar\r\n"
        assert ok(r, "a", "FETCH 1 BINARY.SIZE[1]") == [b"* 1 FETCH (BINARY.SIZE[1] 65)"]
        assert literal(ok(r, "b", "FETCH 1 BINARY.PEEK[1]")) == want
        lines = ok(r, "c", "FETCH 1 BINARY.PEEK[1]<10.10>")
        assert lines[0].endswith(b"BINARY[1]<10> {10}") and lines[1] == want[10:20], lines
    finally:
        r.close()


# ---- cause 6: never NUL in a normal literal; literal8 APPEND stored as base64 ----------

def test_literal8_binary_part_becomes_base64(imapd):
    r = login(imapd)
    try:
        payload = b"\x00-\xe4\n\r\n\n\x00\x01"
        msg = (b"From: user@domain.org\r\nMime-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
               b"Content-Transfer-Encoding: binary\r\n\r\n" + payload)
        r.send(f"p APPEND INBOX ~{{{len(msg)}+}}\r\n".encode() + msg + b"\r\n")
        _, t = r.read_until_tagged("p")
        assert t.startswith(b"p OK"), t
        ok(r, "s", "SELECT INBOX")
        body = literal(ok(r, "a", "FETCH 1 BODY.PEEK[1]"))
        assert b"\x00" not in body and body.replace(b"\r\n", b"") == __import__("base64").b64encode(payload)
        assert b'"base64"' in ok(r, "b", "FETCH 1 BODYSTRUCTURE")[0].lower()
        lines = ok(r, "c", "FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1])")
        assert lines[0].endswith(b"BINARY.SIZE[1] 9 BINARY[1] ~{9}") and lines[1] == payload, lines
        # a NUL that reached a stored message anyway is sent as 0x80 in a normal literal
        nul = b"Subject: \x00x\r\n\r\nbody\r\n"
        r.send(f"q APPEND INBOX ~{{{len(nul)}+}}\r\n".encode() + nul + b"\r\n")
        _, t = r.read_until_tagged("q")
        assert t.startswith(b"q OK"), t
        ok(r, "n", "NOOP")
        head = literal(ok(r, "d", "FETCH 2 BODY.PEEK[HEADER]"))
        assert b"\x00" not in head and b"\x80" in head
    finally:
        r.close()


# ---- cause 7: SENTBEFORE/SENTON/SENTSINCE in the message's own time zone ---------------

def test_sent_dates_compare_in_the_senders_zone(imapd):
    r = login(imapd)
    try:
        # 00:30 on the 25th in +0200 is still the 24th in UTC; 23:30 on the 24th in -0500
        # is already the 25th in UTC
        append(r, "p1", b"Date: Sun, 25 Mar 2007 00:30:00 +0200\r\n\r\none\r\n")
        append(r, "p2", b"Date: Sat, 24 Mar 2007 23:30:00 -0500\r\n\r\ntwo\r\n")
        ok(r, "s", "SELECT INBOX")
        assert ok(r, "a", "SEARCH SENTON 25-Mar-2007") == [b"* SEARCH 1"]
        assert ok(r, "b", "SEARCH SENTON 24-Mar-2007") == [b"* SEARCH 2"]
        assert ok(r, "c", "SEARCH SENTBEFORE 25-Mar-2007") == [b"* SEARCH 2"]
        assert ok(r, "d", "SEARCH SENTSINCE 25-Mar-2007") == [b"* SEARCH 1"]
    finally:
        r.close()


# ---- messages stored before the part tree was kept are completed when read ------------

@pytest.mark.sqlite_only  # rewrites rows in the SQLite file behind MSS's back
def test_rows_from_before_migration_4_are_completed(imapd):
    r = login(imapd)
    try:
        append(r, "p", DIGEST)
        imapd_db = imapd.data_dir / "mss.db"
        import sqlite3
        con = sqlite3.connect(str(imapd_db))
        con.execute("UPDATE messages SET parts = NULL, bodystructure = 'stale', sent_local = 0")
        con.commit()
        con.close()
        ok(r, "s", "SELECT INBOX")
        assert b"stale" not in ok(r, "a", "FETCH 1 BODYSTRUCTURE")[0]
        assert literal(ok(r, "b", "FETCH 1 BODY.PEEK[1.1.MIME]")) == b"\r\n"
        assert imapd.sql("SELECT count(*) FROM messages WHERE parts IS NULL") == [(0,)]
    finally:
        r.close()
