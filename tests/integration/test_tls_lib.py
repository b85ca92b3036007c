"""lib/tls.h end to end (whichever backend is built): tests/unit/tls_test_server (an
echo server over lib/tls.h) against real clients, openssl s_client and gnutls-cli, with
the test PKI. See tlshelp.py for the server's output lines.
"""
import os
import re
import socket
import subprocess
import time

import pytest

from tlshelp import BUILD, fingerprint, issue_cert, s_client, server_bin, start  # noqa: F401 (fixtures)


def configured_backend():
    """The backend ./configure chose for the build under test (--with-tls)."""
    m = re.search(r"^TLS_BACKEND = (\w+)$", (BUILD / "Makefile").read_text(), re.M)
    assert m, f"no TLS_BACKEND in {BUILD / 'Makefile'}"
    return m.group(1)


def test_backend_is_the_one_configured(start, smtpd, imapd):
    """The library, both daemons and the stage that runs this (MSS_TLS_BACKEND, set by
    scripts/run-tests) agree on the backend: a GnuTLS stage that silently ran OpenSSL
    (a build directory configured earlier without --with-tls) fails here."""
    want = configured_backend()
    assert want in ("openssl", "gnutls")
    if os.environ.get("MSS_TLS_BACKEND"):
        assert want == os.environ["MSS_TLS_BACKEND"]
    srv = start("none")
    assert srv.command("backend") == ["backend", want]
    assert f"tls={want}" in smtpd.log("smtpd")
    assert f"tls={want}" in imapd.log("imapd")


def test_trusted_client_cert_identity(start, pki):
    srv = start("require")
    assert srv.first == "listening"
    rc, out = s_client(pki, srv.port, cert="pro")
    status, f = srv.result()
    assert status == "ok", f
    assert f["has_cert"] == "1"
    assert f["email"] == "dr.martin@pro.mss.test"
    assert f["subject"] == "CN=Dr Martin,O=MSS Test,C=FR"
    assert f["issuer"] == "CN=MSS Test CA,O=MSS Test,C=FR"
    assert f["sha256"] == fingerprint(pki, "pro")
    assert f["version"] == "TLSv1.3"
    assert "hello" in out  # the echo came back over the session
    assert rc == 0


def test_operator_server_cert_dn(start, pki):
    """An operator's MTA presents its server certificate (EKU serverAuth+clientAuth)."""
    srv = start("optional")
    s_client(pki, srv.port, cert="operator")
    status, f = srv.result()
    assert status == "ok", f
    assert f["subject"] == "CN=mx.other-operator.test,OU=12345678900011,O=Other Operator,C=FR"
    assert f["email"] == ""
    assert f["sha256"] == fingerprint(pki, "operator")


def test_require_without_cert_refused(start, pki):
    srv = start("require")
    rc, out = s_client(pki, srv.port)
    status, f = srv.result()
    assert (status, f["reason"]) == ("error", "no client certificate")
    assert "hello" not in out


def test_optional_without_cert_accepted(start, pki):
    srv = start("optional")
    rc, out = s_client(pki, srv.port)
    status, f = srv.result()
    assert status == "ok", f
    assert f["has_cert"] == "0" and f["email"] == "" and f["sha256"] == ""
    assert "hello" in out


def test_none_mode_asks_no_cert(start, pki):
    srv = start("none", ca="-", crl="-")
    s_client(pki, srv.port, cert="pro")
    status, f = srv.result()
    assert status == "ok", f
    assert f["has_cert"] == "0"


BAD_CERTS = [
    ("expired", "certificate has expired"),
    ("revoked", "certificate revoked"),
    ("untrusted", "unable to get local issuer certificate"),
]


@pytest.mark.parametrize("mode", ["require", "optional"])
@pytest.mark.parametrize("cert,reason", BAD_CERTS)
def test_bad_client_cert_refused(start, pki, mode, cert, reason):
    srv = start(mode)
    rc, out = s_client(pki, srv.port, cert=cert)
    status, f = srv.result()
    assert (status, f["reason"]) == ("error", reason)
    assert "hello" not in out


def test_cert_without_client_auth_eku_refused(start, pki):
    """server.crt has EKU serverAuth only: not usable to log in as a client."""
    srv = start("optional")
    s_client(pki, srv.port, cert="server")
    status, f = srv.result()
    assert (status, f["reason"]) == ("error", "unsuitable certificate purpose")


@pytest.mark.parametrize("cert,reason", BAD_CERTS)
def test_bad_client_cert_refused_tls12(start, pki, cert, reason):
    srv = start("optional")
    rc, out = s_client(pki, srv.port, cert=cert, args=["-tls1_2"])
    status, f = srv.result()
    assert (status, f["reason"]) == ("error", reason)
    assert rc != 0 and "hello" not in out


def test_tls11_refused(start, pki):
    srv = start("optional")
    # SECLEVEL=0 so that this OpenSSL client really offers TLS 1.1.
    rc, out = s_client(pki, srv.port, args=["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"])
    status, f = srv.result()
    assert (status, f["reason"]) == ("error", "unsupported protocol")
    assert rc != 0


