"""mss-imapd extensions added for issue 14, each against its RFC with exact responses:
COMPRESS=DEFLATE, MULTIAPPEND, CATENATE, URLAUTH, SORT (DISPLAY), ESORT, THREAD,
CONTEXT=SEARCH/SORT with PARTIAL, NOTIFY, QRESYNC, UTF8=ACCEPT, QUOTA."""
import re
import zlib

from conftest import PATIENT
from test_imap_helpers import RawImap, simple_message


def login(imapd, user=PATIENT):
    r = RawImap(imapd)
    r.login(user)
    return r


def ok(r, tag, text):
    lines, t = r.cmd(tag, text)
    assert t.startswith(f"{tag} OK".encode()), (text, t, lines)
    return lines


class Deflated:
    """Speaks to a RawImap's socket through raw DEFLATE (RFC 4978)."""

    def __init__(self, r):
        self.r = r
        self.out = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.inf = zlib.decompressobj(-15)
        self.buf = self.inf.decompress(r.buf)  # anything already read came compressed
        r.buf = b""

    def cmd(self, tag, text):
        self.r.sock.sendall(self.out.compress(f"{tag} {text}\r\n".encode()) + self.out.flush(zlib.Z_SYNC_FLUSH))
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.r.sock.recv(65536)
                assert chunk, "connection closed"
                self.buf += self.inf.decompress(chunk)
            line, self.buf = self.buf.split(b"\r\n", 1)
            if line.startswith(f"{tag} ".encode()):
                return lines, line
            lines.append(line)


def test_compress_deflate(imapd):
    r = RawImap(imapd)
    try:
        assert b"COMPRESS=DEFLATE" not in r.greeting  # only once logged in
        r.login(PATIENT)
        caps = ok(r, "c", "CAPABILITY")[0]
        assert b"COMPRESS=DEFLATE" in caps
        _, t = r.cmd("z1", "COMPRESS BOGUS")
        assert t.startswith(b"z1 BAD")
        ok(r, "z", "COMPRESS DEFLATE")
        d = Deflated(r)
        lines, t = d.cmd("s", "SELECT INBOX")
        assert t.startswith(b"s OK") and any(b"EXISTS" in x for x in lines)
        big = "x" * 5000  # a reply longer than one deflate block
        lines, t = d.cmd("l", f'LIST "" "{big}"')
        assert t.startswith(b"l OK")
        _, t = d.cmd("z2", "COMPRESS DEFLATE")
        assert t.startswith(b"z2 NO [COMPRESSIONACTIVE]")
        lines, t = d.cmd("q", "LOGOUT")
        assert lines == [b"* BYE Logging out"] and t.startswith(b"q OK")
    finally:
        r.close()


def append(r, tag, msg, mailbox="INBOX", date=None):
    """APPEND with a LITERAL+ literal; msg is str (CRLF added per line)."""
    data = msg.replace("\n", "\r\n").encode()
    d = f' "{date}"' if date else ""
    r.send(f"{tag} APPEND {mailbox}{d} {{{len(data)}+}}\r\n".encode() + data + b"\r\n")
    lines, t = r.read_until_tagged(tag)
    assert t.startswith(f"{tag} OK".encode()), t


