/* audit_verify.c: checks the audit chain, its signed checkpoints and its signed head.
 *
 * Each kind of tampering shows up at a definite place: an edited field changes that
 * record's hash; a deleted record leaves a gap in seq; swapped records no longer hash
 * to their stored values at their position; records cut off the end fall short of the
 * signed head (and of any later checkpoint). */

#include "audit/audit.h"

#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "audit/audit_chain.h"
#include "store/store_sql.h"

struct checkpoint {
	int64_t seq;
	char hash[AUDIT_HASH_HEX];
	char sig[AUDIT_SIG_HEX];
};

struct verify_ctx {
	struct sql *db;
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	const struct audit_anchor *anchor;
	int anchor_seen;
	char head_hash[AUDIT_HASH_HEX];
	char head_sig[AUDIT_SIG_HEX];
	struct checkpoint *cps;
	size_t ncp;
	size_t next_cp; /* cursor for find_cp */
	struct audit_verify_result *r;
};

static int broken(struct audit_verify_result *r, int64_t seq, const char *why)
{
	r->broken_seq = seq;
	str_error(r->why, sizeof r->why, "%s", why);
	return 1;
}

static int checkpoint_row(void *arg, struct sql_stmt *q)
{
	struct verify_ctx *v = arg;
	if (v->ncp % 16 == 0)
		v->cps = xrealloc(v->cps, (v->ncp + 16) * sizeof *v->cps);
	struct checkpoint *c = &v->cps[v->ncp++];
	c->seq = sql_int(q, 0);
	/* a hash or signature longer than its hex form is damage: kept cut, it cannot
	 * verify, and the checkpoint is reported */
	if (sql_text_copy(q, 1, c->hash, sizeof c->hash) != 0 ||
	    sql_text_copy(q, 2, c->sig, sizeof c->sig) != 0)
		c->sig[0] = '\0';
	return 0;
}

static int load_checkpoints(struct verify_ctx *v)
{
	return sql_foreach(v->db, "audit.checkpoints",
	                   "SELECT seq, hash, signature FROM audit_checkpoint ORDER BY seq", SQL_NOARGS,
	                   checkpoint_row, v, v->r->why, sizeof v->r->why) < 0
	           ? -1
	           : 0;
}

/* Checks each checkpoint's signature; the first bad one is reported at its seq. */
static int check_checkpoint_sigs(struct verify_ctx *v)
{
	char why[256];
	for (size_t i = 0; i < v->ncp; i++) {
		if (!audit_sig_ok(v->pk, "checkpoint", v->cps[i].seq, v->cps[i].hash, v->cps[i].sig)) {
			str_error(why, sizeof why, "record %lld: checkpoint signature does not verify",
			          (long long)v->cps[i].seq);
			return broken(v->r, v->cps[i].seq, why);
		}
	}
	return 0;
}

/* Checkpoints are sorted by seq and records come in seq order: one cursor walks both,
 * so verification stays linear however long the log. */
static const struct checkpoint *find_cp(struct verify_ctx *v, int64_t seq)
{
	while (v->next_cp < v->ncp && v->cps[v->next_cp].seq < seq)
		v->next_cp++;
	if (v->next_cp < v->ncp && v->cps[v->next_cp].seq == seq)
		return &v->cps[v->next_cp];
	return NULL;
}

