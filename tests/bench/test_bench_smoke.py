"""Smoke runs of bench/ (issue 15): each benchmark runs at a tiny size against this build
and produces its table and its JSON, so that a broken bench is caught by the test command
(scripts/run-tests, stage "bench smoke runs") rather than by the next person measuring.

No timing is asserted: the figures of a 4-message run on a shared machine mean nothing.
What is asserted is that the bench worked: exit status 0, its table printed, its JSON
written with every server's run present and not failed, and every message accepted
(a bench whose load is refused measures nothing). Postfix and Dovecot take part when
installed (scripts/install-deps --bench; run-tests installs them), as in a real run.

    MSS_BUILD_DIR=build/normal /usr/bin/python3 -m pytest -q -n 2 tests/bench"""

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(os.environ.get("MSS_SOURCE_DIR") or Path(__file__).resolve().parents[2])
BENCH = SRC / "bench"
TIMEOUT = 240  # seconds for one bench; the four take about 30 s together on 2 cores


def have(*programs):
    return all(shutil.which(p) for p in programs)


def postfix_usable():
    return have("postfix") and os.geteuid() == 0  # Postfix's master needs root


def run_bench(tmp_path, name, *args):
    """Runs bench/NAME ARGS; returns (stdout, the one JSON it wrote)."""
    build = os.environ.get("MSS_BUILD_DIR")
    if not build:
        pytest.fail("MSS_BUILD_DIR is not set: the bench smoke runs need a build directory")
    env = dict(os.environ, MSS_BUILD_DIR=build, MSS_BENCH_RESULTS=str(tmp_path / "results"))
    if os.environ.get("MSS_TEST_PKI"):  # run-tests' PKI, already made
        env["MSS_BENCH_PKI"] = os.environ["MSS_TEST_PKI"]
    else:
        env["MSS_BENCH_PKI"] = str(tmp_path / "pki")
    r = subprocess.run([sys.executable, str(BENCH / name)] + list(args), env=env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=TIMEOUT)
    out = r.stdout + r.stderr
    assert r.returncode == 0, "bench/%s %s: status %d\n%s" % (name, " ".join(args),
                                                            r.returncode, out[-3000:])
    files = glob.glob(str(tmp_path / "results" / ("%s-*.json" % name)))
    assert len(files) == 1, "bench/%s wrote %d JSON files\n%s" % (name, len(files), out[-3000:])
    with open(files[0]) as f:
        figures = json.load(f)
    assert figures["benchmark"] == name and figures["machine"]["nproc"] >= 1
    assert "figures: %s" % files[0] in r.stdout
    return r.stdout, figures


def check_runs(figures, servers, out):
    runs = figures["runs"]
    failed = [r for r in runs if "failed" in r]
    assert not failed, "failed runs: %r\n%s" % (failed, out[-3000:])
    assert {r["server"] for r in runs} == set(servers), out[-3000:]
    return runs


def cgroup_mounted():
    """Whether any cgroup hierarchy is mounted here (a fresh chroot has none: the bench
    then says "not measured", as it does when not root)."""
    with open("/proc/self/mountinfo") as f:
        return any(line.partition(" - ")[2].split()[:1] in (["cgroup"], ["cgroup2"]) for line in f)


def check_server_cpu(figures, servers, out):
    """Each row's server CPU per message measured (root: the groups are writable) and its
    client's, the Postfix/MSS ratio beside the rate's; the groups removed afterwards."""
    if os.geteuid() != 0 or not cgroup_mounted():
        assert "server CPU: not measured" in out, out[-3000:]
        return
    assert figures["server_cpu_accounting"].startswith("cgroup v"), figures
    for r in figures["runs"]:
        assert r["server_cpu_ms_per_msg"] > 0 and r["server_cpu"]["seconds"] > 0, r
        assert r["client_cpu_ms_per_msg"] > 0, r
    assert "server CPU: " in out and "ms/message" in out
    if "postfix" in servers:
        assert all(x["postfix_over_mss_server_cpu"] > 0 for x in figures["ratios"]), figures
    # its own groups (others', of benches beside it, may exist meanwhile) removed
    assert len(figures["server_cpu_groups"]) == len(servers), figures
    assert not [g for g in figures["server_cpu_groups"] if os.path.exists(g)], figures