def test_sort_keys_and_esort(imapd):
    """RFC 5256 SORT on base subjects, addresses, dates and sizes; RFC 5957 DISPLAY;
    RFC 5267 ESORT and PARTIAL, in sort order."""
    r = login(imapd)
    try:
        ok(r, "c", "CREATE sorting")
        msgs = [
            ("From: Zed <z@x.test>\nTo: b@x.test\nSubject: Re: [list] beta (fwd)\n"
             "Date: Fri, 22 Feb 2008 02:00:00 +0200\n\nbody one two three\n", "22-Feb-2008 10:00:00 +0000"),
            ("From: =?iso-8859-1?q?Anne_B?= <y@x.test>\nTo: a@x.test\nSubject: alpha\n\nb\n",
             "22-Feb-2008 09:00:00 +0000"),
            ("From: x@x.test\nTo: c@x.test\nSubject: =?us-ascii?b?UmU6IGFscGhh?=\n"
             "Date: Fri, 22 Feb 2008 00:30:00 +0200\n\nbody\n", "22-Feb-2008 11:00:00 +0000"),
        ]
        for i, (m, d) in enumerate(msgs):
            append(r, f"a{i}", m, "sorting", d)
        ok(r, "s", "SELECT sorting")
        caps = ok(r, "c2", "CAPABILITY")[0]
        for cap in (b"SORT", b"SORT=DISPLAY", b"ESORT", b"THREAD=REFERENCES", b"THREAD=ORDEREDSUBJECT"):
            assert cap in caps.split(), cap
        expect = {
            "(SUBJECT)": b"* SORT 2 3 1",  # ALPHA ALPHA BETA: ties by sequence
            "(REVERSE SUBJECT)": b"* SORT 1 2 3",
            "(FROM)": b"* SORT 3 2 1",  # local parts x y z
            "(DISPLAYFROM)": b"* SORT 2 3 1",  # "ANNE B" "X@X.TEST" "ZED"
            "(TO)": b"* SORT 2 1 3",
            "(DATE)": b"* SORT 3 1 2",  # 22:30Z, 00:00Z, no Date: arrival 09:00Z
            "(ARRIVAL)": b"* SORT 2 1 3",
            "(REVERSE SIZE)": b"* SORT 1 3 2",
        }
        for crit, want in expect.items():
            lines = ok(r, "t", f"SORT {crit} UTF-8 ALL")
            assert lines == [want], (crit, lines)
        lines = ok(r, "u", "UID SORT (SUBJECT) US-ASCII 2:3")
        assert lines == [b"* SORT 2 3"], lines
        lines = ok(r, "e", "SORT RETURN (MIN MAX COUNT ALL) (REVERSE ARRIVAL) UTF-8 ALL")
        assert lines == [b'* ESEARCH (TAG "e") MIN 3 MAX 2 COUNT 3 ALL 3,1:2'], lines
        lines = ok(r, "p", "SORT RETURN (PARTIAL 1:2) (SUBJECT) UTF-8 ALL")
        assert lines == [b'* ESEARCH (TAG "p") PARTIAL (1:2 2:3)'], lines
        _, t = r.cmd("b", "SORT (NOSUCH) UTF-8 ALL")
        assert t.startswith(b"b BAD")
        _, t = r.cmd("n", "SORT (SUBJECT) KOI8-R ALL")
        assert t.startswith(b"n NO [BADCHARSET")
    finally:
        r.close()


def test_thread_references_and_orderedsubject(imapd):
    """RFC 5256 THREAD: References and In-Reply-To chains, a dummy parent for a missing
    message, subjects joining roots; ORDEREDSUBJECT groups by base subject."""
    r = login(imapd)
    try:
        ok(r, "c", "CREATE threads")
        msgs = [
            "Message-ID: <1@t>\nSubject: plan\n\nx\n",
            "Message-ID: <2@t>\nIn-Reply-To: <1@t>\nSubject: Re: plan\n\nx\n",
            "Message-ID: <3@t>\nReferences: <1@t> <2@t>\nSubject: Re: plan\n\nx\n",
            "Message-ID: <4@t>\nReferences: <gone@t>\nSubject: other\n\nx\n",
            "Message-ID: <5@t>\nReferences: <gone@t>\nSubject: Re: other\n\nx\n",
            "Message-ID: <6@t>\nSubject: Re: plan\n\nx\n",
        ]
        for i, m in enumerate(msgs):
            append(r, f"a{i}", m, "threads", f"22-Feb-2008 0{i}:00:00 +0000")
        ok(r, "s", "SELECT threads")
        lines = ok(r, "t", "THREAD REFERENCES UTF-8 ALL")
        assert lines == [b"* THREAD (1 (2 3)(6))((4)(5))"], lines
        lines = ok(r, "o", "THREAD ORDEREDSUBJECT UTF-8 ALL")
        assert lines == [b"* THREAD (1 (2)(3)(6))(4 5)"], lines
        lines = ok(r, "u", "UID THREAD REFERENCES UTF-8 4:5")
        assert lines == [b"* THREAD ((4)(5))"], lines
        lines = ok(r, "e", "THREAD REFERENCES UTF-8 SUBJECT nothing-matches")
        assert lines == [b"* THREAD"], lines
        _, t = r.cmd("b", "THREAD FANCY UTF-8 ALL")
        assert t.startswith(b"b BAD")
    finally:
        r.close()


