/* ctl_account.c: mssctl account add|list|show|disable|enable|delete|passwd|set-cert. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "auth/auth_session.h"
#include "ctl/ctl.h"
#include "directory/account.h"
#include "lib/crypto.h"
#include "lib/str.h"
#include "policy/policy.h"

#define PASSWORD_MAX 1024

struct add_options {
	struct account a;
	const char *cert;
	bool password_stdin;
};

/* Copies an option's value, refusing one that is missing or too long. */
static int option_value(int argc, char **argv, int *i, char *out, size_t outlen)
{
	if (*i + 1 >= argc)
		return ctl_usage("%s needs a value", argv[*i]);
	if (str_copy(out, outlen, argv[++*i]) < 0)
		return ctl_usage("%s: value is too long", argv[*i - 1]);
	return 0;
}

static int parse_add(int argc, char **argv, struct add_options *o)
{
	char role[32] = "";
	memset(o, 0, sizeof *o);
	if (argc < 3 || argv[2][0] == '-')
		return ctl_usage("account add needs an ADDRESS");
	if (str_copy(o->a.address, sizeof o->a.address, argv[2]) < 0)
		return ctl_fail("address is too long");
	str_lower(o->a.address);
	for (int i = 3; i < argc; i++) {
		int rc = 0;
		if (strcmp(argv[i], "--role") == 0)
			rc = option_value(argc, argv, &i, role, sizeof role);
		else if (strcmp(argv[i], "--name") == 0)
			rc = option_value(argc, argv, &i, o->a.name, sizeof o->a.name);
		else if (strcmp(argv[i], "--rpps") == 0)
			rc = option_value(argc, argv, &i, o->a.rpps, sizeof o->a.rpps);
		else if (strcmp(argv[i], "--finess") == 0)
			rc = option_value(argc, argv, &i, o->a.finess, sizeof o->a.finess);
		else if (strcmp(argv[i], "--cert-sha256") == 0 && i + 1 < argc)
			o->cert = argv[++i];
		else if (strcmp(argv[i], "--password-stdin") == 0)
			o->password_stdin = true;
		else
			return ctl_usage("account add: unknown option \"%s\"", argv[i]);
		if (rc != 0)
			return rc;
	}
	if (role[0] == '\0')
		return ctl_usage("account add needs --role patient|professional|organisation");
	o->a.role = account_role_parse(role);
	if (o->a.role == 0)
		return ctl_usage("bad role \"%s\": patient, professional or organisation", role);
	return 0;
}

/* Reads one line from stdin without its newline. Returns 0 or -1. */
static int read_password(char *out, size_t outlen)
{
	if (fgets(out, (int)outlen, stdin) == NULL)
		return -1;
	size_t n = strlen(out);
	if (n > 0 && out[n - 1] == '\n')
		out[--n] = '\0';
	else if (n == outlen - 1)
		return -1;
	if (n > 0 && out[n - 1] == '\r')
		out[--n] = '\0';
	return n > 0 ? 0 : -1;
}

/* The account row and its mailboxes are created in one transaction: all or nothing. */
static int add_in_transaction(struct ctl *c, const struct add_options *o, const char *password)
{
	char err[512];
	if (account_add(c->store, &o->a, password, o->cert, err, sizeof err) != 0)
		return ctl_fail("%s", err);
	return 0;
}

static int account_add_cmd(struct ctl *c, int argc, char **argv)
{
	struct add_options o;
	int rc = parse_add(argc, argv, &o);
	if (rc != 0)
		return rc;
	char password[PASSWORD_MAX], err[512];
	if (account_address_allowed(&c->cfg, o.a.address, o.a.role, err, sizeof err) != 0)
		return ctl_fail("%s", err);
	if (o.password_stdin && read_password(password, sizeof password) < 0)
		return ctl_fail("--password-stdin: no password (or longer than %d bytes) on standard input",
		                PASSWORD_MAX - 1);
	if (o.password_stdin && account_password_allowed(&c->cfg, password, err, sizeof err) != 0) {
		sodium_memzero(password, sizeof password);
		return ctl_fail("%s", err);
	}
	if (ctl_open_store(c) < 0)
		return CTL_REFUSED;
	rc = add_in_transaction(c, &o, o.password_stdin ? password : NULL);
	sodium_memzero(password, sizeof password);
	if (rc != 0)
		return rc;
	ctl_audit_action(c, "admin.account.add", o.a.address, account_role_name(o.a.role), "ok", NULL);
	printf("added %s (%s)\n", o.a.address, account_role_name(o.a.role));
	return CTL_OK;
}

static int print_row(const struct account *a, void *arg)
{
	(void)arg;
	printf("%-40s %-13s %-8s %s\n", a->address, account_role_name(a->role),
	       a->disabled ? "disabled" : "active", a->name);
	return 0;
}

static int account_list_cmd(struct ctl *c, int argc)
{
	if (argc != 2)
		return ctl_usage("account list takes no arguments");
	if (ctl_open_store(c) < 0)
		return CTL_REFUSED;
	if (account_foreach(c->store, print_row, NULL) < 0)
		return ctl_fail("cannot list accounts");
	return CTL_OK;
}

