/* vault_xdm_int.h: between the files that read an XDM archive (vault_xdm*.c) only. */
#ifndef MSS_VAULT_XDM_INT_H
#define MSS_VAULT_XDM_INT_H

#include <zip.h>

#include "vault/vault_xdm.h"

/* The libzip handle of an open archive (owned by it). */
zip_t *xdm_archive_zip(struct xdm_archive *a);

#endif
