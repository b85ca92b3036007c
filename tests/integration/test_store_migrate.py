"""Schema versions (issue 18): mssctl init creates the schema, mssctl migrate upgrades
it, and the daemons and mssctl's other commands refuse a store whose schema is older
(naming mssctl migrate) or newer than the code, instead of changing it silently."""
import sqlite3

import pytest

from atrest_helpers import UNDO_STORE_STEPS_AFTER_11

# reads and rewrites the SQLite file itself
pytestmark = pytest.mark.sqlite_only


def write_sql(m, *statements):
    """Changes the database behind MSS's back (mss.sql only reads)."""
    con = sqlite3.connect(str(m.data_dir / "mss.db"))
    try:
        for s in statements:
            con.execute(s)
        con.commit()
    finally:
        con.close()


LATEST = 19  # the store's latest migration (store/store_schema.c)
OLDER = 7  # before migrations 8 (key pairs), 9 (readers' keys), 10 (bound wraps), 11 (URLAUTH keys),
# 12 (mailbox counts), 13 (the counts by statement on PostgreSQL), 14 (blobs by owner on SQLite),
# 15 (keywords index), 16 (small blobs in their rows)


def lower_store_schema(m):
    """Makes a data_dir as an older MSS left it: store at version OLDER (before
    migration 8 added the accounts' public keys and the blobs' sealed message keys, and
    9 the readers' keys, 10 the account-bound wraps, which test_key_agent.py makes of
    the first format; no message stored yet)."""
    assert m.sql("SELECT count(*) FROM blobs") == [(0,)]
    write_sql(m, *UNDO_STORE_STEPS_AFTER_11,
              "DROP TABLE blob_keys",
              "DROP TABLE urlauth_keys",
              "ALTER TABLE store_users DROP COLUMN public_key",
              "ALTER TABLE blobs DROP COLUMN sealed_key",
              "DELETE FROM store_counters WHERE name = 'wrap_format'",
              f"UPDATE schema_version SET version = {OLDER} WHERE component = 'store'")


def start_fails(m, daemon):
    proc = m.start(daemon, wait=False)
    rc = proc.wait(timeout=30)
    m.procs.pop(daemon, None)
    return rc, m.log(daemon)


def test_daemons_refuse_older_schema_until_migrate(mss_factory):
    m = mss_factory()
    m.add_account("keys@patient.mss.test", "patient")  # gets its key pair from migrate
    lower_store_schema(m)
    assert m.sql("SELECT version FROM schema_version WHERE component = 'store'") == [(OLDER,)]
    for daemon in ("smtpd", "imapd"):
        rc, log = start_fails(m, daemon)
        assert rc == 1, log
        assert (f"store schema older than this code (store {OLDER} < {LATEST}): run mssctl migrate"
                in log), log
    r = m.ctl("account", "list", check=False)
    assert r.returncode == 1
    assert "run mssctl migrate" in r.stderr
    accounts = m.sql("SELECT count(*) FROM store_users")[0][0]
    assert accounts >= 1
    r = m.ctl("migrate")
    assert r.stdout.splitlines() == ["store schema: %d migrations applied" % (LATEST - OLDER),
                                     f"account key pairs: {accounts} made"], r.stdout
    assert m.sql("SELECT count(*) FROM pragma_table_info('blobs') WHERE name = 'sealed_key'") == [(1,)]
    assert m.sql("SELECT count(*) FROM store_users WHERE length(public_key) = 64") == [(accounts,)]
    assert m.sql("SELECT version FROM schema_version WHERE component = 'store'") == [(LATEST,)]
    assert m.sql("SELECT result, detail FROM audit_log WHERE action = 'admin.migrate'") == [
        ("ok", "steps=%d" % (LATEST - OLDER)), ("ok", f"keypairs={accounts}")]
    assert m.ctl("migrate").stdout.strip() == "store schema: up to date"
    m.start("smtpd")
    m.start("imapd")
    assert m.ctl("audit", "verify").returncode == 0


def test_newer_schema_is_refused_by_all(mss_factory):
    m = mss_factory()
    write_sql(m, "UPDATE schema_version SET version = 99 WHERE component = 'vault'")
    rc, log = start_fails(m, "smtpd")
    assert rc == 1
    assert "store schema newer than this code (vault 99 > " in log, log
    r = m.ctl("migrate", check=False)
    assert r.returncode == 1
    assert "newer than this code (vault 99" in r.stderr
    assert m.sql("SELECT version FROM schema_version WHERE component = 'vault'") == [(99,)]


def test_init_creates_current_schema_and_migrate_usage(mss_factory):
    m = mss_factory()
    assert m.ctl("migrate").stdout.strip() == "store schema: up to date"
    components = dict(m.sql("SELECT component, version FROM schema_version"))
    assert set(components) >= {"directory", "directory_entries", "store", "audit", "vault", "policy"}
    r = m.ctl("migrate", "now", check=False)
    assert r.returncode == 2
    assert "migrate takes no arguments" in r.stderr
    fresh = mss_factory(init=False, name="fresh")
    r = fresh.ctl("migrate", check=False)
    assert r.returncode == 1
    assert "run mssctl init" in r.stderr


VAULT_BLOCKS = 4  # the vault's step that takes patient_blocks over (vault/vault_schema.c)


def test_tables_moved_to_their_owners_keep_their_rows(mss_factory):
    """A store made before the vault owned patient_blocks and the policy owned
    policy_contacts (both created by directory_entries then): migrate gives them to
    their owners without touching their rows."""
    m = mss_factory()
    write_sql(m, "INSERT INTO patient_blocks VALUES ('p@patient.mss.test', 'd@pro.mss.test', 1)",
              "INSERT INTO policy_contacts VALUES ('p@patient.mss.test', 'd@pro.mss.test', 'open', 1, 1)",
              "DROP TABLE vault_settings",  # the vault's steps 5 and 6, later than such a store
              "DROP TABLE vault_vacc_stale",
              f"UPDATE schema_version SET version = {VAULT_BLOCKS - 1} WHERE component = 'vault'",
              "DELETE FROM schema_version WHERE component = 'policy'")
    rc, log = start_fails(m, "smtpd")
    assert rc == 1 and "run mssctl migrate" in log, log
    assert m.ctl("migrate").stdout.strip() == "store schema: 4 migrations applied"
    assert m.sql("SELECT count(*) FROM patient_blocks") == [(1,)]
    assert m.sql("SELECT state FROM policy_contacts") == [("open",)]
    assert dict(m.sql("SELECT component, version FROM schema_version"))["policy"] == 1
    m.start("smtpd")
