"""Retention (CNIL, DESIGN.md "Retention", issue 16): the last login is recorded; an
account idle for inactive_warning is warned (INBOX message, notify_command), one idle
for inactive_delete and warned long enough before is deleted; audited; mssctl
retention run [--dry-run]; the daemons run it themselves."""
import sqlite3
import time

import pytest

from conftest import PASSWORDS, PATIENT, PATIENT2, PRO
from test_imap_helpers import starttls_client

DAY = 86400


def write_sql(m, statement, *params):
    con = sqlite3.connect(str(m.data_dir / "mss.db"), timeout=30)
    try:
        con.execute(statement, params)
        con.commit()
    finally:
        con.close()


@pytest.fixture(autouse=True)
def retention_on(mss):
    """The harness turns retention off (conftest); here it is on, at its defaults."""
    mss.set(inactive_warning="335d", inactive_delete="365d")


def make_idle(m, address, days, warned_days_ago=None):
    now = int(time.time())
    warned = 0 if warned_days_ago is None else now - warned_days_ago * DAY
    write_sql(m, "UPDATE accounts SET created = ?, last_login = ?, retention_warned = ? WHERE address = ?",
              now - 500 * DAY, now - days * DAY, warned, address)


def account_row(m, address):
    return m.sql("SELECT last_login, retention_warned FROM accounts WHERE address = ?", address)


def audit_actions(m):
    return [r[0] for r in m.sql("SELECT action FROM audit_log ORDER BY seq")]


def inbox_subjects(m, address):
    return m.sql("SELECT count(*) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id"
                 " JOIN store_users u ON u.id = b.user_id WHERE u.address = ? AND b.name = 'INBOX'",
                 address)[0][0]


def notify_script(m):
    out = m.root / "notified.txt"
    script = m.root / "notify.sh"
    script.write_text(f"#!/bin/sh\necho \"$1 $2\" >> {out}\n")
    script.chmod(0o755)
    m.set(notify_command=script)
    return out


def test_warn_then_delete(mss):
    notified = notify_script(mss)
    make_idle(mss, PATIENT, 340)
    before = inbox_subjects(mss, PATIENT)

    r = mss.ctl("retention", "run", "--dry-run")
    assert f"would warn {PATIENT} (no login for 340 days)" in r.stdout
    assert account_row(mss, PATIENT)[0][1] == 0 and inbox_subjects(mss, PATIENT) == before
    assert not notified.exists()

    r = mss.ctl("retention", "run")
    assert f"warn {PATIENT} (no login for 340 days)" in r.stdout
    assert "1 warned, 0 deleted" in r.stdout
    assert account_row(mss, PATIENT)[0][1] > 0
    assert inbox_subjects(mss, PATIENT) == before + 1
    assert notified.read_text().split("\n")[0] == f"account.inactive {PATIENT}"
    assert "retention.warn" in audit_actions(mss)
    # warned once, not every run; nobody else (all active) is touched
    r = mss.ctl("retention", "run")
    assert "0 warned, 0 deleted" in r.stdout

    # 370 days idle, but warned only 10 days ago: the notice period (30 days) runs on
    make_idle(mss, PATIENT, 370, warned_days_ago=10)
    assert "0 warned, 0 deleted" in mss.ctl("retention", "run").stdout
    make_idle(mss, PATIENT, 370, warned_days_ago=31)
    r = mss.ctl("retention", "run", "--dry-run")
    assert f"would delete {PATIENT}" in r.stdout
    r = mss.ctl("retention", "run")
    assert f"delete {PATIENT} (no login for 370 days)" in r.stdout
    assert mss.sql("SELECT count(*) FROM accounts WHERE address = ?", PATIENT) == [(0,)]
    assert mss.sql("SELECT count(*) FROM store_users WHERE address = ?", PATIENT) == [(0,)]
    assert "retention.delete" in audit_actions(mss)
    assert mss.ctl("audit", "verify").returncode == 0


def test_unwarned_account_is_warned_not_deleted(mss):
    """Idle past inactive_delete but never warned (no daemon ran): warned first."""
    make_idle(mss, PATIENT, 400)
    r = mss.ctl("retention", "run")
    assert f"warn {PATIENT}" in r.stdout and "0 deleted" in r.stdout
    assert mss.sql("SELECT count(*) FROM accounts WHERE address = ?", PATIENT) == [(1,)]


def test_login_is_recorded_and_resets_retention(imapd):
    m = imapd
    make_idle(m, PATIENT, 340, warned_days_ago=5)
    c = starttls_client(m, PATIENT)
    c.logout()
    last_login, warned = account_row(m, PATIENT)[0]
    assert abs(last_login - time.time()) < 120
    assert "last login: " in m.ctl("account", "show", PATIENT).stdout
    assert "last login: never" not in m.ctl("account", "show", PATIENT).stdout
    r = m.ctl("retention", "run")
    assert "0 warned, 0 deleted" in r.stdout


def test_settings_and_off_switch(mss):
    mss.set(inactive_warning="10d", inactive_delete="20d")
    make_idle(mss, PATIENT, 15)
    assert f"would warn {PATIENT}" in mss.ctl("retention", "run", "--dry-run").stdout
    mss.set(inactive_warning="30d", inactive_delete="20d")
    r = mss.ctl("config", "check", check=False)
    assert r.returncode == 1 and "inactive_warning must be shorter than inactive_delete" in r.stderr
    mss.set(inactive_warning="10d", inactive_delete="0")
    r = mss.ctl("retention", "run", check=False)
    assert r.returncode == 1 and "retention is off" in r.stderr
    assert mss.ctl("retention", "frob", check=False).returncode == 2


def test_daemon_runs_retention_itself(mss):
    mss.set(retention_interval="1")
    make_idle(mss, PATIENT2, 340)
    mss.start("smtpd")
    deadline = time.time() + 30
    # the run's log line follows its commit: wait for both (a loaded machine runs the
    # test between the two)
    while account_row(mss, PATIENT2)[0][1] == 0 or "event=retention result=ok" not in mss.log("smtpd"):
        assert time.time() < deadline, mss.log("smtpd")[-2000:]
        time.sleep(0.2)
    assert account_row(mss, PRO)[0][1] == 0
