"""mssctl init and account: the command line contract of DESIGN.md, exit codes 0/1/2."""
import os
import pwd
import sqlite3
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import PATIENT, PRO, Mss, cert_sha256


@pytest.mark.sqlite_only
def test_init_creates_private_data_dir(mss_factory):
    m = mss_factory()
    assert stat.S_IMODE(os.stat(m.data_dir).st_mode) == 0o700
    key = m.data_dir / "keys" / "master.key"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o400  # root's: the daemons' key agent reads it
    assert os.stat(key).st_uid == os.geteuid()
    con = sqlite3.connect(m.data_dir / "mss.db")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()


@pytest.mark.sqlite_only
@pytest.mark.skipif(os.geteuid() != 0, reason="init gives the data_dir away only when run as root")
def test_init_as_root_gives_every_file_to_the_daemons_user(pki, tmp_path_factory):
    """Everything init leaves in the data_dir is the daemons' user's but the master key
    and the audit key pair (root's), whatever the audit signer (root, running beside
    init) created meanwhile: a root-owned 0600 mss.db-sync made every later mssctl fail
    with Permission denied."""
    nobody = pwd.getpwnam("nobody").pw_uid
    for _ in range(5):
        root = Path(tempfile.mkdtemp(prefix="mss-init-"))
        root.chmod(0o755)
        m = Mss(root, pki, {"user": "nobody"})
        try:
            m.init()
            m.add_account(PATIENT, "patient", password="s3cret-passphrase")  # as nobody
            roots = sorted(str(p.relative_to(m.data_dir)) for p in m.data_dir.rglob("*")
                           if p.lstat().st_uid != nobody)
            assert roots == ["keys/audit.key", "keys/audit.pub", "keys/master.key"], roots
        finally:
            m.stop_all()
            subprocess.run(["rm", "-rf", str(root)], check=False)


@pytest.mark.sqlite_only
def test_init_refuses_to_overwrite(mss_factory):
    m = mss_factory()
    before = (m.data_dir / "keys" / "master.key").read_bytes()
    r = m.ctl("init", check=False)
    assert r.returncode == 1
    assert r.stderr.startswith("mssctl: ")
    assert len(r.stderr.strip().splitlines()) == 1
    assert (m.data_dir / "keys" / "master.key").read_bytes() == before


def test_add_list_show(mss_factory, pki):
    m = mss_factory()
    r = m.add_account(PATIENT, "patient", password="s3cret-passphrase", name="Patient Demo")
    assert r.returncode == 0
    m.add_account(PRO, "professional", cert=pki / "pro.crt", name="Dr Martin")
    out = m.ctl("account", "list").stdout.splitlines()
    assert [line.split()[0] for line in out] == sorted([PATIENT, PRO])
    assert "patient" in out[0] and "active" in out[0]
    show = m.ctl("account", "show", PRO).stdout
    assert "role: professional" in show
    assert cert_sha256(pki / "pro.crt") in show
    assert "password: no" in show
    assert "password: yes" in m.ctl("account", "show", PATIENT).stdout


@pytest.mark.sqlite_only
def test_password_is_argon2id_never_plain(mss_factory):
    m = mss_factory()
    m.add_account(PATIENT, "patient", password="s3cret-passphrase", real_cost=True)
    rows = m.sql("SELECT password_hash FROM accounts WHERE address = ?", PATIENT)
    # libsodium's interactive limits: 2 passes over 64 MiB (the tests' own accounts
    # get a cheaper hash from conftest's add_account, never the server's)
    assert rows[0][0].startswith("$argon2id$v=19$m=65536,t=2,p=1$"), rows[0][0]
    m.real_password_cost(PATIENT, "an0ther-passphrase")
    rows = m.sql("SELECT password_hash FROM accounts WHERE address = ?", PATIENT)
    assert rows[0][0].startswith("$argon2id$v=19$m=65536,t=2,p=1$"), rows[0][0]
    db = (m.data_dir / "mss.db").read_bytes() + (m.data_dir / "mss.db-wal").read_bytes() \
        if (m.data_dir / "mss.db-wal").exists() else (m.data_dir / "mss.db").read_bytes()
    assert b"s3cret-passphrase" not in db


