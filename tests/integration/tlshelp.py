"""Helpers for the TLS layer's tests (test_tls_*.py): tests/unit/tls_test_server, an
echo server over lib/tls.h (either backend), driven against real clients and real
servers (openssl s_client / s_server, gnutls-cli / gnutls-serv) with the test PKI.

The server prints one line per connection: "ok\\tkey=value..." with the peer identity,
or "error\\t<reason>"; the assertions read that line. Its log lines (lib/log.h) go to
a file: Server.log().
"""
import fcntl
import os
import select
import socket
import subprocess
import time
from pathlib import Path

import pytest

SRC = Path(os.environ.get("MSS_SOURCE_DIR") or Path(__file__).resolve().parents[2])
BUILD = Path(os.environ.get("MSS_BUILD_DIR") or SRC)
SERVER = BUILD / "tests" / "unit" / "tls_test_server"
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_program(path):
    """A check program (tests/unit), built when "make all" did not build it. The pytest
    workers that need it build it one at a time (a lock in the build directory): two
    makes of one program at once overwrite each other's .deps/*.Tpo ("mv: cannot stat")
    and a worker that saw the file a linker was still writing ran it (EACCES)."""
    with open(path.parent / ".check-programs.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            subprocess.run(["make", "-C", str(path.parent), path.name], check=True,
                           stdout=subprocess.DEVNULL)
    return path


@pytest.fixture(scope="module")
def server_bin():
    """tls_test_server is a check program: build it when "make all" did not."""
    return check_program(SERVER)


