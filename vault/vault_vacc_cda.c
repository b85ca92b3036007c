/* vault_vacc_cda.c: the immunizations of a CDA R2 document (vault_vacc.h), as IHE PCC
 * and the ANS "carnet de vaccination" volet record them:
 *   <substanceAdministration moodCode="EVN" negationInd="false">
 *     <effectiveTime value="20260115"/>  <doseQuantity value="0.5" unit="mL"/>
 *     <consumable><manufacturedProduct><manufacturedMaterial>
 *       <code displayName="..."/><name>Repevax</name></manufacturedMaterial>...
 *     <performer><assignedEntity><assignedPerson><name><given/><family/>...
 *     <entryRelationship><sequenceNumber value="2"/>... or an observation coded
 *       30973-2 (dose number) whose value is the number.
 * Only the outermost substanceAdministration counts: one nested in it (a reaction's,
 * a precondition's) adds nothing of its own. Everything else is ignored. */
#include <expat.h>
#include <stdint.h>
#include <string.h>

#include "lib/str.h"
#include "vault/vault_vacc.h"
#include "vault/vault_xml.h"

#define MAX_DEPTH 256
#define DOSE_NUMBER_LOINC "30973-2"

enum sink { SINK_NONE, SINK_NAME, SINK_PERSON };

struct vp {
	XML_Parser xp;
	struct vault_vacc_entry *out;
	size_t max, n;
	int depth;
	bool root_ok;
	char doc_date[11];
	int sa;         /* depth of the current substanceAdministration, 0 outside */
	bool skip;      /* it is negated or not an event */
	int material;   /* depth of manufacturedMaterial inside it */
	int person;     /* depth of assignedPerson inside its performer */
	int performer;  /* depth of performer */
	int dose_obs;   /* depth of an observation coded as a dose number */
	enum sink sink; /* where character data goes */
	int sink_depth; /* the element whose text it is */
	char text[VAULT_VACC_TEXT];
	size_t text_len;
	char name[VAULT_VACC_TEXT], code_name[VAULT_VACC_TEXT], who[VAULT_VACC_TEXT];
	char date[11], dose_number[VAULT_VACC_DOSE], dose_qty[VAULT_VACC_DOSE];
	char error[96];
};

static void stop(struct vp *p, const char *why)
{
	if (!p->error[0] && str_copy(p->error, sizeof p->error, why) < 0)
		p->error[0] = '\0';
	XML_StopParser(p->xp, XML_FALSE);
}

/* Appends src to dst (size cap) with blanks folded, control characters dropped and the
 * cut made at a character boundary. */
static void add_clean(char *dst, size_t cap, const char *src, size_t n)
{
	size_t len = strlen(dst);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];
		bool blank = c == ' ' || c == '\t' || c == '\r' || c == '\n';
		if (blank) {
			if (len > 0 && dst[len - 1] != ' ' && len + 1 < cap)
				dst[len++] = ' ';
			continue;
		}
		if (c < 0x20 || c == 0x7f)
			continue;
		if (len + 1 >= cap)
			break;
		dst[len++] = (char)c;
	}
	while (len > 0 && (unsigned char)dst[len - 1] >= 0x80) { /* drop a cut character */
		size_t start = len - 1;
		while (start > 0 && ((unsigned char)dst[start] & 0xc0) == 0x80)
			start--;
		if (str_is_utf8(dst + start, len - start))
			break;
		len = start;
	}
	dst[len] = '\0';
}

/* "20260115..." -> "2026-01-15"; "" when it is not a date. */
static void hl7_date(const char *v, char out[11])
{
	out[0] = '\0';
	for (int i = 0; i < 8; i++)
		if (v[i] < '0' || v[i] > '9')
			return;
	int mo = (v[4] - '0') * 10 + (v[5] - '0'), d = (v[6] - '0') * 10 + (v[7] - '0');
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || memcmp(v, "1800", 4) < 0)
		return;
	memcpy(out, v, 4);
	out[4] = '-';
	memcpy(out + 5, v + 4, 2);
	out[7] = '-';
	memcpy(out + 8, v + 6, 2);
	out[10] = '\0';
}

static void sink_start(struct vp *p, enum sink s)
{
	p->sink = s;
	p->sink_depth = p->depth;
	p->text[0] = '\0';
	p->text_len = 0;
}

