/* vault_xdm_metadata.c: XDS metadata (METADATA.XML, ebRIM 3.0) read with expat.
 *
 * The parser keeps only what the vault needs from each DocumentEntry. Names are
 * compared by local name (expat namespace processing, separator '|'), so any prefix
 * the sender chose works. A DOCTYPE is refused: metadata never needs one, and it is
 * the door to entity expansion attacks. */
#include "vault/vault_xdm.h"

#include <expat.h>
#include <string.h>

#include "lib/str.h"
#include "vault/vault_xml.h"

/* XDS classification and identification schemes (IHE ITI TF-3 4.2.5). */
#define XDS_AUTHOR "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
#define XDS_CLASS_CODE "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
#define XDS_CONFIDENTIALITY "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
#define XDS_TYPE_CODE "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
#define XDS_PATIENT_ID "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
#define XDS_UNIQUE_ID "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
#define XDS_SS_PATIENT_ID "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"

#define MD_MAX_DEPTH 64
#define MD_VALUE_MAX 1024
#define MD_MAX_ASSOCIATIONS 64
#define MD_MAX_DEFERRED 128 /* classifications and identifiers outside their entry */
#define XDS_RPLC "urn:ihe:iti:2007:AssociationType:RPLC"

/* An RPLC association read before or after the entries it links. */
struct md_replace {
	char source[128];
	char target[128];
};

/* ebRIM 3.0 lets a Classification or an ExternalIdentifier stand outside the object
 * it describes, naming it (classifiedObject, registryObject): kept until the end, when
 * every entry is known. */
struct md_deferred {
	char object[128];
	bool patient; /* a patientId (ins, oid), else a confidentiality code (node) */
	char node[64];
	char ins[64];
	char oid[64];
};

struct md_parser {
	XML_Parser xp;
	struct xdm_metadata *md;
	struct xdm_document *doc; /* the ExtrinsicObject being read, or NULL */
	int depth;
	int root_seen;
	int eo_depth;   /* depth of the current ExtrinsicObject */
	int pkg_depth;  /* depth of the current RegistryPackage, 0 outside */
	int cls_depth;  /* depth of the current Classification, 0 outside */
	int name_depth; /* depth of the current Name, 0 outside */
	char cls_scheme[128];
	char cls_node[256];
	char cls_object[128]; /* classifiedObject */
	char cls_person[256];
	char cls_institution[256];
	char slot[64];
	int in_value;
	char value[MD_VALUE_MAX];
	size_t vlen;
	struct md_replace replace[MD_MAX_ASSOCIATIONS];
	size_t nreplace;
	struct md_deferred deferred[MD_MAX_DEFERRED];
	size_t ndeferred;
	char error[128];
};

bool xdm_is_ins_oid(const char *oid)
{
	static const char *const oids[] = {"1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9",
	                                   "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11"};
	for (size_t i = 0; i < sizeof oids / sizeof oids[0]; i++)
		if (strcmp(oid, oids[i]) == 0)
			return true;
	return false;
}

static void fail(struct md_parser *p, const char *why)
{
	if (!p->error[0])
		str_error(p->error, sizeof p->error, "%s", why);
	XML_StopParser(p->xp, XML_FALSE);
}

/* An identifier or code longer than its field makes the metadata unreadable (fail
 * closed): a cut one would name another document, patient or kind. */
static void id_field(struct md_parser *p, char *dst, size_t size, const char *v, const char *what)
{
	if (str_copy(dst, size, v) == 0)
		return;
	dst[0] = '\0';
	char why[128];
	str_error(why, sizeof why, "%s longer than %zu bytes", what, size - 1);
	fail(p, why);
}

/* Copies the n-th '^'-separated component of an HL7 v2 value (0-based). */
static void hl7_component(const char *v, int n, char *out, size_t outlen)
{
	for (int i = 0; i < n && v; i++) {
		v = strchr(v, '^');
		if (v)
			v++;
	}
	out[0] = '\0';
	if (!v)
		return;
	size_t len = strcspn(v, "^");
	if (len >= outlen)
		len = outlen - 1;
	memcpy(out, v, len);
	out[len] = '\0';
}

