"""Shared fixtures for MSS integration tests: a throw-away PKI, and MSS instances with
their own data directory, config and free loopback ports, daemons started for real.

Environment:
  MSS_BUILD_DIR   where the built binaries are (default: the source tree)
  MSS_SOURCE_DIR  the source tree (default: two levels above this file)
  MSS_TEST_PG     a PostgreSQL server ("postgresql://user@127.0.0.1:port", as
                  scripts/pg-test-cluster prints): every instance then keeps its store
                  in a database of its own there (store = ...), dropped afterwards;
                  tests marked sqlite_only are skipped
"""
import ctypes
import ctypes.util
import fcntl
import hashlib
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import time
import uuid
from pathlib import Path

import pytest

SRC = Path(os.environ.get("MSS_SOURCE_DIR") or Path(__file__).resolve().parents[2])
BUILD = Path(os.environ.get("MSS_BUILD_DIR") or SRC)

BINARIES = {
    "smtpd": BUILD / "smtpd" / "mss-smtpd",
    "imapd": BUILD / "imapd" / "mss-imapd",
    "mssctl": BUILD / "ctl" / "mssctl",
    "webd": BUILD / "webd" / "mss-webd",
}
LISTENERS = {
    "smtpd": ("smtp", "submission", "submissions"),
    "imapd": ("imap", "imaps"),
    "webd": ("web",),
}

PRO_DOMAIN = "pro.mss.test"
PATIENT_DOMAIN = "patient.mss.test"
PATIENT = "146026322000196@patient.mss.test"
PATIENT2 = "279035121518989@patient.mss.test"
PRO = "dr.martin@pro.mss.test"
PRO2 = "dr.durand@pro.mss.test"
ORG = "labo@pro.mss.test"
PASSWORDS = {
    PATIENT: "patient-secret-1",
    PATIENT2: "patient-secret-2",
    PRO: "pro-secret-1",
    PRO2: "pro-secret-2",
    ORG: "org-secret-1",
}
# The client certificate of the test PKI for each account that has one: a professional
# or organisation logs in with it (EXTERNAL, or password + certificate), never with a
# password alone.
CERT_OF = {PRO: "pro", PRO2: "pro2", ORG: "org"}

# Sanitizer reports in a daemon's log fail the test that ran it.
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")
os.environ.setdefault("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0")
os.environ.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")


_sodium = None


def cheap_password_hash(password):
    """An Argon2id hash of password at the lowest cost libsodium accepts (1 pass, 8 KiB).

    The daemons verify whatever parameters a stored hash names, so a test account with
    this hash logs in through the real Argon2id check in a millisecond instead of 0.2 s
    of CPU and 64 MiB (about 1,100 logins per run of the suite, run twice). Accounts get
    it from add_account unless real_cost=True; the tests of the hashing pool and of the
    production parameters (test_limits, test_ctl_account) use the real cost."""
    global _sodium
    if _sodium is None:
        _sodium = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
        assert _sodium.sodium_init() >= 0
    out = ctypes.create_string_buffer(128)  # crypto_pwhash_STRBYTES
    pw = password.encode()
    rc = _sodium.crypto_pwhash_str_alg(out, pw, ctypes.c_ulonglong(len(pw)), ctypes.c_ulonglong(1),
                                       ctypes.c_size_t(8192), ctypes.c_int(2))  # ARGON2ID13
    assert rc == 0
    return out.value.decode()

PG_BASE = os.environ.get("MSS_TEST_PG", "")


def pg_admin(statement, base=None):
    """Runs one statement on a server's maintenance database (autocommit); base:
    the test server (MSS_TEST_PG) unless given."""
    import psycopg2
    con = psycopg2.connect((base or PG_BASE) + "/postgres")
    con.autocommit = True
    try:
        con.cursor().execute(statement)
    finally:
        con.close()


