/* policy_schema.c: every part's schema, in dependency order, as one (policy.h).
 *
 * Each part owns its tables and their numbered migrations (component name in
 * schema_version); this list is the only place that knows them all, so that init,
 * migrate and the daemons' start-up check agree. */
#include "policy/policy.h"
#include "policy/policy_schema.h"

#include "audit/audit_schema.h"
#include "auth/auth_store.h"
#include "directory/schema.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "queue/queue_schema.h"
#include "store/store_sql.h"
#include "vault/vault_schema.h"

/* Authorised contacts. Databases made before the policy owned the table got it from
 * directory_entries step 1: hence IF NOT EXISTS. */
static const struct sql_migration policy_migrations[] = {
    {.version = 1,
     .sqlite = "CREATE TABLE IF NOT EXISTS policy_contacts ("
               " patient TEXT NOT NULL,"
               " contact TEXT NOT NULL,"
               " state TEXT NOT NULL CHECK (state IN ('open', 'closed')),"
               " first_seen INTEGER NOT NULL,"
               " last_seen INTEGER NOT NULL,"
               " PRIMARY KEY (patient, contact)) WITHOUT ROWID;",
     .postgresql = "CREATE TABLE IF NOT EXISTS policy_contacts ("
                   " patient TEXT NOT NULL,"
                   " contact TEXT NOT NULL,"
                   " state TEXT NOT NULL CHECK (state IN ('open', 'closed')),"
                   " first_seen BIGINT NOT NULL,"
                   " last_seen BIGINT NOT NULL,"
                   " PRIMARY KEY (patient, contact));"},
};

const struct sql_schema policy_schema = {"policy", policy_migrations,
                                         sizeof policy_migrations / sizeof policy_migrations[0]};

static const struct sql_schema *const parts[] = {
    &directory_schema, &directory_entries_schema,
    &store_schema,     &audit_schema,
    &auth_schema,      &vault_schema,
    &queue_schema,     &policy_schema,
};

#define NPARTS (sizeof parts / sizeof parts[0])

int policy_schema_migrate(struct store *st, int *applied, char *err, size_t errlen)
{
	int total = 0;
	for (size_t i = 0; i < NPARTS; i++) {
		int n = 0;
		if (sql_migrate(store_sql(st), parts[i], &n, err, errlen) < 0)
			return -1;
		total += n;
	}
	if (applied != NULL)
		*applied = total;
	return 0;
}

int policy_schema_check(struct store *st, char *err, size_t errlen)
{
	for (size_t i = 0; i < NPARTS; i++) {
		int have = 0, want = sql_schema_latest(parts[i]);
		int rc = sql_schema_check(store_sql(st), parts[i], &have, err, errlen);
		if (rc == 1) {
			str_format(err, errlen,
			           "store schema older than this code (%s %d < %d): run mssctl migrate",
			           parts[i]->component, have, want);
			return 1;
		}
		if (rc == 2) {
			str_format(err, errlen,
			           "store schema newer than this code (%s %d > %d): run the MSS version that "
			           "wrote it",
			           parts[i]->component, have, want);
			return 2;
		}
		if (rc < 0)
			return -1;
	}
	return 0;
}