def test_smtp(tmp_path):
    """Both C clients (smtp-source on the MX port, smtp-gen with AUTH EXTERNAL on
    submission), both rows each, against MSS and Postfix; each server's CPU per message
    from its accounting group."""
    if not have("smtp-source", "stunnel4"):
        pytest.skip("smtp-source and stunnel4 needed (scripts/install-deps --bench)")
    n = 4
    args = ["-n", str(n), "-c", "2", "--max-seconds", "120"]
    servers = ["mss", "postfix"] if postfix_usable() else ["mss"]
    if len(servers) == 1:
        args.append("--no-postfix")
    out, figures = run_bench(tmp_path, "smtp", *args)
    check_server_cpu(figures, servers, out)
    assert figures["split_cpus"] is None and all("split" not in r for r in figures["runs"])
    assert "SMTP: %d msgs" % n in out
    assert "the patient's INBOX holds %d messages" % (4 * n) in out
    runs = check_runs(figures, servers, out)
    modes = ["mx-per-message", "mx-persistent", "submission-per-message",
             "submission-persistent"]
    for server in servers:
        assert [r["mode"] for r in runs if r["server"] == server] == modes
    for r in runs:
        assert r["accepted"] == n and r["errors"] == 0, "%r\n%s" % (r, out[-3000:])
        assert set(r["client_cpu_s"]) in ({"smtp-source", "stunnel"}, {"smtp-gen", "stunnel"})
        if r["mode"].startswith("submission"):
            assert r["p50_ms"] is not None and r["p99_ms"] is not None
    assert "smtp-gen" in figures["client"] and "smtp-source" in figures["client"]


def test_smtp_split_cpus(tmp_path):
    """--split-cpus: the servers on one CPU, the client on another, the pinning checked on
    both sides' processes during each row; with the cgroup v2 accounting where the
    machine has it beside v1 (test_smtp takes v1)."""
    if not have("smtp-source", "stunnel4", "taskset"):
        pytest.skip("smtp-source, stunnel4 and taskset needed")
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("--split-cpus needs two CPUs")
    args = ["-n", "20", "-c", "2", "--max-seconds", "120", "--split-cpus"]
    if os.path.exists("/sys/fs/cgroup/unified/cgroup.procs") or \
            os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        args += ["--cgroup", "v2"]
    servers = ["mss", "postfix"] if postfix_usable() else ["mss"]
    if len(servers) == 1:
        args.append("--no-postfix")
    out, figures = run_bench(tmp_path, "smtp", *args)
    check_server_cpu(figures, servers, out)
    if "--cgroup" in args and os.geteuid() == 0:
        assert figures["server_cpu_accounting"].startswith("cgroup v2"), figures
    cpus = sorted(os.sched_getaffinity(0))
    split = {"server": str(cpus[0]), "client": str(cpus[-1])}
    assert figures["split_cpus"] == split
    assert ("servers on CPU %(server)s, the client (and this script) on CPU %(client)s"
            % split) in out
    for r in check_runs(figures, servers, out):
        sp = r["split"]
        assert sp["server_cpus"] == split["server"] and sp["client_cpus"] == split["client"]
        assert sp["pinning_held"] and sp["pinning"]["samples"] >= 1, r
        # the server's processes were seen, each allowed only the server's CPU
        assert sp["pinning"]["server_pids"] > 0, r
        assert all(lists == [split["server"]] for lists in sp["pinning"]["server"].values())
        assert set(sp["cpu_busy"]) == {str(c) for c in range(os.cpu_count())}, r
        assert set(sp["cpu_interrupts"]) == set(sp["cpu_busy"]), r
    assert "pinning held" in out and "NOT HELD" not in out and "interrupts" in out