/* CX "INS^^^&OID&ISO": the identifier and its assigning authority's OID. */
static void parse_cx(const char *v, char *id, size_t idlen, char *oid, size_t oidlen)
{
	char auth[256];
	hl7_component(v, 0, id, idlen);
	hl7_component(v, 3, auth, sizeof auth);
	const char *amp = strchr(auth, '&');
	oid[0] = '\0';
	if (amp) {
		size_t len = strcspn(amp + 1, "&");
		if (len >= oidlen)
			len = oidlen - 1;
		memcpy(oid, amp + 1, len);
		oid[len] = '\0';
	}
}

/* XCN "ID^FAMILY^GIVEN^...": "Given FAMILY", or the identifier alone. */
static void parse_xcn(const char *v, char *out, size_t outlen)
{
	char id[128], family[128], given[128];
	hl7_component(v, 0, id, sizeof id);
	hl7_component(v, 1, family, sizeof family);
	hl7_component(v, 2, given, sizeof given);
	char name[sizeof given + sizeof family];
	if (family[0] && given[0])
		str_assert(str_format(name, sizeof name, "%s %s", given, family),
		           "two components and a space");
	else
		str_assert(str_copy(name, sizeof name, family[0] ? family : id), "a 128-byte component");
	str_copy_display(out, outlen, name); /* a name shown to the patient */
}

static struct md_deferred *defer(struct md_parser *p, const char *object)
{
	if (p->ndeferred == MD_MAX_DEFERRED) {
		fail(p, "too many classifications outside their document entry");
		return NULL;
	}
	struct md_deferred *d = &p->deferred[p->ndeferred];
	memset(d, 0, sizeof *d);
	if (!object[0] || str_copy(d->object, sizeof d->object, object) != 0) {
		fail(p, "a classification or identifier outside an entry names none");
		return NULL;
	}
	p->ndeferred++;
	return d;
}

/* HL7 v3 Confidentiality codes (2.16.840.1.113883.5.25), which XDS senders put beside
 * the health service's visibility codes: they change no visibility here. */
static bool hl7_confidentiality(const char *c)
{
	static const char *const codes[] = {"U", "L", "M", "N", "R", "V"};
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
		if (str_ieq(c, codes[i]))
			return true;
	return false;
}

#define MD_UNKNOWN_CONFIDENTIALITY "a confidentiality code that is neither a visibility code nor HL7's"

/* A confidentiality code (REFERENCE.md "Visibility codes"), read without case or
 * surrounding blanks: a sender's spelling never makes a document more visible. A code
 * that is none of the known ones (a misspelt "INVISIBLE-PATIENT", a new code) might
 * mean a visibility the server would not apply: false, and the metadata are refused
 * (fail closed: the archive is withheld from the patient and reported, 906). */
static bool confidentiality(struct xdm_document *d, const char *code)
{
	char c[64];
	if (str_copy(c, sizeof c, code) != 0)
		return false;
	str_trim(c);
	if (str_ieq(c, "MASQUE_PS"))
		d->masked_ps = true;
	else if (str_ieq(c, "INVISIBLE_PATIENT"))
		d->invisible_patient = true;
	else if (str_ieq(c, "INVISIBLE_REPRESENTANTS_LEGAUX"))
		d->invisible_representatives = true;
	else if (!hl7_confidentiality(c))
		return false;
	return true;
}

#define MD_TWO_PATIENTS "two patient identifiers for one document entry"

/* Sets the entry's patientId; false when it already has another (the metadata are
 * then unreadable, fail closed: the document might be another patient's). */
static bool set_patient(struct xdm_document *d, const char *ins, const char *oid)
{
	if (d->patient_ins[0] && (strcmp(d->patient_ins, ins) != 0 || strcmp(d->patient_oid, oid) != 0))
		return false;
	str_assert(str_copy(d->patient_ins, sizeof d->patient_ins, ins), "parse_cx's 64 bytes into 64");
	str_assert(str_copy(d->patient_oid, sizeof d->patient_oid, oid), "parse_cx's 64 bytes into 64");
	return true;
}

static void start_extrinsic(struct md_parser *p, const char **atts)
{
	if (p->doc) {
		fail(p, "nested ExtrinsicObject");
		return;
	}
	if (p->md->ndocs >= XDM_MAX_DOCUMENTS) {
		p->md->truncated = true;
		return;
	}
	p->doc = &p->md->docs[p->md->ndocs++];
	memset(p->doc, 0, sizeof *p->doc);
	id_field(p, p->doc->entry_id, sizeof p->doc->entry_id, vault_xml_attr(atts, "id"),
	         "ExtrinsicObject id");
	id_field(p, p->doc->mime_type, sizeof p->doc->mime_type, vault_xml_attr(atts, "mimeType"),
	         "mimeType");
	p->eo_depth = p->depth;
}

