"""An account that an administrator disables, deletes or gives a new password (mssctl
account disable|delete|passwd) loses its open IMAP sessions at once, as with Dovecot's
`doveadm kick`: a session in IDLE, one waiting between commands and one whose client
sends its next command all get "* BYE" within a few seconds, and the connection
closes. Another account's session goes on; enabling the account again brings none
back. A certificate (EXTERNAL) session ends at a disable, not at a new password.
Sessions over TLS: RawImap (exact lines) and imaplib."""
import imaplib
import re
import time

import pytest

from conftest import PASSWORDS, PATIENT, PATIENT2, PG_BASE, PRO, cert_sha256
from controls_helpers import session
from test_imap_helpers import RawImap

NEW_PASSWORD = "a-brand-new-password"

ACTIONS = {
    "disable": (lambda m, user: m.ctl("account", "disable", user), b"* BYE Account disabled"),
    "delete": (lambda m, user: m.ctl("account", "delete", user), b"* BYE Account deleted"),
    "passwd": (lambda m, user: m.ctl("account", "passwd", user, "--password-stdin",
                                     input=NEW_PASSWORD + "\n"),
               b"* BYE Account password changed"),
}


def idling(m, user, raw=None):
    r = raw or session(m, user)
    _, t = r.cmd("s1", "SELECT INBOX")
    assert t.startswith(b"s1 OK"), t
    r.send(b"i1 IDLE\r\n")
    assert r.readline().startswith(b"+")
    return r


def bye_within(r, start, seconds=5):
    """The lines up to BYE, which must come within seconds of start; then the server
    closes the connection."""
    r.sock.settimeout(seconds)
    got = b""
    while b"* BYE" not in got:
        got += r.readline() + b"\n"  # TimeoutError past the time: the session was not woken
    assert time.monotonic() - start < seconds, got
    assert r.closed(), "the connection stays open after BYE"
    return got


def imaplib_session(m, user):
    c = imaplib.IMAP4_SSL("127.0.0.1", m.port("imaps"), ssl_context=m.client_context(), timeout=15)
    c.login(user, PASSWORDS[user])
    assert c.select("INBOX")[0] == "OK"
    return c


def still_there(r, tag="n1"):
    """r (in IDLE) was left alone: DONE and a NOOP are answered."""
    r.sock.settimeout(5)
    r.send(b"DONE\r\n")
    _, t = r.read_until_tagged("i1")
    assert t.startswith(b"i1 OK"), t
    _, t = r.cmd(tag, "NOOP")
    assert t.startswith(tag.encode() + b" OK"), t


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_the_accounts_sessions_end_at_once(imapd, action):
    m = imapd
    change, bye = ACTIONS[action]
    idle = idling(m, PATIENT)
    between = session(m, PATIENT)  # logged in, waiting for its next command
    client = imaplib_session(m, PATIENT)
    other = idling(m, PATIENT2)
    try:
        start = time.monotonic()
        change(m, PATIENT)
        got = bye_within(idle, start)
        # a deletion also deletes its INBOX, whose own wake may come first
        assert bye in got or (action == "delete" and b"* BYE Selected mailbox was deleted" in got), got
        assert bye in bye_within(between, start)
        with pytest.raises(imaplib.IMAP4.abort):  # its next command: BYE, closed
            client.noop()
        assert time.monotonic() - start < 5
        still_there(other)
        log = m.log("imapd")
        reason = {"disable": "disabled", "delete": "deleted", "passwd": "password"}[action]
        kicked = re.findall(rf"event=imap\.kicked session=\w+ peer=127\.0\.0\.1 user={PATIENT} reason=(\w+)", log)
        assert kicked in ([reason] * 3, [reason] * (2 if action == "delete" else 3)), log
        assert PASSWORDS[PATIENT] not in log and NEW_PASSWORD not in log
    finally:
        for r in (idle, between, other):
            r.close()


def test_enabling_again_revives_no_session(imapd):
    m = imapd
    idle = idling(m, PATIENT)
    try:
        start = time.monotonic()
        m.ctl("account", "disable", PATIENT)
        assert b"* BYE Account disabled" in bye_within(idle, start)
        m.ctl("account", "enable", PATIENT)
        again = idling(m, PATIENT)  # a new login works, and stays
        time.sleep(1)
        still_there(again)
        again.close()
    finally:
        idle.close()


