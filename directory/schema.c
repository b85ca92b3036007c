/* schema.c: the directory's tables. Migrations are append-only: never edit a
 * released one, add the next number. */
#include "directory/schema.h"

static const struct sql_migration directory_migrations[] = {
    {.version = 1,
     .sqlite = "CREATE TABLE accounts("
               "  id INTEGER PRIMARY KEY,"
               "  address TEXT NOT NULL UNIQUE COLLATE NOCASE,"
               "  role TEXT NOT NULL CHECK (role IN ('patient', 'professional', 'organisation')),"
               "  name TEXT NOT NULL DEFAULT '',"
               "  rpps TEXT NOT NULL DEFAULT '',"
               "  finess TEXT NOT NULL DEFAULT '',"
               "  password_hash TEXT,"
               "  disabled INTEGER NOT NULL DEFAULT 0,"
               "  created INTEGER NOT NULL);"
               "CREATE TABLE account_certs("
               "  sha256 TEXT PRIMARY KEY,"
               "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE);"
               "CREATE INDEX account_certs_account ON account_certs(account_id);"},
    /* retention (DESIGN.md "Retention"): the last login, and when the account was
     * last warned that it will be deleted for inactivity (0: never) */
    {.version = 2,
     .sql = "ALTER TABLE accounts ADD COLUMN last_login INTEGER NOT NULL DEFAULT 0;"
            "ALTER TABLE accounts ADD COLUMN retention_warned INTEGER NOT NULL DEFAULT 0;"},
};

const struct sql_schema directory_schema = {"directory", directory_migrations,
                                            sizeof directory_migrations / sizeof directory_migrations[0]};
