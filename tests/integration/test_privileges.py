"""Privileges: the daemons bind as root and then run, master and sessions alike, as the
configured user; mssctl works as that user too, so every file in data_dir stays theirs,
but for the audit key pair, which stays root's: only the audit signer (forked before the
drop, still root) reads the key."""
import os
import pwd
import shutil
import smtplib
import imaplib
import tempfile
from pathlib import Path

import pytest

from conftest import Mss, PATIENT, PASSWORDS, PRO

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")

USER = "nobody"


@pytest.fixture
def unprivileged(pki):
    # pytest's tmp dirs are 0700 root: the data_dir must be reachable by the user.
    root = Path(tempfile.mkdtemp(prefix="mss-priv-"))
    root.chmod(0o755)
    m = Mss(root, pki, {"user": USER})
    try:
        m.init()
        m.add_account(PATIENT, "patient", password=PASSWORDS[PATIENT])
        m.add_account(PRO, "professional", cert=pki / "pro.crt")
        yield m
    finally:
        m.stop_all()
        shutil.rmtree(root, ignore_errors=True)


def uid_of(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return {int(x) for x in line.split()[1:]}
    return set()


def children(pid):
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


def comm(pid):
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


AUDIT_KEYS = ("audit.key", "audit.pub")


def not_users(m, uid):
    # run/empty: the pre-login processes' chroot, root's and empty by design (issue 12)
    return [str(p) for p in m.data_dir.rglob("*")
            if p.stat().st_uid != uid and not (p.parent.name == "keys" and p.name in AUDIT_KEYS)
            and p != m.data_dir / "run" / "empty"]


def test_daemons_and_sessions_run_as_the_configured_user(unprivileged):
    m = unprivileged
    nobody = pwd.getpwnam(USER).pw_uid
    for daemon in ("smtpd", "imapd"):
        m.start(daemon)
        assert uid_of(m.procs[daemon].pid) == {nobody}, daemon
    s = smtplib.SMTP("127.0.0.1", m.port("submission"), timeout=20)
    s.starttls(context=m.client_context("pro"))
    s.ehlo()
    kids = children(m.procs["smtpd"].pid)
    signers = [p for p in kids if comm(p) == "mss-audit-sign"]
    agents = [p for p in kids if comm(p) == "mss-tls-agent"]
    sessions = [p for p in kids if p not in signers + agents]
    assert sessions and all(uid_of(p) == {nobody} for p in sessions)
    assert len(signers) == 1 and uid_of(signers[0]) == {0}
    # the TLS key agent keeps the starting identity: it alone reads tls_key
    assert len(agents) == 1 and uid_of(agents[0]) == {0}
    assert s.docmd("AUTH", "EXTERNAL =")[0] == 235
    s.sendmail(PRO, [PATIENT], b"Subject: hello\r\n\r\nbody\r\n")
    s.quit()
    c = imaplib.IMAP4_SSL("127.0.0.1", m.port("imaps"), ssl_context=m.login_context(PATIENT))
    c.login(PATIENT, PASSWORDS[PATIENT])
    c.select("INBOX")
    typ, data = c.fetch("1", "(BODY.PEEK[TEXT])")
    assert typ == "OK" and b"body" in data[0][1]
    c.logout()
    m.stop("smtpd")
    m.stop("imapd")
    assert list(m.data_dir.rglob("*")) and not not_users(m, nobody)
    for name in AUDIT_KEYS:
        assert (m.data_dir / "keys" / name).stat().st_uid == 0


def test_mssctl_as_root_leaves_no_root_owned_file(unprivileged):
    m = unprivileged
    m.ctl("access", "grant", PATIENT, PRO)
    m.ctl("audit", "verify")
    nobody = pwd.getpwnam(USER).pw_uid
    assert not not_users(m, nobody)
