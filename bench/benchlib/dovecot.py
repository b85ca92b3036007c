"""A private Dovecot instance from Debian's package, for side-by-side IMAP figures.

Its own config, base_dir and Maildirs in a temporary directory; listens on 127.0.0.1
only, on free non-standard ports; TLS required (STARTTLS on the imap port, TLS on the
imaps port), client certificates requested and verified against the test CA and
CRL, TLS 1.2+, ECDHE+AEAD suites as MSS. Passwords are Argon2id with libsodium's
INTERACTIVE cost, the same as MSS (hashed here through libsodium). Stopped and
removed afterwards."""

import ctypes
import ctypes.util
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from datetime import datetime

# Dovecot's MAILDIR_SYNC_SECS (src/lib-storage/index/maildir/maildir-sync.c): a Maildir
# directory whose last scan began less than this many whole seconds after its last change
# is "dirty", and every SELECT (a full sync) rescans it (and rereads dovecot-uidlist)
# until a scan begins later than that. A mailbox a user has used is clean: its last
# delivery was seconds or days before the scan that saw it.
MAILDIR_SYNC_SECS = 1

from . import common


def available():
    return shutil.which("dovecot") is not None


def argon2id_interactive(password):
    """crypto_pwhash_str with OPSLIMIT/MEMLIMIT_INTERACTIVE (what MSS uses), or None."""
    name = ctypes.util.find_library("sodium")
    if not name:
        return None
    lib = ctypes.CDLL(name)
    if lib.sodium_init() < 0:
        return None
    out = ctypes.create_string_buffer(128)
    pw = password.encode()
    lib.crypto_pwhash_str.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulonglong,
                                      ctypes.c_ulonglong, ctypes.c_size_t]
    if lib.crypto_pwhash_str(out, pw, len(pw), 2, 67108864) != 0:
        return None
    return out.value.decode()