/* One record: its place, its link to the previous one, its own hash, a checkpoint. */
static int check_record(struct verify_ctx *v, struct sql_stmt *q, int64_t expect,
                        unsigned char prev[AUDIT_HASH_LEN])
{
	char why[256], prev_hex[AUDIT_HASH_HEX], calc_hex[AUDIT_HASH_HEX];
	unsigned char calc[AUDIT_HASH_LEN];
	struct audit_fields fl = {.seq = sql_int(q, 0), .time = sql_int(q, 1)};
	for (int i = 0; i < 8; i++)
		fl.f[i] = sql_text(q, 2 + i);
	const char *stored_prev = sql_text(q, 10);
	const char *stored_hash = sql_text(q, 11);

	if (fl.seq != expect) {
		str_error(why, sizeof why,
		          "record %lld is missing (deleted): record %lld follows record %lld",
		          (long long)expect, (long long)fl.seq, (long long)(expect - 1));
		return broken(v->r, expect, why);
	}
	sodium_bin2hex(prev_hex, sizeof prev_hex, prev, AUDIT_HASH_LEN);
	if (!stored_prev || strcmp(stored_prev, prev_hex) != 0) {
		str_error(why, sizeof why,
		          "record %lld: link to record %lld is broken (previous hash differs)",
		          (long long)fl.seq, (long long)(fl.seq - 1));
		return broken(v->r, fl.seq, why);
	}
	audit_chain_hash(prev, &fl, calc);
	sodium_bin2hex(calc_hex, sizeof calc_hex, calc, sizeof calc);
	if (!stored_hash || strcmp(stored_hash, calc_hex) != 0) {
		str_error(why, sizeof why, "record %lld: contents do not match its hash (altered or moved)",
		          (long long)fl.seq);
		return broken(v->r, fl.seq, why);
	}
	const struct checkpoint *cp = find_cp(v, fl.seq);
	if (cp && strcmp(cp->hash, calc_hex) != 0) {
		str_error(why, sizeof why, "record %lld: differs from its signed checkpoint",
		          (long long)fl.seq);
		return broken(v->r, fl.seq, why);
	}
	if (v->anchor && fl.seq == v->anchor->seq) {
		if (strcmp(v->anchor->hash, calc_hex) != 0) {
			str_error(why, sizeof why,
			          "record %lld: differs from the anchor kept off the machine",
			          (long long)fl.seq);
			return broken(v->r, fl.seq, why);
		}
		v->anchor_seen = 1;
	}
	memcpy(prev, calc, AUDIT_HASH_LEN);
	return 0;
}

static int check_chain(struct verify_ctx *v, int64_t *last)
{
	unsigned char prev[AUDIT_HASH_LEN] = {0};
	int64_t expect = 1;
	int rc = 0, more;
	struct sql_stmt *q =
	    sql_query(v->db, "audit.chain",
	              "SELECT seq, time, actor, auth, action, target, detail, result, peer, patient,"
	              " prev, hash FROM audit_log ORDER BY seq",
	              SQL_NOARGS, v->r->why, sizeof v->r->why);
	if (q == NULL)
		return -1;
	while (rc == 0 && (more = sql_next(q, v->r->why, sizeof v->r->why)) == 1) {
		rc = check_record(v, q, expect, prev);
		if (rc == 0) {
			v->r->records++;
			expect++;
		}
	}
	sql_done(q);
	*last = expect - 1;
	return rc == 0 && more < 0 ? -1 : rc;
}

/* The record the signed head names must be the one it signed: a log cut short and
 * written again past the old head has the right length and the wrong records. */
static int head_record_differs(struct verify_ctx *v, int64_t head, const char *hash)
{
	char rec[AUDIT_HASH_HEX] = "", err[256];
	struct sql_stmt *q =
	    sql_query(v->db, "audit.record_hash", "SELECT hash FROM audit_log WHERE seq = ?1",
	              SQL_ARGS(SQL_INT(head)), err, sizeof err);
	if (q == NULL)
		return 1;
	int rc = sql_next(q, err, sizeof err);
	if (rc == 1 && sql_text_copy(q, 0, rec, sizeof rec) != 0)
		rec[0] = '\0';
	sql_done(q);
	return head > 0 && (rc != 1 || strcmp(rec, hash) != 0);
}