def test_non_forward_secret_cipher_refused(start, pki):
    srv = start("optional")
    rc, out = s_client(pki, srv.port, args=["-tls1_2", "-cipher", "AES128-GCM-SHA256"])
    status, f = srv.result()
    assert (status, f["reason"]) == ("error", "no shared cipher")
    assert rc != 0


@pytest.mark.parametrize("client", ["openssl", "gnutls"])
def test_finite_field_group_refused(start, pki, client):
    """Key exchange on elliptic curves only: a TLS 1.3 client that offers only ffdhe2048
    (which OpenSSL 3 and GnuTLS accept by default) is refused, in the same words."""
    srv = start("none")
    if client == "openssl":
        s_client(pki, srv.port, args=["-tls1_3", "-groups", "ffdhe2048"])
    else:
        subprocess.run(["gnutls-cli", "--x509cafile", str(pki / "ca.crt"), "--priority",
                        "NORMAL:-VERS-ALL:+VERS-TLS1.3:-GROUP-ALL:+GROUP-FFDHE2048", "-p",
                        str(srv.port), "localhost"],
                       input="hi\n", capture_output=True, text=True, timeout=20)
    assert srv.result() == ("error", {"reason": "no suitable key share"})


@pytest.mark.parametrize("group", ["X25519", "P-256", "P-384", "X448", "P-521"])
def test_elliptic_curve_groups(start, pki, group):
    srv = start("none")
    rc, out = s_client(pki, srv.port, args=["-tls1_3", "-groups", group])
    assert srv.result()[0] == "ok"
    assert rc == 0, out


def test_cbc_cipher_refused(start, pki):
    srv = start("optional")
    rc, out = s_client(pki, srv.port, args=["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256"])
    status, f = srv.result()
    assert (status, f["reason"]) == ("error", "no shared cipher")


def test_tls12_gets_ecdhe_aead(start, pki):
    srv = start("optional")
    rc, out = s_client(pki, srv.port, cert="pro2", args=["-tls1_2"])
    status, f = srv.result()
    assert status == "ok", f
    assert f["version"] == "TLSv1.2"
    assert f["cipher"].startswith("ECDHE-") and ("GCM" in f["cipher"] or "CHACHA20" in f["cipher"])
    assert f["email"] == "dr.durand@pro.mss.test"


def test_gnutls_client_tls12(start, pki):
    srv = start("require")
    p = subprocess.Popen(
        ["gnutls-cli", "--x509cafile", str(pki / "ca.crt"), "--x509certfile", str(pki / "org.crt"),
         "--x509keyfile", str(pki / "org.key"), "--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.2",
         "-p", str(srv.port), "127.0.0.1"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    status, f = srv.result()
    try:
        out, _ = p.communicate("hello\n", timeout=15)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert status == "ok", f
    assert f["email"] == "labo@pro.mss.test"
    assert f["version"] == "TLSv1.2"
    assert f["sha256"] == fingerprint(pki, "org")


def test_several_connections(start, pki):
    srv = start("optional", maxconn=3)
    s_client(pki, srv.port, cert="revoked")
    assert srv.result()[0] == "error"
    s_client(pki, srv.port, cert="pro")
    assert srv.result()[1].get("email") == "dr.martin@pro.mss.test"
    s_client(pki, srv.port)
    assert srv.result()[1].get("has_cert") == "0"
    assert srv.proc.wait(timeout=10) == 0


@pytest.mark.skipif(configured_backend() != "openssl", reason="GnuTLS sends the file's chain only")
def test_chain_sent_with_a_leaf_alone(start, pki, tmp_path):
    """A certificate file holding the leaf alone: OpenSSL sends the leaf and the CA of
    tls_ca it chains to (built once with the context, no longer at each handshake); a
    chain written in the file is sent as written."""
    def chain(**kw):
        srv = start("none", **kw)
        p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{srv.port}", "-CAfile",
                            str(pki / "ca.crt"), "-verify_return_error", "-showcerts"],
                           input="hello\n", capture_output=True, text=True, timeout=20)
        out = p.stdout + p.stderr
        assert p.returncode == 0 and srv.result()[0] == "ok", out
        return re.findall(r"^ *\d s:.*CN ?= ?([^,\n]+)$", out, re.M)

    assert chain() == ["localhost", "MSS Test CA"]
    both = tmp_path / "both.crt"
    both.write_text((pki / "server.crt").read_text() + (pki / "untrusted-ca.crt").read_text())
    assert chain(cert=str(both)) == ["localhost", "Untrusted Test CA"]


def test_handshake_timeout(start, pki):
    srv = start("optional", handshake_s=1)
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", srv.port)):  # and say nothing
        status, f = srv.result(timeout=10)
    assert (status, f["reason"]) == ("error", "handshake timed out")
    assert time.monotonic() - t0 < 5


def test_garbage_instead_of_handshake(start, pki):
    srv = start("optional")
    with socket.create_connection(("127.0.0.1", srv.port)) as s:
        s.sendall(b"EHLO example.org\r\n")
        status, f = srv.result()
    assert status == "error" and f["reason"]


