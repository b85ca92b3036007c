/* tls_sighup.c: a daemon master's SIGHUP for its TLS context (lib/tls.h), whichever
 * backend is built: the reload, then one log line saying what happened. */
#include "lib/log.h"
#include "lib/tls.h"

/* The certificate, key, CA and CRL are rebuilt whole. When one of them does not load
 * (a key only root may read, after the privilege drop), the material in force stays
 * and the CRL alone is still re-read, so that a revocation never waits for a restart
 * (Référentiel CONF.22). */
int tls_ctx_sighup(struct tls_ctx *ctx, const char *what)
{
	char err[1024], q[1100];

	if (!ctx)
		return 0; /* no TLS configured: nothing to reload */
	if (tls_ctx_reload(ctx, err, sizeof(err)) < 0) {
		log_err("tls.reload", "context=%s result=failed error=%s action=previous-kept", what,
		        log_quote(q, sizeof(q), err));
		(void)tls_ctx_reload_crl(ctx, err, sizeof(err)); /* logs its own outcome */
		return -1;
	}
	log_info("tls.reload", "context=%s result=ok", what);
	return 0;
}
