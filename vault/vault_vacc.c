/* vault_vacc.c: the vaccination book in the folder Vaccinations (vault_vacc.h): a
 * declared entry checked, the book read back from its FHIR Bundle (jansson), merged
 * and written anew. */
#include "vault/vault_vacc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/config.h"
#include "lib/localtime.h"
#include "lib/log.h"
#include "lib/str.h"
#include "msg/msg.h"
#include "vault/vault_folder.h"

#define BOOK_READ (4 * 1024 * 1024) /* a book of VAULT_VACC_MAX entries is far smaller */
#define BOOKS_MAX 16                /* book messages merged at once (normally one) */
#define MARK "X-MSS-Vaccination"
#define SELF_DECLARED "déclaré par le patient"

static int why_is(char *why, size_t whylen, const char *text)
{
	if (str_copy(why, whylen, text) < 0)
		log_warn("vault.vaccination", "error=\"message cut\"");
	return -1;
}

/* Characters of a UTF-8 string, -1 when it is not UTF-8 or holds a control character. */
static long chars(const char *s)
{
	long n = 0;
	if (!str_is_utf8(s, strlen(s)))
		return -1;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return -1;
		n += (*p & 0xc0) != 0x80;
	}
	return n;
}

/* A real day "YYYY-MM-DD" between 1900-01-01 and today. */
static bool good_date(const char *d, const char *today)
{
	int y, mo, day, used = 0;
	struct tm tm = {0};

	if (strlen(d) != 10 || sscanf(d, "%4d-%2d-%2d%n", &y, &mo, &day, &used) != 3 || used != 10 ||
	    d[4] != '-' || d[7] != '-' || y < 1900 || mo < 1 || mo > 12 || day < 1 || day > 31)
		return false;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = day;
	tm.tm_hour = 12;
	time_t t = timegm(&tm);
	gmtime_r(&t, &tm);
	return tm.tm_mday == day && strcmp(d, today) <= 0;
}

int vault_vacc_check(const char *vaccine, const char *date, const char *dose, const char *who,
                     const char *today, struct vault_vacc_entry *out, char *why, size_t whylen)
{
	char v[VAULT_VACC_TEXT], d[VAULT_VACC_DOSE], w[VAULT_VACC_TEXT];
	long nv, nd, nw;

	memset(out, 0, sizeof(*out));
	if (str_copy(v, sizeof(v), vaccine ? vaccine : "") < 0 || (nv = chars(str_trim(v))) < 0 ||
	    nv > VAULT_VACC_TEXT_CHARS)
		return why_is(why, whylen,
		              "Le nom du vaccin doit faire au plus 100 caractères, sans caractère de "
		              "contrôle.");
	if (nv == 0)
		return why_is(why, whylen, "Indiquez le nom du vaccin.");
	if (date == NULL || !good_date(date, today))
		return why_is(
		    why, whylen,
		    "La date de la vaccination doit être une vraie date (jj/mm/aaaa), entre 1900 et "
		    "aujourd'hui.");
	if (str_copy(d, sizeof(d), dose ? dose : "") < 0 || (nd = chars(str_trim(d))) < 0 ||
	    nd > VAULT_VACC_DOSE_CHARS)
		return why_is(why, whylen,
		              "La dose doit faire au plus 30 caractères (par exemple 1, 2 ou rappel).");
	if (str_copy(w, sizeof(w), who ? who : "") < 0 || (nw = chars(str_trim(w))) < 0 ||
	    nw > VAULT_VACC_TEXT_CHARS)
		return why_is(why, whylen,
		              "Le nom de qui a vacciné doit faire au plus 100 caractères, sans caractère de "
		              "contrôle.");
	memcpy(out->vaccine, v, sizeof(out->vaccine));
	memcpy(out->date, date, sizeof(out->date));
	memcpy(out->dose, d, sizeof(out->dose));
	memcpy(out->who, w, sizeof(out->who));
	out->self_declared = true;
	return 0;
}

/* ---- the FHIR Bundle, written and read back ------------------------------------- */

