"""metrics_listen (issue 16, DESIGN.md "Operations"): OpenMetrics text served through
libmicrohttpd, scraped with curl. The counters are shared by every process of both
daemons (data_dir/run/metrics): sessions, deliveries, refusals by reason, failed logins,
command and delivery latency histograms, sessions running. Never served by a root
process; whichever daemon runs serves, the other takes over when it stops."""
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import PASSWORDS, PATIENT, PRO, Mss
from test_imap_helpers import starttls_client
from test_smtp_protocol import connect
from test_smtp_delivery import send_one

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
SAMPLE = re.compile(r'^([a-z_]+)(\{[^}]*\})? (\S+)$')


def user_for_daemons():
    """An unprivileged account: run by root, the daemons switch to nobody (root would
    not serve metrics at all); run by someone else, they stay that user."""
    return "nobody" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name


@pytest.fixture
def metered(pki):
    # pytest's tmp dirs are 0700 root: the data_dir must be reachable by the user.
    root = Path(tempfile.mkdtemp(prefix="mss-metrics-"))
    root.chmod(0o755)
    m = Mss(root, pki, {"user": user_for_daemons()})
    m.set(metrics_listen=f"127.0.0.1:{m.hold_port('metrics')}")
    try:
        m.init()
        m.add_account(PATIENT, "patient", password=PASSWORDS[PATIENT])
        m.add_account(PRO, "professional", password=PASSWORDS[PRO], cert=pki / "pro.crt")
        yield m
    finally:
        m.stop_all()
        m.pg_drop()
        shutil.rmtree(root, ignore_errors=True)


def url(m, path="/metrics"):
    return f"http://{m.settings['metrics_listen']}{path}"


def curl(*args):
    return subprocess.run(["curl", "-sS", "--max-time", "10", *args], capture_output=True, text=True)


def scrape(m, timeout=20):
    """Headers and body of GET /metrics, waiting (bounded) for a serving process."""
    deadline = time.time() + timeout
    while True:
        r = curl("-D", "-", url(m))
        if r.returncode == 0:
            head, _, body = r.stdout.partition("\n\n")  # text mode: CRLF read as LF
            return head, body
        assert time.time() < deadline, f"nothing serves metrics_listen: {r.stderr}"
        time.sleep(0.2)


def samples(body):
    """{(name, labels): value} of an OpenMetrics text, checking its shape as it goes."""
    assert body.endswith("# EOF\n"), body[-200:]
    out = {}
    for line in body.splitlines()[:-1]:
        if line.startswith("# TYPE ") or line.startswith("# HELP "):
            continue
        mo = SAMPLE.match(line)
        assert mo, f"not an OpenMetrics sample: {line!r}"
        out[(mo.group(1), mo.group(2) or "")] = float(mo.group(3))
    return out


def value(s, name, labels=""):
    return s.get((name, labels), 0.0)