static void begin_entry(struct vp *p, const char **atts)
{
	const char *mood = vault_xml_attr(atts, "moodCode");
	p->sa = p->depth;
	p->skip =
	    strcmp(vault_xml_attr(atts, "negationInd"), "true") == 0 || (mood[0] && strcmp(mood, "EVN") != 0);
	p->material = p->person = p->performer = p->dose_obs = 0;
	p->name[0] = p->code_name[0] = p->who[0] = p->date[0] = p->dose_number[0] = p->dose_qty[0] = '\0';
}

static void end_entry(struct vp *p)
{
	struct vault_vacc_entry *e;
	const char *vaccine = p->name[0] ? p->name : p->code_name;
	p->sa = 0;
	if (p->skip || !vaccine[0] || p->n >= p->max)
		return;
	e = &p->out[p->n++];
	memset(e, 0, sizeof *e);
	add_clean(e->vaccine, sizeof e->vaccine, vaccine, strlen(vaccine));
	memcpy(e->date, p->date[0] ? p->date : p->doc_date, sizeof e->date);
	add_clean(e->dose, sizeof e->dose, p->dose_number[0] ? p->dose_number : p->dose_qty,
	          strlen(p->dose_number[0] ? p->dose_number : p->dose_qty));
	add_clean(e->who, sizeof e->who, p->who, strlen(p->who));
}

/* An element inside the substanceAdministration (rel: its depth below it). */
static void entry_element(struct vp *p, const char *ln, const char **atts, int rel)
{
	if (rel == 1 && strcmp(ln, "effectiveTime") == 0 && !p->date[0])
		hl7_date(vault_xml_attr(atts, "value"), p->date);
	else if (rel == 2 && strcmp(ln, "low") == 0 && !p->date[0])
		hl7_date(vault_xml_attr(atts, "value"), p->date);
	else if (rel == 1 && strcmp(ln, "doseQuantity") == 0 && !p->dose_qty[0] &&
	         vault_xml_attr(atts, "value")[0]) {
		add_clean(p->dose_qty, sizeof p->dose_qty, vault_xml_attr(atts, "value"),
		          strlen(vault_xml_attr(atts, "value")));
		if (vault_xml_attr(atts, "unit")[0] && strcmp(vault_xml_attr(atts, "unit"), "1") != 0) {
			add_clean(p->dose_qty, sizeof p->dose_qty, " ", 1);
			add_clean(p->dose_qty, sizeof p->dose_qty, vault_xml_attr(atts, "unit"),
			          strlen(vault_xml_attr(atts, "unit")));
		}
	} else if (rel == 2 && strcmp(ln, "sequenceNumber") == 0 && !p->dose_number[0])
		add_clean(p->dose_number, sizeof p->dose_number, vault_xml_attr(atts, "value"),
		          strlen(vault_xml_attr(atts, "value")));
	else if (strcmp(ln, "manufacturedMaterial") == 0 && !p->material)
		p->material = p->depth;
	else if (p->material && p->depth == p->material + 1 && strcmp(ln, "code") == 0 && !p->code_name[0])
		add_clean(p->code_name, sizeof p->code_name, vault_xml_attr(atts, "displayName"),
		          strlen(vault_xml_attr(atts, "displayName")));
	else if (p->material && p->depth == p->material + 1 && strcmp(ln, "name") == 0 && !p->name[0])
		sink_start(p, SINK_NAME);
	else if (rel == 1 && strcmp(ln, "performer") == 0 && !p->performer)
		p->performer = p->depth;
	else if (p->performer && strcmp(ln, "assignedPerson") == 0 && !p->person)
		p->person = p->depth;
	else if (p->person && p->depth == p->person + 1 && strcmp(ln, "name") == 0 && !p->who[0])
		sink_start(p, SINK_PERSON);
	else if (rel == 2 && strcmp(ln, "observation") == 0)
		p->dose_obs = -p->depth; /* a dose number only once its code says so */
	else if (p->dose_obs < 0 && p->depth == -p->dose_obs + 1 && strcmp(ln, "code") == 0 &&
	         strcmp(vault_xml_attr(atts, "code"), DOSE_NUMBER_LOINC) == 0)
		p->dose_obs = -p->dose_obs;
	else if (p->dose_obs > 0 && p->depth == p->dose_obs + 1 && strcmp(ln, "value") == 0 &&
	         !p->dose_number[0])
		add_clean(p->dose_number, sizeof p->dose_number, vault_xml_attr(atts, "value"),
		          strlen(vault_xml_attr(atts, "value")));
}

