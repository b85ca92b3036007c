"""make install and what an administrator reads (issue 16): the sample config and the
hardened systemd units (systemd-analyze verify), one default config path in the code
and the manual pages (mss-webd.service too), mssctl -h and the manual listing every command, the LOINC table
of the manual matching the code's, and a daemon without /dev/log saying so."""
import os
import re
import shutil
import subprocess

import pytest

from conftest import BINARIES, BUILD, SRC
from test_privileges import unprivileged  # noqa: F401


UNITS = ["mss-smtpd.service", "mss-imapd.service", "mss-webd.service"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    dest = tmp_path_factory.mktemp("destdir")
    r = subprocess.run(["make", "-s", "install", f"DESTDIR={dest}"], cwd=BUILD,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return dest


def default_config():
    out = subprocess.run([str(BINARIES["mssctl"]), "-h"], capture_output=True, text=True).stdout
    return re.search(r"default FILE: (\S+)\)", out).group(1)


def test_one_default_config_path_in_code_manuals_and_units(installed):
    path = default_config()
    assert path == "/etc/mss/mss.conf"
    for page in ("mssctl.8", "mss.conf.5"):
        assert path in (SRC / "doc" / page).read_text()
    for unit in UNITS:
        text = next(installed.rglob(unit)).read_text()
        assert f" -c {path}" in text
    assert (installed / path.lstrip("/")).with_name("mss.conf.sample").is_file()


def test_sample_config_parses_and_is_commented(installed, tmp_path):
    sample = next(installed.rglob("mss.conf.sample"))
    text = sample.read_text()
    assert sum(1 for line in text.splitlines() if line.startswith("#")) > 20
    r = subprocess.run([str(BINARIES["mssctl"]), "-c", str(sample), "config", "show"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "patient_domain = patient.example.fr" in r.stdout


@pytest.mark.parametrize("unit", UNITS)
def test_units_are_hardened_and_verify(installed, tmp_path, unit):
    text = next(installed.rglob(unit)).read_text()
    for line in ("ProtectSystem=strict", "PrivateTmp=yes", "NoNewPrivileges=yes",
                 "ReadWritePaths=-/var/lib/mss", "MemoryDenyWriteExecute=yes",
                 "CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_SETUID CAP_SETGID CAP_KILL "
                 "CAP_SYS_CHROOT CAP_DAC_OVERRIDE"):
        assert line in text.splitlines(), line
    # mss-webd reads its configuration at start only: no reload that would do nothing
    assert ("ExecReload=/bin/kill -HUP $MAINPID" in text.splitlines()) == (unit != "mss-webd.service")
    # systemd-analyze verify checks that the programs exist: point them at DESTDIR's.
    local = tmp_path / unit
    local.write_text(text.replace("/usr/local/sbin/", f"{installed}/usr/local/sbin/"))
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is not installed (scripts/install-deps: systemd)"
    # Documentation= pages are looked up with man(1) in the installed tree, when man is here
    env = dict(os.environ, MANPATH=str(installed / "usr/local/share/man"))
    man = [] if shutil.which("man") else ["--man=no"]
    r = subprocess.run([analyze, "verify", *man, str(local)], capture_output=True, text=True,
                       timeout=120, env=env)
    problems = [l for l in (r.stdout + r.stderr).splitlines() if unit in l or "Unknown" in l]
    assert r.returncode == 0 and not problems, r.stdout + r.stderr


def command_forms():
    out = subprocess.run([str(BINARIES["mssctl"]), "-h"], capture_output=True, text=True).stdout
    return [l.strip() for l in out.splitlines()[2:] if l.startswith("  ") and not l.startswith("      ")]


def test_help_lists_every_command_the_manual_documents():
    forms = command_forms()
    for expected in ("account show|disable|enable|delete ADDRESS", "account passwd ADDRESS --password-stdin",
                     "account set-cert ADDRESS --cert-sha256 HEX", "directory disable|enable ADDRESS",
                     "config check", "config show", "backup DIR", "retention run [--dry-run]", "store sweep [--dry-run]",
                     "migrate", "audit verify [--anchor FILE|-]", "audit anchor"):
        assert expected in forms, expected
    page = (SRC / "doc" / "mssctl.8").read_text().replace("\\-", "-").replace("\\fB", "").replace("\\fR", "")
    for form in forms:
        words = form.split()[:2]
        verb = words[1].split("|")[0] if len(words) > 1 and words[1][0].islower() else ""
        heads = [l for l in page.splitlines() if l.startswith((".B ", ".BI ", ".BR ")) and words[0] in l]
        assert any(verb in l for l in heads), form


def test_manual_loinc_table_is_the_codes():
    code = (SRC / "vault" / "vault_classify.c").read_text()
    names = {"ORDONNANCES": "Ordonnances", "BIOLOGIE": "Biologie", "IMAGERIE": "Imagerie",
             "COMPTES_RENDUS": "Comptes-rendus", "HOSPITALISATION": "Hospitalisation",
             "VACCINATIONS": "Vaccinations"}
    in_code = {}
    for loinc, cls in re.findall(r'\{"(\d+-\d)", VAULT_(\w+)\}', code):
        in_code.setdefault(names[cls], set()).add(loinc)
    page = (SRC / "doc" / "mss.conf.5").read_text()
    table = page[page.index("The built-in table"):page.index(".TE", page.index("The built-in table"))]
    in_page, current = {}, None
    for line in table.splitlines():
        if "\t" not in line:
            continue
        first, rest = line.split("\t", 1)
        current = first or current
        in_page.setdefault(current, set()).update(re.findall(r"\d+-\d", rest))
    assert in_page == in_code


@pytest.mark.skipif(os.path.exists("/dev/log"), reason="a syslog socket is present here")
def test_daemon_without_dev_log_says_so_and_logs_to_stderr(mss):
    mss.settings.pop("log_stderr", None)
    r = subprocess.Popen([str(BINARIES["imapd"]), "-c", str(mss.conf)], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out = []
        for line in r.stdout:
            out.append(line)
            if "event=imapd.start" in line:
                break
        text = "".join(out)
        assert "/dev/log" in text and "logging to standard error" in text
        assert "event=imapd.start" in text
    finally:
        os.killpg(r.pid, 15)
        r.wait(timeout=30)


def unit_bounding_set(daemon):
    """setpriv's --bounding-set argument for what the unit's CapabilityBoundingSet keeps."""
    text = (SRC / "dist" / f"mss-{daemon}.service.in").read_text()
    line, = [l for l in text.splitlines() if l.startswith("CapabilityBoundingSet=")]
    return "-all," + ",".join("+" + c[len("CAP_"):].lower() for c in line.split("=", 1)[1].split())


@pytest.mark.parametrize("daemon", ["smtpd", "imapd", "webd"])
def test_unit_capabilities_are_enough_for_a_session(unprivileged, daemon):
    """The unit's CapabilityBoundingSet is all a daemon it starts may ever hold. Started
    as root under exactly that set (setpriv, as systemd would), the daemon binds, forks
    its root agents (the TLS key, the master key), and a real client's session goes
    through the confined pre-login or front process (its chroot needs CAP_SYS_CHROOT).
    data_dir belongs to the daemons' user, as in production: the root agents read their
    keys without CAP_DAC_OVERRIDE, which the unit does not give."""
    mss = unprivileged
    from imaplib import IMAP4
    from conftest import PASSWORDS, PATIENT, PRO
    from test_policy_smtp import as_professional
    from web_helpers import logged_in
    mss.wrapper = ["setpriv", "--bounding-set=" + unit_bounding_set(daemon), "--"]
    mss.start(daemon)
    if daemon == "smtpd":
        with as_professional(mss) as s:
            assert s.sendmail(PRO, [PATIENT], b"Subject: unit\r\n\r\nBonjour.\r\n") == {}
    elif daemon == "imapd":
        with IMAP4("127.0.0.1", mss.port("imap"), timeout=30) as c:
            c.starttls(ssl_context=mss.login_context(PATIENT))
            assert c.login(PATIENT, PASSWORDS[PATIENT])[0] == "OK"
            assert c.select("INBOX")[0] == "OK"
    else:
        logged_in(mss)
    assert "chroot" not in mss.log(daemon), mss.log(daemon)[-3000:]


@pytest.mark.parametrize("name", sorted(BINARIES))
def test_binaries_bind_every_symbol_at_start(name):
    """Full RELRO (configure's HARDEN_LDFLAGS): the daemons fork per connection, and a
    lazily bound binary made every child resolve again the library functions its master
    had not called (issue 15); bound at start, the GOT is also read-only."""
    if shutil.which("readelf") is None:
        pytest.skip("readelf (binutils) not installed")
    out = subprocess.run(["readelf", "-d", "-l", str(BINARIES[name])], capture_output=True,
                         text=True, check=True).stdout
    assert re.search(r"\(FLAGS\)\s+BIND_NOW", out) or re.search(r"Flags:.*\bNOW\b", out), out
    assert "GNU_RELRO" in out, out
