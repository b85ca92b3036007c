"""The peer's subject and issuer DN are the same text whichever TLS backend is built:
OpenSSL's RFC 2253 form (X509_NAME_print_ex with XN_FLAG_RFC2253, what
"openssl x509 -nameopt RFC2253" prints), so that the trust list (directory/dn.c)
gives the same answers. Checked on the test PKI's names and on names made here with
every string type, escaped characters, multi-valued RDNs and an unknown attribute."""
import datetime
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from tlshelp import s_client, server_bin, start  # noqa: F401 (fixtures)


def openssl_dn(cert_path, which="subject"):
    out = subprocess.run(["openssl", "x509", "-in", str(cert_path), "-noout", f"-{which}",
                          "-nameopt", "RFC2253"], capture_output=True, text=True, check=True).stdout
    return out.strip().split("=", 1)[1]


def peer_fields(start, pki, crt, key):
    srv = start("require")
    s_client(pki, srv.port, args=["-cert", str(crt), "-key", str(key)])
    status, f = srv.result()
    assert status == "ok", f
    return f


@pytest.mark.parametrize("name", ["pro", "operator", "odd", "rsa", "org"])
def test_pki_names(start, pki, name):
    f = peer_fields(start, pki, pki / f"{name}.crt", pki / f"{name}.key")
    assert f["subject"] == openssl_dn(pki / f"{name}.crt")
    assert f["issuer"] == openssl_dn(pki / f"{name}.crt", "issuer")


A = x509.NameAttribute
RDN = x509.RelativeDistinguishedName
UNKNOWN = ObjectIdentifier("1.3.6.1.4.1.99999.1")
ORG_ID = ObjectIdentifier("2.5.4.97")

NAMES = {
    "string-types": [
        RDN([A(NameOID.COUNTRY_NAME, "FR")]),
        RDN([A(NameOID.ORGANIZATION_NAME, "Caf\u00e9 Sant\u00e9", _ASN1Type.T61String)]),
        RDN([A(NameOID.ORGANIZATIONAL_UNIT_NAME, "\u00c9lise \u20ac", _ASN1Type.BMPString)]),
        RDN([A(NameOID.LOCALITY_NAME, "Z\u00fcrich \U0001F600", _ASN1Type.UniversalString)]),
        RDN([A(NameOID.EMAIL_ADDRESS, "elise@pro.mss.test", _ASN1Type.IA5String)]),
        RDN([A(NameOID.COMMON_NAME, "Dr \u00c9lise")]),
    ],
    "escapes": [
        RDN([A(NameOID.ORGANIZATION_NAME, 'A, B; "C" <D> +E \\F =G')]),
        RDN([A(NameOID.ORGANIZATIONAL_UNIT_NAME, "#leading hash")]),
        RDN([A(NameOID.ORGANIZATIONAL_UNIT_NAME, " spaces ")]),
        RDN([A(NameOID.COMMON_NAME, "tab\there")]),
    ],
    "multi-valued": [
        RDN([A(NameOID.COUNTRY_NAME, "FR")]),
        RDN([A(NameOID.ORGANIZATION_NAME, "MSS Test"), A(NameOID.ORGANIZATIONAL_UNIT_NAME, "Soins")]),
        RDN([A(NameOID.COMMON_NAME, "Dr Multi"), A(NameOID.USER_ID, "42"),
             A(NameOID.SERIAL_NUMBER, "810001234567")]),
    ],
    "unknown-attribute": [
        RDN([A(NameOID.COUNTRY_NAME, "FR")]),
        RDN([A(ORG_ID, "VATFR-12345678901")]),
        RDN([A(UNKNOWN, "private attribute")]),
        RDN([A(NameOID.COMMON_NAME, "mx.example.test")]),
    ],
}


def make_cert(pki, d, label, rdns):
    ca_key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), password=None)
    ca = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.utcnow()
    cert = (x509.CertificateBuilder().subject_name(x509.Name(rdns)).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    crt, k = d / f"{label}.crt", d / f"{label}.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    return crt, k


@pytest.mark.parametrize("label", sorted(NAMES))
def test_made_names(start, pki, tmp_path, label):
    crt, key = make_cert(pki, tmp_path, label, NAMES[label])
    want = openssl_dn(crt)
    f = peer_fields(start, pki, crt, key)
    assert f["subject"] == want
    # Check the expectation itself is non-trivial: escapes, \XX bytes, '+', dumps.
    assert {"string-types": "\\C3\\89", "escapes": "\\,", "multi-valued": "+",
            "unknown-attribute": "1.3.6.1.4.1.99999.1=#"}[label] in want
