"""Process separation (issue 12, doc/architecture.md "Process separation before
login"): what a session process holds. mss-smtpd and mss-imapd run their handshakes
through the TLS key agent (lib/key_agent.h): the agent alone reads tls_key; neither the
master nor a session process ever has the private key in memory."""
import imaplib
import os
import signal
import smtplib
import time
from pathlib import Path

import pytest

from conftest import PASSWORDS, PATIENT, PRO
from test_tls_agent import memory_holds, secrets_of


def direct_children(pid):
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


def children(pid):
    """pid's children, a helper under its keeper (lib/keeper.h, "mss-*-keep") counted
    as its own: the master's root helpers, restarted by their keepers."""
    out = []
    for c in direct_children(pid):
        out.extend(direct_children(c) if comm(c).endswith("-keep") else [c])
    return out


def comm(pid):
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def fd_targets(pid):
    out = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            out.append(str(fd.readlink()))
        except OSError:
            pass
    return out


def test_tls_key_only_in_the_agent(mss, pki):
    """Both daemons, a session of each in the middle of its work (logged in, after the
    handshake): the key's secret numbers are in the agent's memory and nowhere else; no
    process but the agent has the key file open."""
    needles = secrets_of(pki, "server")
    mss.start("smtpd")
    mss.start("imapd")
    s = smtplib.SMTP("127.0.0.1", mss.port("submission"), timeout=20)
    s.starttls(context=mss.client_context("pro"))
    s.ehlo()
    assert s.docmd("AUTH", "EXTERNAL =")[0] == 235
    c = imaplib.IMAP4_SSL("127.0.0.1", mss.port("imaps"), ssl_context=mss.login_context(PATIENT))
    c.login(PATIENT, PASSWORDS[PATIENT])
    try:
        for daemon in ("smtpd", "imapd"):
            master = mss.procs[daemon].pid
            kids = children(master)
            agents = [p for p in kids if comm(p) == "mss-tls-agent"]
            sessions = [p for p in kids if comm(p) == comm(master)]
            assert len(agents) == 1 and sessions, (daemon, kids)
            for pid in [master, *sessions]:
                assert memory_holds(pid, needles) == set(), (daemon, pid)
                assert str(pki / "server.key") not in fd_targets(pid)
            # control: the search finds the key where it is
            assert memory_holds(agents[0], needles), daemon
        s.sendmail(PRO, [PATIENT], b"Subject: hello\r\n\r\nbody\r\n")
    finally:
        s.quit()
        c.logout()


def agent_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_agent_gone_refuses_connections_and_says_why(mss):
    """The agent gone for good (killed with its keeper, which would start it again:
    test_helper_restart): no session is forked that could not do its handshake; each
    connection gets a 421 and the log says why, and the master stays up."""
    mss.start("smtpd")
    master = mss.procs["smtpd"].pid
    agent = [p for p in children(master) if comm(p) == "mss-tls-agent"][0]
    deadline = time.monotonic() + 10  # a keeper names itself just after its fork
    while not [p for p in direct_children(master) if comm(p) == "mss-tls-keep"] and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill([p for p in direct_children(master) if comm(p) == "mss-tls-keep"][0], signal.SIGKILL)
    os.kill(agent, signal.SIGKILL)
    # kill() returns before the agent is gone: a connection accepted meanwhile still
    # gets its channel (seen under load); wait until it is dead (a zombie or reaped)
    deadline = time.monotonic() + 10
    while agent_alive(agent) and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(smtplib.SMTPConnectError) as e:
        smtplib.SMTP("127.0.0.1", mss.port("submission"), timeout=20)
    assert e.value.smtp_code == 421
    assert "event=tls.agent_channel_failed" in mss.log("smtpd")
    assert mss.procs["smtpd"].poll() is None
