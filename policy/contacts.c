/* contacts.c: authorised contacts, end of exchange, blocks (see contacts.h). */
#include "policy/contacts.h"

#include <libetpan/libetpan.h>
#include <string.h>
#include <time.h>

#include "directory/trust.h"
#include "store/store_sql.h"
#include "lib/log.h"
#include "lib/sql.h"
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

int contacts_record(struct store *st, const char *patient, const char *contact, bool fin)
{
	char p[256], c[256], err[256];
	if (keys(patient, contact, p, c) < 0 || !str_is_address(c))
		return -1;
	if (sql_exec(
	        store_sql(st), "contacts.record",
	        "INSERT INTO policy_contacts (patient, contact, state, first_seen, last_seen)"
	        " VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (patient, contact) DO UPDATE SET"
	        " state = excluded.state, last_seen = excluded.last_seen",
	        SQL_ARGS(SQL_TEXT(p), SQL_TEXT(c), SQL_TEXT(fin ? "closed" : "open"), SQL_INT(time(NULL))),
	        err, sizeof err) < 0)
		return failed(err);
	return 0;
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
	char p[256], s[256], err[256];
	int64_t one;
	if (keys(patient, sender, p, s) < 0)
		return 0;
	int rc = sql_one(store_sql(st), "contacts.blocked",
	                 "SELECT 1 FROM patient_blocks WHERE patient = ?1 AND professional = ?2",
	                 SQL_ARGS(SQL_TEXT(p), SQL_TEXT(s)), &one, err, sizeof err);
	return rc < 0 ? failed(err) : rc;
}

int contacts_block(struct store *st, const char *patient, const char *professional, bool blocked)
{
	char p[256], s[256], err[256];
	if (keys(patient, professional, p, s) < 0)
		return -1;
	int n =
	    blocked
	        ? sql_exec(store_sql(st), "contacts.block",
	                   "INSERT INTO patient_blocks (patient, professional, created) VALUES (?1, ?2, ?3)"
	                   " ON CONFLICT (patient, professional) DO NOTHING",
	                   SQL_ARGS(SQL_TEXT(p), SQL_TEXT(s), SQL_INT(time(NULL))), err, sizeof err)
	        : sql_exec(store_sql(st), "contacts.unblock",
	                   "DELETE FROM patient_blocks WHERE patient = ?1 AND professional = ?2",
	                   SQL_ARGS(SQL_TEXT(p), SQL_TEXT(s)), err, sizeof err);
	if (n < 0)
		return failed(err);
	return n > 0 ? 0 : 1;
}
