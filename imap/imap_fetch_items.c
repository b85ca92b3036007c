/* imap_fetch_items.c: FETCH data items (see imap_fetch_items.h). */
#include "imap/imap_fetch_items.h"

#include <string.h>

#include "lib/str.h"

static struct imap_fetch_item *add(struct imap_fetch_request *r, enum imap_fetch_kind k)
{
	if (r->n >= IMAP_FETCH_ITEMS_MAX)
		return NULL;
	struct imap_fetch_item *it = &r->items[r->n++];
	memset(it, 0, sizeof(*it));
	it->kind = k;
	return it;
}

/* "NAME[spec]<partial>": the section between the brackets, then the partial. */
static int section_item(struct imap_fetch_request *r, const char *s, enum imap_fetch_kind k, bool peek,
                        const char *name)
{
	const char *open = strchr(s, '['), *close = strrchr(s, ']');
	if (open == NULL || close == NULL || close < open)
		return -1;
	struct imap_fetch_item *it = add(r, k);
	if (it == NULL)
		return -1;
	bool binary = k != IMAP_FETCH_SECTION;
	if (imap_section_parse(open + 1, (size_t)(close - open - 1), binary, &it->sec) < 0)
		return -1;
	if (close[1] != '\0' &&
	    (k == IMAP_FETCH_BINARY_SIZE || imap_partial_parse(close + 1, strlen(close + 1), &it->sec) < 0))
		return -1;
	it->peek = peek || k == IMAP_FETCH_BINARY_SIZE;
	if (str_format(it->label, sizeof(it->label), "%s[%.*s]", name, (int)(close - open - 1), open + 1) < 0)
		return -1;
	r->sets_seen |= !it->peek;
	r->reads_content = true;
	r->reads_body |= k == IMAP_FETCH_BINARY ||
	                 (k == IMAP_FETCH_SECTION &&
	                  (it->sec.kind == IMAP_SECTION_ALL || it->sec.kind == IMAP_SECTION_TEXT));
	return 0;
}

/* RFC822, RFC822.HEADER, RFC822.TEXT: old names of BODY[], BODY.PEEK[HEADER], BODY[TEXT]. */
static int rfc822_item(struct imap_fetch_request *r, const char *s)
{
	const char *spec = str_ieq(s, "RFC822") ? "" : str_ieq(s, "RFC822.HEADER") ? "HEADER" : "TEXT";
	struct imap_fetch_item *it = add(r, IMAP_FETCH_SECTION);
	if (it == NULL || imap_section_parse(spec, strlen(spec), false, &it->sec) < 0)
		return -1;
	it->peek = str_ieq(s, "RFC822.HEADER");
	r->sets_seen |= !it->peek;
	r->reads_content = true;
	r->reads_body |= !it->peek;
	const char *label = str_ieq(s, "RFC822") ? "RFC822" : it->peek ? "RFC822.HEADER" : "RFC822.TEXT";
	return str_copy(it->label, sizeof(it->label), label);
}

static int simple_item(struct imap_fetch_request *r, const char *s)
{
	static const struct {
		const char *name;
		enum imap_fetch_kind kind;
		bool meta;
	} t[] = {
	    {"FLAGS", IMAP_FETCH_FLAGS, false},
	    {"UID", IMAP_FETCH_UID, false},
	    {"INTERNALDATE", IMAP_FETCH_INTERNALDATE, true},
	    {"RFC822.SIZE", IMAP_FETCH_SIZE, true},
	    {"ENVELOPE", IMAP_FETCH_ENVELOPE, true},
	    {"BODYSTRUCTURE", IMAP_FETCH_BODYSTRUCTURE, true},
	    {"BODY", IMAP_FETCH_BODY, true},
	    {"MODSEQ", IMAP_FETCH_MODSEQ, false},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (!str_ieq(s, t[i].name))
			continue;
		if (add(r, t[i].kind) == NULL)
			return -1;
		r->needs_meta |= t[i].meta;
		r->modseq |= t[i].kind == IMAP_FETCH_MODSEQ;
		return 0;
	}
	return -1;
}

static int item(struct imap_fetch_request *r, const struct imap_arg *a)
{
	if (a->type != IMAP_ARG_ATOM)
		return -1;
	const char *s = a->str;
	if (str_iprefix(s, "BODY.PEEK["))
		return section_item(r, s, IMAP_FETCH_SECTION, true, "BODY");
	if (str_iprefix(s, "BODY["))
		return section_item(r, s, IMAP_FETCH_SECTION, false, "BODY");
	if (str_iprefix(s, "BINARY.PEEK["))
		return section_item(r, s, IMAP_FETCH_BINARY, true, "BINARY");
	if (str_iprefix(s, "BINARY.SIZE["))
		return section_item(r, s, IMAP_FETCH_BINARY_SIZE, true, "BINARY.SIZE");
	if (str_iprefix(s, "BINARY["))
		return section_item(r, s, IMAP_FETCH_BINARY, false, "BINARY");
	if (str_ieq(s, "RFC822") || str_ieq(s, "RFC822.HEADER") || str_ieq(s, "RFC822.TEXT"))
		return rfc822_item(r, s);
	return simple_item(r, s);
}

