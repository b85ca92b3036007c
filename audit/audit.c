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
    /* Issue 15: only records about a patient are looked up by patient
     * (AUDIT_PATIENT_ONLY). An MX delivery's MAIL and RCPT records have none, and in the
     * full index they filled a leaf page of their own, written again by every delivery
     * (WAL frames per delivery commit 16.6 -> 15.4, two index inserts fewer). */
    {.version = 2,
     .sql = "DROP INDEX audit_log_patient;"
            "CREATE INDEX audit_log_patient ON audit_log(patient, seq) WHERE patient <> '';"},
};

/* Reads the last record's seq and hash (0 and zeros for an empty log). */
int audit_read_tail(struct sql *db, int64_t *seq, unsigned char hash[AUDIT_HASH_LEN], char *err,
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

/* The tail this process last chained onto, inside the write transaction numbered gen
 * (sql_txn_generation; 0: none). A transaction that appends several records (a delivery
 * writes its MAIL, RCPT and delivery records) reads the tail once: no other writer can
 * move it while the transaction holds the write lock (SQLite) or the chain lock
 * (PostgreSQL), and a rollback, to a savepoint too, changes the generation, so a record
 * undone is never chained onto. */
static struct {
	uint64_t gen;
	int64_t seq;
	unsigned char hash[AUDIT_HASH_LEN];
} tail_memo;

/* The tail to chain onto: the memo's within its transaction, else read under the chain
 * lock. */
static int chain_tail(struct sql *db, int64_t *seq, unsigned char hash[AUDIT_HASH_LEN], char *err,
                      size_t errlen)
{
	if (tail_memo.gen != 0 && tail_memo.gen == sql_txn_generation(db) && sql_in_transaction(db)) {
		*seq = tail_memo.seq;
		memcpy(hash, tail_memo.hash, AUDIT_HASH_LEN);
		return 0;
	}
	tail_memo.gen = 0;
	if (sql_lock(db, "audit.chain", err, errlen) != 0 || audit_read_tail(db, seq, hash, err, errlen) != 0)
		return -1;
	return 0;
}

/* Inside a write transaction: one record after the tail. The chain lock keeps two
 * writers (hosts, with PostgreSQL) from chaining onto the same tail. */
int audit_append_locked(struct sql *db, const struct audit_event *ev, int64_t when, int64_t *seq, char *err,
                        size_t errlen)
{
	struct audit_fields fl = {
	    .time = when,
	    .f = {ev->actor, ev->auth, ev->action, ev->target, ev->detail, ev->result, ev->peer, ev->patient},
	};
	unsigned char prev[AUDIT_HASH_LEN], hash[AUDIT_HASH_LEN];
	char prev_hex[AUDIT_HASH_HEX], hash_hex[AUDIT_HASH_HEX];

	if (chain_tail(db, &fl.seq, prev, err, errlen) != 0)
		return -1;
	fl.seq++;
	audit_chain_hash(prev, &fl, hash);
	sodium_bin2hex(prev_hex, sizeof prev_hex, prev, sizeof prev);
	sodium_bin2hex(hash_hex, sizeof hash_hex, hash, sizeof hash);
	if (insert_record(db, &fl, prev_hex, hash_hex, err, errlen) != 0) {
		tail_memo.gen = 0;
		return -1;
	}
	tail_memo.gen = sql_txn_generation(db);
	tail_memo.seq = fl.seq;
	memcpy(tail_memo.hash, hash, AUDIT_HASH_LEN);
	*seq = fl.seq;
	return 0;
}

/* The record is signed by the signer process (audit_signer.c), never here: this process
 * runs as the daemons' user and holds no signing key. It is told a record exists; a
 * record inside someone's transaction is signed once that transaction commits (the
 * signer signs committed records only, and looks again shortly after a notice). */
int audit_append(struct store *st, const struct audit_event *ev, char *err, size_t errlen)
{
	struct sql *db = store_sql(st);
	int64_t seq = 0;
	/* Inside someone's transaction already: join it (the order is still strict,
	 * since that transaction holds the write lock once it wrote). */
	if (sql_in_transaction(db)) {
		if (audit_append_locked(db, ev, (int64_t)time(NULL), &seq, err, errlen) != 0)
			return -1;
		audit_signer_notify(seq);
		return 0;
	}
	return audit_commit_own(db, ev, err, errlen);
}

int audit_commit_own(struct sql *db, const struct audit_event *ev, char *err, size_t errlen)
{
	int64_t seq = 0;
	if (sql_begin_write(db, err, errlen) != 0)
		return -1;
	if (audit_deferred_write_locked(db, &seq, err, errlen) != 0 ||
	    (ev != NULL && audit_append_locked(db, ev, (int64_t)time(NULL), &seq, err, errlen) != 0)) {
		sql_rollback(db);
		return -1;
	}
	if (sql_commit(db, err, errlen) != 0)
		return -1;
	audit_deferred_committed();
	audit_signer_notify(seq);
	return 0;
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

	if (audit_read_tail(store_sql(st), &seq, hash, err, errlen) != 0)
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
	int rc = sql_one(store_sql(st), "audit.patient_recent",
	                 "SELECT 1 FROM audit_log WHERE patient = ?1" AUDIT_PATIENT_ONLY
	                 " AND actor = ?2 AND action = ?3 AND time >= ?4 LIMIT 1",
	                 SQL_ARGS(SQL_TEXT(patient), SQL_TEXT(actor), SQL_TEXT(action), SQL_INT(since)), &one,
	                 err, sizeof err);
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
	                " FROM audit_log WHERE patient = ?1" AUDIT_PATIENT_ONLY " AND seq > ?2 ORDER BY seq",
	                SQL_ARGS(SQL_TEXT(patient), SQL_INT(after_seq)), patient_row, &fp, err, sizeof err);
	if (rc < 0)
		log_err("audit_read", "error=\"%s\"", err);
	return rc < 0 ? -1 : 0;
}
