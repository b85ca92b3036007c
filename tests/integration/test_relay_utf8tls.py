"""SMTPUTF8 (RFC 6531) and REQUIRETLS (RFC 8689) through the outbound queue (issue 13).
The options are kept with the queued message; MAIL carries them to a next hop that
offers them in its EHLO over TLS; a hop without SMTPUTF8 gets no message that needs it
(bounced 5.6.7, no downgrade) but still gets one that does not; a hop without REQUIRETLS
gets no REQUIRETLS message (bounced 5.7.30, the report naming why). Peers: a scripted
one (exact MAIL lines), a second MSS instance, and Postfix (smtputf8_enable = yes)."""
import email
import os
import sys
from email import policy
from pathlib import Path

import pytest

from conftest import PRO
from test_policy_smtp import as_professional
from test_relay_faults import Peer, read_inbox
from test_relay_peers import PEER_DOMAIN, REMOTE_PRO, inbox, peers, relay_via, wait_for, waiting  # noqa: F401

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from benchlib.postfix import Postfix, available  # noqa: E402

UTF8_MSG = (f"From: Dr Martin <{PRO}>\r\nTo: <{REMOTE_PRO}>\r\n"
            "Subject: Résultats d'analyse\r\n\r\nBonne journée.\r\n").encode()
ASCII_MSG = f"From: <{PRO}>\r\nTo: <{REMOTE_PRO}>\r\nSubject: plain\r\n\r\nHello.\r\n".encode()


def submit(m, data, options):
    with as_professional(m) as s:
        assert s.sendmail(PRO, [REMOTE_PRO], data, mail_options=list(options)) == {}


def keywords_script(*keywords):
    """A peer whose EHLO over TLS offers keywords, and that takes everything."""
    ehlo = b"250-peer.test\r\n" + b"".join(b"250-" + k.encode() + b"\r\n" for k in keywords) + b"250 8BITMIME\r\n"

    def script(conn, line):
        u = line.upper()
        if u.startswith(b"EHLO"):
            return ehlo
        if u == b"DATA":
            return b"354 go\r\n"
        if u == b"QUIT":
            return b"221 bye\r\n"
        return b"250 2.0.0 ok\r\n"
    return script


@pytest.fixture
def scripted(mss):
    """relay(keywords...) starts a scripted peer offering keywords and MSS relaying
    other-operator.test to it."""
    made = []

    def relay(*keywords):
        peer = Peer(mss.pki, keywords_script(*keywords))
        made.append(peer)
        relay_via(mss, peer.port, relay_timeout=2)
        return peer

    yield relay
    for p in made:
        p.close()


def mail_lines(peer):
    return [c for c in peer.commands if c.upper().startswith(b"MAIL")]


def bounce_status(m, kind="delivery-status"):
    """The one report in PRO's INBOX: (its delivery-status text, the whole report).
    kind: its report-type, "global-delivery-status" for an SMTPUTF8 message (RFC 6533)."""
    assert wait_for(lambda: m.sql("SELECT count(*) FROM audit_log WHERE action = 'relay.bounce'")[0][0] == 1), \
        m.log("smtpd")[-2000:]
    (raw,) = read_inbox(m, PRO)
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg.get_content_type() == "multipart/report" and msg.get_param("report-type") == kind, msg
    _text, status, headers = msg.get_payload()
    assert status.get_content_type() == "message/" + kind
    assert headers.get_content_type() == ("message/global-headers" if "global" in kind else "text/rfc822-headers")
    return raw.decode("utf-8", "replace").split("Content-Type: message/" + kind, 1)[1], \
        raw.decode("utf-8", "replace")


def test_mail_carries_smtputf8_and_requiretls_to_a_hop_that_offers_them(scripted, mss):
    peer = scripted("SMTPUTF8", "REQUIRETLS")
    submit(mss, UTF8_MSG, ("SMTPUTF8", "REQUIRETLS"))
    assert wait_for(lambda: waiting(mss) == []), waiting(mss)
    assert mail_lines(peer) == [f"MAIL FROM:<{PRO}> SMTPUTF8 REQUIRETLS".encode()], peer.commands
    assert len(peer.data) == 1 and "Résultats".encode() in peer.data[0]
    assert b"with UTF8SMTPSA id" in peer.data[0]


def test_utf8_message_to_a_hop_without_smtputf8_is_bounced_5_6_7(scripted, mss):
    peer = scripted()
    submit(mss, UTF8_MSG, ("SMTPUTF8",))
    st, report = bounce_status(mss, "global-delivery-status")  # RFC 6533: UTF-8 headers
    assert "Status: 5.6.7" in st and f"Final-Recipient: rfc822; {REMOTE_PRO}" in st, st
    assert "SMTPUTF8" in report and "Subject: Résultats d'analyse" in report, report
    assert mail_lines(peer) == [] and peer.data == []  # never sent, never downgraded
    assert waiting(mss) == []


