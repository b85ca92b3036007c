"""A server's CPU read from an accounting group, and the CPUs a side of the bench runs on.

CpuGroup: a control group of its own for one server's whole process tree. The server's
first process joins it before it execs (wrap()), so that everything it forks, before the
load and during it, is in the group from birth; the group's counter keeps the CPU of
the processes that exited meanwhile (a session process, a Postfix smtpd that reached its
max_use), which /proc/PID/stat of the living would lose. cgroup v1's cpuacct controller
(cpuacct.usage in ns, cpuacct.stat's user and system in clock ticks) where it is
mounted, else cgroup v2 (cpu.stat: usage_usec, user_usec, system_usec). Made under the
group the bench itself is in; remove() moves what is left in it back there and removes
it. Without a writable hierarchy (not root) the group is not made and read() gives None:
no figure rather than a wrong one.

Placement: in --split-cpus, which CPUs the server and the client have, and a sampler that
reads every process's Cpus_allowed_list during a row, to check that the pinning held."""

import atexit
import os
import threading
import time

from . import common

_LIVE = []  # groups made and not yet removed, removed at exit whatever happened


def _mounts():
    """(fstype, mount point, super options) of the cgroup hierarchies."""
    out = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fstype, _src, opts = (right.split() + ["", "", ""])[:3]
                if fstype in ("cgroup", "cgroup2"):
                    out.append((fstype, left.split()[4], opts.split(",")))
    except OSError:
        pass
    return out


def _own_path(controller):
    """The bench's own group in the hierarchy of controller ("" for cgroup v2)."""
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _id, ctrls, path = line.rstrip("\n").split(":", 2)
                if (controller == "" and _id == "0" and ctrls == "") or \
                        controller in ctrls.split(","):
                    return path
    except (OSError, ValueError):
        pass
    return None


def _read(path):
    with open(path) as f:
        return f.read()


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


class CpuGroup:
    """kind: "auto" (cgroup v1 cpuacct, else v2), "v1", "v2" or "none"."""

    def __init__(self, name, kind="auto"):
        self.path = None
        self.parent = None
        self.kind = None
        self.why_not = None
        tried = []
        mounts = _mounts()
        if kind in ("auto", "v1"):
            for fstype, point, opts in mounts:
                if fstype == "cgroup" and "cpuacct" in opts:
                    self._make(point, _own_path("cpuacct"), "v1", name, tried)
                    break
            else:
                tried.append("no cgroup v1 cpuacct hierarchy")
        if self.path is None and kind in ("auto", "v2"):
            for fstype, point, _opts in mounts:
                if fstype == "cgroup2":
                    self._make(point, _own_path(""), "v2", name, tried)
                    break
            else:
                tried.append("no cgroup v2 hierarchy")
        if kind == "none":
            tried.append("--cgroup none")
        if self.path is None:
            self.why_not = "; ".join(tried)

    def _make(self, point, own, kind, name, tried):
        if own is None:
            tried.append("%s: the bench's own group not found in /proc/self/cgroup" % kind)
            return
        parent = os.path.join(point, own.lstrip("/"))
        path = os.path.join(parent, "mss-bench-%d-%s" % (os.getpid(), name))
        try:
            os.mkdir(path)
        except OSError as e:
            tried.append("%s: cannot make %s (%s)" % (kind, path, e.strerror))
            return
        if kind == "v2" and not os.path.exists(os.path.join(path, "cpu.stat")):
            os.rmdir(path)
            tried.append("%s: %s has no cpu.stat" % (kind, path))
            return
        self.path, self.parent, self.kind = path, parent, kind
        _LIVE.append(self)

    def wrap(self, cmd):
        """cmd, started inside the group: a shell writes its own pid into the group's
        cgroup.procs and execs cmd (same pid), so that all cmd forks is counted."""
        if self.path is None:
            return list(cmd)
        return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"',
                os.path.join(self.path, "cgroup.procs")] + list(cmd)

    def pids(self):
        if self.path is None:
            return []
        try:
            return [int(x) for x in _read(os.path.join(self.path, "cgroup.procs")).split()]
        except (OSError, ValueError):
            return []

    def read(self):
        """{"ns": CPU ns, "user_ns", "system_ns"} of everything that ran in the group since
        it was made, or None when there is no group."""
        if self.path is None:
            return None
        if self.kind == "v1":
            ns = int(_read(os.path.join(self.path, "cpuacct.usage")))
            st = dict(line.split() for line in
                      _read(os.path.join(self.path, "cpuacct.stat")).splitlines())
            tick = 1e9 / os.sysconf("SC_CLK_TCK")
            return {"ns": ns, "user_ns": int(st["user"]) * tick,
                    "system_ns": int(st["system"]) * tick}
        st = dict(line.split() for line in
                  _read(os.path.join(self.path, "cpu.stat")).splitlines())
        return {"ns": int(st["usage_usec"]) * 1000, "user_ns": int(st["user_usec"]) * 1000,
                "system_ns": int(st["system_usec"]) * 1000}

    def settle(self, quiet_ns=500000, step=0.1, limit=3.0):
        """Waits (at most limit s) until the group used less than quiet_ns over step s:
        the end of a row's work (sessions exiting, the last commits) is in the row."""
        if self.path is None:
            return
        deadline = time.monotonic() + limit
        last = self.read()["ns"]
        while time.monotonic() < deadline:
            time.sleep(step)
            now = self.read()["ns"]
            if now - last < quiet_ns:
                return
            last = now

    def remove(self):
        """Moves what is left in the group back to the bench's own group, removes it."""
        if self.path is None:
            return
        for _ in range(50):
            left = self.pids()
            for p in left:
                try:
                    _write(os.path.join(self.parent, "cgroup.procs"), str(p))
                except OSError:
                    pass  # exited meanwhile
            try:
                os.rmdir(self.path)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)
        if self in _LIVE:
            _LIVE.remove(self)
        self.path = None


