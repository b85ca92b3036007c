/* vault_delivery.c: one delivery, parsed, inspected and looked up once (see
 * vault_delivery.h). */
#include "vault/vault_delivery.h"

#include <stdlib.h>
#include <string.h>

#include "auth/sender_rows.h"
#include "lib/str.h"
#include "vault/vault_copy.h"
#include "vault/vault_people.h"

void vault_address_ins(const char *address, char *out, size_t outlen)
{
	const char *at = strchr(address, '@');
	out[0] = '\0';
	if (at && at - address == 15 && strspn(address, "0123456789") == 15 && outlen > 15) {
		memcpy(out, address, 15);
		out[15] = '\0';
	}
}

void vault_rcpt_row_set(struct policy_rcpt_row *row, int rc, const struct account *a)
{
	memset(row, 0, sizeof *row);
	row->rc = rc;
	if (rc != 1)
		return;
	row->role = a->role;
	row->disabled = a->disabled;
	memcpy(row->address, a->address, sizeof row->address); /* same size: never cut */
}

/* The recipient's account as its RCPT read it (given), else read now. */
static int rcpt_row(struct store *st, const char *address, const struct policy_rcpt_row *given,
                    struct policy_rcpt_row *row)
{
	if (given != NULL && given->rc >= 0) {
		*row = *given;
		return 0;
	}
	struct account a;
	int rc = account_get(st, address, &a);
	if (rc < 0)
		return -1;
	vault_rcpt_row_set(row, rc, &a);
	return 0;
}

static int lookup_rcpt(struct store *st, const char *address, const struct policy_rcpt_row *given,
                       struct vault_rcpt *r)
{
	struct policy_rcpt_row a;
	memset(r, 0, sizeof *r);
	r->address = address;
	if (rcpt_row(st, address, given, &a) != 0)
		return -1;
	r->account = a.rc == 1 && !a.disabled;
	if (str_copy(r->canonical, sizeof r->canonical, r->account ? a.address : address) != 0)
		return -1;
	if (r->account)
		r->role = a.role;
	r->patient = a.rc == 1 && a.role == ROLE_PATIENT;
	if (r->patient)
		vault_address_ins(a.address, r->ins, sizeof r->ins);
	return 0;
}

static int lookup_sender(struct store *st, const struct policy_message *m, struct vault_delivery *d)
{
	struct account a;
	const char *s = m->sender->account[0] ? m->sender->account : m->mail_from;
	if (str_copy(d->sender, sizeof d->sender, s) != 0)
		d->sender[0] = '\0';
	int rc = d->sender[0] ? sender_account(st, m->sender, d->sender, &a) : 0;
	if (rc < 0)
		return -1;
	d->sender_patient = rc == 1 && a.role == ROLE_PATIENT;
	vault_sender_name(st, m->sender, d->sender, d->sender_name, sizeof d->sender_name);
	if (!d->sender_name[0])
		memcpy(d->sender_name, d->sender, sizeof d->sender_name); /* same size: never cut */
	return 0;
}

static void parse(struct store *store, struct vault_delivery *d)
{
	const struct mss_config *cfg = store_config(store);
	struct msg_limits ml;
	struct vault_limits vl;
	char err[160];
	msg_limits_from_config(cfg, &ml);
	const struct msg *given = d->m->parsed;
	if (given && given->data == d->m->data && given->len == d->m->len) {
		d->msg = *given; /* the caller's parse, borrowed */
		d->borrowed = d->parsed = true;
	} else {
		d->parsed = msg_parse(d->m->data, d->m->len, &ml, &d->msg, err, sizeof err) == 0;
	}
	/* copies given: the process that decided them inspected the message, not this one */
	if (d->parsed && d->npatients > 0 && d->m->copies == NULL) {
		vault_limits_from_config(cfg, &vl);
		if (vault_inspect(&d->msg, &vl, &d->insp) != 0) {
			vault_inspection_free(&d->insp);
			if (!d->borrowed)
				msg_free(&d->msg);
			d->parsed = false; /* the patients' copies then withhold everything */
		}
	}
}

/* The copies another process decided (policy_message.copies) must fit this parse; an
 * unparsed message's patients get its header and a note whatever was given. */
static bool copies_fit(const struct vault_delivery *d)
{
	for (size_t i = 0; d->m->copies != NULL && d->parsed && i < d->m->nrcpt; i++)
		if (d->rcpts[i].patient && !vault_copy_plan_fits(&d->m->copies[i], &d->msg))
			return false;
	return true;
}

int vault_delivery_open(struct store *store, const struct policy_message *m, struct vault_delivery *d,
                        char *err, size_t errlen)
{
	struct store *st = store;
	memset(d, 0, sizeof *d);
	d->m = m;
	d->rcpts = xcalloc(m->nrcpt ? m->nrcpt : 1, sizeof *d->rcpts);
	for (size_t i = 0; i < m->nrcpt; i++) {
		const struct policy_rcpt_row *given = m->rcpt_rows != NULL ? &m->rcpt_rows[i] : NULL;
		if (lookup_rcpt(st, m->rcpts[i], given, &d->rcpts[i]) != 0) {
			str_error(err, errlen, "recipient lookup failed");
			free(d->rcpts);
			return -1;
		}
		d->npatients += d->rcpts[i].patient;
	}
	if (lookup_sender(st, m, d) != 0) {
		str_error(err, errlen, "sender lookup failed");
		free(d->rcpts);
		return -1;
	}
	parse(store, d);
	if (!copies_fit(d)) {
		str_error(err, errlen, "the patients' copies given do not fit the message");
		vault_delivery_close(d);
		return -1;
	}
	return 0;
}

void vault_delivery_move(struct vault_delivery *to, struct vault_delivery *from)
{
	*to = *from;
	if (to->parsed)
		to->insp.msg = &to->msg; /* the inspection reads the parse it was made from */
	memset(from, 0, sizeof *from);
}

void vault_delivery_close(struct vault_delivery *d)
{
	if (d->parsed) {
		vault_inspection_free(&d->insp);
		if (!d->borrowed)
			msg_free(&d->msg);
	}
	free(d->rcpts);
	memset(d, 0, sizeof *d);
}
