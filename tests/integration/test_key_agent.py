"""The account key agent (issue 12, store/store_agent.h): wrapped account keys are
bound to their account (AEAD, the address as associated data), so two accounts'
wrapped keys swapped in the database unwrap for neither: each login still works, but
reading mail fails with a clear refusal instead of showing the other account's; the
daemon serves the next client. And a store from before the bound wraps is refused by
the daemons until mssctl migrate rewrites them."""
import imaplib
import re
import smtplib

import pytest

from conftest import PASSWORDS, PATIENT, PATIENT2, PRO
from test_smtp_mx import deliver as mx_deliver, mx  # noqa: F401  (the mx fixture)


def swap_wrapped_keys(m, a, b):
    wa = m.sql("SELECT wrapped_key FROM store_users WHERE address = ?", a)[0][0]
    wb = m.sql("SELECT wrapped_key FROM store_users WHERE address = ?", b)[0][0]
    m.sql("UPDATE store_users SET wrapped_key = ? WHERE address = ?", wb, a)
    m.sql("UPDATE store_users SET wrapped_key = ? WHERE address = ?", wa, b)


def deliver(m, rcpt, subject):
    s = smtplib.SMTP("127.0.0.1", m.port("submission"), timeout=20)
    s.starttls(context=m.client_context("pro"))
    s.ehlo()
    assert s.docmd("AUTH", "EXTERNAL =")[0] == 235
    s.sendmail(PRO, [rcpt], f"Subject: {subject}\r\n\r\nbody of {subject}\r\n".encode())
    s.quit()


def test_swapped_wrapped_keys_read_nothing(mss):
    m = mss
    m.start("smtpd")
    m.start("imapd")
    deliver(m, PATIENT, "for-patient-one")
    deliver(m, PATIENT2, "for-patient-two")
    swap_wrapped_keys(m, PATIENT, PATIENT2)
    for who, other in ((PATIENT, "for-patient-two"), (PATIENT2, "for-patient-one")):
        c = imaplib.IMAP4_SSL("127.0.0.1", m.port("imaps"), ssl_context=m.client_context(None),
                              timeout=20)
        assert c.login(who, PASSWORDS[who])[0] == "OK"
        typ, _ = c.select("INBOX")
        assert typ == "OK"
        typ, data = c.fetch("*", "(BODY.PEEK[])")
        assert typ == "NO", data
        assert b"for-patient" not in b"".join(x if isinstance(x, bytes) else b"".join(x) for x in data)
        c.logout()
    log = m.log("imapd")
    assert "event=keyagent.unwrap_failed" in log
    # the daemon and the agent go on: put back, the same accounts read their own mail
    swap_wrapped_keys(m, PATIENT, PATIENT2)
    c = imaplib.IMAP4_SSL("127.0.0.1", m.port("imaps"), ssl_context=m.client_context(None), timeout=20)
    assert c.login(PATIENT, PASSWORDS[PATIENT])[0] == "OK"
    c.select("INBOX")
    typ, data = c.fetch("*", "(BODY.PEEK[])")
    assert typ == "OK" and b"for-patient-one" in data[0][1]
    c.logout()


@pytest.mark.sqlite_only
def test_migrate_binds_old_wraps(mss):
    """An older MSS's store (schema 9, account keys wrapped in the first format, bound
    to no account): the daemons refuse it naming mssctl migrate; migrate rewrites
    every wrap for its account, and the same mail reads as before."""
    from atrest_helpers import UNDO_STORE_STEPS_AFTER_11, account_key, blobs_to_files, wrap_first_format
    m = mss
    m.start("smtpd")
    deliver(m, PATIENT, "before-migrate")
    m.stop("smtpd")
    # back to the first format: the account key unwrapped, wrapped again with secretbox
    users = [uid for (uid,) in m.sql("SELECT id FROM store_users")]
    for uid in users:
        m.sql("UPDATE store_users SET wrapped_key = ? WHERE id = ?",
              wrap_first_format(m, account_key(m, uid)), uid)
    blobs_to_files(m)
    for stmt in UNDO_STORE_STEPS_AFTER_11:  # the steps later than such a store
        m.sql(stmt)
    m.sql("DROP TABLE urlauth_keys")  # store step 11
    m.sql("UPDATE schema_version SET version = 9 WHERE component = 'store'")
    proc = m.start("imapd", wait=False)
    assert proc.wait(timeout=30) == 1
    m.procs.pop("imapd", None)
    # the schema this code wants grows with later steps: the refusal names the store's
    assert re.search(r"\(store 9 < \d+\): run mssctl migrate", m.log("imapd")), m.log("imapd")
    out = m.ctl("migrate").stdout
    assert f"account keys: {len(users)} wrapped for their account" in out, out
    assert all(w.startswith("v2.") for (w,) in m.sql("SELECT wrapped_key FROM store_users"))
    assert m.ctl("migrate").stdout.strip() == "store schema: up to date"
    m.start("imapd")
    c = imaplib.IMAP4_SSL("127.0.0.1", m.port("imaps"), ssl_context=m.client_context(None), timeout=20)
    assert c.login(PATIENT, PASSWORDS[PATIENT])[0] == "OK"
    c.select("INBOX")
    typ, data = c.fetch("*", "(BODY.PEEK[])")
    assert typ == "OK" and b"before-migrate" in data[0][1]
    c.logout()


