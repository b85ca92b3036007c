"""A private Postfix instance from Debian's package, for side-by-side figures.

Configured in a temporary directory (its own main.cf, master.cf, queue and mail
store), listening on 127.0.0.1 only on free non-standard ports; stopped and removed
afterwards. Three smtpd services mirror the MSS listeners:
  starttls: STARTTLS required, a client certificate required and verified against the
            test CA (permit_tls_all_clientcerts), as MSS submission with SASL EXTERNAL;
  tls:      the same behind TLS from the first byte (smtpd_tls_wrappermode);
  plain:    no TLS, loopback clients allowed (mynetworks).
Mail for pro.mss.test is delivered locally by virtual(8) into Maildirs (fsync per
message, as Postfix always does)."""

import os
import pwd
import shutil
import subprocess
import tempfile
import time

from . import common

SERVICES = ("pickup", "cleanup", "qmgr", "tlsmgr", "rewrite", "bounce", "defer",
            "trace", "verify", "flush", "proxymap", "proxywrite", "smtp", "relay",
            "showq", "error", "retry", "discard", "local", "virtual", "lmtp", "anvil",
            "scache", "postlog")

# name type private unpriv chroot wakeup maxproc command
MASTER_ROWS = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def available():
    return shutil.which("postfix") is not None and os.path.isdir("/usr/lib/postfix/sbin")


