/* vault_xdm.c: IHE XDM archives read from memory with libzip, within limits.
 *
 * Sizes come from the central directory and are checked for every entry before
 * anything is inflated; reads are then capped at the declared size, so an entry
 * that lies about its size cannot make us produce more. */
#include "vault/vault_xdm.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "lib/str.h"
#include "vault/vault_xdm_int.h"

#define XDM_SUBSET "IHE_XDM/SUBSET01/"
#define XDM_RATIO_FLOOR (64 * 1024) /* small entries may compress very well, harmlessly */
#define XDM_METADATA_MAX (8u * 1024 * 1024)

struct xdm_archive {
	zip_t *za;
	struct xdm_limits lim;
	uint64_t total; /* the entries' uncompressed sizes, added up */
};

void xdm_limits_default(struct xdm_limits *l)
{
	l->max_entries = 256;
	l->max_total = 64ull * 1024 * 1024;
	l->max_entry = 32ull * 1024 * 1024;
	l->max_ratio = 200;
}

const char *xdm_result_text(enum xdm_result r)
{
	switch (r) {
	case XDM_OK:
		return "ok";
	case XDM_NOT_ZIP:
		return "not a readable ZIP archive";
	case XDM_TOO_LARGE:
		return "archive over the size limits (zip bomb?)";
	case XDM_NO_METADATA:
		return "no IHE_XDM/SUBSET01/METADATA.XML in the archive";
	case XDM_BAD_METADATA:
		return "METADATA.XML is not valid XDS metadata";
	case XDM_OPAQUE:
		return "the archive holds what the server cannot inspect";
	}
	return "unknown";
}

static enum xdm_result check_entry(const zip_stat_t *sb, const struct xdm_limits *lim, uint64_t *total,
                                   char *err, size_t errlen)
{
	if (!(sb->valid & ZIP_STAT_SIZE) || !(sb->valid & ZIP_STAT_COMP_SIZE)) {
		str_error(err, errlen, "archive entry without sizes");
		return XDM_NOT_ZIP;
	}
	if (sb->size > lim->max_entry) {
		str_error(err, errlen, "an entry inflates to %llu bytes (limit %llu)",
		          (unsigned long long)sb->size, (unsigned long long)lim->max_entry);
		return XDM_TOO_LARGE;
	}
	if (sb->size > XDM_RATIO_FLOOR && (sb->comp_size == 0 || sb->size / sb->comp_size > lim->max_ratio)) {
		str_error(err, errlen, "an entry's compression ratio is over %llu",
		          (unsigned long long)lim->max_ratio);
		return XDM_TOO_LARGE;
	}
	*total += sb->size;
	if (*total > lim->max_total) {
		str_error(err, errlen, "the archive inflates to more than %llu bytes",
		          (unsigned long long)lim->max_total);
		return XDM_TOO_LARGE;
	}
	return XDM_OK;
}

static enum xdm_result check_limits(zip_t *za, const struct xdm_limits *lim, uint64_t *total_r, char *err,
                                    size_t errlen)
{
	zip_int64_t n = zip_get_num_entries(za, 0);
	uint64_t total = 0;
	if (n < 0) {
		str_error(err, errlen, "unreadable archive directory");
		return XDM_NOT_ZIP;
	}
	if ((uint64_t)n > lim->max_entries) {
		str_error(err, errlen, "%lld entries (limit %llu)", (long long)n,
		          (unsigned long long)lim->max_entries);
		return XDM_TOO_LARGE;
	}
	for (zip_int64_t i = 0; i < n; i++) {
		zip_stat_t sb;
		zip_stat_init(&sb);
		if (zip_stat_index(za, (zip_uint64_t)i, 0, &sb) != 0) {
			str_error(err, errlen, "unreadable archive entry");
			return XDM_NOT_ZIP;
		}
		enum xdm_result r = check_entry(&sb, lim, &total, err, errlen);
		if (r != XDM_OK)
			return r;
	}
	*total_r = total;
	return XDM_OK;
}

enum xdm_result xdm_open(const void *zip, size_t len, const struct xdm_limits *lim, struct xdm_archive **out,
                         char *err, size_t errlen)
{
	zip_error_t ze;
	zip_error_init(&ze);
	*out = NULL;
	zip_source_t *src = zip_source_buffer_create(zip, len, 0, &ze);
	if (!src) {
		zip_error_fini(&ze);
		str_error(err, errlen, "cannot read the archive");
		return XDM_NOT_ZIP;
	}
	zip_t *za = zip_open_from_source(src, ZIP_RDONLY, &ze);
	if (!za) {
		str_error(err, errlen, "not a ZIP archive: %s", zip_error_strerror(&ze));
		zip_source_free(src);
		zip_error_fini(&ze);
		return XDM_NOT_ZIP;
	}
	zip_error_fini(&ze);
	uint64_t total = 0;
	enum xdm_result r = check_limits(za, lim, &total, err, errlen);
	if (r != XDM_OK) {
		zip_discard(za);
		return r;
	}
	struct xdm_archive *a = xcalloc(1, sizeof *a);
	a->za = za;
	a->lim = *lim;
	a->total = total;
	*out = a;
	return XDM_OK;
}

