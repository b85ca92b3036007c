"""A professional whose directory entry becomes inactive (mssctl directory disable) or
who is struck off (the next directory import no longer lists him: retired, suspended)
loses the patients' shared folders at once: a session idling in one gets BYE within a
few seconds, and from then on LIST, STATUS, SELECT, EXAMINE, GETACL and MYRIGHTS on
them show or give nothing, no document read being recorded. The grant stays: the
patient's controls list it as suspended, and the access returns with the entry. A
professional still active and another patient's grants are untouched.
Raw IMAP sessions over TLS (exact lines), mssctl."""
import html
import smtplib
import time

import pytest

from conftest import PATIENT, PATIENT2, PRO, PRO2
from controls_helpers import PDF, message, session
from controls_helpers import send as send_as
from test_directory_import import imp, render, row
from test_vault_access import send
from test_vault_live import opened, shared  # noqa: F401 (fixture)
from test_vault_nomodseq import bye_within_5s, idle
from web_helpers import logged_in


def listed(m, *addresses):
    """A directory import listing exactly these professionals."""
    return imp(m, render([row(a, rpps=f"1000000000{i}") for i, a in enumerate(addresses)]))


def strike_off(m):
    listed(m, PRO2)  # PRO no longer listed


def disable(m):
    m.ctl("directory", "disable", PRO)


def strike_back(m):
    listed(m, PRO, PRO2)


def enable(m):
    m.ctl("directory", "enable", PRO)


ENDS = {"struck-off": (strike_off, strike_back), "disabled": (disable, enable)}


def refused_everywhere(m):
    """A new session of PRO: the patient's folders are neither listed nor opened."""
    pro = session(m, PRO)
    try:
        lines, t = pro.cmd("a1", 'LIST "" "Patients/*"')
        assert t.startswith(b"a1 OK") and lines == [], lines
        for tag, cmd in (("a2", f'SELECT "{m.shared}"'), ("a3", f'EXAMINE "{m.shared}"'),
                         ("a4", f'STATUS "{m.shared}" (MESSAGES)'), ("a5", f'MYRIGHTS "{m.shared}"'),
                         ("a6", f'GETACL "{m.shared}"')):
            lines, t = pro.cmd(tag, cmd)
            assert t.startswith(f"{tag} NO".encode()) and not any(b"EXISTS" in l for l in lines), (cmd, t)
    finally:
        pro.close()


def readable(m):
    pro, _ = opened(m)  # SELECT: 1 EXISTS, FETCH
    pro.close()


def suspended(m, patient, pro):
    out = m.ctl("access", "list", patient).stdout
    line = next(l for l in out.splitlines() if l.startswith(pro))
    return line.split()[1] == "lr" and "(suspended: inactive in the directory)" in line


@pytest.mark.parametrize("notify", [False, True])
@pytest.mark.parametrize("how", sorted(ENDS))
def test_an_inactive_or_struck_off_professional_loses_the_shared_folders_at_once(shared, how, notify):
    m = shared
    listed(m, PRO, PRO2)
    m.ctl("access", "grant", PATIENT, PRO2)
    m.ctl("access", "grant", PATIENT2, PRO2)
    m.ctl("access", "grant", PATIENT2, PRO)
    pro, _ = opened(m)
    other = session(m, PRO2)
    try:
        lines, t = other.cmd("s1", f'SELECT "{m.shared}"')
        assert t.startswith(b"s1 OK") and b"* 1 EXISTS" in lines, (t, lines)
        idle(pro, notify)
        idle(other, notify)
        before = m.sql("SELECT max(seq) FROM audit_log")[0][0]
        end, back = ENDS[how]
        end(m)
        got = bye_within_5s(pro)
        assert b"* BYE Access to this folder was withdrawn" in got and b"EXISTS" not in got, got
        reads = m.sql("SELECT count(*) FROM audit_log WHERE seq > ? AND action = 'vault.read'", before)[0][0]
        assert reads == 0
        assert "reason=no-access" in m.log("imapd")
        # the professional still active idles on, and reads
        other.sock.settimeout(2)
        with pytest.raises(TimeoutError):
            pytest.fail(f"woken: {other.readline()!r}")
        other.sock.settimeout(15)
        other.send(b"DONE\r\n")
        _, t = other.read_until_tagged("i1")
        assert t.startswith(b"i1 OK"), t
        lines, t = other.cmd("f1", "FETCH 1 (BODY.PEEK[2])")
        assert t.startswith(b"f1 OK") and b"BODY[2]" in b"".join(lines), t
        refused_everywhere(m)
        # the grants stay, shown suspended, another patient's too; the others' untouched
        assert suspended(m, PATIENT, PRO) and suspended(m, PATIENT2, PRO)
        assert not suspended(m, PATIENT, PRO2) and not suspended(m, PATIENT2, PRO2)
        pat = session(m, PATIENT)
        lines, t = pat.cmd("g1", "GETACL Documents")
        assert t.startswith(b"g1 OK") and f'"{PRO}" lr'.encode() in lines[0], lines
        pat.close()
        r = m.ctl("access", "grant", PATIENT, PRO, check=False)  # no new grant meanwhile
        assert r.returncode == 1 and "not active in the health directory" in r.stderr, r.stderr
        # listed again (or enabled): the grant counts again
        back(m)
        assert not suspended(m, PATIENT, PRO)
        readable(m)
    finally:
        pro.close()
        other.close()


