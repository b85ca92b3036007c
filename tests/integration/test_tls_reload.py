"""lib/tls reloads, end to end through tests/unit/tls_test_server (either backend):

- the CRL rules of issue 10 (Référentiel CONF.22): a CRL replaced on disk is in force
  for the next handshake without a restart (a stat at most once a second) or at once
  on tls_ctx_reload_crl; a new CRL that does not load (garbage, truncated, empty,
  signed by another CA, forged in the CA's name) is ignored with one log line naming
  the file and why, and the previous one stays; a CRL past its nextUpdate stays in
  force with a warning, never a refusal of every certificate;
- tls_ctx_reload (SIGHUP): new certificate, key, CA and CRL for new handshakes, or,
  when a file does not load, the old material whole and an error naming the file.
"""
import os
import re
import shutil
import subprocess
import time

import pytest

from tlshelp import s_client, server_bin, start  # noqa: F401 (fixtures)


def install(src, dst):
    """Replaces dst as an administrator's mv does: a new file renamed over the old."""
    tmp = dst.with_name(dst.name + ".new")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def after_next_check():
    """The CRL file is looked at, at most once a second, before a handshake."""
    time.sleep(1.2)


def outcome(srv, pki, cert):
    """"ok" or the server's refusal reason for a handshake with this client certificate."""
    s_client(pki, srv.port, cert=cert)
    status, f = srv.result()
    return "ok" if status == "ok" else f["reason"]


def events(srv, name):
    return [line for line in srv.log().splitlines() if f"event={name} " in line]


@pytest.fixture
def crl(pki, tmp_path):
    """A copy of crl.pem (revoked and server-revoked listed) that a test may replace."""
    p = tmp_path / "crl.pem"
    shutil.copyfile(pki / "crl.pem", p)
    return p


def test_crl_replaced_on_disk_revokes_without_restart(start, pki, crl):
    srv = start("optional", crl=str(crl), maxconn=10)
    assert outcome(srv, pki, "late") == "ok"
    install(pki / "crl-next.pem", crl)
    after_next_check()
    assert outcome(srv, pki, "late") == "certificate revoked"
    assert outcome(srv, pki, "pro") == "ok"
    loaded = events(srv, "tls.crl_loaded")
    assert len(loaded) == 1 and str(crl) in loaded[0]


def test_crl_rewritten_in_place(start, pki, crl):
    srv = start("optional", crl=str(crl), maxconn=10)
    assert outcome(srv, pki, "late") == "ok"
    with open(crl, "wb") as f:  # the same inode, new content
        f.write((pki / "crl-next.pem").read_bytes())
    after_next_check()
    assert outcome(srv, pki, "late") == "certificate revoked"


def test_resumed_certificate_checked_against_the_new_crl_in_the_same_process(start, pki, crl,
                                                                            tmp_path):
    """One process, tickets on: a client certificate resumed twice (the OpenSSL backend
    verifies it once and keeps the answer with the certificate store in force), then the
    CRL revokes it: the next resumption of the same ticket, in the same process, is
    refused (a new CRL is a new store, whose memo starts empty)."""
    srv = start("require", maxconn=5, crl=str(crl), flags=("-t",))
    sess = tmp_path / "late.sess"
    for args in (("-sess_out", str(sess)), ("-sess_in", str(sess)), ("-sess_in", str(sess))):
        rc, out = s_client(pki, srv.port, cert="late", args=args)
        status, f = srv.result()
        assert status == "ok" and f["has_cert"] == "1", (status, f, out)
    assert f["resumed"] == "1", f
    install(pki / "crl-next.pem", crl)  # revokes "late"
    assert srv.command("reload-crl") == ["reload-crl", "1", ""]
    rc, out = s_client(pki, srv.port, cert="late", args=("-sess_in", str(sess)))
    status, f = srv.result()
    assert status == "error" and "revoked" in f["reason"], (status, f, out)


