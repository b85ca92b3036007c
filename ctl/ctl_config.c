/* ctl_config.c: mssctl config check|show.
 *
 * check, like postfix check: the file has already parsed (mssctl stops at the first
 * FILE:LINE error before any command runs); then every value is checked as the daemons
 * will use it, each problem on its own line, and the exit status is 1 if there was any.
 * show, like doveconf -n: the settings that differ from the defaults, in the file's
 * own syntax, so that two hosts' effective configurations can be compared. */
#include <stdio.h>
#include <string.h>

#include "auth/oauth.h"
#include "ctl/ctl.h"
#include "lib/master.h"
#include "lib/str.h"
#include "lib/tls.h"
#include "policy/policy.h"
#include "vault/vault_classify.h"

struct check_state {
	const char *conf;
	int problems;
};

static void report(void *arg, const char *why)
{
	struct check_state *s = arg;
	fprintf(stderr, "mssctl: %s: %s\n", s->conf, why);
	s->problems++;
}

/* The contents of the TLS files, as the daemons load them (PEM, key matching the
 * certificate, CA and CRL). Only when every file could be opened. */
static void check_tls(const struct mss_config *cfg, struct check_state *s)
{
	struct tls_server_opts o = {
	    .cert_file = cfg->tls_cert,
	    .key_file = cfg->tls_key,
	    .ca_file = cfg->tls_ca,
	    .crl_file = cfg->tls_crl,
	    .client_cert = TLS_CLIENT_CERT_OPTIONAL,
	};
	char err[1024];
	struct tls_ctx *t = tls_server_ctx_new(&o, err, sizeof err);
	if (t == NULL)
		report(s, err);
	tls_ctx_free(t);
}

static void check_loaded_files(const struct mss_config *cfg, struct check_state *s)
{
	char err[1024];
	struct oauth_keys *keys = NULL;
	if (oauth_keys_for_config(cfg, &keys, err, sizeof err) < 0)
		report(s, err);
	oauth_keys_free(keys);
	if (cfg->vault_classes_file[0] && vault_classes_load(cfg->vault_classes_file, err, sizeof err) < 0)
		report(s, err);
}

static int config_check(struct ctl *c)
{
	struct check_state s = {.conf = c->cfg.path, .problems = 0};
	char err[1024];
	config_check_values(&c->cfg, report, &s);
	int unreadable = config_check_files(&c->cfg, report, &s);
	if (unreadable == 0 && c->cfg.tls_cert[0] && c->cfg.tls_key[0])
		check_tls(&c->cfg, &s);
	if (unreadable == 0)
		check_loaded_files(&c->cfg, &s);
	if (policy_store_ready(&c->cfg, err, sizeof err) < 0)
		report(&s, err);
	return s.problems == 0 ? CTL_OK : CTL_REFUSED;
}

/* A value that may carry a password (a connection URI's user:password@) is shown with
 * the password replaced. */
static void hide_secret(char *v)
{
	char *scheme = strstr(v, "://");
	if (scheme == NULL)
		return;
	char *at = strchr(scheme + 3, '@');
	char *colon = strchr(scheme + 3, ':');
	if (at == NULL || colon == NULL || colon > at)
		return;
	size_t tail = strlen(at) + 1;
	memmove(colon + 4, at, tail);
	memcpy(colon, ":***", 4);
}

static int config_show(struct ctl *c)
{
	struct mss_config dflt;
	char v[CONFIG_LIST_MAX], d[CONFIG_LIST_MAX];
	config_defaults(&dflt);
	for (size_t i = 0; i < config_key_count(); i++) {
		if (config_key_format(&c->cfg, i, v, sizeof v) != 0 ||
		    config_key_format(&dflt, i, d, sizeof d) != 0)
			return ctl_fail("cannot format %s", config_key_name(i));
		if (strcmp(v, d) == 0)
			continue;
		hide_secret(v);
		printf("%s = %s\n", config_key_name(i), v);
	}
	return CTL_OK;
}

int ctl_config(struct ctl *c, int argc, char **argv)
{
	if (argc != 2)
		return ctl_usage("config needs check or show");
	if (strcmp(argv[1], "check") == 0)
		return config_check(c);
	if (strcmp(argv[1], "show") == 0)
		return config_show(c);
	return ctl_usage("unknown config command \"%s\"", argv[1]);
}
