/* vault_cda.c: patient INS, code and title of a CDA R2 document (see vault_cda.h). */
#include "vault/vault_cda.h"

#include <expat.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "lib/str.h"
#include "vault/vault_xdm.h"
#include "vault/vault_xml.h"

#define CDA_MAX_DEPTH 256

struct cda_parser {
	XML_Parser xp;
	struct cda_info *out;
	int depth;
	bool root_ok;
	int in_record_target; /* depth of recordTarget, 0 outside */
	int in_patient_role;  /* depth of patientRole, 0 outside */
	bool in_title;
	size_t title_len;
	char error[96];
};

static void stop(struct cda_parser *p, const char *why)
{
	if (!p->error[0])
		str_error(p->error, sizeof p->error, "%s", why);
	XML_StopParser(p->xp, XML_FALSE);
}

/* A value longer than its field makes the document unreadable: a cut INS or code
 * would name another patient or another kind of document. */
static void too_long(struct cda_parser *p, char *dst, size_t size, const char *what)
{
	dst[0] = '\0';
	if (!p->error[0])
		str_error(p->error, sizeof p->error, "%s longer than %zu bytes", what, size - 1);
	XML_StopParser(p->xp, XML_FALSE);
}

static void field(struct cda_parser *p, char *dst, size_t size, const char *value, const char *what)
{
	if (str_copy(dst, size, value) < 0)
		too_long(p, dst, size, what);
}

static void patient_id(struct cda_parser *p, const char **atts)
{
	const char *root = vault_xml_attr(atts, "root");
	if (p->out->ins[0] || !xdm_is_ins_oid(root))
		return;
	field(p, p->out->ins, sizeof p->out->ins, vault_xml_attr(atts, "extension"), "patient id");
	field(p, p->out->oid, sizeof p->out->oid, root, "patient id root");
}

static void set_id(struct cda_parser *p, const char *root, const char *extension)
{
	if (str_format(p->out->set_id, sizeof p->out->set_id, "%s^%s", root, extension) < 0)
		too_long(p, p->out->set_id, sizeof p->out->set_id, "setId");
}

/* effectiveTime, setId, versionNumber: the document's date and its version chain. */
static void header_element(struct cda_parser *p, const char *ln, const char **atts)
{
	uint64_t v;
	if (strcmp(ln, "effectiveTime") == 0 && !p->out->effective_time[0])
		field(p, p->out->effective_time, sizeof p->out->effective_time, vault_xml_attr(atts, "value"),
		      "effectiveTime");
	else if (strcmp(ln, "setId") == 0 && !p->out->set_id[0] && vault_xml_attr(atts, "root")[0])
		set_id(p, vault_xml_attr(atts, "root"), vault_xml_attr(atts, "extension"));
	else if (strcmp(ln, "versionNumber") == 0 &&
	         str_to_u64(vault_xml_attr(atts, "value"), 1000000, &v) == 0)
		p->out->version = (int)v;
}

static void XMLCALL on_start(void *ud, const char *name, const char **atts)
{
	struct cda_parser *p = ud;
	const char *ln = vault_xml_local(name);
	if (++p->depth > CDA_MAX_DEPTH) {
		stop(p, "elements nested too deeply");
		return;
	}
	if (p->depth == 1) {
		if (strcmp(ln, "ClinicalDocument") != 0) {
			stop(p, "not a ClinicalDocument");
			return;
		}
		p->root_ok = true;
	} else if (p->depth == 2 && strcmp(ln, "code") == 0 && !p->out->code[0]) {
		field(p, p->out->code, sizeof p->out->code, vault_xml_attr(atts, "code"), "code");
	} else if (p->depth == 2 && strcmp(ln, "title") == 0) {
		p->in_title = true;
	} else if (p->depth == 2 && strcmp(ln, "recordTarget") == 0) {
		p->in_record_target = p->depth;
	} else if (p->in_record_target && p->depth == 3 && strcmp(ln, "patientRole") == 0) {
		p->in_patient_role = p->depth;
	} else if (p->in_patient_role && p->depth == 4 && strcmp(ln, "id") == 0) {
		patient_id(p, atts);
	} else if (p->depth == 2) {
		header_element(p, ln, atts);
	}
}

static void XMLCALL on_end(void *ud, const char *name)
{
	struct cda_parser *p = ud;
	const char *ln = vault_xml_local(name);
	if (p->depth == 2 && strcmp(ln, "title") == 0)
		p->in_title = false;
	if (p->in_patient_role == p->depth)
		p->in_patient_role = 0;
	if (p->in_record_target == p->depth)
		p->in_record_target = 0;
	p->depth--;
}

static void XMLCALL on_text(void *ud, const char *s, int len)
{
	struct cda_parser *p = ud;
	size_t room = sizeof p->out->title - 1 - p->title_len;
	if (!p->in_title || len <= 0)
		return;
	size_t n = (size_t)len < room ? (size_t)len : room;
	memcpy(p->out->title + p->title_len, s, n);
	p->title_len += n;
	p->out->title[p->title_len] = '\0';
}

static void XMLCALL on_doctype(void *ud, const XML_Char *n, const XML_Char *s, const XML_Char *pub,
                               int internal)
{
	(void)n, (void)s, (void)pub, (void)internal;
	stop(ud, "a DOCTYPE is not allowed");
}

int cda_parse(const char *xml, size_t len, struct cda_info *out, char *err, size_t errlen)
{
	struct cda_parser p;
	int rc = 0;
	memset(out, 0, sizeof *out);
	memset(&p, 0, sizeof p);
	p.out = out;
	if (len > (size_t)INT32_MAX) {
		str_error(err, errlen, "CDA document too large");
		return -1;
	}
	p.xp = XML_ParserCreateNS(NULL, '|');
	if (!p.xp) {
		str_error(err, errlen, "out of memory");
		return -1;
	}
	XML_SetUserData(p.xp, &p);
	XML_SetElementHandler(p.xp, on_start, on_end);
	XML_SetCharacterDataHandler(p.xp, on_text);
	XML_SetStartDoctypeDeclHandler(p.xp, on_doctype);
	if (XML_Parse(p.xp, xml, (int)len, XML_TRUE) != XML_STATUS_OK || !p.root_ok) {
		str_error(err, errlen, "CDA: %s",
		          p.error[0] ? p.error : XML_ErrorString(XML_GetErrorCode(p.xp)));
		rc = -1;
	}
	XML_ParserFree(p.xp);
	str_trim(out->title);
	return rc;
}
