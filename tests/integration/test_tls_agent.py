"""The key agent end to end (issue 12: the process that runs handshakes does not hold
the TLS private key): tests/unit/tls_test_server -a and tls_test_client -a fork a key
agent process that reads the key, and build their context from the certificate and a
channel to it. Handshakes with RSA and EC keys, TLS 1.2 (RSA PKCS#1 v1.5 and RSA-PSS
signatures) and TLS 1.3, against openssl s_client / s_server and gnutls-cli; then the
memory of the handshaking process is searched for the key's secret numbers (and, as
controls, the agent's memory and that of a server that read the key file)."""
import re
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tlshelp import Peer, client_bin, connect, s_client, server_bin, start  # noqa: F401 (fixtures)



def gnutls_cli(pki, port, priority="NORMAL", cert=None):
    cmd = ["gnutls-cli", "--x509cafile", str(pki / "ca.crt"), "--priority", priority, "-p", str(port),
           "127.0.0.1"]
    if cert:
        cmd += ["--x509certfile", str(pki / f"{cert}.crt"), "--x509keyfile", str(pki / f"{cert}.key")]
    p = subprocess.run(cmd, input="hello\n", capture_output=True, text=True, timeout=20)
    return p.returncode, p.stdout + p.stderr


CLIENTS = [
    ("s_client-1.3", lambda pki, port: s_client(pki, port)),
    ("s_client-1.2", lambda pki, port: s_client(pki, port, args=["-tls1_2"])),
    ("s_client-1.2-pkcs1", lambda pki, port: s_client(pki, port, args=[
        "-tls1_2", "-sigalgs", "RSA+SHA256:RSA+SHA384:ECDSA+SHA256:ECDSA+SHA384"])),
    ("s_client-1.2-pss", lambda pki, port: s_client(pki, port, args=[
        "-tls1_2", "-sigalgs", "RSA-PSS+SHA256:ECDSA+SHA256"])),
    ("gnutls-cli-1.3", lambda pki, port: gnutls_cli(pki, port)),
    ("gnutls-cli-1.2", lambda pki, port: gnutls_cli(pki, port, "NORMAL:-VERS-ALL:+VERS-TLS1.2")),
]


@pytest.mark.parametrize("cert", ["server", "rsa"])  # EC P-256 and RSA 2048 keys
@pytest.mark.parametrize("name,client", CLIENTS, ids=[c[0] for c in CLIENTS])
def test_server_handshake_through_agent(start, pki, cert, name, client):
    srv = start("optional", cert=f"{cert}.crt", key=f"{cert}.key", flags=["-a"])
    assert srv.first == "listening", srv.first
    rc, out = client(pki, srv.port)
    status, f = srv.result()
    assert status == "ok", (f, out)
    assert f["version"] == ("TLSv1.2" if "1.2" in name else "TLSv1.3")
    assert "hello" in out
    if cert == "rsa" and "1.2" in name:
        assert f["cipher"].startswith("ECDHE-RSA-")


def test_client_certificate_verified_with_agent_server(start, pki):
    """The agent signs the server's handshake; the client's certificate is verified as
    usual (the CRL too)."""
    srv = start("require", cert="rsa.crt", key="rsa.key", flags=["-a"], maxconn=2)
    s_client(pki, srv.port, cert="pro")
    status, f = srv.result()
    assert status == "ok" and f["email"] == "dr.martin@pro.mss.test", f
    s_client(pki, srv.port, cert="revoked")
    assert srv.result() == ("error", {"reason": "certificate revoked"})


@pytest.mark.parametrize("cert", ["operator", "rsa"])
@pytest.mark.parametrize("kind,args", [
    ("openssl", []), ("openssl", ["-tls1_2"]), ("gnutls", []),
    ("gnutls", ["--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.2"]),
])
def test_client_certificate_signed_by_agent(pki, tmp_path, client_bin, cert, kind, args):
    verify = {"openssl": ["-Verify", "1", "-verify_return_error", "-CAfile"],
              "gnutls": ["--require-client-cert", "--verify-client-cert", "--x509cafile"]}[kind]
    peer = Peer(kind, pki, tmp_path, args=[*args, *verify, str(pki / "ca.crt")])
    try:
        status, f, echo = connect(client_bin, pki, peer.port, cert=cert, agent=True)
        assert status == "ok", (f, peer.output())
        assert echo, peer.output()
        assert ("mx.other-operator.test" if cert == "operator" else "rsa.mss.test") in peer.output()
    finally:
        peer.stop()


