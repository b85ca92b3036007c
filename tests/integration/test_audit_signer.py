"""The audit key out of the daemons' user's reach (issue 12): the daemons and mssctl run
as `nobody`, the key and the signer stay root's. The attack that used to pass (as the
daemons' user: delete the last records, re-sign the head with keys/audit.key) is tried
for real, with a key swap and with the signer used as an oracle; each is detected.
`mssctl audit anchor` / `verify --anchor` pin the key and a head off the machine."""
import os
import pwd
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

import pytest

from conftest import Mss, PATIENT, PASSWORDS, PRO
from test_privsep import children  # the signer under its keeper (lib/keeper.h)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")

USER = "nobody"

# Runs as the daemons' user: what a compromised session could do to the database.
ATTACK = r'''
import sqlite3, sys
db, keydir, keep, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization
con = sqlite3.connect(db, timeout=30)
con.execute("DELETE FROM audit_log WHERE seq > ?", (keep,))
con.execute("DELETE FROM audit_checkpoint WHERE seq > ?", (keep,))
seq, h = con.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
key = None
if mode == "resign":
    try:
        key = Ed25519PrivateKey.from_private_bytes(open(keydir + "/audit.key", "rb").read()[:32])
    except PermissionError:
        print("audit.key: permission denied")
elif mode == "rekey":
    import os
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())
    pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    for name, data in (("audit.key", seed + pub), ("audit.pub", (pub.hex() + "\n").encode())):
        os.unlink(keydir + "/" + name)          # the directory is the user's
        with open(keydir + "/" + name, "wb") as f:
            f.write(data)
def sign(kind, seq, h):
    tag = b"MSSAUDIT1-HEAD" if kind == "head" else b"MSSAUDIT1-CHECKPOINT"
    return key.sign(tag + b"\0" + seq.to_bytes(8, "big") + bytes.fromhex(h)).hex()
if key is not None:
    con.execute("UPDATE audit_head SET seq = ?, hash = ?, signature = ?", (seq, h, sign("head", seq, h)))
    for cseq, chash in con.execute("SELECT seq, hash FROM audit_checkpoint").fetchall():
        con.execute("UPDATE audit_checkpoint SET signature = ? WHERE seq = ?", (sign("cp", cseq, chash), cseq))
con.commit()
print("re-signed" if key is not None else "not re-signed")
'''


def as_user(*args):
    pw = pwd.getpwnam(USER)

    def drop():
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=60,
                          preexec_fn=drop, cwd="/")


def attack(m, keep, mode):
    r = as_user("-c", ATTACK, str(m.data_dir / "mss.db"), str(m.data_dir / "keys"), str(keep), mode)
    assert r.returncode == 0, r.stderr
    return r.stdout


def send(m, i):
    msg = EmailMessage()
    msg["From"] = PRO
    msg["To"] = PATIENT
    msg["Subject"] = f"signer {i}"
    msg.set_content("Bonjour.\n")
    with smtplib.SMTP("127.0.0.1", m.port("submission"), timeout=60) as s:
        s.starttls(context=m.login_context(PRO))
        s.login(PRO, PASSWORDS[PRO])
        s.send_message(msg)


def verify(m, *extra, input=None):
    r = m.ctl("audit", "verify", *extra, check=False, input=input)
    return r.returncode, (r.stdout + r.stderr).strip()


def max_seq(m):
    return m.sql("SELECT max(seq) FROM audit_log")[0][0]


def head_seq(m):
    return m.sql("SELECT seq FROM audit_head")[0][0]


@pytest.fixture
def installed(pki):
    root = Path(tempfile.mkdtemp(prefix="mss-signer-"))
    root.chmod(0o755)
    m = Mss(root, pki, {"user": USER})
    try:
        m.init()
        m.add_account(PATIENT, "patient", password=PASSWORDS[PATIENT])
        m.add_account(PRO, "professional", password=PASSWORDS[PRO], cert=pki / "pro.crt")
        m.start("smtpd")
        for i in range(4):
            send(m, i)
        m.stop("smtpd")
        assert max_seq(m) >= 8 and head_seq(m) == max_seq(m)
        yield m
    finally:
        m.stop_all()
        shutil.rmtree(root, ignore_errors=True)


def test_key_is_roots_and_unreadable_by_the_daemons_user(installed):
    m = installed
    key = m.data_dir / "keys" / "audit.key"
    assert key.stat().st_uid == 0 and (key.stat().st_mode & 0o777) == 0o600
    r = as_user("-c", f"open({str(key)!r}, 'rb').read()")
    assert r.returncode != 0 and "PermissionError" in r.stderr
    code, out = verify(m)
    assert code == 0, out


