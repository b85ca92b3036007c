"""bench/benchlib/cgroup.py, the accounting group bench/smtp reads each server's CPU from
(issue 15: "the bench must measure the server, not the client"): the CPU of processes
that exited during a row still counted, the group removed afterwards, no figure without
a writable hierarchy, and every process of both servers' trees in the group (MSS's
committer, forked before anything else, and Postfix's daemons, forked by a master that
left its parent) on the CPU it was pinned to.

    MSS_BUILD_DIR=build/cur /usr/bin/python3 -m pytest -q tests/bench/test_cgroup.py"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

SRC = Path(os.environ.get("MSS_SOURCE_DIR") or Path(__file__).resolve().parents[2])
sys.path.insert(0, str(SRC / "bench"))
from benchlib import cgroup, common  # noqa: E402
from benchlib import mss as mssmod  # noqa: E402
from benchlib import postfix as pfmod  # noqa: E402
from benchlib import smtp_load  # noqa: E402

BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"


def kinds():
    """The hierarchies this machine has (as root they are writable)."""
    out = []
    for fstype, _point, opts in cgroup._mounts():
        if fstype == "cgroup" and "cpuacct" in opts and "v1" not in out:
            out.append("v1")
        elif fstype == "cgroup2" and "v2" not in out:
            out.append("v2")
    return out


def cgroup_of(pid, kind):
    """pid's group path in the hierarchy of kind, from /proc/PID/cgroup."""
    with open("/proc/%d/cgroup" % pid) as f:
        for line in f:
            num, ctrls, path = line.rstrip("\n").split(":", 2)
            if (kind == "v2" and num == "0") or (kind == "v1" and "cpuacct" in ctrls.split(",")):
                return path
    return None


@pytest.mark.parametrize("kind", ["v1", "v2"])
def test_the_cpu_of_exited_processes_counts(kind):
    if os.geteuid() != 0:
        pytest.skip("a cgroup is made by root")
    if kind not in kinds():
        pytest.skip("no %s hierarchy here" % kind)
    g = cgroup.CpuGroup("test", kind)
    assert g.kind == kind and os.path.isdir(g.path), g.why_not
    before = g.read()
    # a grandchild burns 0.3 s of CPU and exits; its shell exits: nobody left alive
    subprocess.run(g.wrap(["/bin/sh", "-c", '"$0" -c "$1" & wait', sys.executable, BURN]),
                   check=True, timeout=60)
    assert g.pids() == []
    cpu = cgroup.cpu_ms(before, g.read(), 1)
    assert 0.25 <= cpu["seconds"] < 5, cpu
    assert cpu["user_ms_per_msg"] > 100, cpu
    path = g.path
    g.remove()
    assert not os.path.exists(path) and g.read() is None


def test_remove_moves_the_living_back():
    if os.geteuid() != 0 or not kinds():
        pytest.skip("a cgroup is made by root")
    g = cgroup.CpuGroup("test")
    p = subprocess.Popen(g.wrap(["sleep", "30"]))
    try:
        deadline = time.monotonic() + 10
        while p.pid not in g.pids() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert g.pids() == [p.pid]
        path = g.path
        g.remove()
        assert not os.path.exists(path)
        assert cgroup_of(p.pid, g.kind) == cgroup_of(os.getpid(), g.kind)
    finally:
        p.kill()
        p.wait()


def test_no_group_no_figure():
    g = cgroup.CpuGroup("test", "none")
    assert g.path is None and g.read() is None and "none" in g.why_not
    assert g.wrap(["true"]) == ["true"]
    assert cgroup.cpu_ms(None, None, 10) is None


def check_tree(side, master):
    """Every process of master's tree in side's group, pinned to side's CPUs; returns
    the command names seen."""
    tree = common.proc_tree(master)
    inside = set(side.group.pids())
    assert set(tree) <= inside, (tree, inside)
    names = set()
    for p in tree:
        comm, cpus = cgroup._status(p)
        names.add(comm)
        assert cpus == cgroup.cpu_list(side.cpus), (comm, cpus)
    return names


def test_whole_mss_tree_in_its_group():
    if os.geteuid() != 0 or not kinds():
        pytest.skip("a cgroup is made by root")
    if not os.environ.get("MSS_BUILD_DIR"):
        pytest.fail("MSS_BUILD_DIR is not set")
    pki = common.make_pki(os.environ.get("MSS_TEST_PKI") or
                          os.path.join("/tmp", "mss-bench-pki"))
    side = cgroup.Side("test-mss", cpus=[sorted(os.sched_getaffinity(0))[0]])
    m = mssmod.Mss(pki).init()
    m.launch = side.launch
    try:
        m.start(("mss-smtpd",))
        deadline = time.monotonic() + 30  # the committer names itself once it runs
        while True:
            names = check_tree(side, m.pid("mss-smtpd"))
            if {"mss-smtpd", "mss-committer"} <= names or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert {"mss-smtpd", "mss-committer"} <= names, names
    finally:
        m.remove()
        side.remove()


def test_whole_postfix_tree_in_its_group():
    if os.geteuid() != 0 or not kinds() or not pfmod.available():
        pytest.skip("Postfix's master needs root and the package")
    pki = common.make_pki(os.environ.get("MSS_TEST_PKI") or
                          os.path.join("/tmp", "mss-bench-pki"))
    side = cgroup.Side("test-postfix", cpus=[sorted(os.sched_getaffinity(0))[-1]])
    pf = pfmod.Postfix(pki).configure([mssmod.PATIENT], domain="patient.mss.test")
    pf.launch = side.launch
    try:
        pf.start()
        smtp_load.send_one(pf.ports["starttls"], "starttls", pki, mssmod.PRO, mssmod.PATIENT,
                           "Subject: tree")
        assert pf.wait_delivered(1, timeout=60)
        master = pf.master_pid()
        assert master in side.group.pids()
        names = check_tree(side, master)
        # the daemons that took the message, each forked by the master when needed
        assert {"master", "qmgr", "smtpd", "cleanup", "trivial-rewrite", "virtual"} <= names, \
            names
    finally:
        pf.remove()
        side.remove()