def secrets_of(pki, name):
    """The key's secret numbers as they may sit in memory: big- and little-endian
    (OpenSSL's and GnuTLS's big numbers are arrays of little-endian words)."""
    key = serialization.load_pem_private_key((pki / f"{name}.key").read_bytes(), password=None)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        numbers = [key.private_numbers().private_value]
    else:
        assert isinstance(key, rsa.RSAPrivateKey)
        n = key.private_numbers()
        numbers = [n.p, n.q, n.d]
    out = []
    for x in numbers:
        size = (x.bit_length() + 7) // 8
        out += [x.to_bytes(size, "big"), x.to_bytes(size, "little")]
    body = "".join((pki / f"{name}.key").read_text().splitlines()[1:-1])
    out.append(body[:48].encode())  # the PEM text itself
    return out


def memory_holds(pid, needles):
    """Which needles occur in the readable memory of process pid. Read in bounded chunks
    (with an overlap so that a needle across two chunks is seen); mappings larger than
    MAX_REGION are skipped: under AddressSanitizer they are its shadow memory, terabytes
    reserved, never where a key is kept (the heap's mappings are far smaller). A process
    that ended meanwhile (a connection's, a relay worker) holds nothing: an empty set."""
    try:
        return memory_holds_live(pid, needles)
    except (ProcessLookupError, FileNotFoundError):
        return set()


def memory_holds_live(pid, needles):
    found = set()
    overlap = max(len(n) for n in needles) - 1
    maps = open(f"/proc/{pid}/maps").read().splitlines()
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for line in maps:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
            if not m or m.group(3)[0] != "r" or "[vvar]" in line or "[vsyscall]" in line:
                continue
            start, end = int(m.group(1), 16), int(m.group(2), 16)
            if end - start > MAX_REGION:
                continue
            tail = b""
            for at in range(start, end, CHUNK):
                try:
                    mem.seek(at)
                    data = tail + mem.read(min(CHUNK, end - at))
                except OSError:
                    break
                for i, needle in enumerate(needles):
                    if needle in data:
                        found.add(i)
                tail = data[-overlap:] if overlap > 0 else b""
    return found


CHUNK = 1 << 20
MAX_REGION = 1 << 30


@pytest.mark.parametrize("cert", ["server", "rsa"])
def test_key_not_in_handshake_process_memory(start, pki, cert):
    needles = secrets_of(pki, cert)
    srv = start("optional", cert=f"{cert}.crt", key=f"{cert}.key", flags=["-a"], maxconn=3)
    s_client(pki, srv.port)
    assert srv.result()[0] == "ok"
    s_client(pki, srv.port, args=["-tls1_2"])
    assert srv.result()[0] == "ok"
    agent_pid = int(srv.command("agent-pid")[1])
    assert memory_holds(srv.proc.pid, needles) == set()
    # Controls: the search finds the key where it is.
    assert memory_holds(agent_pid, needles), "the agent holds the key"
    plain = start("optional", cert=f"{cert}.crt", key=f"{cert}.key", maxconn=2)
    s_client(pki, plain.port)
    assert plain.result()[0] == "ok"
    assert memory_holds(plain.proc.pid, needles), "a server that read the key file holds it"


def test_agent_key_reload(start, pki, tmp_path):
    """SIGHUP for the agent: new key file read; with tls_ctx_reload the server then
    presents the new certificate."""
    import shutil
    for name in ("server", "rsa"):
        shutil.copyfile(pki / f"{name}.crt", tmp_path / f"{name}.crt")
    shutil.copyfile(pki / "server.key", tmp_path / "live.key")
    shutil.copyfile(pki / "server.crt", tmp_path / "live.crt")
    srv = start("optional", cert=str(tmp_path / "live.crt"), key=str(tmp_path / "live.key"),
                flags=["-a"], maxconn=3)
    s_client(pki, srv.port)
    assert srv.result()[0] == "ok"
    shutil.copyfile(pki / "rsa.key", tmp_path / "live.key")
    shutil.copyfile(pki / "rsa.crt", tmp_path / "live.crt")
    assert srv.command("agent-reload") == ["agent-reload", "0", ""]
    assert srv.command("reload") == ["reload", "ok"]
    rc, out = s_client(pki, srv.port, args=["-showcerts"])
    status, f = srv.result()
    assert status == "ok", f
    assert "rsa.mss.test" in out