def pytest_collection_modifyitems(config, items):
    if not PG_BASE:
        return
    skip = pytest.mark.skip(reason="reads or changes SQLite files directly (MSS_TEST_PG is set)")
    for item in items:
        if "sqlite_only" in item.keywords:
            item.add_marker(skip)


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only: needs the SQLite store (skipped with MSS_TEST_PG)")
    config.addinivalue_line("markers", "postgresql: needs MSS_TEST_PG (a PostgreSQL server)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def held_port():
    """A loopback port held for a daemon until the test ends: a socket bound to it with
    SO_REUSEADDR that never listens. The daemon (master_bind sets SO_REUSEADDR too) binds
    and listens beside it, as often as it is restarted, while no other socket can have
    the port meanwhile: bind(0) and connect() pass over a port that is bound, and an
    explicit bind without SO_REUSEADDR fails. A port only picked by free_port() could be
    taken by any client's connect() before the daemon bound it (a peer instance started
    on another port left the relay route to it stale: test_relay_peers on a loaded CI)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    return s


def cert_sha256(cert_path):
    """SHA-256 fingerprint (lowercase hex) of a PEM certificate's DER form."""
    der = ssl.PEM_cert_to_DER_cert(Path(cert_path).read_text())
    return hashlib.sha256(der).hexdigest()


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """The test PKI of scripts/make-test-pki (see its README for the files), made once
    per run and only read by tests (a test that needs a changed file copies it first).
    MSS_TEST_PKI names one already made (scripts/run-tests makes one for all its
    stages); otherwise the first pytest-xdist worker makes it and the others wait for
    it, instead of each spending seconds on the same keys."""
    given = os.environ.get("MSS_TEST_PKI")
    if given:
        d = Path(given)
        if not (d / "ca.crt").is_file():
            raise RuntimeError(f"MSS_TEST_PKI={given}: no ca.crt there; run scripts/make-test-pki")
        return d
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        d = tmp_path_factory.mktemp("pki")
        subprocess.run([str(SRC / "scripts" / "make-test-pki"), str(d)], check=True,
                       stdout=subprocess.DEVNULL)
        return d
    # The workers' base directories share this run's parent (pytest-xdist's recipe).
    shared = tmp_path_factory.getbasetemp().parent / "pki-shared"
    with open(str(shared) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (shared / "done").exists():
            shutil.rmtree(shared, ignore_errors=True)
            subprocess.run([str(SRC / "scripts" / "make-test-pki"), str(shared)], check=True,
                           stdout=subprocess.DEVNULL)
            (shared / "done").touch()
    return shared


class Mss:
    """One MSS installation: config, data_dir, daemons on free loopback ports."""

    def __init__(self, root, pki, extra=None, pg_base=None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.pki = Path(pki)
        self.data_dir = self.root / "data"
        self.conf = self.root / "mss.conf"
        self.holds = {name: held_port() for names in LISTENERS.values() for name in names}
        self.ports = {name: s.getsockname()[1] for name, s in self.holds.items()}
        self.procs = {}
        # the instance's own database on the test server (made by init or clone_from)
        self.pg_base = pg_base or PG_BASE
        self.pg_db = "mss_" + uuid.uuid4().hex[:16] if self.pg_base else ""
        self.pg_made = False
        self.settings = self.default_settings()
        self.settings.update(extra or {})
        self.write_config()

    def default_settings(self):
        p = self.pki
        s = {
            "hostname": "mx.mss.test",
            "data_dir": str(self.data_dir),
            "user": pwd.getpwuid(os.geteuid()).pw_name,
            "domains": PRO_DOMAIN,
            "patient_domain": PATIENT_DOMAIN,
            "tls_cert": str(p / "server.crt"),
            "tls_key": str(p / "server.key"),
            "tls_ca": str(p / "ca.crt"),
            "tls_crl": str(p / "crl.pem"),
            "auth_failure_delay": "100",
            # The daily retention process (policy_retention_start) is off unless a test
            # turns it on (test_retention, test_startup_children): every daemon start
            # forked it and it opened the store and scanned every account at once.
            "inactive_delete": "0",
        }
        if self.pg_db:
            s["store"] = f"{self.pg_base}/{self.pg_db}"
        for name, port in self.ports.items():
            s[f"{name}_listen"] = f"127.0.0.1:{port}"
        return s

    def write_config(self):
        lines = [f"{k} = {v}" for k, v in self.settings.items()]
        self.conf.write_text("# written by tests/integration/conftest.py\n" + "\n".join(lines) + "\n")

    def set(self, **kw):
        """Changes config keys (takes effect for daemons started afterwards)."""
        self.settings.update({k: str(v) for k, v in kw.items()})
        self.write_config()

    # --- mssctl ---------------------------------------------------------------
    def ctl(self, *args, input=None, check=True):
        r = subprocess.run([str(BINARIES["mssctl"]), "-c", str(self.conf), *map(str, args)],
                           input=input, capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            raise AssertionError(f"mssctl {' '.join(map(str, args))} exited {r.returncode}: "
                                 f"{r.stderr.strip()}")
        return r

    def init(self):
        self.pg_create()
        return self.ctl("init")

    def pg_create(self, template=None):
        """Creates this instance's database (a copy of template's, when given)."""
        if not self.pg_db or self.pg_made:
            return
        pg_admin(f"CREATE DATABASE {self.pg_db}" + (f" TEMPLATE {template}" if template else ""),
                 self.pg_base)
        self.pg_made = True

    def pg_drop(self):
        if self.pg_made:
            pg_admin(f"DROP DATABASE IF EXISTS {self.pg_db} WITH (FORCE)", self.pg_base)
            self.pg_made = False

    def clone_from(self, template):
        """Starts as a copy of template (an initialised, stopped instance)."""
        shutil.copytree(template.data_dir, self.data_dir, symlinks=True)
        self.pg_create(template.pg_db if template.pg_db else None)

    def join(self, first):
        """Makes this instance a further host of first's shared store: same database
        and blob_dir, the first host's keys copied (as doc/operations.md tells an
        operator), its own data_dir and ports; then mssctl init joins."""
        self.pg_db, self.pg_made = "", False  # the database is first's
        self.settings["store"] = first.settings["store"]
        self.settings["blob_dir"] = first.settings["blob_dir"]
        self.write_config()
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.copytree(first.data_dir / "keys", self.data_dir / "keys")
        return self.ctl("init")

    def add_account(self, address, role, password=None, cert=None, name=None, check=True,
                    real_cost=False):
        """mssctl account add; the password's hash is then made cheap to check
        (cheap_password_hash) unless real_cost."""
        args = ["account", "add", address, "--role", role]
        if name:
            args += ["--name", name]
        if cert:
            args += ["--cert-sha256", cert_sha256(cert)]
        if password is not None:
            args += ["--password-stdin"]
        r = self.ctl(*args, input=(password + "\n") if password is not None else None, check=check)
        if password is not None and r.returncode == 0 and not real_cost:
            self.cheapen_password(address, password)
        return r

    def cheapen_password(self, address, password):
        self.sql("UPDATE accounts SET password_hash = ? WHERE address = ?",
                 cheap_password_hash(password), address)

    def real_password_cost(self, address, password):
        """Hashes address's password again as mssctl does (Argon2id, interactive cost)."""
        return self.ctl("account", "passwd", address, "--password-stdin", input=password + "\n")

    def add_demo_accounts(self):
        """The usual cast: two patients, two professionals, a laboratory."""
        self.add_account(PATIENT, "patient", password=PASSWORDS[PATIENT], name="Patient Demo")
        self.add_account(PATIENT2, "patient", password=PASSWORDS[PATIENT2], name="Patient Deux")
        self.add_account(PRO, "professional", password=PASSWORDS[PRO], cert=self.pki / "pro.crt",
                         name="Dr Martin")
        self.add_account(PRO2, "professional", password=PASSWORDS[PRO2], cert=self.pki / "pro2.crt",
                         name="Dr Durand")
        self.add_account(ORG, "organisation", password=PASSWORDS[ORG], cert=self.pki / "org.crt",
                         name="Laboratoire")

    # --- daemons --------------------------------------------------------------
    def log_path(self, daemon):
        return self.root / f"{daemon}.log"

    def log(self, daemon):
        p = self.log_path(daemon)
        return p.read_text(errors="replace") if p.exists() else ""

    def start(self, daemon, wait=True):
        """Starts mss-smtpd or mss-imapd in the foreground (-d) and waits for its ports.

        The ports are held (held_port) from the instance's making; should one be taken
        all the same (a process that binds a number it did not get from the kernel),
        new ports are chosen and the start is tried again."""
        assert daemon in LISTENERS, daemon
        for attempt in range(5):
            proc = self._spawn(daemon)
            if not wait:
                return proc
            try:
                self.wait_ready(daemon)
                return proc
            except AssertionError:
                if attempt == 4 or "Address already in use" not in self.log(daemon):
                    raise
                self.procs.pop(daemon, None)
                self._new_ports(daemon)
        return proc

    def _spawn(self, daemon):
        p = self.log_path(daemon)
        self.starts_seen = getattr(self, "starts_seen", {})
        self.starts_seen[daemon] = self.log(daemon).count(f"event={daemon}.start")
        logf = open(p, "ab")
        # wrapper: a command the daemon runs under (test_install: setpriv with a unit's
        # capability bounding set)
        proc = subprocess.Popen([*getattr(self, "wrapper", []), str(BINARIES[daemon]), "-c", str(self.conf), "-d"],
                                stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
        logf.close()
        self.procs[daemon] = proc
        return proc

    def _new_ports(self, daemon):
        for name in LISTENERS[daemon]:
            if self.settings.get(f"{name}_listen"):
                self.holds[name].close()
                self.holds[name] = held_port()
                self.ports[name] = self.holds[name].getsockname()[1]
                self.settings[f"{name}_listen"] = f"127.0.0.1:{self.ports[name]}"
        self.write_config()

    def wait_ready(self, daemon, timeout=15):
        """Ready when this daemon logged its start: every daemon binds and listens on all
        its listeners (master_bind) before it logs event=<daemon>.start, so a connection
        made after that line is queued by the kernel and reaches this daemon, never
        another test's that took the port (that one would have failed our bind first).
        No probe connection: each one forked session processes for nothing and left
        "connection closed during handshake" lines and counted sessions behind it."""
        deadline = time.monotonic() + timeout
        start_event = f"event={daemon}.start"
        seen = getattr(self, "starts_seen", {}).get(daemon, 0)
        while self.log(daemon).count(start_event) <= seen:
            if self.procs[daemon].poll() is not None:
                raise AssertionError(f"{daemon} exited {self.procs[daemon].returncode}:\n"
                                     + self.log(daemon)[-3000:])
            if time.monotonic() > deadline:
                raise AssertionError(f"{daemon} did not start:\n" + self.log(daemon)[-3000:])
            time.sleep(0.02)

    def stop(self, daemon, sig=signal.SIGTERM, timeout=15):
        """Stops a daemon (its whole process group), then fails on sanitizer reports."""
        proc = self.procs.pop(daemon, None)
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        self.check_sanitizers(daemon)

    def kill9(self, daemon):
        """kill -9 of the master and every session process (crash simulation)."""
        proc = self.procs.pop(daemon, None)
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)

    def check_sanitizers(self, daemon):
        text = self.log(daemon)
        for marker in SANITIZER_MARKERS:
            if marker in text:
                raise AssertionError(f"sanitizer report in {daemon} log:\n" + text[-5000:])

    def stop_all(self):
        for daemon in list(self.procs):
            self.stop(daemon)

    def hold_port(self, name):
        """A further loopback port held for this instance's life (e.g. metrics_listen), as
        its listeners' are: returns the port number."""
        self.holds[name] = held_port()
        return self.holds[name].getsockname()[1]

    def release_ports(self):
        """Lets the held ports go (the instance is done with)."""
        for s in self.holds.values():
            s.close()

    # --- clients --------------------------------------------------------------
    def client_context(self, cert=None):
        """A client TLS context trusting the test CA; cert: 'pro', 'org', ... (pki name)."""
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        if cert:
            ctx.load_cert_chain(str(self.pki / f"{cert}.crt"), str(self.pki / f"{cert}.key"))
        return ctx

    def login_context(self, user):
        """The client TLS context user logs in with: their certificate, if they have one."""
        return self.client_context(CERT_OF.get(user))

    def port(self, name):
        return self.ports[name]

    def sql(self, query, *params):
        """Reads (for assertions) or changes the database directly. Placeholders: ?."""
        if self.settings.get("store"):
            import psycopg2
            con = psycopg2.connect(self.settings["store"])
            try:
                cur = con.cursor()
                cur.execute(query.replace("%", "%%").replace("?", "%s"), params)
                rows = cur.fetchall() if cur.description else []
                con.commit()
                return rows
            finally:
                con.close()
        import sqlite3
        con = sqlite3.connect(str(self.data_dir / "mss.db"), timeout=30)
        try:
            rows = con.execute(query, params).fetchall()
            con.commit()
            return rows
        finally:
            con.close()


@pytest.fixture
def mss_factory(tmp_path, pki):
    """Makes initialised instances; each is stopped at the end of the test."""
    made = []

    def make(extra=None, init=True, name="mss", pg_base=None):
        m = Mss(tmp_path / name, pki, extra, pg_base)
        if init:
            m.init()
        made.append(m)
        return m

    yield make
    errors = []
    for m in made:
        try:
            m.stop_all()
        except AssertionError as e:
            errors.append(str(e))
        m.pg_drop()
        m.release_ports()
    if errors:
        raise AssertionError("\n".join(errors))


@pytest.fixture(scope="session")
def demo_data_dir(tmp_path_factory, pki):
    """A data_dir made once per session with the demo accounts (init and five Argon2id
    hashes cost about a second per test); each test gets its own copy."""
    m = Mss(tmp_path_factory.mktemp("demo-template"), pki)
    m.init()
    m.add_demo_accounts()
    yield m
    m.pg_drop()


@pytest.fixture
def mss(mss_factory, demo_data_dir):
    """An initialised instance with the demo accounts, no daemon started yet."""
    m = mss_factory(init=False)
    m.clone_from(demo_data_dir)
    return m


@pytest.fixture
def smtpd(mss):
    mss.start("smtpd")
    return mss


@pytest.fixture
def imapd(mss):
    mss.start("imapd")
    return mss