static json_t *immunization(const char *patient, const struct vault_vacc_entry *e)
{
	json_t *r = json_pack("{s:s, s:s, s:{s:s}, s:{s:s}, s:b}", "resourceType", "Immunization", "status",
	                      "completed", "vaccineCode", "text", e->vaccine, "patient", "reference", patient,
	                      "primarySource", !e->self_declared);
	int rc = r == NULL ? -1 : 0;

	if (rc == 0)
		rc = e->date[0] ? json_object_set_new(r, "occurrenceDateTime", json_string(e->date))
		                : json_object_set_new(r, "occurrenceString", json_string("date inconnue"));
	if (rc == 0 && e->self_declared)
		rc =
		    json_object_set_new(r, "reportOrigin",
		                        json_pack("{s:[{s:s, s:s}], s:s}", "coding", "system",
		                                  "http://terminology.hl7.org/CodeSystem/immunization-origin",
		                                  "code", "recipient", "text", SELF_DECLARED));
	if (rc == 0 && e->who[0])
		rc =
		    json_object_set_new(r, "performer", json_pack("[{s:{s:s}}]", "actor", "display", e->who));
	if (rc == 0 && e->dose[0])
		rc = json_object_set_new(r, "protocolApplied",
		                         json_pack("[{s:s}]", "doseNumberString", e->dose));
	if (rc != 0) {
		json_decref(r);
		return NULL;
	}
	return r;
}

static char *bundle(const char *patient, const struct vault_vacc_book *book, int64_t when)
{
	json_t *resources = json_array();

	for (size_t i = 0; resources != NULL && i < book->n; i++)
		if (json_array_append_new(resources, immunization(patient, &book->e[i])) < 0) {
			json_decref(resources);
			return NULL;
		}
	return vault_folder_bundle(resources, when);
}

/* Copies a JSON string member (path of object keys, then an optional array's first
 * element) into out; "" when absent or too long. */
static void member(json_t *o, const char *key, const char *sub, char *out, size_t outlen)
{
	json_t *v = json_object_get(o, key);
	if (json_is_array(v))
		v = json_array_get(v, 0);
	if (sub != NULL)
		v = json_object_get(v, sub);
	if (str_copy(out, outlen, json_is_string(v) ? json_string_value(v) : "") < 0)
		out[0] = '\0';
}

static bool same(const struct vault_vacc_entry *a, const struct vault_vacc_entry *b)
{
	return a->self_declared == b->self_declared && strcmp(a->vaccine, b->vaccine) == 0 &&
	       strcmp(a->date, b->date) == 0 && strcmp(a->dose, b->dose) == 0 && strcmp(a->who, b->who) == 0;
}

/* Adds e to book unless it is there already or the book is full. true when added. */
static bool merge(struct vault_vacc_book *book, const struct vault_vacc_entry *e)
{
	for (size_t i = 0; i < book->n; i++)
		if (same(&book->e[i], e))
			return false;
	if (book->n >= VAULT_VACC_MAX)
		return false;
	book->e[book->n++] = *e;
	return true;
}

/* The Immunization resources of a Bundle's JSON merged into book. */
static void from_bundle(const char *js, size_t len, struct vault_vacc_book *book)
{
	json_error_t jerr;
	json_t *b = json_loadb(js, len, JSON_REJECT_DUPLICATES, &jerr), *entry;
	size_t i;

	json_array_foreach(json_object_get(b, "entry"), i, entry)
	{
		json_t *r = json_object_get(entry, "resource");
		struct vault_vacc_entry e;
		memset(&e, 0, sizeof(e));
		if (!json_is_object(r) || !json_is_string(json_object_get(r, "resourceType")) ||
		    strcmp(json_string_value(json_object_get(r, "resourceType")), "Immunization") != 0)
			continue;
		json_t *vc = json_object_get(r, "vaccineCode");
		member(vc, "text", NULL, e.vaccine, sizeof(e.vaccine));
		member(r, "occurrenceDateTime", NULL, e.date, sizeof(e.date));
		member(r, "protocolApplied", "doseNumberString", e.dose, sizeof(e.dose));
		json_t *actor = json_object_get(json_array_get(json_object_get(r, "performer"), 0), "actor");
		member(actor, "display", NULL, e.who, sizeof(e.who));
		e.self_declared = json_is_false(json_object_get(r, "primarySource"));
		if (e.vaccine[0])
			merge(book, &e);
	}
	json_decref(b);
}

