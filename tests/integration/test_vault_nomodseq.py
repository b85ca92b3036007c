"""A professional's view of a patient's folder has no MODSEQ (RFC 7162 3.1.2 NOMODSEQ):
the folder's MODSEQ counts the patient's own changes (\\Seen, flags, keywords), so any
MODSEQ shown would tell the professional when the patient read or handled each
document. SELECT says [NOMODSEQ], STATUS HIGHESTMODSEQ is 0, FETCH MODSEQ /
CHANGEDSINCE and SEARCH MODSEQ answer BAD, the QRESYNC parameter is ignored, and
nothing a professional sees (live or at the next session, NOTIFY included) moves when
the patient changes her flags; documents filed, masked and unmasked still show.
And a professional idling in the folder (IDLE, NOTIFY) gets BYE at once when the
patient revokes the grant or blocks them, not at the folder's next change.
Raw IMAP sessions over TLS (exact lines)."""
import re
import time

import pytest

from conftest import PATIENT, PRO
from controls_helpers import last_seq, session
from test_vault_invisible import invisible_message, wait_filed
from test_vault_invisible import send as send_invisible
from web_helpers import forms, logged_in
from test_vault_live import block, more_documents, opened, revoke, shared  # noqa: F401 (fixture)

PATIENT_CHANGES = ["+FLAGS (\\Seen)", "+FLAGS (\\Flagged)", "+FLAGS (urgent)", "-FLAGS (\\Answered)"]


def patient_store(m, *stores):
    pat = session(m, PATIENT)
    try:
        _, t = pat.cmd("p0", f'SELECT "{m.folder}"')
        assert t.startswith(b"p0 OK"), t
        for i, st in enumerate(stores, 1):
            _, t = pat.cmd(f"p{i}", f"UID STORE 1:* {st}")
            assert t.startswith(f"p{i} OK".encode()), t
    finally:
        pat.close()


def observed(m):
    """Everything a professional's fresh session is told about the folder by the
    commands that carry MODSEQ, as (command, lines, tagged) with the tags' names."""
    pro = session(m, PRO)
    out = []
    try:
        for tag, cmd in (("o0", "ENABLE QRESYNC"),
                         ("o1", f'STATUS "{m.shared}" (MESSAGES UIDNEXT HIGHESTMODSEQ)'),
                         ("o2", f'EXAMINE "{m.shared}" (CONDSTORE)'),
                         ("o3", "FETCH 1:* (UID FLAGS MODSEQ)"),
                         ("o4", "UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE 1)"),
                         ("o5", "UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE 1 VANISHED)"),
                         ("o6", "SEARCH MODSEQ 1"),
                         ("o7", "UID SEARCH RETURN (ALL) MODSEQ 2"),
                         ("o8", "SORT (DATE) UTF-8 MODSEQ 1"),
                         ("o9", "FETCH 1:* (UID FLAGS)"),
                         ("oa", f'SELECT "{m.shared}"')):
            lines, t = pro.cmd(tag, cmd)
            out.append((cmd, [l for l in lines if not l.startswith(b"* OK [CLOSED]")], t))
        uidvalidity = re.search(rb"UIDVALIDITY (\d+)", b"\n".join(out[2][1])).group(1).decode()
        lines, t = pro.cmd("ob", f'EXAMINE "{m.shared}" (QRESYNC ({uidvalidity} 1))')
        out.append(("QRESYNC", [l for l in lines if not l.startswith(b"* OK [CLOSED]")], t))
    finally:
        pro.close()
    return out