static int account_show_cmd(struct ctl *c, int argc, char **argv)
{
	if (argc != 3)
		return ctl_usage("account show needs an ADDRESS");
	if (ctl_open_store(c) < 0)
		return CTL_REFUSED;
	struct account a;
	int r = account_get(c->store, argv[2], &a);
	if (r < 0)
		return ctl_fail("cannot read accounts");
	if (r == 0)
		return ctl_fail("no account %s", argv[2]);
	char certs[1024], created[CTL_DATE_MAX], login[CTL_DATE_MAX];
	account_cert_list(c->store, a.id, certs, sizeof certs);
	printf("address: %s\nrole: %s\nname: %s\nrpps: %s\nfiness: %s\npassword: %s\ncertificates: %s\n"
	       "state: %s\ncreated: %s\nlast login: %s\n",
	       a.address, account_role_name(a.role), a.name, a.rpps, a.finess, a.has_password ? "yes" : "no",
	       certs[0] ? certs : "none", a.disabled ? "disabled" : "active",
	       ctl_date(a.created, created, sizeof created), ctl_date(a.last_login, login, sizeof login));
	return CTL_OK;
}

/* disable, enable: one address, one change, one audit record. */
static int account_state_cmd(struct ctl *c, int argc, char **argv, bool enable)
{
	if (argc != 3)
		return ctl_usage("account %s needs an ADDRESS", argv[1]);
	if (ctl_open_store(c) < 0)
		return CTL_REFUSED;
	char err[512];
	int r = enable ? account_enable(c->store, argv[2], err, sizeof err)
	               : policy_account_disable(c->store, argv[2], err, sizeof err);
	if (r != 0)
		return ctl_fail("%s", err);
	ctl_audit_action(c, enable ? "admin.account.enable" : "admin.account.disable", argv[2], NULL, "ok",
	                 NULL);
	printf("%s %s\n", enable ? "enabled" : "disabled", argv[2]);
	return CTL_OK;
}

static int account_delete_cmd(struct ctl *c, int argc, char **argv)
{
	if (argc != 3)
		return ctl_usage("account delete needs an ADDRESS");
	if (ctl_open_store(c) < 0)
		return CTL_REFUSED;
	char err[512];
	struct account a;
	int r = policy_account_delete(c->store, argv[2], &a, err, sizeof err);
	if (r == 1 || r < 0)
		return ctl_fail("%s", err);
	ctl_audit_action(c, "admin.account.delete", a.address, account_role_name(a.role),
	                 r == 0 ? "ok" : "partial", a.role == ROLE_PATIENT ? a.address : NULL);
	if (r == 2)
		return ctl_fail("%s deleted, but: %s", a.address, err);
	printf("deleted %s (%s)\n", a.address, account_role_name(a.role));
	return CTL_OK;
}

/* Ends every mss-webd session of address (stored under its lowercase address). */
static int end_web_sessions(struct ctl *c, const char *address, char *err, size_t errlen)
{
	char key[256];

	if (str_copy(key, sizeof key, address) < 0)
		return 0; /* no such account: account_set_password said so */
	str_lower(key);
	return auth_session_end_others(c->store, key, NULL, err, errlen);
}

static int account_passwd_cmd(struct ctl *c, int argc, char **argv)
{
	if (argc != 4 || strcmp(argv[3], "--password-stdin") != 0)
		return ctl_usage("account passwd needs an ADDRESS and --password-stdin");
	char password[PASSWORD_MAX], err[512];
	if (read_password(password, sizeof password) < 0)
		return ctl_fail("--password-stdin: no password (or longer than %d bytes) on standard input",
		                PASSWORD_MAX - 1);
	int r = account_password_allowed(&c->cfg, password, err, sizeof err);
	if (r == 0 && ctl_open_store(c) < 0)
		r = -2;
	if (r == 0)
		r = account_set_password(c->store, argv[2], password, err, sizeof err);
	sodium_memzero(password, sizeof password);
	/* a reset after a stolen password: the thief's web sessions end with it */
	if (r == 0 && end_web_sessions(c, argv[2], err, sizeof err) < 0)
		r = -1;
	if (r == -2)
		return CTL_REFUSED;
	if (r != 0)
		return ctl_fail("%s", err);
	ctl_audit_action(c, "admin.account.passwd", argv[2], NULL, "ok", NULL);
	printf("password changed for %s\n", argv[2]);
	return CTL_OK;
}

static int account_set_cert_cmd(struct ctl *c, int argc, char **argv)
{
	if (argc != 5 || strcmp(argv[3], "--cert-sha256") != 0)
		return ctl_usage("account set-cert needs an ADDRESS and --cert-sha256 HEX");
	if (ctl_open_store(c) < 0)
		return CTL_REFUSED;
	char err[512];
	int r = account_set_cert(c->store, argv[2], argv[4], err, sizeof err);
	if (r != 0)
		return ctl_fail("%s", err);
	ctl_audit_action(c, "admin.account.set_cert", argv[2], NULL, "ok", NULL);
	printf("certificate replaced for %s\n", argv[2]);
	return CTL_OK;
}

int ctl_account(struct ctl *c, int argc, char **argv)
{
	if (argc < 2)
		return ctl_usage(
		    "account needs add, list, show, disable, enable, delete, passwd or set-cert");
	if (strcmp(argv[1], "add") == 0)
		return account_add_cmd(c, argc, argv);
	if (strcmp(argv[1], "list") == 0)
		return account_list_cmd(c, argc);
	if (strcmp(argv[1], "show") == 0)
		return account_show_cmd(c, argc, argv);
	if (strcmp(argv[1], "disable") == 0 || strcmp(argv[1], "enable") == 0)
		return account_state_cmd(c, argc, argv, argv[1][0] == 'e');
	if (strcmp(argv[1], "delete") == 0)
		return account_delete_cmd(c, argc, argv);
	if (strcmp(argv[1], "passwd") == 0)
		return account_passwd_cmd(c, argc, argv);
	if (strcmp(argv[1], "set-cert") == 0)
		return account_set_cert_cmd(c, argc, argv);
	return ctl_usage("unknown account command \"%s\"", argv[1]);
}
