/* contacts.c: authorised contacts, end of exchange, blocks (see contacts.h). */
#include "policy/contacts.h"

#include <string.h>
#include <time.h>

#include "directory/trust.h"
#include "store/store_sql.h"
#include "vault/vault_access.h"
#include "lib/log.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "msg/msg.h"

static void copy_addr(char *out, size_t outlen, const char *addr)
{
	if (out[0] != '\0' || addr == NULL)
		return; /* the first one wins */
	if (str_copy(out, outlen, addr) < 0 || !str_is_address(out))
		out[0] = '\0';
	str_lower(out);
}

/* The first mailbox of a list that is a valid address, lowercase, "" when none. */
static void first_address(const struct msg_address_list *l, char *out, size_t outlen)
{
	out[0] = '\0';
	for (size_t i = 0; i < l->n && out[0] == '\0'; i++)
		copy_addr(out, outlen, l->v[i].addr);
}

void contacts_info_from_header(const struct msg_header *h, struct contact_info *info)
{
	memset(info, 0, sizeof(*info));
	if (h->from.n > 0) /* the first From mailbox, as before: not a later one */
		copy_addr(info->from, sizeof(info->from), h->from.v[0].addr);
	first_address(&h->reply_to, info->reply_to, sizeof(info->reply_to));
	info->fin = h->fin;
}

const char *contacts_reply_address(struct store *st, const struct contact_info *info)
{
	if (info->reply_to[0] != '\0') {
		const char *dom = str_address_domain(info->reply_to);
		if (config_is_local_domain(store_config(st), dom) || trust_domain_known(st, dom) == 1)
			return info->reply_to;
	}
	return info->from;
}

/* Lowercased copies of the two addresses; -1 when too long. */
static int keys(const char *a, const char *b, char ka[256], char kb[256])
{
	if (str_copy(ka, 256, a) < 0 || str_copy(kb, 256, b) < 0)
		return -1;
	str_lower(ka);
	str_lower(kb);
	return 0;
}

static int failed(const char *err)
{
	log_err("contacts", "error=\"%s\"", err);
	return -1;
}

/* Moves last_seen of patient's contact when it exists and is in state ("": any).
 * Returns the rows changed (0 or 1), or -1. */
static int touch(struct store *st, const char *p, const char *c, const char *state)
{
	char err[256];
	int n = sql_exec(store_sql(st), "contacts.touch",
	                 "UPDATE policy_contacts SET last_seen = ?4 WHERE patient = ?1 AND contact = ?2"
	                 " AND (?3 = '' OR state = ?3)",
	                 SQL_ARGS(SQL_TEXT(p), SQL_TEXT(c), SQL_TEXT(state), SQL_INT(time(NULL))), err,
	                 sizeof err);
	return n < 0 ? failed(err) : n;
}

int contacts_record(struct store *st, const char *patient, const char *contact, bool fin)
{
	char p[256], c[256], err[256];
	const char *state = fin ? "closed" : "open";
	if (keys(patient, contact, p, c) < 0 || !str_is_address(c))
		return -1;
	/* the usual case, a professional writing again in an open exchange: one UPDATE */
	int same = touch(st, p, c, state);
	if (same != 0)
		return same < 0 ? -1 : 0;
	if (sql_exec(store_sql(st), "contacts.record",
	             "INSERT INTO policy_contacts (patient, contact, state, first_seen, last_seen)"
	             " VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (patient, contact) DO UPDATE SET"
	             " state = excluded.state, last_seen = excluded.last_seen",
	             SQL_ARGS(SQL_TEXT(p), SQL_TEXT(c), SQL_TEXT(state), SQL_INT(time(NULL))), err,
	             sizeof err) < 0)
		return failed(err);
	return 1;
}

int contacts_record_named(struct store *st, const char *patient, const char *contact)
{
	char p[256], c[256], err[256];
	if (keys(patient, contact, p, c) < 0 || !str_is_address(c))
		return -1;
	int known = touch(st, p, c, ""); /* open or closed, its state stays */
	if (known != 0)
		return known < 0 ? -1 : 0;
	if (sql_exec(store_sql(st), "contacts.record_named",
	             "INSERT INTO policy_contacts (patient, contact, state, first_seen, last_seen)"
	             " VALUES (?1, ?2, 'open', ?3, ?3) ON CONFLICT (patient, contact) DO UPDATE SET"
	             " last_seen = excluded.last_seen",
	             SQL_ARGS(SQL_TEXT(p), SQL_TEXT(c), SQL_INT(time(NULL))), err, sizeof err) < 0)
		return failed(err);
	return 1;
}

int contacts_state(struct store *st, const char *patient, const char *contact, enum contact_state *out)
{
	char p[256], c[256], err[256];
	*out = CONTACT_NONE;
	if (keys(patient, contact, p, c) < 0)
		return 0;
	struct sql_stmt *q =
	    sql_query(store_sql(st), "contacts.state",
	              "SELECT state FROM policy_contacts WHERE patient = ?1 AND contact = ?2",
	              SQL_ARGS(SQL_TEXT(p), SQL_TEXT(c)), err, sizeof err);
	if (q == NULL)
		return failed(err);
	int rc = sql_next(q, err, sizeof err);
	if (rc == 1) {
		const char *s = sql_text(q, 0);
		*out = s != NULL && strcmp(s, "open") == 0 ? CONTACT_OPEN : CONTACT_CLOSED;
	}
	sql_done(q);
	return rc < 0 ? failed(err) : 0;
}

int contacts_is_blocked(struct store *st, const char *patient, const char *sender)
{
	return vault_is_blocked(st, patient, sender);
}
