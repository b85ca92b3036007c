"""Delivery Status Notifications (RFC 3461, issue 13) on every listener: EHLO offers
DSN; MAIL takes RET and ENVID, RCPT takes NOTIFY and ORCPT, a repeated or malformed one
gets 501 5.5.4 naming it and the session goes on. They are honoured: a local delivery
with NOTIFY=SUCCESS sends a success report (Action: delivered); NOTIFY decides the
bounces and delay warnings of relayed mail, and the vault's integration reports; RET=HDRS returns the header only; ENVID and
ORCPT come back in Original-Envelope-Id and Original-Recipient; a next hop that offers
DSN gets the parameters with the message, one that does not makes a "relayed" report.
Real clients (smtplib with mail_options / rcpt_options), a scripted peer, and two MSS
instances."""
import email
from email import policy

import pytest

from conftest import PATIENT, PRO
from test_policy_smtp import as_professional
from test_relay_faults import Peer, ok_script, read_inbox
from test_relay_peers import (PEER_DOMAIN, REMOTE_PRO, inbox, message, peers, relay_via, wait_for,  # noqa: F401
                              waiting)
from test_smtp_protocol import connect, inbox_count, login

ENVID = "QQ314159+2Bx"  # xtext of "QQ314159+x"


def audits(m, action):
    return m.sql("SELECT count(*) FROM audit_log WHERE action = ?", action)[0][0]


def report_parts(raw):
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg.get_content_type() == "multipart/report", raw[:400]
    return msg, raw.decode("utf-8", "replace")


# --- the parameters ------------------------------------------------------------------

@pytest.mark.parametrize("listener", ["smtp", "submission"])
def test_dsn_is_offered(smtpd, listener):
    c = connect(smtpd, listener)
    code, lines = c.cmd("EHLO client.test")
    assert code == 250 and "DSN" in lines, lines


def test_parameters_accepted_and_refused_by_name(smtpd):
    c = login(smtpd)
    refused = [
        ("MAIL FROM:<%s> RET=HDRS RET=FULL" % PRO, "RET"),
        ("MAIL FROM:<%s> RET=BODY" % PRO, "RET"),
        ("MAIL FROM:<%s> ENVID=a ENVID=b" % PRO, "ENVID"),
        ("MAIL FROM:<%s> ENVID=a+0D+0Ab" % PRO, "ENVID"),
        ("MAIL FROM:<%s> ENVID=%s" % (PRO, "x" * 101), "ENVID"),
    ]
    for cmd, name in refused:
        code, text = c.cmd(cmd)
        assert code == 501 and text[0].startswith("5.5.4") and name + " parameter" in text[0], (cmd, text)
    assert c.cmd("MAIL FROM:<%s> RET=HDRS ENVID=%s" % (PRO, "x" * 100))[0] == 250
    assert c.cmd("QUIT")[0] == 221
    c = login(smtpd)  # a fresh session: refusals count towards the error limit
    assert c.cmd("MAIL FROM:<%s>" % PRO)[0] == 250
    for cmd, name in [
        ("RCPT TO:<%s> NOTIFY=NEVER,SUCCESS" % PATIENT, "NOTIFY"),
        ("RCPT TO:<%s> NOTIFY=SUCCESS NOTIFY=DELAY" % PATIENT, "NOTIFY"),
        ("RCPT TO:<%s> NOTIFY=SOMETIMES" % PATIENT, "NOTIFY"),
        ("RCPT TO:<%s> ORCPT=%s" % (PATIENT, PATIENT), "ORCPT"),
        ("RCPT TO:<%s> ORCPT=x400;abc" % PATIENT, "ORCPT"),
        ("RCPT TO:<%s> ORCPT=rfc822;a ORCPT=rfc822;b" % PATIENT, "ORCPT"),
        ("RCPT TO:<%s> ORCPT=rfc822;%s" % (PATIENT, "x" * 494), "ORCPT"),
    ]:
        code, text = c.cmd(cmd)
        assert code == 501 and text[0].startswith("5.5.4") and name + " parameter" in text[0], (cmd, text)
    code, text = c.cmd("RCPT TO:<%s> NOTIFY=FAILURE,DELAY ORCPT=utf-8;pat\\x{E9}@b.c" % PATIENT)
    assert code == 250, text
    code, text = c.cmd("RCPT TO:<%s> NOTIFY=NEVER ORCPT=rfc822;%s" % (PATIENT, "x" * 493))
    assert code == 250, text  # the same recipient again: accepted, its first parameters kept
    assert c.cmd("RSET")[0] == 250
    assert c.cmd("QUIT")[0] == 221


