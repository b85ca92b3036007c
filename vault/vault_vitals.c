/* vault_vitals.c: vital signs in the folder Constantes (vault_vitals.h). */
#include "vault/vault_vitals.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/config.h"
#include "lib/localtime.h"
#include "lib/str.h"
#include "vault/vault_folder.h"

/* Ranges: what a typing slip produces lies outside, any real measurement inside. */
static const struct vault_vital_kind kinds[] = {
    {"8480-6", "Pression artérielle systolique", "mm[Hg]", "mmHg", 5000, 30000, 0},
    {"8462-4", "Pression artérielle diastolique", "mm[Hg]", "mmHg", 2000, 20000, 0},
    {"8867-4", "Fréquence cardiaque", "/min", "battements/min", 2000, 25000, 0},
    {"8310-5", "Température", "Cel", "°C", 3000, 4500, 1},
    {"29463-7", "Poids", "kg", "kg", 50, 50000, 1},
    {"8302-2", "Taille", "cm", "cm", 2000, 27000, 0},
    {"2339-0", "Glycémie", "g/L", "g/L", 10, 1000, 2},
    {"59408-5", "Saturation en oxygène", "%", "%", 5000, 10000, 0},
};

#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

const struct vault_vital_kind *vault_vital_kinds(size_t *n)
{
	*n = NKINDS;
	return kinds;
}

const struct vault_vital_kind *vault_vital_kind(const char *loinc)
{
	for (size_t i = 0; loinc != NULL && i < NKINDS; i++)
		if (strcmp(kinds[i].loinc, loinc) == 0)
			return &kinds[i];
	return NULL;
}

void vault_vital_format(const struct vault_vital_kind *k, int64_t v, char *out, size_t outlen)
{
	int64_t whole = v / 100, frac = v % 100;

	int rc;
	if (k->decimals == 0)
		rc = str_format(out, outlen, "%" PRId64, whole);
	else if (k->decimals == 1)
		rc = str_format(out, outlen, "%" PRId64 ",%" PRId64, whole, frac / 10);
	else
		rc = str_format(out, outlen, "%" PRId64 ",%02" PRId64, whole, frac);
	str_assert(rc, "an int64 and two decimals (24 bytes) into VAULT_VITAL_SIZE (vault_vitals.h)");
}