def test_smtp_second_build(tmp_path):
    """--mss-build-dir-2 runs the same rows against a second build (here the same one)
    in the same run: its rows under its label, each message accepted (EXTERNAL on
    submission as for the first build), its ratio to the first in the "/MSS" column."""
    if not have("smtp-source", "stunnel4"):
        pytest.skip("smtp-source and stunnel4 needed (scripts/install-deps --bench)")
    n = 2
    out, figures = run_bench(tmp_path, "smtp", "-n", str(n), "-c", "1", "--max-seconds", "120",
                             "--no-postfix", "--mss-build-dir-2", os.environ["MSS_BUILD_DIR"],
                             "--mss-label-2", "MSS again")
    runs = check_runs(figures, ["mss", "mss2"], out)
    modes = ["mx-per-message", "mx-persistent", "submission-per-message",
             "submission-persistent"]
    for server in ("mss", "mss2"):
        assert [r["mode"] for r in runs if r["server"] == server] == modes
        assert "%-8s the patient's INBOX holds %d messages" % (server, 4 * n) in out
    for r in runs:
        assert r["accepted"] == n and r["errors"] == 0, "%r\n%s" % (r, out[-3000:])
    first, second = ([r for r in runs if r["server"] == s] for s in ("mss", "mss2"))
    for a, b in zip(first, second):  # measured alike: each in an accounting group of its own
        assert (a["server_cpu_ms_per_msg"] is None) == (b["server_cpu_ms_per_msg"] is None)
    table = out[out.index("\nSMTP: "):]
    assert "/MSS" in table.splitlines()[2]
    assert len([l for l in table.splitlines() if l.startswith("MSS again ")]) == 4
    assert figures["labels"]["mss2"].startswith("MSS again (")