class Postfix:
    def __init__(self, pki, maxproc=200):
        self.pki = pki
        self.dir = tempfile.mkdtemp(prefix="postfix-bench-")
        os.chmod(self.dir, 0o755)
        self.conf = os.path.join(self.dir, "conf")
        self.vmail = os.path.join(self.dir, "vmail")
        self.ports = {k: common.free_port() for k in ("starttls", "tls", "plain")}
        self.maxproc = maxproc
        self.started = False
        self.launch = list  # cmd -> the command that starts the master (cgroup.Side.launch)

    def _write(self, name, text):
        with open(os.path.join(self.conf, name), "w") as f:
            f.write(text)

    def configure(self, recipients, domain="pro.mss.test", cert="server", extra=None):
        """recipients: the addresses with a Maildir; domain: the one virtual(8) serves;
        cert: the name of the PKI's certificate and key its smtpd presents (the tests
        use "operator", the DN an MSS trust list names for another operator); extra:
        main.cf settings added or replaced (bench/relay's relaying instance)."""
        nobody = pwd.getpwnam("nobody")
        os.makedirs(self.conf)
        os.makedirs(os.path.join(self.dir, "data"))
        os.makedirs(os.path.join(self.dir, "queue"))
        os.makedirs(self.vmail)
        os.chown(os.path.join(self.dir, "data"), pwd.getpwnam("postfix").pw_uid, -1)
        os.chown(self.vmail, nobody.pw_uid, nobody.pw_gid)
        main = {
            "compatibility_level": "3.6",
            "queue_directory": os.path.join(self.dir, "queue"),
            "data_directory": os.path.join(self.dir, "data"),
            "command_directory": "/usr/sbin",
            "daemon_directory": "/usr/lib/postfix/sbin",
            "shlib_directory": "/usr/lib/postfix",
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": "postfix.bench.test",
            "mydomain": "bench.test",
            "mydestination": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "relayhost": "",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "biff": "no",
            "maillog_file": os.path.join(self.dir, "maillog"),
            "maillog_file_prefixes": self.dir,
            "virtual_mailbox_domains": domain,
            "virtual_mailbox_base": self.vmail,
            "virtual_mailbox_maps": "texthash:" + os.path.join(self.conf, "vmailbox"),
            "virtual_uid_maps": "static:%d" % nobody.pw_uid,
            "virtual_gid_maps": "static:%d" % nobody.pw_gid,
            "virtual_minimum_uid": "100",
            "virtual_destination_concurrency_limit": "20",
            "message_size_limit": "26214400",
            "smtpd_tls_cert_file": os.path.join(self.pki, cert + ".crt"),
            "smtpd_tls_key_file": os.path.join(self.pki, cert + ".key"),
            "smtpd_tls_CAfile": os.path.join(self.pki, "ca.crt"),
            "smtpd_tls_protocols": ">=TLSv1.2",
            "smtpd_tls_mandatory_protocols": ">=TLSv1.2",
            "smtpd_tls_mandatory_ciphers": "high",
            "tls_high_cipherlist": "ECDHE+AESGCM:ECDHE+CHACHA20",
            "smtpd_tls_session_cache_database": "",
            "smtpd_tls_loglevel": "0",
            "smtpd_client_connection_count_limit": "0",
            "smtpd_client_connection_rate_limit": "0",
            "smtpd_client_message_rate_limit": "0",
            "smtpd_recipient_restrictions": "permit_mynetworks, reject_unauth_destination",
            "default_process_limit": str(self.maxproc),
            "smtpd_peername_lookup": "no",
            "smtp_dns_support_level": "disabled",
            "disable_dns_lookups": "yes",
        }
        main.update(extra or {})
        self._write("main.cf", "".join("%s = %s\n" % kv for kv in main.items()))
        self._write_master()
        self._write("vmailbox", "".join("%s %s/\n" % (r, r.replace("@", "_"))
                                        for r in recipients))
        return self

    def _write_master(self):
        cert = ("-o smtpd_tls_security_level=encrypt -o smtpd_tls_ask_ccert=yes "
                "-o smtpd_tls_req_ccert=yes "
                "-o smtpd_recipient_restrictions=permit_tls_all_clientcerts,reject")
        rows = MASTER_ROWS.replace("1000?", "1000")
        rows += "127.0.0.1:%d inet n - n - %d smtpd %s\n" % (
            self.ports["starttls"], self.maxproc, cert)
        rows += "127.0.0.1:%d inet n - n - %d smtpd %s -o smtpd_tls_wrappermode=yes\n" % (
            self.ports["tls"], self.maxproc, cert)
        rows += "127.0.0.1:%d inet n - n - %d smtpd -o smtpd_tls_security_level=none\n" % (
            self.ports["plain"], self.maxproc)
        self._write("master.cf", rows)

    def _postfix(self, *args, check=True):
        """postfix -c CONF ARGS; "start" through self.launch, so that the master and all
        it forks start where launch puts them (an accounting group, a CPU set)."""
        cmd = ["postfix", "-c", self.conf] + list(args)
        if args[:1] == ("start",):
            cmd = self.launch(cmd)
        return subprocess.run(cmd,
                              capture_output=True, text=True, timeout=120, check=check)

    def log_tail(self, n=5):
        try:
            with open(os.path.join(self.dir, "maillog")) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def start(self, tries=3):
        """Starts the instance. The free ports were chosen before Postfix binds them: a
        process started meanwhile (the test stages run side by side) may take one, and
        Postfix's master then fails ("mail system startup failed"): new ports, again."""
        r = self._postfix("check", check=False)
        if r.returncode != 0:
            raise RuntimeError("postfix check: %s%s" % (r.stderr, self.log_tail()))
        for attempt in range(tries):
            r = self._postfix("start", check=False)
            if r.returncode == 0:
                break
            if attempt == tries - 1:
                raise RuntimeError("postfix start: %s%s" % (r.stderr, self.log_tail(20)))
            self._postfix("stop", check=False)
            self.ports = {k: common.free_port() for k in self.ports}
            self._write_master()
        self.started = True
        for p in self.ports.values():
            common.wait_port(p)
        return self

    def master_pid(self):
        try:
            with open(os.path.join(self.dir, "queue", "pid", "master.pid")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def delivered(self):
        """Messages delivered into the Maildirs so far."""
        n = 0
        for root, _dirs, files in os.walk(self.vmail):
            if os.path.basename(root) == "new":
                n += len(files)
        return n

    def wait_delivered(self, count, timeout=600):
        """Waits until count messages sit in the Maildirs; returns the time it happened."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.delivered() >= count:
                return time.monotonic()
            time.sleep(0.05)
        return None

    def remove(self):
        if self.started:
            self._postfix("stop", check=False)
            pid = self.master_pid()
            deadline = time.monotonic() + 15
            while pid and time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)
