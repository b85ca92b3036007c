"""URLAUTH across accounts (RFC 4467, issue 12): a URL the owner signs for another
party is fetched by that party's session with the key the URL unwraps, never with the
owner's: the owner's wrapped account key is made unusable in the database before the
other account fetches. RESETKEY, expunge and a changed URL leave it NIL; the rows are
bounded by imap_urlauth_max_keys."""
import re

from conftest import PATIENT, PATIENT2
from test_imap_helpers import RawImap
from test_imap_urlfetch_binary import MSG

USER, HOST = PATIENT.split("@")
BASE = f"imap://{USER}@{HOST}/INBOX/;uid=1"
THIRD, THIRD_PASSWORD = "third@patient.mss.test", "third-secret-1"


def login(imapd, user):
    r = RawImap(imapd)
    if user != THIRD:
        r.login(user)
        return r
    imapd.add_account(THIRD, "patient", password=THIRD_PASSWORD)
    _, t = r.cmd("L1", f'LOGIN "{THIRD}" "{THIRD_PASSWORD}"')
    assert t.startswith(b"L1 OK"), t
    return r


def ok(r, tag, text):
    lines, t = r.cmd(tag, text)
    assert t.startswith(f"{tag} OK".encode()), (text, t, lines)
    return lines


def append(a, msg):
    a.send(f"p APPEND INBOX {{{len(msg)}+}}\r\n".encode() + msg + b"\r\n")
    a.read_until_tagged("p")


def sign(a, *rumps):
    lines = ok(a, "g", "GENURLAUTH " + " ".join(f'"{r}" INTERNAL' for r in rumps))
    return [u.decode() for u in re.findall(rb'"([^"]+)"', lines[0])]


def rows(m):
    return m.sql("SELECT count(*) FROM urlauth_keys")[0][0]


