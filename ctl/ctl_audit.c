/* ctl_audit.c: mssctl audit verify [--anchor FILE] | anchor. */
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "lib/str.h"
#include "audit/audit.h"

/* A key pair the daemons' user owns lets that user re-sign a shortened log, or may be
 * one it put there to do so. An installation run from root keeps it root's (the
 * signer, init): there it is a failure; where everything runs as one user it can only
 * be a warning (privilege separation is reduced there). Returns 0 or CTL_REFUSED. */
static int check_key_owner(const struct ctl *c)
{
	static const char *const names[] = {"audit.key", "audit.pub"};
	char path[CONFIG_PATH_MAX + 32];
	struct stat sb;
	struct passwd *pw = getpwnam(c->cfg.user);
	if (pw == NULL || pw->pw_uid == 0)
		return CTL_OK;
	for (size_t i = 0; i < 2; i++) {
		if (str_format(path, sizeof path, "%s/keys/%s", c->cfg.data_dir, names[i]) != 0 ||
		    lstat(path, &sb) != 0 || sb.st_uid != pw->pw_uid)
			continue;
		if (c->started_as_root)
			return ctl_fail(
			    "audit verify: FAILED: %s belongs to the daemons' user \"%s\", not root: "
			    "it may have been replaced to re-sign the log (verify with --anchor)",
			    path, c->cfg.user);
		fprintf(stderr,
		        "mssctl: warning: %s belongs to the daemons' user \"%s\", who could re-sign a "
		        "shortened log: start the daemons and mssctl as root, and keep an anchor\n",
		        path, c->cfg.user);
	}
	return CTL_OK;
}

/* "-": standard input; else a file holding the anchor line. */
static int read_anchor(const char *from, struct audit_anchor *a)
{
	char line[512] = "", err[256];
	FILE *f = strcmp(from, "-") == 0 ? stdin : fopen(from, "re");
	if (f == NULL)
		return ctl_fail("audit verify: cannot read the anchor %s", from);
	if (fgets(line, sizeof line, f) == NULL)
		line[0] = '\0';
	if (f != stdin)
		fclose(f);
	if (audit_anchor_parse(line, a, err, sizeof err) != 0)
		return ctl_fail("audit verify: %s: %s", from, err);
	return CTL_OK;
}

/* Exit 0 only when every record, checkpoint and the signed head hold (and the anchor,
 * when given, is in the chain); otherwise one line naming the first broken record. */
static int audit_verify_cmd(struct ctl *c, const char *anchor_from)
{
	struct audit_verify_result r;
	struct audit_anchor a;

	if (anchor_from && read_anchor(anchor_from, &a) != CTL_OK)
		return CTL_REFUSED;
	if (ctl_open_store(c) != 0)
		return CTL_REFUSED;
	/* with an anchor the key comes from it, not from the files */
	if (!anchor_from && check_key_owner(c) != CTL_OK)
		return CTL_REFUSED;
	int rc = audit_verify_anchored(c->store, NULL, anchor_from ? &a : NULL, &r);
	if (rc < 0)
		return ctl_fail("audit verify: cannot check: %s", r.why);
	if (rc > 0)
		return ctl_fail("audit verify: FAILED at record %lld: %s", (long long)r.broken_seq, r.why);
	printf("audit verify: ok: %lld records, %lld signed checkpoints, chain and signed head hold",
	       (long long)r.records, (long long)r.checkpoints);
	if (r.unsigned_tail > 0)
		printf(" (%lld newest records not signed yet)", (long long)r.unsigned_tail);
	if (anchor_from)
		printf("; anchor at record %lld holds", (long long)r.anchor_seq);
	printf("\n");
	return CTL_OK;
}

/* Prints the signed head of a log that verifies, for safekeeping off the machine. */
static int audit_anchor_cmd(struct ctl *c)
{
	struct audit_verify_result r;
	struct audit_anchor a;
	char line[512];

	if (ctl_open_store(c) != 0)
		return CTL_REFUSED;
	int rc = audit_anchor_take(c->store, NULL, &a, &r);
	if (rc < 0)
		return ctl_fail("audit anchor: cannot check: %s", r.why);
	if (rc > 0)
		return ctl_fail("audit anchor: the log does not verify (FAILED at record %lld: %s)",
		                (long long)r.broken_seq, r.why);
	if (audit_anchor_format(&a, line, sizeof line) != 0)
		return ctl_fail("audit anchor: does not fit");
	printf("%s\n", line);
	return CTL_OK;
}

int ctl_audit(struct ctl *c, int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "verify") == 0)
		return audit_verify_cmd(c, NULL);
	if (argc == 4 && strcmp(argv[1], "verify") == 0 && strcmp(argv[2], "--anchor") == 0)
		return audit_verify_cmd(c, argv[3]);
	if (argc == 2 && strcmp(argv[1], "anchor") == 0)
		return audit_anchor_cmd(c);
	return ctl_usage("usage: audit verify [--anchor FILE|-] | audit anchor");
}
