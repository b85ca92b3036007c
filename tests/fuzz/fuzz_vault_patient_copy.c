/* fuzz-libs: vault audit directory store lib */
/* fuzz_vault_patient_copy.c: the patient's copy of a hostile message (libetpan parse,
 * XDM archives opened for their metadata, parts cut out by byte range). Never
 * crashes; a rewritten copy always carries its own Message-ID and is never longer than
 * the message plus the notes. */
#define _GNU_SOURCE /* memmem */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/config.h"
#include "lib/str.h"
#include "vault/vault.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct mss_config cfg; /* large: keep it off the stack */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf out;
	str_copy(cfg.patient_domain, sizeof cfg.patient_domain, "patient.mss.test");
	buf_init(&out, BUF_UNLIMITED);
	int rc = vault_patient_copy(&cfg, (const char *)data, size, &out);
	static const char id[] = "Message-ID: <copie-patient.";
	if (rc == 1 && memmem(out.data, out.len, id, sizeof id - 1) == NULL) /* the input may hold NULs */
		abort();
	if (rc == 1 && out.len > size + 64 * 1024)
		abort(); /* each withheld part becomes at most one short note */
	buf_free(&out);
	return 0;
}
