/* audit_sign.c: signing the committed audit log (see audit.h, "Signing").
 *
 * Only the signer process (audit_signer.c) runs this in a daemon or mssctl: it holds
 * the Ed25519 key, which the daemons' user cannot read. It signs a head only when the
 * records since the last head it signed still chain from that head: a process acting
 * as the daemons' user that cut records off the end, or rewrote them, gets no
 * signature over its version (OpenSMTPD's privileged "ca" process and Dovecot's
 * auth process follow the same rule: the unprivileged side asks, the privileged side
 * decides). */

#include "audit/audit.h"

#include <string.h>
#include <time.h>

#include "lib/config.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "audit/audit_chain.h"
#include "store/store_sql.h"

/* The key and the last head this process signed (or found signed with its key). */
static struct {
	char override[1024];
	char dir[1024];
	int state; /* 0 not tried, 1 loaded, -1 failed for dir */
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	int known; /* the last signed head below is known */
	int64_t seq;
	unsigned char hash[AUDIT_HASH_LEN];
} signer;

int audit_set_key_dir(const char *dir)
{
	if (str_copy(signer.override, sizeof signer.override, dir ? dir : "") < 0) {
		signer.override[0] = '\0';
		return -1;
	}
	signer.state = 0;
	signer.known = 0;
	sodium_memzero(signer.sk, sizeof signer.sk);
	return 0;
}

static int key_get(const struct mss_config *cfg, char *err, size_t errlen)
{
	char dir[1024];

	if (audit_key_dir(cfg->data_dir, signer.override, dir, sizeof dir) != 0) {
		str_error(err, errlen, "%s", "no key directory for the audit log");
		return -1;
	}
	if (signer.state != 0 && strcmp(dir, signer.dir) == 0) {
		if (signer.state == 1)
			return 0;
		str_error(err, errlen, "no audit key in %s", dir);
		return -1;
	}
	if (str_copy(signer.dir, sizeof signer.dir, dir) != 0) {
		str_error(err, errlen, "%s", "audit key directory too long");
		return -1;
	}
	signer.known = 0;
	if (audit_key_load_or_create(dir, signer.sk, err, errlen) != 0) {
		signer.state = -1;
		return -1;
	}
	crypto_sign_ed25519_sk_to_pk(signer.pk, signer.sk);
	signer.state = 1;
	return 0;
}

static void sign_hex(const char *kind, int64_t seq, const unsigned char hash[AUDIT_HASH_LEN],
                     char out[AUDIT_SIG_HEX])
{
	unsigned char msg[96], sig[crypto_sign_BYTES];
	size_t n = audit_chain_statement(kind, seq, hash, msg);
	crypto_sign_detached(sig, NULL, msg, n, signer.sk);
	sodium_bin2hex(out, AUDIT_SIG_HEX, sig, sizeof sig);
}

static int write_head(struct sql *db, int64_t seq, const unsigned char hash[AUDIT_HASH_LEN], char *err,
                      size_t errlen)
{
	char hash_hex[AUDIT_HASH_HEX], sig[AUDIT_SIG_HEX];
	sodium_bin2hex(hash_hex, sizeof hash_hex, hash, AUDIT_HASH_LEN);
	sign_hex("head", seq, hash, sig);
	return sql_exec(db, "audit.head",
	                "INSERT INTO audit_head (id, seq, hash, signature) VALUES (1, ?1, ?2, ?3)"
	                " ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash,"
	                " signature = excluded.signature",
	                SQL_ARGS(SQL_INT(seq), SQL_TEXT(hash_hex), SQL_TEXT(sig)), err, errlen) < 0
	           ? -1
	           : 0;
}

static int write_checkpoint(struct sql *db, int64_t seq, const unsigned char hash[AUDIT_HASH_LEN], char *err,
                            size_t errlen)
{
	char hash_hex[AUDIT_HASH_HEX], sig[AUDIT_SIG_HEX];
	sodium_bin2hex(hash_hex, sizeof hash_hex, hash, AUDIT_HASH_LEN);
	sign_hex("checkpoint", seq, hash, sig);
	return sql_exec(db, "audit.checkpoint",
	                "INSERT INTO audit_checkpoint (seq, hash, signature, time) VALUES (?1, ?2, ?3, ?4)"
	                " ON CONFLICT (seq) DO NOTHING",
	                SQL_ARGS(SQL_INT(seq), SQL_TEXT(hash_hex), SQL_TEXT(sig), SQL_INT(time(NULL))), err,
	                errlen) < 0
	           ? -1
	           : 0;
}