int vault_vital_parse(const struct vault_vital_kind *k, const char *text, int64_t *out, char *why,
                      size_t whylen)
{
	size_t n = strspn(text, "0123456789"), d = 0;
	int64_t v = 0;
	char lo[32], hi[32];

	if (n == 0 || n > 6) {
		str_error(why, whylen, "La valeur doit être un nombre (par exemple 120 ou 37,5).");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (text[i] - '0');
	v *= 100;
	if (text[n] == ',' || text[n] == '.') {
		d = strspn(text + n + 1, "0123456789");
		if (d == 0 || d > k->decimals) {
			str_error(why, whylen, "%s : %u chiffre(s) après la virgule au plus.", k->label,
			          k->decimals);
			return -1;
		}
		v += (text[n + 1] - '0') * 10 + (d == 2 ? text[n + 2] - '0' : 0);
		n += 1 + d;
	}
	if (text[n] != '\0') {
		str_error(why, whylen, "La valeur doit être un nombre (par exemple 120 ou 37,5).");
		return -1;
	}
	if (v < k->min || v > k->max) {
		vault_vital_format(k, k->min, lo, sizeof(lo));
		vault_vital_format(k, k->max, hi, sizeof(hi));
		str_error(why, whylen, "%s : la valeur doit être comprise entre %s et %s %s.", k->label, lo,
		          hi, k->unit_shown);
		return -1;
	}
	*out = v;
	return 0;
}

/* The FHIR R4 Observation of one measurement (vital-signs category). */
static char *observation(const char *patient, const struct vault_vital_kind *k, int64_t v, int64_t when)
{
	char iso[32];
	struct tm tm;
	time_t t = (time_t)when;

	gmtime_r(&t, &tm);
	strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_t *o = json_pack("{s:s, s:s, s:[{s:[{s:s, s:s}]}], s:{s:[{s:s, s:s, s:s}], s:s}, s:{s:s}, s:s, "
	                      "s:{s:f, s:s, s:s, s:s}}",
	                      "resourceType", "Observation", "status", "final", "category", "coding",
	                      "system", "http://terminology.hl7.org/CodeSystem/observation-category", "code",
	                      "vital-signs", "code", "coding", "system", "http://loinc.org", "code", k->loinc,
	                      "display", k->label, "text", k->label, "subject", "reference", patient,
	                      "effectiveDateTime", iso, "valueQuantity", "value", (double)v / 100.0, "unit",
	                      k->unit_shown, "system", "http://unitsofmeasure.org", "code", k->unit);
	if (o == NULL)
		return NULL;
	char *s = json_dumps(o, JSON_INDENT(2) | JSON_ENSURE_ASCII);
	json_decref(o);
	return s;
}

static int build(struct buf *b, const char *patient, const char *zone, const struct vault_vital_kind *k,
                 int64_t v, int64_t when)
{
	char value[32], subject[200], when_fr[64], text[600], vital[200];
	char *json = observation(patient, k, v, when);
	int rc = 0;

	if (json == NULL)
		return -1;
	vault_vital_format(k, v, value, sizeof(value));
	mss_date_french(zone, when, false, when_fr, sizeof(when_fr));
	rc |= str_format(subject, sizeof(subject), "%s : %s %s", k->label, value, k->unit_shown);
	rc |= str_format(vital, sizeof(vital), "%s %" PRId64 ".%02" PRId64 " %s %" PRId64, k->loinc, v / 100,
	                 v % 100, k->unit, when);
	rc |= str_format(text, sizeof(text),
	                 "%s : %s %s, mesurée %s.\nSaisie par le patient.\nCode LOINC : %s.\n", k->label,
	                 value, k->unit_shown, when_fr, k->loinc);
	struct vault_folder_msg m = {patient,       zone,  when, subject, "vital",
	                             "X-MSS-Vital", vital, text, json,    "observation.json"};
	if (rc == 0)
		rc = vault_folder_build(b, &m);
	free(json);
	return rc ? -1 : 0;
}

int vault_vital_add(struct store *st, const struct vault_actor *who, const char *patient,
                    const struct vault_vital_kind *k, int64_t v, int64_t when, char *err, size_t errlen)
{
	const struct mss_config *cfg = store_config(st);
	struct buf b;
	uint32_t uid = 0;
	char target[64];

	buf_init(&b, 64 * 1024);
	if (build(&b, patient, cfg->timezone, k, v, when) < 0) {
		buf_free(&b);
		str_error(err, errlen, "cannot build the measurement message");
		return -1;
	}
	int rc = vault_folder_append(st, patient, VAULT_VITALS_MAILBOX, b.data, b.len, false, when, &uid, err,
	                             errlen);
	buf_free(&b);
	if (rc < 0)
		return -1;
	str_assert(str_format(target, sizeof(target), "%s %u", VAULT_VITALS_MAILBOX, uid),
	           "a constant name and a number");
	if (vault_audit(st, who, "vital.add", patient, target, k->loinc, "ok") < 0) {
		str_error(err, errlen, "audit record not written");
		return -1;
	}
	return 0;
}

/* "8480-6 120.00 mm[Hg] 1764900000" -> v. Returns 0 or -1. */
static int parse_header(const char *line, struct vault_vital *v)
{
	char code[32], unit[32];
	long long whole, when;
	int frac, used = 0;

	if (sscanf(line, " %31s %lld.%2d %31s %lld%n", code, &whole, &frac, unit, &when, &used) != 5 ||
	    used == 0)
		return -1;
	v->kind = vault_vital_kind(code);
	if (v->kind == NULL || strcmp(v->kind->unit, unit) != 0 || whole < 0 || frac < 0)
		return -1;
	v->value = whole * 100 + frac;
	v->when = when;
	return 0;
}

/* The X-MSS-Vital field of one message. Returns 0 with v filled, 1 when the message
 * has none readable, -1 on a store error. */
static int read_vital(struct store *st, int64_t mbid, uint32_t uid, struct vault_vital *v)
{
	char line[200];
	int rc = vault_folder_header(st, mbid, uid, "X-MSS-Vital", line, sizeof(line));

	if (rc != 1)
		return rc < 0 ? -1 : 1;
	return parse_header(line, v) == 0 ? 0 : 1;
}

int vault_vitals_foreach(struct store *st, const char *patient,
                         int (*fn)(const struct vault_vital *v, void *arg), void *arg)
{
	struct store_mailbox mb;
	struct store_msglist l = {0};
	char err[256];
	int rc = store_select(st, patient, VAULT_VITALS_MAILBOX, &mb, &l, err, sizeof(err));

	if (rc <= 0)
		return rc < 0 ? -1 : 0;
	rc = 0;
	for (size_t i = 0; i < l.n && rc == 0; i++) {
		struct vault_vital v = {.uid = l.v[i].uid};
		int got = read_vital(st, mb.id, l.v[i].uid, &v);
		if (got < 0)
			rc = -1;
		else if (got == 0 && fn(&v, arg) != 0)
			rc = 1; /* stopped */
	}
	store_msglist_free(&l);
	return rc < 0 ? -1 : 0;
}