def listening_uids(port):
    """The uids of the processes holding a listening TCP socket on port."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            f = line.split()
            if int(f[1].rsplit(":", 1)[1], 16) == port and f[3] == "0A":
                inodes.add(f[9])
    uids = set()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            for fd in (d / "fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    status = (d / "status").read_text()
                    uids |= {int(x) for x in re.search(r"^Uid:(.*)$", status, re.M).group(1).split()}
        except OSError:
            continue
    return uids


def scrape_settled(m):
    """Scrape until the session counters read the same twice, 0.5 s apart: a session is
    counted by its master when it accepts it, which can come after the client's
    connect returned (seen under the sanitizers)."""
    def sessions(body):
        return {k: v for k, v in samples(body).items() if k[0] == "mss_sessions_total"}
    head, body = scrape(m)
    for _ in range(40):
        time.sleep(0.5)
        head2, body2 = scrape(m)
        if sessions(body2) == sessions(body):
            return head2, body2
        head, body = head2, body2
    return head, body


def test_values_move_with_traffic_of_both_daemons(metered):
    m = metered
    m.start("smtpd")
    m.start("imapd")
    head, body = scrape_settled(m)
    assert head.startswith("HTTP/1.1 200"), head
    assert f"Content-Type: {OPENMETRICS}" in head, head
    before = samples(body)
    for family in ("mss_sessions", "mss_deliveries", "mss_smtp_refusals", "mss_auth_failures"):
        assert f"# TYPE {family} counter" in body
    assert "# TYPE mss_command_seconds histogram" in body
    assert "# TYPE mss_delivery_seconds histogram" in body

    # SMTP: MAIL before STARTTLS on the MX (530 5.7.0), then a delivery on submission
    c = connect(m, "smtp", tls=False)
    assert c.cmd("MAIL FROM:<a@example.org>")[0] == 530
    c.cmd("QUIT")
    c.close()
    c, (code, text) = send_one(m)
    assert code == 250, text
    c.cmd("QUIT")
    c.close()
    # IMAP: a wrong password (failed login, tagged NO), then a good one with a command
    im = starttls_client(m)
    with pytest.raises(Exception):
        im.login(PATIENT, "not-the-password")
    im.logout()
    im = starttls_client(m, PATIENT)
    im.select("INBOX")
    held = im  # a session still open when scraped

    after = samples(scrape(m)[1])
    sessions = 'mss_sessions_total'
    assert value(after, sessions, '{listener="smtp"}') == value(before, sessions, '{listener="smtp"}') + 1
    assert value(after, sessions, '{listener="submission"}') >= value(before, sessions, '{listener="submission"}') + 1
    assert value(after, sessions, '{listener="imap"}') == value(before, sessions, '{listener="imap"}') + 2
    refusal = '{reason="tls_required",code="530",enhanced="5.7.0"}'
    assert value(after, "mss_smtp_refusals_total", refusal) == value(before, "mss_smtp_refusals_total", refusal) + 1
    assert value(after, "mss_deliveries_total", '{result="stored"}') == \
        value(before, "mss_deliveries_total", '{result="stored"}') + 1
    failed = '{protocol="imap",result="failed"}'
    assert value(after, "mss_auth_failures_total", failed) == value(before, "mss_auth_failures_total", failed) + 1
    assert value(after, "mss_imap_refusals_total", '{result="NO"}') >= 1
    for daemon in ("smtpd", "imapd"):
        lab = f'{{daemon="{daemon}"}}'
        assert value(after, "mss_command_seconds_count", lab) > value(before, "mss_command_seconds_count", lab)
        assert value(after, "mss_command_seconds_sum", lab) > 0
        inf = f'{{daemon="{daemon}",le="+Inf"}}'
        assert value(after, "mss_command_seconds_bucket", inf) == value(after, "mss_command_seconds_count", lab)
    assert value(after, "mss_delivery_seconds_count") == value(before, "mss_delivery_seconds_count") + 1
    assert value(after, "mss_sessions_running", '{daemon="imapd"}') >= 1
    held.logout()
    deadline = time.time() + 10
    while value(samples(scrape(m)[1]), "mss_sessions_running", '{daemon="imapd"}') != 0:
        assert time.time() < deadline, "the running sessions gauge does not come back to 0"
        time.sleep(0.2)


def test_buckets_are_cumulative_and_only_get_serves(metered):
    m = metered
    m.start("imapd")
    body = scrape(m)[1]
    counts = [value(samples(body), "mss_command_seconds_bucket", lab)
              for lab in re.findall(r'mss_command_seconds_bucket(\{daemon="imapd",le="[^"]+"\})', body)]
    assert len(counts) == 13 and counts == sorted(counts)
    r = curl("-o", "/dev/null", "-w", "%{http_code}", url(m, "/other"))
    assert r.stdout == "404"
    r = curl("-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-d", "x=1", url(m))
    assert r.stdout == "405"


def test_never_root_and_the_other_daemon_takes_over(metered):
    m = metered
    port = int(m.settings["metrics_listen"].rsplit(":", 1)[1])
    m.start("smtpd")
    scrape(m)
    m.start("imapd")
    uids = listening_uids(port)
    assert uids and 0 not in uids, uids
    c = connect(m, "smtp", tls=False)
    c.cmd("QUIT")
    c.close()
    smtp_sessions = value(samples(scrape(m)[1]), "mss_sessions_total", '{listener="smtp"}')
    assert smtp_sessions >= 1
    m.stop("smtpd")  # the serving one: mss-imapd's process binds within its retry time
    body = scrape(m, timeout=30)[1]
    assert value(samples(body), "mss_sessions_total", '{listener="smtp"}') == smtp_sessions
    assert 0 not in listening_uids(port)


def test_root_does_not_serve(pki, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root: the daemons run as the user who starts them")
    m = Mss(tmp_path / "r", pki, {"user": "root"})
    m.set(metrics_listen=f"127.0.0.1:{m.hold_port('metrics')}")
    try:
        m.init()
        m.start("imapd")
        deadline = time.time() + 10
        while "metrics.serve" not in m.log("imapd"):
            assert time.time() < deadline, m.log("imapd")
            time.sleep(0.2)
        assert "result=refused" in m.log("imapd")
        assert curl(url(m)).returncode != 0
    finally:
        m.stop_all()
        m.pg_drop()


def test_config_check_refuses_a_privileged_metrics_port(mss):
    mss.set(metrics_listen="127.0.0.1:80")
    r = mss.ctl("config", "check", check=False)
    assert r.returncode == 1
    assert "metrics_listen 127.0.0.1:80: port below 1024" in r.stdout + r.stderr