def test_a_shared_view_says_nomodseq(shared):
    """SELECT/EXAMINE [NOMODSEQ], STATUS HIGHESTMODSEQ 0, BAD for the commands that
    need a MODSEQ (RFC 7162 3.1.2), no VANISHED or FETCH from a QRESYNC reselect."""
    got = {cmd: (lines, t) for cmd, lines, t in observed(shared)}
    lines, t = got[f'STATUS "{shared.shared}" (MESSAGES UIDNEXT HIGHESTMODSEQ)']
    assert t.startswith(b"o1 OK") and lines[0].endswith(b"(MESSAGES 1 UIDNEXT 2 HIGHESTMODSEQ 0)"), lines
    for cmd in (f'EXAMINE "{shared.shared}" (CONDSTORE)', f'SELECT "{shared.shared}"'):
        lines, t = got[cmd]
        assert b" OK " in t, (cmd, t)
        assert b"* OK [NOMODSEQ] No MODSEQ in a shared folder" in lines, (cmd, lines)
        assert not any(b"HIGHESTMODSEQ" in l for l in lines), (cmd, lines)
    for cmd in ("FETCH 1:* (UID FLAGS MODSEQ)", "UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE 1)",
                "UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE 1 VANISHED)", "SEARCH MODSEQ 1",
                "UID SEARCH RETURN (ALL) MODSEQ 2", "SORT (DATE) UTF-8 MODSEQ 1"):
        lines, t = got[cmd]
        assert b" BAD " in t and lines == [], (cmd, lines, t)
    lines, t = got["FETCH 1:* (UID FLAGS)"]
    assert t.startswith(b"o9 OK") and lines == [b"* 1 FETCH (UID 1 FLAGS ())"], lines
    lines, t = got["QRESYNC"]
    assert t.startswith(b"ob OK"), t
    assert not any(l.startswith((b"* VANISHED", b"* 1 FETCH")) or b"MODSEQ (" in l for l in lines), lines


@pytest.mark.parametrize("change", PATIENT_CHANGES)
def test_the_patients_flags_move_nothing_the_professional_sees(shared, change):
    """The patient sets \\Seen, \\Flagged, a keyword, or clears a flag: a professional's
    next session is told exactly what it was told before (SELECT, EXAMINE, STATUS,
    FETCH, CHANGEDSINCE, SEARCH MODSEQ, QRESYNC), and one open since then (CONDSTORE
    and QRESYNC on, NOTIFY on the folder as another mailbox and as the selected one)
    is told nothing."""
    m = shared
    if change.startswith("-"):
        patient_store(m, change.replace("-", "+"))
    before = observed(m)
    selected = session(m, PRO)
    other = session(m, PRO)
    try:
        for s in (selected, other):
            _, t = s.cmd("e1", "ENABLE QRESYNC")
            assert t.startswith(b"e1 OK"), t
        _, t = selected.cmd("n1", f'SELECT "{m.shared}"')
        assert t.startswith(b"n1 OK"), t
        _, t = selected.cmd("n2", "NOTIFY SET (selected (MessageNew (UID FLAGS MODSEQ) MessageExpunge "
                                  "FlagChange))")
        assert t.startswith(b"n2 OK"), t
        _, t = other.cmd("n1", "SELECT INBOX")
        assert t.startswith(b"n1 OK"), t
        _, t = other.cmd("n2", "NOTIFY SET STATUS (subtree Patients (MessageNew MessageExpunge FlagChange))")
        assert t.startswith(b"n2 OK"), t
        for s in (selected, other):
            idle(s)
        patient_store(m, change)
        for s in (selected, other):
            s.sock.settimeout(2)
            with pytest.raises(TimeoutError):
                line = s.readline()
                pytest.fail(f"told after {change}: {line!r}")
            s.sock.settimeout(15)
            s.send(b"DONE\r\n")
            lines, t = s.read_until_tagged("i1")
            assert t.startswith(b"i1 OK") and lines == [], (change, lines)
            lines, t = s.cmd("n3", "NOOP")
            assert t.startswith(b"n3 OK") and lines == [], (change, lines)
    finally:
        selected.close()
        other.close()
    after = observed(m)
    assert after == before, (change, before, after)