def test_reload_crl_call_applies_at_once(start, pki, crl):
    srv = start("optional", crl=str(crl), maxconn=10)
    assert outcome(srv, pki, "late") == "ok"
    install(pki / "crl-next.pem", crl)
    assert srv.command("reload-crl") == ["reload-crl", "1", ""]
    assert outcome(srv, pki, "late") == "certificate revoked"  # no second waited


BAD_CRLS = [
    ("garbage", lambda pki: b"this is not a CRL\n", "no CRL in file"),
    ("truncated", lambda pki: (pki / "crl-next.pem").read_bytes()[:200], "no CRL in file"),
    ("empty", lambda pki: b"", "is empty"),
    ("foreign", lambda pki: (pki / "crl-foreign.pem").read_bytes(), "not issued by a CA of"),
    ("forged", lambda pki: (pki / "crl-forged.pem").read_bytes(), "signature does not verify"),
    ("future", lambda pki: (pki / "crl-future.pem").read_bytes(), "not valid yet"),
    ("certificate", lambda pki: (pki / "ca.crt").read_bytes(), "no CRL in file"),
]


@pytest.mark.parametrize("name,content,why", BAD_CRLS, ids=[b[0] for b in BAD_CRLS])
def test_bad_new_crl_ignored_old_kept(start, pki, crl, tmp_path, name, content, why):
    srv = start("optional", crl=str(crl), maxconn=10)
    assert outcome(srv, pki, "revoked") == "certificate revoked"
    bad = tmp_path / "bad.pem"
    bad.write_bytes(content(pki))
    install(bad, crl)
    after_next_check()
    # crl.pem is still in force: revoked stays refused (the forged CRL lists nothing,
    # so taking it would let revoked in), late stays accepted.
    assert outcome(srv, pki, "revoked") == "certificate revoked"
    assert outcome(srv, pki, "late") == "ok"
    after_next_check()
    assert outcome(srv, pki, "pro") == "ok"
    refused = events(srv, "tls.crl_refused")
    assert len(refused) == 1, refused  # one line, however many handshakes follow
    assert str(crl) in refused[0] and why in refused[0] and "error=" in refused[0]
    _, rc, err = srv.command("reload-crl")
    assert rc == "-1" and str(crl) in err and why in err


def test_removed_crl_file_keeps_old(start, pki, crl):
    srv = start("optional", crl=str(crl), maxconn=10)
    crl.unlink()
    after_next_check()
    assert outcome(srv, pki, "revoked") == "certificate revoked"
    after_next_check()
    assert outcome(srv, pki, "pro") == "ok"
    refused = events(srv, "tls.crl_refused")
    assert len(refused) == 1 and "No such file or directory" in refused[0]


def test_expired_crl_replaced_keeps_working_with_warning(start, pki, crl):
    srv = start("optional", crl=str(crl), maxconn=10)
    install(pki / "crl-expired.pem", crl)
    after_next_check()
    assert outcome(srv, pki, "pro") == "ok"
    assert outcome(srv, pki, "revoked") == "certificate revoked"
    after_next_check()
    assert outcome(srv, pki, "late") == "ok"
    stale = events(srv, "tls.crl_stale")
    assert len(stale) == 1, stale  # rate-limited
    assert str(crl) in stale[0] and "next_update=2021-01-01T00:00:00Z" in stale[0]


def test_expired_crl_at_start(start, pki):
    srv = start("require", crl="crl-expired.pem", maxconn=5)
    assert srv.first == "listening"
    assert outcome(srv, pki, "pro") == "ok"
    assert outcome(srv, pki, "revoked") == "certificate revoked"
    assert len(events(srv, "tls.crl_stale")) == 1


@pytest.mark.parametrize("crl_file,why", [
    ("crl-foreign.pem", "not issued by a CA of"),
    ("crl-forged.pem", "signature does not verify"),
    ("crl-future.pem", "not valid yet"),
])
def test_unverifiable_crl_refused_at_start(start, pki, crl_file, why):
    srv = start("require", crl=crl_file)
    assert srv.first.startswith("ctx-error\t"), srv.first
    assert crl_file in srv.first and why in srv.first


