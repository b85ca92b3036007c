/* directory_schema.c: migrations of the directory entries, trust list, blocks, contacts. */

#include "directory/directory_schema.h"
#include "directory/schema.h"

/* Addresses are stored lowercase so that equality is plain '=' and uses the index. */
static const struct sql_migration migrations[] = {
    {.version = 1,
     .sqlite = "CREATE TABLE directory_entry ("
               " address TEXT PRIMARY KEY NOT NULL,"
               " bal_type TEXT NOT NULL,"
               " id_type TEXT NOT NULL DEFAULT '',"
               " id_value TEXT NOT NULL DEFAULT '',"
               " national_id TEXT NOT NULL DEFAULT '',"
               " civility TEXT NOT NULL DEFAULT '',"
               " last_name TEXT NOT NULL DEFAULT '',"
               " first_name TEXT NOT NULL DEFAULT '',"
               " profession_code TEXT NOT NULL DEFAULT '',"
               " profession_label TEXT NOT NULL DEFAULT '',"
               " speciality_code TEXT NOT NULL DEFAULT '',"
               " speciality_label TEXT NOT NULL DEFAULT '',"
               " active INTEGER NOT NULL DEFAULT 1,"
               " updated INTEGER NOT NULL DEFAULT 0,"
               " digest BLOB NOT NULL DEFAULT x''" /* of the imported fields and structures */
               ") WITHOUT ROWID;"
               "CREATE TABLE directory_structure ("
               " address TEXT NOT NULL,"
               " id_type TEXT NOT NULL DEFAULT '',"
               " id_value TEXT NOT NULL DEFAULT '',"
               " name TEXT NOT NULL DEFAULT '',"
               " service TEXT NOT NULL DEFAULT '',"
               " postcode TEXT NOT NULL DEFAULT '',"
               " PRIMARY KEY (address, id_type, id_value, name, service, postcode)"
               ") WITHOUT ROWID;"
               "CREATE TABLE trust_domain ("
               " domain TEXT NOT NULL,"
               " dn_key TEXT NOT NULL,"
               " dn TEXT NOT NULL,"
               " description TEXT NOT NULL DEFAULT '',"
               " updated TEXT NOT NULL DEFAULT '',"
               " PRIMARY KEY (domain, dn_key)"
               ") WITHOUT ROWID;"
               "CREATE TABLE patient_blocks ("
               " patient TEXT NOT NULL,"
               " professional TEXT NOT NULL,"
               " created INTEGER NOT NULL DEFAULT (strftime('%s','now')),"
               " PRIMARY KEY (patient, professional)"
               ") WITHOUT ROWID;"
               "CREATE TABLE policy_contacts ("
               " patient TEXT NOT NULL,"
               " contact TEXT NOT NULL,"
               " state TEXT NOT NULL CHECK (state IN ('open', 'closed')),"
               " first_seen INTEGER NOT NULL,"
               " last_seen INTEGER NOT NULL,"
               " PRIMARY KEY (patient, contact)"
               ") WITHOUT ROWID;"},
};

const struct sql_schema directory_entries_schema = {"directory_entries", migrations,
                                                    sizeof migrations / sizeof migrations[0]};
