/* vault_vacc_pending.c: a filed vaccination document's entries, recorded for the next
 * rebuild of the book (vault_vacc.h) by a process that holds no key of the patient's
 * (write-only filing, issue 12): a message of entries appended to Vaccinations (sealed
 * to the patient's public key and to the professionals who may read the folder, as any
 * message there) and the book's stale mark, a row in vault_vacc_stale. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/config.h"
#include "lib/localtime.h"
#include "lib/log.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_sql.h"
#include "vault/vault_folder.h"
#include "vault/vault_vacc_int.h"

#define ENTRIES_SUBJECT "Vaccinations à ajouter au carnet"
#define ENTRIES_READ (4 * 1024 * 1024) /* VAULT_VACC_MAX entries are far smaller */

/* The patient's address as the mark's key: lowercase, as vault_history_sync keeps it. */
static int key_of(const char *patient, char *out, size_t outlen, char *err, size_t errlen)
{
	if (str_copy(out, outlen, patient) != 0) {
		str_error(err, errlen, "patient address too long");
		return -1;
	}
	str_lower(out);
	return 0;
}

int vault_vacc_stale_get(struct store *st, const char *patient, int64_t *generation, char *err, size_t errlen)
{
	char p[MSS_ADDRESS_SIZE];
	*generation = 0;
	if (key_of(patient, p, sizeof(p), err, errlen) != 0)
		return -1;
	return sql_one(store_sql(st), "vacc.stale",
	               "SELECT generation FROM vault_vacc_stale WHERE patient = ?1", SQL_ARGS(SQL_TEXT(p)),
	               generation, err, errlen) < 0
	           ? -1
	           : 0;
}

int vault_vacc_stale_clear(struct store *st, const char *patient, int64_t generation, char *err,
                           size_t errlen)
{
	char p[MSS_ADDRESS_SIZE];
	if (key_of(patient, p, sizeof(p), err, errlen) != 0)
		return -1;
	return sql_exec(store_sql(st), "vacc.fresh",
	                "DELETE FROM vault_vacc_stale WHERE patient = ?1 AND generation = ?2",
	                SQL_ARGS(SQL_TEXT(p), SQL_INT(generation)), err, errlen) < 0
	           ? -1
	           : 0;
}

/* A new generation: whatever rebuild is running leaves the mark for the next one. */
static int stale_mark(struct store *st, const char *patient, char *err, size_t errlen)
{
	char p[MSS_ADDRESS_SIZE];
	if (key_of(patient, p, sizeof(p), err, errlen) != 0)
		return -1;
	return sql_exec(store_sql(st), "vacc.stale_mark",
	                "INSERT INTO vault_vacc_stale (patient, generation) VALUES (?1, 1)"
	                " ON CONFLICT (patient) DO UPDATE SET generation = vault_vacc_stale.generation + 1",
	                SQL_ARGS(SQL_TEXT(p)), err, errlen) < 0
	           ? -1
	           : 0;
}

/* Whether the patient masked the book (any message of Vaccinations carries $Masked): the
 * entries waiting for it stay masked too. Keywords are plain: no key read. 0 or -1. */
static int folder_masked(struct store *st, const char *patient, bool *masked, char *err, size_t errlen)
{
	struct store_mailbox mb;
	struct store_msglist l = {0};
	int rc = store_select(st, patient, VAULT_VACC_MAILBOX, &mb, &l, err, errlen);

	*masked = false;
	for (size_t i = 0; rc == 1 && i < l.n; i++)
		*masked |= vault_folder_masked(l.v[i].keywords);
	store_msglist_free(&l);
	return rc < 0 ? -1 : 0;
}

/* A word of the mark: never empty, never with a blank, ASCII (mime_header would encode
 * the line, vault_folder_header gives it back as it is: an SMTPUTF8 sender's address is
 * audited as "-" when merged; vault.file has it). */
static const char *word(const char *s)
{
	if (s == NULL || s[0] == '\0' || strpbrk(s, " \t\r\n") != NULL)
		return "-";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p >= 0x80)
			return "-";
	return s;
}

