"""URLAUTH=BINARY (RFC 5524) over raw sockets: URLFETCH (url BINARY BODYPARTSTRUCTURE)
gives a section's structure and its octets decoded from their transfer encoding, a
literal8 when they hold a NUL, with exact responses; bad parameters are BAD and the
session goes on."""
import re

from conftest import PATIENT, PATIENT2
from test_imap_helpers import RawImap

MSG = (b"From: user@example.org\r\n"
       b"Mime-Version: 1.0\r\n"
       b"Content-Type: multipart/mixed; boundary=\"foo bar\"\r\n"
       b"\r\n"
       b"--foo bar\r\n"
       b"Content-Type: message/rfc822\r\n"
       b"\r\n"
       b"From: sub@example.org\r\n"
       b"Subject: submsg\r\n"
       b"Content-Type: multipart/alternative; boundary=\"sub1\"\r\n"
       b"\r\n"
       b"--sub1\r\n"
       b"Content-Type: text/plain; charset=us-ascii\r\n"
       b"Content-Transfer-Encoding: base64\r\n"
       b"\r\n"
       b"aGVs\r\nbG8gd29y\r\nbGQ=\r\n"
       b"\r\n"
       b"--sub1\r\n"
       b"Content-Type: application/octet-stream\r\n"
       b"Content-Transfer-Encoding: quoted-printable\r\n"
       b"\r\n"
       b"nul=00here\r\n"
       b"--sub1--\r\n"
       b"\r\n"
       b"--foo bar--\r\n")

DECODED_MESSAGE = (b"From: sub@example.org\r\n"
                   b"Subject: submsg\r\n"
                   b"Content-Type: multipart/alternative; boundary=\"sub1\"\r\n"
                   b"\r\n"
                   b"--sub1\r\n"
                   b"Content-Type: text/plain; charset=us-ascii\r\n"
                   b"Content-Transfer-Encoding: binary\r\n"
                   b"\r\n"
                   b"hello world\r\n"
                   b"--sub1\r\n"
                   b"Content-Type: application/octet-stream\r\n"
                   b"Content-Transfer-Encoding: binary\r\n"
                   b"\r\n"
                   b"nul\x00here\r\n"
                   b"--sub1--\r\n")


def ok(r, tag, text):
    lines, t = r.cmd(tag, text)
    assert t.startswith(f"{tag} OK".encode()), (text, t, lines)
    return lines


def urls(a, sections):
    """authuser URLs to the sections of message 1 of INBOX, signed by a."""
    user, host = PATIENT.split("@")
    out = []
    for sec in sections:
        part = f"/;section={sec}" if sec else ""
        lines = ok(a, "g", f'GENURLAUTH "imap://{user}@{host}/INBOX/;uid=1{part};urlauth=authuser" INTERNAL')
        out.append(re.match(rb'\* GENURLAUTH "([^"]+)"$', lines[0]).group(1).decode())
    return out


