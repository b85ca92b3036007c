"""TLS matrix against the running daemons: every weak or untrusted way in is refused.

Each case is one client configuration against each TLS entry point of both daemons:
no client certificate (where one is needed to authenticate), expired, revoked,
untrusted CA, TLS 1.0 and 1.1, a suite without forward secrecy or without AEAD, and
STARTTLS command injection (CVE-2011-0411 class: plaintext pipelined after STARTTLS
must be discarded, never executed inside the TLS session)."""
import imaplib
import smtplib
import socket
import ssl
import threading
import warnings

import pytest

from relhelp import (CERT_OF, PASSWORDS, PRO, PRO2, integration, require_binaries, submission)

SMTP_TLS_PORTS = ("submission", "submissions", "smtp")
IMAP_TLS_PORTS = ("imap", "imaps")


@pytest.fixture(scope="module")
def both(pki, tmp_path_factory):
    """One instance for the whole matrix (every case is a fresh connection)."""
    require_binaries("smtpd", "imapd", "mssctl")
    m = integration.Mss(tmp_path_factory.mktemp("tls") / "mss", pki)
    m.init()
    m.add_demo_accounts()
    try:  # the daemons stop even when the second one fails to start
        m.start("smtpd")
        m.start("imapd")
        yield m
    finally:
        m.stop_all()


def legacy_context(pki, version=None, ciphers=None, cert="pro"):
    """A client that offers what MSS must refuse (security level 0 so that OpenSSL
    lets the client offer old protocols at all)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(str(pki / "ca.crt"))
    ctx.check_hostname = False
    ctx.set_ciphers((ciphers or "DEFAULT") + ":@SECLEVEL=0")
    if version is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = version
            ctx.maximum_version = version
    if cert:
        ctx.load_cert_chain(str(pki / f"{cert}.crt"), str(pki / f"{cert}.key"))
    return ctx


def read_line(sock, timeout=10):
    sock.settimeout(timeout)
    buf = b""
    while not buf.endswith(b"\n"):
        ch = sock.recv(1)
        if not ch:
            break
        buf += ch
    return buf


def smtp_reply(sock):
    """One whole SMTP reply (all its lines)."""
    lines = []
    while True:
        line = read_line(sock)
        if not line:
            return lines
        lines.append(line)
        if len(line) < 4 or line[3:4] != b"-":
            return lines


def handshake(m, port, ctx):
    """Reaches the TLS handshake on an SMTP or IMAP port (STARTTLS where needed) and
    returns the TLS socket; raises ssl.SSLError / OSError when the server refuses.
    A TLS 1.3 server reports a rejected client certificate after the handshake, so
    one read follows."""
    raw = socket.create_connection(("127.0.0.1", m.port(port)), timeout=10)
    try:
        if port == "submission" or port == "smtp":
            smtp_reply(raw)
            raw.sendall(b"EHLO client.test\r\n")
            smtp_reply(raw)
            raw.sendall(b"STARTTLS\r\n")
            assert smtp_reply(raw)[0].startswith(b"220")
        elif port == "imap":
            read_line(raw)
            raw.sendall(b"a STARTTLS\r\n")
            line = read_line(raw)
            assert line.startswith(b"a OK"), line
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        s.settimeout(10)
        if port in ("submissions", "imaps"):
            first = s.recv(512)  # greeting: fails here when TLS 1.3 rejects the cert
        elif port == "imap":
            s.sendall(b"b NOOP\r\n")
            first = s.recv(512)
        else:
            s.sendall(b"EHLO client.test\r\n")
            first = s.recv(512)
        if not first:
            raise ConnectionResetError("closed after handshake")
        return s
    except BaseException:
        raw.close()
        raise


REFUSED = (ssl.SSLError, ConnectionResetError, ConnectionAbortedError, BrokenPipeError,
           socket.timeout, EOFError)


@pytest.mark.parametrize("port", SMTP_TLS_PORTS + IMAP_TLS_PORTS)
@pytest.mark.parametrize("cert", ["expired", "revoked", "untrusted"])
def test_bad_client_certificate_refused(both, port, cert):
    ctx = both.client_context(cert)
    with pytest.raises(REFUSED):
        s = handshake(both, port, ctx)
        s.close()


def permissive_server(pki):
    """A local TLS server that accepts anything (TLS 1.0+, every suite)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(pki / "server.crt"), str(pki / "server.key"))
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)

    def serve():
        c, _ = lsock.accept()
        try:
            ctx.wrap_socket(c, server_side=True).close()
        except (ssl.SSLError, OSError):
            c.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return lsock, t


@pytest.mark.parametrize("version,ciphers", [
    ("TLSv1", None), ("TLSv1_1", None), ("TLSv1_2", "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA")])
def test_control_legacy_client_really_offers(pki, version, ciphers):
    """The refusals below mean something only if this client can speak the weak
    protocol at all: prove it against a permissive local server. (RSA key exchange
    cannot be shown this way: the test PKI's keys are EC, so no server can pick it.)"""
    lsock, t = permissive_server(pki)
    ctx = legacy_context(pki, getattr(ssl.TLSVersion, version), ciphers, cert=None)
    s = ctx.wrap_socket(socket.create_connection(lsock.getsockname(), timeout=10),
                        server_hostname="localhost")
    assert s.version() in ("TLSv1", "TLSv1.1", "TLSv1.2")
    s.close()
    t.join(timeout=10)
    lsock.close()


@pytest.mark.parametrize("port", SMTP_TLS_PORTS + IMAP_TLS_PORTS)
@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
def test_old_protocol_refused(both, port, version):
    ctx = legacy_context(both.pki, getattr(ssl.TLSVersion, version))
    with pytest.raises(REFUSED):
        s = handshake(both, port, ctx)
        s.close()