def test_context_search_updates(imapd):
    """RFC 5267 CONTEXT=SEARCH: a SEARCH RETURN (UPDATE) result follows STORE, APPEND
    and EXPUNGE with ADDTO / REMOVEFROM until CANCELUPDATE; SORT updates are declined
    with NOUPDATE; PARTIAL ranges come back in ascending order."""
    r = login(imapd)
    try:
        ok(r, "c", "CREATE live")
        for i in range(5):
            append(r, f"a{i}", f"Subject: m{i}\n\nbody {i}\n", "live")
        ok(r, "s", "SELECT live")
        caps = ok(r, "c2", "CAPABILITY")[0].split()
        assert b"CONTEXT=SEARCH" in caps and b"CONTEXT=SORT" in caps and b"MULTIAPPEND" in caps
        lines = ok(r, "q1", "SEARCH RETURN (UPDATE ALL) SEEN")
        assert lines == [b'* ESEARCH (TAG "q1")'], lines
        lines = ok(r, "t1", "STORE 1,2,4 +FLAGS.SILENT (\\Seen)")
        assert lines == [b'* ESEARCH (TAG "q1") ADDTO (0 1:2,4)'], lines
        lines = ok(r, "t2", "STORE 2 -FLAGS.SILENT (\\Seen)")
        assert lines == [b'* ESEARCH (TAG "q1") REMOVEFROM (0 2)'], lines
        ok(r, "t3", "STORE 4 +FLAGS.SILENT (\\Deleted)")
        lines = ok(r, "x", "EXPUNGE")
        assert lines == [b'* ESEARCH (TAG "q1") REMOVEFROM (0 4)', b"* 4 EXPUNGE"], lines
        r.send(b"p APPEND live (\\Seen) {9+}\r\nS: x\r\n\r\nb\r\n")
        lines, t = r.read_until_tagged("p")
        assert t.startswith(b"p OK"), t
        assert b"* 5 EXISTS" in lines and b'* ESEARCH (TAG "q1") ADDTO (0 5)' in lines, lines
        lines = ok(r, "u1", "UID SEARCH RETURN (UPDATE) UNSEEN")
        ok(r, "k", "CANCELUPDATE \"q1\"")
        lines = ok(r, "t4", "STORE 1 -FLAGS.SILENT (\\Seen)")
        assert lines == [b'* ESEARCH (TAG "u1") UID ADDTO (0 1)'], lines
        _, t = r.cmd("k2", "CANCELUPDATE \"q1\"")
        assert t.startswith(b"k2 BAD")
        _, t = r.cmd("so", "SORT RETURN (UPDATE) (ARRIVAL) UTF-8 ALL")
        assert t.startswith(b'so OK [NOUPDATE "so"]'), t
        lines = ok(r, "pa", "SEARCH RETURN (PARTIAL 3:1) ALL")
        assert lines == [b'* ESEARCH (TAG "pa") PARTIAL (1:3 1:3)'], lines
        ok(r, "cl", "CLOSE")  # contexts end with the mailbox
        ok(r, "s2", "SELECT live")
        lines = ok(r, "t5", "STORE 2 +FLAGS.SILENT (\\Seen)")
        assert lines == [], lines
    finally:
        r.close()