def test_struck_off_only_once_and_a_return_is_active(shared):
    """The import counts the struck-off entry as removed once, keeps it inactive (it
    cannot write to patients either: directory-inactive), and reimporting without it
    changes nothing more; an administrator's own disable survives the professional's
    return in the file, as before."""
    m = shared
    listed(m, PRO, PRO2)
    out = listed(m, PRO2).stdout
    assert "removed 1)" in out, out
    assert "state: inactive" in m.ctl("directory", "show", PRO).stdout
    with pytest.raises(smtplib.SMTPSenderRefused) as e:  # at MAIL, as directory disable
        send(m, PRO, PATIENT)
    assert e.value.smtp_code == 550 and b"directory entry is not active" in e.value.smtp_error, e.value
    assert "removed 0)" in listed(m, PRO2).stdout
    strike_back(m)
    send(m, PRO, PATIENT)
    assert "state: active" in m.ctl("directory", "show", PRO).stdout
    m.ctl("directory", "disable", PRO)
    strike_off(m)
    strike_back(m)
    assert "state: inactive" in m.ctl("directory", "show", PRO).stdout
    m.ctl("directory", "enable", PRO)
    readable(m)


def test_a_patient_sees_the_suspension_in_her_web_space(shared):
    """Her list of professionals says the access is suspended, and why; her search
    offers no new grant to him."""
    m = shared
    m.start("webd")
    listed(m, PRO, PRO2)
    disable(m)
    w = logged_in(m, PATIENT)
    page = html.unescape(w.get("/professionnels").text)
    assert ("Accès suspendu : ce professionnel n'est plus actif dans l'annuaire santé" in page
            and "Peut lire vos documents" not in page), page
    found = html.unescape(w.get("/professionnels?nom=martin").text)
    item = next(li for li in found.split("<li>") if li.startswith(f"Dr Martin ({PRO})"))
    assert "(n'est plus actif dans l'annuaire santé)" in item and "Autoriser l'accès" not in item, item


def file_from_pro2(m, total):
    """A document from the active colleague, filed: the patient's vault holds total."""
    msg = message(subject=f"document {total}", sender=PRO2)
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename=f"cr-{total}.pdf")
    send_as(m, msg, user=PRO2)
    deadline = time.monotonic() + 20
    while len(m.sql("SELECT 1 FROM vault_document WHERE patient = ?", PATIENT)) < total:
        assert time.monotonic() < deadline, "not filed"
        time.sleep(0.1)
    time.sleep(0.5)  # the wake reaches the NOTIFY session


@pytest.mark.parametrize("how", sorted(ENDS))
def test_notify_on_the_shared_folders_tells_an_inactive_professional_nothing(shared, how):
    """A session with INBOX selected and NOTIFY on the patients' folders (not selected,
    so nothing to end) is told nothing of a document filed after the change; before
    it, the same filing is told (STATUS)."""
    m = shared
    listed(m, PRO, PRO2)
    pro = session(m, PRO)
    try:
        _, t = pro.cmd("n1", "SELECT INBOX")
        assert t.startswith(b"n1 OK"), t
        _, t = pro.cmd("n2", "NOTIFY SET STATUS (subtree Patients (MessageNew MessageExpunge))")
        assert t.startswith(b"n2 OK"), t
        file_from_pro2(m, 2)
        lines, t = pro.cmd("n3", "NOOP")
        assert any(l.startswith(b"* STATUS") and m.shared.encode() in l for l in lines), lines  # told
        ENDS[how][0](m)
        file_from_pro2(m, 3)
        lines, t = pro.cmd("n4", "NOOP")
        assert t.startswith(b"n4 OK") and not any(m.shared.encode() in l for l in lines), lines
    finally:
        pro.close()
