/* ctl_audit.c: mssctl audit verify. */
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"
#include "audit/audit.h"

/* Exit 0 only when every record, checkpoint and the signed head hold; otherwise one
 * line naming the first broken record. */
static int audit_verify_cmd(struct ctl *c)
{
	struct audit_verify_result r;

	if (ctl_open_store(c) != 0)
		return CTL_REFUSED;
	int rc = audit_verify(c->store, NULL, &r);
	if (rc < 0)
		return ctl_fail("audit verify: cannot check: %s", r.why);
	if (rc > 0)
		return ctl_fail("audit verify: FAILED at record %lld: %s", (long long)r.broken_seq, r.why);
	printf("audit verify: ok: %lld records, %lld signed checkpoints, chain and signed head hold\n",
	       (long long)r.records, (long long)r.checkpoints);
	return CTL_OK;
}

int ctl_audit(struct ctl *c, int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "verify") == 0)
		return audit_verify_cmd(c);
	return ctl_usage("usage: audit verify");
}
