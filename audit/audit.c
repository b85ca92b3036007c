/* audit.c: appending to the chained audit log (see audit.h). */

#include "audit/audit.h"

#include <string.h>
#include <time.h>

#include "lib/config.h"
#include "lib/db.h"
#include "lib/sql_sqlite.h"
#include "lib/log.h"
#include "lib/str.h"
#include "audit/audit_chain.h"
#include "audit/audit_schema.h"

static const struct sql_migration audit_migrations[] = {
    {.version = 1,
     .sqlite = "CREATE TABLE audit_log ("
               " seq INTEGER PRIMARY KEY,"
               " time INTEGER NOT NULL,"
               " actor TEXT NOT NULL, auth TEXT NOT NULL, action TEXT NOT NULL,"
               " target TEXT NOT NULL, detail TEXT NOT NULL, result TEXT NOT NULL,"
               " peer TEXT NOT NULL, patient TEXT NOT NULL,"
               " prev TEXT NOT NULL, hash TEXT NOT NULL);"
               "CREATE INDEX audit_log_patient ON audit_log(patient, seq);"
               "CREATE TABLE audit_checkpoint ("
               " seq INTEGER PRIMARY KEY, time INTEGER NOT NULL,"
               " hash TEXT NOT NULL, signature TEXT NOT NULL);"
               "CREATE TABLE audit_head ("
               " id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL,"
               " hash TEXT NOT NULL, signature TEXT NOT NULL);"},
};

/* The process's key, loaded on first use. */
static struct {
	char override[1024];
	char dir[1024];
	int state; /* 0 not tried, 1 loaded, -1 failed for dir */
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
} audit_key;

void audit_set_key_dir(const char *dir)
{
	str_copy(audit_key.override, sizeof audit_key.override, dir ? dir : "");
	audit_key.state = 0;
	sodium_memzero(audit_key.sk, sizeof audit_key.sk);
}

/* Returns the secret key, or NULL when this process has none (no key directory). */
static const unsigned char *key_get(sqlite3 *db)
{
	char dir[1024], err[256];

	if (audit_key_dir(db, audit_key.override, dir, sizeof dir) != 0)
		return NULL;
	if (audit_key.state != 0 && strcmp(dir, audit_key.dir) == 0)
		return audit_key.state == 1 ? audit_key.sk : NULL;
	str_copy(audit_key.dir, sizeof audit_key.dir, dir);
	if (audit_key_load_or_create(dir, audit_key.sk, err, sizeof err) != 0) {
		log_warn("audit_key", "result=unavailable why=\"%s\"", err);
		audit_key.state = -1;
		return NULL;
	}
	audit_key.state = 1;
	return audit_key.sk;
}

static void sign_hex(const unsigned char *sk, const char *kind, int64_t seq,
                     const unsigned char hash[AUDIT_HASH_LEN], char out[AUDIT_SIG_HEX])
{
	unsigned char msg[96], sig[crypto_sign_BYTES];
	size_t n = audit_chain_statement(kind, seq, hash, msg);
	crypto_sign_detached(sig, NULL, msg, n, sk);
	sodium_bin2hex(out, AUDIT_SIG_HEX, sig, sizeof sig);
}

/* Reads the last record's seq and hash (0 and zeros for an empty log). */
static int read_tail(sqlite3 *db, int64_t *seq, unsigned char hash[AUDIT_HASH_LEN], char *err, size_t errlen)
{
	char hex[AUDIT_HASH_HEX];
	sqlite3_stmt *st =
	    db_prepare(db, "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", err, errlen);
	if (!st)
		return -1;
	int rc = sqlite3_step(st);
	*seq = 0;
	memset(hash, 0, AUDIT_HASH_LEN);
	if (rc == SQLITE_ROW) {
		*seq = sqlite3_column_int64(st, 0);
		db_column_copy(st, 1, hex, sizeof hex);
		if (audit_unhex(hex, hash, AUDIT_HASH_LEN) != 0) {
			/* A damaged tail must not stop auditing: chain on from zeros and let
			 * mssctl audit verify name the damage. */
			memset(hash, 0, AUDIT_HASH_LEN);
		}
		rc = SQLITE_DONE;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		db_error(db, "audit tail", err, errlen);
		return -1;
	}
	return 0;
}

