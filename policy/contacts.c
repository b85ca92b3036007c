/* contacts.c: authorised contacts, end of exchange, blocks (see contacts.h). */
#include "policy/contacts.h"

#include <libetpan/libetpan.h>
#include <string.h>
#include <time.h>

#include "directory/trust.h"
#include "lib/db.h"
#include "lib/str.h"

static void copy_addr(char *out, size_t outlen, const char *addr)
{
	if (out[0] != '\0' || addr == NULL)
		return; /* the first one wins */
	if (str_copy(out, outlen, addr) < 0 || !str_is_address(out))
		out[0] = '\0';
	str_lower(out);
}

static void from_field(const struct mailimf_from *f, struct contact_info *info)
{
	if (f == NULL || f->frm_mb_list == NULL || f->frm_mb_list->mb_list == NULL)
		return;
	clistiter *it = clist_begin(f->frm_mb_list->mb_list);
	if (it != NULL) {
		const struct mailimf_mailbox *mb = clist_content(it);
		copy_addr(info->from, sizeof(info->from), mb ? mb->mb_addr_spec : NULL);
	}
}

static void reply_to_field(const struct mailimf_reply_to *r, struct contact_info *info)
{
	if (r == NULL || r->rt_addr_list == NULL || r->rt_addr_list->ad_list == NULL)
		return;
	for (clistiter *it = clist_begin(r->rt_addr_list->ad_list); it != NULL; it = clist_next(it)) {
		const struct mailimf_address *a = clist_content(it);
		if (a != NULL && a->ad_type == MAILIMF_ADDRESS_MAILBOX && a->ad_data.ad_mailbox != NULL) {
			copy_addr(info->reply_to, sizeof(info->reply_to),
			          a->ad_data.ad_mailbox->mb_addr_spec);
			return;
		}
	}
}

/* Compares a header value, ignoring surrounding folding white space. */
static bool value_is(const char *v, const char *want, bool icase)
{
	while (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n')
		v++;
	size_t n = strlen(v), w = strlen(want);
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r' || v[n - 1] == '\n'))
		n--;
	return n == w && (icase ? str_ieqn(v, want, n) : memcmp(v, want, n) == 0);
}

static void one_field(const struct mailimf_field *f, struct contact_info *info)
{
	switch (f->fld_type) {
	case MAILIMF_FIELD_FROM:
		from_field(f->fld_data.fld_from, info);
		break;
	case MAILIMF_FIELD_REPLY_TO:
		reply_to_field(f->fld_data.fld_reply_to, info);
		break;
	case MAILIMF_FIELD_SUBJECT:
		/* "[FIN]" exactly, case-sensitive (REFERENCE.md). */
		if (f->fld_data.fld_subject && value_is(f->fld_data.fld_subject->sbj_value, "[FIN]", false))
			info->fin = true;
		break;
	case MAILIMF_FIELD_OPTIONAL_FIELD:
		if (f->fld_data.fld_optional_field &&
		    str_ieq(f->fld_data.fld_optional_field->fld_name, "X-MSS-MES") &&
		    value_is(f->fld_data.fld_optional_field->fld_value, "FIN", true))
			info->fin = true;
		break;
	default:
		break;
	}
}

/* Length of the header block, blank line included, so the body is never parsed. */
static size_t header_length(const char *data, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (data[i] == '\n' &&
		    (data[i + 1] == '\n' || (data[i + 1] == '\r' && i + 2 < len && data[i + 2] == '\n')))
			return i + 1;
	}
	return len;
}

int contacts_parse_message(const char *data, size_t len, struct contact_info *info)
{
	memset(info, 0, sizeof(*info));
	size_t idx = 0;
	struct mailimf_fields *fields = NULL;
	if (mailimf_fields_parse(data, header_length(data, len), &idx, &fields) != MAILIMF_NO_ERROR ||
	    fields == NULL)
		return -1;
	for (clistiter *it = clist_begin(fields->fld_list); it != NULL; it = clist_next(it)) {
		const struct mailimf_field *f = clist_content(it);
		if (f != NULL)
			one_field(f, info);
	}
	mailimf_fields_free(fields);
	return 0;
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