# --- local deliveries ---------------------------------------------------------------

def test_success_report_for_a_local_delivery(smtpd):
    with as_professional(smtpd) as s:
        s.send_message(message(PRO, PATIENT, "Resultats"), PRO, [PATIENT],
                   mail_options=["RET=HDRS", "ENVID=" + ENVID],
                   rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;Patient+2Bfirst@patient.mss.test"])
    assert inbox_count(smtpd, PATIENT) == 1
    assert wait_for(lambda: audits(smtpd, "dsn.success") == 1)
    (raw,) = read_inbox(smtpd, PRO)
    msg, text = report_parts(raw)
    assert PRO in msg["To"] and msg["Auto-Submitted"] == "auto-replied"
    body = msg.get_payload()[0].get_content()
    assert "a été remis" in body and "was delivered" in body and f"<{PATIENT}>" in body, body
    assert "Original-Envelope-Id: QQ314159+x\r\n" in text, text
    assert "Original-Recipient: rfc822;Patient+first@patient.mss.test\r\n" in text, text
    assert f"Final-Recipient: rfc822; {PATIENT}\r\nAction: delivered\r\nStatus: 2.0.0" in text, text
    assert "Subject: Resultats" in text and "Bonjour" not in text  # the header only


def test_no_success_report_unless_asked(smtpd):
    with as_professional(smtpd) as s:
        s.send_message(message(PRO, PATIENT), PRO, [PATIENT], rcpt_options=["NOTIFY=FAILURE"])
        s.send_message(message(PRO, PATIENT), PRO, [PATIENT])
    assert inbox_count(smtpd, PATIENT) == 2
    assert inbox_count(smtpd, PRO) == 0 and audits(smtpd, "dsn.success") == 0


def test_integration_report_follows_notify(smtpd):
    """A KO found by the vault after the 250 (a document for another patient: 904) is a
    failure report too: NOTIFY=NEVER sends none, NOTIFY=FAILURE one."""
    from test_vault_filing import PDF, message as xdm_message, xdm
    for i, notify in enumerate(["NEVER", "FAILURE"]):
        msg = xdm_message(subject=f"XDM/1.0/DDM+CR {i} DEMO Patient", headers={"X-MSS-INS": "O"})
        msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="copie.pdf")
        msg.add_attachment(xdm.build_xdm(ins="279035121518989"), maintype="application", subtype="zip",
                           filename="IHE_XDM.ZIP")  # PATIENT2's INS, sent to PATIENT
        with as_professional(smtpd) as s:
            s.send_message(msg, PRO, [PATIENT], rcpt_options=["NOTIFY=" + notify])
    assert wait_for(lambda: audits(smtpd, "vault.ko") == 2)
    rows = smtpd.sql("SELECT result FROM audit_log WHERE action = 'vault.ko' ORDER BY seq")
    assert "NOTIFY" in rows[0][0] and rows[0][0].startswith("not sent"), rows
    assert rows[1][0] == "ok", rows
    assert inbox_count(smtpd, PRO) == 1  # the second one's report only


# --- relayed mail, a scripted peer ----------------------------------------------------

def dsn_script(offer):
    """ok_script, offering DSN after STARTTLS when offer."""
    def script(conn, line):
        if line.upper().startswith(b"EHLO"):
            return b"250-peer.test\r\n250-DSN\r\n250 8BITMIME\r\n" if offer else b"250-peer.test\r\n250 8BITMIME\r\n"
        if line.upper().startswith(b"RCPT") and b"refuse" in line:
            return b"550 5.1.1 no such user\r\n"
        return ok_script(conn, line)
    return script


