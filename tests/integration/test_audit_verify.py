"""mssctl audit verify against a real installation: the chain built by the daemons and
mssctl holds; editing a field, deleting a record, swapping two records or cutting the
table short is caught and the first broken record named; many processes writing at once
keep one valid chain; the Ed25519 key lives in data_dir/keys with mode 0600."""
import re
import smtplib
import sqlite3
import stat
import subprocess
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage

import pytest

from conftest import BINARIES, PASSWORDS, PATIENT, PRO, PRO2


def send_one(m, i, user=PRO, rcpt=PATIENT):
    msg = EmailMessage()
    msg["From"] = user
    msg["To"] = rcpt
    msg["Subject"] = f"message {i}"
    msg.set_content("Bonjour.\n")
    with smtplib.SMTP("127.0.0.1", m.port("submission"), timeout=60) as s:
        s.starttls(context=m.login_context(user))
        s.login(user, PASSWORDS[user])
        s.send_message(msg)


def verify(m):
    r = m.ctl("audit", "verify", check=False)
    return r.returncode, (r.stdout + r.stderr).strip()


def tamper(m, *statements):
    con = sqlite3.connect(str(m.data_dir / "mss.db"), timeout=30)
    try:
        for s in statements:
            con.execute(s)
        con.commit()
    finally:
        con.close()


def max_seq(m):
    return m.sql("SELECT max(seq) FROM audit_log")[0][0]


@pytest.fixture
def busy(mss):
    """An installation with some traffic: deliveries and access changes."""
    mss.start("smtpd")
    for i in range(3):
        send_one(mss, i)
    mss.ctl("access", "grant", PATIENT, PRO)
    mss.ctl("access", "block", PATIENT, PRO2)
    mss.stop("smtpd")
    assert max_seq(mss) >= 10
    return mss


def test_untouched_chain_passes_and_key_is_private(busy):
    code, out = verify(busy)
    assert code == 0, out
    assert "ok" in out
    key = busy.data_dir / "keys" / "audit.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.stat().st_size == 64
    assert (busy.data_dir / "keys" / "audit.pub").exists()
    # Records carry no content: the subjects sent never appear.
    dump = " ".join(str(r) for r in busy.sql("SELECT * FROM audit_log"))
    assert "message 1" not in dump and "Bonjour" not in dump


@pytest.mark.sqlite_only
def test_edited_field_named(busy):
    tamper(busy, "UPDATE audit_log SET result = 'ok (edited)' WHERE seq = 5")
    code, out = verify(busy)
    assert code == 1
    assert "record 5" in out


@pytest.mark.sqlite_only
def test_edited_field_with_recomputed_looking_hash_named(busy):
    tamper(busy, "UPDATE audit_log SET actor = 'someone@else.test', hash = prev WHERE seq = 6")
    code, out = verify(busy)
    assert code == 1 and "record 6" in out


@pytest.mark.sqlite_only
def test_deleted_record_named(busy):
    tamper(busy, "DELETE FROM audit_log WHERE seq = 4")
    code, out = verify(busy)
    assert code == 1
    assert "record 4" in out and "missing" in out


@pytest.mark.sqlite_only
def test_swapped_records_named(busy):
    tamper(busy,
           "UPDATE audit_log SET seq = -1 WHERE seq = 3",
           "UPDATE audit_log SET seq = 3 WHERE seq = 7",
           "UPDATE audit_log SET seq = 7 WHERE seq = -1")
    code, out = verify(busy)
    assert code == 1 and "record 3" in out


@pytest.mark.sqlite_only
def test_swapped_contents_named(busy):
    cols = "time, actor, auth, action, target, detail, result, peer, patient, prev, hash"
    con = sqlite3.connect(str(busy.data_dir / "mss.db"))
    a = con.execute(f"SELECT {cols} FROM audit_log WHERE seq = 8").fetchone()
    b = con.execute(f"SELECT {cols} FROM audit_log WHERE seq = 9").fetchone()
    sets = ", ".join(f"{c.strip()} = ?" for c in cols.split(","))
    con.execute(f"UPDATE audit_log SET {sets} WHERE seq = 8", b)
    con.execute(f"UPDATE audit_log SET {sets} WHERE seq = 9", a)
    con.commit()
    con.close()
    code, out = verify(busy)
    assert code == 1 and "record 8" in out


@pytest.mark.sqlite_only
@pytest.mark.parametrize("keep", [0, 1, 5])
def test_truncated_table_named(busy, keep):
    last = max_seq(busy)
    tamper(busy, f"DELETE FROM audit_log WHERE seq > {keep}")
    code, out = verify(busy)
    assert code == 1
    assert f"record {keep + 1}" in out, out
    if keep > 0:
        assert "truncated" in out, out
    assert last > keep


@pytest.mark.sqlite_only
def test_forged_head_after_truncation_named(busy):
    last = max_seq(busy)
    tamper(busy, f"DELETE FROM audit_log WHERE seq = {last}", f"UPDATE audit_head SET seq = {last - 1}")
    code, out = verify(busy)
    assert code == 1 and f"record {last - 1}" in out


def test_twenty_processes_at_once(mss):
    """20 SMTP sessions (20 processes) deliver at once, while 20 mssctl processes change
    access: one strict order, a valid chain, every record present."""
    # 20 at once from one address, over the default per-address limit
    mss.set(max_sessions_per_ip=40)
    mss.start("smtpd")
    before = max_seq(mss)
    ctl = [str(BINARIES["mssctl"]), "-c", str(mss.conf)]

    def ctl_run(i):
        op = "grant" if i % 2 == 0 else "revoke"
        return subprocess.run(ctl + ["access", op, PATIENT, PRO], capture_output=True, timeout=120).returncode

    with ThreadPoolExecutor(max_workers=40) as ex:
        mails = [ex.submit(send_one, mss, i) for i in range(20)]
        ctls = [ex.submit(ctl_run, i) for i in range(20)]
        for f in mails:
            f.result()
        codes = [f.result() for f in ctls]
    assert all(c in (0, 1) for c in codes)
    mss.stop("smtpd")
    code, out = verify(mss)
    assert code == 0, out
    seqs = [s for (s,) in mss.sql("SELECT seq FROM audit_log ORDER BY seq")]
    assert seqs == list(range(1, len(seqs) + 1))
    delivered = mss.sql("SELECT count(*) FROM audit_log WHERE action = 'smtp.deliver' AND seq > ?", before)[0][0]
    assert delivered >= 20
    accesses = mss.sql("SELECT count(*) FROM audit_log WHERE action LIKE 'access.%' AND seq > ?", before)[0][0]
    assert accesses == 20
