/* vault_cda_html.c: a CDA R2 document's narrative as readable HTML (see vault_cda.h).
 *
 * The narrative block (HL7 CDA R2 NarrativeBlock.xsd) is a small fixed vocabulary;
 * each of its elements maps to one HTML tag written here, without any attribute, and
 * all text is escaped. Anything else, in any namespace (an embedded <script>, an
 * image, a link target), is dropped with its content: a patient's mail client must be
 * able to show the result without running or fetching anything. */
#include "vault/vault_cda.h"

#include <expat.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "lib/mss_limits.h"
#include "lib/buf.h"
#include "lib/html.h"
#include "lib/str.h"
#include "vault/vault_xml.h"

#define HL7_NS "urn:hl7-org:v3"
#define HTML_MAX_DEPTH 256
#define HTML_MAX_SIZE MSS_CDA_HTML_MAX /* lib/mss_limits.h */

struct html {
	XML_Parser xp;
	struct buf *out;
	int depth;
	int skip;          /* depth of an element dropped with its content, 0 when none */
	int text_depth;    /* depth of the section's <text> being rendered, 0 outside */
	int section_level; /* nested sections: h2, h3, ... */
	int title_depth;   /* depth of a section <title> being written, 0 outside */
	bool doc_title;    /* inside ClinicalDocument/title */
	bool structured;   /* a structuredBody was seen */
	char title[512];
	size_t title_len;
	const char *open[HTML_MAX_DEPTH + 2]; /* the tag each depth opened, to close it */
	char error[96];
};

static const char *hl7_local(const char *name)
{
	size_t n = strlen(HL7_NS);
	if (strncmp(name, HL7_NS, n) == 0 && name[n] == '|')
		return name + n + 1;
	return NULL; /* another namespace, or none: not narrative */
}

/* The HTML tag a narrative element becomes, NULL when it is not one. */
static const char *narrative_tag(const char *ln, const char **atts)
{
	static const struct {
		const char *cda, *html;
	} map[] = {{"paragraph", "p"},    {"item", "li"},         {"table", "table"}, {"thead", "thead"},
	           {"tbody", "tbody"},    {"tfoot", "tfoot"},     {"tr", "tr"},       {"th", "th"},
	           {"td", "td"},          {"caption", "caption"}, {"sub", "sub"},     {"sup", "sup"},
	           {"footnote", "small"}, {"linkHtml", "span"}};
	if (strcmp(ln, "list") == 0)
		return strcmp(vault_xml_attr(atts, "listType"), "ordered") == 0 ? "ol" : "ul";
	if (strcmp(ln, "content") == 0) {
		const char *style = vault_xml_attr(atts, "styleCode");
		return strstr(style, "Bold")        ? "b"
		       : strstr(style, "Italics")   ? "i"
		       : strstr(style, "Underline") ? "u"
		                                    : "span";
	}
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strcmp(ln, map[i].cda) == 0)
			return map[i].html;
	return NULL;
}

static void narrative_start(struct html *h, const char *ln, const char **atts)
{
	if (strcmp(ln, "br") == 0) {
		buf_put_str(h->out, "<br>");
		return;
	}
	const char *tag = narrative_tag(ln, atts);
	if (!tag) {
		h->skip = h->depth; /* renderMultiMedia, footnoteRef, colgroup...: dropped */
		return;
	}
	h->open[h->depth] = tag;
	buf_put_printf(h->out, "<%s>", tag);
}

static void section_start(struct html *h, const char *ln)
{
	if (strcmp(ln, "structuredBody") == 0)
		h->structured = true;
	else if (strcmp(ln, "section") == 0)
		h->section_level++;
	else if (strcmp(ln, "title") == 0 && h->section_level > 0) {
		h->title_depth = h->depth;
		buf_put_printf(h->out, "<h%d>", h->section_level + 1 > 6 ? 6 : h->section_level + 1);
	} else if (strcmp(ln, "text") == 0 && h->section_level > 0) {
		h->text_depth = h->depth;
		buf_put_str(h->out, "<div>");
	}
}

static void XMLCALL on_start(void *ud, const char *name, const char **atts)
{
	struct html *h = ud;
	if (++h->depth > HTML_MAX_DEPTH) {
		str_error(h->error, sizeof h->error, "elements nested too deeply");
		XML_StopParser(h->xp, XML_FALSE);
		return;
	}
	h->open[h->depth] = NULL;
	if (h->skip)
		return;
	const char *ln = hl7_local(name);
	if (h->depth == 1 && (!ln || strcmp(ln, "ClinicalDocument") != 0)) {
		str_error(h->error, sizeof h->error, "not a ClinicalDocument");
		XML_StopParser(h->xp, XML_FALSE);
		return;
	}
	if (!ln) {
		h->skip = h->depth;
		return;
	}
	if (h->depth == 2 && strcmp(ln, "title") == 0)
		h->doc_title = true;
	else if (h->text_depth)
		narrative_start(h, ln, atts);
	else
		section_start(h, ln);
}

