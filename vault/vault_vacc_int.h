/* vault_vacc_int.h: what the book's two files share (vault_vacc.c rebuilds the book,
 * vault_vacc_pending.c records a filed document's entries for the next rebuild). Not
 * for other parts. */
#ifndef MSS_VAULT_VACC_INT_H
#define MSS_VAULT_VACC_INT_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "vault/vault_vacc.h"

struct buf;

/* The machine header of a message of entries waiting for the book (vault_vacc.h):
 * "<number of entries> <actor> <auth> <peer or ->", the actor being who filed them. */
#define VAULT_VACC_ENTRIES_MARK "X-MSS-Vaccination-Entries"

/* The FHIR Bundle of n entries (Immunization resources of patient), as JSON text to
 * free; NULL when memory runs out. */
char *vault_vacc_bundle(const char *patient, const struct vault_vacc_entry *e, size_t n, int64_t when);

/* One French line per entry ("- 15/01/2025 : Repevax, dose 2, par Dr Martin"), and the
 * warning about self-declared ones when there is one. Returns 0 or -1. */
int vault_vacc_lines(struct buf *t, const struct vault_vacc_entry *e, size_t n);

/* The book's stale mark (vault_vacc_stale, no key): its generation, 0 when the book is
 * up to date. Returns 0 or -1 with err. */
int vault_vacc_stale_get(struct store *st, const char *patient, int64_t *generation, char *err,
                         size_t errlen);
/* Clears the mark if it is still at generation (a filing since leaves it). 0 or -1. */
int vault_vacc_stale_clear(struct store *st, const char *patient, int64_t generation, char *err,
                           size_t errlen);

#endif