def test_urlfetch_binary_and_bodypartstructure(imapd):
    a, b = RawImap(imapd), RawImap(imapd)
    try:
        a.login(PATIENT)
        b.login(PATIENT2)
        caps = ok(a, "c", "CAPABILITY")[0].split()
        assert b"URLAUTH" in caps and b"URLAUTH=BINARY" in caps
        a.send(f"p APPEND INBOX {{{len(MSG)}+}}\r\n".encode() + MSG + b"\r\n")
        _, t = a.read_until_tagged("p")
        assert t.startswith(b"p OK"), t
        ok(a, "s", "SELECT INBOX")
        bs = ok(a, "f", "FETCH 1 BODYSTRUCTURE")[0].decode()
        whole, msg1, leaf, qp, mime = urls(a, ["", "1", "1.1", "1.2", "1.1.MIME"])

        # the base64 leaf: its decoded octets, a plain literal (no NUL)
        lines = ok(b, "u1", f'URLFETCH ("{leaf}" BINARY)')
        assert lines == [f'* URLFETCH "{leaf}" (BINARY {{11}}'.encode(), b"hello world", b")"], lines
        # the quoted-printable leaf decodes to a NUL: literal8 (RFC 3516 4.2)
        lines = ok(b, "u2", f'URLFETCH ("{qp}" BINARY)')
        assert lines == [f'* URLFETCH "{qp}" (BINARY ~{{8}}'.encode(), b"nul\x00here", b")"], lines
        # the message/rfc822 part: the embedded message with every leaf decoded and its
        # Content-Transfer-Encoding said binary
        lines = ok(b, "u3", f'URLFETCH ("{msg1}" BINARY)')
        assert lines == [f'* URLFETCH "{msg1}" (BINARY ~{{{len(DECODED_MESSAGE)}}}'.encode(),
                         DECODED_MESSAGE, b")"], lines

        # BODYPARTSTRUCTURE alone: the part's BODYSTRUCTURE, as FETCH gives it in the
        # message's
        lines = ok(b, "u4", f'URLFETCH ("{msg1}" BODYPARTSTRUCTURE)')
        m = re.match(r'\* URLFETCH "[^"]+" \(BODYPARTSTRUCTURE (\(.*\))\)$', lines[0].decode())
        assert m and len(lines) == 1, lines
        assert m.group(1).startswith('("message" "rfc822" NIL NIL NIL "7bit" ') and m.group(1) in bs, (m, bs)
        lines = ok(b, "u5", f'URLFETCH ("{leaf}" BODYPARTSTRUCTURE)')
        assert lines == [f'* URLFETCH "{leaf}" (BODYPARTSTRUCTURE ("text" "plain" ("charset" "us-ascii") '
                         f'NIL NIL "base64" 22 3 NIL NIL NIL NIL))'.encode()], lines
        # beside BINARY, the sizes are the decoded ones, the encoding as declared
        lines = ok(b, "u6", f'URLFETCH ("{leaf}" BINARY BODYPARTSTRUCTURE)')
        assert lines == [f'* URLFETCH "{leaf}" (BODYPARTSTRUCTURE ("text" "plain" ("charset" "us-ascii") '
                         f'NIL NIL "base64" 11 0 NIL NIL NIL NIL) BINARY {{11}}'.encode(),
                         b"hello world", b")"], lines
        # the whole message, several URLs in one command, a plain one among them
        lines = ok(b, "u7", f'URLFETCH ("{whole}" BODY) "{leaf}" ("{whole}")')
        assert lines == [f'* URLFETCH "{whole}" (BODY {{{len(MSG)}}}'.encode(), MSG,
                         f') "{leaf}" {{22}}'.encode(), b"aGVs\r\nbG8gd29y\r\nbGQ=\r\n",
                         f' "{whole}" (BODY {{{len(MSG)}}}'.encode(), MSG, b")"], lines
        # a MIME header is octets, not a part: NIL for BINARY; a forged URL: NIL
        assert ok(b, "u8", f'URLFETCH ("{mime}" BINARY)') == [f'* URLFETCH "{mime}" NIL'.encode()]
        forged = leaf[:-4] + ("0000" if not leaf.endswith("0000") else "1111")
        assert ok(b, "u9", f'URLFETCH ("{forged}" BINARY BODYPARTSTRUCTURE)') == [
            f'* URLFETCH "{forged}" NIL'.encode()]

        # bad parameters: BAD, nothing sent, the session goes on
        for i, bad in enumerate([f'("{leaf}" BODY BINARY)', f'("{leaf}" ENVELOPE)', f'("{leaf}" "BINARY")',
                                 "()", f'(("{leaf}") BINARY)', ""]):
            lines, t = b.cmd(f"b{i}", f"URLFETCH {bad}".rstrip())
            assert t.startswith(f"b{i} BAD".encode()) and lines == [], (bad, t, lines)
        ok(b, "n", "NOOP")
    finally:
        a.close()
        b.close()
