/* directory_schema.c: migrations of the directory entries and the trust list.
 *
 * Step 1 once also created patient_blocks and policy_contacts; their owners (vault/,
 * policy/) now create them in their own steps, when missing, so that old and new
 * databases end up with the same tables. */

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
               ") WITHOUT ROWID;",
     .postgresql = "CREATE TABLE directory_entry ("
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
                   " updated BIGINT NOT NULL DEFAULT 0,"
                   " digest BYTEA NOT NULL DEFAULT ''::bytea);"
                   "CREATE TABLE directory_structure ("
                   " address TEXT NOT NULL,"
                   " id_type TEXT NOT NULL DEFAULT '',"
                   " id_value TEXT NOT NULL DEFAULT '',"
                   " name TEXT NOT NULL DEFAULT '',"
                   " service TEXT NOT NULL DEFAULT '',"
                   " postcode TEXT NOT NULL DEFAULT '',"
                   " PRIMARY KEY (address, id_type, id_value, name, service, postcode));"
                   "CREATE TABLE trust_domain ("
                   " domain TEXT NOT NULL,"
                   " dn_key TEXT NOT NULL,"
                   " dn TEXT NOT NULL,"
                   " description TEXT NOT NULL DEFAULT '',"
                   " updated TEXT NOT NULL DEFAULT '',"
                   " PRIMARY KEY (domain, dn_key));"},
};

const struct sql_schema directory_entries_schema = {"directory_entries", migrations,
                                                    sizeof migrations / sizeof migrations[0]};