def test_imap_mss_conf_named(tmp_path):
    """--mss-conf's lines are named with the figures they changed (header, table, JSON):
    a result file of another configuration cannot pass for the bench's own; a line that
    is not KEY=VALUE is refused before anything starts."""
    out, figures = run_bench(tmp_path, "imap", "-m", "3", "-c", "1", "-r", "1", "--idle", "1",
                             "--populate-clients", "1", "--max-seconds", "120", "--body-loop",
                             "0", "--no-dovecot", "--mss-conf", "imap_view_lookups=16")
    assert figures["mss_conf"] == {"imap_view_lookups": "16"}, figures.get("mss_conf")
    assert "MSS's mss.conf over the bench's own: imap_view_lookups=16" in out
    assert "; MSS with imap_view_lookups=16" in out[out.index("\nIMAP: "):].splitlines()[1]
    r = subprocess.run([sys.executable, str(BENCH / "imap"), "--mss-conf", "imap_view_lookups"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "is not KEY=VALUE" in r.stderr, r.stdout + r.stderr


def test_imap(tmp_path):
    args = ["-m", "5", "-c", "2", "-r", "1", "--idle", "2", "--populate-clients", "2",
            "--max-seconds", "120", "--body-loop", "20"]
    servers = ["mss"]
    if have("dovecot", "doveadm") and os.geteuid() == 0:
        servers.append("dovecot")
    else:
        args.append("--no-dovecot")
    out, figures = run_bench(tmp_path, "imap", *args)
    assert "IMAP: 5 messages" in out and "SELECT median of 5 ms" in out
    runs = check_runs(figures, servers, out)
    for r in runs:
        assert r["messages"] == 5 and r["mixed"]["errors"] == 0, "%r\n%s" % (r, out[-3000:])
        assert r["select_p50_ms"] is not None and r["pss_kb_per_session"] is not None
        # both servers' re-SELECTs probed after the warm-up; Dovecot's index checked
        # clean (no directory its SELECT would rescan) before anything is timed
        assert len(r["probe_reselect_ms"]) == 3, r
        if r["server"] == "dovecot":
            assert r["maildir_state"]["dirty"] == [], r
        assert r["mixed"]["server_cpu_ms_per_round"] is not None
        # the loop's cost is read from the server's processes: none counted means the
        # TLS proxy and the session process were not found in the server's tree
        assert r["body_loop_n"] == 20 and r["body_loop_p50_ms"] is not None, r
        assert r["body_loop_server_cpu_us"] > 0 and r["body_loop_server_switches"] > 0, r
        # every session measured, the TLS proxy (the holder of the client's connection)
        # and the session process told apart
        assert r["body_loop_rounds"] == 3 and len(r["body_loop_per_round"]) == 3, r
        assert r["body_loop_proxy_cpu_us"] > 0 and r["body_loop_session_cpu_us"] > 0, r
        # and again with the client on another CPU
        assert len(r["body_apart_per_round"]) == 3 and r["body_apart_session_cpu_us"] > 0, r
        # FETCH 1:* (FLAGS) read raw: 5 FETCH lines and the tagged OK, and the server's CPU
        assert r["fetch_all_flags_lines"] == 6 and r["fetch_all_flags_bytes"] > 100, r
        assert r["fetch_all_flags_server_cpu_ms"] > 0, r
        # measured alike: the same nice for all of a server's processes, the same placement
        assert len(r["server_nice"]) == 1, r
        assert r["placement"] == runs[0]["placement"], r
        assert r["placement_apart"] == runs[0]["placement_apart"], r
    assert "server CPU ms / mixed round" in out and "body loop: server CPU us / fetch" in out
    assert "FETCH 1:* (FLAGS) server CPU ms" in out and "body loop: TLS proxy CPU us" in out
    assert "client on another CPU: server CPU us / fetch" in out


def test_directory(tmp_path):
    out, figures = run_bench(tmp_path, "directory", "-n", "500")
    assert "Directory import: 500 lines" in out
    assert [r["run"] for r in figures["runs"]] == ["first import", "re-import"]
    assert all(r["status"] == 0 and r["peak_rss_kb"] > 0 for r in figures["runs"]), out


def test_relay(tmp_path):
    if not postfix_usable():
        pytest.skip("bench/relay's receiving operator is a Postfix, whose master needs root")
    out, figures = run_bench(tmp_path, "relay", "-n", "4", "-c", "2", "--max-seconds", "120")
    assert "relay to another operator: 4 messages" in out
    runs = figures["figures"]
    assert [r["server"] for r in runs] == ["mss", "postfix"], out[-3000:]
    for r in runs:
        assert r["accepted"] == 4 and r["errors"] == 0 and r["relayed_per_s"] > 0, out[-3000:]


def test_commit_batch(tmp_path):
    """The committer's potential (bench/commit_batch): a store made by mss-smtpd, then the
    three modes replayed on it; a committer commits fewer times than the sessions."""
    if not have("smtp-source", "stunnel4"):
        pytest.skip("smtp-source and stunnel4 needed (scripts/install-deps --bench)")
    out, figures = run_bench(tmp_path, "commit_batch", "-n", "8", "--runs", "1")
    assert "commit batching: 40 deliveries per run" in out
    runs = figures["runs"]
    assert [r["mode"] for r in runs] == ["sessions", "committer 5", "committer 20"], out
    assert all(r["deliveries"] == 40 and r["wal_frames"] > 0 for r in runs), out
    assert [r["commits"] for r in runs] == [40, 8, 2], out


def test_smtp_gen_built_by_two_at_once(tmp_path):
    """Two benches started together on a build without smtp-gen (the smoke runs, -n 2)
    both get it: each compiles to a file of its own before the rename (they shared
    smtp-gen.tmp, and one failed: "No such file or directory: ...smtp-gen.tmp")."""
    code = ("import sys; sys.path.insert(0, %r); from benchlib import smtp_gen; "
            "print(smtp_gen.build())" % str(BENCH))
    env = dict(os.environ, MSS_BUILD_DIR=str(tmp_path))
    for _ in range(3):
        for f in glob.glob(str(tmp_path / "bench" / "smtp-gen*")):
            os.unlink(f)
        ps = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True) for _ in range(3)]
        outs = [(p.communicate(timeout=TIMEOUT)[0], p.returncode) for p in ps]
        assert all(rc == 0 for _, rc in outs), outs
        assert os.listdir(tmp_path / "bench") == ["smtp-gen"], os.listdir(tmp_path / "bench")
