"""The blob sweep (store_blob_sweep_pass, smtpd/blob_sweeper.h, mssctl store sweep): blob
files no row names, and temporary blob files, once store_blob_sweep_age old, are removed
while the daemons run, by the committer on SQLite and by the queue process where no
committer runs (PostgreSQL, or SQLite with delivery_batch_max 1), every
store_blob_sweep_interval in passes of at most store_blob_sweep_batch names; and at once
by mssctl store sweep [--dry-run]. A file a row names, however old, and a young orphan
(a delivery about to commit its row) are kept, as are files not named as blobs."""
import os
import time

import pytest

from conftest import PRO
from test_smtp_committer import LARGE, OPERATOR_DN, send
from test_smtp_mx import trust_list
from test_smtp_protocol import inbox_count

OLD = time.time() - 2 * 86400  # the default age is a day


@pytest.fixture
def mx(mss):
    f = trust_list(mss.root / "trust.xml", [("other-operator.test", OPERATOR_DN)])
    mss.ctl("trust", "import", str(f))
    return mss


def sweeper(m):
    """The event of the process that sweeps with m's settings."""
    shared = bool(m.settings.get("store"))
    return "relay.sweep" if shared or m.settings.get("delivery_batch_max") in ("0", "1") else "committer.sweep"


def planted(m):
    """One stored message's blob file (its row names it), made old, and beside it an old
    orphan, a young orphan, an old temporary file and an old file not named as a blob."""
    assert send(m, LARGE)[0][0] == 250
    [stored] = [p for p in (m.data_dir / "blobs").rglob("*") if p.is_file()]
    d = stored.parent
    other = d.parent / ("%02x" % ((int(d.name, 16) + 1) % 256))  # another directory
    other.mkdir(exist_ok=True)
    files = {"stored": stored, "orphan": d / (d.name + "1" * 30), "orphan2": other / (other.name + "3" * 30),
             "young": d / (d.name + "2" * 30), "tmp": d / ".tmp-blob-Ab12Cd", "other": d / "notes.txt"}
    for name, p in files.items():
        if name != "stored":
            p.write_bytes(b"x" * 100)
        if name != "young":
            os.utime(p, (OLD, OLD))
    return files


def left(files):
    return {n for n, p in files.items() if p.exists()}


def wait_gone(m, files, names, daemon="smtpd", wait=20):
    deadline = time.monotonic() + wait
    while any(files[n].exists() for n in names) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(files[n].exists() for n in names), (left(files), m.log(daemon)[-3000:])


@pytest.mark.parametrize("batch_max", ["32", "1"])
def test_the_periodic_pass_removes_old_orphans_while_the_daemons_run(mx, batch_max):
    """Files planted after the start (the committer used to sweep only then, and nothing
    swept on PostgreSQL): the next passes remove them, one log line per pass that removed
    something, with counts and no name."""
    mx.set(store_blob_sweep_interval=1, delivery_batch_max=batch_max)
    mx.start("smtpd")
    files = planted(mx)
    wait_gone(mx, files, ["orphan", "orphan2", "tmp"])
    time.sleep(1.5)  # a further pass keeps what it kept
    assert left(files) == {"stored", "young", "other"}
    event = sweeper(mx)
    lines = [line for line in mx.log("smtpd").splitlines() if f"event={event} " in line]
    assert lines and all("result=ok removed=" in line for line in lines), mx.log("smtpd")[-3000:]
    assert sum(int(line.split("removed=")[1].split()[0]) for line in lines) == 3, lines
    assert not any(s in line for line in lines for s in ("blobs/", "notes", PRO)), lines
    other = "relay.sweep" if event == "committer.sweep" else "committer.sweep"
    assert f"event={other} " not in mx.log("smtpd")  # one process sweeps
    assert inbox_count(mx, PRO) == 1
    assert send(mx, LARGE)[0][0] == 250  # and delivery goes on
    assert mx.ctl("audit", "verify", check=False).returncode == 0


def test_a_pass_looks_at_store_blob_sweep_batch_names_at_most(mx):
    """Bounded work: with a batch of 1 each pass looks at one name, and the passes go on
    where the last one stopped until every orphan is gone."""
    mx.set(store_blob_sweep_interval=1, store_blob_sweep_batch=1)
    mx.start("smtpd")
    files = planted(mx)
    wait_gone(mx, files, ["orphan", "orphan2", "tmp"], wait=40)
    event = sweeper(mx)
    # the pass that removed the last file logs its line after the unlink: wait for it
    deadline = time.monotonic() + 20
    while True:
        lines = [line for line in mx.log("smtpd").splitlines() if f"event={event} " in line]
        if len(lines) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(lines) == 3 and all("result=ok removed=1 looked=1" in line for line in lines), lines
    assert left(files) == {"stored", "young", "other"}


def test_no_interval_no_periodic_pass(mx):
    mx.set(store_blob_sweep_interval=0)
    mx.start("smtpd")
    files = planted(mx)
    time.sleep(2)
    assert left(files) == set(files)


def test_mssctl_store_sweep(mx):
    """mssctl store sweep --dry-run names what would go and removes nothing; without it,
    it removes them and names them; the daemons running meanwhile (their own passes off)."""
    mx.set(store_blob_sweep_interval=0)
    mx.start("smtpd")
    files = planted(mx)
    r = mx.ctl("store", "sweep", "--dry-run")
    gone = {files[n] for n in ("orphan", "orphan2", "tmp")}
    assert {line for line in r.stdout.splitlines() if line.startswith("would remove ")} == \
        {f"would remove {p}" for p in gone}, r.stdout
    assert "store sweep (dry run): 5 blob files looked at, 3 would be removed" in r.stdout, r.stdout
    assert left(files) == set(files)
    r = mx.ctl("store", "sweep")
    assert {line for line in r.stdout.splitlines() if line.startswith("removed ")} == \
        {f"removed {p}" for p in gone}, r.stdout
    assert "store sweep: 5 blob files looked at, 3 removed, 0 could not be removed" in r.stdout, r.stdout
    assert left(files) == {"stored", "young", "other"}
    r = mx.ctl("store", "sweep")
    assert "0 removed" in r.stdout and "removed /" not in r.stdout
    assert inbox_count(mx, PRO) == 1
    assert send(mx, LARGE)[0][0] == 250


def test_mssctl_store_sweep_errors(mx):
    """A blob_dir that cannot be read: exit 1, the path and what to do; usage: exit 2."""
    bad = mx.root / "not-a-dir"
    bad.write_text("x")
    mx.set(blob_dir=bad)
    r = mx.ctl("store", "sweep", check=False)
    assert r.returncode == 1, r
    assert f"{bad}: Not a directory" in r.stderr and "run mssctl store sweep again" in r.stderr, r.stderr
    for args in (["store"], ["store", "sweep", "--now"], ["store", "clean"]):
        r = mx.ctl(*args, check=False)
        assert r.returncode == 2 and "store needs sweep [--dry-run]" in r.stderr, r.stderr