/* One book message merged into book: its Bundle, its version. Returns 0 or -1. */
static int load_one(struct store *st, int64_t mbid, uint32_t uid, unsigned version,
                    struct vault_vacc_book *book)
{
	struct buf raw, js;
	struct msg m;
	struct msg_limits lim;
	char err[256];
	int rc;

	buf_init(&raw, BOOK_READ + 1);
	buf_init(&js, BOOK_READ);
	rc = vault_folder_read(st, mbid, uid, BOOK_READ, &raw) == 1 ? 0 : -1;
	msg_limits_from_config(store_config(st), &lim);
	if (rc == 0 && msg_parse(raw.data, raw.len - 1, &lim, &m, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < m.nparts; i++)
			if (m.parts[i].kind == MSG_PART_LEAF &&
			    strcmp(m.parts[i].type, "application/fhir+json") == 0 &&
			    msg_part_decode(&m, i, &js) == 0) {
				from_bundle(js.data, js.len, book);
				break;
			}
		msg_free(&m);
	} else {
		rc = -1;
	}
	if (rc == 0 && version > book->version)
		book->version = version;
	buf_free(&raw);
	buf_free(&js);
	return rc;
}

/* Every book message of the folder merged into book; their UIDs into uids (at most
 * BOOKS_MAX), *mbid the folder (0 when there is none), *masked when the patient masked
 * one from professionals. Returns 0 or -1. */
static int load(struct store *st, const char *patient, struct vault_vacc_book *book, uint32_t *uids,
                size_t *nuids, int64_t *mbid, bool *masked)
{
	struct store_mailbox mb;
	struct store_msglist l = {0};
	char err[256];
	int rc = store_select(st, patient, VAULT_VACC_MAILBOX, &mb, &l, err, sizeof(err));

	*nuids = 0;
	*mbid = 0;
	*masked = false;
	if (rc <= 0)
		return rc < 0 ? -1 : 0;
	*mbid = mb.id;
	rc = 0;
	for (size_t i = 0; i < l.n && rc == 0 && *nuids < BOOKS_MAX; i++) {
		char mark[64];
		unsigned version, count;
		int got = vault_folder_header(st, mb.id, l.v[i].uid, MARK, mark, sizeof(mark));
		if (got < 0)
			rc = -1;
		else if (got == 1 && sscanf(mark, "%u %u", &version, &count) == 2) {
			uids[(*nuids)++] = l.v[i].uid;
			*masked |= vault_folder_masked(l.v[i].keywords);
			rc = load_one(st, mb.id, l.v[i].uid, version, book);
		}
	}
	store_msglist_free(&l);
	return rc;
}

int vault_vacc_read(struct store *st, const char *patient, struct vault_vacc_book *out)
{
	uint32_t uids[BOOKS_MAX];
	size_t n;
	int64_t mbid;
	bool masked;

	memset(out, 0, sizeof(*out));
	return load(st, patient, out, uids, &n, &mbid, &masked);
}

/* ---- the message ---------------------------------------------------------------- */

static int by_date(const void *a, const void *b)
{
	const struct vault_vacc_entry *x = a, *y = b;
	int c = strcmp(x->date, y->date);
	return c != 0 ? c : strcmp(x->vaccine, y->vaccine);
}

static int text(struct buf *t, const char *zone, const struct vault_vacc_book *book, int64_t when)
{
	char when_fr[64];
	int rc = 0;
	bool any_self = false;

	mss_date_french(zone, when, false, when_fr, sizeof(when_fr));
	rc |= buf_printf(t, "Carnet de vaccination – version %u, mis à jour %s.\n\n", book->version, when_fr);
	if (book->n == 0)
		rc |= buf_append_str(t, "Aucune vaccination enregistrée.\n");
	for (size_t i = 0; i < book->n; i++) {
		const struct vault_vacc_entry *e = &book->e[i];
		if (e->date[0])
			rc |= buf_printf(t, "- %.2s/%.2s/%.4s : %s", e->date + 8, e->date + 5, e->date,
			                 e->vaccine);
		else
			rc |= buf_printf(t, "- date inconnue : %s", e->vaccine);
		if (e->dose[0])
			rc |= buf_printf(t, ", dose %s", e->dose);
		if (e->who[0])
			rc |= buf_printf(t, ", par %s", e->who);
		rc |= buf_append_str(t, e->self_declared ? " (" SELF_DECLARED ")\n" : "\n");
		any_self |= e->self_declared;
	}
	if (any_self)
		rc |= buf_append_str(t, "\nLes vaccinations « " SELF_DECLARED
		                        " » ont été saisies par le patient : "
		                        "aucun professionnel de santé ne les a vérifiées.\n");
	return rc ? -1 : 0;
}