@pytest.mark.parametrize("port", SMTP_TLS_PORTS + IMAP_TLS_PORTS)
@pytest.mark.parametrize("ciphers", [
    "AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA",  # RSA key exchange: no forward secrecy
    "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA",      # forward secrecy but no AEAD
])
def test_weak_suite_refused(both, port, ciphers):
    ctx = legacy_context(both.pki, ssl.TLSVersion.TLSv1_2, ciphers)
    with pytest.raises(REFUSED):
        s = handshake(both, port, ctx)
        s.close()


@pytest.mark.parametrize("port", SMTP_TLS_PORTS + IMAP_TLS_PORTS)
def test_good_client_accepted(both, port):
    """The control case: the same path with a valid certificate works, so the refusals
    above are the server's and not a broken client."""
    s = handshake(both, port, both.client_context("pro"))
    assert s.version() in ("TLSv1.2", "TLSv1.3")
    s.close()


@pytest.mark.parametrize("port", ["submission", "submissions"])
def test_no_client_certificate_cannot_use_external(both, port):
    ctx = both.client_context(None)
    if port == "submissions":
        s = smtplib.SMTP_SSL("127.0.0.1", both.port(port), timeout=10, context=ctx)
        s.ehlo()
    else:
        s = smtplib.SMTP("127.0.0.1", both.port(port), timeout=10)
        s.ehlo()
        s.starttls(context=ctx)
        s.ehlo()
    code, _ = s.docmd("AUTH", "EXTERNAL =")
    assert code >= 500, code
    code, _ = s.docmd("MAIL", f"FROM:<{PRO}>")
    assert code >= 500, code  # no mail from an unauthenticated submission client
    s.close()


def test_no_client_certificate_external_imap(both):
    c = imaplib.IMAP4_SSL("127.0.0.1", both.port("imaps"), ssl_context=both.client_context(None),
                          timeout=10)
    with pytest.raises(imaplib.IMAP4.error):
        c.authenticate("EXTERNAL", lambda _c: b"")
    c.logout()


def test_smtp_no_tls_refused(both):
    """Plaintext: no AUTH offered or accepted, no MAIL on any port before STARTTLS."""
    for port in ("submission", "smtp"):
        s = smtplib.SMTP("127.0.0.1", both.port(port), timeout=10)
        s.ehlo()
        assert not s.has_extn("auth"), port  # RFC 4954 section 4: no AUTH in clear
        code, _ = s.docmd("AUTH", "PLAIN " + "AGRyLm1hcnRpbkBwcm8ubXNzLnRlc3QAeA==")
        assert code >= 500, (port, code)
        code, _ = s.docmd("MAIL", f"FROM:<{PRO}>")
        assert code >= 500, (port, code)
        s.close()


def test_imap_no_tls_login_refused(both):
    c = imaplib.IMAP4("127.0.0.1", both.port("imap"), timeout=10)
    assert "LOGINDISABLED" in c.capabilities
    with pytest.raises(imaplib.IMAP4.error):
        c.login(PRO2, PASSWORDS[PRO2])
    c.logout()


def test_smtp_starttls_injection(both):
    """A command pipelined after STARTTLS in the same packet must not run."""
    for port in ("submission", "smtp"):
        raw = socket.create_connection(("127.0.0.1", both.port(port)), timeout=10)
        smtp_reply(raw)
        raw.sendall(b"EHLO client.test\r\n")
        smtp_reply(raw)
        raw.sendall(b"STARTTLS\r\nRSET\r\nMAIL FROM:<" + PRO.encode() + b">\r\n")
        reply = smtp_reply(raw)
        if not reply or not reply[0].startswith(b"220"):
            raw.close()  # refused the pipelined STARTTLS outright: fine
            continue
        try:
            s = both.client_context("pro").wrap_socket(raw, server_hostname="localhost")
        except REFUSED:
            continue  # the server dropped the connection: fine too
        s.sendall(b"EHLO client.test\r\n")
        first = smtp_reply(s)
        # The first reply inside TLS must answer our EHLO, not an injected command.
        assert first and first[0].startswith(b"250"), (port, first)
        assert any(b"client.test" in l or b"mss" in l.lower() or l.startswith(b"250-")
                   for l in first), first
        s.sendall(b"NOOP\r\n")
        assert smtp_reply(s)[0].startswith(b"250")
        s.close()


def test_imap_starttls_injection(both):
    raw = socket.create_connection(("127.0.0.1", both.port("imap")), timeout=10)
    read_line(raw)
    raw.sendall(b"a STARTTLS\r\nb CAPABILITY\r\n")
    line = read_line(raw)
    if not line.startswith(b"a OK"):
        raw.close()
        return
    try:
        s = both.client_context("pro").wrap_socket(raw, server_hostname="localhost")
    except REFUSED:
        return
    s.settimeout(10)
    s.sendall(b"c NOOP\r\n")
    got = b""
    while b"c OK" not in got and b"c NO" not in got and b"c BAD" not in got:
        chunk = s.recv(4096)
        if not chunk:
            break
        got += chunk
    assert b"b OK" not in got and b"b BAD" not in got, got
    assert b"c OK" in got, got
    s.close()


def test_imap_login_by_certificate_after_tls(both):
    """Control: the professional's certificate does authenticate over IMAPS."""
    c = imaplib.IMAP4_SSL("127.0.0.1", both.port("imaps"),
                          ssl_context=both.client_context(CERT_OF[PRO2]), timeout=10)
    typ, _ = c.authenticate("EXTERNAL", lambda _c: b"")
    assert typ == "OK"
    c.logout()


def test_submission_by_certificate(both):
    s = submission(both, "pro")
    s.quit()
