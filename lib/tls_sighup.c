/* tls_sighup.c: a daemon master's SIGHUP for its TLS context (lib/tls.h), whichever
 * backend is built: the reload, then one log line saying what happened. */
#include "lib/log.h"
#include "lib/tls.h"

int tls_ctx_sighup(struct tls_ctx *ctx, const char *what)
{
	char err[512], q[600];

	if (!ctx)
		return 0; /* no TLS configured: nothing to reload */
	if (tls_ctx_reload(ctx, err, sizeof(err)) < 0) {
		log_err("tls.reload", "context=%s result=failed error=%s action=previous-kept", what,
		        log_quote(q, sizeof(q), err));
		return -1;
	}
	log_info("tls.reload", "context=%s result=ok", what);
	return 0;
}
