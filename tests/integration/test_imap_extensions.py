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