class BrokenKey:
    """The owner's wrapped account key unusable in the database while inside."""

    def __init__(self, m, who=PATIENT):
        self.m, self.who = m, who

    def __enter__(self):
        q = "SELECT wrapped_key FROM store_users WHERE lower(address) = lower(?)"
        self.saved = self.m.sql(q, self.who)[0][0]
        self.m.sql("UPDATE store_users SET wrapped_key = ? WHERE lower(address) = lower(?)",
                   "00" * (len(self.saved) // 2), self.who)
        return self

    def __exit__(self, *exc):
        self.m.sql("UPDATE store_users SET wrapped_key = ? WHERE lower(address) = lower(?)", self.saved,
                   self.who)


def test_another_account_fetches_without_the_owners_key(imapd):
    msg = b"From: a@example.com\r\nSubject: one\r\n\r\nfirst body\r\n"
    a = login(imapd, PATIENT)
    try:
        append(a, msg)
        for_b, anyone = sign(a, f"{BASE};urlauth=user+{PATIENT2}", f"{BASE}/;section=TEXT;urlauth=authuser")
        assert rows(imapd) == 2
        # signing the same URL again leaves one row
        assert sign(a, f"{BASE};urlauth=user+{PATIENT2}") == [for_b]
        assert rows(imapd) == 2
    finally:
        a.close()
    with BrokenKey(imapd):
        b, pro = login(imapd, PATIENT2), login(imapd, THIRD)
        try:
            lines = ok(b, "f", f'URLFETCH "{for_b}" "{anyone}"')
            assert lines == [f'* URLFETCH "{for_b}" {{{len(msg)}}}'.encode(), msg,
                             f' "{anyone}" {{12}}'.encode(), b"first body\r\n", b""], lines
            # authuser is any account; user+ names one
            lines = ok(pro, "f", f'URLFETCH "{anyone}" "{for_b}"')
            assert lines == [f'* URLFETCH "{anyone}" {{12}}'.encode(), b"first body\r\n",
                             f' "{for_b}" NIL'.encode()], lines
            # a URL changed in any octet, token kept, opens nothing
            other_section = anyone.replace(";section=TEXT", ";section=HEADER")
            forged = for_b[:-4] + ("0000" if not for_b.endswith("0000") else "1111")
            other_uid = anyone.replace(";uid=1", ";uid=2")
            for i, bad in enumerate((other_section, forged, other_uid)):
                assert ok(b, f"x{i}", f'URLFETCH "{bad}"') == [f'* URLFETCH "{bad}" NIL'.encode()]
        finally:
            b.close()
            pro.close()
    log = imapd.log("imapd")
    assert "result=nil" in log and for_b.rsplit(":", 1)[1] not in log


def test_resetkey_and_expunge_forget_the_urls(imapd):
    a, b = login(imapd, PATIENT), login(imapd, PATIENT2)
    try:
        for i in range(2):
            append(a, b"Subject: m%d\r\n\r\nbody %d\r\n" % (i, i))
        one, two = sign(a, f"{BASE};urlauth=authuser", f"imap://{USER}@{HOST}/INBOX/;uid=2;urlauth=authuser")
        assert len(ok(b, "f", f'URLFETCH "{one}" "{two}"')) == 5
        ok(a, "s", "SELECT INBOX")
        ok(a, "e", "UID STORE 2 +FLAGS.SILENT (\\Deleted)")
        ok(a, "x", "EXPUNGE")
        assert rows(imapd) == 1
        assert ok(b, "f2", f'URLFETCH "{two}"') == [f'* URLFETCH "{two}" NIL'.encode()]
        ok(a, "r", "RESETKEY INBOX")
        assert rows(imapd) == 0
        assert ok(b, "f3", f'URLFETCH "{one}"') == [f'* URLFETCH "{one}" NIL'.encode()]
        # signed again after the reset: a new token, fetchable again
        (again,) = sign(a, f"{BASE};urlauth=authuser")
        assert again != one
        assert len(ok(b, "f4", f'URLFETCH "{again}"')) == 3
        ok(a, "r2", "RESETKEY")
        assert rows(imapd) == 0
        assert ok(b, "f5", f'URLFETCH "{again}"') == [f'* URLFETCH "{again}" NIL'.encode()]
    finally:
        a.close()
        b.close()


def test_binary_and_bodypartstructure_across_accounts(imapd):
    a = login(imapd, PATIENT)
    try:
        append(a, MSG)
        leaf, whole = sign(a, f"{BASE}/;section=1.1;urlauth=user+{PATIENT2}", f"{BASE};urlauth=user+{PATIENT2}")
    finally:
        a.close()
    with BrokenKey(imapd):
        b = login(imapd, PATIENT2)
        try:
            lines = ok(b, "u", f'URLFETCH ("{leaf}" BINARY BODYPARTSTRUCTURE)')
            assert lines == [f'* URLFETCH "{leaf}" (BODYPARTSTRUCTURE ("text" "plain" ("charset" "us-ascii") '
                             'NIL NIL "base64" 11 0 NIL NIL NIL NIL) BINARY {11}'.encode(),
                             b"hello world", b")"], lines
            lines = ok(b, "w", f'URLFETCH ("{whole}" BODY)')
            assert lines == [f'* URLFETCH "{whole}" (BODY {{{len(MSG)}}}'.encode(), MSG, b")"], lines
        finally:
            b.close()


def test_signed_urls_are_bounded(imapd):
    imapd.stop("imapd")
    imapd.set(imap_urlauth_max_keys=2)
    imapd.start("imapd")
    a = login(imapd, PATIENT)
    try:
        append(a, b"Subject: m\r\n\r\nbody\r\n")
        sign(a, f"{BASE};urlauth=authuser", f"{BASE};urlauth=user+{PATIENT2}")
        _, t = a.cmd("g3", f'GENURLAUTH "{BASE};urlauth=user+{THIRD}" INTERNAL')
        assert t.startswith(b"g3 NO [LIMIT]"), t
        ok(a, "r", "RESETKEY")
        sign(a, f"{BASE};urlauth=user+{THIRD}")
    finally:
        a.close()
