"""Clients and helpers of the reliability suite (crash, load, authorisation and TLS
matrices). The MSS instances, PKI and daemons come from tests/integration/conftest.py,
loaded here under its own module name (mss_integration_conftest) so that both suites
can run in one pytest session; conftest.py re-exports its fixtures.

Environment (on top of the integration suite's MSS_BUILD_DIR / MSS_SOURCE_DIR):
  MSS_RELIABILITY_SEED          seed of the random kill moment (default: time based)
  MSS_RELIABILITY_LOAD_SECONDS  length of the load test (default 30)
"""
import email
import imaplib
import importlib.util
import os
import smtplib
import socket
import sys
import time
import uuid
from pathlib import Path

import pytest

_INTEGRATION = Path(__file__).resolve().parents[1] / "integration" / "conftest.py"
if "mss_integration_conftest" in sys.modules:
    integration = sys.modules["mss_integration_conftest"]
else:
    _spec = importlib.util.spec_from_file_location("mss_integration_conftest", _INTEGRATION)
    integration = importlib.util.module_from_spec(_spec)
    sys.modules["mss_integration_conftest"] = integration
    _spec.loader.exec_module(integration)

PATIENT = integration.PATIENT
PATIENT2 = integration.PATIENT2
PRO = integration.PRO
PRO2 = integration.PRO2
ORG = integration.ORG
PASSWORDS = integration.PASSWORDS
BUILD = integration.BUILD
SRC = integration.SRC

# Certificates of the test PKI for each account that has one.
CERT_OF = {PRO: "pro", PRO2: "pro2", ORG: "org"}

IO_TIMEOUT = 30


def require_binaries(*names):
    """A daemon that is not built fails the test: a missing binary must never pass."""
    for n in names:
        assert integration.BINARIES[n].exists(), f"{integration.BINARIES[n]} not built"


# --- directory file -------------------------------------------------------------
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gen_directory import HEADER31 as DIRECTORY_HEADER  # noqa: E402  (tests/gen_directory.py)


def directory_line(kind, address, rpps, last, first, prof_code="10", prof_label="Médecin"):
    row = {h: "" for h in DIRECTORY_HEADER}
    row.update({
        "Type de BAL": kind, "Adresse BAL": address, "Type Identifiant PP": "8",
        "Identifiant PP": rpps, "Identification nationale PP": "8" + rpps,
        "Type identifiant structure": "1", "Identification Structure": "1" + rpps[:9],
        "Civilité d'exercice": "DR", "Nom d'exercice": last, "Prénom d'exercice": first,
        "Catégorie profession": "C", "Libellé de catégorie profession": "Civil",
        "Code Profession": prof_code, "Libellé Profession": prof_label,
        "Dématérialisation": "True", "Raison Sociale structure BAL": "Cabinet " + last,
        "Code postal": "75001", "Libellé commune": "Paris", "Pays": "99100",
    })
    return "|".join(row[h] for h in DIRECTORY_HEADER)


def import_directory(m, tmp_path):
    """Registers PRO, PRO2 and ORG as approved directory entries of instance m."""
    lines = ["|".join(DIRECTORY_HEADER),
             directory_line("PER", PRO, "10000000001", "MARTIN", "Paul"),
             directory_line("PER", PRO2, "10000000002", "DURAND", "Anne"),
             directory_line("ORG", ORG, "10000000003", "LABO", "Central", "21", "Pharmacien")]
    path = Path(tmp_path) / "directory.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return m.ctl("directory", "import", str(path), check=False)