static void XMLCALL on_end(void *ud, const char *name)
{
	struct html *h = ud;
	(void)name;
	if (h->skip == h->depth)
		h->skip = 0;
	else if (h->open[h->depth])
		buf_put_printf(h->out, "</%s>", h->open[h->depth]);
	else if (h->title_depth == h->depth) {
		buf_put_printf(h->out, "</h%d>\n", h->section_level + 1 > 6 ? 6 : h->section_level + 1);
		h->title_depth = 0;
	} else if (h->text_depth == h->depth) {
		buf_put_str(h->out, "</div>\n");
		h->text_depth = 0;
	} else if (h->doc_title && h->depth == 2) {
		h->doc_title = false;
	} else if (!h->text_depth && hl7_local(name) && strcmp(hl7_local(name), "section") == 0) {
		h->section_level--;
	}
	h->open[h->depth] = NULL;
	h->depth--;
}

static void XMLCALL on_text(void *ud, const char *s, int len)
{
	struct html *h = ud;
	if (h->skip || len <= 0)
		return;
	if (h->doc_title) {
		size_t n = (size_t)len < sizeof h->title - 1 - h->title_len
		               ? (size_t)len
		               : sizeof h->title - 1 - h->title_len;
		memcpy(h->title + h->title_len, s, n);
		h->title_len += n;
		h->title[h->title_len] = '\0';
	} else if ((h->text_depth || h->title_depth) && h->out->len < HTML_MAX_SIZE) {
		if (html_escape(h->out, s, (size_t)len) < 0) { /* the body is unlimited: size overflow */
			str_error(h->error, sizeof h->error, "narrative too large");
			XML_StopParser(h->xp, XML_FALSE);
		}
	}
}

static void XMLCALL on_doctype(void *ud, const XML_Char *n, const XML_Char *s, const XML_Char *pub,
                               int internal)
{
	struct html *h = ud;
	(void)n, (void)s, (void)pub, (void)internal;
	str_error(h->error, sizeof h->error, "a DOCTYPE is not allowed");
	XML_StopParser(h->xp, XML_FALSE);
}

/* The page around the sections: a title, then what was rendered. Returns 0, or -1 when
 * out's limit is passed. */
static int page(struct buf *out, const struct html *h, const struct buf *body)
{
	char title[sizeof h->title];
	str_assert(str_copy(title, sizeof title, h->title), "the same size as h->title");
	str_trim(title);
	if (buf_append_str(out, "<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\"><title>") <
	        0 ||
	    html_escape_str(out, title) < 0 || buf_append_str(out, "</title></head>\n<body>\n<h1>") < 0 ||
	    html_escape_str(out, title) < 0 || buf_append_str(out, "</h1>\n") < 0 ||
	    buf_append(out, body->data, body->len) < 0 || buf_append_str(out, "</body></html>\n") < 0)
		return -1;
	return 0;
}

int cda_render_html(const char *xml, size_t len, struct buf *out, char *err, size_t errlen)
{
	struct html h;
	struct buf body;
	memset(&h, 0, sizeof h);
	if (len > (size_t)INT32_MAX) {
		str_error(err, errlen, "CDA document too large");
		return -1;
	}
	buf_init(&body, BUF_UNLIMITED);
	h.out = &body;
	h.xp = XML_ParserCreateNS(NULL, '|');
	if (!h.xp) {
		buf_free(&body);
		str_error(err, errlen, "out of memory");
		return -1;
	}
	XML_SetUserData(h.xp, &h);
	XML_SetElementHandler(h.xp, on_start, on_end);
	XML_SetCharacterDataHandler(h.xp, on_text);
	XML_SetStartDoctypeDeclHandler(h.xp, on_doctype);
	int rc = 0;
	if (XML_Parse(h.xp, xml, (int)len, XML_TRUE) != XML_STATUS_OK) {
		str_error(err, errlen, "CDA: %s",
		          h.error[0] ? h.error : XML_ErrorString(XML_GetErrorCode(h.xp)));
		rc = -1;
	} else if (!h.structured) {
		rc = 1;
	} else if (page(out, &h, &body) < 0) {
		str_error(err, errlen, "CDA: the rendered page is too large");
		rc = -1;
	}
	XML_ParserFree(h.xp);
	buf_free(&body);
	return rc;
}
