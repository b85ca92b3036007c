"""Shared helpers of the benchmarks: paths, ports, PKI, processes, figures.

Everything here binds 127.0.0.1 only; every wait is bounded."""

import json
import os
import platform
import socket
import subprocess
import sys
import time

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def build_dir():
    """The MSS build directory (MSS_BUILD_DIR, else SRC when built in place)."""
    d = os.environ.get("MSS_BUILD_DIR")
    if d:
        return os.path.abspath(d)
    for cand in (SRC, os.path.join(SRC, "build")):
        if os.path.exists(os.path.join(cand, "ctl", "mssctl")):
            return cand
    sys.exit("bench: set MSS_BUILD_DIR to a build directory (make bench does)")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=20.0, proc=None):
    """Waits until 127.0.0.1:port accepts; raises after timeout or if proc died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("server exited with status %s before listening" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on 127.0.0.1:%d after %.0fs" % (port, timeout))


def make_pki(directory):
    """Builds (once) the test PKI of scripts/make-test-pki into directory."""
    subprocess.run([os.path.join(SRC, "scripts", "make-test-pki"), directory],
                   check=True, stdout=subprocess.DEVNULL)
    return directory


def percentile(values, p):
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def ms(seconds):
    return None if seconds is None else round(seconds * 1000.0, 2)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 3)


def machine_info():
    return {
        "nproc": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_results(name, figures):
    """Writes bench/results/NAME-TIME.json and returns its path."""
    out = os.environ.get("MSS_BENCH_RESULTS", os.path.join(SRC, "bench", "results"))
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "%s-%s.json" % (name, time.strftime("%Y%m%dT%H%M%S")))
    figures = dict(figures)
    figures["machine"] = machine_info()
    with open(path, "w") as f:
        json.dump(figures, f, indent=2, sort_keys=True)
        f.write("\n")
    return path


def print_table(title, header, rows):
    """Prints a small fixed-width table."""
    cells = [[("-" if c is None else str(c)) for c in r] for r in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) if cells else len(str(h))
              for i, h in enumerate(header)]
    print("\n" + title)
    print("  ".join(str(h).ljust(widths[i]) for i, h in enumerate(header)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(r[i].ljust(widths[i]) for i in range(len(header))))
    sys.stdout.flush()


def proc_tree(root_pid, prune=()):
    """The pids of root_pid and all its descendants (from /proc), leaving out the pids of
    prune and their descendants."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
            ppid = int(st[st.rindex(")") + 2:].split()[1])
        except (OSError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root_pid]
    while todo:
        p = todo.pop()
        if p in prune:
            continue
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def memory_of(pids):
    """Sum of RSS and PSS (kB) over pids; PSS shares common pages fairly."""
    rss = pss = 0
    for p in pids:
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


def cpu_of(pids):
    """CPU seconds (user + system) used by pids and by their children already reaped
    (a session process that ended is counted in its parent's cutime/cstime): the
    difference of two readings over a server's process tree is the server's CPU in
    between, short-lived session processes included."""
    ticks = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                st = f.read()
            fields = st[st.rindex(")") + 2:].split()
            ticks += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        except (OSError, ValueError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


def run_of(pids):
    """(CPU nanoseconds, context switches) of the live pids: the scheduler's own account
    (/proc/PID/schedstat, /proc/PID/status), exact where cpu_of counts in clock ticks.
    Over a loop in one session, whose processes all outlive it, the difference of two
    readings is what the loop cost the server."""
    ns = switches = 0
    for p in pids:
        try:
            with open("/proc/%d/schedstat" % p) as f:
                ns += int(f.read().split()[0])
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                        switches += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            pass
    return ns, switches


def pids_named(names):
    """Pids whose command name (comm) is in names."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/comm" % d) as f:
                if f.read().strip() in names:
                    out.append(int(d))
        except OSError:
            pass
    return out


def nice_of(pid):
    """The nice value of pid (/proc/PID/stat), or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
        return int(st[st.rindex(")") + 2:].split()[16])
    except (OSError, ValueError, IndexError):
        return None


def cpus():
    """The CPUs this process may run on, sorted."""
    return sorted(os.sched_getaffinity(0))


def set_affinity(pids, cpu_set):
    """Pins each live pid to cpu_set (a process gone meanwhile is skipped); a child forked
    later inherits its parent's set."""
    for p in pids:
        try:
            os.sched_setaffinity(p, cpu_set)
        except OSError:
            pass


def tcp_peer_holder(local_port, pids):
    """The pid among pids that holds the TCP socket whose peer is 127.0.0.1:local_port
    (the server's end of a client's connection), or None: /proc/net/tcp gives the
    socket's inode, /proc/PID/fd the process holding it."""
    want = None
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                x = line.split()
                if int(x[2].split(":")[1], 16) == local_port:
                    want = "socket:[%s]" % x[9]
                    break
    except (OSError, ValueError, IndexError):
        return None
    if want is None:
        return None
    for p in pids:
        try:
            for fd in os.listdir("/proc/%d/fd" % p):
                if os.readlink("/proc/%d/fd/%s" % (p, fd)) == want:
                    return p
        except OSError:
            continue
    return None
