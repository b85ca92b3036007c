/* vault_xdm_opaque.c: what inside an archive the server does not read (see
 * vault_xdm.h, xdm_check_opaque).
 *
 * A document's visibility (INVISIBLE_PATIENT) is read from the XDS metadata of the
 * archive that carries it. An archive inside the archive, a message inside it, an
 * encrypted entry or a second submission set would carry documents, and metadata, that
 * the server never reads while the patient's unzip tool or mail client opens them: the
 * archive is then not inspected, and so withheld from the patient (fail closed). */
#include <string.h>
#include <zip.h>

#include "lib/str.h"
#include "vault/vault_xdm.h"
#include "vault/vault_xdm_int.h"

#define XDM_SNIFF_LEN 265 /* tar's "ustar" sits at offset 257 */

static bool has_prefix(const unsigned char *d, size_t len, const char *magic, size_t mlen)
{
	return len >= mlen && memcmp(d, magic, mlen) == 0;
}

static bool container_magic(const unsigned char *d, size_t len)
{
	static const struct {
		const char *magic;
		size_t len;
	} magics[] = {
	    {"PK\3\4", 4},
	    {"PK\5\6", 4},
	    {"PK\7\10", 4}, /* ZIP, empty ZIP, spanned ZIP */
	    {"\x1f\x8b", 2},
	    {"BZh", 3},
	    {"\xfd"
	     "7zXZ\0",
	     6},                     /* gzip, bzip2, xz */
	    {"\x28\xb5\x2f\xfd", 4}, /* zstd */
	    {"7z\xbc\xaf\x27\x1c", 6},
	    {"Rar!\x1a\x07", 6},
	    {"MSCF", 4}, /* 7z, RAR, cabinet */
	    /* TNEF (winmail.dat: Outlook's wrapping of a message's attachments) and an
	     * armored OpenPGP message: both carry files the patient's client unwraps */
	    {"\x78\x9f\x3e\x22", 4},
	    {"-----BEGIN PGP MESSAGE-----", 27},
	};
	for (size_t i = 0; i < sizeof magics / sizeof magics[0]; i++)
		if (has_prefix(d, len, magics[i].magic, magics[i].len))
			return true;
	return len >= 262 && memcmp(d + 257, "ustar", 5) == 0;
}

static bool container_name(const char *name)
{
	static const char *const ext[] = {".zip", ".gz",  ".tgz", ".bz2",  ".xz",        ".zst",
	                                  ".7z",  ".rar", ".tar", ".cab",  ".eml",       ".p7m",
	                                  ".p7z", ".gpg", ".pgp", ".tnef", "winmail.dat"};
	size_t n = strlen(name);
	for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
		size_t e = strlen(ext[i]);
		if (n >= e && str_ieq(name + n - e, ext[i]))
			return true;
	}
	return false;
}

bool xdm_is_container(const void *data, size_t len, const char *name)
{
	return (data && container_magic(data, len)) || (name && container_name(name));
}

/* The first bytes of entry i: 0, -1 when it cannot be read. */
static int entry_head(zip_t *za, zip_uint64_t i, unsigned char *head, size_t *len)
{
	zip_file_t *zf = zip_fopen_index(za, i, 0);
	if (!zf)
		return -1;
	size_t got = 0;
	while (got < XDM_SNIFF_LEN) {
		zip_int64_t r = zip_fread(zf, head + got, XDM_SNIFF_LEN - got);
		if (r < 0) {
			zip_fclose(zf);
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	zip_fclose(zf);
	*len = got;
	return 0;
}

/* A METADATA.XML other than the one xdm_read_metadata reads. */
static bool other_metadata(const char *name)
{
	const char *base = strrchr(name, '/');
	base = base ? base + 1 : name;
	return str_ieq(base, "METADATA.XML") && !str_ieq(name, XDM_METADATA_PATH);
}

static enum xdm_result check_one(zip_t *za, zip_uint64_t i, char *err, size_t errlen)
{
	zip_stat_t sb;
	unsigned char head[XDM_SNIFF_LEN];
	size_t len = 0;
	zip_stat_init(&sb);
	if (zip_stat_index(za, i, 0, &sb) != 0 || !(sb.valid & ZIP_STAT_NAME)) {
		str_error(err, errlen, "unreadable archive entry");
		return XDM_NOT_ZIP;
	}
	if ((sb.valid & ZIP_STAT_ENCRYPTION_METHOD) && sb.encryption_method != ZIP_EM_NONE) {
		str_error(err, errlen, "an encrypted entry in the archive");
		return XDM_OPAQUE;
	}
	if (other_metadata(sb.name)) {
		str_error(err, errlen, "metadata other than IHE_XDM/SUBSET01/METADATA.XML in the archive");
		return XDM_OPAQUE;
	}
	if (sb.size == 0 && !xdm_is_container(NULL, 0, sb.name))
		return XDM_OK; /* a directory or an empty file */
	if (sb.size > 0 && entry_head(za, i, head, &len) != 0) {
		str_error(err, errlen, "an archive entry that cannot be read");
		return XDM_NOT_ZIP;
	}
	if (xdm_is_container(head, len, sb.name)) {
		str_error(err, errlen, "an archive or a message inside the archive");
		return XDM_OPAQUE;
	}
	return XDM_OK;
}

enum xdm_result xdm_check_opaque(struct xdm_archive *a, char *err, size_t errlen)
{
	zip_t *za = xdm_archive_zip(a);
	zip_int64_t n = zip_get_num_entries(za, 0);
	for (zip_int64_t i = 0; i < n; i++) {
		enum xdm_result r = check_one(za, (zip_uint64_t)i, err, errlen);
		if (r != XDM_OK)
			return r;
	}
	return XDM_OK;
}