# --- SMTP -------------------------------------------------------------------------
def message(sender, rcpt, subject, body, extra_headers=""):
    msgid = f"<{uuid.uuid4().hex}@rel.mss.test>"
    head = (f"From: <{sender}>\r\nTo: <{rcpt}>\r\nSubject: {subject}\r\n"
            f"Message-ID: {msgid}\r\nDate: Sun, 29 Nov 2026 10:00:00 +0000\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"X-MSS-NIL: mss-reliability\r\n{extra_headers}\r\n")
    return msgid, (head + body).encode("utf-8")


def submission(m, cert="pro", port="submission", timeout=IO_TIMEOUT):
    """A submission session over STARTTLS (or TLS for "submissions"), authenticated
    with SASL EXTERNAL by the client certificate."""
    ctx = m.client_context(cert)
    if port == "submissions":
        s = smtplib.SMTP_SSL("127.0.0.1", m.port(port), timeout=timeout, context=ctx)
        s.ehlo("client.rel.test")
    else:
        s = smtplib.SMTP("127.0.0.1", m.port(port), timeout=timeout)
        s.ehlo("client.rel.test")
        s.starttls(context=ctx)
        s.ehlo("client.rel.test")
    code, resp = s.docmd("AUTH", "EXTERNAL =")
    if code != 235:
        s.close()
        raise smtplib.SMTPAuthenticationError(code, resp)
    return s


# --- IMAP -------------------------------------------------------------------------
def imap_login(m, user, password=None, cert=None, timeout=IO_TIMEOUT):
    """An IMAPS session logged in as user (password LOGIN, or EXTERNAL with cert). A
    professional's password login presents their certificate too: a password alone
    never logs a professional in."""
    ctx = m.client_context(cert or CERT_OF.get(user))
    c = imaplib.IMAP4_SSL("127.0.0.1", m.port("imaps"), ssl_context=ctx, timeout=timeout)
    if password is None and cert is not None:
        c.authenticate("EXTERNAL", lambda _challenge: b"")
    else:
        c.login(user, password if password is not None else PASSWORDS[user])
    return c


def imap_quote(name):
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def fetch_all(c, mailbox="INBOX"):
    """Every message of mailbox as (uid, raw bytes)."""
    typ, _ = c.select(imap_quote(mailbox), readonly=True)
    assert typ == "OK"
    typ, data = c.uid("SEARCH", None, "ALL")
    assert typ == "OK"
    uids = data[0].split()
    out = []
    for i in range(0, len(uids), 200):
        chunk = b",".join(uids[i:i + 200]).decode()
        typ, data = c.uid("FETCH", chunk, "(UID BODY.PEEK[])")
        assert typ == "OK", data
        for item in data:
            if isinstance(item, tuple):
                uid = item[0].split(b"UID ")[1].split()[0].rstrip(b")")
                out.append((int(uid), item[1]))
    return out


def message_id_of(raw):
    return email.message_from_bytes(raw).get("Message-ID", "").strip()


def body_of(raw):
    """The body after the header block (a server adds headers, never changes the body)."""
    i = raw.find(b"\r\n\r\n")
    return raw[i + 4:] if i >= 0 else b""


# --- processes and database -------------------------------------------------------
def group_pids(pgid):
    """Live pids of a daemon started as process group leader pgid: the members of its
    process group and every descendant of the leader (a child that called setsid()
    is still found through its parent)."""
    members, parent = set(), {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
            fields = st[st.rindex(")") + 2:].split()
        except (OSError, ValueError):
            continue
        if fields[0] in ("Z", "X"):
            continue
        parent[int(d)] = int(fields[1])
        if int(fields[2]) == pgid:
            members.add(int(d))
    for pid in parent:
        p, hops = pid, 0
        while p > 1 and hops < 64:
            if p == pgid:
                members.add(pid)
                break
            p, hops = parent.get(p, 0), hops + 1
    return sorted(members)


RECVMSG = 47  # x86_64's recvmsg, as /proc/PID/syscall names it


def idle_reused(pid, uids):
    """Whether pid is a reused process waiting for its next connection: a pre-login
    process (login_user) or a submission session process kept for its account (the
    daemons' user), in recvmsg on its socket to the master (lib/master_pool.c
    pool_recv); uids: those two. A busy one relays or waits for its client in poll.
    Unreadable or gone: False (the caller decides what gone means)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            uid = next(int(l.split()[1]) for l in f if l.startswith("Uid:"))
        with open(f"/proc/{pid}/syscall") as f:
            nr = f.read().split()[0]
    except (OSError, StopIteration, IndexError, ValueError):
        return False
    return uid in uids and nr == str(RECVMSG)


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def wait_until(pred, timeout, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def audit_max_seq(m):
    rows = m.sql("SELECT COALESCE(MAX(seq), 0) FROM audit_log")
    return rows[0][0]


def audit_since(m, seq):
    return m.sql("SELECT actor, action, target, result FROM audit_log WHERE seq > ? ORDER BY seq",
                 seq)


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False
