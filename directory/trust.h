/* trust.h: the trust list (liste blanche): which operator certificate DN may send for
 * which mail domain of the trust space.
 *
 * The XML parser (trust_xml.c) is pure and fuzzable; the rest keeps the list in the
 * table trust_domain(domain, dn_key, dn, description, updated), dn_key being the DN's
 * canonical key (dn.h), so that a lookup compares RDN components, never raw strings. */
#ifndef MSS_TRUST_H
#define MSS_TRUST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lib/mss_limits.h"
#include "store/store.h"

#define TRUST_NS "https://listeblanche.mssante.fr/schema"
#define TRUST_FIELD_MAX MSS_TRUST_FIELD_SIZE

struct trust_entry {
	char domain[256]; /* lowercase */
	char dn[TRUST_FIELD_MAX];
	char description[TRUST_FIELD_MAX];
	char updated[64]; /* DateMAJ as written */
};

/* Parses a ListeBlancheMSSante document with expat and calls fn once per (domain, DN)
 * pair (a Domaine element with several DNCertificatOperateur gives several calls); fn
 * returning non-zero stops with that error. A DOCTYPE (and so any entity declaration) is
 * refused at once: the list never needs one, and refusing it defeats entity expansion
 * attacks (billion laughs) before any expansion happens. Refused as well: malformed XML,
 * a root element other than ListeBlancheMSSante in namespace TRUST_NS, a Domaine without
 * Nom or DN, a bad domain name, a DN that does not parse, a field over TRUST_FIELD_MAX.
 * Returns 0, or -1 with err (with the XML line number where it helps). */
int trust_xml_parse(const char *data, size_t len, int (*fn)(const struct trust_entry *e, void *arg),
                    void *arg, char *err, size_t errlen);
/* The same, reading f in chunks (bounded memory). */
int trust_xml_parse_file(FILE *f, int (*fn)(const struct trust_entry *e, void *arg), void *arg, char *err,
                         size_t errlen);

struct trust_import_result {
	uint64_t entries; /* (domain, DN) pairs in the file, duplicates counted once */
	uint64_t domains; /* distinct domains */
	uint64_t added, removed;
};

/* Replaces the trust list with the file's, in one transaction: a refused file changes
 * nothing. Returns 0, 1 refused (err), -1 database error (err). */
int trust_import(struct store *st, const char *path, struct trust_import_result *r, char *err, size_t errlen);

/* 1 when dn (any spelling, RFC 4514 or OpenSSL oneline) is listed for domain, 0 when not
 * (or dn does not parse), -1 on a database error. */
int trust_is_listed(struct store *st, const char *domain, const char *dn);
/* 1 when dn is listed for at least one domain (an operator's bounce, MAIL FROM:<>). */
int trust_dn_known(struct store *st, const char *dn);
/* 1 when domain belongs to the trust space (listed), 0 when not, -1 on error. */
int trust_domain_known(struct store *st, const char *domain);
/* Calls fn for each listed pair in domain order; pattern, when not NULL, keeps the
 * domains that contain it. Returns the count or -1. */
int trust_foreach(struct store *st, const char *pattern, int (*fn)(const struct trust_entry *e, void *arg),
                  void *arg);

#endif