@pytest.fixture
def relay_dsn(mss):
    """Starts mss relaying other-operator.test to a scripted peer, and sends one message
    with the DSN parameters given."""
    made = []

    def make(script, rcpt=REMOTE_PRO, mail_options=(), rcpt_options=(), settle=True):
        peer = Peer(mss.pki, script)
        made.append(peer)
        relay_via(mss, peer.port, relay_timeout=2)
        with as_professional(mss) as s:
            s.send_message(message(PRO, rcpt), PRO, [rcpt], mail_options=list(mail_options),
                       rcpt_options=list(rcpt_options))
        assert not settle or wait_for(lambda: waiting(mss) == []), waiting(mss)
        return peer

    yield make
    for p in made:
        p.close()


REFUSED = "refuse@" + PEER_DOMAIN


def test_notify_never_suppresses_the_bounce(relay_dsn, mss):
    relay_dsn(dsn_script(False), REFUSED, rcpt_options=["NOTIFY=NEVER"])
    assert audits(mss, "relay.fail") == 1
    assert audits(mss, "relay.bounce") == 0 and inbox_count(mss, PRO) == 0


@pytest.mark.parametrize("notify,warnings", [("FAILURE", 0), ("DELAY", 1)])
def test_delay_warning_follows_notify(relay_dsn, mss, notify, warnings):
    from test_relay_queue import write_sql

    def later(conn, line):
        return b"451 4.3.0 try later\r\n" if line.upper().startswith(b"MAIL") else ok_script(conn, line)
    relay_dsn(later, rcpt_options=["NOTIFY=" + notify], settle=False)
    assert wait_for(lambda: any(r[1] >= 1 for r in waiting(mss))), waiting(mss)
    write_sql(mss, "UPDATE queue_messages SET created = created - 5 * 3600")  # past the 4 h
    mss.ctl("queue", "flush")
    assert wait_for(lambda: any(r[1] >= 2 for r in waiting(mss))), waiting(mss)
    assert audits(mss, "relay.delay") == warnings and inbox_count(mss, PRO) == warnings


def test_queue_show_gives_the_dsn_parameters(relay_dsn, mss):
    """mssctl queue show: a waiting message's RET and ENVID, each recipient's NOTIFY and ORCPT."""
    def later(conn, line):
        return b"451 4.3.0 try later\r\n" if line.upper().startswith(b"MAIL") else ok_script(conn, line)
    relay_dsn(later, mail_options=["RET=HDRS", "ENVID=env+2B42"],
              rcpt_options=["NOTIFY=SUCCESS,DELAY", f"ORCPT=rfc822;{REMOTE_PRO}"], settle=False)
    assert wait_for(lambda: any(r[1] >= 1 for r in waiting(mss))), waiting(mss)
    qid = mss.sql("SELECT qid FROM queue_messages")[0][0]
    out = mss.ctl("queue", "show", qid).stdout
    assert "dsn: RET=HDRS ENVID=env+42" in out, out
    assert f"notify SUCCESS,DELAY orcpt rfc822;{REMOTE_PRO}" in out, out


def test_bounce_returns_headers_envid_and_orcpt(relay_dsn, mss):
    relay_dsn(dsn_script(False), REFUSED, mail_options=["RET=HDRS", "ENVID=" + ENVID],
              rcpt_options=["ORCPT=rfc822;" + REFUSED])
    assert wait_for(lambda: audits(mss, "relay.bounce") == 1)
    (raw,) = read_inbox(mss, PRO)
    msg, text = report_parts(raw)
    assert "Original-Envelope-Id: QQ314159+x\r\n" in text, text
    assert f"Original-Recipient: rfc822;{REFUSED}\r\nFinal-Recipient: rfc822; {REFUSED}\r\nAction: failed" in text
    headers = msg.get_payload()[2]
    assert headers.get_content_type() == "text/rfc822-headers"
    assert "Subject: Relais" in text and "Bonjour" not in text  # RET=HDRS: no body


