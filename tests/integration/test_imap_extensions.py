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
