/* tls_sighup.c: a daemon master's SIGHUP for its TLS context (lib/tls.h), whichever
 * backend is built: the reload, then one log line saying what happened. */
#include "lib/log.h"
#include "lib/str.h"
#include "lib/tls.h"

/* The certificate, key, CA and CRL are rebuilt whole. When one of them does not load
 * (a key only root may read, after the privilege drop), the material in force stays
 * and its CRL alone is still re-read, so that a revocation never waits for a restart
 * (Référentiel CONF.22). */
int tls_ctx_sighup(struct tls_ctx *ctx, const struct tls_files *files, const char *what, char *err,
                   size_t errlen)
{
	char why[1024], q[1100];

	if (!ctx)
		return 0; /* no TLS configured: nothing to reload */
	if (tls_ctx_reload(ctx, files, why, sizeof(why)) < 0) {
		log_err("tls.reload", "context=%s result=failed error=%s action=previous-kept", what,
		        log_quote(q, sizeof(q), why));
		if (str_format(err, errlen, "TLS: %s", why) < 0)
			str_error(err, errlen, "%s", "TLS material does not load");
		(void)tls_ctx_reload_crl(ctx, why, sizeof(why)); /* logs its own outcome */
		return -1;
	}
	log_info("tls.reload", "context=%s result=ok", what);
	return 0;
}
