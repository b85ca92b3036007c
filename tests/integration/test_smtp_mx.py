"""mss-smtpd on smtp_listen (the MX): STARTTLS before MAIL, operators identified by
their certificate DN on the trust list, establishment relays by organisation
certificate or by relay_networks + SPF (libspf2 offline zone, no DNS), never an open
relay."""
import pytest

from conftest import ORG, PATIENT, PRO
from test_smtp_protocol import RawSmtp, connect, inbox_count

NS = "https://listeblanche.mssante.fr/schema"
OPERATOR_DN = "CN=mx.other-operator.test,OU=12345678900011,O=Other Operator,C=FR"


def trust_list(path, entries):
    domains = "".join(f"<Domaine><Nom>{d}</Nom><Description>t</Description>"
                      f"<DNCertificatOperateur>{dn}</DNCertificatOperateur>"
                      f"<DateMAJ>2026-01-01</DateMAJ></Domaine>" for d, dn in entries)
    path.write_text(f'<?xml version="1.0" encoding="UTF-8"?>\n<ListeBlancheMSSante xmlns="{NS}">'
                    f"<ListeDomaines>{domains}</ListeDomaines></ListeBlancheMSSante>\n")
    return path


@pytest.fixture
def mx(mss):
    f = trust_list(mss.root / "trust.xml", [("other-operator.test", OPERATOR_DN),
                                            ("third.test", "CN=mx.third.test,O=Third,C=FR")])
    mss.ctl("trust", "import", str(f))
    zone = mss.root / "spf.zone"
    zone.write_text("# offline SPF records for the tests\n"
                    "etab.test TXT \"v=spf1 ip4:127.0.0.1 -all\"\n"
                    "elsewhere.test TXT \"v=spf1 ip4:192.0.2.0/24 -all\"\n")
    mss.set(relay_networks="127.0.0.0/8", spf_zone_file=str(zone))
    mss.start("smtpd")
    return mss


def mail(c, sender):
    return c.cmd("MAIL FROM:<%s>" % sender)


def deliver(c, sender, rcpt):
    assert mail(c, sender)[0] == 250
    code, text = c.cmd("RCPT TO:<%s>" % rcpt)
    if code != 250:
        return code, text
    assert c.cmd("DATA")[0] == 354
    # the header names the sender itself (auth/identity.h: From is the identity proven)
    c.send(f"From: {sender}\r\nTo: {rcpt}\r\nSubject: test\r\n\r\nHello.\r\n.\r\n".encode())
    return c.reply()


def test_mail_refused_before_starttls(mx):
    c = connect(mx, "smtp", tls=False)
    code, text = mail(c, "dr.x@other-operator.test")
    assert (code, text[0]) == (530, "5.7.0 Must issue a STARTTLS command first")


def test_operator_listed_for_domain(mx):
    c = connect(mx, "smtp", cert="operator")
    code, lines = c.cmd("EHLO mx.other-operator.test")
    assert not any(l.startswith("AUTH") for l in lines)
    code, text = deliver(c, "dr.x@other-operator.test", PRO)
    assert code == 250 and "queued as" in text[0]
    assert inbox_count(mx, PRO) == 1
    # The same certificate may not speak for a domain it is not listed for.
    code, text = mail(c, "dr.y@third.test")
    assert (code, text[0][:5]) == (550, "5.7.1")
    code, text = mail(c, "dr.y@unlisted.test")
    assert (code, text[0][:5]) == (550, "5.7.1")
    # Nor for local addresses.
    code, text = mail(c, PRO)
    assert code in (550, 553) and text[0].startswith("5.7.1")


def test_trust_list_change_counts_from_next_transaction(mx):
    """RCPT and the header reuse what MAIL read of the trust list (one query per
    transaction): an operator taken off the list on a persistent connection is refused
    at its next MAIL, and the transactions that follow read the list again."""
    c = connect(mx, "smtp", cert="operator")
    code, text = deliver(c, "dr.x@other-operator.test", PRO)
    assert code == 250, text
    mx.ctl("trust", "import", str(trust_list(mx.root / "trust2.xml",
                                             [("third.test", "CN=mx.third.test,O=Third,C=FR")])))
    code, text = mail(c, "dr.x@other-operator.test")
    assert (code, text[0][:5]) == (550, "5.7.1"), text
    assert c.cmd("RSET")[0] == 250
    mx.ctl("trust", "import", str(trust_list(mx.root / "trust3.xml",
                                             [("other-operator.test", OPERATOR_DN)])))
    code, text = deliver(c, "dr.x@other-operator.test", PRO)
    assert code == 250, text
    assert inbox_count(mx, PRO) == 2


def test_no_open_relay(mx):
    c = connect(mx, "smtp", cert="operator")
    assert mail(c, "dr.x@other-operator.test")[0] == 250
    for rcpt in ("someone@gmail.example", "dr.z@third.test", "x@other-operator.test"):
        code, text = c.cmd("RCPT TO:<%s>" % rcpt)
        assert (code, text[0][:5]) == (550, "5.7.1"), (rcpt, text)
    assert c.cmd("RCPT TO:<%s>" % PRO)[0] == 250


def test_unidentified_peer_refused(mss):
    # No relay_networks: a TLS peer without certificate proves nothing.
    mss.start("smtpd")
    c = connect(mss, "smtp")
    code, text = mail(c, "dr.x@other-operator.test")
    assert (code, text[0][:5]) == (550, "5.7.1")
    assert c.cmd("NOOP")[0] == 250


def test_relay_by_organisation_certificate(mx):
    c = connect(mx, "smtp", cert="org")
    code, text = deliver(c, ORG, PRO)
    assert code == 250, text
    # A relay speaks for its own domain only.
    code, text = mail(c, "dr.x@other-operator.test")
    assert (code, text[0][:5]) == (550, "5.7.1")


def test_relay_by_network_and_spf(mx):
    c = connect(mx, "smtp")
    code, text = deliver(c, "automate@etab.test", PRO)
    assert code == 250, text
    # SPF fail for this domain from 127.0.0.1: not a relay, refused.
    code, text = mail(c, "automate@elsewhere.test")
    assert (code, text[0][:5]) == (550, "5.7.1")
    # No SPF record at all: refused too.
    code, text = mail(c, "automate@nospf.test")
    assert (code, text[0][:5]) == (550, "5.7.1")
    assert "result=pass" in mx.log("smtpd") and "result=fail" in mx.log("smtpd")


def test_bad_spf_zone_stops_daemon(mss):
    zone = mss.root / "bad.zone"
    zone.write_text("etab.test TXT v=spf1 -all\netab.test WRONG x\n")
    mss.set(spf_zone_file=str(zone))
    with pytest.raises(AssertionError) as e:
        mss.start("smtpd")
    assert "bad.zone:2" in str(e.value)