static int build(struct buf *b, const struct vault_actor *who, const char *patient, const char *zone,
                 const struct vault_vacc_entry *e, size_t n, int64_t when)
{
	char mark[64 + 3 * MSS_ADDRESS_SIZE], when_fr[64];
	char *json = vault_vacc_bundle(patient, e, n, when);
	struct buf t;
	int rc = 0;

	if (json == NULL)
		return -1;
	buf_init(&t, 512 * 1024);
	mss_date_french(zone, when, false, when_fr, sizeof(when_fr));
	rc |= buf_printf(&t, "Vaccinations reçues %s de %s, à ajouter au carnet de vaccination.\n\n", when_fr,
	                 who->actor != NULL && who->actor[0] ? who->actor : "-");
	rc |= vault_vacc_lines(&t, e, n);
	rc |= buf_append_str(&t, "\nElles seront reportées dans le « Carnet de vaccination » à la prochaine "
	                         "connexion du patient ; d'ici là, ce message les montre telles qu'elles "
	                         "ont été reçues.\n");
	rc |= str_format(mark, sizeof(mark), "%zu %s %s %s", n, word(who->actor), word(who->auth),
	                 word(who->peer));
	struct vault_folder_msg m = {patient,
	                             zone,
	                             when,
	                             ENTRIES_SUBJECT,
	                             "vaccination-entries",
	                             VAULT_VACC_ENTRIES_MARK,
	                             mark,
	                             t.data,
	                             json,
	                             "vaccinations-a-ajouter.json"};
	rc |= t.data != NULL && rc == 0 ? vault_folder_build(b, &m) : -1;
	buf_free(&t);
	free(json);
	return rc ? -1 : 0;
}

/* The entries stored and the book marked stale in one transaction: a session woken by
 * the new message (IDLE on Vaccinations) finds the mark, and a rebuild that sees the
 * mark sees the entries. Inside the caller's (a filing's, vault_file.c), a savepoint
 * of it: a BEGIN there would fail, a ROLLBACK undo the caller's work. Returns 0 or -1
 * with err. */
static int append_marked(struct store *st, const char *patient, const struct buf *b, bool masked,
                         int64_t when, char *err, size_t errlen)
{
	struct sql *db = store_sql(st);
	uint32_t uid = 0;
	char why[256];
	bool own = !sql_in_transaction(db);
	int rc = own ? sql_begin_write(db, err, errlen) : sql_savepoint(db, "vacc_append", err, errlen);

	if (rc == 0)
		rc = vault_folder_append(st, patient, VAULT_VACC_MAILBOX, b->data, b->len, masked, when, &uid,
		                         err, errlen);
	if (rc == 0)
		rc = stale_mark(st, patient, err, errlen);
	if (!own) {
		if (sql_release(db, "vacc_append", rc == 0, why, sizeof why) < 0 && rc == 0) {
			str_error(err, errlen, "%s", why);
			rc = -1;
		}
		return rc; /* the caller's commit wakes the watchers */
	}
	if (rc == 0)
		rc = sql_commit(db, err, errlen) == 0 ? 0 : -1;
	else
		sql_rollback(db);
	store_notify_flush(st);
	return rc;
}

int vault_vacc_record(struct store *st, const struct vault_actor *who, const char *patient,
                      const struct vault_vacc_entry *e, size_t n, char *err, size_t errlen)
{
	int64_t when = (int64_t)time(NULL);
	bool masked = false;
	struct buf b;
	int rc;

	if (n == 0)
		return 0;
	if (folder_masked(st, patient, &masked, err, errlen) != 0)
		return -1;
	buf_init(&b, ENTRIES_READ);
	rc = build(&b, who, patient, store_config(st)->timezone, e, n, when);
	if (rc != 0)
		str_error(err, errlen, "cannot build the vaccinations to add");
	else
		rc = append_marked(st, patient, &b, masked, when, err, errlen);
	buf_free(&b);
	return rc;
}
