/* schema.c: the directory's tables. Migrations are append-only: never edit a
 * released one, add the next number. */
#include "directory/schema.h"

#include "directory/directory_schema.h"
#include "lib/db.h"

static const struct db_migration directory_migrations[] = {
    {1, "CREATE TABLE accounts("
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
};

int directory_schema_migrate(sqlite3 *db, char *err, size_t errlen)
{
	if (db_migrate(db, "directory", directory_migrations,
	               sizeof directory_migrations / sizeof directory_migrations[0], err, errlen) < 0)
		return -1;
	/* Directory entries, trust list, patient blocks, authorised contacts. */
	return directory_entries_schema_migrate(db, err, errlen);
}
