"""mss-smtpd's reused submission processes (issue 15, lib/master.h
MASTER_REUSE_PRELOGIN): on submission and submissions one pre-login process (TLS,
greeting, EHLO, AUTH; no store) serves up to smtp_session_max_use connections one after
another. Its session process is asked of the master at the first authentication
request (certificate or SASL user as a hint): one that served the same account before,
or a fresh one (submission_idle_sessions 0: a fresh one per connection, forked at
accept). A session process that logged one account in refuses any other and ends, so
it never serves anyone else. Nothing of a connection (identity, AUTH state, buffered
bytes, certificate) reaches the next one through the pre-login process; a new CRL and
SIGHUP end them; killing one mid-session loses nothing that was acknowledged."""
import contextlib
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from auth_helpers import Issuer, Sasl, oauthbearer
from conftest import PASSWORDS, PATIENT, PRO, PRO2, cert_sha256
from test_smtp_auth import send
from test_smtp_protocol import RawSmtp, connect, inbox_count, login, plain
from test_tls_agent import memory_holds
from test_smtp_reuse import connects, disconnects, ended, gone, waiting

LATE = "dr.late@pro.mss.test"


@pytest.fixture
def sub(mss, tmp_path, pki):
    crl = tmp_path / "tls-crl.pem"
    shutil.copyfile(pki / "crl.pem", crl)
    mss.set(smtp_session_max_use=3, tls_crl=str(crl))
    mss.crl = crl
    return mss


def external(m, listener="submissions", cert="pro"):
    """A connection logged in with AUTH EXTERNAL (the certificate's account)."""
    c = connect(m, listener, cert=cert)
    code, text = c.cmd("AUTH EXTERNAL =")
    assert code == 235, text
    return c


def one_connection(m, sender=PRO):
    """A connection with the professional's certificate (EXTERNAL): one message from
    sender (none when None), QUIT, and its end seen in the log."""
    c = external(m)
    if sender is not None:
        assert send(c, sender, PATIENT)[-1][0] == 250
    assert c.cmd("QUIT")[0] == 221
    ended(m, c)


def patient_once(m):
    """One connection of the patient (AUTH PLAIN, QUIT), over: her session process's
    pid, idle under the hint u:PATIENT."""
    c = connect(m, "submission")
    assert c.cmd("AUTH PLAIN " + plain(PATIENT, PASSWORDS[PATIENT]))[0] == 235
    assert c.cmd("QUIT")[0] == 221
    ended(m, c)
    return int(sessions_of(m, "submission")[-1])


def tls_lines(m):
    return [l for l in m.log("smtpd").splitlines() if "event=smtp.tls " in l]


def session_pid(m, sid, wait=10):
    """The pid that logged the end of session sid (its session process once logged in)."""
    deadline = time.monotonic() + wait
    while sid not in disconnects(m) and time.monotonic() < deadline:
        time.sleep(0.02)
    return disconnects(m)[sid]


def sessions_of(m, listener="submissions"):
    """The session process of each connection of listener, in order."""
    return [session_pid(m, sid) for _, sid, lst in connects(m) if lst == listener]


def test_one_prelogin_process_and_the_accounts_own_session_process(sub):
    m = sub
    m.start("smtpd")
    for _ in range(3):
        one_connection(m)
    assert inbox_count(m, PATIENT) == 3
    pres = {pid for pid, _, listener in connects(m) if listener == "submissions"}
    sessions = sessions_of(m)
    assert len(pres) == 1 and len(set(sessions)) == 1, (pres, sessions)  # both reused
    assert sessions[0] not in pres
    # max_use (3): both ended after their third connection; the next ones are new
    assert gone(int(sessions[0])) and gone(int(next(iter(pres))))
    one_connection(m)
    mine = sessions_of(m)[-1]
    assert mine != sessions[0]
    # another account: another session process, even through the same pre-login one
    c = external(m, cert="pro2")
    assert c.cmd("QUIT")[0] == 221
    ended(m, c)
    assert connects(m)[-1][0] == connects(m)[-2][0]
    assert sessions_of(m)[-1] != mine and not gone(int(mine), wait=0)
    # and the account's own again: its idle session process
    one_connection(m, None)
    assert sessions_of(m)[-1] == mine