static void external_identifier(struct md_parser *p, const char **atts)
{
	const char *scheme = vault_xml_attr(atts, "identificationScheme");
	const char *value = vault_xml_attr(atts, "value");
	char ins[64], oid[64];
	if (str_ieq(scheme, XDS_PATIENT_ID)) {
		parse_cx(value, ins, sizeof ins, oid, sizeof oid);
		const char *object = vault_xml_attr(atts, "registryObject");
		if (p->doc && !set_patient(p->doc, ins, oid))
			fail(p, MD_TWO_PATIENTS);
		if (!p->doc || (object[0] && strcmp(object, p->doc->entry_id) != 0)) {
			struct md_deferred *d = defer(p, object);
			if (d) {
				d->patient = true;
				str_assert(str_copy(d->ins, sizeof d->ins, ins), "64 bytes both");
				str_assert(str_copy(d->oid, sizeof d->oid, oid), "64 bytes both");
			}
		}
	} else if (p->doc && str_ieq(scheme, XDS_UNIQUE_ID))
		id_field(p, p->doc->unique_id, sizeof p->doc->unique_id, value, "uniqueId");
	else if (p->pkg_depth && str_ieq(scheme, XDS_SS_PATIENT_ID))
		parse_cx(value, p->md->submission_ins, sizeof p->md->submission_ins, p->md->submission_oid,
		         sizeof p->md->submission_oid);
}

static void localized_string(struct md_parser *p, const char **atts)
{
	if (!p->doc || !p->name_depth)
		return;
	const char *v = vault_xml_attr(atts, "value");
	/* names shown to the patient: a long one is shortened visibly, not refused */
	if (p->cls_depth && str_ieq(p->cls_scheme, XDS_TYPE_CODE))
		str_copy_display(p->doc->type_label, sizeof p->doc->type_label, v);
	else if (!p->cls_depth && p->name_depth == p->eo_depth + 1)
		str_copy_display(p->doc->title, sizeof p->doc->title, v);
}

/* Document replacement (XDS RPLC, ITI TF-3 4.2.2): kept until the end, when the
 * entries it names are all known. Other association types are not the vault's. */
static void association(struct md_parser *p, const char **atts)
{
	if (strcmp(vault_xml_attr(atts, "associationType"), XDS_RPLC) != 0 ||
	    p->nreplace == MD_MAX_ASSOCIATIONS)
		return;
	struct md_replace *r = &p->replace[p->nreplace];
	if (str_copy(r->source, sizeof r->source, vault_xml_attr(atts, "sourceObject")) == 0 &&
	    str_copy(r->target, sizeof r->target, vault_xml_attr(atts, "targetObject")) == 0 &&
	    r->source[0] && r->target[0])
		p->nreplace++;
}

static void link_replacements(const struct md_parser *p, struct xdm_metadata *md)
{
	for (size_t k = 0; k < p->nreplace; k++)
		for (size_t i = 0; i < md->ndocs; i++)
			if (strcmp(md->docs[i].entry_id, p->replace[k].source) == 0)
				str_assert(str_copy(md->docs[i].replaces, sizeof md->docs[i].replaces,
				                    p->replace[k].target),
				           "128 bytes both");
}

static void XMLCALL on_start(void *ud, const char *name, const char **atts)
{
	struct md_parser *p = ud;
	const char *ln = vault_xml_local(name);

	if (++p->depth > MD_MAX_DEPTH) {
		fail(p, "elements nested too deeply");
		return;
	}
	if (p->depth == 1) {
		p->root_seen = 1;
		if (strcmp(ln, "SubmitObjectsRequest") != 0) {
			fail(p, "root element is not SubmitObjectsRequest");
			return;
		}
	}
	if (strcmp(ln, "ExtrinsicObject") == 0) {
		start_extrinsic(p, atts);
	} else if (strcmp(ln, "RegistryPackage") == 0) {
		p->pkg_depth = p->depth;
	} else if (strcmp(ln, "Classification") == 0 && !p->cls_depth) {
		p->cls_depth = p->depth;
		id_field(p, p->cls_scheme, sizeof p->cls_scheme, vault_xml_attr(atts, "classificationScheme"),
		         "classificationScheme");
		id_field(p, p->cls_node, sizeof p->cls_node, vault_xml_attr(atts, "nodeRepresentation"),
		         "nodeRepresentation");
		if (str_copy(p->cls_object, sizeof p->cls_object, vault_xml_attr(atts, "classifiedObject")) !=
		    0)
			fail(p, "classifiedObject too long");
		p->cls_person[0] = p->cls_institution[0] = '\0';
	} else if (strcmp(ln, "Slot") == 0) {
		/* a name longer than any slot read here is a slot not read */
		if (str_copy(p->slot, sizeof p->slot, vault_xml_attr(atts, "name")) < 0)
			p->slot[0] = '\0';
	} else if (strcmp(ln, "Value") == 0) {
		p->in_value = 1;
		p->vlen = 0;
	} else if (strcmp(ln, "Name") == 0) {
		p->name_depth = p->depth;
	} else if (strcmp(ln, "LocalizedString") == 0) {
		localized_string(p, atts);
	} else if (strcmp(ln, "ExternalIdentifier") == 0) {
		external_identifier(p, atts);
	} else if (strcmp(ln, "Association") == 0) {
		association(p, atts);
	}
}

