/* fuzz-libs: directory lib */
/* fuzz_trust_xml: the trust list parser (expat, namespaces, no DTD) and the DN
 * canonicaliser on arbitrary bytes. Every (domain, DN) pair the parser hands over must
 * have a valid domain and a DN whose canonical key can be computed; the same bytes are
 * also given to dn_canonical directly, in both RDN orders. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "directory/dn.h"
#include "directory/trust.h"

static int check_entry(const struct trust_entry *e, void *arg)
{
	char key[DN_KEY_MAX], err[96];
	(void)arg;
	if (e->domain[0] == '\0' || dn_canonical(e->dn, false, key, sizeof key, err, sizeof err) != 0)
		__builtin_trap();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	trust_xml_parse((const char *)data, size, check_entry, NULL, err, sizeof err);
	if (size > 4096)
		return 0;
	char *s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	char k1[DN_KEY_MAX], k2[DN_KEY_MAX];
	int r1 = dn_canonical(s, false, k1, sizeof k1, err, sizeof err);
	int r2 = dn_canonical(s, true, k2, sizeof k2, err, sizeof err);
	if (r1 != r2)
		__builtin_trap();
	/* A canonical key is itself a DN with the same key (idempotence). */
	if (r1 == 0 && s[0] != '/') {
		char k3[DN_KEY_MAX];
		if (dn_canonical(k1, false, k3, sizeof k3, err, sizeof err) != 0 || strcmp(k1, k3) != 0)
			__builtin_trap();
	}
	free(s);
	return 0;
}