def test_password_logins_are_verified_at_every_connection(sub):
    m = sub
    m.start("smtpd")
    c = connect(m, "submission")
    assert c.cmd("AUTH PLAIN " + plain(PATIENT, PASSWORDS[PATIENT]))[0] == 235
    assert c.cmd("QUIT")[0] == 221
    ended(m, c)
    mine = session_pid(m, connects(m)[-1][1])
    c = connect(m, "submission")  # the same hint: the account's own session process
    assert c.cmd("AUTH PLAIN " + plain(PATIENT, "not-the-password"))[0] == 535
    assert c.cmd("AUTH PLAIN " + plain(PATIENT, PASSWORDS[PATIENT]))[0] == 235
    assert c.cmd("QUIT")[0] == 221
    ended(m, c)
    assert session_pid(m, connects(m)[-1][1]) == mine
    m.ctl("account", "disable", PATIENT)  # between two connections: refused at the next
    c = connect(m, "submission")
    assert c.cmd("AUTH PLAIN " + plain(PATIENT, PASSWORDS[PATIENT]))[0] == 535
    c.close()


def test_a_session_process_never_logs_in_a_second_account(sub, pki):
    """The master's choice is a hint: the certificate's fingerprint. Moved to another
    account between two connections, it leads the next connection to the session
    process of the first account, which refuses it (421 4.3.2), logs it and ends; the
    client's next try gets a fresh one."""
    m = sub
    m.start("smtpd")
    one_connection(m)
    first = sessions_of(m)[-1]
    m.ctl("account", "set-cert", PRO, "--cert-sha256", "0" * 64)
    m.ctl("account", "set-cert", PRO2, "--cert-sha256", cert_sha256(pki / "pro.crt"))
    c = RawSmtp(m.port("submissions"), implicit_tls=True, ctx=m.client_context("pro"))
    code, text = c.reply()  # instead of the greeting
    assert (code, text[0][:5]) == (421, "4.3.2"), text
    c.close()
    assert gone(int(first))
    refused = [l for l in m.log("smtpd").splitlines() if "event=smtp.session_refused" in l]
    assert len(refused) == 1 and f"mss-smtpd[{first}]" in refused[0], refused
    one_connection(m, PRO2)
    assert sessions_of(m)[-1] != first


def log_events(m, name):
    return [l for l in m.log("smtpd").splitlines() if f"event={name} " in l]


def test_a_certificate_and_another_accounts_password_succeed_every_time(sub):
    """The hint is the connection's first certificate or SASL user; the account is the
    login's. A client presenting a professional's certificate that logs in with the
    patient's password makes its session process the patient's under the certificate's
    hint: the next connection with that certificate would be led to it and refused
    (421 4.3.2, one connection in two for ever). Such a session process is kept for no
    one: it ends after its connection (smtp.session_not_kept)."""
    m = sub
    m.start("smtpd")
    for _ in range(3):
        c = connect(m, "submissions", cert="pro")  # a 421 4.3.2 greeting before the fix
        code, text = c.cmd("AUTH PLAIN " + plain(PATIENT, PASSWORDS[PATIENT]))
        assert code == 235, text
        assert c.cmd(f"MAIL FROM:<{PATIENT}>")[0] == 250
        assert c.cmd("QUIT")[0] == 221
        ended(m, c)
    sessions = sessions_of(m)
    assert len(set(sessions)) == 3 and all(gone(int(p)) for p in sessions), sessions
    assert not log_events(m, "smtp.session_refused")
    ends = log_events(m, "smtp.session_not_kept")
    assert len(ends) == 3 and all(f"mss-smtpd[{p}]" in l for p, l in zip(sessions, ends)), ends
    assert PATIENT not in "".join(ends) and PASSWORDS[PATIENT] not in m.log("smtpd")
    # the certificate's own account still gets its kept session process
    for _ in range(2):
        one_connection(m, None)
    assert sessions_of(m)[-1] == sessions_of(m)[-2] and sessions_of(m)[-1] not in sessions
    assert len(log_events(m, "smtp.session_not_kept")) == 3


def test_a_token_without_user_is_kept_for_no_one(sub):
    """OAUTHBEARER without a user (no a=): the SASL user is empty and names no account;
    the token's claim does. Two professionals in a row, each with such a token, both log
    in (f4c488c led the second to the first's session process, which refused it: 454
    4.7.0). The master keeps no process under an empty hint (7b2a2ce), and the session
    process, whose first request named no user, ends after its connection too."""
    m = sub
    issuer = Issuer(m.root)
    m.set(**issuer.settings())
    m.start("smtpd")
    for who in (PRO, PRO2, PRO):
        s = Sasl(m, "submissions")
        assert s.start("OAUTHBEARER", oauthbearer("", issuer.token(who))) == "ok", s.text
        assert s.c.cmd(f"MAIL FROM:<{who}>")[0] == 250
        assert s.c.cmd("QUIT")[0] == 221
        ended(m, s.c)
    sessions = sessions_of(m)
    assert len(set(sessions)) == 3 and all(gone(int(p)) for p in sessions), sessions
    assert not log_events(m, "smtp.session_refused")