static int insert_record(sqlite3 *db, const struct audit_fields *fl, const char *prev_hex,
                         const char *hash_hex, char *err, size_t errlen)
{
	sqlite3_stmt *st = db_prepare(db,
	                              "INSERT INTO audit_log (seq, time, actor, auth, action, target, detail,"
	                              " result, peer, patient, prev, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
	                              err, errlen);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, fl->seq);
	sqlite3_bind_int64(st, 2, fl->time);
	for (int i = 0; i < 8; i++)
		sqlite3_bind_text(st, 3 + i, fl->f[i] ? fl->f[i] : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 11, prev_hex, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 12, hash_hex, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		db_error(db, "audit insert", err, errlen);
		return -1;
	}
	return 0;
}

static int write_signed(sqlite3 *db, const char *sql, int64_t seq, const char *hash_hex, const char *sig,
                        char *err, size_t errlen)
{
	sqlite3_stmt *st = db_prepare(db, sql, err, errlen);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, seq);
	sqlite3_bind_text(st, 2, hash_hex, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, sig, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (int64_t)time(NULL));
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		db_error(db, "audit signature", err, errlen);
		return -1;
	}
	return 0;
}

#define SQL_HEAD "INSERT OR REPLACE INTO audit_head (id, seq, hash, signature) VALUES (1, ?1, ?2, ?3)"
#define SQL_CHECKPOINT                                                                                       \
	"INSERT OR IGNORE INTO audit_checkpoint (seq, hash, signature, time) VALUES (?1, ?2, ?3, ?4)"

/* The head is re-signed on every append so that records cut off the end are noticed;
 * without a key it is left unsigned, which verification reports. */
static int sign_head_and_checkpoint(sqlite3 *db, int64_t seq, const unsigned char hash[AUDIT_HASH_LEN],
                                    const char *hash_hex, char *err, size_t errlen)
{
	char sig[AUDIT_SIG_HEX] = "";
	const unsigned char *sk = key_get(db);

	if (sk)
		sign_hex(sk, "head", seq, hash, sig);
	if (write_signed(db, SQL_HEAD, seq, hash_hex, sig, err, errlen) != 0)
		return -1;
	if (!sk || seq % AUDIT_CHECKPOINT_EVERY != 0)
		return 0;
	sign_hex(sk, "checkpoint", seq, hash, sig);
	return write_signed(db, SQL_CHECKPOINT, seq, hash_hex, sig, err, errlen);
}

int audit_append_locked(sqlite3 *db, const struct audit_event *ev, char *err, size_t errlen)
{
	struct audit_fields fl = {
	    .time = (int64_t)time(NULL),
	    .f = {ev->actor, ev->auth, ev->action, ev->target, ev->detail, ev->result, ev->peer, ev->patient},
	};
	unsigned char prev[AUDIT_HASH_LEN], hash[AUDIT_HASH_LEN];
	char prev_hex[AUDIT_HASH_HEX], hash_hex[AUDIT_HASH_HEX];

	if (read_tail(db, &fl.seq, prev, err, errlen) != 0)
		return -1;
	fl.seq++;
	audit_chain_hash(prev, &fl, hash);
	sodium_bin2hex(prev_hex, sizeof prev_hex, prev, sizeof prev);
	sodium_bin2hex(hash_hex, sizeof hash_hex, hash, sizeof hash);
	if (insert_record(db, &fl, prev_hex, hash_hex, err, errlen) != 0)
		return -1;
	return sign_head_and_checkpoint(db, fl.seq, hash, hash_hex, err, errlen);
}

int audit_append(sqlite3 *db, const struct audit_event *ev, char *err, size_t errlen)
{
	/* Inside someone's transaction already: join it (the order is still strict,
	 * since that transaction holds the write lock once it wrote). */
	if (!sqlite3_get_autocommit(db))
		return audit_append_locked(db, ev, err, errlen);
	if (db_begin_write(db, err, errlen) != 0)
		return -1;
	if (audit_append_locked(db, ev, err, errlen) != 0) {
		db_rollback(db);
		return -1;
	}
	return db_commit(db, err, errlen);
}

static int checkpoint_locked(sqlite3 *db, char *err, size_t errlen)
{
	int64_t seq;
	unsigned char hash[AUDIT_HASH_LEN];
	char hash_hex[AUDIT_HASH_HEX], sig[AUDIT_SIG_HEX];
	const unsigned char *sk = key_get(db);

	if (!sk) {
		str_copy(err, errlen, "no audit key: checkpoint not signed");
		return -1;
	}
	if (read_tail(db, &seq, hash, err, errlen) != 0)
		return -1;
	if (seq == 0)
		return 0;
	sodium_bin2hex(hash_hex, sizeof hash_hex, hash, sizeof hash);
	sign_hex(sk, "checkpoint", seq, hash, sig);
	return write_signed(db, SQL_CHECKPOINT, seq, hash_hex, sig, err, errlen);
}