def test_filing_masking_and_unmasking_still_show(shared):
    """A document filed shows as EXISTS with its FETCH (no MODSEQ, CONDSTORE on), a
    masked one as VANISHED (QRESYNC on), an unmasked one at the next SELECT; STATUS
    follows them, HIGHESTMODSEQ staying 0."""
    m = shared
    pro = session(m, PRO)
    try:
        _, t = pro.cmd("e1", "ENABLE QRESYNC")
        assert t.startswith(b"e1 OK"), t
        lines, t = pro.cmd("s1", f'SELECT "{m.shared}"')
        assert t.startswith(b"s1 OK") and b"* 1 EXISTS" in lines, lines
        more_documents(m, 1, ())
        lines, t = pro.cmd("n1", "NOOP")
        assert t.startswith(b"n1 OK") and b"* 2 EXISTS" in lines, lines
        lines, t = pro.cmd("f1", "FETCH 2 (UID FLAGS)")
        assert lines == [b"* 2 FETCH (UID 2 FLAGS (\\Recent))"], lines  # filed while open
        pat = session(m, PATIENT)
        try:
            pat.cmd("p1", f'SELECT "{m.folder}"')
            _, t = pat.cmd("p2", "UID STORE 1 +FLAGS ($Masked)")
            assert t.startswith(b"p2 OK"), t
            lines, t = pro.cmd("n2", "NOOP")
            assert b"* VANISHED 1" in lines and not any(b"MODSEQ" in l for l in lines), lines
            _, t = pat.cmd("p3", "UID STORE 1 -FLAGS ($Masked)")
            assert t.startswith(b"p3 OK"), t
        finally:
            pat.close()
        lines, t = pro.cmd("s2", f'SELECT "{m.shared}"')
        assert t.startswith(b"s2 OK") and b"* 2 EXISTS" in lines, lines
        lines, t = pro.cmd("s3", f'STATUS "{m.shared}" (MESSAGES HIGHESTMODSEQ)')
        assert lines[0].endswith(b"(MESSAGES 2 HIGHESTMODSEQ 0)"), lines
    finally:
        pro.close()


WITHDRAWALS = {"revoke": revoke, "block": block}


@pytest.mark.parametrize("notify", [False, True])
@pytest.mark.parametrize("change", sorted(WITHDRAWALS))
def test_idle_ends_at_once_when_access_is_withdrawn(shared, change, notify):
    """A professional idling in the folder (IDLE, or IDLE under NOTIFY) gets BYE within
    a few seconds of the revocation (DELETEACL over IMAP) or the block (mssctl), with
    no document filed meanwhile; no read of a document is recorded."""
    m = shared
    pro, _ = opened(m)
    try:
        idle(pro, notify)
        before = last_seq(m)
        WITHDRAWALS[change](m)
        start = time.monotonic()
        pro.sock.settimeout(5)
        got = b""
        while b"BYE" not in got:
            line = pro.readline()  # TimeoutError past 5 s: IDLE was not woken
            got += line + b"\n"
        assert time.monotonic() - start < 5
        assert b"* BYE Access to this folder was withdrawn" in got and b"EXISTS" not in got, got
        reads = m.sql("SELECT count(*) FROM audit_log WHERE seq > ? AND action = 'vault.read'", before)[0][0]
        assert reads == 0
    finally:
        pro.close()


def test_idle_in_documents_ps_ends_at_once_when_blocked(shared):
    """The same in Documents-PS (the PS account's folder of the patient's INVISIBLE_PATIENT
    documents): the block wakes it too."""
    m = shared
    msg, _, _ = invisible_message()
    send_invisible(m, msg, [PATIENT])
    wait_filed(m, 1)
    pro = session(m, PRO)
    try:
        lines, t = pro.cmd("s1", f'SELECT "Patients/{PATIENT}/Documents-PS/Imagerie"')
        assert t.startswith(b"s1 OK") and b"* 1 EXISTS" in lines, (t, lines)
        assert b"* OK [NOMODSEQ] No MODSEQ in a shared folder" in lines, lines
        idle(pro)
        start = time.monotonic()
        block(m)
        pro.sock.settimeout(5)
        got = b""
        while b"BYE" not in got:
            got += pro.readline() + b"\n"  # TimeoutError past 5 s
        assert time.monotonic() - start < 5
        assert b"* BYE Access to this folder was withdrawn" in got, got
    finally:
        pro.close()


