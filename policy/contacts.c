/* contacts.c: authorised contacts, end of exchange, blocks (see contacts.h). */
#include "policy/contacts.h"

#include <string.h>
#include <time.h>

#include "directory/trust.h"
#include "lib/db.h"
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

const char *contacts_reply_address(sqlite3 *db, const struct mss_config *cfg, const struct contact_info *info)
{
	if (info->reply_to[0] != '\0') {
		const char *dom = str_address_domain(info->reply_to);
		if (config_is_local_domain(cfg, dom) || trust_domain_known(db, dom) == 1)
			return info->reply_to;
	}
	return info->from;
}

static int exec_bind(sqlite3 *db, const char *sql, const char *a, const char *b, const char *c)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	const char *v[] = {a, b, c};
	for (int i = 0; i < 3 && v[i] != NULL; i++)
		sqlite3_bind_text(st, i + 1, v[i], -1, SQLITE_TRANSIENT);
	int rc = db_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
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

int contacts_record(sqlite3 *db, const char *patient, const char *contact, bool fin)
{
	char p[256], c[256];
	if (keys(patient, contact, p, c) < 0 || !str_is_address(c))
		return -1;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db,
	                       "INSERT INTO policy_contacts (patient, contact, state, first_seen, last_seen)"
	                       " VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT(patient, contact) DO UPDATE SET"
	                       " state = excluded.state, last_seen = excluded.last_seen",
	                       -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, p, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, fin ? "closed" : "open", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
	int rc = db_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int contacts_state(sqlite3 *db, const char *patient, const char *contact, enum contact_state *out)
{
	*out = CONTACT_NONE;
	char p[256], c[256];
	if (keys(patient, contact, p, c) < 0)
		return 0;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT state FROM policy_contacts WHERE patient = ? AND contact = ?", -1,
	                       &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, p, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c, -1, SQLITE_STATIC);
	int rc = db_step(st);
	if (rc == SQLITE_ROW) {
		const unsigned char *s = sqlite3_column_text(st, 0);
		*out = s != NULL && strcmp((const char *)s, "open") == 0 ? CONTACT_OPEN : CONTACT_CLOSED;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int contacts_is_blocked(sqlite3 *db, const char *patient, const char *sender)
{
	char p[256], s[256];
	if (keys(patient, sender, p, s) < 0)
		return 0;
	return exec_bind(db, "SELECT 1 FROM patient_blocks WHERE patient = ? AND professional = ?", p, s,
	                 NULL);
}

int contacts_block(sqlite3 *db, const char *patient, const char *professional, bool blocked)
{
	char p[256], s[256];
	if (keys(patient, professional, p, s) < 0)
		return -1;
	int rc =
	    exec_bind(db,
	              blocked ? "INSERT OR IGNORE INTO patient_blocks (patient, professional) VALUES (?, ?)"
	                      : "DELETE FROM patient_blocks WHERE patient = ? AND professional = ?",
	              p, s, NULL);
	if (rc < 0)
		return -1;
	return sqlite3_changes(db) > 0 ? 0 : 1;
}