zip_t *xdm_archive_zip(struct xdm_archive *a)
{
	return a->za;
}

uint64_t xdm_archive_total(const struct xdm_archive *a)
{
	return a ? a->total : 0;
}

void xdm_close(struct xdm_archive *a)
{
	if (!a)
		return;
	zip_discard(a->za);
	free(a);
}

/* Reads entry name (case-insensitive) into out, at most max bytes. 1 missing, -1 bad. */
static int read_entry(struct xdm_archive *a, const char *name, uint64_t max, struct buf *out, char *err,
                      size_t errlen)
{
	zip_int64_t idx = zip_name_locate(a->za, name, ZIP_FL_NOCASE);
	zip_stat_t sb;
	if (idx < 0)
		return 1;
	zip_stat_init(&sb);
	if (zip_stat_index(a->za, (zip_uint64_t)idx, 0, &sb) != 0 || sb.size > max) {
		str_error(err, errlen, "archive entry too large or unreadable");
		return -1;
	}
	zip_file_t *zf = zip_fopen_index(a->za, (zip_uint64_t)idx, 0);
	if (!zf) {
		str_error(err, errlen, "cannot open an archive entry");
		return -1;
	}
	uint64_t want = sb.size;
	/* straight into out, which has room for the declared size and one byte more (to
	 * see an entry longer than declared): no copy of a patient's document is left on
	 * the stack of a process that serves other peers next (lib/master.h reuse) */
	int rc = buf_reserve(out, (size_t)want + 1);
	while (rc == 0) {
		zip_int64_t r = zip_fread(zf, out->data + out->len, want + 1);
		if (r < 0) {
			str_error(err, errlen, "corrupt archive entry: %s",
			          zip_error_strerror(zip_file_get_error(zf)));
			rc = -1;
		} else if (r == 0) {
			break;
		} else if ((uint64_t)r > want) {
			str_error(err, errlen, "archive entry larger than declared");
			rc = -1;
		} else {
			buf_added(out, (size_t)r);
			want -= (uint64_t)r;
		}
	}
	zip_fclose(zf);
	if (rc == 0 && want != 0) {
		str_error(err, errlen, "archive entry shorter than declared");
		rc = -1;
	}
	return rc;
}

enum xdm_result xdm_read_metadata(struct xdm_archive *a, struct xdm_metadata *md, char *err, size_t errlen)
{
	struct buf xml;
	buf_init_wiped(&xml, XDM_METADATA_MAX); /* the patient's names and the documents' titles */
	int rc = read_entry(a, XDM_METADATA_PATH, XDM_METADATA_MAX, &xml, err, errlen);
	enum xdm_result r = XDM_OK;
	if (rc == 1) {
		str_error(err, errlen, "%s", xdm_result_text(XDM_NO_METADATA));
		r = XDM_NO_METADATA;
	} else if (rc < 0 || xdm_metadata_parse(xml.data, xml.len, md, err, errlen) != 0) {
		r = XDM_BAD_METADATA;
	}
	buf_free(&xml);
	return r;
}

/* A URI is a plain relative name: no "..", no absolute path, no backslash. */
static bool uri_safe(const char *uri)
{
	if (!uri[0] || uri[0] == '/' || strchr(uri, '\\') || strstr(uri, ".."))
		return false;
	for (const char *p = uri; *p; p++)
		if ((unsigned char)*p < 0x20)
			return false;
	return true;
}

int xdm_read_document(struct xdm_archive *a, const char *uri, struct buf *out, char *err, size_t errlen)
{
	char path[512];
	if (!uri_safe(uri) || str_format(path, sizeof path, "%s%s", XDM_SUBSET, uri) != 0) {
		str_error(err, errlen, "unsafe or empty document URI in METADATA.XML");
		return -1;
	}
	int rc = read_entry(a, path, a->lim.max_entry, out, err, errlen);
	if (rc == 1)
		str_error(err, errlen, "a document named in METADATA.XML is missing from the archive");
	return rc == 0 ? 0 : -1;
}

int xdm_check_document(const struct xdm_document *d, const void *data, size_t len, char *err, size_t errlen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1];

	if (d->has_size && d->size != (uint64_t)len) {
		str_error(err, errlen, "document size %zu differs from the metadata (%llu)", len,
		          (unsigned long long)d->size);
		return -1;
	}
	if (!d->hash[0])
		return 0;
	if (EVP_Digest(data, len, md, &mdlen, EVP_sha1(), NULL) != 1) {
		str_error(err, errlen, "cannot compute SHA-1");
		return -1;
	}
	str_hex(hex, md, mdlen);
	if (!str_ieq(hex, d->hash)) {
		str_error(err, errlen, "document SHA-1 differs from the metadata hash");
		return -1;
	}
	return 0;
}