def test_a_blocked_professional_is_refused_at_the_next_connection(sub):
    m = sub
    m.start("smtpd")
    one_connection(m)
    mine = sessions_of(m)[-1]
    m.ctl("access", "block", PATIENT, PRO)
    c = external(m)
    assert c.cmd(f"MAIL FROM:<{PRO}>")[0] == 250
    assert c.cmd(f"RCPT TO:<{PATIENT}>")[0] >= 500
    assert c.cmd("QUIT")[0] == 221
    ended(m, c)
    assert sessions_of(m)[-1] == mine and inbox_count(m, PATIENT) == 1


def test_idle_account_session_process_ends_after_idle_time(sub):
    m = sub
    m.set(smtp_session_idle_time=1)
    m.start("smtpd")
    one_connection(m, None)
    assert gone(int(sessions_of(m)[-1]), wait=5)


def test_idle_account_session_processes_past_the_limit_and_at_sighup(sub):
    m = sub
    m.set(submission_idle_sessions=1)
    m.start("smtpd")
    for cert in ("pro", "pro2"):
        c = external(m, cert=cert)
        assert c.cmd("QUIT")[0] == 221
        ended(m, c)
    first, second = sessions_of(m)
    assert first != second
    assert gone(int(second))  # a second idle one is past submission_idle_sessions
    assert not gone(int(first), wait=0)
    os.kill(m.procs["smtpd"].pid, signal.SIGHUP)
    assert gone(int(first))  # retired with what it was forked with
    one_connection(m, None)
    assert sessions_of(m)[-1] not in (first, second)


def test_fresh_session_process_per_connection_with_idle_sessions_0(sub):
    m = sub
    m.set(submission_idle_sessions=0)
    m.start("smtpd")
    for _ in range(3):
        one_connection(m)
    assert inbox_count(m, PATIENT) == 3
    seen = [(pid, sid) for pid, sid, listener in connects(m) if listener == "submissions"]
    assert len(seen) == 3 and len({pid for pid, _ in seen}) == 1, seen  # one pre-login process
    sessions = [session_pid(m, sid) for _, sid in seen]
    assert len(set(sessions)) == 3, sessions  # a session process per connection
    assert seen[0][0] not in sessions
    assert all(gone(int(p)) for p in sessions)
    # max_use: the pre-login process ended after its third; the next one is new
    assert gone(int(seen[0][0]))
    c = external(m)
    assert send(c, PRO, PATIENT)[-1][0] == 250
    assert connects(m)[-1][0] != seen[0][0]
    c.close()


def test_next_connection_sees_nothing_of_the_previous(sub):
    m = sub
    m.start("smtpd")
    first = external(m, "submission")
    assert first.cmd(f"MAIL FROM:<{PRO}>")[0] == 250
    assert first.cmd(f"RCPT TO:<{PATIENT}>")[0] == 250
    # bytes the pre-login process relays but nobody answers yet: a pipelined command and
    # half of the next line, then the client is gone mid-transaction
    first.send(b"NOOP\r\nMAIL FROM:<" + PRO.encode())
    p1, s1, _ = connects(m)[-1]
    ended(m, first)
    # same pre-login process, no certificate, no STARTTLS yet: nothing of the first
    second = RawSmtp(m.port("submission"))
    assert second.reply()[0] == 220
    code, lines = second.cmd("EHLO client.test")  # a leftover half line would break it
    assert code == 250, lines
    assert not any("EXTERNAL" in l for l in lines), lines
    p2, s2, _ = connects(m)[-1]
    assert p1 == p2 and s1 != s2
    code, text = second.cmd(f"MAIL FROM:<{PRO}>")
    assert (code, text[0][:5]) == (530, "5.7.0"), text  # not logged in
    code, text = second.cmd(f"RCPT TO:<{PATIENT}>")
    assert code in (503, 530), text
    second.starttls(m.client_context(None))
    code, lines = second.cmd("EHLO client.test")
    assert not any("EXTERNAL" in l for l in lines), lines  # no certificate kept
    code, text = second.cmd("AUTH EXTERNAL =")
    assert code == 504, text
    tls = [l for l in m.log("smtpd").splitlines() if "event=smtp.tls " in l and f"session={s2}" in l]
    assert tls and "client_cert=none" in tls[0], tls
    assert second.cmd("QUIT")[0] == 221
    ended(m, second, s2)
    assert inbox_count(m, PATIENT) == 0
    # the pre-login process still logs the next one in, with its own session process
    third = external(m, "submission")
    assert connects(m)[-1][0] == p1
    assert send(third, PRO, PATIENT)[-1][0] == 250
    assert third.cmd("QUIT")[0] == 221
    ended(m, third)
    # the account's own session process, which forgot the first connection's transaction
    assert session_pid(m, connects(m)[-1][1]) == session_pid(m, s1)
    assert inbox_count(m, PATIENT) == 1


