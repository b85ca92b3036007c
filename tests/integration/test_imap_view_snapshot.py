"""A session's first command that needs the selected mailbox's messages reads them from
the mailbox's view snapshot and the rows changed since (store/store_select_snapshot.c,
issue 15). A snapshot made stale in every way (flags changed, messages added, expunged
by another session, keywords added, the mailbox renamed or deleted, its UIDVALIDITY
changed, a vault document masked) gives exactly the answers of a session that reads
every row: each case compares a session that has the snapshot with one that has none
(its row deleted first), both when the change came before their SELECT and between
their SELECT and their first read. A professional's shared view never reads one, and a
masked document never shows in it."""
import re
import shutil
import time

import pytest

from conftest import Mss, PASSWORDS, PATIENT, PRO
from controls_helpers import PDF, message, send
from controls_helpers import session as user_session
from test_imap_helpers import ok_cmd as ok, patient_session as session, simple_message

FLAGS = ("\\Seen", "\\Seen $Zed", "", "$Alpha $Zed", "\\Seen $Beta", "", "\\Flagged", "\\Answered $Zed")


@pytest.fixture
def snapimapd(mss):
    """mss-imapd keeping a snapshot of every mailbox, never rewriting it in these tests
    unless one asks (a rewrite is tested on its own)."""
    mss.set(imap_view_snapshot_min=0, imap_view_snapshot_delta=1000)
    mss.start("imapd")
    return mss


def append(r, tag, mailbox, flags, n):
    msg = simple_message(n)
    r.send(f'{tag} APPEND "{mailbox}" ({flags}) {{{len(msg)}+}}\r\n'.encode() + msg + b"\r\n")
    lines, t = r.read_until_tagged(tag)
    assert t.startswith(tag.encode() + b" OK"), (lines, t)


def loads(m):
    """The imap.view_load log lines so far: [(snapshot, changed, written)]."""
    return [(x.group(1), int(x.group(2)), x.group(3)) for x in
            re.finditer(r"imap\.view_load .*snapshot=(\w+) changed=(\d+) written=(\w+)", m.log("imapd"))]


def last_load(m, before):
    deadline = time.monotonic() + 5  # the line may be written just after the reply
    while time.monotonic() < deadline:
        got = loads(m)
        if len(got) > before:
            return got[-1]
        time.sleep(0.05)
    raise AssertionError("no imap.view_load line")


def snapshot_rows(m, mailbox="INBOX"):
    return m.sql("SELECT s.modseq, s.uidnext FROM view_snapshots s JOIN mailboxes b ON b.id = s.mailbox_id"
                 " JOIN store_users u ON u.id = b.user_id WHERE u.address = ? AND b.name = ?", PATIENT, mailbox)


def filled(m, mailbox="INBOX"):
    """A mailbox of 8 messages whose snapshot was written by a session that read it."""
    a = session(m)
    if mailbox != "INBOX":
        ok(a, "F0", f'CREATE "{mailbox}"')
    for i, flags in enumerate(FLAGS):
        append(a, f"F{i + 1}", mailbox, flags, i)
    n = len(loads(m))
    ok(a, "F9", f'SELECT "{mailbox}"')
    ok(a, "F10", "FETCH 1:* (FLAGS)")
    assert last_load(m, n) == ("no", 0, "yes")
    assert snapshot_rows(m, mailbox), "no snapshot written"
    ok(a, "F11", "LOGOUT")
    a.close()
    return m


def strip(lines):
    """The lines a full read and a snapshot must give alike: \\Recent and RECENT are
    claims (who selected first), not the view."""
    out = []
    for x in lines:
        if re.match(rb"\* \d+ RECENT", x):
            continue
        out.append(re.sub(rb" ?\\Recent", b"", x))
    return out


