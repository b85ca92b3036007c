"""mssctl config check|show (issue 16) and the daemons' refusals at start: a file the
config names that cannot be used is named with the reason; a daemon refuses a missing
or unwritable data_dir with the cause and a remedy that works."""
import os
import pwd
import shutil

import pytest

DAEMONS = ("smtpd", "imapd")


def check(m):
    return m.ctl("config", "check", check=False)


def start_fails(m, daemon):
    proc = m.start(daemon, wait=False)
    rc = proc.wait(timeout=30)
    m.procs.pop(daemon, None)
    return rc, m.log(daemon)


def test_check_passes_on_a_good_config(mss):
    r = check(mss)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""


def test_check_names_file_and_line_of_a_syntax_error(mss):
    mss.conf.write_text(mss.conf.read_text() + "max_sessions = lots\n")
    nlines = len(mss.conf.read_text().splitlines())
    r = check(mss)
    assert r.returncode == 1
    assert f"{mss.conf}:{nlines}: max_sessions" in r.stderr


@pytest.mark.parametrize("key,reason", [
    ("tls_cert", "No such file or directory"),
    ("tls_ca", "No such file or directory"),
    ("tls_crl", "No such file or directory"),
    ("relay_cert", "No such file or directory"),
    ("relay_key", "No such file or directory"),
])
def test_missing_tls_file_is_named_by_check_and_daemons(mss, key, reason):
    missing = mss.root / f"missing-{key}.pem"
    mss.set(**{key: missing})
    r = check(mss)
    assert r.returncode == 1
    assert f"{key} {missing}: {reason}" in r.stderr
    for daemon in DAEMONS:
        rc, log = start_fails(mss, daemon)
        assert rc == 1
        assert f"{key} {missing}: {reason}" in log


def test_key_path_that_is_a_directory(mss):
    d = mss.root / "keydir"
    d.mkdir()
    mss.set(tls_key=d)
    r = check(mss)
    assert r.returncode == 1
    assert f"tls_key {d}: is a directory" in r.stderr
    for daemon in DAEMONS:
        rc, log = start_fails(mss, daemon)
        assert rc == 1 and f"tls_key {d}: is a directory" in log
        assert "PEM lib" not in log and "system lib" not in log


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a mode-000 file")
def test_unreadable_key(mss):
    key = mss.root / "server.key"
    shutil.copy(mss.pki / "server.key", key)
    key.chmod(0)
    mss.set(tls_key=key)
    r = check(mss)
    assert r.returncode == 1
    assert f"tls_key {key}: Permission denied" in r.stderr


def test_key_not_matching_certificate(mss):
    mss.set(tls_key=mss.pki / "pro.key")
    r = check(mss)
    assert r.returncode == 1
    assert "pro.key" in r.stderr and "server.crt" in r.stderr


def test_values_that_disagree(mss):
    mss.set(domains="pro.mss.test, patient.mss.test")
    r = check(mss)
    assert r.returncode == 1
    assert "patient_domain patient.mss.test is also in domains" in r.stderr


def test_notify_command_must_be_executable(mss):
    script = mss.root / "notify.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o644)
    mss.set(notify_command=script)
    r = check(mss)
    assert r.returncode == 1 and f"notify_command {script}: not an executable" in r.stderr
    script.chmod(0o755)
    assert check(mss).returncode == 0


def test_missing_data_dir_refused_with_a_remedy_that_works(mss_factory):
    m = mss_factory(init=False)
    r = check(m)
    assert r.returncode == 1
    remedy = f"data_dir {m.data_dir} does not exist: create it with mssctl -c {m.conf} init"
    assert remedy in r.stderr
    for daemon in DAEMONS:
        rc, log = start_fails(m, daemon)
        assert rc == 1 and remedy in log
    m.init()  # the remedy given
    assert check(m).returncode == 0
    m.start("imapd")


def test_empty_data_dir_is_not_initialised(mss_factory):
    m = mss_factory(init=False)
    m.data_dir.mkdir()
    r = check(m)
    assert r.returncode == 1
    assert f"data_dir {m.data_dir} is not initialised (no mss.db): run mssctl -c {m.conf} init" in r.stderr
    m.init()
    assert check(m).returncode == 0


def unprivileged_user():
    try:
        return pwd.getpwnam("nobody").pw_name
    except KeyError:
        pytest.skip("no user nobody")


def test_unwritable_data_dir_refused_naming_owner_and_remedy(mss):
    """The daemons' user cannot write data_dir: both refuse to start (today's sessions
    would answer 421 4.3.0 or * BYE), and never suggest mssctl init (which refuses)."""
    if os.geteuid() == 0:
        mss.set(user=unprivileged_user())
        who = "nobody"
        r = check(mss)  # the test's directories are root's, mode 0700
        assert r.returncode == 1
        assert f"{mss.data_dir} cannot be reached by nobody: Permission denied" in r.stderr
        for parent in mss.data_dir.parents:  # now data_dir itself is the obstacle
            parent.chmod(parent.stat().st_mode | 0o011)
    else:
        mss.data_dir.chmod(0o500)
        who = pwd.getpwuid(os.geteuid()).pw_name
    try:
        r = check(mss)
        assert r.returncode == 1
        assert f"by {who}" in r.stderr and "chown -R" in r.stderr
        assert "mssctl init" not in r.stderr
        for daemon in DAEMONS:
            rc, log = start_fails(mss, daemon)
            assert rc == 1
            assert f"by {who}" in log and "chown -R" in log and "mssctl init" not in log
    finally:
        mss.data_dir.chmod(0o700)


def test_show_prints_what_differs_from_the_defaults(mss):
    mss.set(max_message_size="10M", max_sessions="200", smtp_data_timeout="900")
    r = mss.ctl("config", "show")
    lines = r.stdout.splitlines()
    assert "max_message_size = 10M" in lines
    assert "smtp_data_timeout = 15m" in lines
    assert "patient_domain = patient.mss.test" in lines
    assert not any(l.startswith("max_sessions ") for l in lines)  # given, but the default
    assert not any(l.startswith("imap_max_line ") for l in lines)  # not given