def test_multiappend_is_atomic(imapd):
    """RFC 3502: several messages in one APPEND, all stored or none."""
    r = login(imapd)
    try:
        ok(r, "c", "CREATE multi")
        one, two = b"Subject: one\r\n\r\n1\r\n", b"Subject: two\r\n\r\n2\r\n"
        r.send(b"m APPEND multi {%d+}\r\n%s (\\Seen) {%d+}\r\n%s\r\n" % (len(one), one, len(two), two))
        _, t = r.read_until_tagged("m")
        assert re.match(rb"m OK \[APPENDUID \d+ 1:2\]", t), t
        # the second message refused (bad flag): the first is not stored either
        r.send(b"m2 APPEND multi {%d+}\r\n%s (\\Bogus) {%d+}\r\n%s\r\n" % (len(one), one, len(two), two))
        _, t = r.read_until_tagged("m2")
        assert t.startswith(b"m2 BAD"), t
        lines = ok(r, "st", "STATUS multi (MESSAGES)")
        assert lines == [b'* STATUS "multi" (MESSAGES 2)'], lines
    finally:
        r.close()


# ---- UTF8=ACCEPT (RFC 6855) ------------------------------------------------------------

def test_utf8_accept(imapd):
    """ENABLE UTF8=ACCEPT: mailbox names in UTF-8 both ways (Python's imaplib), APPEND
    with the UTF8 (literal8) data item, a message with UTF-8 headers read back as
    stored; SEARCH with a CHARSET and SORT with one other than UTF-8 are BAD (RFC 6855
    3 and erratum 4029)."""
    from test_imap_helpers import tls_client
    c = tls_client(imapd, PATIENT)
    try:
        assert b"UTF8=ACCEPT" in c.capabilities or "UTF8=ACCEPT" in c.capabilities
        typ, data = c.enable("UTF8=ACCEPT")
        assert typ == "OK" and c.utf8_enabled, data
        assert c.untagged_responses.get("ENABLED") == [b"UTF8=ACCEPT"], c.untagged_responses
        assert c.create("Résultats/Biologie")[0] == "OK"
        typ, data = c.list('""', "R*")
        assert '(\\HasChildren) "/" "Résultats"'.encode() in data, data
        assert c.select("Résultats/Biologie")[0] == "OK"
    finally:
        c.logout()
    r = login(imapd)
    try:
        ok(r, "e", "ENABLE UTF8=ACCEPT")
        msg = ("From: Chloé Dubois <chloe@pro.mss.test>\r\nTo: <146026322000196@patient.mss.test>\r\n"
               "Subject: Résultats d'analyse\r\n\r\nBonne journée\r\n").encode()
        r.send(f"a APPEND INBOX (\\Seen) UTF8 (~{{{len(msg)}+}}\r\n".encode() + msg + b")\r\n")
        _, t = r.read_until_tagged("a")
        assert re.match(rb"a OK \[APPENDUID \d+ 1\]", t), t
        ok(r, "s", "SELECT INBOX")
        lines = ok(r, "f", "FETCH 1 (BODY.PEEK[] ENVELOPE)")
        assert msg in lines, lines
        assert any("Résultats d'analyse".encode() in l for l in lines if isinstance(l, bytes)), lines
        assert ok(r, "u", "SEARCH SUBJECT Résultats".encode()) == [b"* SEARCH 1"]
        _, t = r.cmd("b1", "SEARCH CHARSET UTF-8 ALL")
        assert t.startswith(b"b1 BAD"), t
        _, t = r.cmd("b2", "SORT (DATE) US-ASCII ALL")
        assert t.startswith(b"b2 BAD"), t
        assert ok(r, "b3", "SORT (DATE) UTF-8 ALL") == [b"* SORT 1"]
        # the list must hold the literal8 alone
        r.send(f"b4 APPEND INBOX UTF8 (~{{{len(msg)}+}}\r\n".encode() + msg + b" extra)\r\n")
        _, t = r.read_until_tagged("b4")
        assert t.startswith(b"b4 BAD"), t
        assert ok(r, "st", "STATUS INBOX (MESSAGES)") == [b'* STATUS "INBOX" (MESSAGES 1)']
    finally:
        r.close()
    # without ENABLE a SEARCH CHARSET is fine (RFC 3501)
    r = login(imapd)
    try:
        ok(r, "s", "SELECT INBOX")
        assert ok(r, "c", "SEARCH CHARSET UTF-8 ALL") == [b"* SEARCH 1"]
    finally:
        r.close()


# ---- QUOTA (RFC 9208) -------------------------------------------------------------------