def agent_channel_fds(m, session, daemon="imapd"):
    """The descriptors of session whose socket's peer is held by daemon's account key
    agent (socket inodes and their peers as ss(8) reports them)."""
    import os
    import subprocess
    from test_privsep import children, comm
    agent = [p for p in children(m.procs[daemon].pid) if comm(p) == "mss-keyagent"][0]
    agent_inodes = {os.readlink(f"/proc/{agent}/fd/{n}")[8:-1] for n in os.listdir(f"/proc/{agent}/fd")}
    peer = {}
    for line in subprocess.run(["ss", "-xaH"], capture_output=True, text=True).stdout.splitlines():
        f = line.split()
        if len(f) >= 8:
            peer[f[5]] = f[7]
    out = []
    for n in os.listdir(f"/proc/{session}/fd"):
        target = os.readlink(f"/proc/{session}/fd/{n}")
        if target.startswith("socket:[") and peer.get(target[8:-1]) in agent_inodes:
            out.append(int(n))
    return out


def test_request_for_a_second_account_closes_the_channel(mss):
    """An imapd session process's channel is bound to the account that logged in: a
    request for another account's key, written on that very channel (taken from the
    session process with pidfd_getfd, as a compromised session would send it, with the
    other account's genuine wrapped key), is refused, logged with the session and both
    accounts and no key material, and the channel closed; the daemon serves the next
    client."""
    import os
    import socket
    import struct
    from test_privsep_layout import connect_prelogin, grab_fd, sockets_of  # noqa: F401
    if os.geteuid() != 0:
        pytest.skip("needs root (privilege separation)")
    m = mss
    m.start("smtpd")
    m.start("imapd")
    deliver(m, PATIENT, "own-mail")
    c, session, _pre = connect_prelogin(m)
    try:
        assert c.login(PATIENT, PASSWORDS[PATIENT])[0] == "OK"
        c.select("INBOX")
        typ, data = c.fetch("*", "(BODY.PEEK[])")  # binds the channel to PATIENT
        assert typ == "OK" and b"own-mail" in data[0][1]
        chans = [socket.socket(fileno=grab_fd(session, fd)) for fd in agent_channel_fds(m, session)]
        assert len(chans) == 1, chans
        wrapped = m.sql("SELECT wrapped_key FROM store_users WHERE address = ?", PATIENT2)[0][0]
        # struct keyagent_msg: magic "MSSK", version 2, ASK, ok, pad, account, wrapped, key
        msg = (struct.pack("<IHHII", 0x4b53534d, 2, 1, 0, 0) + PATIENT2.encode().ljust(256, b"\0")
               + wrapped.encode().ljust(156, b"\0") + bytes(32))
        chans[0].send(msg)
        chans[0].settimeout(10)
        assert chans[0].recv(1024) == b""  # closed, no key
        chans[0].close()
        log = m.log("imapd")
        sid = re.search(r"event=imap\.connect session=(\w+)", log).group(1)
        assert (f"event=keyagent.refused session={sid} kind=bound bound={PATIENT} asked={PATIENT2} "
                in log), log[-2000:]
    finally:
        try:
            c.logout()
        except Exception:
            pass
    c2 = imaplib.IMAP4_SSL("127.0.0.1", m.port("imaps"), ssl_context=m.client_context(None), timeout=20)
    assert c2.login(PATIENT2, PASSWORDS[PATIENT2])[0] == "OK"
    c2.logout()


def forged_ask(account, wrapped):
    """struct keyagent_msg: magic "MSSK", version 2, ASK, ok, pad, account, wrapped, key."""
    import struct
    return (struct.pack("<IHHII", 0x4b53534d, 2, 1, 0, 0) + account.encode().ljust(256, b"\0")
            + wrapped.encode().ljust(156, b"\0") + bytes(32))