/* The macros ALL, FAST, FULL (RFC 9051 6.4.5). Returns 1 when s is none of them. */
static int macro(struct imap_fetch_request *r, const char *s)
{
	static const char *const fast[] = {"FLAGS", "INTERNALDATE", "RFC822.SIZE"};
	int n;
	if (str_ieq(s, "FAST"))
		n = 3;
	else if (str_ieq(s, "ALL"))
		n = 4;
	else if (str_ieq(s, "FULL"))
		n = 5;
	else
		return 1;
	for (int i = 0; i < 3; i++)
		if (simple_item(r, fast[i]) < 0)
			return -1;
	if (n >= 4 && simple_item(r, "ENVELOPE") < 0)
		return -1;
	if (n == 5 && simple_item(r, "BODY") < 0)
		return -1;
	return 0;
}

/* (CHANGEDSINCE n [VANISHED]) in any order. */
static int modifiers(struct imap_fetch_request *r, const struct imap_arg *a, bool uid, const char **err)
{
	*err = "Invalid FETCH modifiers";
	if (a->type != IMAP_ARG_LIST || a->count == 0)
		return -1;
	for (size_t i = 0; i < a->count; i++) {
		const struct imap_arg *m = &a->list[i];
		if (imap_arg_is_atom(m, "CHANGEDSINCE") && i + 1 < a->count &&
		    a->list[i + 1].type == IMAP_ARG_ATOM && r->changedsince == 0 &&
		    str_to_u64(a->list[i + 1].str, INT64_MAX, &r->changedsince) == 0) {
			i++;
			r->modseq = true;
		} else if (imap_arg_is_atom(m, "VANISHED") && !r->vanished) {
			r->vanished = true;
		} else {
			return -1;
		}
	}
	/* RFC 7162 3.2.6: VANISHED only in UID FETCH with CHANGEDSINCE */
	if (r->vanished && (!uid || r->changedsince == 0)) {
		*err = "VANISHED needs UID FETCH and CHANGEDSINCE";
		return -1;
	}
	return 0;
}

/* Everything but the items, which add() clears one by one as they are taken: the
 * request is 200 KiB (IMAP_FETCH_ITEMS_MAX items with their labels), and clearing it
 * whole twice was a tenth of a one-message FETCH's CPU (issue 15). */
void imap_fetch_request_init(struct imap_fetch_request *r)
{
	r->n = 0;
	r->sets_seen = false;
	r->reads_content = false;
	r->reads_body = false;
	r->needs_meta = false;
	r->changedsince = 0;
	r->vanished = false;
	r->modseq = false;
}

int imap_fetch_parse(const struct imap_arg *items, const struct imap_arg *mods, bool uid,
                     struct imap_fetch_request *r, const char **err)
{
	imap_fetch_request_init(r);
	*err = "Invalid FETCH items";
	if (items->type == IMAP_ARG_ATOM) {
		int m = macro(r, items->str);
		if (m < 0 || (m == 1 && item(r, items) < 0))
			return -1;
	} else if (items->type == IMAP_ARG_LIST && items->count > 0) {
		for (size_t i = 0; i < items->count; i++)
			if (item(r, &items->list[i]) < 0)
				return -1;
	} else {
		return -1;
	}
	if (mods != NULL && modifiers(r, mods, uid, err) < 0)
		return -1;
	bool has_uid = false, has_modseq = false;
	for (size_t i = 0; i < r->n; i++) {
		has_uid |= r->items[i].kind == IMAP_FETCH_UID;
		has_modseq |= r->items[i].kind == IMAP_FETCH_MODSEQ;
	}
	/* UID FETCH always says UID (RFC 9051 6.4.9); CHANGEDSINCE implies MODSEQ (RFC 7162) */
	if ((uid && !has_uid && add(r, IMAP_FETCH_UID) == NULL) ||
	    (r->changedsince && !has_modseq && add(r, IMAP_FETCH_MODSEQ) == NULL))
		return -1;
	return 0;
}

void imap_fetch_request_free(struct imap_fetch_request *r)
{
	for (size_t i = 0; i < r->n; i++)
		imap_section_free(&r->items[i].sec);
	r->n = 0;
}
