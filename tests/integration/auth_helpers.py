"""Helpers (no tests) for the authentication tests: one byte-level SASL client over
SMTP AUTH (RFC 4954) and IMAP AUTHENTICATE (RFC 9051 6.2.2), so that each rule is
checked the same way on every listener; a certificate minted by the test CA for any
e-mail address; OAuth tokens and a JWK Set minted with python3-jwt and
python3-cryptography."""
import base64
import json
import socket
import ssl
import subprocess
import time
from pathlib import Path

from test_imap_helpers import RawImap
from test_smtp_protocol import connect

LISTENERS = ["submission", "submissions", "imap", "imaps"]


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def plain_msg(user, password, authzid=""):
    return b64(f"{authzid}\0{user}\0{password}")


class Sasl:
    """One session on listener, TLS done (cert: a test PKI name), ready to authenticate.

    Each answer is classified as one word: "challenge" (334 / +), "ok", "failed"
    (535 5.7.8 / NO [AUTHENTICATIONFAILED]), "locked" (421 4.7.0 / NO then BYE),
    "malformed" (501 5.5.2 / BAD), "cancelled" (501 5.7.0 / BAD), "unknown" (mechanism
    not offered: 504 / NO), "toolong" (500 5.5.2 line too long / BAD [TOOBIG])."""

    def __init__(self, m, listener, cert=None):
        self.m = m
        self.imap = listener.startswith("imap")
        self.tag = 0
        if self.imap:
            self.c = RawImap(m, implicit=(listener == "imaps"), cert=cert)
            lines, _ = self.c.cmd("C0", "CAPABILITY")
            caps = b" ".join(lines).decode().split()
            self.mechs = [c[5:] for c in caps if c.startswith("AUTH=")]
        else:
            self.c = connect(m, listener, cert=cert, ehlo=False)
            _, lines = self.c.cmd("EHLO client.test")
            auth = [l for l in lines if l.startswith("AUTH ")]
            self.mechs = auth[0].split()[1:] if auth else []
        self.text = ""

    def _smtp(self, code, text):
        self.text = " ".join(text)
        word = {334: "challenge", 235: "ok", 535: "failed", 421: "locked", 504: "unknown",
                454: "temporary", 500: "toolong"}.get(code)
        if code == 501:
            word = "cancelled" if text[0].startswith("5.7.0") else "malformed"
        self.challenge = text[0] if code == 334 else None
        return word or f"smtp-{code}"

    def _imap_reply(self):
        line = self.c.readline()
        if line.startswith(b"+"):
            self.challenge = line[2:].decode()
            self.text = line.decode()
            return "challenge"
        while not line.startswith(self.cur.encode() + b" "):
            line = self.c.readline()
        self.text = line.decode()
        rest = line[len(self.cur) + 1:]
        if rest.startswith(b"OK"):
            return "ok"
        if rest.startswith(b"BAD"):
            if b"cancelled" in rest:
                return "cancelled"
            return "toolong" if b"TOOBIG" in rest else "malformed"
        if b"AUTHENTICATIONFAILED" in rest:
            # A lockout's "* BYE" leaves in the same write as the tagged NO (imap_login.c
            # answer()), so it is here already or within moments; a plain failure sends
            # nothing more, and each one waited a whole second before.
            self.c.sock.settimeout(0.25)
            try:
                while b"\r\n" not in self.c.buf:
                    chunk = self.c.sock.recv(4096)
                    if not chunk:
                        break
                    self.c.buf += chunk
            except (socket.timeout, TimeoutError):
                pass
            self.c.sock.settimeout(15)
            return "locked" if self.c.buf.startswith(b"* BYE") else "failed"
        if b"UNAVAILABLE" in rest:
            return "temporary"
        return "unknown"

    def start(self, mech, initial=None):
        """AUTH mech [initial] / AUTHENTICATE mech [initial]."""
        if self.imap:
            self.tag += 1
            self.cur = f"A{self.tag}"
            self.c.send(f"{self.cur} AUTHENTICATE {mech}{' ' + initial if initial else ''}\r\n".encode())
            return self._imap_reply()
        return self._smtp(*self.c.cmd(f"AUTH {mech}{' ' + initial if initial else ''}"))

    def send(self, line):
        """Answers a challenge."""
        if self.imap:
            self.c.send(line.encode() + b"\r\n")
            return self._imap_reply()
        return self._smtp(*self.c.cmd(line))

    def login(self, user, password):
        """AUTH PLAIN with an initial response."""
        return self.start("PLAIN", plain_msg(user, password))

    def noop(self):
        """The session goes on: NOOP is answered."""
        if self.imap:
            _, t = self.c.cmd("N1", "NOOP")
            return t.startswith(b"N1 OK")
        return self.c.cmd("NOOP")[0] == 250

    def close(self):
        try:
            self.c.sock.close()
        except OSError:
            pass


def mint_cert(pki, name, email, cn="Someone"):
    """A client certificate of the test CA with subjectAltName email (files name.crt and
    name.key in pki, which client_context(name) then loads)."""
    pki = Path(pki)
    crt, key = pki / f"{name}.crt", pki / f"{name}.key"
    if crt.exists():
        return name
    ext = pki / f"{name}.ext"
    ext.write_text("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                   f"extendedKeyUsage=clientAuth\nsubjectAltName=email:{email}\n")
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", str(key), "-subj", f"/C=FR/O=MSS Test/CN={cn}",
                    "-out", str(pki / f"{name}.csr")], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", str(pki / f"{name}.csr"), "-CA", str(pki / "ca.crt"),
                    "-CAkey", str(pki / "ca.key"), "-CAcreateserial", "-days", "30", "-sha256",
                    "-extfile", str(ext), "-out", str(crt)], check=True, capture_output=True)
    return name


# --- OAuth ------------------------------------------------------------------------

ISSUER = "https://auth.esante.gouv.fr/auth/realms/esante-wallet"
AUDIENCE = "mss-test-client"


class Issuer:
    """An OAuth issuer of the tests: an RSA and an EC key, the JWK Set file, tokens."""

    def __init__(self, directory):
        import jwt  # python3-jwt
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        self.jwt = jwt
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        keys = []
        for kid, k in (("rsa-1", self.rsa), ("ec-1", self.ec)):
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(k.public_key()) if kid.startswith("rsa")
                             else jwt.algorithms.ECAlgorithm.to_jwk(k.public_key()))
            jwk.update(kid=kid, use="sig")
            keys.append(jwk)
        self.jwks = Path(directory) / "jwks.json"
        self.jwks.write_text(json.dumps({"keys": keys}))

    def settings(self):
        return {"oauth_issuer": ISSUER, "oauth_audience": AUDIENCE, "oauth_jwks_file": str(self.jwks)}

    def token(self, identity, alg="RS256", kid=None, key=None, **claims):
        """A signed access token for identity (the preferred_username claim)."""
        now = int(time.time())
        body = {"iss": ISSUER, "aud": [AUDIENCE, "account"], "exp": now + 300, "iat": now,
                "preferred_username": identity}
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        if key is None:
            key = self.ec if alg == "ES256" else self.rsa
            kid = kid or ("ec-1" if alg == "ES256" else "rsa-1")
        headers = {"kid": kid} if kid else {}
        return self.jwt.encode(body, key, algorithm=alg, headers=headers)


def xoauth2(user, token):
    return b64(f"user={user}\x01auth=Bearer {token}\x01\x01")


def oauthbearer(user, token):
    authzid = f"a={user}" if user else ""
    return b64(f"n,{authzid},\x01host=localhost\x01port=993\x01auth=Bearer {token}\x01\x01")
