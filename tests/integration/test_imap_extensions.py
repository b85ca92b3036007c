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
