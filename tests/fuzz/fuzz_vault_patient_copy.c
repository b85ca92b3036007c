/* fuzz-libs: vault audit directory store imap msg lib */
/* fuzz_vault_patient_copy.c: the patient-copy decision on a hostile message: parsed
 * (msg/), inspected (XDM archives opened for their metadata, CDA read), decided for the
 * patient whose INS the XDM seeds carry and for another one, and built by byte ranges.
 *
 * Invariants: never crashes; an archive holding an INVISIBLE_PATIENT document, a part
 * that was not inspected, is never kept; a copy that withholds anything carries its own
 * Message-ID and is never longer than the message plus one note; and the copy, parsed
 * and decided again, keeps everything (nothing it holds would have been withheld). */
#define _GNU_SOURCE /* memmem */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/config.h"
#include "lib/str.h"
#include "msg/msg.h"
#include "vault/vault_copy.h"
#include "vault/vault_inspect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct mss_config cfg; /* large: keep it off the stack */

static void check_plan(const struct vault_inspection *in, const struct vault_copy_plan *p)
{
	for (size_t i = 0; i < in->nitems; i++) {
		const struct vault_item *it = &in->items[i];
		bool invisible = false;
		for (size_t k = 0; it->kind == VITEM_XDM && k < it->md->ndocs; k++)
			invisible |= it->md->docs[k].invisible_patient;
		if ((invisible || it->kind == VITEM_UNINSPECTED) && p->parts[it->part] == VW_KEEP)
			abort();
	}
}

/* The copy, decided again, withholds nothing more. */
static void check_copy(const struct buf *out, const char *ins, const struct vault_limits *lim)
{
	struct msg m;
	struct vault_inspection in;
	struct vault_copy_plan p;
	char err[160];
	if (msg_parse(out->data, out->len, NULL, &m, err, sizeof err) != 0)
		abort(); /* we built it: it must parse */
	if (vault_inspect(&m, lim, &in) == 0 && vault_copy_decide(&in, ins, &p) == 0) {
		if (m.complete && (p.invisible || p.other_patient))
			abort();
		vault_copy_plan_free(&p);
	}
	vault_inspection_free(&in);
	msg_free(&m);
}

static void one(const struct msg *m, const struct vault_inspection *in, const char *ins,
                const struct vault_limits *lim, size_t size)
{
	struct vault_copy_plan p;
	struct buf out;
	if (vault_copy_decide(in, ins, &p) != 0)
		return;
	check_plan(in, &p);
	buf_init(&out, BUF_UNLIMITED);
	if (vault_copy_changes(&p) && vault_copy_build(&cfg, m, &p, &out) == 0) {
		static const char id[] = "Message-ID: <copie-patient.";
		if (vault_copy_withholds(&p) && memmem(out.data, out.len, id, sizeof id - 1) == NULL)
			abort(); /* the input may hold NULs: memmem, not strstr */
		if (out.len > size + 64 * 1024)
			abort(); /* each withheld part becomes at most one short note */
		check_copy(&out, ins, lim);
	}
	buf_free(&out);
	vault_copy_plan_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msg m;
	struct vault_inspection in;
	struct vault_limits lim;
	char err[160];
	str_assert(str_copy(cfg.patient_domain, sizeof cfg.patient_domain, "patient.mss.test"),
	           "test setup: constants and temporary paths that fit");
	cfg.max_message_size = 25u * 1024 * 1024;
	cfg.vault_max_documents = 8; /* small, so the limit is reached often */
	vault_limits_from_config(&cfg, &lim);
	if (msg_parse((const char *)data, size, NULL, &m, err, sizeof err) != 0)
		return 0;
	if (vault_inspect(&m, &lim, &in) == 0) {
		one(&m, &in, "146026322000196", &lim, size);
		one(&m, &in, "279035121518989", &lim, size);
		one(&m, &in, "", &lim, size);
	}
	vault_inspection_free(&in);
	msg_free(&m);
	return 0;
}