def server_subject(pki, port):
    """The subject of the certificate the server presents, as s_client prints it."""
    p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
                        "-CAfile", str(pki / "ca.crt")],
                       input="hello\n", capture_output=True, text=True, timeout=20)
    m = re.search(r"^subject=(.*)$", p.stdout, re.M)
    return m.group(1) if m else ""


@pytest.fixture
def material(pki, tmp_path):
    """Copies of the server's files that a test may replace before a reload."""
    d = tmp_path / "material"
    d.mkdir()
    for name in ("server.crt", "server.key", "ca.crt", "crl.pem"):
        shutil.copyfile(pki / name, d / name)
    return d


def start_on(start, material, **kw):
    return start("optional", cert=str(material / "server.crt"), key=str(material / "server.key"),
                 ca=str(material / "ca.crt"), crl=str(material / "crl.pem"), maxconn=10, **kw)


def test_reload_puts_new_material_in_force(start, pki, material):
    srv = start_on(start, material)
    assert "CN = localhost" in server_subject(pki, srv.port)
    srv.result()
    install(pki / "rsa.key", material / "server.key")
    install(pki / "rsa.crt", material / "server.crt")
    install(pki / "crl-next.pem", material / "crl.pem")
    assert srv.command("reload") == ["reload", "ok"]
    assert "CN = rsa.mss.test" in server_subject(pki, srv.port)
    srv.result()
    assert outcome(srv, pki, "late") == "certificate revoked"  # the new CRL came too
    assert outcome(srv, pki, "pro") == "ok"


def key_is_directory(pki, m):
    (m / "server.key").unlink()
    (m / "server.key").mkdir()


RELOAD_FAILURES = [
    ("key-is-directory", key_is_directory, "cannot read key file {m}/server.key: Is a directory"),
    ("cert-missing", lambda pki, m: (m / "server.crt").unlink(),
     "cannot read certificate file {m}/server.crt: No such file or directory"),
    ("cert-garbage", lambda pki, m: (m / "server.crt").write_text("garbage\n"),
     "no certificate in certificate file {m}/server.crt"),
    ("key-mismatch", lambda pki, m: install(pki / "pro.key", m / "server.key"),
     "key file {m}/server.key does not match certificate file {m}/server.crt"),
    ("key-is-certificate", lambda pki, m: install(pki / "pro.crt", m / "server.key"),
     "no usable private key in key file {m}/server.key"),
    ("ca-garbage", lambda pki, m: (m / "ca.crt").write_text("garbage\n"),
     "no CA certificate in CA file {m}/ca.crt"),
    ("crl-foreign", lambda pki, m: install(pki / "crl-foreign.pem", m / "crl.pem"),
     "CRL file {m}/crl.pem: not issued by a CA of {m}/ca.crt"),
]


@pytest.mark.parametrize("name,damage,why", RELOAD_FAILURES, ids=[r[0] for r in RELOAD_FAILURES])
def test_reload_failure_keeps_old_material_and_names_file(start, pki, material, name, damage, why):
    srv = start_on(start, material)
    damage(pki, material)
    answer = srv.command("reload")
    assert answer[:2] == ["reload", "error"], answer
    assert why.format(m=material) in answer[2]
    # Everything old is still in force: certificate, key, CA and CRL.
    assert "CN = localhost" in server_subject(pki, srv.port)
    srv.result()
    assert outcome(srv, pki, "pro") == "ok"
    assert outcome(srv, pki, "revoked") == "certificate revoked"


@pytest.mark.parametrize("name,damage,why", RELOAD_FAILURES[:5], ids=[r[0] for r in RELOAD_FAILURES[:5]])
def test_start_errors_name_file_and_reason(start, pki, material, name, damage, why):
    damage(pki, material)
    srv = start_on(start, material)
    assert srv.first.startswith("ctx-error\t"), srv.first
    assert why.format(m=material) in srv.first
