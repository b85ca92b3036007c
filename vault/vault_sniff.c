/* vault_sniff.c: what a part's bytes really are (magic numbers first), and whether a
 * part is a document at all. */
#include <stdlib.h>
#include <string.h>

#include "lib/str.h"
#include "msg/msg.h"
#include "vault/vault_int.h"

static const char *magic_type(const char *d, size_t len);

/* The inline text or HTML body is the message, not a document; anything attached,
 * named, of another type, or whose bytes are a known document format is one. */
bool vault_is_document(const struct msg_part *p, const char *data, size_t len)
{
	if (str_iprefix(p->type, "multipart/") || str_iprefix(p->type, "message/"))
		return false;
	if (p->attachment || p->filename[0])
		return true;
	if (!str_ieq(p->type, "text/plain") && !str_ieq(p->type, "text/html"))
		return true;
	return magic_type(data, len) != NULL; /* a PDF sent as text/plain is one */
}

static bool has_prefix(const char *d, size_t len, const char *magic, size_t mlen)
{
	return len >= mlen && memcmp(d, magic, mlen) == 0;
}

/* "begin" SP mode SP name, the mode 3 or 4 octal digits (uuencode(1)). */
static bool uu_begin(const char *l, size_t n)
{
	size_t i = 6;
	if (!has_prefix(l, n, "begin ", 6))
		return false;
	while (i < n && l[i] >= '0' && l[i] <= '7')
		i++;
	return i - 6 >= 3 && i - 6 <= 4 && i + 1 < n && l[i] == ' ' && (unsigned char)l[i + 1] > ' ';
}

bool vault_text_embeds_file(const char *data, size_t len)
{
	static const char binhex[] = "(This file must be converted with BinHex";
	for (size_t at = 0; data && at < len;) {
		const char *nl = memchr(data + at, '\n', len - at);
		size_t end = nl ? (size_t)(nl - data) : len;
		const char *l = data + at;
		size_t n = end - at;
		/* inline OpenPGP (RFC 4880 6.2): the patient's client decrypts it in place */
		if (uu_begin(l, n) || has_prefix(l, n, "=ybegin ", 8) ||
		    has_prefix(l, n, binhex, sizeof binhex - 1) ||
		    has_prefix(l, n, "-----BEGIN PGP MESSAGE-----", 27))
			return true;
		at = end + 1;
	}
	return false;
}

bool vault_pdf_embeds_file(const char *data, size_t len)
{
	return data && (memmem(data, len, "/EmbeddedFile", 13) || memmem(data, len, "/RichMedia", 10));
}

/* A CDA document: XML whose first element is ClinicalDocument. */
static bool looks_cda(const char *d, size_t len)
{
	/* looked for in place: a copy on the stack would leave the document's first
	 * bytes there for the next peer of a reused session process (lib/master.h) */
	size_t n = len < 4096 ? len : 4096;
	return memmem(d, n, "<ClinicalDocument", 17) || memmem(d, n, ":ClinicalDocument", 17);
}

static const char *magic_type(const char *d, size_t len)
{
	if (!d || len == 0)
		return NULL;
	if (has_prefix(d, len, "%PDF-", 5))
		return "application/pdf";
	if (has_prefix(d, len, "PK\3\4", 4))
		return "application/zip";
	if (has_prefix(d, len, "\xff\xd8\xff", 3))
		return "image/jpeg";
	if (has_prefix(d, len, "\x89PNG\r\n\x1a\n", 8))
		return "image/png";
	if (has_prefix(d, len, "GIF87a", 6) || has_prefix(d, len, "GIF89a", 6))
		return "image/gif";
	if (has_prefix(d, len, "II*\0", 4) || has_prefix(d, len, "MM\0*", 4))
		return "image/tiff";
	if (len > 132 && memcmp(d + 128, "DICM", 4) == 0)
		return "application/dicom";
	if (looks_cda(d, len))
		return "text/xml";
	return NULL;
}

void vault_sniff(const char *data, size_t len, const char *declared, const char *filename, char *out,
                 size_t outlen)
{
	const char *m = magic_type(data, len);
	/* the constants below are 24 bytes at most: outlen is VAULT_MIME_SIZE or more */
	if (m) {
		str_assert(str_copy(out, outlen, m), "a constant type into VAULT_MIME_SIZE");
		return;
	}
	/* Declared as a known binary format the bytes are not: do not vouch for it. */
	if (str_ieq(declared, "application/pdf") || str_ieq(declared, "application/zip") ||
	    str_iprefix(declared, "image/")) {
		str_assert(str_copy(out, outlen, "application/octet-stream"),
		           "a constant into VAULT_MIME_SIZE");
		return;
	}
	/* A declared type is written into the document's headers: only a bare type/subtype
	 * (an XDM mimeType attribute can carry "&#13;&#10;" and whole header lines). */
	if (declared && msg_mime_type_valid(declared) && !str_ieq(declared, "application/octet-stream") &&
	    str_copy(out, outlen, declared) == 0) { /* a longer one is not vouched for either */
		str_lower(out);
		return;
	}
	size_t fl = filename ? strlen(filename) : 0;
	const char *t = "application/octet-stream";
	if (fl > 4 && str_ieq(filename + fl - 4, ".txt") && str_is_utf8(data, len))
		t = "text/plain";
	else if (fl > 4 && str_ieq(filename + fl - 4, ".xml"))
		t = "text/xml";
	str_assert(str_copy(out, outlen, t), "a constant into VAULT_MIME_SIZE");
}