@pytest.mark.sqlite_only  # the attack edits the SQLite file directly
def test_resigning_attack_is_detected(installed):
    """The exact attack of issue 12: cut the last records, re-sign the head with
    keys/audit.key. The key cannot be read; the head no longer matches."""
    m = installed
    last = max_seq(m)
    out = attack(m, last - 2, "resign")
    assert "permission denied" in out and "not re-signed" in out
    code, out = verify(m)
    assert code == 1, out
    assert f"record {last - 1}" in out and "truncated" in out, out


@pytest.mark.sqlite_only  # the attack edits the SQLite file directly
def test_rekeyed_log_is_detected_with_and_without_anchor(installed):
    """Beyond the issue's attack: the user replaces the key pair with its own and
    re-signs head and checkpoints. The files are then the user's (refused), and the
    anchor kept off the machine names another key."""
    m = installed
    anchor = m.ctl("audit", "anchor").stdout.strip()
    assert anchor.startswith("mss-audit-anchor 1 key=")
    last = max_seq(m)
    out = attack(m, last - 3, "rekey")
    assert "re-signed" in out and "not" not in out
    code, out = verify(m)
    assert code == 1 and "belongs to the daemons' user" in out, out
    code, out = verify(m, "--anchor", "-", input=anchor + "\n")
    assert code == 1 and "record" in out, out


@pytest.mark.sqlite_only  # the attack edits the SQLite file directly
def test_anchor_holds_then_catches_truncation(installed):
    m = installed
    anchor = m.ctl("audit", "anchor").stdout.strip()
    seq = int(anchor.split("seq=")[1].split()[0])
    assert seq == max_seq(m)
    code, out = verify(m, "--anchor", "-", input=anchor)
    assert code == 0 and f"anchor at record {seq} holds" in out, out
    # More records later: the old anchor still holds.
    m.ctl("access", "grant", PATIENT, PRO)
    code, out = verify(m, "--anchor", "-", input=anchor)
    assert code == 0, out
    # A forged or garbled anchor is refused before anything is checked.
    bad = anchor.replace("seq=", "seq=1")
    code, out = verify(m, "--anchor", "-", input=bad)
    assert code == 1 and "does not verify" in out, out
    code, out = verify(m, "--anchor", "-", input="hello\n")
    assert code == 1 and "not an audit anchor" in out, out
    # Truncation below the anchored record is named, even with a head put back.
    attack(m, seq - 2, "resign")
    code, out = verify(m, "--anchor", "-", input=anchor)
    assert code == 1 and f"record {seq - 1}" in out, out


@pytest.mark.sqlite_only  # the attack edits the SQLite file directly
def test_signer_refuses_to_sign_a_shortened_log(installed):
    """A running daemon's signer is no oracle: after the user cut records and new
    ones were appended past the old head, the signer refuses and verify names it."""
    m = installed
    m.start("smtpd")
    signed = head_seq(m)
    attack(m, signed - 3, "none")
    for i in range(5):
        send(m, 10 + i)
    deadline = time.time() + 10
    while "audit.sign_refused" not in m.log("smtpd") and time.time() < deadline:
        time.sleep(0.2)
    assert "audit.sign_refused" in m.log("smtpd")
    m.stop("smtpd")
    assert head_seq(m) == signed  # never moved past the last honest head
    assert max_seq(m) > signed
    code, out = verify(m)
    assert code == 1 and f"record {signed}" in out, out


def test_signer_sessions_and_master_descriptors(installed):
    """The signer is root and holds the key; sessions and the master do not have the
    key file open and cannot open it."""
    m = installed
    m.start("smtpd")
    master = m.procs["smtpd"].pid
    # The signer names itself just after its fork: under load that can come after the
    # daemon answers its first connection.
    deadline = time.monotonic() + 10
    while True:
        signers = [p for p in children(master) if _comm(p) == "mss-audit-sign"]
        if signers or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(signers) == 1
    fds = os.listdir(f"/proc/{signers[0]}/fd")
    # stdio, its channel, the database (and its WAL/shm once it signed): no listener.
    socks = [os.readlink(f"/proc/{signers[0]}/fd/{fd}") for fd in fds]
    assert not any("TCP" in s for s in socks)
    assert sum(s.startswith("socket:") for s in socks) <= 2
    m.stop("smtpd")


def _comm(pid):
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""