def test_quota_storage(mss_factory):
    """One quota root "" per account, STORAGE in KiB, limit quota_storage: GETQUOTAROOT,
    GETQUOTA, STATUS DELETED-STORAGE; APPEND (also within one MULTIAPPEND) and COPY that
    would pass it get NO [OVERQUOTA], MOVE does not count; SETQUOTA is refused."""
    m = mss_factory(extra={"quota_storage": "20K"})
    m.add_demo_accounts()
    m.start("imapd")
    r = login(m)
    try:
        caps = ok(r, "c", "CAPABILITY")[0]
        assert b" QUOTA " in caps and b"QUOTA=RES-STORAGE" in caps, caps
        lines = ok(r, "q1", "GETQUOTAROOT INBOX")
        assert lines == [b'* QUOTAROOT "INBOX" ""', b'* QUOTA "" (STORAGE 0 20)'], lines
        msg = simple_message(1, size=6000)  # about 6 KiB
        for i in range(3):
            r.send(f"a{i} APPEND INBOX {{{len(msg)}+}}\r\n".encode() + msg + b"\r\n")
            _, t = r.read_until_tagged(f"a{i}")
            assert t.startswith(f"a{i} OK".encode()), t
        used = (3 * len(msg) + 1023) // 1024
        assert ok(r, "q2", 'GETQUOTA ""') == [f'* QUOTA "" (STORAGE {used} 20)'.encode()]
        # the fourth would pass 20 KiB: refused before the literal is sent
        r.send(f"a3 APPEND INBOX {{{len(msg)}}}\r\n".encode())
        _, t = r.read_until_tagged("a3")
        assert t.startswith(b"a3 NO [OVERQUOTA]"), t
        # MULTIAPPEND: the second message counts the first; nothing is kept
        small = simple_message(2, size=200)
        r.send(f"a4 APPEND INBOX {{{len(small)}+}}\r\n".encode() + small +
               f" {{{len(msg)}+}}\r\n".encode() + msg + b"\r\n")
        _, t = r.read_until_tagged("a4")
        assert t.startswith(b"a4 NO [OVERQUOTA]"), t
        ok(r, "cr", "CREATE Archives")
        ok(r, "s", "SELECT INBOX")
        _, t = r.cmd("cp", "COPY 1 Archives")
        assert t.startswith(b"cp NO [OVERQUOTA]"), t
        ok(r, "mv", "MOVE 1 Archives")  # stays in the account: allowed
        lines = ok(r, "q3", "GETQUOTAROOT Archives")
        assert lines[0] == b'* QUOTAROOT "Archives" ""', lines
        ok(r, "d", "STORE 1 +FLAGS.SILENT (\\Deleted)")
        lines = ok(r, "st", "STATUS INBOX (DELETED DELETED-STORAGE)")
        assert lines == [f'* STATUS "INBOX" (DELETED 1 DELETED-STORAGE {(len(msg) + 1023) // 1024})'.encode()]
        ok(r, "x", "EXPUNGE")
        r.send(f"a5 APPEND INBOX {{{len(msg)}+}}\r\n".encode() + msg + b"\r\n")
        _, t = r.read_until_tagged("a5")
        assert t.startswith(b"a5 OK"), t
        _, t = r.cmd("sq", 'SETQUOTA "" (STORAGE 512)')
        assert t.startswith(b"sq NO [NOPERM]"), t
        _, t = r.cmd("g", 'GETQUOTA "other"')
        assert t.startswith(b"g NO [NONEXISTENT]"), t
        _, t = r.cmd("g2", "GETQUOTAROOT nosuch")
        assert t.startswith(b"g2 NO [NONEXISTENT]"), t
    finally:
        r.close()


# ---- CATENATE (RFC 4469) ----------------------------------------------------------------