def test_certificate_revoked_between_connections_is_refused(sub, pki):
    m = sub
    m.add_account(LATE, "professional", cert=pki / "late.crt")
    m.start("smtpd")
    c = external(m, cert="late")
    assert send(c, LATE, PATIENT)[-1][0] == 250
    assert c.cmd("QUIT")[0] == 221
    ended(m, c)
    before = connects(m)[-1][0]
    session = session_pid(m, connects(m)[-1][1])
    tmp = m.crl.with_name("crl.new")
    shutil.copyfile(pki / "crl-next.pem", tmp)
    # revokes "late", no SIGHUP, no wait: the master stats the file before it accepts
    # the next connection (smtpd.c tick), retires the idle pre-login process, and the
    # new one reads the file as it starts (privsep_prelogin_begin)
    os.replace(tmp, m.crl)
    with pytest.raises((OSError, EOFError, AssertionError)):
        c = external(m, cert="late")
        send(c, LATE, PATIENT)
    deadline = time.monotonic() + 30  # the server logs the failure after its alert
    while 'error="certificate revoked"' not in tls_lines(m)[-1] and time.monotonic() < deadline:
        time.sleep(0.05)
    last = tls_lines(m)[-1]
    assert "result=failed" in last and 'error="certificate revoked"' in last, last
    assert f"mss-smtpd[{before}]" not in last, last  # refused by a new process, not the retired one
    c = external(m)  # another certificate still logs in, through a new process
    assert connects(m)[-1][0] != before
    assert send(c, PRO, PATIENT)[-1][0] == 250
    c.close()
    assert gone(int(before)) and gone(int(session))  # both retired at the CRL change
    assert inbox_count(m, PATIENT) == 2


def test_kill_prelogin_mid_session_loses_no_acknowledged_message(sub):
    m = sub
    m.start("smtpd")
    c = external(m)
    assert send(c, PRO, PATIENT)[-1][0] == 250  # acknowledged
    ended(m, c)
    first = session_pid(m, connects(m)[-1][1])
    c = external(m)  # the same pre-login process and session process (one account)
    pre = connects(m)[-1][0]
    assert send(c, PRO, PATIENT)[-1][0] == 250  # acknowledged
    assert c.cmd(f"MAIL FROM:<{PRO}>")[0] == 250
    assert c.cmd(f"RCPT TO:<{PATIENT}>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: half\r\n\r\nnot finished")
    sid = connects(m)[-1][1]
    os.kill(int(pre), signal.SIGKILL)
    with pytest.raises((OSError, EOFError, AssertionError)):
        c.send(b"\r\n.\r\n")
        assert c.reply()[0] == 250
    assert gone(int(pre))
    # its session process ended the connection with the relay (and may serve the
    # account again: it verified everything itself)
    assert session_pid(m, sid) == first
    assert inbox_count(m, PATIENT) == 2
    c = external(m)  # the daemon goes on, with a new pre-login process
    assert connects(m)[-1][0] != pre
    assert send(c, PRO, PATIENT)[-1][0] == 250
    c.close()
    assert inbox_count(m, PATIENT) == 3


def test_kill_reused_session_process_mid_transaction_loses_no_acknowledged_message(sub):
    m = sub
    m.start("smtpd")
    c = external(m)
    assert send(c, PRO, PATIENT)[-1][0] == 250  # acknowledged
    ended(m, c)
    mine = sessions_of(m)[-1]
    c = external(m)  # the account's own session process again
    assert send(c, PRO, PATIENT)[-1][0] == 250  # acknowledged
    assert c.cmd(f"MAIL FROM:<{PRO}>")[0] == 250
    assert c.cmd(f"RCPT TO:<{PATIENT}>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: half\r\n\r\nnot finished")
    os.kill(int(mine), signal.SIGKILL)
    with pytest.raises((OSError, EOFError, AssertionError)):
        c.send(b"\r\n.\r\n")
        assert c.reply()[0] == 250
    assert gone(int(mine))
    assert inbox_count(m, PATIENT) == 2
    c = external(m)  # the daemon goes on, with a new session process
    assert send(c, PRO, PATIENT)[-1][0] == 250
    assert c.cmd("QUIT")[0] == 221
    ended(m, c)
    assert session_pid(m, connects(m)[-1][1]) != mine
    assert inbox_count(m, PATIENT) == 3