class Server:
    def __init__(self, binary, pki, mode, maxconn=1, ca="ca.crt", crl="crl.pem",
                 cert="server.crt", key="server.key", handshake_s=10, log_dir=None, flags=()):
        path = lambda f: str(pki / f) if f != "-" else "-"
        # A port picked by free_port() can be taken by another test's connect() before
        # the server binds it: the server then says listen-error and exits, and it is
        # started again on another port (a bounded number of times).
        for _ in range(5):
            self.port = free_port()
            self.log_path = Path(log_dir or pki) / f"tls_test_server.{self.port}.log"
            self.log_file = open(self.log_path, "w")
            self.proc = subprocess.Popen(
                [str(binary), *flags, str(self.port), path(cert), path(key), path(ca), path(crl), mode,
                 str(maxconn), "30", str(handshake_s)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log_file, text=True)
            self.first = self.line(10)
            if not self.first.startswith("listen-error\t"):
                return
            self.proc.wait(timeout=10)
            self.proc.stdin.close()
            self.proc.stdout.close()
            self.log_file.close()

    def line(self, timeout=10):
        """The server's next stdout line, or "" after timeout / exit."""
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return ""
        return self.proc.stdout.readline().rstrip("\n")

    def result(self, timeout=10):
        """(status, fields) of the next connection's line."""
        parts = self.line(timeout).split("\t")
        if parts[0] == "ok":
            return "ok", dict(p.split("=", 1) for p in parts[1:])
        return parts[0], {"reason": parts[1] if len(parts) > 1 else ""}

    def command(self, cmd):
        """Sends a stdin command (reload, reload-crl) and returns its answer's fields."""
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return self.line().split("\t")

    def log(self):
        return self.log_path.read_text(errors="replace")

    def stop(self):
        """Lets the server exit on its own (so sanitizers report), then checks stderr."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc.stdout.close()
        self.log_file.close()
        err = self.log()
        for marker in SANITIZER_MARKERS:
            assert marker not in err, err


@pytest.fixture
def start(server_bin, pki, tmp_path):
    servers = []

    def _start(mode, **kw):
        kw.setdefault("log_dir", tmp_path)
        s = Server(server_bin, pki, mode, **kw)
        servers.append(s)
        return s

    yield _start
    for s in servers:
        s.stop()


def s_client(pki, port, cert=None, args=(), data="hello\n"):
    """openssl s_client to the server; returns (returncode, stdout+stderr)."""
    cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", str(pki / "ca.crt"),
           "-verify_return_error", "-quiet", *args]
    if cert:
        cmd += ["-cert", str(pki / f"{cert}.crt"), "-key", str(pki / f"{cert}.key")]
    p = subprocess.run(cmd, input=data, capture_output=True, text=True, timeout=20)
    return p.returncode, p.stdout + p.stderr


def fingerprint(pki, cert):
    out = subprocess.run(["openssl", "x509", "-in", str(pki / f"{cert}.crt"), "-noout",
                          "-fingerprint", "-sha256"], capture_output=True, text=True,
                         check=True).stdout
    return out.strip().split("=", 1)[1].replace(":", "").lower()


def issue_cert(pki, d, name, subj, san):
    """A client certificate signed by the test CA, made on the spot."""
    key, csr, crt, ext = (d / f"{name}.{e}" for e in ("key", "csr", "crt", "ext"))
    ext.write_text(f"extendedKeyUsage = clientAuth\nsubjectAltName = {san}\n")
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)
    run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-out", str(key))
    run("openssl", "req", "-new", "-utf8", "-key", str(key), "-subj", subj, "-out", str(csr))
    run("openssl", "x509", "-req", "-in", str(csr), "-CA", str(pki / "ca.crt"), "-CAkey",
        str(pki / "ca.key"), "-CAcreateserial", "-CAserial", str(d / "serial"), "-days", "2",
        "-sha256", "-extfile", str(ext), "-out", str(crt))
    return crt, key


CLIENT = BUILD / "tests" / "unit" / "tls_test_client"


@pytest.fixture(scope="module")
def client_bin():
    return check_program(CLIENT)


class Peer:
    """A real TLS server on a free loopback port, its output kept in a file."""

    def __init__(self, kind, pki, log_dir, cert="server", args=()):
        # free_port() can lose its port to another test before the server binds it:
        # gnutls-serv then listens on IPv6 alone and still says "listening" (the
        # client, on 127.0.0.1, got "Connection refused"). Such a start is retried
        # on another port.
        for _attempt in range(5):
            if self._start(kind, pki, log_dir, cert, args):
                return
            self.stop()
        raise AssertionError(f"{kind}: no free loopback port after 5 attempts: {self.output()}")

    def _start(self, kind, pki, log_dir, cert, args):
        self.port = free_port()
        self.out_path = Path(log_dir) / f"{kind}.{self.port}.out"
        p = lambda n: str(pki / n)
        if kind == "openssl":
            cmd = ["openssl", "s_server", "-accept", f"127.0.0.1:{self.port}", "-naccept", "1",
                   "-cert", p(f"{cert}.crt"), "-key", p(f"{cert}.key"), "-rev", *args]
            ready = "ACCEPT"
        else:
            cmd = ["gnutls-serv", "--echo", "-p", str(self.port), "--x509certfile", p(f"{cert}.crt"),
                   "--x509keyfile", p(f"{cert}.key"), *args]
            ready = f"IPv4 0.0.0.0 port {self.port}...done"
        self.out = open(self.out_path, "w")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=self.out,
                                     stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 10
        while ready not in self.output():
            if "bind() failed" in self.output() or "Address already in use" in self.output():
                return False
            assert self.proc.poll() is None, self.output()
            assert time.monotonic() < deadline, self.output()
            time.sleep(0.05)
        return True

    def output(self):
        return self.out_path.read_text(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()


@pytest.fixture
def serve(pki, tmp_path):
    peers = []

    def _serve(kind, **kw):
        peer = Peer(kind, pki, tmp_path, **kw)
        peers.append(peer)
        return peer

    yield _serve
    for peer in peers:
        peer.stop()


def connect(client_bin, pki, port, cert="-", crl="crl.pem", name="localhost", timeout=10, ca="ca.crt",
            agent=False):
    """Runs tls_test_client (with a key agent holding the key when agent); returns
    (status, fields, echo line)."""
    path = lambda n: str(pki / n) if n != "-" else "-"
    args = [str(client_bin), *(["-a"] if agent else []), str(port), name,
            path(f"{cert}.crt") if cert != "-" else "-", path(f"{cert}.key") if cert != "-" else "-",
            path(ca), path(crl), str(timeout)]
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout + 20)
    lines = p.stdout.splitlines()
    assert lines, p.stderr
    parts = lines[0].split("\t")
    echo = next((l.split("\t", 1)[1] for l in lines[1:] if l.startswith("echo\t")), None)
    if parts[0] == "ok":
        return "ok", dict(x.split("=", 1) for x in parts[1:]), echo
    return parts[0], {"reason": parts[1] if len(parts) > 1 else ""}, echo
