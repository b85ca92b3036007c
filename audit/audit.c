/* audit.c: appending to the chained audit log (see audit.h). */

#include "audit/audit.h"

#include <string.h>
#include <time.h>

#include "lib/config.h"
#include "lib/sql.h"
#include "lib/log.h"
#include "lib/str.h"
#include "audit/audit_chain.h"
#include "audit/audit_schema.h"
#include "store/store_sql.h"

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
               " hash TEXT NOT NULL, signature TEXT NOT NULL);",
     .postgresql = "CREATE TABLE audit_log ("
                   " seq BIGINT PRIMARY KEY,"
                   " time BIGINT NOT NULL,"
                   " actor TEXT NOT NULL, auth TEXT NOT NULL, action TEXT NOT NULL,"
                   " target TEXT NOT NULL, detail TEXT NOT NULL, result TEXT NOT NULL,"
                   " peer TEXT NOT NULL, patient TEXT NOT NULL,"
                   " prev TEXT NOT NULL, hash TEXT NOT NULL);"
                   "CREATE INDEX audit_log_patient ON audit_log(patient, seq);"
                   "CREATE TABLE audit_checkpoint ("
                   " seq BIGINT PRIMARY KEY, time BIGINT NOT NULL,"
                   " hash TEXT NOT NULL, signature TEXT NOT NULL);"
                   "CREATE TABLE audit_head ("
                   " id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL,"
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
static const unsigned char *key_get(const struct mss_config *cfg)
{
	char dir[1024], err[256];

	if (audit_key_dir(cfg->data_dir, audit_key.override, dir, sizeof dir) != 0)
		return NULL;
	if (audit_key.state != 0 && strcmp(dir, audit_key.dir) == 0)
		return audit_key.state == 1 ? audit_key.sk : NULL;
	if (str_copy(audit_key.dir, sizeof audit_key.dir, dir) != 0)
		return NULL;
	if (audit_key_load_or_create(dir, audit_key.sk, err, sizeof err) != 0) {
		log_warn("audit_key", "result=unavailable error=\"%s\"", err);
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
static int read_tail(struct sql *db, int64_t *seq, unsigned char hash[AUDIT_HASH_LEN], char *err,
                     size_t errlen)
{
	char hex[AUDIT_HASH_HEX];
	struct sql_stmt *q =
	    sql_query(db, "audit.tail", "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
	              SQL_NOARGS, err, errlen);
	if (q == NULL)
		return -1;
	int rc = sql_next(q, err, errlen);
	*seq = 0;
	memset(hash, 0, AUDIT_HASH_LEN);
	if (rc == 1) {
		*seq = sql_int(q, 0);
		/* A damaged tail must not stop auditing: chain on from zeros and let
		 * mssctl audit verify name the damage. */
		if (sql_text_copy(q, 1, hex, sizeof hex) != 0 || audit_unhex(hex, hash, AUDIT_HASH_LEN) != 0)
			memset(hash, 0, AUDIT_HASH_LEN);
	}
	sql_done(q);
	return rc < 0 ? -1 : 0;
}

static const char *field(const char *s)
{
	return s != NULL ? s : "";
}

static int insert_record(struct sql *db, const struct audit_fields *fl, const char *prev_hex,
                         const char *hash_hex, char *err, size_t errlen)
{
	const char *const *f = fl->f;
	return sql_exec(db, "audit.insert",
	                "INSERT INTO audit_log (seq, time, actor, auth, action, target, detail, result, peer,"
	                " patient, prev, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	                SQL_ARGS(SQL_INT(fl->seq), SQL_INT(fl->time), SQL_TEXT(field(f[0])),
	                         SQL_TEXT(field(f[1])), SQL_TEXT(field(f[2])), SQL_TEXT(field(f[3])),
	                         SQL_TEXT(field(f[4])), SQL_TEXT(field(f[5])), SQL_TEXT(field(f[6])),
	                         SQL_TEXT(field(f[7])), SQL_TEXT(prev_hex), SQL_TEXT(hash_hex)),
	                err, errlen) == 1
	           ? 0
	           : -1;
}

static int write_head(struct sql *db, int64_t seq, const char *hash_hex, const char *sig, char *err,
                      size_t errlen)
{
	return sql_exec(db, "audit.head",
	                "INSERT INTO audit_head (id, seq, hash, signature) VALUES (1, ?1, ?2, ?3)"
	                " ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash,"
	                " signature = excluded.signature",
	                SQL_ARGS(SQL_INT(seq), SQL_TEXT(hash_hex), SQL_TEXT(sig)), err, errlen) < 0
	           ? -1
	           : 0;
}

static int write_checkpoint(struct sql *db, int64_t seq, const char *hash_hex, const char *sig, char *err,
                            size_t errlen)
{
	return sql_exec(db, "audit.checkpoint",
	                "INSERT INTO audit_checkpoint (seq, hash, signature, time) VALUES (?1, ?2, ?3, ?4)"
	                " ON CONFLICT (seq) DO NOTHING",
	                SQL_ARGS(SQL_INT(seq), SQL_TEXT(hash_hex), SQL_TEXT(sig), SQL_INT(time(NULL))), err,
	                errlen) < 0
	           ? -1
	           : 0;
}

/* The head is re-signed on every append so that records cut off the end are noticed;
 * without a key it is left unsigned, which verification reports. */
static int sign_head_and_checkpoint(struct sql *db, const unsigned char *sk, int64_t seq,
                                    const unsigned char hash[AUDIT_HASH_LEN], const char *hash_hex, char *err,
                                    size_t errlen)
{
	char sig[AUDIT_SIG_HEX] = "";

	if (sk)
		sign_hex(sk, "head", seq, hash, sig);
	if (write_head(db, seq, hash_hex, sig, err, errlen) != 0)
		return -1;
	if (!sk || seq % AUDIT_CHECKPOINT_EVERY != 0)
		return 0;
	sign_hex(sk, "checkpoint", seq, hash, sig);
	return write_checkpoint(db, seq, hash_hex, sig, err, errlen);
}

/* Inside a write transaction: one record after the tail. The chain lock keeps two
 * writers (hosts, with PostgreSQL) from chaining onto the same tail. */
static int append_locked(struct sql *db, const unsigned char *sk, const struct audit_event *ev, char *err,
                         size_t errlen)
{
	struct audit_fields fl = {
	    .time = (int64_t)time(NULL),
	    .f = {ev->actor, ev->auth, ev->action, ev->target, ev->detail, ev->result, ev->peer, ev->patient},
	};
	unsigned char prev[AUDIT_HASH_LEN], hash[AUDIT_HASH_LEN];
	char prev_hex[AUDIT_HASH_HEX], hash_hex[AUDIT_HASH_HEX];

	if (sql_lock(db, "audit.chain", err, errlen) != 0 || read_tail(db, &fl.seq, prev, err, errlen) != 0)
		return -1;
	fl.seq++;
	audit_chain_hash(prev, &fl, hash);
	sodium_bin2hex(prev_hex, sizeof prev_hex, prev, sizeof prev);
	sodium_bin2hex(hash_hex, sizeof hash_hex, hash, sizeof hash);
	if (insert_record(db, &fl, prev_hex, hash_hex, err, errlen) != 0)
		return -1;
	return sign_head_and_checkpoint(db, sk, fl.seq, hash, hash_hex, err, errlen);
}

int audit_append(struct store *st, const struct audit_event *ev, char *err, size_t errlen)
{
	struct sql *db = store_sql(st);
	const unsigned char *sk = key_get(store_config(st));
	/* Inside someone's transaction already: join it (the order is still strict,
	 * since that transaction holds the write lock once it wrote). */
	if (sql_in_transaction(db))
		return append_locked(db, sk, ev, err, errlen);
	if (sql_begin_write(db, err, errlen) != 0)
		return -1;
	if (append_locked(db, sk, ev, err, errlen) != 0) {
		sql_rollback(db);
		return -1;
	}
	return sql_commit(db, err, errlen);
}

static int checkpoint_locked(struct sql *db, const unsigned char *sk, char *err, size_t errlen)
{
	int64_t seq;
	unsigned char hash[AUDIT_HASH_LEN];
	char hash_hex[AUDIT_HASH_HEX], sig[AUDIT_SIG_HEX];

	if (!sk) {
		str_copy(err, errlen, "no audit key: checkpoint not signed");
		return -1;
	}
	if (sql_lock(db, "audit.chain", err, errlen) != 0 || read_tail(db, &seq, hash, err, errlen) != 0)
		return -1;
	if (seq == 0)
		return 0;
	sodium_bin2hex(hash_hex, sizeof hash_hex, hash, sizeof hash);
	sign_hex(sk, "checkpoint", seq, hash, sig);
	return write_checkpoint(db, seq, hash_hex, sig, err, errlen);
}

int audit_checkpoint(struct store *st, char *err, size_t errlen)
{
	struct sql *db = store_sql(st);
	const unsigned char *sk = key_get(store_config(st));
	if (sql_in_transaction(db))
		return checkpoint_locked(db, sk, err, errlen);
	if (sql_begin_write(db, err, errlen) != 0)
		return -1;
	if (checkpoint_locked(db, sk, err, errlen) != 0) {
		sql_rollback(db);
		return -1;
	}
	return sql_commit(db, err, errlen);
}

void audit_shutdown_checkpoint(const struct mss_config *cfg)
{
	char err[256];
	struct store *st = store_open(cfg, err, sizeof err);
	if (st == NULL || audit_checkpoint(st, err, sizeof err) != 0)
		log_err("audit_checkpoint", "result=error error=\"%s\"", err);
	else
		log_info("audit_checkpoint", "result=ok when=shutdown");
	store_close(st);
}

/* The first record marks the log's beginning, so that an emptied table is told
 * apart from a new one. */
int audit_start_log(struct store *st, char *err, size_t errlen)
{
	int64_t seq, ncp = 0;
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

	if (read_tail(store_sql(st), &seq, hash, err, errlen) != 0)
		return -1;
	if (seq != 0)
		return 0;
	if (sql_one(store_sql(st), "audit.checkpoints", "SELECT count(*) FROM audit_checkpoint", SQL_NOARGS,
	            &ncp, err, errlen) < 0)
		return -1;
	if (ncp > 0)
		return 0; /* emptied, not new: leave it for verification to report */
	return audit_append(st, &ev, err, errlen);
}

const struct sql_schema audit_schema = {"audit", audit_migrations,
                                        sizeof audit_migrations / sizeof audit_migrations[0]};

struct foreach_patient {
	int (*fn)(const struct audit_record *rec, void *arg);
	void *arg;
	int cut; /* a field did not fit its buffer */
};

static int patient_row(void *arg, struct sql_stmt *q)
{
	struct foreach_patient *fp = arg;
	struct audit_record r;
	r.seq = sql_int(q, 0);
	r.time = sql_int(q, 1);
	/* The record buffers hold every field MSS writes; a longer one is cut for display. */
	fp->cut |=
	    sql_text_copy(q, 2, r.actor, sizeof r.actor) | sql_text_copy(q, 3, r.auth, sizeof r.auth) |
	    sql_text_copy(q, 4, r.action, sizeof r.action) | sql_text_copy(q, 5, r.target, sizeof r.target) |
	    sql_text_copy(q, 6, r.detail, sizeof r.detail) | sql_text_copy(q, 7, r.result, sizeof r.result) |
	    sql_text_copy(q, 8, r.peer, sizeof r.peer) | sql_text_copy(q, 9, r.patient, sizeof r.patient);
	return fp->fn(&r, fp->arg) != 0 ? 1 : 0;
}

int audit_patient_recent(struct store *st, const char *patient, const char *actor, const char *action,
                         int64_t since)
{
	char err[256];
	int64_t one = 0;
	int rc =
	    sql_one(store_sql(st), "audit.patient_recent",
	            "SELECT 1 FROM audit_log WHERE patient = ?1 AND actor = ?2 AND action = ?3 AND time >= ?4"
	            " LIMIT 1",
	            SQL_ARGS(SQL_TEXT(patient), SQL_TEXT(actor), SQL_TEXT(action), SQL_INT(since)), &one, err,
	            sizeof err);
	if (rc < 0)
		log_err("audit_read", "error=\"%s\"", err);
	return rc;
}

int audit_foreach_patient(struct store *st, const char *patient, int64_t after_seq,
                          int (*fn)(const struct audit_record *rec, void *arg), void *arg)
{
	char err[256];
	struct foreach_patient fp = {fn, arg, 0};
	int rc =
	    sql_foreach(store_sql(st), "audit.patient",
	                "SELECT seq, time, actor, auth, action, target, detail, result, peer, patient"
	                " FROM audit_log WHERE patient = ?1 AND seq > ?2 ORDER BY seq",
	                SQL_ARGS(SQL_TEXT(patient), SQL_INT(after_seq)), patient_row, &fp, err, sizeof err);
	if (rc < 0)
		log_err("audit_read", "error=\"%s\"", err);
	return rc < 0 ? -1 : 0;
}