def test_utf8_recipient_at_a_hop_without_smtputf8_is_reported_as_utf8(scripted, mss):
    peer = scripted()
    rcpt = "chloé@" + PEER_DOMAIN
    with as_professional(mss) as s:
        assert s.sendmail(PRO, [rcpt], ASCII_MSG, mail_options=["SMTPUTF8"]) == {}
    st, report = bounce_status(mss, "global-delivery-status")
    assert f"Final-Recipient: utf-8; {rcpt}" in st and "Status: 5.6.7" in st, st
    assert mail_lines(peer) == []


def test_ascii_message_of_an_smtputf8_session_goes_to_a_hop_without_it(scripted, mss):
    peer = scripted()
    submit(mss, ASCII_MSG, ("SMTPUTF8",))
    assert wait_for(lambda: waiting(mss) == []), waiting(mss)
    assert mail_lines(peer) == [f"MAIL FROM:<{PRO}>".encode()], peer.commands
    assert len(peer.data) == 1


def test_requiretls_message_to_a_hop_without_requiretls_is_bounced_5_7_30(scripted, mss):
    peer = scripted("SMTPUTF8")
    # RFC 8689 5: a TLS-Required: No field does not weaken REQUIRETLS
    submit(mss, b"TLS-Required: No\r\n" + ASCII_MSG, ("REQUIRETLS",))
    st, report = bounce_status(mss)
    assert "Status: 5.7.30" in st, st
    assert "does not offer REQUIRETLS" in report, report
    assert mail_lines(peer) == [] and peer.data == []
    rows = mss.sql("SELECT result FROM audit_log WHERE action = 'relay.fail'")
    assert len(rows) == 1 and "REQUIRETLS" in rows[0][0], rows


def test_two_operators_relay_smtputf8_and_requiretls(peers):
    a, b = peers
    a.start("smtpd")
    b.start("smtpd")
    submit(a, UTF8_MSG, ("SMTPUTF8", "REQUIRETLS"))
    assert wait_for(lambda: inbox(b, REMOTE_PRO) == 1), (waiting(a), a.log("smtpd")[-3000:])
    assert wait_for(lambda: waiting(a) == [])
    # B's session got both options on MAIL from A's queue (over TLS, A's certificate)
    assert "smtputf8=yes requiretls=yes" in b.log("smtpd"), b.log("smtpd")[-3000:]


def test_global_success_report_goes_back_with_smtputf8(peers):
    """B's success report (DSN) about a UTF-8 message is a global one (RFC 6533): B's
    queue sends it to A with SMTPUTF8, and A's sender reads it."""
    a, b = peers
    a.start("smtpd")
    b.start("smtpd")
    with as_professional(a) as s:
        assert s.sendmail(PRO, [REMOTE_PRO], UTF8_MSG, mail_options=["SMTPUTF8"],
                          rcpt_options=["NOTIFY=SUCCESS"]) == {}
    assert wait_for(lambda: inbox(a, PRO) == 1), (waiting(b), b.log("smtpd")[-3000:])
    (raw,) = read_inbox(a, PRO)
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg.get_param("report-type") == "global-delivery-status", raw
    assert "Action: delivered" in raw.decode("utf-8"), raw
    # the MAIL from B's queue (the null sender) carried SMTPUTF8
    assert any('from="" ' in l and "smtputf8=yes" in l
               for l in a.log("smtpd").splitlines() if "event=smtp.mail " in l), a.log("smtpd")[-3000:]


@pytest.fixture
def postfix(mss):
    """A Postfix for other-operator.test with SMTPUTF8 (it has no REQUIRETLS)."""
    if os.geteuid() != 0:
        pytest.skip("a private Postfix master needs root (CI runs the suite as root)")
    assert available(), "Postfix is missing: scripts/install-deps installs it"
    pf = Postfix(str(mss.pki), maxproc=5).configure([REMOTE_PRO], domain=PEER_DOMAIN, cert="operator",
                                                     extra={"smtputf8_enable": "yes"})
    try:
        pf.start()
        relay_via(mss, pf.ports["starttls"], relay_cert=mss.pki / "rsa.crt", relay_key=mss.pki / "rsa.key")
        yield pf
    finally:
        pf.remove()


def test_postfix_receives_utf8_and_requiretls_to_it_is_bounced(postfix, mss):
    pf = postfix
    submit(mss, UTF8_MSG, ("SMTPUTF8",))
    assert wait_for(lambda: pf.delivered() == 1, 60), (waiting(mss), pf.log_tail(20))
    from test_relay_postfix import maildir_messages
    (raw,) = maildir_messages(pf)
    text = raw.decode("utf-8")
    assert "Subject: Résultats d'analyse" in text, text
    assert "with UTF8SMTPS" in text, text  # Postfix's Received (RFC 6531 3.7.3): MAIL carried SMTPUTF8
    # REQUIRETLS: Postfix does not offer it, so the message goes back to its sender
    submit(mss, ASCII_MSG, ("REQUIRETLS",))
    st, report = bounce_status(mss)
    assert "Status: 5.7.30" in st and "REQUIRETLS" in report, report
    assert pf.delivered() == 1
