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


class Mss:
    def __init__(self, pki, workdir=None, max_sessions=1000, extra=None):
        self.build = common.build_dir()
        self.pki = pki
        self.dir = workdir or tempfile.mkdtemp(prefix="mss-bench-")
        os.makedirs(self.dir, exist_ok=True)
        self.ports = {k: common.free_port() for k in
                      ("smtp", "submission", "submissions", "imap", "imaps")}
        self.conf = os.path.join(self.dir, "mss.conf")
        self.procs = {}
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
        with open(self.conf, "w") as f:
            for k, v in lines.items():
                f.write("%s = %s\n" % (k, v))

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

    def start(self, which=("mss-smtpd", "mss-imapd")):
        for name in which:
            log = open(os.path.join(self.dir, name + ".log"), "ab")
            p = subprocess.Popen([self.bin(name), "-c", self.conf, "-d"],
                                 stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)
            self.procs[name] = p
            port = self.ports["submission" if name == "mss-smtpd" else "imap"]
            common.wait_port(port, proc=p)
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