def test_catenate(imapd):
    """A message made of TEXT literals and URL parts of stored messages (relative IMAP
    URLs, RFC 5092): header of one, a literal, part 1 of another with PARTIAL; a URL
    with a wrong UIDVALIDITY, a missing UID, a section that names no part or another
    user's mailbox gives NO [BADURL] and stores nothing."""
    r = login(imapd)
    try:
        assert b"CATENATE" in ok(r, "c", "CAPABILITY")[0]
        ok(r, "cr", "CREATE src")
        a = b"From: a@example.com\r\nSubject: one\r\n\r\nfirst body\r\n"
        r.send(f"a1 APPEND src {{{len(a)}+}}\r\n".encode() + a + b"\r\n")
        _, t = r.read_until_tagged("a1")
        uidv = re.search(rb"APPENDUID (\d+) 1", t).group(1).decode()
        text = b"\r\nmiddle\r\n"
        r.send(f'a2 APPEND INBOX (\\Seen) CATENATE (URL "/src;UIDVALIDITY={uidv}/;UID=1/;SECTION=HEADER" '
               f'TEXT {{{len(text)}+}}\r\n'.encode() + text +
               b' URL "/src/;uid=1/;section=TEXT/;partial=0.5")\r\n')
        _, t = r.read_until_tagged("a2")
        assert re.match(rb"a2 OK \[APPENDUID \d+ 1\]", t), t
        ok(r, "s", "SELECT INBOX")
        lines = ok(r, "f", "FETCH 1 (FLAGS BODY.PEEK[])")
        assert lines[1] == b"From: a@example.com\r\nSubject: one\r\n\r\n" + text + b"first", lines
        assert b"\\Seen" in lines[0]
        for tag, url in (("b1", "/src;UIDVALIDITY=1/;UID=1"), ("b2", "/src/;uid=9"),
                         ("b3", "/nosuch/;uid=1"), ("b4", "/src/;uid=1/;section=HEADER.FIELDS%20(From)"),
                         ("b5", "imap://other@localhost/src/;uid=1")):
            _, t = r.cmd(tag, f'APPEND INBOX CATENATE (TEXT {{2+}}\r\nx\n URL "{url}")')
            assert t.startswith(f'{tag} NO [BADURL "{url}"]'.encode()), t
        assert ok(r, "st", "STATUS INBOX (MESSAGES)") == [b'* STATUS "INBOX" (MESSAGES 1)']
        _, t = r.cmd("b6", "APPEND INBOX CATENATE (TEXT)")
        assert t.startswith(b"b6 BAD"), t
    finally:
        r.close()


# ---- URLAUTH (RFC 4467) -----------------------------------------------------------------

def test_urlauth(imapd):
    """GENURLAUTH signs a URL to one of the user's messages (INTERNAL mechanism);
    URLFETCH gives its octets to the access it names (user+NAME, authuser) and NIL to
    anyone else, to a forged or expired token, and after RESETKEY."""
    from conftest import PATIENT2
    a, b = login(imapd), login(imapd, PATIENT2)
    try:
        assert b"URLAUTH" in ok(a, "c", "CAPABILITY")[0]
        msg = b"From: a@example.com\r\nSubject: one\r\n\r\nfirst body\r\n"
        a.send(f"p APPEND INBOX {{{len(msg)}+}}\r\n".encode() + msg + b"\r\n")
        a.read_until_tagged("p")
        user, host = PATIENT.split("@")
        base = f"imap://{user}@{host}/INBOX/;uid=1"
        lines = ok(a, "g", f'GENURLAUTH "{base};urlauth=user+{PATIENT2}" INTERNAL '
                           f'"{base}/;section=TEXT;urlauth=authuser" INTERNAL')
        m = re.match(rb'\* GENURLAUTH "([^"]+)" "([^"]+)"$', lines[0])
        assert m, lines
        for_b, anyone = m.group(1).decode(), m.group(2).decode()
        assert re.search(r";urlauth=user\+[^:]+:internal:[0-9a-f]{64}$", for_b), for_b
        lines = ok(b, "f", f'URLFETCH "{for_b}" "{anyone}"')
        assert lines == [f'* URLFETCH "{for_b}" {{{len(msg)}}}'.encode(), msg,
                         f' "{anyone}" {{12}}'.encode(), b"first body\r\n", b""], lines
        # user+ names one user: the owner is not it
        assert ok(a, "f2", f'URLFETCH "{for_b}"') == [f'* URLFETCH "{for_b}" NIL'.encode()]
        forged = for_b[:-4] + ("0000" if not for_b.endswith("0000") else "1111")
        assert ok(b, "f3", f'URLFETCH "{forged}"') == [f'* URLFETCH "{forged}" NIL'.encode()]
        lines = ok(a, "g2", f'GENURLAUTH "{base};expire=2000-01-01T00:00:00Z;urlauth=authuser" INTERNAL')
        old = re.match(rb'\* GENURLAUTH "([^"]+)"', lines[0]).group(1).decode()
        assert ok(b, "f4", f'URLFETCH "{old}"') == [f'* URLFETCH "{old}" NIL'.encode()]
        # only the owner signs, only INTERNAL, no anonymous access
        _, t = b.cmd("g3", f'GENURLAUTH "{base};urlauth=authuser" INTERNAL')
        assert t.startswith(b"g3 NO [NOPERM]"), t
        _, t = a.cmd("g4", f'GENURLAUTH "{base};urlauth=anonymous" INTERNAL')
        assert t.startswith(b"g4 NO [NOPERM]"), t
        _, t = a.cmd("g5", f'GENURLAUTH "{base};urlauth=authuser" OTHER')
        assert t.startswith(b"g5 NO"), t
        ok(a, "r", "RESETKEY INBOX")
        assert ok(b, "f5", f'URLFETCH "{anyone}"') == [f'* URLFETCH "{anyone}" NIL'.encode()]
        _, t = a.cmd("r2", "RESETKEY nosuch")
        assert t.startswith(b"r2 NO [NONEXISTENT]"), t
    finally:
        a.close()
        b.close()


