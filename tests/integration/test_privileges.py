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

from conftest import Mss, PATIENT, PATIENT2, PASSWORDS, PRO
from test_privsep import children  # the helpers under their keepers counted as the master's

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



def comm(pid):
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


AUDIT_KEYS = ("audit.key", "audit.pub")
ROOT_KEYS = AUDIT_KEYS + ("master.key",)  # root's: the audit signer's, the key agent's


def not_users(m, uid):
    # run/empty: the pre-login processes' chroot, root's and empty by design (issue 12)
    return [str(p) for p in m.data_dir.rglob("*")
            if p.stat().st_uid != uid and not (p.parent.name == "keys" and p.name in ROOT_KEYS)
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
    keyagents = [p for p in kids if comm(p) == "mss-keyagent"]
    sessions = [p for p in kids if p not in signers + agents + keyagents]
    assert sessions and all(uid_of(p) == {nobody} for p in sessions)
    assert len(signers) == 1 and uid_of(signers[0]) == {0}
    # the TLS key agent keeps the starting identity: it alone reads tls_key; so does
    # the account key agent, which alone reads the master key
    assert len(agents) == 1 and uid_of(agents[0]) == {0}
    assert len(keyagents) == 1 and uid_of(keyagents[0]) == {0}
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


def status_of(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return line.split()[1:]
    return []


def test_master_key_is_roots_and_only_the_key_agent_reads_it(unprivileged):
    """mssctl init leaves keys/master.key root's, 0400; the logged-in session process
    (the daemons' user, no capability, no supplementary group), found under /proc,
    cannot open it (EACCES) and, after reading and writing mail (account keys
    needed), holds no copy of it in memory: the account key agent (root) alone does.
    mssctl itself, working as the daemons' user, goes through its own agent."""
    import stat
    import subprocess
    from test_tls_agent import memory_holds
    m = unprivileged
    key = m.data_dir / "keys" / "master.key"
    assert key.stat().st_uid == 0 and stat.S_IMODE(key.stat().st_mode) == 0o400
    master_key = key.read_bytes()
    m.start("imapd")
    master = m.procs["imapd"].pid
    c = imaplib.IMAP4_SSL("127.0.0.1", m.port("imaps"), ssl_context=m.login_context(PATIENT))
    try:
        assert c.login(PATIENT, PASSWORDS[PATIENT])[0] == "OK"
        assert c.append("INBOX", None, None, b"Subject: k\r\n\r\nkey agent body\r\n")[0] == "OK"
        c.select("INBOX")
        typ, data = c.fetch("*", "(BODY.PEEK[TEXT])")
        assert typ == "OK" and b"key agent body" in data[0][1]
        # the session process: the daemons' user, not chrooted (its pre-login process is)
        sessions = [p for p in children(master)
                    if comm(p) not in ("mss-audit-sign", "mss-keyagent", "mss-tls-agent")
                    and os.readlink(f"/proc/{p}/root") == "/"]
        assert len(sessions) == 1
        session = sessions[0]
        uid, gid = int(status_of(session, "Uid")[0]), int(status_of(session, "Gid")[0])
        assert uid == pwd.getpwnam(USER).pw_uid and status_of(session, "Groups") == []
        assert status_of(session, "CapEff") == ["0000000000000000"]
        # the session process's own credentials, opening the file
        r = subprocess.run(["python3", "-c", f"open({str(key)!r}, 'rb')"], user=uid, group=gid,
                           extra_groups=[], capture_output=True, text=True)
        assert r.returncode != 0 and "PermissionError" in r.stderr and "Errno 13" in r.stderr
        keyagents = [p for p in children(master) if comm(p) == "mss-keyagent"]
        assert len(keyagents) == 1 and uid_of(keyagents[0]) == {0}
        assert memory_holds(keyagents[0], [master_key]) == {0}
        assert memory_holds(session, [master_key]) == set()
        assert memory_holds(master, [master_key]) == set()
    finally:
        c.logout()
    # mssctl as the daemons' user: a new account's key is made and wrapped by its agent
    m.add_account(PATIENT2, "patient", password=PASSWORDS[PATIENT2])
    assert "master key" not in m.ctl("migrate").stderr
