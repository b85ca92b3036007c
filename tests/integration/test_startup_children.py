"""A daemon that stops on a start-up error after it forked its children (the retention
process, the audit signer) leaves none of them behind. The signer stays root while the
master drops to the daemons' user: the kernel then refuses the master's parent-death
signal to it (a signal from nobody to root), and it used to stay as a root orphan."""
import os
import time

import pytest

from test_ctl_config import start_fails, unprivileged_user

DAEMONS = ("smtpd", "imapd")


def processes_of(conf):
    """The pids whose command line names this instance's config file."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = (open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
        if str(conf) in cmd:
            found.append((int(pid), cmd))
    return found


@pytest.mark.parametrize("daemon", DAEMONS)
def test_no_child_outlives_a_start_up_error(mss, daemon):
    if os.geteuid() != 0:
        pytest.skip("the master drops privileges only when started as root")
    # data_dir reachable but not writable by the daemons' user: refused after the
    # children were forked and the privileges dropped (check_store)
    mss.set(user=unprivileged_user(), inactive_warning="10d", inactive_delete="20d")
    for parent in mss.data_dir.parents:
        parent.chmod(parent.stat().st_mode | 0o011)
    rc, log = start_fails(mss, daemon)
    assert rc == 1 and "not writable by nobody" in log, log[-2000:]
    left = processes_of(mss.conf)
    for _ in range(50):
        if not left:
            break
        time.sleep(0.1)
        left = processes_of(mss.conf)
    for pid, _ in left:  # do not leave them to the next test
        os.kill(pid, 9)
    assert left == [], left