def test_peer_without_dsn_gets_none_and_success_is_reported_relayed(relay_dsn, mss):
    peer = relay_dsn(dsn_script(False), mail_options=["RET=FULL", "ENVID=" + ENVID],
                     rcpt_options=["NOTIFY=SUCCESS", "ORCPT=rfc822;" + REMOTE_PRO])
    mail = [c for c in peer.commands if c.upper().startswith(b"MAIL")]
    rcpt = [c for c in peer.commands if c.upper().startswith(b"RCPT")]
    assert mail == [f"MAIL FROM:<{PRO}>".encode()] and rcpt == [f"RCPT TO:<{REMOTE_PRO}>".encode()], peer.commands
    assert wait_for(lambda: audits(mss, "dsn.success") == 1)
    (raw,) = read_inbox(mss, PRO)
    msg, text = report_parts(raw)
    assert "Action: relayed" in text and "Original-Envelope-Id: QQ314159+x" in text, text
    assert "n'a pas" not in text and "a été transmis" in msg.get_payload()[0].get_content()


def test_peer_with_dsn_gets_the_parameters(relay_dsn, mss):
    peer = relay_dsn(dsn_script(True), mail_options=["RET=HDRS", "ENVID=" + ENVID],
                     rcpt_options=["NOTIFY=SUCCESS,DELAY", "ORCPT=rfc822;Dr+2BRemote@" + PEER_DOMAIN])
    mail = [c for c in peer.commands if c.upper().startswith(b"MAIL")]
    rcpt = [c for c in peer.commands if c.upper().startswith(b"RCPT")]
    assert mail == [f"MAIL FROM:<{PRO}> RET=HDRS ENVID={ENVID}".encode()], peer.commands
    assert rcpt == [f"RCPT TO:<{REMOTE_PRO}> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;Dr+2BRemote@{PEER_DOMAIN}".encode()]
    # the next hop reports success itself: no "relayed" report from here
    assert audits(mss, "relay.deliver") == 1 and audits(mss, "dsn.success") == 0


def test_queued_without_dsn_sends_a_bare_mail_to_a_dsn_peer(relay_dsn, mss):
    peer = relay_dsn(dsn_script(True))
    mail = [c for c in peer.commands if c.upper().startswith(b"MAIL")]
    rcpt = [c for c in peer.commands if c.upper().startswith(b"RCPT")]
    assert mail == [f"MAIL FROM:<{PRO}>".encode()] and rcpt == [f"RCPT TO:<{REMOTE_PRO}>".encode()], peer.commands


# --- two MSS instances ----------------------------------------------------------------

def test_two_operators_pass_dsn_on_and_report_delivery_back(peers):
    a, b = peers
    a.start("smtpd")
    b.start("smtpd")
    with as_professional(a) as s:
        s.send_message(message(PRO, REMOTE_PRO), PRO, [REMOTE_PRO],
                   mail_options=["RET=HDRS", "ENVID=" + ENVID],
                   rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;" + REMOTE_PRO])
    assert wait_for(lambda: inbox(b, REMOTE_PRO) == 1), (waiting(a), a.log("smtpd")[-3000:])
    # B offers DSN: A passed the parameters on and made no report of its own
    assert wait_for(lambda: audits(a, "relay.deliver") == 1) and audits(a, "dsn.success") == 0
    # B delivered, and its success report came back through its queue to A's sender
    assert wait_for(lambda: audits(b, "dsn.success") == 1), b.log("smtpd")[-3000:]
    assert wait_for(lambda: inbox(a, PRO) == 1), (waiting(b), b.log("smtpd")[-3000:])
    (raw,) = read_inbox(a, PRO)
    _, text = report_parts(raw)
    assert "Reporting-MTA: dns; mx.other-operator.test" in text, text
    assert "Original-Envelope-Id: QQ314159+x" in text and f"Original-Recipient: rfc822;{REMOTE_PRO}" in text
    assert "Action: delivered" in text, text
