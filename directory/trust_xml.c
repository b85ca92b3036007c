/* trust_xml.c: the ListeBlancheMSSante parser (expat, namespaces on, no DTD). */

#include <expat.h>
#include <stdbool.h>
#include <string.h>

#include "directory/dn.h"
#include "directory/trust.h"
#include "lib/str.h"

#define NS_SEP '|'
#define MAX_DEPTH 32
#define MAX_DNS 32

enum field { F_NONE, F_NOM, F_DESCRIPTION, F_DN, F_DATE };

struct tx {
	XML_Parser p;
	int depth;
	bool root_ok, in_domaine;
	enum field field; /* the field whose text is being collected */
	char text[TRUST_FIELD_MAX];
	size_t textlen;
	bool text_overflow;
	struct trust_entry cur; /* Nom, Description, DateMAJ of the current Domaine */
	char dns[MAX_DNS][TRUST_FIELD_MAX];
	int ndn;
	int (*fn)(const struct trust_entry *e, void *arg);
	void *arg;
	char *err;
	size_t errlen;
	bool failed;
};

static void fail(struct tx *t, const char *why)
{
	if (t->failed)
		return;
	t->failed = true;
	str_error(t->err, t->errlen, "line %lu: %s", (unsigned long)XML_GetCurrentLineNumber(t->p), why);
	XML_StopParser(t->p, XML_FALSE);
}

/* Local name of an element in our namespace (or in none, below a correct root), or
 * NULL when it belongs to another namespace (e.g. a ds:Signature). */
static const char *local_name(const char *name, bool allow_no_ns)
{
	const char *sep = strchr(name, NS_SEP);
	if (sep == NULL)
		return allow_no_ns ? name : NULL;
	size_t n = (size_t)(sep - name);
	if (n != strlen(TRUST_NS) || memcmp(name, TRUST_NS, n) != 0)
		return NULL;
	return sep + 1;
}

static enum field field_of(const char *local)
{
	if (strcmp(local, "Nom") == 0)
		return F_NOM;
	if (strcmp(local, "Description") == 0)
		return F_DESCRIPTION;
	if (strcmp(local, "DNCertificatOperateur") == 0)
		return F_DN;
	if (strcmp(local, "DateMAJ") == 0)
		return F_DATE;
	return F_NONE;
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	struct tx *t = ud;
	if (++t->depth > MAX_DEPTH) {
		fail(t, "elements nested too deep");
		return;
	}
	const char *local = local_name(name, t->depth > 1);
	if (t->depth == 1) {
		if (local == NULL || strcmp(local, "ListeBlancheMSSante") != 0) {
			fail(t, "root element is not ListeBlancheMSSante in namespace " TRUST_NS);
			return;
		}
		t->root_ok = true;
	} else if (t->depth == 3 && local != NULL && strcmp(local, "Domaine") == 0) {
		t->in_domaine = true;
		memset(&t->cur, 0, sizeof(t->cur));
		t->ndn = 0;
	} else if (t->depth == 4 && t->in_domaine && local != NULL) {
		t->field = field_of(local);
		t->textlen = 0;
		t->text_overflow = false;
	}
}

static bool valid_domain(const char *d)
{
	size_t n = strlen(d);
	if (n == 0 || n > 253 || d[0] == '.' || d[0] == '-' || d[n - 1] == '.' || strstr(d, "..") != NULL)
		return false;
	for (const char *p = d; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
			return false;
	return true;
}

/* Copies a field's text into its place, or fails the file when it does not fit. */
static void set_field(struct tx *t, char *dst, size_t dstlen, const char *v)
{
	if (str_copy(dst, dstlen, v) < 0)
		fail(t, "field too long");
}

/* Stores the collected text of a finished field (trimmed). */
static void end_field(struct tx *t)
{
	if (t->text_overflow) {
		fail(t, "field too long");
		return;
	}
	t->text[t->textlen] = '\0';
	char *v = str_trim(t->text);
	switch (t->field) {
	case F_NOM:
		set_field(t, t->cur.domain, sizeof(t->cur.domain), v);
		str_lower(t->cur.domain);
		break;
	case F_DESCRIPTION:
		set_field(t, t->cur.description, sizeof(t->cur.description), v);
		break;
	case F_DATE:
		set_field(t, t->cur.updated, sizeof(t->cur.updated), v);
		break;
	case F_DN:
		if (t->ndn == MAX_DNS) {
			fail(t, "too many DNCertificatOperateur in one Domaine");
			return;
		}
		/* text is TRUST_FIELD_MAX bytes, as each dns[] */
		str_assert(str_copy(t->dns[t->ndn++], TRUST_FIELD_MAX, v), "text and dns[] have one size");
		break;
	case F_NONE:
		break;
	}
	t->field = F_NONE;
}

/* A finished Domaine: checked, then handed over once per DN. */
static void end_domaine(struct tx *t)
{
	t->in_domaine = false;
	if (!valid_domain(t->cur.domain)) {
		fail(t, t->cur.domain[0] ? "bad domain name in Nom" : "Domaine without Nom");
		return;
	}
	if (t->ndn == 0) {
		fail(t, "Domaine without DNCertificatOperateur");
		return;
	}
	for (int i = 0; i < t->ndn; i++) {
		char key[DN_KEY_MAX], why[96], msg[160];
		if (dn_canonical(t->dns[i], false, key, sizeof(key), why, sizeof(why)) < 0) {
			str_error(msg, sizeof(msg), "bad DNCertificatOperateur: %s", why);
			{
				fail(t, msg);
				return;
			}
		}
		str_assert(str_copy(t->cur.dn, sizeof(t->cur.dn), t->dns[i]), "both TRUST_FIELD_MAX");
		if (t->fn(&t->cur, t->arg) != 0) {
			fail(t, "cannot store the entry");
			return;
		}
	}
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
	struct tx *t = ud;
	(void)name;
	if (t->depth == 4 && t->in_domaine && t->field != F_NONE)
		end_field(t);
	else if (t->depth == 3 && t->in_domaine)
		end_domaine(t);
	t->depth--;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
	struct tx *t = ud;
	if (t->field == F_NONE || t->depth != 4)
		return;
	if (t->textlen + (size_t)len >= sizeof(t->text)) {
		t->text_overflow = true;
		return;
	}
	memcpy(t->text + t->textlen, s, (size_t)len);
	t->textlen += (size_t)len;
}

/* Any DOCTYPE is refused before its internal subset is read: no entity is ever
 * declared, so none can be expanded. */
static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
                               int has_internal_subset)
{
	fail(ud, "DOCTYPE not allowed in the trust list");
}