READS = ("FETCH 1:* (UID FLAGS MODSEQ)", "UID SEARCH ALL", "SEARCH KEYWORD $Zed", "UID FETCH 1:* (FLAGS)",
         "NOOP", "FETCH 1:* (UID FLAGS MODSEQ)", "UID SEARCH MODSEQ 1")


def reads(r, tag):
    return [strip(ok(r, f"{tag}{i}", cmd)) for i, cmd in enumerate(READS)]


def opened(m, mailbox):
    r = session(m)
    ok(r, "E0", "ENABLE CONDSTORE")
    return r, strip(ok(r, "E1", f'EXAMINE "{mailbox}"'))


def compare(m, change, mailbox="INBOX", used="yes"):
    """The same reads by a session with the snapshot and by one without, (1) both
    selected before the change, read after it, (2) both selected after it."""
    with_snap, sel1 = opened(m, mailbox)
    without, sel2 = opened(m, mailbox)
    assert sel1 == sel2
    mailbox = change(m) or mailbox
    n = len(loads(m))
    early = reads(with_snap, "A")
    assert last_load(m, n)[0] == used
    m.sql("DELETE FROM view_snapshots")
    n = len(loads(m))
    want = reads(without, "B")
    assert last_load(m, n) == ("no", 0, "yes")  # written again, stamped at its SELECT
    assert early == want

    with_snap, sel1 = opened(m, mailbox)
    n = len(loads(m))
    got = reads(with_snap, "C")
    assert last_load(m, n)[0] == used
    m.sql("DELETE FROM view_snapshots")
    without, sel2 = opened(m, mailbox)
    assert sel1 == sel2
    n = len(loads(m))
    want = reads(without, "D")
    assert last_load(m, n)[0] == "no"
    assert got == want
    return early, got


def other(m, *commands, mailbox="INBOX"):
    b = session(m)
    ok(b, "O0", f'SELECT "{mailbox}"')
    for i, cmd in enumerate(commands):
        ok(b, f"O{i + 1}", cmd)
    ok(b, "O9", "LOGOUT")
    b.close()


def test_flags_changed(snapimapd):
    filled(snapimapd)
    _, got = compare(snapimapd, lambda m: other(m, "STORE 1:3 -FLAGS (\\Seen)", "UID STORE 7 +FLAGS (\\Seen)"))
    assert any(re.match(rb"\* 7 FETCH \(UID 7 FLAGS \([^)]*\\Seen", x) for x in got[0]), got[0]


def test_messages_added(snapimapd):
    filled(snapimapd)

    def change(m):
        b = session(m)
        for i in range(3):
            append(b, f"N{i}", "INBOX", "$New" if i == 1 else "", 20 + i)
        b.close()

    _, got = compare(snapimapd, change)
    assert any(b"FETCH (UID 11 " in x for x in got[0]), got[0]


def test_expunged_by_another_session(snapimapd):
    filled(snapimapd)
    early, got = compare(snapimapd, lambda m: other(m, "UID STORE 2,5,8 +FLAGS (\\Deleted)", "EXPUNGE"))
    # read before the change's catch-up: the expunged ones keep their numbers until NOOP
    assert len([x for x in early[0] if b" FETCH " in x]) == 8, early[0]
    assert len([x for x in early[5] if b" FETCH " in x]) == 5, early[5]
    assert len([x for x in got[0] if b" FETCH " in x]) == 5, got[0]


def test_keywords_added(snapimapd):
    filled(snapimapd)
    _, got = compare(snapimapd, lambda m: other(m, "STORE 3,6 +FLAGS ($Zed $Gamma)"))
    assert b"* SEARCH 2 3 4 6 8" in got[2], got[2]


def test_renamed(snapimapd):
    filled(snapimapd, "Work")

    def change(m):
        b = session(m)
        ok(b, "R1", 'RENAME "Work" "Done"')
        append(b, "R2", "Done", "$Late", 30)
        b.close()
        return "Done"

    compare(snapimapd, change, "Work")


