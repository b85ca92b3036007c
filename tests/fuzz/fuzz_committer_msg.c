/* fuzz-libs: smtpd policy vault audit store directory auth msg lib */
/* fuzz_committer_msg: what the committer reads from a session process's socket
 * (smtpd/committer_msg.c): a request frame's body and an answer's. Besides crashes and
 * leaks, checks what the committer relies on: every fixed text of a parsed request is
 * NUL-terminated within its field, the message lies inside the input, and a parsed
 * request written again (its kept records through the audit list, as a session does)
 * parses to the same fields, the patients' copies included (each part a known reason). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "smtpd/committer_msg.h"

static void check_text(const char *s, size_t cap)
{
	if (strnlen(s, cap) >= cap)
		abort();
}

static void same(const struct committer_req *a, const struct committer_req *b)
{
	if (strcmp(a->queue_id, b->queue_id) != 0 || a->sender.auth != b->sender.auth ||
	    strcmp(a->sender.tls_subject_dn, b->sender.tls_subject_dn) != 0 ||
	    strcmp(a->mail_from, b->mail_from) != 0 || a->nrcpt != b->nrcpt || a->nkept != b->nkept ||
	    a->len != b->len || memcmp(a->data, b->data, a->len) != 0 ||
	    (a->rcpt_dsn == NULL) != (b->rcpt_dsn == NULL))
		abort();
	for (size_t i = 0; i < a->nrcpt; i++) {
		const struct vault_copy_plan *x = &a->copies[i], *y = &b->copies[i];
		if (strcmp(a->rcpts[i], b->rcpts[i]) != 0 || !vault_copy_same(x, y) ||
		    x->invisible != y->invisible || x->other_patient != y->other_patient ||
		    x->uninspected != y->uninspected)
			abort();
		for (size_t j = 0; j < x->nparts; j++)
			if (x->parts[j] > VW_UNINSPECTED)
				abort();
	}
	for (size_t i = 0; i < a->nkept; i++)
		if (a->kept[i].when != b->kept[i].when || strcmp(a->kept[i].f[4], b->kept[i].f[4]) != 0)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct committer_req r, again;
	char err[128];
	struct committer_ans a;
	(void)committer_ans_parse(data, size, &a);
	if (committer_req_parse(data, size, &r, err, sizeof err) != 0)
		return 0;
	check_text(r.queue_id, sizeof r.queue_id);
	check_text(r.sender.account, sizeof r.sender.account);
	check_text(r.sender.tls_subject_dn, sizeof r.sender.tls_subject_dn);
	check_text(r.dsn.envid, sizeof r.dsn.envid);
	if (r.len > size || r.data < (const char *)data || r.data + r.len > (const char *)data + size)
		abort();
	audit_deferred_drop();
	for (size_t i = 0; i < r.nkept; i++) {
		const struct committer_kept *k = &r.kept[i];
		const struct audit_event ev = {k->f[0], k->f[1], k->f[2], k->f[3],
		                               k->f[4], k->f[5], k->f[6], k->f[7]};
		audit_defer_at(&ev, k->when);
	}
	struct buf b;
	buf_init(&b, BUF_UNLIMITED);
	committer_req_write(&b, r.queue_id, &r.sender, r.mail_from, &r.dsn, (const char *const *)r.rcpts,
	                    r.rcpt_dsn, r.copies, r.nrcpt, r.data, r.len);
	audit_deferred_drop();
	if (committer_req_parse((const uint8_t *)b.data + COMMITTER_FRAME_HEAD, b.len - COMMITTER_FRAME_HEAD,
	                        &again, err, sizeof err) != 0)
		abort();
	same(&r, &again);
	committer_req_free(&again);
	committer_req_free(&r);
	buf_free(&b);
	return 0;
}
