"""SMTP load from a C generator: Postfix's smtp-source behind stunnel in client mode.

smtp-source speaks plain SMTP; stunnel (protocol = smtp) reads the server's greeting,
says EHLO and STARTTLS, presents the operator's client certificate, verifies the
server's chain against the test CA, and from then on carries smtp-source's own EHLO,
MAIL, RCPT and DATA inside TLS. Every smtp-source connection is a new stunnel
connection and so a new TLS handshake with the server: "-d" (stay connected, next
message on the same connection) is the persistent row. Both are C programs, so the
load uses little of the machine's CPU: their CPU time is measured and reported.

smtp-source's "-N" (a sequence number prepended to each recipient) is not used: the
recipient must be an existing mailbox on both servers."""

import os
import resource
import shutil
import signal
import subprocess
import tempfile
import time

from . import common


def available():
    return shutil.which("smtp-source") is not None and shutil.which("stunnel4") is not None


def versions():
    """What the client was: the Debian packages' versions of smtp-source and stunnel."""
    out = {}
    for prog, pkg in (("smtp-source", "postfix"), ("stunnel", "stunnel4")):
        r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg],
                           capture_output=True, text=True)
        out[prog] = "%s (Debian %s %s)" % (prog, pkg, r.stdout.strip() or "unknown")
    return out


def _cpu_seconds(pid):
    """utime + stime of a live process, from /proc (stunnel runs for the whole run)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class Stunnel:
    """A client-mode stunnel on a free loopback port, STARTTLS to 127.0.0.1:port."""

    def __init__(self, port, pki, cert="operator"):
        self.dir = tempfile.mkdtemp(prefix="stunnel-bench-")
        self.port = common.free_port()
        conf = os.path.join(self.dir, "stunnel.conf")
        with open(conf, "w") as f:
            f.write("foreground = yes\npid =\ndebug = 3\noutput = %s\n"
                    "[mx]\nclient = yes\naccept = 127.0.0.1:%d\nconnect = 127.0.0.1:%d\n"
                    "protocol = smtp\nsslVersionMin = TLSv1.2\n"
                    "cert = %s\nkey = %s\nCAfile = %s\nverifyChain = yes\n"
                    % (os.path.join(self.dir, "stunnel.log"), self.port, port,
                       os.path.join(pki, cert + ".crt"), os.path.join(pki, cert + ".key"),
                       os.path.join(pki, "ca.crt")))
        self.proc = subprocess.Popen(["stunnel4", conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        common.wait_port(self.port, proc=self.proc)

    def log_tail(self, n=3):
        try:
            with open(os.path.join(self.dir, "stunnel.log")) as f:
                return "".join(f.readlines()[-n:]).strip()
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


def run(port, pki, n, size, sessions, persistent, sender, rcpt, max_seconds=600):
    """smtp-source -s sessions -m n -l size [-d] through a fresh stunnel to port.
    Returns figures: messages/s over smtp-source's wall time, the client's CPU."""
    tun = Stunnel(port, pki)
    try:
        cmd = ["smtp-source", "-s", str(sessions), "-m", str(n), "-l", str(size),
               "-M", "client.bench.test", "-f", sender, "-t", rcpt]
        if persistent:
            cmd.append("-d")
        cmd.append("127.0.0.1:%d" % tun.port)
        cpu0 = _cpu_seconds(tun.proc.pid)
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=max_seconds)
        elapsed = time.monotonic() - t0
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        stunnel_cpu = _cpu_seconds(tun.proc.pid) - cpu0
        source_cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
        errors = [l for l in (r.stderr or "").splitlines() if l.strip()]
        if r.returncode != 0 and not errors:
            errors = ["smtp-source: status %d" % r.returncode]
        if errors and tun.log_tail():
            errors.append("stunnel: " + tun.log_tail())
        ok = n if r.returncode == 0 else 0
        return {
            "mode": "mx-persistent" if persistent else "mx-per-message",
            "client": "smtp-source+stunnel", "command": " ".join(cmd[:-1]) + " HOST:PORT",
            "messages": n, "size": size, "clients": sessions,
            "per_connection": "all" if persistent else 1,
            "accepted": ok, "seconds": round(elapsed, 3),
            "msgs_per_s": round(ok / elapsed, 1) if ok else 0.0,
            "p50_ms": None, "p99_ms": None,
            "client_cpu_s": {"smtp-source": round(source_cpu, 2),
                             "stunnel": round(stunnel_cpu, 2)},
            "client_cpu_share": round((source_cpu + stunnel_cpu) / elapsed / os.cpu_count(), 3),
            "errors": len(errors), "first_errors": errors[:5],
            "_t0": t0,
        }
    finally:
        tun.stop()