def test_deleted_and_made_again(snapimapd):
    m = filled(snapimapd, "Work")
    b = session(m)
    ok(b, "D1", 'DELETE "Work"')
    assert m.sql("SELECT count(*) FROM view_snapshots")[0][0] == 0  # gone with its mailbox
    ok(b, "D2", 'CREATE "Work"')
    for i in range(3):
        append(b, f"D{i + 3}", "Work", "\\Seen", 40 + i)
    n = len(loads(m))
    ok(b, "D9", 'SELECT "Work"')
    lines = ok(b, "D10", "FETCH 1:* (UID FLAGS)")
    assert last_load(m, n) == ("no", 0, "yes")
    assert [re.match(rb"\* (\d+) FETCH \(UID (\d+)", x).groups() for x in lines] == [
        (b"1", b"1"), (b"2", b"2"), (b"3", b"3")], lines


def test_uidvalidity_changed(snapimapd):
    m = filled(snapimapd)
    m.sql("UPDATE mailboxes SET uidvalidity = uidvalidity + 1 WHERE name = 'INBOX'"
          " AND user_id = (SELECT id FROM store_users WHERE address = ?)", PATIENT)
    a = session(m)
    ok(a, "U1", "SELECT INBOX")
    n = len(loads(m))
    ok(a, "U2", "FETCH 1:* (FLAGS)")
    assert last_load(m, n) == ("no", 0, "yes")  # not the same mailbox: read whole


def test_delta_past_the_limit_writes_a_fresh_one(mss):
    mss.set(imap_view_snapshot_min=0, imap_view_snapshot_delta=2)
    mss.start("imapd")
    m = filled(mss)
    (stamp, _), = snapshot_rows(m)
    other(m, "STORE 1 +FLAGS ($One)", "STORE 2 +FLAGS ($Two)")
    a = session(m)
    ok(a, "W1", "SELECT INBOX")
    n = len(loads(m))
    ok(a, "W2", "FETCH 1:* (FLAGS)")
    assert last_load(m, n) == ("yes", 2, "no")  # at the limit: kept
    other(m, "STORE 3 +FLAGS ($Three)")
    ok(a, "W3", "LOGOUT")
    a = session(m)
    ok(a, "W4", "SELECT INBOX")
    n = len(loads(m))
    ok(a, "W5", "FETCH 1:* (FLAGS)")
    assert last_load(m, n) == ("yes", 3, "yes")
    (fresh, _), = snapshot_rows(m)
    assert fresh == stamp + 3


def test_small_mailbox_gets_none(imapd):
    a = session(imapd)
    for i in range(3):
        append(a, f"S{i}", "INBOX", "", i)
    ok(a, "S5", "SELECT INBOX")
    ok(a, "S6", "FETCH 1:* (FLAGS)")
    assert imapd.sql("SELECT count(*) FROM view_snapshots")[0][0] == 0  # under imap_view_snapshot_min


@pytest.fixture
def vault(mss):
    """One PDF filed in the patient's vault, the professional granted, the snapshot of
    the patient's folder written."""
    mss.set(imap_view_snapshot_min=0, imap_view_snapshot_delta=1000)
    mss.start("smtpd")
    mss.start("imapd")
    for i in range(2):
        msg = message(subject=f"compte rendu {i}")
        msg.add_attachment(PDF, maintype="application", subtype="pdf", filename=f"cr-{i}.pdf")
        send(mss, msg)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        rows = mss.sql("SELECT DISTINCT mailbox FROM vault_document WHERE patient = ?", PATIENT)
        if rows and mss.sql("SELECT count(*) FROM vault_document WHERE patient = ?", PATIENT)[0][0] == 2:
            break
        time.sleep(0.1)
    assert len(rows) == 1, rows
    mss.folder = rows[0][0]
    mss.ctl("access", "grant", PATIENT, PRO)
    n = len(loads(mss))
    a = session(mss)
    ok(a, "V1", f'SELECT "{mss.folder}"')
    ok(a, "V2", "FETCH 1:* (FLAGS)")
    assert last_load(mss, n) == ("no", 0, "yes")
    a.close()
    return mss


