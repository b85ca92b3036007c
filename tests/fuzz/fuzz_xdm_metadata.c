/* fuzz-libs: vault lib */
/* fuzz_xdm_metadata.c: the IHE XDM reader on hostile bytes.
 *
 * The first byte picks the entry point: 2 = the CDA reader (expat), other even
 * values = METADATA.XML parser (expat) on the rest; odd = the whole archive path (libzip from memory, limits,
 * METADATA.XML, every document named in it, hash and size checks). Neither may crash, leak, read out of
 * bounds or inflate past the limits. */
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "vault/vault_cda.h"
#include "vault/vault_xdm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct xdm_metadata md; /* large: keep it off the stack */

static void archive(const char *data, size_t len)
{
	struct xdm_limits lim;
	struct xdm_archive *a = NULL;
	char err[256];

	xdm_limits_default(&lim);
	lim.max_total = 4u * 1024 * 1024; /* keep each run fast */
	lim.max_entry = 2u * 1024 * 1024;
	if (xdm_open(data, len, &lim, &a, err, sizeof err) != XDM_OK)
		return;
	if (xdm_read_metadata(a, &md, err, sizeof err) == XDM_OK) {
		for (size_t i = 0; i < md.ndocs; i++) {
			struct buf b;
			buf_init(&b, BUF_UNLIMITED);
			if (xdm_read_document(a, md.docs[i].uri, &b, err, sizeof err) == 0)
				(void)xdm_check_document(&md.docs[i], b.data, b.len, err, sizeof err);
			buf_free(&b);
		}
	}
	xdm_close(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	if (size == 0)
		return 0;
	if (data[0] & 1) {
		archive((const char *)data + 1, size - 1);
	} else if (data[0] == 2) {
		struct cda_info ci;
		(void)cda_parse((const char *)data + 1, size - 1, &ci, err, sizeof err);
	} else {
		(void)xdm_metadata_parse((const char *)data + 1, size - 1, &md, err, sizeof err);
	}
	return 0;
}