def test_idle_ends_at_once_when_revoked_in_the_web_space(shared):
    """The same when the patient withdraws the grant in mss-webd (its own processes)."""
    m = shared
    m.start("webd")
    w = logged_in(m)
    pro, _ = opened(m)
    try:
        idle(pro)
        page = w.get("/professionnels")
        f = next(f for f in forms(page, "/professionnels/retirer") if f["pro"] == PRO)
        start = time.monotonic()
        assert w.post("/professionnels/retirer", f).status == 303
        pro.sock.settimeout(5)
        got = b""
        while b"BYE" not in got:
            got += pro.readline() + b"\n"  # TimeoutError past 5 s
        assert time.monotonic() - start < 5
        assert b"* BYE Access to this folder was withdrawn" in got, got
    finally:
        pro.close()



ACCOUNT_ENDS = {"disable": lambda m, who: m.ctl("account", "disable", who),
                "delete": lambda m, who: m.ctl("account", "delete", who)}


def idle(pro, notify=False):
    """The professional's session enters IDLE (under NOTIFY for the selected mailbox
    when notify) and has its continuation."""
    if notify:
        _, t = pro.cmd("n1", "NOTIFY SET (selected (MessageNew MessageExpunge))")
        assert t.startswith(b"n1 OK"), t
    pro.send(b"i1 IDLE\r\n")
    assert pro.readline().startswith(b"+")


def bye_within_5s(pro):
    pro.sock.settimeout(5)
    start = time.monotonic()
    got = b""
    while b"BYE" not in got:
        got += pro.readline() + b"\n"  # TimeoutError past 5 s: IDLE was not woken
    assert time.monotonic() - start < 5
    return got


@pytest.mark.parametrize("notify", [False, True])
@pytest.mark.parametrize("change", sorted(ACCOUNT_ENDS))
def test_idle_ends_at_once_when_the_patient_account_ends(shared, change, notify):
    """The same when the administrator disables or deletes the patient's account
    (mssctl; retention deletes the same way): her vault is no longer readable
    (vault_may_read wants both accounts enabled), and the professional idling in her
    folder gets BYE within a few seconds, not at the folder's next change or the next
    command; no read is recorded. The professional's own account ending is
    test_imap_kick's (its own sessions end) and checked below."""
    m = shared
    pro, _ = opened(m)
    try:
        idle(pro, notify)
        before = last_seq(m)
        ACCOUNT_ENDS[change](m, PATIENT)
        got = bye_within_5s(pro)
        assert b"* BYE Access to this folder was withdrawn" in got and b"EXISTS" not in got, got
        reads = m.sql("SELECT count(*) FROM audit_log WHERE seq > ? AND action = 'vault.read'", before)[0][0]
        assert reads == 0
    finally:
        pro.close()


@pytest.mark.parametrize("who", ["patient", "professional"])
def test_idle_in_documents_ps_ends_at_once_when_an_account_is_disabled(shared, who):
    """Documents-PS (the PS account's folder of hers) too when the patient is disabled;
    and when the professional is, his own sessions end (imap_kick), here as well."""
    m = shared
    msg, _, _ = invisible_message()
    send_invisible(m, msg, [PATIENT])
    wait_filed(m, 1)
    pro = session(m, PRO)
    try:
        lines, t = pro.cmd("s1", f'SELECT "Patients/{PATIENT}/Documents-PS/Imagerie"')
        assert t.startswith(b"s1 OK") and b"* 1 EXISTS" in lines, (t, lines)
        idle(pro)
        ACCOUNT_ENDS["disable"](m, PATIENT if who == "patient" else PRO)
        got = bye_within_5s(pro)
        want = b"* BYE Access to this folder was withdrawn" if who == "patient" else b"* BYE Account disabled"
        assert want in got, got
    finally:
        pro.close()