static void XMLCALL on_text(void *ud, const char *s, int len)
{
	struct md_parser *p = ud;
	if (!p->in_value || len <= 0)
		return;
	size_t n = (size_t)len;
	if (n > sizeof p->value - 1 - p->vlen)
		n = sizeof p->value - 1 - p->vlen; /* cut, never overflow */
	memcpy(p->value + p->vlen, s, n);
	p->vlen += n;
	p->value[p->vlen] = '\0';
}

/* A Slot value inside a Classification (author, codingScheme). */
static void classification_value(struct md_parser *p, const char *v)
{
	if (strcmp(p->slot, "authorPerson") == 0 && !p->cls_person[0])
		parse_xcn(v, p->cls_person, sizeof p->cls_person);
	else if (strcmp(p->slot, "authorInstitution") == 0 && !p->cls_institution[0])
		hl7_component(v, 0, p->cls_institution, sizeof p->cls_institution);
	else if (strcmp(p->slot, "codingScheme") == 0 && str_ieq(p->cls_scheme, XDS_TYPE_CODE))
		id_field(p, p->doc->type_scheme, sizeof p->doc->type_scheme, v, "codingScheme");
}

static void document_value(struct md_parser *p, const char *v)
{
	struct xdm_document *d = p->doc;
	uint64_t n;
	if (strcmp(p->slot, "creationTime") == 0)
		id_field(p, d->creation_time, sizeof d->creation_time, v, "creationTime");
	else if (strcmp(p->slot, "URI") == 0 && !d->uri[0])
		id_field(p, d->uri, sizeof d->uri, v, "URI");
	else if (strcmp(p->slot, "hash") == 0)
		id_field(p, d->hash, sizeof d->hash, v, "hash");
	else if (strcmp(p->slot, "size") == 0 && str_to_u64(v, UINT64_MAX / 2, &n) == 0) {
		d->size = n;
		d->has_size = true;
	}
}

static void end_value(struct md_parser *p)
{
	char v[MD_VALUE_MAX];
	p->in_value = 0;
	str_assert(str_copy(v, sizeof v, p->value), "MD_VALUE_MAX both");
	str_trim(v);
	if (!p->doc)
		return;
	if (p->cls_depth)
		classification_value(p, v);
	else
		document_value(p, v);
}

static void end_confidentiality(struct md_parser *p)
{
	struct xdm_document *d = p->doc;
	if (d && !confidentiality(d, p->cls_node))
		fail(p, MD_UNKNOWN_CONFIDENTIALITY);
	if (!d || (p->cls_object[0] && strcmp(p->cls_object, d->entry_id) != 0)) {
		struct md_deferred *x = defer(p, p->cls_object);
		if (x && str_copy(x->node, sizeof x->node, p->cls_node) != 0)
			fail(p, "confidentiality code too long");
	}
}

static void end_classification(struct md_parser *p)
{
	struct xdm_document *d = p->doc;
	p->cls_depth = 0;
	if (str_ieq(p->cls_scheme, XDS_CONFIDENTIALITY)) {
		end_confidentiality(p);
		return;
	}
	if (!d)
		return;
	if (str_ieq(p->cls_scheme, XDS_TYPE_CODE))
		id_field(p, d->type_code, sizeof d->type_code, p->cls_node, "typeCode");
	else if (str_ieq(p->cls_scheme, XDS_CLASS_CODE))
		id_field(p, d->class_code, sizeof d->class_code, p->cls_node, "classCode");
	else if (str_ieq(p->cls_scheme, XDS_AUTHOR) && !d->author[0]) {
		str_assert(str_copy(d->author, sizeof d->author,
		                    p->cls_person[0] ? p->cls_person : p->cls_institution),
		           "256 bytes each");
	}
}

