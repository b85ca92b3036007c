"""Privileges: the daemons bind as root and then run, master and sessions alike, as the
configured user; mssctl works as that user too, so every file in data_dir stays theirs."""
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


def test_daemons_and_sessions_run_as_the_configured_user(unprivileged):
    m = unprivileged
    nobody = pwd.getpwnam(USER).pw_uid
    for daemon in ("smtpd", "imapd"):
        m.start(daemon)
        assert uid_of(m.procs[daemon].pid) == {nobody}, daemon
    s = smtplib.SMTP("127.0.0.1", m.port("submission"), timeout=20)
    s.starttls(context=m.client_context("pro"))
    s.ehlo()
    sessions = children(m.procs["smtpd"].pid)
    assert sessions and all(uid_of(p) == {nobody} for p in sessions)
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
    owners = {p: p.stat().st_uid for p in m.data_dir.rglob("*")}
    assert owners and all(uid == nobody for uid in owners.values()), \
        [str(p) for p, u in owners.items() if u != nobody]


def test_mssctl_as_root_leaves_no_root_owned_file(unprivileged):
    m = unprivileged
    m.ctl("access", "grant", PATIENT, PRO)
    m.ctl("audit", "verify")
    nobody = pwd.getpwnam(USER).pw_uid
    assert all(p.stat().st_uid == nobody for p in m.data_dir.rglob("*"))