class Dovecot:
    def __init__(self, pki):
        self.pki = pki
        self.dir = tempfile.mkdtemp(prefix="dovecot-bench-")
        os.chmod(self.dir, 0o755)
        self.conf = os.path.join(self.dir, "dovecot.conf")
        self.mail = os.path.join(self.dir, "mail")
        self.ports = {"imap": common.free_port(), "imaps": common.free_port()}
        self.vuser = pwd.getpwnam("nobody")
        self.started = False
        self.settled_s = 0.0

    def configure(self, users):
        """users: {address: password}."""
        os.makedirs(self.mail)
        os.chown(self.mail, self.vuser.pw_uid, self.vuser.pw_gid)
        ca = os.path.join(self.dir, "ca-crl.pem")
        with open(ca, "w") as f:
            for n in ("ca.crt", "crl.pem"):
                with open(os.path.join(self.pki, n)) as g:
                    f.write(g.read())
        with open(os.path.join(self.dir, "users"), "w") as f:
            for addr, pw in users.items():
                h = argon2id_interactive(pw)
                f.write("%s:%s\n" % (addr, ("{ARGON2ID}" + h) if h else "{PLAIN}" + pw))
        d = self.dir
        conf = f"""# private benchmark instance (bench/benchlib/dovecot.py)
base_dir = {d}/run
state_dir = {d}/state
instance_name = dovecot-bench-{os.getpid()}
listen = 127.0.0.1
protocols = imap
log_path = {d}/dovecot.log
ssl = required
ssl_cert = <{self.pki}/server.crt
ssl_key = <{self.pki}/server.key
ssl_ca = <{ca}
ssl_verify_client_cert = yes
ssl_min_protocol = TLSv1.2
ssl_cipher_list = ECDHE+AESGCM:ECDHE+CHACHA20
disable_plaintext_auth = yes
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = {self.vuser.pw_uid}
mail_location = maildir:{self.mail}/%d/%n
mail_max_userip_connections = 10000
passdb {{
  driver = passwd-file
  args = {d}/users
}}
userdb {{
  driver = static
  args = uid={self.vuser.pw_uid} gid={self.vuser.pw_gid} home={self.mail}/%d/%n
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.ports["imap"]}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.ports["imaps"]}
    ssl = yes
  }}
  process_limit = 2000
}}
service imap {{
  process_limit = 2000
}}
service anvil {{
  client_limit = 5000
}}
service auth {{
  client_limit = 5000
}}
default_client_limit = 5000
"""
        with open(self.conf, "w") as f:
            f.write(conf)
        return self

    def maildir(self, address):
        local, domain = address.split("@")
        return os.path.join(self.mail, domain, local)

    def populate(self, address, count, make_message):
        """Writes count messages straight into the user's Maildir (cur/, no flags), named
        with their size (",S=") as Dovecot's own deliveries name them."""
        base = self.maildir(address)
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(base, sub), exist_ok=True)
        uid, gid = self.vuser.pw_uid, self.vuser.pw_gid
        now = int(time.time())
        for i in range(count):
            body = make_message(i)
            p = os.path.join(base, "cur", "%d.M%dP%d.bench,S=%d:2," % (now, i, os.getpid(),
                                                                        len(body)))
            with open(p, "wb") as f:
                f.write(body)
            os.chown(p, uid, gid)
        for root, dirs, _files in os.walk(os.path.join(self.mail)):
            for x in dirs:
                os.chown(os.path.join(root, x), uid, gid)

    def start(self):
        # The daemon keeps inherited descriptors open: no pipes, or run() never returns.
        with open(os.path.join(self.dir, "start.log"), "w") as err:
            r = subprocess.run(["dovecot", "-c", self.conf], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=err, timeout=60)
        self.started = True
        if r.returncode != 0:
            with open(os.path.join(self.dir, "start.log")) as f:
                raise RuntimeError("dovecot: " + f.read() + self.log_tail())
        for p in self.ports.values():
            common.wait_port(p)
        return self

    def settle(self, address):
        """Waits until the user's new/ and cur/ were last changed more than
        MAILDIR_SYNC_SECS whole seconds ago, so that the scan that follows leaves them
        clean in the index (sync_state): populate() has just written them, and a scan
        in the same or the next second would leave Dovecot rescanning cur/ and
        rereading dovecot-uidlist at every SELECT until a later scan. Returns the
        seconds waited."""
        base = self.maildir(address)
        last = max(int(os.stat(os.path.join(base, d)).st_mtime) for d in ("new", "cur"))
        wait = last + MAILDIR_SYNC_SECS + 1.05 - time.time()
        if wait > 0:
            time.sleep(wait)
        return max(0.0, wait)

    def sync_state(self, address):
        """The Maildir's state as the INBOX index records it (doveadm dump of
        dovecot.index, the maildir header): for new/ and cur/, the seconds between the
        directory's last change and the start of its last scan; "dirty" lists the
        directories a SELECT would rescan (MAILDIR_SYNC_SECS or less), empty when a
        re-SELECT reads nothing but the index, as on a user's warm mailbox."""
        r = subprocess.run(["doveadm", "-c", self.conf, "dump",
                            os.path.join(self.maildir(address), "dovecot.index")],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=600)
        if r.returncode != 0:
            raise RuntimeError("doveadm dump: %s%s" % (r.stderr, self.log_tail()))
        hdr = {}
        for line in r.stdout.splitlines():
            parts = line.strip().lstrip("- ").split("=", 1)
            if len(parts) != 2:
                continue
            key = parts[0].strip(" .")
            if key in ("new_check_time", "new_mtime", "cur_check_time", "cur_mtime"):
                hdr[key] = datetime.strptime(parts[1].strip()[:19], "%Y-%m-%d %H:%M:%S")
        if len(hdr) != 4:
            raise RuntimeError("doveadm dump: no maildir header in %r" % r.stdout[-500:])
        out = {"dirty": []}
        for d in ("new", "cur"):
            lag = (hdr[d + "_check_time"] - hdr[d + "_mtime"]).total_seconds()
            out[d + "_scan_after_change_s"] = int(lag)
            if lag <= MAILDIR_SYNC_SECS:
                out["dirty"].append(d)
        return out

    def build_index(self, address):
        """Builds the user's INBOX index and cache with doveadm before anything is timed
        (force-resync reads the Maildir into dovecot-uidlist and the index, index adds
        every message to the cache), as a mailbox that has been used is; settle() first,
        so that the index records new/ and cur/ as clean. Returns the seconds it took,
        the settling apart."""
        self.settled_s = self.settle(address)
        t = time.monotonic()
        for cmd in (["force-resync", "-u", address, "INBOX"], ["index", "-u", address, "INBOX"]):
            r = subprocess.run(["doveadm", "-c", self.conf] + cmd, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=3600)
            if r.returncode != 0:
                raise RuntimeError("doveadm %s: %s%s" % (cmd[0], r.stderr, self.log_tail()))
        return time.monotonic() - t

    def log_tail(self, n=5):
        try:
            with open(os.path.join(self.dir, "dovecot.log")) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def master_pid(self):
        try:
            with open(os.path.join(self.dir, "run", "master.pid")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def remove(self):
        if self.started:
            pid = self.master_pid()
            subprocess.run(["dovecot", "-c", self.conf, "stop"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
            deadline = time.monotonic() + 15
            while pid and time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)
