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
#include "vault/vault_folder.h"
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

/* The Bundle of the section's items, as JSON text to free. */
static char *bundle(const struct vault_profile_section *sec, const char *patient,
                    const struct vault_profile_items *items, int64_t when)
{
	json_t *resources = json_array();

	for (size_t i = 0; resources != NULL && i < items->n; i++)
		if (json_array_append_new(resources, resource(sec, patient, items->item[i])) < 0) {
			json_decref(resources);
			return NULL;
		}
	return vault_folder_bundle(resources, when);
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
	char subject[200], header[100], file[64];
	char *json = bundle(sec, patient, items, when);
	struct buf t;
	int rc = 0;

	if (json == NULL)
		return -1;
	buf_init(&t, 64 * 1024);
	rc |= text(&t, zone, sec, items, version, when);
	rc |= str_format(subject, sizeof(subject), "Profil médical : %s (version %u)", sec->label, version);
	rc |= str_format(header, sizeof(header), "%s %u", sec->code, version);
	rc |= str_format(file, sizeof(file), "%s.json", sec->code);
	struct vault_folder_msg m = {patient,         zone,   when,   subject, "profile",
	                             "X-MSS-Profile", header, t.data, json,    file};
	rc |= t.data != NULL && rc == 0 ? vault_folder_build(b, &m) : -1;
	buf_free(&t);
	free(json);
	return rc ? -1 : 0;
}
