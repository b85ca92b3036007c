"""A private MSS instance for the benchmarks: config, mssctl init, accounts, daemons.

Follows the command line contract of DESIGN.md only."""

import os
import pwd
import shutil
import signal
import subprocess
import tempfile

from . import common

PRO = "dr.martin@pro.mss.test"
PRO2 = "dr.durand@pro.mss.test"
PATIENT = "146026322000196@patient.mss.test"
PASSWORD = "bench-Passw0rd-123"
# Each daemon's listeners (the second is the one waited for); KEY_listen in mss.conf.
DAEMON_PORTS = {"mss-smtpd": ("smtp", "submission", "submissions"), "mss-imapd": ("imaps", "imap")}


class Mss:
    def __init__(self, pki, workdir=None, max_sessions=1000, extra=None, build=None):
        self.build = build or common.build_dir()
        self.pki = pki
        self.dir = workdir or tempfile.mkdtemp(prefix="mss-bench-")
        os.makedirs(self.dir, exist_ok=True)
        self.ports = {k: common.free_port() for k in
                      ("smtp", "submission", "submissions", "imap", "imaps")}
        self.conf = os.path.join(self.dir, "mss.conf")
        self.procs = {}
        self.launch = list  # cmd -> the command that starts a daemon (cgroup.Side.launch)
        lines = {
            "data_dir": os.path.join(self.dir, "data"),
            "user": pwd.getpwuid(os.getuid()).pw_name,
            "hostname": "mss.bench.test",
            "domains": "pro.mss.test",
            "patient_domain": "patient.mss.test",
            "smtp_listen": "127.0.0.1:%d" % self.ports["smtp"],
            "submission_listen": "127.0.0.1:%d" % self.ports["submission"],
            "submissions_listen": "127.0.0.1:%d" % self.ports["submissions"],
            "imap_listen": "127.0.0.1:%d" % self.ports["imap"],
            "imaps_listen": "127.0.0.1:%d" % self.ports["imaps"],
            "tls_cert": os.path.join(pki, "server.crt"),
            "tls_key": os.path.join(pki, "server.key"),
            "tls_ca": os.path.join(pki, "ca.crt"),
            "tls_crl": os.path.join(pki, "crl.pem"),
            "max_sessions": str(max_sessions),
            "max_sessions_per_ip": str(max_sessions),
            "relay_networks": "127.0.0.0/8",
        }
        lines.update(extra or {})
        self.lines = lines
        self._write_conf()

    def _write_conf(self):
        with open(self.conf, "w") as f:
            for k, v in self.lines.items():
                f.write("%s = %s\n" % (k, v))

    def _new_ports(self, name):
        """New free ports for the listeners of daemon name, written into the config."""
        for k in DAEMON_PORTS[name]:
            self.ports[k] = common.free_port()
            self.lines[k + "_listen"] = "127.0.0.1:%d" % self.ports[k]
        self._write_conf()

    def log_tail(self, name, n=20):
        try:
            with open(os.path.join(self.dir, name + ".log"), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def bin(self, name):
        sub = {"mssctl": "ctl", "mss-smtpd": "smtpd", "mss-imapd": "imapd"}[name]
        return os.path.join(self.build, sub, name)

    def ctl(self, *args, stdin=None, check=True):
        r = subprocess.run([self.bin("mssctl"), "-c", self.conf] + list(args),
                           input=stdin, capture_output=True, text=True, timeout=600)
        if check and r.returncode != 0:
            raise RuntimeError("mssctl %s: status %d: %s" % (" ".join(args), r.returncode,
                                                            r.stderr.strip()))
        return r

    def init(self, accounts=((PRO, "professional"), (PRO2, "professional"),
                             (PATIENT, "patient"))):
        self.ctl("init")
        for addr, role in accounts:
            self.ctl("account", "add", addr, "--role", role, "--password-stdin",
                     stdin=PASSWORD + "\n")
        return self

    def start(self, which=("mss-smtpd", "mss-imapd"), tries=3):
        """Starts the daemons. The free ports were chosen before a daemon binds them: a
        process started meanwhile (the test stages run side by side) may take one, and
        the daemon then stops ("cannot listen on ...: Address already in use"): new
        ports for it, and again (as benchlib/postfix does)."""
        for name in which:
            for attempt in range(tries):
                log = open(os.path.join(self.dir, name + ".log"), "ab")
                p = subprocess.Popen(self.launch([self.bin(name), "-c", self.conf, "-d"]),
                                     stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
                log.close()
                self.procs[name] = p
                try:
                    common.wait_port(self.ports[DAEMON_PORTS[name][1]], proc=p)
                    break
                except RuntimeError as e:
                    tail = self.log_tail(name)
                    if attempt == tries - 1 or "Address already in use" not in tail:
                        raise RuntimeError("%s: %s\n%s" % (name, e, tail)) from None
                    self.procs.pop(name)
                    self._new_ports(name)
        return self

    def pid(self, name):
        return self.procs[name].pid

    def stop(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
            try:  # session processes that outlived their master
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.procs = {}

    def remove(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
