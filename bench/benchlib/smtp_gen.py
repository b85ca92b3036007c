"""SMTP submission load from a C generator of ours (bench/smtp_gen.c) behind stunnel.

Postfix's smtp-source has no AUTH command (its options: HELO/EHLO, MAIL, RCPT, DATA,
-d, -N; nothing for SASL), so it cannot drive MSS's submission port, where a
professional authenticates with SASL EXTERNAL. smtp-gen is a small C program built
here (cc -O2 -pthread) on first use into MSS_BUILD_DIR/bench/: one thread per
session, plain SMTP to a client-mode stunnel (protocol = smtp: EHLO, STARTTLS, the
professional's certificate, the server's chain verified against the test CA), then
EHLO, AUTH EXTERNAL = (-a), MAIL, RCPT, DATA. It reports messages/s and the latency
from MAIL to the 250 after the final dot (p50, p99), which smtp-source cannot."""

import os
import resource
import subprocess
import time

from . import common
from .smtp_source import Stunnel, _cpu_seconds

SOURCE = os.path.join(common.SRC, "bench", "smtp_gen.c")


def build():
    """Path of the smtp-gen binary, compiled when missing or older than its source."""
    out_dir = os.path.join(common.build_dir(), "bench")
    exe = os.path.join(out_dir, "smtp-gen")
    if os.path.exists(exe) and os.path.getmtime(exe) >= os.path.getmtime(SOURCE):
        return exe
    os.makedirs(out_dir, exist_ok=True)
    cc = os.environ.get("CC", "cc")
    tmp = "%s.%d.tmp" % (exe, os.getpid())  # benches started together each build their own
    r = subprocess.run([cc, "-O2", "-Wall", "-Wextra", "-Werror", "-pthread", "-o",
                        tmp, SOURCE], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError("cannot build %s with %s: %s" % (SOURCE, cc, r.stderr.strip()[-500:]))
    os.replace(tmp, exe)
    return exe


def version():
    cc = os.environ.get("CC", "cc")
    r = subprocess.run([cc, "--version"], capture_output=True, text=True)
    first = (r.stdout.splitlines() or ["unknown"])[0]
    return "smtp-gen (bench/smtp_gen.c, %s)" % first


def _figures(stdout):
    """The key=value line smtp-gen prints."""
    out = {}
    for tok in stdout.split():
        k, _, v = tok.partition("=")
        if v:
            out[k] = float(v) if "." in v else int(v)
    return out


def run(port, pki, n, size, sessions, persistent, sender, rcpt, cert="pro",
        auth_external=True, mode="submission", max_seconds=600):
    """smtp-gen -s sessions -m n -l size [-d] [-a] through a fresh stunnel (client
    certificate cert) to port. Returns the same figures as smtp_source.run, with
    latencies."""
    exe = build()
    tun = Stunnel(port, pki, cert=cert)
    try:
        cmd = [exe, "-s", str(sessions), "-m", str(n), "-l", str(size),
               "-x", str(max_seconds), "-M", "client.bench.test", "-f", sender, "-t", rcpt]
        if auth_external:
            cmd.append("-a")
        if persistent:
            cmd.append("-d")
        cmd.append("127.0.0.1:%d" % tun.port)
        cpu0 = _cpu_seconds(tun.proc.pid)
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=max_seconds + 120)
        elapsed = time.monotonic() - t0
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        stunnel_cpu = _cpu_seconds(tun.proc.pid) - cpu0
        gen_cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
        f = _figures(r.stdout)
        errors = [l for l in (r.stderr or "").splitlines() if l.strip()]
        if "accepted" not in f:
            errors.append("smtp-gen: status %d, no figures" % r.returncode)
        if errors and tun.log_tail():
            errors.append("stunnel: " + tun.log_tail())
        ok = f.get("accepted", 0)
        return {
            "mode": "%s-%s" % (mode, "persistent" if persistent else "per-message"),
            "client": "smtp-gen+stunnel", "command": " ".join([os.path.basename(exe)] + cmd[1:-1])
            + " HOST:PORT",
            "messages": n, "size": size, "clients": sessions,
            "per_connection": "all" if persistent else 1,
            "accepted": ok, "seconds": f.get("seconds", round(elapsed, 3)),
            "msgs_per_s": f.get("msgs_per_s", 0.0),
            "p50_ms": f.get("p50_ms"), "p99_ms": f.get("p99_ms"), "max_ms": f.get("max_ms"),
            "client_cpu_s": {"smtp-gen": round(gen_cpu, 2), "stunnel": round(stunnel_cpu, 2)},
            "client_cpu_share": round((gen_cpu + stunnel_cpu) / elapsed / os.cpu_count(), 3),
            "errors": f.get("errors", 0) + (0 if "accepted" in f else 1),
            "first_errors": errors[:5],
            "_t0": t0,
        }
    finally:
        tun.stop()
