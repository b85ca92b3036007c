"""The vault over IMAP: a patient shares Documents with SETACL/DELETEACL (RFC 4314); a
granted professional reads Patients/<patient>/Documents/<Class> read-only, without the
documents the patient masked ($Masked); every opening, every document read and every
refused attempt is audited; withdrawal takes effect at once."""
import re
import smtplib
import time

import pytest

from conftest import CERT_OF, PATIENT, PASSWORDS, PRO, PRO2
from test_imap_helpers import RawImap, multipart_message


def audit_rows(m, after=0):
    return m.sql("SELECT seq, actor, action, target, result, patient FROM audit_log WHERE seq > ? "
                 "ORDER BY seq", after)


def last_seq(m):
    return m.sql("SELECT coalesce(max(seq), 0) FROM audit_log")[0][0]


def refused_by(m, before, actor):
    return [r for r in audit_rows(m, before) if r[1] == actor and r[4].startswith("refused")]


@pytest.fixture
def vault(mss):
    """smtpd + imapd, and one document filed in the patient's vault."""
    mss.start("smtpd")
    mss.start("imapd")
    with smtplib.SMTP("127.0.0.1", mss.port("submission"), timeout=30) as s:
        s.starttls(context=mss.login_context(PRO))
        s.login(PRO, PASSWORDS[PRO])
        s.sendmail(PRO, [PATIENT], multipart_message("compte rendu", n=5))
    r = RawImap(mss)
    r.login(PATIENT)
    folder = None
    deadline = time.monotonic() + 15
    while folder is None and time.monotonic() < deadline:
        lines, _ = r.cmd("l", 'LIST "" "Documents/*"')
        for line in lines:
            name = re.search(rb'"/" "?([^"]*)"?$', line).group(1).decode()
            st, _ = r.cmd("s", f'STATUS "{name}" (MESSAGES)')
            if st and b"MESSAGES 0" not in st[0]:
                folder = name
        if folder is None:
            time.sleep(0.2)
    r.close()
    assert folder, "no document filed in the vault"
    mss.folder = folder
    mss.shared = f"Patients/{PATIENT}/{folder}"
    return mss


def session(m, who, cert=None):
    """cert: EXTERNAL with it; else LOGIN with the password (and who's certificate)."""
    r = RawImap(m, cert=cert or CERT_OF.get(who))
    if cert:
        _, t = r.cmd("L1", "AUTHENTICATE EXTERNAL =")
        assert t.startswith(b"L1 OK"), t
    else:
        r.login(who)
    return r