static void XMLCALL on_start(void *ud, const char *name, const char **atts)
{
	struct vp *p = ud;
	const char *ln = vault_xml_local(name);
	if (++p->depth > MAX_DEPTH) {
		stop(p, "elements nested too deeply");
		return;
	}
	if (p->depth == 1) {
		if (strcmp(ln, "ClinicalDocument") != 0)
			stop(p, "not a ClinicalDocument");
		p->root_ok = true;
	} else if (p->depth == 2 && strcmp(ln, "effectiveTime") == 0 && !p->doc_date[0]) {
		hl7_date(vault_xml_attr(atts, "value"), p->doc_date);
	} else if (p->sa == 0 && strcmp(ln, "substanceAdministration") == 0) {
		begin_entry(p, atts);
	} else if (p->sa > 0) {
		entry_element(p, ln, atts, p->depth - p->sa);
	}
}

static void XMLCALL on_end(void *ud, const char *name)
{
	struct vp *p = ud;
	(void)name;
	if (p->sink != SINK_NONE && p->depth == p->sink_depth) {
		char *dst = p->sink == SINK_NAME ? p->name : p->who;
		size_t cap = p->sink == SINK_NAME ? sizeof p->name : sizeof p->who;
		add_clean(dst, cap, p->text, p->text_len);
		str_trim(dst);
		p->sink = SINK_NONE;
	}
	if (p->material == p->depth)
		p->material = 0;
	if (p->person == p->depth)
		p->person = 0;
	if (p->performer == p->depth)
		p->performer = 0;
	if (p->dose_obs == p->depth || -p->dose_obs == p->depth)
		p->dose_obs = 0;
	if (p->sa == p->depth)
		end_entry(p);
	p->depth--;
}

/* A person's name is its parts (prefix, given, family) one after the other: a blank
 * goes between the texts of two elements. */
static void XMLCALL on_text(void *ud, const char *s, int len)
{
	struct vp *p = ud;
	if (p->sink == SINK_NONE || len <= 0)
		return;
	size_t room = sizeof p->text - 1 - p->text_len;
	size_t n = (size_t)len < room ? (size_t)len : room;
	memcpy(p->text + p->text_len, s, n);
	p->text_len += n;
	p->text[p->text_len] = '\0';
}

static void XMLCALL on_part_end(void *ud, const char *name)
{
	struct vp *p = ud;
	if (p->sink == SINK_PERSON && p->depth == p->sink_depth + 1 && p->text_len + 1 < sizeof p->text) {
		p->text[p->text_len++] = ' ';
		p->text[p->text_len] = '\0';
	}
	on_end(ud, name);
}

static void XMLCALL on_doctype(void *ud, const XML_Char *n, const XML_Char *s, const XML_Char *pub,
                               int internal)
{
	(void)n, (void)s, (void)pub, (void)internal;
	stop(ud, "a DOCTYPE is not allowed");
}

int vault_vacc_from_cda(const char *xml, size_t len, struct vault_vacc_entry *out, size_t max, size_t *n,
                        char *err, size_t errlen)
{
	static struct vp zero;
	struct vp p = zero;
	int rc = 0;
	*n = 0;
	if (len > (size_t)INT32_MAX) {
		str_error(err, errlen, "CDA document too large");
		return -1;
	}
	p.out = out;
	p.max = max;
	p.xp = XML_ParserCreateNS(NULL, '|');
	if (!p.xp) {
		str_error(err, errlen, "out of memory");
		return -1;
	}
	XML_SetUserData(p.xp, &p);
	XML_SetElementHandler(p.xp, on_start, on_part_end);
	XML_SetCharacterDataHandler(p.xp, on_text);
	XML_SetStartDoctypeDeclHandler(p.xp, on_doctype);
	if (XML_Parse(p.xp, xml, (int)len, XML_TRUE) != XML_STATUS_OK || !p.root_ok) {
		if (str_format(err, errlen, "CDA: %s",
		               p.error[0] ? p.error : XML_ErrorString(XML_GetErrorCode(p.xp))) < 0)
			err[0] = '\0';
		rc = -1;
	}
	XML_ParserFree(p.xp);
	*n = rc == 0 ? p.n : 0;
	return rc;
}