@pytest.mark.parametrize("kw,expect", [
    ({"cert": "missing.crt"}, "missing.crt"),
    ({"key": "missing.key"}, "missing.key"),
    ({"key": "pro.key"}, "does not match"),
    ({"ca": "missing-ca.crt"}, "missing-ca.crt"),
    ({"crl": "missing.pem"}, "missing.pem"),
    ({"crl": "ca.crt"}, "no CRL in file"),
    ({"ca": "-", "crl": "-"}, "need a CA file"),
])
def test_context_errors_name_the_file(start, pki, kw, expect):
    srv = start("require", **kw)
    assert srv.first.startswith("ctx-error\t"), srv.first
    assert expect in srv.first


def test_renegotiation_refused(start, pki):
    srv = start("optional")
    p = subprocess.Popen(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{srv.port}", "-CAfile", str(pki / "ca.crt"),
         "-tls1_2"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    status, f = srv.result()
    assert status == "ok", f
    try:
        time.sleep(0.3)
        p.stdin.write("R\n")  # s_client: renegotiate
        p.stdin.flush()
        time.sleep(1)
        out, _ = p.communicate("", timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert "RENEGOTIATING" in out
    assert "no renegotiation" in out


def test_dn_escaping_and_first_email(start, pki, tmp_path):
    crt, key = issue_cert(pki, tmp_path, "odd", "/C=FR/O=Soins, Paris/CN=Dr \u00c9lise+UID=42",
                          "email:first@pro.mss.test,email:second@pro.mss.test")
    srv = start("require")
    s_client(pki, srv.port, args=["-cert", str(crt), "-key", str(key)])
    status, f = srv.result()
    assert status == "ok", f
    assert f["email"] == "first@pro.mss.test"
    # RFC 2253 as OpenSSL's XN_FLAG_RFC2253 prints it: ',' escaped, UTF-8 bytes as \XX
    # (dn.c unescapes both), the same text as "openssl x509 -nameopt RFC2253".
    expected = subprocess.run(["openssl", "x509", "-in", str(crt), "-noout", "-subject",
                               "-nameopt", "RFC2253"], capture_output=True, text=True,
                              check=True).stdout.strip().split("=", 1)[1]
    assert f["subject"] == expected
    assert "CN=Dr \\C3\\89lise" in expected and "O=Soins\\, Paris,C=FR" in expected


@pytest.mark.parametrize("san,email", [
    ("email:dr.x@xn--caf-dma.fr", "dr.x@xn--caf-dma.fr"),  # IDNA as written, never decoded
    ("DNS:pro.mss.test,email:dr.y@pro.mss.test", "dr.y@pro.mss.test"),  # after another type
    ("email:dr z@pro.mss.test", ""),  # a space: no identity rather than a doubtful one
])
def test_email_as_written(start, pki, tmp_path, san, email):
    """Both backends give the rfc822Name byte for byte (GnuTLS converts IDNA in some of
    its calls; the peer's address must match the directory's spelling as OpenSSL reads it)."""
    crt, key = issue_cert(pki, tmp_path, "mail", "/C=FR/CN=Dr X", san)
    srv = start("require")
    s_client(pki, srv.port, args=["-cert", str(crt), "-key", str(key)])
    status, f = srv.result()
    assert status == "ok", f
    assert f["email"] == email


def test_overlong_email_left_empty(start, pki, tmp_path):
    long_addr = "a" * 300 + "@pro.mss.test"
    crt, key = issue_cert(pki, tmp_path, "long", "/C=FR/O=MSS Test/CN=Long", f"email:{long_addr}")
    srv = start("require")
    s_client(pki, srv.port, args=["-cert", str(crt), "-key", str(key)])
    status, f = srv.result()
    assert status == "ok", f
    assert f["email"] == "" and f["has_cert"] == "1"


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_no_session_resumption_openssl(start, pki, version):
    """Every connection verifies its peer now (the CRL in force): no session cache, no
    tickets. s_client -reconnect offers the first session five more times."""
    srv = start("none", maxconn=6)
    p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{srv.port}", "-CAfile",
                        str(pki / "ca.crt"), version, "-reconnect"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    out = p.stdout + p.stderr
    assert out.count("drop connection and then reconnect") == 5, out
    assert "Reused," not in out
    assert out.count("New, TLSv1.") == 6


@pytest.mark.parametrize("priority", ["NORMAL", "NORMAL:-VERS-ALL:+VERS-TLS1.2"])
def test_no_session_resumption_gnutls(start, pki, priority):
    """gnutls-cli --resume: the second handshake is a full one (the server sends its
    certificate again)."""
    srv = start("none", maxconn=2)
    p = subprocess.run(["gnutls-cli", "--resume", "--x509cafile", str(pki / "ca.crt"), "--priority",
                        priority, "-p", str(srv.port), "localhost"],
                       input="hi\n", capture_output=True, text=True, timeout=30)
    out = p.stdout + p.stderr
    assert "trying to resume previous session" in out, out
    assert out.count("Got a certificate list") == 2, out
    assert srv.result()[0] == "ok" and srv.result()[0] == "ok"