/* Records cut off the end: a checkpoint or the signed head names a later record. */
static int check_tail(struct verify_ctx *v, int64_t last)
{
	char why[256], hash[AUDIT_HASH_HEX] = "", sig[AUDIT_SIG_HEX] = "";
	int64_t head = -1;

	if (v->ncp > 0 && v->cps[v->ncp - 1].seq > last) {
		str_error(why, sizeof why,
		          "record %lld is missing: the log ends at record %lld but a checkpoint "
		          "names record %lld (truncated)",
		          (long long)(last + 1), (long long)last, (long long)v->cps[v->ncp - 1].seq);
		return broken(v->r, last + 1, why);
	}
	struct sql_stmt *q =
	    sql_query(v->db, "audit.head", "SELECT seq, hash, signature FROM audit_head WHERE id = 1",
	              SQL_NOARGS, v->r->why, sizeof v->r->why);
	if (q == NULL)
		return -1;
	int rc = sql_next(q, v->r->why, sizeof v->r->why);
	if (rc == 1) {
		head = sql_int(q, 0);
		/* cut: cannot verify, reported as not validly signed below */
		if (sql_text_copy(q, 1, hash, sizeof hash) != 0 || sql_text_copy(q, 2, sig, sizeof sig) != 0)
			sig[0] = '\0';
	}
	sql_done(q);
	if (rc < 0)
		return -1;
	if (head < 0) {
		str_error(why, sizeof why, "record %lld: the signed head of the log is missing",
		          (long long)(last + 1));
		return broken(v->r, last + 1, why);
	}
	if (!audit_sig_ok(v->pk, "head", head, hash, sig)) {
		str_error(why, sizeof why, "record %lld: the head of the log is not validly signed",
		          (long long)head);
		return broken(v->r, head, why);
	}
	v->r->head = head;
	if (head <= last && head_record_differs(v, head, hash)) {
		str_error(why, sizeof why, "record %lld: differs from the signed head (rewritten)",
		          (long long)head);
		return broken(v->r, head, why);
	}
	/* the same sizes (AUDIT_HASH_HEX, AUDIT_SIG_HEX) as hash and sig */
	str_assert(str_copy(v->head_hash, sizeof v->head_hash, hash), "AUDIT_HASH_HEX both");
	str_assert(str_copy(v->head_sig, sizeof v->head_sig, sig), "AUDIT_SIG_HEX both");
	if (head > last) {
		str_error(why, sizeof why,
		          "record %lld is missing: the log ends at record %lld but its signed head "
		          "names record %lld (truncated)",
		          (long long)(last + 1), (long long)last, (long long)head);
		return broken(v->r, last + 1, why);
	}
	/* Records after the signed head are the signer's pending work (it signs committed
	 * records only); cutting them is not detectable, which is why the head is signed
	 * within moments and sealed at every shutdown. */
	v->r->unsigned_tail = last - head;
	if (v->anchor && !v->anchor_seen) {
		str_error(
		    why, sizeof why,
		    "record %lld is missing: the log ends at record %lld but the anchor names record %lld "
		    "(truncated)",
		    (long long)(last + 1), (long long)last, (long long)v->anchor->seq);
		return broken(v->r, last + 1, why);
	}
	return 0;
}

static int verify_with(struct verify_ctx *v, int64_t *last)
{
	int rc = load_checkpoints(v);
	if (rc == 0)
		rc = check_chain(v, last);
	if (rc == 0)
		rc = check_checkpoint_sigs(v);
	if (rc == 0)
		rc = check_tail(v, *last);
	if (rc == 0) {
		v->r->checkpoints = (int64_t)v->ncp;
		v->r->anchor_seq = v->anchor ? v->anchor->seq : 0;
	}
	return rc;
}

static int load_key(struct store *st, const char *keydir, struct verify_ctx *v)
{
	char dir[1024];
	if (v->anchor) {
		memcpy(v->pk, v->anchor->pk, sizeof v->pk);
		return 0;
	}
	if (audit_key_dir(store_config(st)->data_dir, keydir, dir, sizeof dir) != 0) {
		str_error(v->r->why, sizeof v->r->why, "%s", "no key directory for the audit log");
		return -1;
	}
	return audit_key_load_public(dir, v->pk, v->r->why, sizeof v->r->why);
}

int audit_verify_anchored(struct store *st, const char *keydir, const struct audit_anchor *anchor,
                          struct audit_verify_result *r)
{
	struct verify_ctx v = {.db = store_sql(st), .r = r, .anchor = anchor};
	int64_t last = 0;

	memset(r, 0, sizeof *r);
	if (load_key(st, keydir, &v) != 0)
		return -1;
	if (sql_begin_read(v.db, r->why, sizeof r->why) != 0)
		return -1;
	int rc = verify_with(&v, &last);
	sql_rollback(v.db);
	free(v.cps);
	return rc;
}

int audit_verify(struct store *st, const char *keydir, struct audit_verify_result *r)
{
	return audit_verify_anchored(st, keydir, NULL, r);
}

int audit_anchor_take(struct store *st, const char *keydir, struct audit_anchor *a,
                      struct audit_verify_result *r)
{
	struct verify_ctx v = {.db = store_sql(st), .r = r};
	int64_t last = 0;

	memset(r, 0, sizeof *r);
	memset(a, 0, sizeof *a);
	if (load_key(st, keydir, &v) != 0)
		return -1;
	if (sql_begin_read(v.db, r->why, sizeof r->why) != 0)
		return -1;
	int rc = verify_with(&v, &last);
	sql_rollback(v.db);
	free(v.cps);
	if (rc != 0)
		return rc;
	memcpy(a->pk, v.pk, sizeof a->pk);
	a->seq = r->head;
	if (str_copy(a->hash, sizeof a->hash, v.head_hash) != 0 ||
	    str_copy(a->sig, sizeof a->sig, v.head_sig) != 0) {
		str_error(r->why, sizeof r->why, "%s", "the signed head does not fit an anchor");
		return -1;
	}
	return 0;
}
