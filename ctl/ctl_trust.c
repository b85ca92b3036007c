/* ctl_trust.c: mssctl trust import FILE | trust list [DOMAIN-TEXT]. */
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"
#include "directory/trust.h"
#include "lib/str.h"

static int import_cmd(struct ctl *c, int argc, char **argv)
{
	if (argc != 3)
		return ctl_usage("trust import needs a FILE");
	if (ctl_open_store(c) < 0)
		return CTL_REFUSED;
	struct trust_import_result r;
	char err[512], detail[200];
	int rc = trust_import(c->store, argv[2], &r, err, sizeof err);
	if (rc != 0) {
		ctl_audit_action(c, "admin.trust.import", argv[2], NULL, rc < 0 ? "error" : "refused", NULL);
		return ctl_fail("trust import %s: %s", argv[2], err);
	}
	str_assert(str_format(detail, sizeof detail, "domains=%llu entries=%llu added=%llu removed=%llu",
	                      (unsigned long long)r.domains, (unsigned long long)r.entries,
	                      (unsigned long long)r.added, (unsigned long long)r.removed),
	           "four 20-digit numbers and 34 bytes of keys fit 200 bytes");
	ctl_audit_action(c, "admin.trust.import", argv[2], detail, "ok", NULL);
	printf("imported %s: %llu domains, %llu entries (added %llu, removed %llu)\n", argv[2],
	       (unsigned long long)r.domains, (unsigned long long)r.entries, (unsigned long long)r.added,
	       (unsigned long long)r.removed);
	return CTL_OK;
}

static int print_entry(const struct trust_entry *e, void *arg)
{
	(void)arg;
	printf("%-40s %s | %s | %s\n", e->domain, e->dn, e->updated, e->description);
	return 0;
}

static int list_cmd(struct ctl *c, int argc, char **argv)
{
	if (argc > 3)
		return ctl_usage("trust list takes at most one DOMAIN text");
	if (ctl_open_store(c) < 0)
		return CTL_REFUSED;
	int n = trust_foreach(c->store, argc == 3 ? argv[2] : NULL, print_entry, NULL);
	if (n < 0)
		return ctl_fail("cannot read the trust list");
	printf("%d entr%s\n", n, n == 1 ? "y" : "ies");
	return CTL_OK;
}

int ctl_trust(struct ctl *c, int argc, char **argv)
{
	if (argc < 2)
		return ctl_usage("trust needs import or list");
	if (strcmp(argv[1], "import") == 0)
		return import_cmd(c, argc, argv);
	if (strcmp(argv[1], "list") == 0)
		return list_cmd(c, argc, argv);
	return ctl_usage("unknown trust command \"%s\"", argv[1]);
}