def test_a_certificate_session_ends_at_disable_not_at_a_new_password(imapd):
    m = imapd
    pro = RawImap(m, cert="pro")
    _, t = pro.cmd("L1", "AUTHENTICATE EXTERNAL =")
    assert t.startswith(b"L1 OK"), t
    idling(m, PRO, raw=pro)
    with_password = idling(m, PRO)  # LOGIN with the certificate: password + certificate
    try:
        start = time.monotonic()
        ACTIONS["passwd"][0](m, PRO)
        assert b"* BYE Account password changed" in bye_within(with_password, start)
        time.sleep(1)
        still_there(pro)  # woken at the same moment, and left alone
        pro.send(b"i2 IDLE\r\n")
        assert pro.readline().startswith(b"+")
        start = time.monotonic()
        m.ctl("account", "disable", PRO)
        assert b"* BYE Account disabled" in bye_within(pro, start)
    finally:
        pro.close()
        with_password.close()


def test_a_new_certificate_ends_the_certificate_sessions_not_a_password_one(imapd):
    """mssctl account set-cert (a lost or stolen certificate replaced) ends the sessions
    that logged in with the certificate (EXTERNAL, and LOGIN with it: password +
    certificate) at once; the same fingerprint set again ends nothing, and a patient's
    password session is left alone by a certificate set on her account."""
    m = imapd
    pro = RawImap(m, cert="pro")
    _, t = pro.cmd("L1", "AUTHENTICATE EXTERNAL =")
    assert t.startswith(b"L1 OK"), t
    idling(m, PRO, raw=pro)
    with_password = idling(m, PRO)
    patient = idling(m, PATIENT)
    try:
        m.ctl("account", "set-cert", PRO, "--cert-sha256", cert_sha256(m.pki / "pro.crt"))  # the same
        m.ctl("account", "set-cert", PATIENT, "--cert-sha256", "cd" * 32)
        time.sleep(1)
        still_there(patient)
        still_there(pro)
        pro.send(b"i1 IDLE\r\n")
        assert pro.readline().startswith(b"+")
        start = time.monotonic()
        m.ctl("account", "set-cert", PRO, "--cert-sha256", "ab" * 32)
        assert b"* BYE Account certificate changed" in bye_within(pro, start)
        assert b"* BYE Account certificate changed" in bye_within(with_password, start)
        log = m.log("imapd")
        assert re.findall(rf"event=imap\.kicked session=\w+ peer=127\.0\.0\.1 user={PRO} reason=(\w+)",
                          log) == ["certificate"] * 2, log
    finally:
        for r in (pro, with_password, patient):
            r.close()


def test_the_patients_own_password_change_in_the_web_space_ends_them_too(imapd):
    """The patient changing her password in mss-webd (after a theft, say) ends her IMAP
    sessions too, as mssctl account passwd does."""
    from test_webd_settings import NEW_PASSWORD as WEB_PASSWORD, change_password
    from web_helpers import logged_in
    m = imapd
    m.start("webd")
    w = logged_in(m)
    idle = idling(m, PATIENT)
    try:
        start = time.monotonic()
        assert change_password(w, PASSWORDS[PATIENT], WEB_PASSWORD).status == 303
        assert b"* BYE Account password changed" in bye_within(idle, start)
    finally:
        idle.close()


def imapd_backends(m):
    """The PostgreSQL connections of mss-imapd's processes (its sessions), by the
    client ports of their sockets."""
    from test_privsep import children, comm
    from test_smtp_reuse import database_handles
    return sum(len(database_handles(m, p)) for p in children(m.procs["imapd"].pid)
               if comm(p) == "mss-imapd")


def settled_backends(m):
    last, same = None, 0
    deadline = time.monotonic() + 10
    while same < 3 and time.monotonic() < deadline:
        n = imapd_backends(m)
        same = same + 1 if n == last else 0
        last = n
        time.sleep(0.2)
    return last


@pytest.mark.postgresql
@pytest.mark.skipif(not PG_BASE, reason="needs MSS_TEST_PG (a PostgreSQL server)")
def test_one_listen_connection_serves_the_account_and_the_mailbox(imapd):
    """On PostgreSQL a session in IDLE watches its account and its mailbox on one LISTEN
    connection beside its own: two backends for the session, as before kick, not three.
    Both kinds of wake still reach it: a message appended by another session, then a
    disable."""
    m = imapd
    before = settled_backends(m)
    idle = idling(m, PATIENT)
    writer = imaplib_session(m, PATIENT)
    try:
        assert settled_backends(m) - before == 2 + 2  # each session: its own and one watch
        msg = b"From: a@example.org\r\nSubject: wake\r\n\r\nHello.\r\n"
        assert writer.append("INBOX", None, None, msg)[0] == "OK"
        idle.sock.settimeout(5)
        got = b""
        while b"EXISTS" not in got:
            got += idle.readline() + b"\n"
        start = time.monotonic()
        m.ctl("account", "disable", PATIENT)
        assert b"* BYE Account disabled" in bye_within(idle, start)
    finally:
        idle.close()
        try:
            writer.logout()
        except (imaplib.IMAP4.error, OSError):
            pass