def test_urlauth_other_mailbox_two_messages(imapd):
    """imaptest's urlauth2: authuser URLs to two messages of a mailbox other than INBOX
    (its name %-encoded in the URL, RFC 5092) are fetched by another user in one
    URLFETCH; RESETKEY of that mailbox makes both NIL, the INBOX key stays."""
    from conftest import PATIENT2
    a, b = login(imapd), login(imapd, PATIENT2)
    try:
        ok(a, "c", 'CREATE "Old mail"')
        bodies = [b"Subject: m%d\r\n\r\nbody %d\r\n" % (i, i) for i in (1, 2)]
        for i, msg in enumerate(bodies):
            a.send(f'p{i} APPEND "Old mail" {{{len(msg)}+}}\r\n'.encode() + msg + b"\r\n")
            a.read_until_tagged(f"p{i}")
        inbox = b"Subject: in\r\n\r\ninbox\r\n"
        a.send(f"p APPEND INBOX {{{len(inbox)}+}}\r\n".encode() + inbox + b"\r\n")
        a.read_until_tagged("p")
        user, host = PATIENT.split("@")
        urls = []
        for box, uid in (("Old%20mail", 1), ("Old%20mail", 2), ("INBOX", 1)):
            lines = ok(a, "g", f'GENURLAUTH "imap://{user}@{host}/{box}/;uid={uid};urlauth=authuser" INTERNAL')
            urls.append(re.match(rb'\* GENURLAUTH "([^"]+)"$', lines[0]).group(1).decode())
        lines = ok(b, "f", f'URLFETCH "{urls[0]}" "{urls[1]}"')
        assert lines == [f'* URLFETCH "{urls[0]}" {{{len(bodies[0])}}}'.encode(), bodies[0],
                         f' "{urls[1]}" {{{len(bodies[1])}}}'.encode(), bodies[1], b""], lines
        ok(a, "r", 'RESETKEY "Old mail"')
        assert ok(b, "f2", f'URLFETCH "{urls[0]}" "{urls[1]}"') == [
            f'* URLFETCH "{urls[0]}" NIL "{urls[1]}" NIL'.encode()]
        lines = ok(b, "f3", f'URLFETCH "{urls[2]}"')
        assert lines[0] == f'* URLFETCH "{urls[2]}" {{{len(inbox)}}}'.encode(), lines
    finally:
        a.close()
        b.close()