int audit_checkpoint(sqlite3 *db, char *err, size_t errlen)
{
	if (!sqlite3_get_autocommit(db))
		return checkpoint_locked(db, err, errlen);
	if (db_begin_write(db, err, errlen) != 0)
		return -1;
	if (checkpoint_locked(db, err, errlen) != 0) {
		db_rollback(db);
		return -1;
	}
	return db_commit(db, err, errlen);
}

int audit_checkpoint_file(const char *db_path, char *err, size_t errlen)
{
	sqlite3 *db = db_open(db_path, 0, err, errlen);
	if (!db)
		return -1;
	int rc = audit_checkpoint(db, err, errlen);
	db_close(db);
	return rc;
}

void audit_shutdown_checkpoint(const struct mss_config *cfg)
{
	char path[CONFIG_PATH_MAX + 16], err[256];
	if (config_data_path(cfg, "mss.db", path, sizeof path) != 0) {
		log_err("audit_checkpoint", "result=error why=\"data_dir path too long\"");
		return;
	}
	if (audit_checkpoint_file(path, err, sizeof err) != 0)
		log_err("audit_checkpoint", "result=error why=\"%s\"", err);
	else
		log_info("audit_checkpoint", "result=ok when=shutdown");
}

/* The first record marks the log's beginning, so that an emptied table is told
 * apart from a new one. */
static int append_genesis(sqlite3 *db, char *err, size_t errlen)
{
	int64_t seq;
	unsigned char hash[AUDIT_HASH_LEN];
	const struct audit_event ev = {
	    .actor = "mss",
	    .auth = "local",
	    .action = "audit.init",
	    .target = "audit_log",
	    .detail = "log created",
	    .result = "ok",
	    .peer = "",
	    .patient = "",
	};

	if (read_tail(db, &seq, hash, err, errlen) != 0)
		return -1;
	if (seq != 0)
		return 0;
	sqlite3_stmt *st = db_prepare(db, "SELECT count(*) FROM audit_checkpoint", err, errlen);
	if (!st)
		return -1;
	int64_t ncp = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	if (ncp > 0)
		return 0; /* emptied, not new: leave it for verification to report */
	return audit_append(db, &ev, err, errlen);
}

static int audit_after_migrate(struct sql *db, char *err, size_t errlen)
{
	return append_genesis(sql_sqlite_handle(db), err, errlen);
}

const struct sql_schema audit_schema = {
    "audit", audit_migrations, sizeof audit_migrations / sizeof audit_migrations[0], audit_after_migrate};

static void copy_col(sqlite3_stmt *st, int col, char *out, size_t outlen)
{
	db_column_copy(st, col, out, outlen);
}

int audit_foreach_patient(sqlite3 *db, const char *patient, int64_t after_seq,
                          int (*fn)(const struct audit_record *rec, void *arg), void *arg)
{
	char err[256];
	sqlite3_stmt *st =
	    db_prepare(db,
	               "SELECT seq, time, actor, auth, action, target, detail, result, peer, patient"
	               " FROM audit_log WHERE patient = ? AND seq > ? ORDER BY seq",
	               err, sizeof err);
	if (!st)
		return -1;
	db_bind_text(st, 1, patient);
	sqlite3_bind_int64(st, 2, after_seq);
	int rc;
	while ((rc = db_step(st)) == SQLITE_ROW) {
		struct audit_record r;
		r.seq = sqlite3_column_int64(st, 0);
		r.time = sqlite3_column_int64(st, 1);
		copy_col(st, 2, r.actor, sizeof r.actor);
		copy_col(st, 3, r.auth, sizeof r.auth);
		copy_col(st, 4, r.action, sizeof r.action);
		copy_col(st, 5, r.target, sizeof r.target);
		copy_col(st, 6, r.detail, sizeof r.detail);
		copy_col(st, 7, r.result, sizeof r.result);
		copy_col(st, 8, r.peer, sizeof r.peer);
		copy_col(st, 9, r.patient, sizeof r.patient);
		if (fn(&r, arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}