static int build(struct buf *b, const char *patient, const char *zone, const struct vault_vacc_book *book,
                 int64_t when)
{
	char mark[64];
	char *json = bundle(patient, book, when);
	struct buf t;
	int rc = 0;

	if (json == NULL)
		return -1;
	buf_init(&t, 512 * 1024);
	rc |= text(&t, zone, book, when);
	rc |= str_format(mark, sizeof(mark), "%u %zu", book->version, book->n);
	struct vault_folder_msg m = {patient, zone,   when, VAULT_VACC_SUBJECT, "vaccination", MARK,
	                             mark,    t.data, json, "vaccinations.json"};
	rc |= t.data != NULL && rc == 0 ? vault_folder_build(b, &m) : -1;
	buf_free(&t);
	free(json);
	return rc ? -1 : 0;
}

/* The book messages read for this rebuild go: the new one holds all they held. */
static void remove_old(struct store *st, const char *patient, int64_t mbid, const uint32_t *uids, size_t n)
{
	struct store_flags_req req = {.op = STORE_FLAGS_ADD, .flags = STORE_FLAG_DELETED};
	struct store_flags_result res;
	uint32_t *gone = NULL;
	size_t ngone = 0;
	char err[256];

	if (n == 0)
		return;
	memset(&res, 0, sizeof(res));
	if (store_set_flags(st, mbid, uids, n, &req, &res, err, sizeof(err)) != 0 ||
	    store_expunge(st, mbid, uids, n, &gone, &ngone, err, sizeof(err)) != 0)
		log_err("vault.vaccination", "patient=%s error=\"%s\"", patient, err);
	store_flags_result_free(&res);
	free(gone);
}

int vault_vacc_add(struct store *st, const struct vault_actor *who, const char *patient,
                   const struct vault_vacc_entry *e, size_t n, size_t *added, char *err, size_t errlen)
{
	struct vault_vacc_book *book = xcalloc(1, sizeof(*book));
	int64_t when = (int64_t)time(NULL), mbid = 0;
	uint32_t old[BOOKS_MAX], uid = 0;
	size_t nold = 0;
	bool self = false, masked = false;
	char target[64], detail[96];
	struct buf b;
	int rc = load(st, patient, book, old, &nold, &mbid, &masked);

	*added = 0;
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (merge(book, &e[i])) {
			(*added)++;
			self |= e[i].self_declared;
		}
	if (rc < 0 || *added == 0) {
		free(book);
		return rc < 0 ? why_is(err, errlen, "cannot read the vaccination book") : 0;
	}
	qsort(book->e, book->n, sizeof(book->e[0]), by_date);
	book->version++;
	buf_init(&b, BOOK_READ);
	rc = build(&b, patient, store_config(st)->timezone, book, when) == 0
	         ? vault_folder_append(st, patient, VAULT_VACC_MAILBOX, b.data, b.len, masked, when, &uid,
	                               err, errlen)
	         : why_is(err, errlen, "cannot build the vaccination book");
	buf_free(&b);
	if (rc == 0 && mbid != 0)
		remove_old(st, patient, mbid, old, nold);
	if (rc == 0 && (str_format(target, sizeof(target), "%s %u", VAULT_VACC_MAILBOX, uid) < 0 ||
	                str_format(detail, sizeof(detail), "origin=%s entries=%zu version=%u",
	                           self ? "patient" : "document", *added, book->version) < 0 ||
	                vault_audit(st, who, "vaccination.add", patient, target, detail, "ok") < 0))
		rc = why_is(err, errlen, "audit record not written");
	free(book);
	return rc;
}