def test_account_gets_default_mailboxes(mss_factory):
    m = mss_factory()
    m.add_account(PATIENT, "patient", password="x-password-long")
    names = {r[0] for r in m.sql(
        "SELECT m.name FROM mailboxes m JOIN store_users u ON u.id = m.user_id WHERE u.address = ?",
        PATIENT)}
    assert {"INBOX", "Sent", "Drafts", "Trash"} <= names


@pytest.mark.parametrize("args,code,message", [
    (["account", "add", "not-an-address", "--role", "patient"], 1, "not a valid mail address"),
    (["account", "add", "x@pro.mss.test", "--role", "doctor"], 2, "bad role"),
    (["account", "add", "x@pro.mss.test"], 2, "--role"),
    (["account", "add", "x@pro.mss.test", "--role", "professional", "--cert-sha256", "abc"], 1,
     "bad certificate fingerprint"),
    (["account", "add", "x@pro.mss.test", "--role", "professional", "--bogus"], 2, "unknown option"),
    (["account", "frobnicate"], 2, "unknown account command"),
    (["account", "show", "nobody@pro.mss.test"], 1, "no account"),
    (["account", "disable", "nobody@pro.mss.test"], 1, "no account"),
    (["nonsense"], 2, "unknown command"),
])
def test_bad_input_exit_codes(mss_factory, args, code, message):
    m = mss_factory()
    r = m.ctl(*args, check=False)
    assert r.returncode == code, r.stderr
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_duplicate_refused_case_insensitively(mss_factory):
    m = mss_factory()
    m.add_account(PRO, "professional")
    r = m.add_account(PRO.upper(), "professional", check=False)
    assert r.returncode == 1
    assert "already exists" in r.stderr
    assert len(m.ctl("account", "list").stdout.splitlines()) == 1


def test_failed_add_leaves_nothing(mss_factory, pki):
    """A certificate registered twice fails the second add entirely (one transaction)."""
    m = mss_factory()
    m.add_account(PRO, "professional", cert=pki / "pro.crt")
    r = m.add_account("other@pro.mss.test", "professional", cert=pki / "pro.crt", check=False)
    assert r.returncode == 1
    assert "already registered" in r.stderr
    assert m.sql("SELECT count(*) FROM accounts WHERE address = 'other@pro.mss.test'") == [(0,)]
    assert m.sql("SELECT count(*) FROM store_users WHERE address = 'other@pro.mss.test'") == [(0,)]


def test_disable(mss_factory):
    m = mss_factory()
    m.add_account(PATIENT, "patient", password="x-password-long")
    assert m.ctl("account", "disable", PATIENT).returncode == 0
    assert "state: disabled" in m.ctl("account", "show", PATIENT).stdout


def test_password_stdin_empty_refused(mss_factory):
    m = mss_factory()
    r = m.ctl("account", "add", PATIENT, "--role", "patient", "--password-stdin", input="", check=False)
    assert r.returncode == 1
    assert "password" in r.stderr


def test_bad_config_names_file_and_line(mss_factory):
    m = mss_factory()
    m.conf.write_text(m.conf.read_text() + "max_sessions = lots\n")
    r = m.ctl("account", "list", check=False)
    assert r.returncode == 1
    line_no = len(m.conf.read_text().splitlines())
    assert f"{m.conf}:{line_no}: max_sessions" in r.stderr


@pytest.mark.sqlite_only
def test_missing_data_dir_says_what_to_do(mss_factory):
    m = mss_factory(init=False)
    r = m.ctl("account", "list", check=False)
    assert r.returncode == 1
    assert "mssctl init" in r.stderr


def test_admin_actions_are_audited(mss_factory):
    m = mss_factory()
    m.add_account(PATIENT, "patient", password="x-password-long")
    actions = [r[0] for r in m.sql("SELECT action FROM audit_log ORDER BY seq")]
    assert "admin.init" in actions and "admin.account.add" in actions