def test_masking_changed(vault):
    m = vault
    compare(m, lambda m: other(m, "STORE 1 +FLAGS ($Masked)", mailbox=m.folder), m.folder)
    stamped = snapshot_rows(m, m.folder)
    pro = user_session(m, PRO)
    ok(pro, "P1", f'SELECT "Patients/{PATIENT}/{m.folder}"')
    lines = ok(pro, "P2", "FETCH 1:* (UID FLAGS)")
    assert len([x for x in lines if b" FETCH " in x]) == 1, lines  # the masked one never shows
    assert not any(b"Masked" in x for x in lines), lines
    assert snapshot_rows(m, m.folder) == stamped  # a shared view neither reads nor writes one


@pytest.mark.parametrize("damage", ["first", "last"])
def test_damaged_snapshot_is_read_whole_and_written_again(snapimapd, damage):
    m = filled(snapimapd)
    if damage == "first":
        m.sql("UPDATE view_snapshots SET data = ?", b"MSV1\x01\x01\x01")  # cut in its first message
    else:  # every message good, then a number cut short: found once all were given
        data = bytes(m.sql("SELECT data FROM view_snapshots")[0][0])
        m.sql("UPDATE view_snapshots SET data = ?", data + b"\x80")
    a = session(m)
    ok(a, "X1", "SELECT INBOX")
    n = len(loads(m))
    got = ok(a, "X2", "FETCH 1:* (UID FLAGS)")
    assert last_load(m, n) == ("no", 0, "yes")
    assert len([x for x in got if b" FETCH " in x]) == len(FLAGS), got
    b = session(m)
    ok(b, "X3", "SELECT INBOX")
    n = len(loads(m))
    assert strip(ok(b, "X4", "FETCH 1:* (UID FLAGS)")) == strip(got)
    assert last_load(m, n) == ("yes", 0, "no")


def test_account_deletion_takes_its_snapshots(snapimapd):
    m = filled(snapimapd)
    r = m.ctl("account", "delete", PATIENT)
    assert r.stdout.strip() == f"deleted {PATIENT} (patient)"
    assert m.sql("SELECT count(*) FROM view_snapshots") == [(0,)]
    m.add_account(PATIENT, "patient", password=PASSWORDS[PATIENT])
    a = session(m)
    append(a, "K1", "INBOX", "\\Seen", 1)
    ok(a, "K2", "SELECT INBOX")
    n = len(loads(m))
    lines = ok(a, "K3", "FETCH 1:* (UID FLAGS)")
    assert last_load(m, n) == ("no", 0, "yes") and len(lines) == 1, lines


@pytest.mark.sqlite_only  # mssctl backup copies a SQLite store (test_ctl_backup.py)
def test_backup_holds_the_snapshots(snapimapd, tmp_path, pki):
    m = filled(snapimapd)
    mine = strip(ok(session(m), "B0", "EXAMINE INBOX"))
    dest = tmp_path / "backup"
    m.ctl("backup", dest)
    restored = Mss(tmp_path / "restored", pki)
    shutil.copytree(dest, restored.data_dir, symlinks=True)
    (restored.data_dir / "MANIFEST").unlink()
    try:
        assert snapshot_rows(restored) == snapshot_rows(m)
        restored.set(imap_view_snapshot_min=0)
        restored.start("imapd")
        a = session(restored)
        assert strip(ok(a, "B1", "EXAMINE INBOX")) == mine
        n = len(loads(restored))
        lines = ok(a, "B2", "FETCH 1:* (UID FLAGS)")
        assert last_load(restored, n) == ("yes", 0, "no")
        assert len([x for x in lines if b" FETCH " in x]) == len(FLAGS), lines
    finally:
        restored.stop_all()