/* Where signing resumes when this process has signed nothing yet: the stored head,
 * if it verifies with this key and its record still has that hash; the beginning
 * when the log has never been signed (no head, no checkpoint). Anything else is a
 * log this key did not sign as it stands: refused. */
static int find_start(struct sql *db, char *err, size_t errlen)
{
	char hash_hex[AUDIT_HASH_HEX] = "", sig[AUDIT_SIG_HEX] = "", rec_hex[AUDIT_HASH_HEX] = "";
	int64_t seq = 0, ncp = 0;

	struct sql_stmt *q =
	    sql_query(db, "audit.head", "SELECT seq, hash, signature FROM audit_head WHERE id = 1",
	              SQL_NOARGS, err, errlen);
	if (q == NULL)
		return -1;
	int rc = sql_next(q, err, errlen);
	if (rc == 1) {
		seq = sql_int(q, 0);
		if (sql_text_copy(q, 1, hash_hex, sizeof hash_hex) != 0 ||
		    sql_text_copy(q, 2, sig, sizeof sig) != 0)
			sig[0] = '\0';
	}
	sql_done(q);
	if (rc < 0)
		return -1;
	if (rc == 0 || sig[0] == '\0') {
		if (sql_one(db, "audit.checkpoints", "SELECT count(*) FROM audit_checkpoint", SQL_NOARGS,
		            &ncp, err, errlen) < 0)
			return -1;
		if (ncp > 0) {
			str_error(err, errlen, "%s",
			          "the log has checkpoints but no signed head: run mssctl audit verify");
			return -1;
		}
		signer.seq = 0;
		memset(signer.hash, 0, sizeof signer.hash);
		signer.known = 1;
		return 0;
	}
	if (!audit_sig_ok(signer.pk, "head", seq, hash_hex, sig)) {
		str_error(err, errlen, "the signed head (record %lld) does not verify with this key",
		          (long long)seq);
		return -1;
	}
	q = sql_query(db, "audit.record_hash", "SELECT hash FROM audit_log WHERE seq = ?1",
	              SQL_ARGS(SQL_INT(seq)), err, errlen);
	if (q == NULL)
		return -1;
	rc = sql_next(q, err, errlen);
	if (rc == 1 && sql_text_copy(q, 0, rec_hex, sizeof rec_hex) != 0)
		rec_hex[0] = '\0';
	sql_done(q);
	if (rc < 0)
		return -1;
	if (rc == 0 || strcmp(rec_hex, hash_hex) != 0 ||
	    audit_unhex(hash_hex, signer.hash, AUDIT_HASH_LEN) != 0) {
		str_error(err, errlen, "record %lld, named by the signed head, is missing or altered",
		          (long long)seq);
		return -1;
	}
	signer.seq = seq;
	signer.known = 1;
	return 0;
}

struct walk {
	struct sql *db;
	int64_t expect;
	unsigned char prev[AUDIT_HASH_LEN];
	int bad;
	char *err;
	size_t errlen;
};

/* One record after the last signed head: in place, linked, hashing to what it says;
 * every 1,000th gets its checkpoint. */
