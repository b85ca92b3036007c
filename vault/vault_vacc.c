/* vault_vacc.c: the vaccination book in the folder Vaccinations (vault_vacc.h): the
 * book and the messages of entries waiting for it read back from their FHIR Bundles
 * (jansson), merged and written anew, in the patient's own session. */
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
#include "lib/mss_limits.h"
#include "msg/msg.h"
#include "vault/vault_folder.h"
#include "vault/vault_vacc_int.h"

#define BOOK_READ (4 * 1024 * 1024) /* a book of VAULT_VACC_MAX entries is far smaller */
#define BOOKS_MAX 16                /* book messages merged at once (normally one) */
#define MARK "X-MSS-Vaccination"
#define SELF_DECLARED "déclaré par le patient"

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

char *vault_vacc_bundle(const char *patient, const struct vault_vacc_entry *e, size_t n, int64_t when)
{
	json_t *resources = json_array();

	for (size_t i = 0; resources != NULL && i < n; i++)
		if (json_array_append_new(resources, immunization(patient, &e[i])) < 0) {
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

#define PENDING_MAX 32 /* messages of entries merged at once; the rest at the next rebuild */

/* A message of entries waiting for the book (vault_vacc_pending.c), and who filed it. */
struct pending {
	uint32_t uid;
	char actor[MSS_ADDRESS_SIZE], auth[64], peer[64];
	size_t added; /* of its entries, those new to the book */
};

/* What a rebuild found in the folder. */
struct scan {
	int64_t mbid; /* 0: no folder yet */
	uint32_t books[BOOKS_MAX];
	size_t nbooks;
	struct pending pending[PENDING_MAX];
	size_t npending;
	bool more;   /* messages of entries left for the next rebuild */
	bool masked; /* the patient masked one from professionals */
};

/* A message of entries: noted with who filed it (its mark: "<n> <actor> <auth> <peer>"). */
static void note_pending(struct scan *sc, uint32_t uid, const char *mark, bool masked)
{
	struct pending *p;
	unsigned n;

	if (sc->npending == PENDING_MAX) {
		sc->more = true;
		return;
	}
	p = &sc->pending[sc->npending];
	memset(p, 0, sizeof(*p));
	if (sscanf(mark, "%u %255s %63s %63s", &n, p->actor, p->auth, p->peer) != 4) {
		memset(p, 0, sizeof(*p)); /* not the vault's: merged, audited as nobody */
		memcpy(p->actor, "-", 2);
		memcpy(p->auth, "-", 2);
		memcpy(p->peer, "-", 2);
	}
	p->uid = uid;
	sc->npending++;
	sc->masked |= masked;
}

/* Message uid of the folder: a book (merged into book), a message of entries (noted,
 * when entries), or neither. Returns 0 or -1. */
static int scan_one(struct store *st, const struct store_msg *msg, bool entries, struct vault_vacc_book *book,
                    struct scan *sc)
{
	char mark[64 + 3 * MSS_ADDRESS_SIZE];
	unsigned version, count;
	int got = vault_folder_header(st, sc->mbid, msg->uid, MARK, mark, sizeof(mark));

	if (got == 1 && sscanf(mark, "%u %u", &version, &count) == 2) {
		if (sc->nbooks == BOOKS_MAX) {
			sc->more = true; /* merged by the next rebuild */
			return 0;
		}
		sc->books[sc->nbooks++] = msg->uid;
		sc->masked |= vault_folder_masked(msg->keywords);
		return load_one(st, sc->mbid, msg->uid, version, book);
	}
	if (got < 0 || !entries)
		return got < 0 ? -1 : 0;
	got = vault_folder_header(st, sc->mbid, msg->uid, VAULT_VACC_ENTRIES_MARK, mark, sizeof(mark));
	if (got == 1)
		note_pending(sc, msg->uid, mark, vault_folder_masked(msg->keywords));
	return got < 0 ? -1 : 0;
}

/* Every book message of the folder merged into book, and (entries) the messages of
 * entries noted. Returns 0 or -1. */
static int scan(struct store *st, const char *patient, bool entries, struct vault_vacc_book *book,
                struct scan *sc)
{
	struct store_mailbox mb;
	struct store_msglist l = {0};
	char err[256];
	int rc = store_select(st, patient, VAULT_VACC_MAILBOX, &mb, &l, err, sizeof(err));

	if (rc <= 0)
		return rc < 0 ? -1 : 0;
	sc->mbid = mb.id;
	rc = 0;
	for (size_t i = 0; i < l.n && rc == 0; i++)
		rc = scan_one(st, &l.v[i], entries, book, sc);
	store_msglist_free(&l);
	return rc;
}

/* The entries of each message of entries merged into book, each one's new ones counted.
 * Returns 0 or -1. */
static int merge_pending(struct store *st, struct scan *sc, struct vault_vacc_book *book)
{
	struct vault_vacc_book *one = xcalloc(1, sizeof(*one));
	int rc = 0;

	for (size_t k = 0; rc == 0 && k < sc->npending; k++) {
		memset(one, 0, sizeof(*one));
		rc = load_one(st, sc->mbid, sc->pending[k].uid, 0, one);
		for (size_t i = 0; rc == 0 && i < one->n; i++)
			sc->pending[k].added += merge(book, &one->e[i]);
	}
	free(one);
	return rc;
}

int vault_vacc_read(struct store *st, const char *patient, struct vault_vacc_book *out)
{
	struct scan *sc = xcalloc(1, sizeof(*sc));
	int rc;

	memset(out, 0, sizeof(*out));
	rc = scan(st, patient, false, out, sc);
	free(sc);
	return rc;
}

/* ---- the message ---------------------------------------------------------------- */

static int by_date(const void *a, const void *b)
{
	const struct vault_vacc_entry *x = a, *y = b;
	int c = strcmp(x->date, y->date);
	return c != 0 ? c : strcmp(x->vaccine, y->vaccine);
}

int vault_vacc_lines(struct buf *t, const struct vault_vacc_entry *e, size_t n)
{
	bool any_self = false;
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		if (e[i].date[0])
			rc |= buf_printf(t, "- %.2s/%.2s/%.4s : %s", e[i].date + 8, e[i].date + 5, e[i].date,
			                 e[i].vaccine);
		else
			rc |= buf_printf(t, "- date inconnue : %s", e[i].vaccine);
		if (e[i].dose[0])
			rc |= buf_printf(t, ", dose %s", e[i].dose);
		if (e[i].who[0])
			rc |= buf_printf(t, ", par %s", e[i].who);
		rc |= buf_append_str(t, e[i].self_declared ? " (" SELF_DECLARED ")\n" : "\n");
		any_self |= e[i].self_declared;
	}
	if (any_self)
		rc |= buf_append_str(t, "\nLes vaccinations « " SELF_DECLARED
		                        " » ont été saisies par le patient : "
		                        "aucun professionnel de santé ne les a vérifiées.\n");
	return rc ? -1 : 0;
}

static int text(struct buf *t, const char *zone, const struct vault_vacc_book *book, int64_t when)
{
	char when_fr[64];
	int rc = 0;

	mss_date_french(zone, when, false, when_fr, sizeof(when_fr));
	rc |= buf_printf(t, "Carnet de vaccination – version %u, mis à jour %s.\n\n", book->version, when_fr);
	if (book->n == 0)
		rc |= buf_append_str(t, "Aucune vaccination enregistrée.\n");
	rc |= vault_vacc_lines(t, book->e, book->n);
	return rc ? -1 : 0;
}

static int build(struct buf *b, const char *patient, const char *zone, const struct vault_vacc_book *book,
                 int64_t when)
{
	char mark[64];
	char *json = vault_vacc_bundle(patient, book->e, book->n, when);
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

/* The messages read for this rebuild go (the books only when a new one holds all they
 * held; the messages of entries always: their entries are in the book). */
static void remove_old(struct store *st, const char *patient, const struct scan *sc, bool books)
{
	struct store_flags_req req = {.op = STORE_FLAGS_ADD, .flags = STORE_FLAG_DELETED};
	struct store_flags_result res;
	uint32_t uids[BOOKS_MAX + PENDING_MAX], *gone = NULL;
	size_t n = 0, ngone = 0;
	char err[256];

	for (size_t i = 0; books && i < sc->nbooks; i++)
		uids[n++] = sc->books[i];
	for (size_t i = 0; i < sc->npending; i++)
		uids[n++] = sc->pending[i].uid;
	if (n == 0)
		return;
	memset(&res, 0, sizeof(res));
	if (store_set_flags(st, sc->mbid, uids, n, &req, &res, err, sizeof(err)) != 0 ||
	    store_expunge(st, sc->mbid, uids, n, &gone, &ngone, err, sizeof(err)) != 0)
		log_err("vault.vaccination", "patient=%s error=\"%s\"", patient, err);
	store_flags_result_free(&res);
	free(gone);
}

static int fail(char *err, size_t errlen, const char *why)
{
	if (str_copy(err, errlen, why) < 0)
		log_warn("vault.vaccination", "error=\"message cut\"");
	return -1;
}

/* The next version of book written. Returns 0 with *uid, or -1 with err. */
static int write_book(struct store *st, const char *patient, struct vault_vacc_book *book, bool masked,
                      uint32_t *uid, char *err, size_t errlen)
{
	int64_t when = (int64_t)time(NULL);
	struct buf b;
	int rc;

	qsort(book->e, book->n, sizeof(book->e[0]), by_date);
	book->version++;
	buf_init(&b, BOOK_READ);
	rc = build(&b, patient, store_config(st)->timezone, book, when) == 0
	         ? vault_folder_append(st, patient, VAULT_VACC_MAILBOX, b.data, b.len, masked, when, uid, err,
	                               errlen)
	         : fail(err, errlen, "cannot build the vaccination book");
	buf_free(&b);
	return rc;
}

static int audit_one(struct store *st, const struct vault_actor *who, const char *patient, const char *origin,
                     size_t added, unsigned version, uint32_t uid)
{
	char target[64], detail[96];

	if (added == 0)
		return 0;
	return str_format(target, sizeof(target), "%s %u", VAULT_VACC_MAILBOX, uid) < 0 ||
	               str_format(detail, sizeof(detail), "origin=%s entries=%zu version=%u", origin, added,
	                          version) < 0 ||
	               vault_audit(st, who, "vaccination.add", patient, target, detail, "ok") < 0
	           ? -1
	           : 0;
}

/* Each message of entries merged audited as who filed it, then the new entries of who. */
static int audit_all(struct store *st, const struct vault_actor *who, const char *patient,
                     const struct scan *sc, size_t added, bool self, unsigned version, uint32_t uid)
{
	int rc = 0;

	for (size_t k = 0; k < sc->npending; k++) {
		const struct pending *p = &sc->pending[k];
		struct vault_actor filer = {p->actor, p->auth, strcmp(p->peer, "-") == 0 ? "" : p->peer};
		rc |= audit_one(st, &filer, patient, "document", p->added, version, uid);
	}
	if (who != NULL)
		rc |= audit_one(st, who, patient, self ? "patient" : "document", added, version, uid);
	return rc;
}

/* Rebuilds the book from what the folder holds and n new entries of who's; generation:
 * the stale mark read before. Returns 0 with *added (of the n, the new ones), -1. */
static int rebuild(struct store *st, int64_t generation, const struct vault_actor *who, const char *patient,
                   const struct vault_vacc_entry *e, size_t n, size_t *added, char *err, size_t errlen)
{
	struct vault_vacc_book *book = xcalloc(1, sizeof(*book));
	struct scan *sc = xcalloc(1, sizeof(*sc));
	size_t total = 0;
	uint32_t uid = 0;
	bool self = false;
	int rc = scan(st, patient, true, book, sc) == 0 && merge_pending(st, sc, book) == 0
	             ? 0
	             : fail(err, errlen, "cannot read the vaccination book");

	*added = 0;
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (merge(book, &e[i])) {
			(*added)++;
			self |= e[i].self_declared;
		}
	for (size_t k = 0; k < sc->npending; k++)
		total += sc->pending[k].added;
	total += *added;
	if (rc == 0 && total > 0)
		rc = write_book(st, patient, book, sc->masked, &uid, err, errlen);
	if (rc == 0) {
		remove_old(st, patient, sc, total > 0);
		if (audit_all(st, who, patient, sc, *added, self, book->version, uid) != 0)
			rc = fail(err, errlen, "audit record not written");
	}
	if (rc == 0 && generation > 0 && !sc->more &&
	    vault_vacc_stale_clear(st, patient, generation, err, errlen) != 0)
		rc = -1;
	free(sc);
	free(book);
	return rc;
}

int vault_vacc_add(struct store *st, const struct vault_actor *who, const char *patient,
                   const struct vault_vacc_entry *e, size_t n, size_t *added, char *err, size_t errlen)
{
	int64_t generation = 0;

	*added = 0;
	if (vault_vacc_stale_get(st, patient, &generation, err, errlen) != 0)
		return -1;
	return rebuild(st, generation, who, patient, e, n, added, err, errlen);
}

int vault_vacc_refresh(struct store *st, const char *patient, char *err, size_t errlen)
{
	int64_t generation = 0;
	size_t added = 0;

	if (vault_vacc_stale_get(st, patient, &generation, err, errlen) != 0)
		return -1;
	if (generation == 0)
		return 0;
	return rebuild(st, generation, NULL, patient, NULL, 0, &added, err, errlen) == 0 ? 1 : -1;
}