def status(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.split(":\t", 1) for line in f.read().splitlines() if ":\t" in line)


@contextlib.contextmanager
def gdb_holding_sigchld(master, then=()):
    """gdb attached to the master, discarding its SIGCHLD (so that it reaps only when
    told) and stopping it at a SIGWINCH, after which the gdb commands then run, and it
    detaches at the next SIGWINCH (or the one after then's continue). Yields gdb once
    attached and the master running again; gdb ends with the block."""
    cmds = ["handle SIGCHLD nostop noprint nopass", "handle SIGWINCH stop print nopass", "continue",
            *then, "detach"]
    gdb = subprocess.Popen(["gdb", "-nx", "-batch", "-p", str(master)] + [a for c in cmds for a in ("-ex", c)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (status(master).get("TracerPid", "0") != "0" and status(master)["State"][:1] == "S"):
            assert time.monotonic() < deadline and gdb.poll() is None, "gdb did not attach"
            time.sleep(0.1)
        time.sleep(0.3)
        yield gdb
    finally:
        if gdb.poll() is None:
            gdb.kill()
            gdb.wait()


@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb holds the master's SIGCHLD back")
def test_session_process_reaped_late_leaves_its_pre_login_process_next_peer_alone(sub):
    """A reused pre-login process goes on to its next peer once the relay to its session
    process closes. That session process killed (kill -9) mid-transaction, and its
    death reaped by the master only once the pre-login process serves the next peer
    (under load, the master reads the pre-login process's "done" and accepts before it
    reaps): the master must not end the pre-login process then, nor the next peer's
    connection with it (lib/master.c session_ended; a CI run lost one so under the
    sanitizers). Not left to chance: gdb discards the master's SIGCHLD until the next
    peer is in, then one SIGCHLD makes it reap."""
    m = sub
    m.start("smtpd")
    one_connection(m)
    pre = connects(m)[-1][0]
    mine = int(sessions_of(m)[-1])
    c = external(m)
    assert c.cmd(f"MAIL FROM:<{PRO}>")[0] == 250
    master = m.procs["smtpd"].pid
    with gdb_holding_sigchld(master) as gdb:
        os.kill(mine, signal.SIGKILL)
        with pytest.raises((OSError, EOFError, AssertionError)):
            assert c.cmd(f"RCPT TO:<{PATIENT}>")[0] == 250
        deadline = time.monotonic() + 10
        while not waiting(int(pre)) and time.monotonic() < deadline:
            time.sleep(0.02)  # it saw the relay close and told the master
        assert waiting(int(pre))
        nxt = external(m)
        assert connects(m)[-1][0] == pre, "the next peer reaches the same pre-login process"
        os.kill(master, signal.SIGWINCH)  # gdb lets go
        out = gdb.communicate(timeout=60)[0]
    assert "SIGWINCH" in out, out
    assert os.path.exists(f"/proc/{mine}"), "reaped too early: the case is not made"
    os.kill(master, signal.SIGCHLD)
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{mine}") and time.monotonic() < deadline:
        time.sleep(0.02)  # reaped: the master has decided about the pre-login process
    assert not os.path.exists(f"/proc/{mine}")
    assert send(nxt, PRO, PATIENT)[-1][0] == 250
    assert nxt.cmd("QUIT")[0] == 221
    ended(m, nxt)
    assert inbox_count(m, PATIENT) == 2


def test_idle_session_process_killed_right_before_its_accounts_request(sub):
    """An idle session process killed (kill -9) while its account's next connection's
    request for it already waits in the master's socket (the master stopped meanwhile):
    the master hears of the death first (SIGCHLD interrupts its poll and it reaps
    before it reads any request; the socket's hang-up too), so the connection gets a
    fresh session process, not a temporary failure. (The other order: the next test.)"""
    m = sub
    m.start("smtpd")
    mine = str(patient_once(m))
    c = connect(m, "submission")  # its pre-login process has not asked yet
    master = m.procs["smtpd"].pid
    os.kill(master, signal.SIGSTOP)
    try:
        os.kill(int(mine), signal.SIGKILL)
        assert gone(int(mine))  # a zombie: its socket to the master is closed
        c.send(("AUTH PLAIN " + plain(PATIENT, PASSWORDS[PATIENT]) + "\r\n").encode())
        time.sleep(0.5)  # the request waits in the master's socket
    finally:
        os.kill(master, signal.SIGCONT)
    code, text = c.reply()
    assert code == 235, text
    assert c.cmd(f"MAIL FROM:<{PATIENT}>")[0] == 250
    assert c.cmd("QUIT")[0] == 221
    ended(m, c)
    assert sessions_of(m, "submission")[-1] != mine


@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb holds the master's SIGCHLD back")
def test_idle_session_process_found_dead_before_its_death_is_reaped(sub, tmp_path):
    """The other order of the case above: the master reads the request in the same round
    as the dead idle session process's hang-up, before it reaps it (under load, its
    SIGCHLD comes while it works, not in its poll). It must not hand the request to the
    dead process (which answered none: 454 4.7.0, a CI flake) but see it gone and fork a
    fresh one (master_pool.c idle_account). Not left to chance: gdb stops the master and
    discards its SIGCHLD while the process dies and the request comes."""
    m = sub
    m.start("smtpd")
    mine = patient_once(m)
    c = connect(m, "submission")  # its pre-login process has not asked yet
    master = m.procs["smtpd"].pid
    flag = tmp_path / "go"
    try:
        with gdb_holding_sigchld(master, then=(f"shell while [ ! -e {flag} ]; do sleep 0.05; done",
                                               "continue")) as gdb:
            os.kill(master, signal.SIGWINCH)  # gdb stops it
            deadline = time.monotonic() + 60
            while status(master)["State"][:1] != "t":
                assert time.monotonic() < deadline and gdb.poll() is None, "gdb did not stop the master"
                time.sleep(0.02)
            os.kill(mine, signal.SIGKILL)
            assert gone(mine)  # a zombie: its socket to the master is closed
            c.send(("AUTH PLAIN " + plain(PATIENT, PASSWORDS[PATIENT]) + "\r\n").encode())
            time.sleep(0.5)  # the request waits in the master's socket
            flag.touch()  # gdb lets it run: one round reads both
            code, text = c.reply()
            os.kill(master, signal.SIGWINCH)  # gdb lets go
            out = gdb.communicate(timeout=60)[0]
    finally:
        flag.touch()  # gdb's shell loop ends whatever happened
    assert out.count("SIGWINCH") >= 2, out
    os.kill(master, signal.SIGCHLD)  # reaps it now
    assert code == 235, text
    assert c.cmd(f"MAIL FROM:<{PATIENT}>")[0] == 250
    assert c.cmd("QUIT")[0] == 221
    ended(m, c)
    assert int(sessions_of(m, "submission")[-1]) != mine


def test_idle_prelogin_process_holds_no_place(sub):
    m = sub
    m.set(max_sessions_per_ip=1)
    m.start("smtpd")
    c = external(m)
    third = RawSmtp(m.port("submission"))
    assert third.reply()[0] == 421  # the limit holds while the session runs
    third.close()
    assert c.cmd("QUIT")[0] == 221
    ended(m, c)
    pre = connects(m)[-1][0]
    c = external(m)  # the idle pre-login process does not count against the one place
    assert connects(m)[-1][0] == pre
    assert c.cmd("QUIT")[0] == 221
    ended(m, c)
    # before its first authentication request (no session process yet) the pre-login
    # process holds the connection's place itself
    c = RawSmtp(m.port("submission"))
    assert c.reply()[0] == 220
    assert c.cmd("EHLO client.test")[0] == 250
    third = RawSmtp(m.port("submission"))
    assert third.reply()[0] == 421
    third.close()
    assert c.cmd("QUIT")[0] == 221
    ended(m, c)


def test_idle_prelogin_process_ends_after_idle_time(sub):
    m = sub
    m.set(smtp_session_idle_time=1)
    m.start("smtpd")
    one_connection(m, None)
    pre = connects(m)[-1][0]
    assert gone(int(pre), wait=5)


def test_max_use_one_forks_a_pair_per_connection(sub):
    m = sub
    m.set(smtp_session_max_use=1)
    m.start("smtpd")
    for _ in range(2):
        one_connection(m, None)
    pres = [pid for pid, _, listener in connects(m) if listener == "submissions"]
    assert len(pres) == 2 and pres[0] != pres[1]


@pytest.mark.skipif(os.geteuid() != 0, reason="reads another user's memory")
def test_idle_prelogin_process_holds_nothing_of_the_last_peer(sub):
    """What crossed the pre-login process (the password and its SASL token, the client
    name, the message relayed after login) is not in its memory once it waits for the
    next connection: its buffers and session state are wiped, not just freed."""
    m = sub
    m.start("smtpd")
    helo = "leftover-7d3f9a.client.test"
    body = "marker-5be1c0-of-the-last-message"
    c = connect(m, "submission", cert="pro", ehlo=False)  # a password and its certificate
    assert c.cmd(f"EHLO {helo}")[0] == 250
    token = plain(PRO, PASSWORDS[PRO])
    assert c.cmd("AUTH PLAIN " + token)[0] == 235
    msg = f"From: {PRO}\r\nTo: {PATIENT}\r\nSubject: {body}\r\n\r\n{body}\r\n".encode()
    assert send(c, PRO, PATIENT, msg)[-1][0] == 250
    assert c.cmd("QUIT")[0] == 221
    ended(m, c)
    pre = int(connects(m)[-1][0])
    needles = [PASSWORDS[PRO].encode(), token.encode(), helo.encode(), body.encode()]
    assert memory_holds(pre, needles) == set()


@pytest.mark.skipif(os.geteuid() != 0, reason="reads another user's memory")
@pytest.mark.parametrize("how", ["password", "certificate"])
def test_idle_prelogin_process_holds_no_hint_of_the_last_peer(sub, pki, how):
    """The hint the pre-login process named to the master for its session process (the
    SASL user: a patient's address; or the certificate's fingerprint) is not in its
    memory once it waits for the next peer, whoever that is."""
    m = sub
    m.start("smtpd")
    if how == "password":
        c = connect(m, "submission")
        assert c.cmd("AUTH PLAIN " + plain(PATIENT, PASSWORDS[PATIENT]))[0] == 235
        hint = "u:" + PATIENT
    else:
        c = external(m)
        hint = "c:" + cert_sha256(pki / "pro.crt")
    assert c.cmd("QUIT")[0] == 221
    ended(m, c)
    pre = int(connects(m)[-1][0])
    assert memory_holds(pre, [hint.encode()]) == set()


@pytest.mark.skipif(os.geteuid() != 0, reason="reads another user's memory")
def test_a_process_forked_later_holds_no_hint_of_other_accounts(sub):
    """The master keeps, for each idle session process, the hint it hands it out under
    (the SASL user: a patient's address). A pre-login process it forks afterwards, for
    anyone, and another account's session process do not hold that table: what the
    master knows of other connections goes in every process it forks."""
    m = sub
    m.start("smtpd")
    patient_once(m)  # her session process idles under the hint u:PATIENT
    first = connects(m)[-1][0]
    busy = connect(m, "submission")  # holds the idle pre-login process
    other = external(m)  # so this one is forked now, and its session process too
    pre = connects(m)[-1][0]
    assert pre not in (first, connects(m)[-2][0]), connects(m)
    assert send(other, PRO, PATIENT)[-1][0] == 250
    assert other.cmd("QUIT")[0] == 221
    sid = connects(m)[-1][1]
    ended(m, other, session=sid)
    hint = ("u:" + PATIENT).encode()
    for pid in (int(pre), int(session_pid(m, sid))):  # the professional's session process
        assert memory_holds(pid, [hint]) == set(), pid
    busy.close()


@pytest.mark.parametrize("action", ["disable", "delete", "passwd"])
def test_an_account_disabled_deleted_or_reset_sends_nothing_more(sub, action):
    """mssctl account disable|delete|passwd with a submission connection of the account
    open on its reused session process: that connection's next MAIL is refused (the
    sender's account is read again at every MAIL: disabled, gone, or a password other
    than the one it logged in with), and the next connection's login with the old
    credentials too, though the same session process is handed out."""
    m = sub
    m.start("smtpd")
    c = login(m, PATIENT)
    assert c.cmd("QUIT")[0] == 221
    ended(m, c)
    mine = session_pid(m, connects(m)[-1][1])
    c = login(m, PATIENT)  # on the account's idle session process
    assert c.cmd(f"MAIL FROM:<{PATIENT}>")[0] == 250 and c.cmd("RSET")[0] == 250
    args = ("--password-stdin",) if action == "passwd" else ()
    m.ctl("account", action, PATIENT, *args, input="a-new-password-1234\n")
    code, text = c.cmd(f"MAIL FROM:<{PATIENT}>")
    assert (code, text[0]) == (550, "5.7.1 your password was changed since this login: log in again"
                               if action == "passwd" else "5.7.1 your account is disabled: it cannot send"), text
    assert c.cmd("QUIT")[0] == 221
    ended(m, c)
    assert session_pid(m, connects(m)[-1][1]) == mine
    c = connect(m, "submission")
    assert c.cmd("AUTH PLAIN " + plain(PATIENT, PASSWORDS[PATIENT]))[0] == 535
    c.close()


def test_a_new_password_leaves_a_certificate_connection_sending(sub):
    """A reset ends what the old password opened, not a certificate's (EXTERNAL) login."""
    m = sub
    m.start("smtpd")
    c = external(m)
    m.ctl("account", "passwd", PRO, "--password-stdin", input="a-new-password-1234\n")
    assert send(c, PRO, PATIENT)[-1][0] == 250
    assert c.cmd("QUIT")[0] == 221


OTHER_FINGERPRINT = "ab" * 32  # no certificate of the test PKI


def test_a_new_certificate_ends_what_the_old_one_opened_not_a_password_login(sub):
    """mssctl account set-cert (a lost or stolen certificate replaced): the connection
    that logged in with the certificate (EXTERNAL), on its reused session process,
    sends nothing more from its next MAIL; a patient's password connection is left
    sending by a certificate set on her account (a password login is untouched by a
    certificate change, as a certificate login by a password change, above)."""
    m = sub
    m.start("smtpd")
    c = external(m)
    assert send(c, PRO, PATIENT)[-1][0] == 250
    pat = login(m, PATIENT)
    m.ctl("account", "set-cert", PRO, "--cert-sha256", OTHER_FINGERPRINT)
    m.ctl("account", "set-cert", PATIENT, "--cert-sha256", "cd" * 32)
    code, text = c.cmd(f"MAIL FROM:<{PRO}>")
    assert (code, text[0]) == (550, "5.7.1 your account's certificate was changed since this login: "
                                    "log in again"), text
    assert c.cmd("QUIT")[0] == 221
    code, _ = pat.cmd(f"MAIL FROM:<{PATIENT}>")
    assert code == 250
    assert pat.cmd("QUIT")[0] == 221


def test_reused_prelogin_keeps_its_tls_agent_channel(sub):
    """The submission pre-login process, reused alone, has one TLS key agent channel for
    its life too (made when the master forks it); the account's session process holds
    none."""
    from test_smtp_reuse import agent_ends
    m = sub
    m.start("smtpd")
    seen = []
    for _ in range(2):
        c = external(m)
        pre, sid, _ = connects(m)[-1]
        seen.append((pre, agent_ends(m, pre)))
        assert c.cmd("QUIT")[0] == 221
        ended(m, c)
        assert not agent_ends(m, session_pid(m, sid))
    (pre1, chan1), (pre2, chan2) = seen
    assert pre1 == pre2
    assert len(chan1) == 1 and chan1 == chan2, seen


def test_account_session_process_keeps_its_account_key_channel(sub):
    """A session process for one account has its account key agent channel for its life,
    made when the master forks it (named in master.reused), of which each connection's
    store gets a copy: the agent adds and ends no channel per connection, and the channel
    is bound to that account as the process is. Its pre-login process holds none."""
    from test_smtp_reuse import agent_ends
    m = sub
    m.start("smtpd")
    seen = []
    for _ in range(2):
        c = external(m)
        assert send(c, PRO, PATIENT)[-1][0] == 250
        pre, sid, _ = connects(m)[-1]
        assert c.cmd("QUIT")[0] == 221
        ended(m, c)
        session = session_pid(m, sid)
        seen.append((session, agent_ends(m, session, "mss-keyagent")))
        assert not agent_ends(m, pre, "mss-keyagent")
    (s1, chan1), (s2, chan2) = seen
    assert s1 == s2
    assert len(chan1) == 1 and chan1 == chan2, seen
    assert re.search(rf"event=master\.reused pid={s1} keys_channel=\w+", m.log("smtpd"))


def test_account_session_process_after_key_agent_restart(sub):
    """The account key agent killed and started again: the idle session process whose
    channel died with it is handed no more connections (the master sees the agent's end
    gone); the account's next connection gets a new one, which delivers."""
    from test_helper_restart import kill9_and_see_it_back
    m = sub
    m.start("smtpd")
    one_connection(m)
    first = sessions_of(m)[-1]
    kill9_and_see_it_back(m, "smtpd", "mss-keyagent", "account-key-agent")
    one_connection(m)
    assert sessions_of(m)[-1] != first
    assert gone(int(first))
    assert inbox_count(m, PATIENT) == 2