static int walk_row(void *arg, struct sql_stmt *q)
{
	struct walk *w = arg;
	struct audit_fields fl = {.seq = sql_int(q, 0), .time = sql_int(q, 1)};
	char prev_hex[AUDIT_HASH_HEX], calc_hex[AUDIT_HASH_HEX];
	unsigned char calc[AUDIT_HASH_LEN];

	for (int i = 0; i < 8; i++)
		fl.f[i] = sql_text(q, 2 + i);
	const char *stored_prev = sql_text(q, 10), *stored_hash = sql_text(q, 11);
	sodium_bin2hex(prev_hex, sizeof prev_hex, w->prev, AUDIT_HASH_LEN);
	audit_chain_hash(w->prev, &fl, calc);
	sodium_bin2hex(calc_hex, sizeof calc_hex, calc, sizeof calc);
	if (fl.seq != w->expect || !stored_prev || strcmp(stored_prev, prev_hex) != 0 || !stored_hash ||
	    strcmp(stored_hash, calc_hex) != 0) {
		str_error(w->err, w->errlen,
		          "record %lld does not chain from the last signed head (record %lld): not signed",
		          (long long)w->expect, (long long)signer.seq);
		w->bad = 1;
		return 1;
	}
	if (fl.seq % AUDIT_CHECKPOINT_EVERY == 0 &&
	    write_checkpoint(w->db, fl.seq, calc, w->err, w->errlen) != 0) {
		w->bad = 1;
		return 1;
	}
	memcpy(w->prev, calc, AUDIT_HASH_LEN);
	w->expect++;
	return 0;
}

/* Inside the write transaction, holding the chain lock. */
static int sign_locked(struct sql *db, int final, int64_t *signed_seq, char *err, size_t errlen)
{
	if (!signer.known && find_start(db, err, errlen) != 0)
		return -1;
	struct walk w = {.db = db, .expect = signer.seq + 1, .err = err, .errlen = errlen};
	memcpy(w.prev, signer.hash, AUDIT_HASH_LEN);
	/* The record the last head named must still be there, unchanged: its successor's
	 * stored link is compared with the hash this process signed. */
	if (sql_foreach(
	        db, "audit.unsigned",
	        "SELECT seq, time, actor, auth, action, target, detail, result, peer, patient, prev, hash"
	        " FROM audit_log WHERE seq > ?1 ORDER BY seq",
	        SQL_ARGS(SQL_INT(signer.seq)), walk_row, &w, err, errlen) < 0 ||
	    w.bad)
		return -1;
	int64_t tail = w.expect - 1;
	int64_t last_seq = 0;
	unsigned char last_hash[AUDIT_HASH_LEN];
	if (audit_read_tail(db, &last_seq, last_hash, err, errlen) != 0)
		return -1;
	if (last_seq != tail) {
		str_error(
		    err, errlen,
		    "the log ends at record %lld, before the last signed head (record %lld): not signed",
		    (long long)last_seq, (long long)signer.seq);
		return -1;
	}
	if (tail > signer.seq && write_head(db, tail, w.prev, err, errlen) != 0)
		return -1;
	if (final && tail > 0 && write_checkpoint(db, tail, w.prev, err, errlen) != 0)
		return -1;
	signer.seq = tail;
	memcpy(signer.hash, w.prev, AUDIT_HASH_LEN);
	*signed_seq = tail;
	return 0;
}

int audit_sign(struct store *st, int final, int64_t *signed_seq, char *err, size_t errlen)
{
	struct sql *db = store_sql(st);
	int64_t dummy;
	if (signed_seq == NULL)
		signed_seq = &dummy;
	*signed_seq = 0;
	if (key_get(store_config(st), err, errlen) != 0)
		return -1;
	if (sql_begin_write(db, err, errlen) != 0)
		return -1;
	/* A refusal keeps the last head this process signed: a shortened log does not
	 * become acceptable by asking again, nor by rolling the stored head back. */
	int known = signer.known;
	int64_t seq = signer.seq;
	unsigned char hash[AUDIT_HASH_LEN];
	memcpy(hash, signer.hash, sizeof hash);
	if (sql_lock(db, "audit.chain", err, errlen) != 0 ||
	    sign_locked(db, final, signed_seq, err, errlen) != 0 || sql_commit(db, err, errlen) != 0) {
		sql_rollback(db);
		signer.known = known;
		signer.seq = seq;
		memcpy(signer.hash, hash, sizeof hash);
		return -1;
	}
	return 0;
}

int audit_tail_seq(struct store *st, int64_t *seq, char *err, size_t errlen)
{
	unsigned char hash[AUDIT_HASH_LEN];

	return audit_read_tail(store_sql(st), seq, hash, err, errlen);
}

int audit_checkpoint(struct store *st, char *err, size_t errlen)
{
	return audit_sign(st, 1, NULL, err, errlen);
}
