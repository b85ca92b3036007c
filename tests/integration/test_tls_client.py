"""lib/tls client side (tls_client_ctx_new + tls_connect, for the relay of issue 13),
end to end: tests/unit/tls_test_client against real servers, openssl s_server and
gnutls-serv, presenting good, expired, revoked and other-CA certificates, with and
without asking for a client certificate; plus TLS 1.2-only, TLS 1.1-only and silent
servers, and SNI. The client verifies the chain, the validity, the purpose and the
revocation of the server's certificate and reports the verified identity (its subject
DN is what the relay matches against the trust list)."""
import os
import socket
import threading
import time

import pytest

from tlshelp import client_bin, connect, fingerprint, serve  # noqa: F401 (fixtures)

KINDS = ["openssl", "gnutls"]


@pytest.mark.parametrize("kind", KINDS)
def test_good_server_verified_identity(client_bin, pki, serve, kind):
    srv = serve(kind)
    status, f, echo = connect(client_bin, pki, srv.port)
    assert status == "ok", f
    assert f["has_cert"] == "1"
    assert f["subject"] == "CN=localhost,O=MSS Test,C=FR"
    assert f["issuer"] == "CN=MSS Test CA,O=MSS Test,C=FR"
    assert f["sha256"] == fingerprint(pki, "server")
    assert f["version"] == "TLSv1.3"
    assert echo == ("ssm morf olleh" if kind == "openssl" else "hello from mss")


BAD_SERVERS = [
    ("server-expired", "certificate has expired"),
    ("server-revoked", "certificate revoked"),
    ("server-untrusted", "unable to get local issuer certificate"),
    ("pro", "unsuitable certificate purpose"),  # a client certificate (EKU clientAuth only)
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("cert,reason", BAD_SERVERS)
def test_bad_server_certificate_refused(client_bin, pki, serve, kind, cert, reason):
    srv = serve(kind, cert=cert)
    status, f, echo = connect(client_bin, pki, srv.port)
    assert (status, f["reason"]) == ("error", reason)
    assert echo is None


@pytest.mark.parametrize("kind", KINDS)
def test_revoked_server_accepted_without_crl_control(client_bin, pki, serve, kind):
    """Control: the refusal above is the CRL's doing."""
    srv = serve(kind, cert="server-revoked")
    status, f, _ = connect(client_bin, pki, srv.port, crl="-")
    assert status == "ok", f


def test_expired_crl_still_revokes(client_bin, pki, serve):
    srv = serve("openssl", cert="server-revoked")
    status, f, _ = connect(client_bin, pki, srv.port, crl="crl-expired.pem")
    assert (status, f["reason"]) == ("error", "certificate revoked")


CLIENT_CERT_ARGS = {
    "openssl": ["-Verify", "1", "-verify_return_error", "-CAfile"],
    "gnutls": ["--require-client-cert", "--verify-client-cert", "--x509cafile"],
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("cert", ["operator", "rsa"])
def test_client_certificate_presented(client_bin, pki, serve, kind, cert):
    srv = serve(kind, args=[*CLIENT_CERT_ARGS[kind], str(pki / "ca.crt")])
    status, f, echo = connect(client_bin, pki, srv.port, cert=cert)
    assert status == "ok", (f, srv.output())
    assert echo  # the server accepted the client certificate and answered
    out = srv.output()
    assert ("mx.other-operator.test" if cert == "operator" else "rsa.mss.test") in out
    if kind == "openssl":
        assert "Verification: OK" in out


@pytest.mark.parametrize("kind", KINDS)
def test_no_client_certificate_refused_by_server(client_bin, pki, serve, kind):
    srv = serve(kind, args=[*CLIENT_CERT_ARGS[kind], str(pki / "ca.crt")])
    status, f, echo = connect(client_bin, pki, srv.port)
    # TLS 1.3: the server's refusal may come after the client's handshake completed;
    # either way no data is exchanged.
    assert status == "error" or not echo, (status, f, echo)


@pytest.mark.parametrize("kind,args", [
    ("openssl", ["-tls1_2"]),
    ("gnutls", ["--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.2"]),
])
def test_tls12_server(client_bin, pki, serve, kind, args):
    srv = serve(kind, args=args)
    status, f, echo = connect(client_bin, pki, srv.port)
    assert status == "ok", f
    assert f["version"] == "TLSv1.2"
    assert f["cipher"].startswith("ECDHE-") and ("GCM" in f["cipher"] or "CHACHA20" in f["cipher"])


@pytest.mark.parametrize("kind,args", [
    ("openssl", ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]),
    ("gnutls", ["--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.1:+VERS-TLS1.0"]),
])
def test_old_protocol_server_refused_no_fallback(client_bin, pki, serve, kind, args):
    srv = serve(kind, args=args)
    status, f, echo = connect(client_bin, pki, srv.port)
    # The server answers a TLS 1.2+ hello with an alert (which one depends on its
    # library); the client never retries with an older version.
    assert status == "error", f
    assert f["reason"] in ("unsupported protocol", "tlsv1 alert protocol version",
                           "sslv3 alert handshake failure"), f


def test_weak_suite_server_refused(client_bin, pki, serve):
    """A TLS 1.2 server that offers only suites without forward secrecy or AEAD."""
    srv = serve("openssl", cert="rsa", args=["-tls1_2", "-cipher", "AES128-SHA:AES128-GCM-SHA256"])
    status, f, echo = connect(client_bin, pki, srv.port)
    assert status == "error", f


def test_sni_sent(client_bin, pki, serve):
    srv = serve("gnutls")
    status, f, _ = connect(client_bin, pki, srv.port, name="mx.mss.test")
    assert status == "ok", f
    assert "server name[1]: mx.mss.test" in srv.output()


def test_no_sni_for_ip_address(client_bin, pki, serve):
    srv = serve("gnutls")
    status, f, _ = connect(client_bin, pki, srv.port, name="127.0.0.1")
    assert status == "ok", f
    assert "server name" not in srv.output().lower()


def test_silent_server_times_out(client_bin, pki):
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    held = []
    t = threading.Thread(target=lambda: held.append(lsock.accept()), daemon=True)
    t.start()
    t0 = time.monotonic()
    status, f, _ = connect(client_bin, pki, lsock.getsockname()[1], timeout=1)
    assert (status, f["reason"]) == ("error", "handshake timed out")
    assert time.monotonic() - t0 < 5
    for c, _ in held:
        c.close()
    lsock.close()


def test_client_context_needs_ca(client_bin, pki, serve):
    status, f, _ = connect(client_bin, pki, 1, ca="-")
    assert status == "ctx-error" and "CA file" in f["reason"]


@pytest.mark.parametrize("cert,why", [
    ("missing", "cannot read certificate file"),
])
def test_client_context_errors_name_the_file(client_bin, pki, cert, why):
    status, f, _ = connect(client_bin, pki, 1, cert=cert)
    assert status == "ctx-error" and why in f["reason"] and "missing.crt" in f["reason"]


def test_peer_closes_during_handshake(client_bin, pki):
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)

    def close_after_hello():
        c, _ = lsock.accept()
        c.recv(100)
        c.close()
    t = threading.Thread(target=close_after_hello, daemon=True)
    t.start()
    status, f, _ = connect(client_bin, pki, lsock.getsockname()[1])
    assert status == "error" and f["reason"], f
    t.join(timeout=5)
    lsock.close()
    assert os.path.exists(str(client_bin))