static void XMLCALL on_entity_decl(void *ud, const XML_Char *name, int is_param, const XML_Char *value,
                                   int value_len, const XML_Char *base, const XML_Char *sysid,
                                   const XML_Char *pubid, const XML_Char *notation)
{
	fail(ud, "entity declarations not allowed");
}

static XML_Parser tx_start(struct tx *t, int (*fn)(const struct trust_entry *, void *), void *arg, char *err,
                           size_t errlen)
{
	memset(t, 0, sizeof(*t));
	t->fn = fn;
	t->arg = arg;
	t->err = err;
	t->errlen = errlen;
	t->p = XML_ParserCreateNS("UTF-8", NS_SEP);
	if (t->p == NULL) {
		str_error(err, errlen, "%s", "out of memory");
		return NULL;
	}
	XML_SetUserData(t->p, t);
	XML_SetElementHandler(t->p, on_start, on_end);
	XML_SetCharacterDataHandler(t->p, on_text);
	XML_SetStartDoctypeDeclHandler(t->p, on_doctype);
	XML_SetEntityDeclHandler(t->p, on_entity_decl);
	XML_SetParamEntityParsing(t->p, XML_PARAM_ENTITY_PARSING_NEVER);
	return t->p;
}

/* Feeds one chunk (final: the last). Returns 0 or -1 (err set). */
static int tx_feed(struct tx *t, const char *data, size_t len, bool final)
{
	while (len > 0 || final) {
		int n = len > (1 << 20) ? (1 << 20) : (int)len;
		bool last = final && (size_t)n == len;
		if (XML_Parse(t->p, data, n, last) != XML_STATUS_OK) {
			if (!t->failed) {
				t->failed = true;
				str_error(t->err, t->errlen, "line %lu: %s",
				          (unsigned long)XML_GetCurrentLineNumber(t->p),
				          XML_ErrorString(XML_GetErrorCode(t->p)));
			}
			return -1;
		}
		data += n;
		len -= (size_t)n;
		if (last)
			break;
	}
	return t->failed ? -1 : 0;
}

static int tx_finish(struct tx *t, int rc)
{
	if (rc == 0 && !t->root_ok) {
		str_error(t->err, t->errlen, "%s", "no ListeBlancheMSSante element");
		rc = -1;
	}
	XML_ParserFree(t->p);
	return rc;
}

int trust_xml_parse(const char *data, size_t len, int (*fn)(const struct trust_entry *e, void *arg),
                    void *arg, char *err, size_t errlen)
{
	static struct tx t; /* large (the DN array): not on the stack */
	if (tx_start(&t, fn, arg, err, errlen) == NULL)
		return -1;
	return tx_finish(&t, tx_feed(&t, data, len, true));
}

int trust_xml_parse_file(FILE *f, int (*fn)(const struct trust_entry *e, void *arg), void *arg, char *err,
                         size_t errlen)
{
	static struct tx t;
	static char chunk[1 << 16];
	if (tx_start(&t, fn, arg, err, errlen) == NULL)
		return -1;
	int rc = 0;
	size_t n;
	while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		rc = tx_feed(&t, chunk, n, false);
	if (rc == 0 && ferror(f)) {
		str_error(err, errlen, "%s", "read error");
		rc = -1;
	}
	if (rc == 0)
		rc = tx_feed(&t, "", 0, true);
	return tx_finish(&t, rc);
}