def test_mx_session_channel_has_no_account_key(mx):  # noqa: F811
    """An mss-smtpd MX session's channel may have no account key at all: delivery and
    filing (a vaccination document included: vault_vacc.h) write to public keys. The
    recipient's genuine wrapped key asked on that very channel, after a delivery to it
    (as a compromised MX session would ask), is refused, logged, and the channel
    closed; the daemon serves the next client."""
    import os
    import socket
    from test_privsep_layout import grab_fd, smtp_prelogin
    if os.geteuid() != 0:
        pytest.skip("needs root (privilege separation)")
    m = mx
    c, session, _pre = smtp_prelogin(m, "smtp", cert="operator")
    try:
        assert c.cmd("EHLO mx.other-operator.test")[0] == 250
        assert mx_deliver(c, "dr.x@other-operator.test", PRO)[0] == 250
        # the process's own channel, and the copy its store holds for this connection
        fds = agent_channel_fds(m, session, "smtpd")
        assert len({os.readlink(f"/proc/{session}/fd/{fd}") for fd in fds}) == 1, fds
        chans = [socket.socket(fileno=grab_fd(session, fds[0]))]
        wrapped = m.sql("SELECT wrapped_key FROM store_users WHERE address = ?", PRO)[0][0]
        chans[0].send(forged_ask(PRO, wrapped))
        chans[0].settimeout(10)
        assert chans[0].recv(1024) == b""  # closed, no key
        chans[0].close()
        log = m.log("smtpd")
        # a reused MX session process's channel is its own, named when it was forked
        sid = re.search(rf"event=master\.reused pid={session} keys_channel=(\w+)", log).group(1)
        assert re.search(rf"event=keyagent\.refused session={sid} kind=mx \S+ asked={PRO} ", log), log[-2000:]
    finally:
        c.close()
    # its channel closed by the agent, that pair is handed no more connections (the
    # master sees the agent's end gone): the next one gets a new pair, which delivers
    import time
    from test_smtp_reuse import waiting
    deadline = time.monotonic() + 10
    while not waiting(session) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # the master has read that the pair is done
    c, session2, _pre = smtp_prelogin(m, "smtp", cert="operator")
    try:
        assert session2 != session
        assert c.cmd("EHLO mx.other-operator.test")[0] == 250
        assert mx_deliver(c, "dr.x@other-operator.test", PRO)[0] == 250
    finally:
        c.close()


def forged_queue_ask(kind):
    """struct keyagent_msg: SERVICE "mssqueue" (3, the old derived key) or QUEUE_SECRET (7)."""
    import struct
    wrapped = b"mssqueue" if kind == 3 else b""
    return (struct.pack("<IHHII", 0x4b53534d, 2, kind, 0, 0) + bytes(256)
            + wrapped.ljust(156, b"\0") + bytes(32))


@pytest.mark.parametrize("kind", [3, 7])
def test_submission_session_cannot_read_the_queue(mx, kind):  # noqa: F811
    """The outbound queue is write-only for a session (issue 12): a submission session
    queues with the queue's public key, but its channel asking for the queue's secret
    key, or the old derived queue key, is refused, logged (asked=queue), and closed."""
    import os
    import socket
    from test_privsep_layout import grab_fd, plain, smtp_prelogin
    if os.geteuid() != 0:
        pytest.skip("needs root (privilege separation)")
    m = mx
    c, session, _pre = smtp_prelogin(m, "submission", cert="pro")
    try:
        assert c.cmd("AUTH PLAIN " + plain(PRO, PASSWORDS[PRO]))[0] == 235
        # the process's own channel, and the copy its store holds for this connection
        fds = agent_channel_fds(m, session, "smtpd")
        assert len({os.readlink(f"/proc/{session}/fd/{fd}") for fd in fds}) == 1, fds
        chans = [socket.socket(fileno=grab_fd(session, fds[0]))]
        chans[0].send(forged_queue_ask(kind))
        chans[0].settimeout(10)
        assert chans[0].recv(1024) == b""  # closed, no key
        chans[0].close()
        log = m.log("smtpd")
        # a session process for one account has its channel for its life, named when it
        # was forked
        sid = re.search(rf"event=master\.reused pid={session} keys_channel=(\w+)", log).group(1)
        assert re.search(rf"event=keyagent\.refused session={sid} kind=bound \S+ asked=queue ", log), log[-2000:]
    finally:
        c.close()
    # its channel closed by the agent, that session process is handed the account's
    # connections no more (the master sees the agent's end gone): the next one gets a
    # new one, which delivers
    import time
    from test_smtp_auth import send
    from test_smtp_protocol import connect
    from test_smtp_reuse import waiting
    deadline = time.monotonic() + 10
    while not waiting(session) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # the master has read that it is done
    c = connect(m, "submission", cert="pro")
    try:
        assert c.cmd("AUTH PLAIN " + plain(PRO, PASSWORDS[PRO]))[0] == 235
        assert send(c, PRO, PATIENT)[-1][0] == 250
    finally:
        c.close()
    sid2 = re.findall(r"event=smtp\.connect session=(\w+)", m.log("smtpd"))[-1]
    pid2 = re.search(rf"mss-smtpd\[(\d+)\] level=info event=smtp\.deliver session={sid2} ", m.log("smtpd")).group(1)
    assert int(pid2) != session