static void XMLCALL on_end(void *ud, const char *name)
{
	struct md_parser *p = ud;
	const char *ln = vault_xml_local(name);

	if (strcmp(ln, "Value") == 0 && p->in_value)
		end_value(p);
	else if (strcmp(ln, "Slot") == 0)
		p->slot[0] = '\0';
	else if (strcmp(ln, "Name") == 0 && p->name_depth == p->depth)
		p->name_depth = 0;
	else if (strcmp(ln, "Classification") == 0 && p->cls_depth == p->depth)
		end_classification(p);
	else if (strcmp(ln, "ExtrinsicObject") == 0 && p->doc && p->eo_depth == p->depth)
		p->doc = NULL;
	else if (strcmp(ln, "RegistryPackage") == 0 && p->pkg_depth == p->depth)
		p->pkg_depth = 0;
	p->depth--;
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
                               int has_internal)
{
	(void)name, (void)sysid, (void)pubid, (void)has_internal;
	fail(ud, "a DOCTYPE is not allowed in XDS metadata");
}

/* The classifications and identifiers read outside their entries. Returns 0, or -1
 * with err when a confidentiality code names no entry (it might be the one a document
 * of this archive should have had: fail closed) or when identifiers disagree. */
static int apply_deferred(struct md_parser *p, struct xdm_metadata *md, char *err, size_t errlen)
{
	for (size_t k = 0; k < p->ndeferred && !p->error[0]; k++) {
		const struct md_deferred *x = &p->deferred[k];
		struct xdm_document *d = NULL;
		for (size_t i = 0; i < md->ndocs && !d; i++)
			if (strcmp(md->docs[i].entry_id, x->object) == 0)
				d = &md->docs[i];
		if (d && x->patient && !set_patient(d, x->ins, x->oid))
			str_error(p->error, sizeof p->error, "%s", MD_TWO_PATIENTS);
		else if (d && !x->patient) {
			if (!confidentiality(d, x->node))
				str_error(p->error, sizeof p->error, "%s", MD_UNKNOWN_CONFIDENTIALITY);
		} else if (!x->patient && !md->truncated)
			str_error(p->error, sizeof p->error,
			          "a confidentiality code names no document entry");
	}
	if (!p->error[0])
		return 0;
	str_error(err, errlen, "METADATA.XML: %s", p->error);
	return -1;
}

/* Entries without a patientId of their own take the submission set's. */
static void inherit_patient(struct xdm_metadata *md)
{
	for (size_t i = 0; i < md->ndocs; i++) {
		if (!md->docs[i].patient_ins[0]) {
			str_assert(str_copy(md->docs[i].patient_ins, sizeof md->docs[i].patient_ins,
			                    md->submission_ins),
			           "64 bytes both");
			str_assert(str_copy(md->docs[i].patient_oid, sizeof md->docs[i].patient_oid,
			                    md->submission_oid),
			           "64 bytes both");
		}
	}
}

int xdm_metadata_parse(const char *xml, size_t len, struct xdm_metadata *out, char *err, size_t errlen)
{
	struct md_parser p;
	int rc = 0;

	memset(out, 0, sizeof *out);
	memset(&p, 0, sizeof p);
	p.md = out;
	if (len > (size_t)INT32_MAX) {
		str_error(err, errlen, "metadata too large");
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
	if (XML_Parse(p.xp, xml, (int)len, XML_TRUE) != XML_STATUS_OK) {
		if (p.error[0])
			str_error(err, errlen, "METADATA.XML: %s", p.error);
		else
			str_error(err, errlen, "METADATA.XML line %lu: %s",
			          (unsigned long)XML_GetCurrentLineNumber(p.xp),
			          XML_ErrorString(XML_GetErrorCode(p.xp)));
		rc = -1;
	} else if (!p.root_seen || out->ndocs == 0) {
		str_error(err, errlen, "METADATA.XML: no document entry");
		rc = -1;
	}
	XML_ParserFree(p.xp);
	if (rc == 0)
		rc = apply_deferred(&p, out, err, errlen);
	if (rc == 0) {
		inherit_patient(out);
		link_replacements(&p, out);
	}
	return rc;
}
