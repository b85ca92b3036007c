"""SMTP delivery against the recipient's storage quota (quota_storage, the limit IMAP's
QUOTA reports): refused at RCPT with 452 4.2.2 when the account is full or the size
MAIL FROM declared would pass it, 552 5.2.2 when that size alone is larger than the
quota; other recipients of the transaction are still delivered; the session goes on.
Python's smtplib over STARTTLS with a professional's password and certificate."""
import smtplib

import pytest

from conftest import PATIENT, PATIENT2, PRO, PASSWORDS
from test_smtp_protocol import inbox_count


def body(n, size):
    text = ("x" * 70 + "\r\n") * (size // 72)
    return (f"From: {PRO}\r\nTo: {PATIENT}\r\nSubject: quota {n}\r\n\r\n{text}").encode()


def client(m):
    s = smtplib.SMTP("127.0.0.1", m.port("submission"), timeout=30)
    s.ehlo("client.test")
    s.starttls(context=m.login_context(PRO))
    s.ehlo("client.test")
    s.login(PRO, PASSWORDS[PRO])
    return s


@pytest.fixture
def quota_smtpd(mss_factory):
    m = mss_factory(extra={"quota_storage": "20K"})
    m.add_demo_accounts()
    m.start("smtpd")
    return m


def test_rcpt_refused_when_quota_reached(quota_smtpd):
    m = quota_smtpd
    with client(m) as s:
        for i in range(3):  # about 6 KiB each: 18 KiB of 20
            assert s.sendmail(PRO, [PATIENT], body(i, 6000)) == {}
        assert inbox_count(m, PATIENT) == 3
        # a fourth that declares its size: it would pass the quota
        s.mail(PRO, ["SIZE=6000"])
        code, text = s.rcpt(PATIENT)
        assert (code, text[:5]) == (452, b"4.2.2"), text
        # the other recipient of the same transaction is not affected
        assert s.rcpt(PATIENT2)[0] == 250
        code, _ = s.data(body(9, 6000))
        assert code == 250
        assert inbox_count(m, PATIENT) == 3 and inbox_count(m, PATIENT2) == 1
        # one that declares exactly the room left fits (stored with its trace fields,
        # it fills the account); then the account is full, whatever the size
        used = int(m.sql("SELECT sum(m.size) FROM messages m JOIN mailboxes b ON m.mailbox_id = b.id "
                         "JOIN store_users u ON b.user_id = u.id WHERE u.address = ?", PATIENT)[0][0])
        head = f"From: {PRO}\r\nTo: {PATIENT}\r\nSubject: last\r\n\r\n".encode()
        room = 20 * 1024 - used - len(head)
        last = head + (b"y" * 70 + b"\r\n") * (room // 72) + b"z" * (room % 72)
        assert s.sendmail(PRO, [PATIENT], last) == {}  # smtplib declares SIZE=len(last)
        s.mail(PRO)  # no SIZE=
        code, text = s.rcpt(PATIENT)
        assert (code, text[:5]) == (452, b"4.2.2"), text
        s.rset()
        assert s.noop()[0] == 250  # the session goes on
    refused = m.sql("SELECT result FROM audit_log WHERE action = 'smtp.rcpt' AND target = ? AND result <> 'ok'",
                    PATIENT)
    assert len(refused) == 2 and all("452" in r for r, in refused), refused


def test_message_larger_than_quota_is_permanent(quota_smtpd):
    with client(quota_smtpd) as s:
        s.mail(PRO, ["SIZE=%d" % (21 * 1024)])
        code, text = s.rcpt(PATIENT)
        assert (code, text[:5]) == (552, b"5.2.2"), text
        s.rset()
        # an empty account takes a message of the quota's size exactly
        s.mail(PRO, ["SIZE=%d" % (20 * 1024)])
        assert s.rcpt(PATIENT)[0] == 250
        s.rset()
    assert inbox_count(quota_smtpd, PATIENT) == 0


def test_no_quota_when_zero(mss_factory):
    m = mss_factory(extra={"quota_storage": "0"})
    m.add_demo_accounts()
    m.start("smtpd")
    with client(m) as s:
        s.mail(PRO, ["SIZE=%d" % (20 * 1024 * 1024)])
        assert s.rcpt(PATIENT)[0] == 250
        s.rset()
