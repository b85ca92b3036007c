/* audit_defer.c: accepted decisions written with the delivery they lead to (audit.h,
 * "Deferred records").
 *
 * The kept records live in this process only: a session process is one SMTP session
 * at a time, and smtpd writes them at the end of each transaction. Their order is
 * kept; records written inside a caller's transaction stay at the front until the
 * caller says how that transaction ended, so a rolled-back delivery does not lose the
 * records of the decisions that led to it. */
#include "audit/audit.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "audit/audit_chain.h"
#include "store/store_sql.h"

#define FIELDS 8 /* actor auth action target detail result peer patient */

struct kept {
	int64_t time;
	char *f[FIELDS];
};

static struct {
	struct kept *v;
	size_t n, cap;
	size_t written; /* v[0..written) went into a caller's transaction not settled yet */
} deferred;

static char *dup_field(const char *s)
{
	return xstrdup(s != NULL ? s : "");
}

void audit_defer(const struct audit_event *ev)
{
	audit_defer_at(ev, (int64_t)time(NULL));
}

void audit_defer_at(const struct audit_event *ev, int64_t when)
{
	if (deferred.n == deferred.cap) {
		deferred.cap = deferred.cap ? deferred.cap * 2 : 8;
		deferred.v = xrealloc(deferred.v, deferred.cap * sizeof *deferred.v);
	}
	struct kept *k = &deferred.v[deferred.n++];
	k->time = when;
	const char *f[FIELDS] = {ev->actor,  ev->auth,   ev->action, ev->target,
	                         ev->detail, ev->result, ev->peer,   ev->patient};
	for (size_t i = 0; i < FIELDS; i++)
		k->f[i] = dup_field(f[i]);
}

static void drop_front(size_t count)
{
	deferred.written = 0;
	if (count == 0) /* also when nothing was ever kept (v is NULL) */
		return;
	for (size_t i = 0; i < count; i++)
		for (size_t j = 0; j < FIELDS; j++)
			free(deferred.v[i].f[j]);
	memmove(deferred.v, deferred.v + count, (deferred.n - count) * sizeof *deferred.v);
	deferred.n -= count;
}

int audit_deferred_write_locked(struct sql *db, int64_t *seq, char *err, size_t errlen)
{
	for (size_t i = deferred.written; i < deferred.n; i++) {
		const struct kept *k = &deferred.v[i];
		const struct audit_event ev = {k->f[0], k->f[1], k->f[2], k->f[3],
		                               k->f[4], k->f[5], k->f[6], k->f[7]};
		if (audit_append_locked(db, &ev, k->time, seq, err, errlen) != 0)
			return -1;
	}
	return 0;
}

void audit_deferred_committed(void)
{
	drop_front(deferred.n);
}

int audit_flush(struct store *st, char *err, size_t errlen)
{
	struct sql *db = store_sql(st);
	int64_t seq = 0;
	if (deferred.written == deferred.n)
		return 0;
	if (sql_in_transaction(db)) {
		if (audit_deferred_write_locked(db, &seq, err, errlen) != 0)
			return -1;
		deferred.written = deferred.n;
		audit_signer_notify(seq);
		return 0;
	}
	return audit_commit_own(db, NULL, err, errlen);
}

void audit_deferred_settle(bool committed)
{
	if (committed)
		drop_front(deferred.written);
	else
		deferred.written = 0;
}

size_t audit_deferred_count(void)
{
	return deferred.n - deferred.written;
}

int audit_deferred_get(size_t i, struct audit_event *ev, int64_t *when)
{
	if (i >= deferred.n - deferred.written)
		return -1;
	const struct kept *k = &deferred.v[deferred.written + i];
	*ev = (struct audit_event){k->f[0], k->f[1], k->f[2], k->f[3], k->f[4], k->f[5], k->f[6], k->f[7]};
	*when = k->time;
	return 0;
}

void audit_deferred_drop(void)
{
	deferred.written = deferred.n;
	drop_front(deferred.n);
}