def cpu_ms(before, after, messages):
    """Server CPU per message over a row (ms, user and system ms), None without figures."""
    if before is None or after is None or not messages:
        return None
    return {"ms_per_msg": round((after["ns"] - before["ns"]) / 1e6 / messages, 4),
            "user_ms_per_msg": round((after["user_ns"] - before["user_ns"]) / 1e6 / messages, 4),
            "system_ms_per_msg": round((after["system_ns"] - before["system_ns"]) / 1e6
                                       / messages, 4),
            "seconds": round((after["ns"] - before["ns"]) / 1e9, 3)}


@atexit.register
def _remove_all():
    for g in list(_LIVE):
        g.remove()


class Side:
    """How one server is started: in its own CpuGroup, and pinned to cpus when given
    (taskset before the master execs, so that every process it forks inherits the set)."""

    def __init__(self, name, kind="auto", cpus=None):
        self.group = CpuGroup(name, kind)
        self.cpus = cpus

    def launch(self, cmd):
        if self.cpus:
            cmd = ["taskset", "-c", cpu_list(self.cpus)] + list(cmd)
        return self.group.wrap(cmd)

    def remove(self):
        self.group.remove()


def cpu_list(cpus):
    return ",".join(str(c) for c in sorted(cpus))


def cpu_times():
    """{cpu: (busy ticks, all ticks, interrupt ticks)} from /proc/stat; interrupts (irq and
    softirq: among them loopback's packets, handled on the sending CPU) are busy time that
    no process's CPU counts."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                x = line.split()
                v = [int(t) for t in x[1:]]
                idle = v[3] + (v[4] if len(v) > 4 else 0)  # idle + iowait
                total = sum(v[:8])  # guest time is counted in user already
                out[int(x[0][3:])] = (total - idle, total, v[5] + v[6])
    return out


def busy_share(before, after, field=0):
    """{cpu: share of the time it was busy} between two cpu_times() (field 2: in
    interrupts)."""
    out = {}
    for c, now in after.items():
        then = before.get(c, now)
        out[c] = (round((now[field] - then[field]) / (now[1] - then[1]), 3)
                  if now[1] > then[1] else None)
    return out


def _status(pid):
    comm = cpus = None
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("Name:"):
                    comm = line.split(None, 1)[1].strip()
                elif line.startswith("Cpus_allowed_list:"):
                    cpus = line.split(None, 1)[1].strip()
    except OSError:
        pass
    return comm, cpus


class PinSampler(threading.Thread):
    """Every interval s (0.5) while a row runs: the Cpus_allowed_list of every process in the
    server's group and of every process below the bench (the client), by command name.
    stop() returns {"server": {comm: [lists]}, "client": {comm: [lists]}, "samples": n,
    "server_pids": how many server processes were seen}."""

    def __init__(self, group, interval=0.5):
        super().__init__(daemon=True)
        self.group, self.interval = group, interval
        self.seen = {"server": {}, "client": {}}
        self.server_pids = set()
        self.samples = 0
        self._done = threading.Event()

    def _sample(self):
        server = set(self.group.pids())
        me = os.getpid()
        for side, pids in (("server", server),
                           ("client", [p for p in common.proc_tree(me, prune=server)
                                       if p != me])):
            for p in pids:
                comm, cpus = _status(p)
                if comm is None:
                    continue
                self.seen[side].setdefault(comm, set()).add(cpus)
                if side == "server":
                    self.server_pids.add(p)
        self.samples += 1

    def run(self):
        while not self._done.is_set():
            self._sample()
            self._done.wait(self.interval)

    def stop(self):
        self._done.set()
        self.join(timeout=10)
        return {"samples": self.samples, "server_pids": len(self.server_pids),
                "server": {k: sorted(v) for k, v in sorted(self.seen["server"].items())},
                "client": {k: sorted(v) for k, v in sorted(self.seen["client"].items())}}


CLIENT_BOUND = 0.9  # the client's CPU busy this share of the row or more: client-bound


class Row:
    """One row's measuring on one server: its group's CPU from before the load to after
    it settled; with client_cpus (--split-cpus), also how busy each CPU was during the
    load (/proc/stat) and the Cpus_allowed_list of both sides' processes (PinSampler).
    Call loaded() when the load ends, then finish(accepted) once the server's work for
    the row is done (Postfix: the last delivery)."""

    def __init__(self, side, client_cpus=None):
        self.side, self.client_cpus = side, client_cpus
        self.sampler = None
        if client_cpus:
            self.sampler = PinSampler(side.group)
            self.sampler.start()
        self.times0 = cpu_times()
        self.times1 = None
        self.script0 = sum(os.times()[:2])  # this script's own CPU (the sampler's included)
        self.pins = None
        self.before = side.group.read()

    def loaded(self):
        self.times1 = cpu_times()
        self.script1 = sum(os.times()[:2])
        if self.sampler:
            self.pins = self.sampler.stop()

    def finish(self, r):
        """Adds the row's figures to r (a run's dict, with "accepted", "seconds" and
        perhaps "client_cpu_s"); returns r."""
        if self.times1 is None:
            self.loaded()
        self.side.group.settle()
        cpu = cpu_ms(self.before, self.side.group.read(), r["accepted"])
        r["server_cpu"] = cpu
        r["server_cpu_ms_per_msg"] = cpu["ms_per_msg"] if cpu else None
        client = r.get("client_cpu_s")
        r["client_cpu_ms_per_msg"] = (round(1000.0 * sum(client.values()) / r["accepted"], 4)
                                      if client and r["accepted"] else None)
        if self.client_cpus:
            busy = busy_share(self.times0, self.times1)
            server_cpus = sorted(self.side.cpus)
            client_cpus = sorted(self.client_cpus)
            want = {"server": cpu_list(server_cpus), "client": cpu_list(client_cpus)}
            held = all(lists == [want[side]] for side in ("server", "client")
                       for lists in self.pins[side].values())
            client_busy = max(busy.get(c) or 0 for c in client_cpus)
            wall = r["seconds"] * len(client_cpus)
            share = round(sum(client.values()) / wall, 3) if client and wall else None
            script = round((self.script1 - self.script0) / wall, 3) if wall else None
            r["split"] = {"server_cpus": want["server"], "client_cpus": want["client"],
                          "cpu_busy": {str(c): v for c, v in sorted(busy.items())},
                          "cpu_interrupts": {str(c): v for c, v in sorted(
                              busy_share(self.times0, self.times1, 2).items())},
                          "client_share_of_its_cpus": share,
                          "script_share_of_client_cpus": script,
                          "pinning": self.pins, "pinning_held": held,
                          "client_bound": client_busy >= CLIENT_BOUND}
        return r
