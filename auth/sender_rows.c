/* sender_rows.c: the sender's rows, read once per transaction (see sender_rows.h). */
#include "auth/sender_rows.h"

#include <string.h>

#include "lib/str.h"

int sender_rows_read(struct store *st, struct policy_sender *s, const char *address)
{
	struct sender_rows *r = &s->rows;
	memset(r, 0, sizeof *r);
	if (str_copy(r->address, sizeof r->address, address) != 0) {
		r->address[0] = '\0'; /* longer than any account's: read when asked */
		return 0;
	}
	r->account_rc = account_get(st, address, &r->account);
	r->dir_rc = r->account_rc < 0 ? -1 : dir_entry_get(st, address, &r->dir);
	if (r->account_rc < 0 || r->dir_rc < 0) {
		memset(r, 0, sizeof *r);
		return -1;
	}
	return 0;
}

static const struct sender_rows *rows_of(const struct policy_sender *s, const char *address)
{
	if (s == NULL || s->rows.address[0] == '\0' || !str_ieq(s->rows.address, address))
		return NULL;
	return &s->rows;
}

int sender_account(struct store *st, const struct policy_sender *s, const char *address, struct account *out)
{
	const struct sender_rows *r = rows_of(s, address);
	if (r == NULL)
		return account_get(st, address, out);
	if (r->account_rc == 1)
		*out = r->account;
	return r->account_rc;
}

int sender_dir_entry(struct store *st, const struct policy_sender *s, const char *address,
                     struct dir_entry *out)
{
	const struct sender_rows *r = rows_of(s, address);
	if (r == NULL)
		return dir_entry_get(st, address, out);
	if (r->dir_rc == 1)
		*out = r->dir;
	return r->dir_rc;
}