def test_share_read_mask_revoke(vault):
    m = vault
    pro = session(m, PRO, cert="pro")
    try:
        # no grant yet: refused and audited, not listed
        before = last_seq(m)
        _, t = pro.cmd("a1", f'EXAMINE "{m.shared}"')
        assert t.startswith(b"a1 NO")
        _, t = pro.cmd("a2", f'STATUS "{m.shared}" (MESSAGES)')
        assert t.startswith(b"a2 NO")
        assert len(refused_by(m, before, PRO)) == 2
        lines, _ = pro.cmd("a3", 'LIST "" "Patients/*"')
        assert lines == []
    finally:
        pro.close()

    pat = session(m, PATIENT)
    try:
        lines, t = pat.cmd("b1", f'SETACL Documents "{PRO}" lr')
        assert t.startswith(b"b1 OK"), t
        lines, t = pat.cmd("b2", "GETACL Documents")
        assert f'"{PRO}" lr'.encode() in lines[0] and f'"{PATIENT}" lrswipkxtea'.encode() in lines[0]
        _, t = pat.cmd("b3", f'SETACL INBOX "{PRO2}" lr')
        assert t.startswith(b"b3 NO [NOPERM]")
        _, t = pat.cmd("b4", f'SETACL Documents "{PRO2}" lrw')
        assert t.startswith(b"b4 NO")
        lines, t = pat.cmd("b5", "MYRIGHTS Documents")
        assert lines == [b'* MYRIGHTS "Documents" lrswipkxtea']
        lines, t = pat.cmd("b6", f'LISTRIGHTS Documents "{PRO}"')
        assert t.startswith(b"b6 OK")
        _, t = pat.cmd("b7", f'EXAMINE "Patients/{PATIENT}/{m.folder}"')
        assert t.startswith(b"b7 NO")  # a patient has no shared namespace
    finally:
        pat.close()

    pro = session(m, PRO, cert="pro")
    pro2 = session(m, PRO2)
    try:
        lines, _ = pro.cmd("c0", "NAMESPACE")
        assert lines == [b'* NAMESPACE (("" "/")) NIL (("Patients/" "/"))']
        lines, _ = pro.cmd("c1", 'LIST "" "Patients/%/Documents/%"')
        assert any(m.shared.encode() in l for l in lines), lines
        before = last_seq(m)
        lines, t = pro.cmd("c2", f'SELECT "{m.shared}"')
        assert t.startswith(b"c2 OK [READ-ONLY]"), t
        exists = int(re.search(rb"\* (\d+) EXISTS", b"\n".join(lines)).group(1))
        assert exists >= 1
        lines, _ = pro.cmd("c2b", "UID FETCH 1 (UID)")
        first_uid = re.search(rb"UID (\d+)", lines[0]).group(1).decode()
        lines, t = pro.cmd("c3", "FETCH 1 (BODY.PEEK[])")
        assert t.startswith(b"c3 OK") and len(lines[1]) > 100
        rows = audit_rows(m, before)
        assert any(r[1] == PRO and r[2] == "vault.open" and r[5] == PATIENT for r in rows), rows
        assert any(r[1] == PRO and r[2] == "vault.read" and r[5] == PATIENT for r in rows), rows
        # read-only: each write refused and audited
        for tag, cmd in (("d1", "STORE 1 +FLAGS (\\Deleted)"), ("d2", "EXPUNGE"), ("d3", "COPY 1 INBOX"),
                         ("d4", f'DELETE "{m.shared}"'), ("d5", f'CREATE "{m.shared}/New"'),
                         ("d6", f'SETACL Documents "{PRO2}" lr'),
                         ("d7", f'RENAME "{m.shared}" Stolen')):
            before = last_seq(m)
            _, t = pro.cmd(tag, cmd)
            assert t.startswith(f"{tag} NO".encode()), t
            assert refused_by(m, before, PRO), cmd
        before = last_seq(m)
        msg = b"Subject: planted\r\n\r\nx\r\n"
        pro.send(f'e1 APPEND "{m.shared}" {{{len(msg)}+}}\r\n'.encode() + msg + b"\r\n")
        _, t = pro.read_until_tagged("e1")
        assert t.startswith(b"e1 NO") and refused_by(m, before, PRO)
        # another professional sees nothing
        _, t = pro2.cmd("f1", f'EXAMINE "{m.shared}"')
        assert t.startswith(b"f1 NO")

        # the patient masks the document: it leaves the professional's view
        pat = session(m, PATIENT)
        try:
            pat.cmd("g1", f'SELECT "{m.folder}"')
            before = last_seq(m)
            _, t = pat.cmd("g2", "STORE 1 +FLAGS ($Masked)")
            assert t.startswith(b"g2 OK")
            assert any(r[2] == "vault.mask" for r in audit_rows(m, before))
            lines, t = pro.cmd("c4", "NOOP")
            assert b"* 1 EXPUNGE" in lines, lines
            lines, t = pro.cmd("c5", f'STATUS "{m.shared}" (MESSAGES)')
            assert f"MESSAGES {exists - 1}".encode() in lines[0]
            lines, t = pro.cmd("c6", f"UID FETCH {first_uid} (UID BODY.PEEK[])")
            assert lines == []
            pat.cmd("g3", "STORE 1 -FLAGS ($Masked)")
            lines, t = pro.cmd("c7", f'EXAMINE "{m.shared}"')
            assert f"* {exists} EXISTS".encode() in lines
            # the patient withdraws the grant: the open session loses access at once
            _, t = pat.cmd("g4", f'DELETEACL Documents "{PRO}"')
            assert t.startswith(b"g4 OK")
        finally:
            pat.close()
        pro.send(b"c8 FETCH 1 (BODY.PEEK[])\r\n")
        assert pro.readline().startswith(b"* BYE")
        assert pro.closed()
    finally:
        pro.close()
        pro2.close()
    pro = session(m, PRO, cert="pro")
    try:
        _, t = pro.cmd("h1", f'EXAMINE "{m.shared}"')
        assert t.startswith(b"h1 NO")
    finally:
        pro.close()
    r = m.ctl("audit", "verify", check=False)
    assert r.returncode == 0, r.stderr


def test_blocked_professional_cannot_read(vault):
    m = vault
    pat = session(m, PATIENT)
    try:
        _, t = pat.cmd("a1", f'SETACL Documents "{PRO}" lr')
        assert t.startswith(b"a1 OK")
    finally:
        pat.close()
    m.ctl("access", "block", PATIENT, PRO)
    pro = session(m, PRO, cert="pro")
    try:
        _, t = pro.cmd("b1", f'EXAMINE "{m.shared}"')
        assert t.startswith(b"b1 NO")
        lines, _ = pro.cmd("b2", 'LIST "" "*"')
        assert not any(b"Patients/" in l for l in lines)
    finally:
        pro.close()


@pytest.mark.parametrize("command", ["SETACL", "DELETEACL"])
def test_grantee_too_long_refused_not_cut(imapd, command):
    """Issue 16: a grantee identifier longer than an address was cut silently and the
    cut name granted or revoked; now the command is refused whole."""
    pat = session(imapd, PATIENT)
    try:
        who = "dr." + "x" * 300 + "@" + PRO.split("@")[1]
        rights = " lr" if command == "SETACL" else ""
        _, t = pat.cmd("c1", f'{command} Documents "{who}"{rights}')
        assert t.startswith(b"c1 BAD") and b"identifier too long" in t, t
        _, t = pat.cmd("c2", "NOOP")
        assert t.startswith(b"c2 OK"), t
    finally:
        pat.close()
