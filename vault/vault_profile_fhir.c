/* vault_profile_fhir.c: the message of one version of a profile section: a French text
 * and a FHIR R4 Bundle of the section's resources (vault_profile.h). The JSON is made
 * by jansson, never by hand. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/localtime.h"
#include "lib/str.h"
#include "vault/vault_mime.h"
#include "vault/vault_profile.h"

static json_t *ref(const char *patient)
{
	return json_pack("{s:s}", "reference", patient);
}

static json_t *text_concept(const char *text)
{
	return json_pack("{s:s}", "text", text);
}

/* "Marie Dupont ; 06 12 34 56 78 ; épouse" as a RelatedPerson. */
static json_t *related_person(const char *patient, const char *item)
{
	char name[VAULT_PROFILE_ITEM_MAX], phone[VAULT_PROFILE_ITEM_MAX], link[VAULT_PROFILE_ITEM_MAX];
	const char *p = item;
	char *fields[3] = {name, phone, link};

	for (int i = 0; i < 3; i++) {
		const char *end = strchr(p, ';');
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
		memcpy(fields[i], p, n);
		fields[i][n] = '\0';
		str_trim(fields[i]);
		p = end != NULL ? end + 1 : p + n;
	}
	json_t *r =
	    json_pack("{s:s, s:o, s:[{s:s}], s:[{s:s, s:s}]}", "resourceType", "RelatedPerson", "patient",
	              ref(patient), "name", "text", name, "telecom", "system", "phone", "value", phone);
	if (r != NULL && link[0] != '\0')
		json_object_set_new(r, "relationship", json_pack("[{s:s}]", "text", link));
	return r;
}

static json_t *resource(const struct vault_profile_section *sec, const char *patient, const char *item)
{
	if (strcmp(sec->fhir, "AllergyIntolerance") == 0)
		return json_pack("{s:s, s:o, s:o}", "resourceType", "AllergyIntolerance", "code",
		                 text_concept(item), "patient", ref(patient));
	if (strcmp(sec->fhir, "Condition") == 0)
		return json_pack("{s:s, s:[{s:[{s:s, s:s}]}], s:o, s:o}", "resourceType", "Condition",
		                 "category", "coding", "system",
		                 "http://terminology.hl7.org/CodeSystem/condition-category", "code",
		                 "problem-list-item", "code", text_concept(item), "subject", ref(patient));
	if (strcmp(sec->fhir, "FamilyMemberHistory") == 0)
		return json_pack("{s:s, s:s, s:o, s:o, s:[{s:s}]}", "resourceType", "FamilyMemberHistory",
		                 "status", "completed", "patient", ref(patient), "relationship",
		                 text_concept("non précisé"), "note", "text", item);
	if (strcmp(sec->fhir, "MedicationStatement") == 0)
		return json_pack("{s:s, s:s, s:o, s:o}", "resourceType", "MedicationStatement", "status",
		                 "active", "medicationCodeableConcept", text_concept(item), "subject",
		                 ref(patient));
	return related_person(patient, item);
}

/* The Bundle (type collection) of the section's items, as JSON text to free. */
static char *bundle(const struct vault_profile_section *sec, const char *patient,
                    const struct vault_profile_items *items, int64_t when)
{
	char iso[32];
	struct tm tm;
	time_t t = (time_t)when;
	json_t *entries = json_array(), *b;
	char *s = NULL;

	gmtime_r(&t, &tm);
	strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
	for (size_t i = 0; entries != NULL && i < items->n; i++) {
		json_t *r = resource(sec, patient, items->item[i]);
		if (r == NULL || json_array_append_new(entries, json_pack("{s:o}", "resource", r)) < 0) {
			json_decref(entries);
			return NULL;
		}
	}
	b = json_pack("{s:s, s:s, s:s, s:o}", "resourceType", "Bundle", "type", "collection", "timestamp",
	              iso, "entry", entries);
	if (b != NULL) {
		s = json_dumps(b, JSON_INDENT(2) | JSON_ENSURE_ASCII);
		json_decref(b);
	}
	return s;
}

static int text(struct buf *t, const char *zone, const struct vault_profile_section *sec,
                const struct vault_profile_items *items, unsigned version, int64_t when)
{
	char when_fr[64];
	int rc = 0;

	mss_date_french(zone, when, false, when_fr, sizeof(when_fr));
	rc |= buf_printf(t, "%s – version %u, %s.\nSaisi par le patient.\n\n", sec->label, version, when_fr);
	if (items->n == 0)
		rc |= buf_append_str(t, "Rien n'est déclaré.\n");
	for (size_t i = 0; i < items->n; i++)
		rc |= buf_printf(t, "- %s\n", items->item[i]);
	return rc ? -1 : 0;
}

int vault_profile_build(struct buf *b, const char *patient, const char *zone,
                        const struct vault_profile_section *sec, const struct vault_profile_items *items,
                        unsigned version, int64_t when)
{
	char subject[200], date[64], tok[33], boundary[33], id[128], header[100], file[64];
	char *json = bundle(sec, patient, items, when);
	struct buf t;
	int rc = 0;

	if (json == NULL)
		return -1;
	buf_init(&t, 64 * 1024);
	rc |= text(&t, zone, sec, items, version, when);
	mss_date_rfc5322(zone, when, date, sizeof(date));
	mime_random_token(tok);
	mime_random_token(boundary);
	rc |= str_format(subject, sizeof(subject), "Profil médical : %s (version %u)", sec->label, version);
	rc |= str_format(id, sizeof(id), "<profile.%s@%s>", tok, str_address_domain(patient));
	rc |= str_format(header, sizeof(header), "%s %u", sec->code, version);
	rc |= str_format(file, sizeof(file), "%s.json", sec->code);
	rc |= mime_header(b, "From", patient);
	rc |= mime_header(b, "To", patient);
	rc |= mime_header(b, "Date", date);
	rc |= mime_header(b, "Subject", subject);
	rc |= mime_header(b, "Message-ID", id);
	rc |= mime_header(b, "X-MSS-Profile", header);
	rc |= buf_printf(
	    b, "MIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n\tboundary=\"%s\"\r\n\r\n", boundary);
	rc |= t.data != NULL ? mime_text_part(b, boundary, t.data) : -1;
	rc |= mime_attachment(b, boundary, "application/fhir+json", file, json, strlen(json));
	rc |= buf_printf(b, "--%s--\r\n", boundary);
	buf_free(&t);
	free(json);
	return rc ? -1 : 0;
}
