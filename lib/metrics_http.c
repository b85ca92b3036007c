/* metrics_http.c: the process that serves metrics_listen (metrics.h), through
 * libmicrohttpd: HTTP parsing is the library's, never ours.
 *
 * Which process serves, and why: both daemons write the shared page, and either may run
 * alone on a host (an IMAP-only host, or one daemon stopped for an upgrade), so each
 * daemon forks one serving process, after its privilege drop; the first to bind the
 * address serves, the other retries every METRICS_RETRY seconds and takes over when
 * that daemon stops. It is never a session (a client cannot reach it) nor the master
 * (a slow scraper cannot delay an accept), and never root: started by root, it refuses
 * to serve. */

#include "lib/metrics.h"
#include "lib/privsep.h"

#include <microhttpd.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/keeper.h"
#include "lib/log.h"
#include "lib/master.h"
#include "lib/str.h"

#define METRICS_RETRY 5                /* seconds between two binds while the other serves */
#define METRICS_TEXT_MAX (1024 * 1024) /* one scrape's text, far above the page's */
#define METRICS_CONNECTIONS 16         /* scrapers at once */
#define METRICS_TIMEOUT 10             /* seconds an idle scrape connection is kept */

static const char content_type[] = "application/openmetrics-text; version=1.0.0; charset=utf-8";

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type, const char *body,
                             size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	enum MHD_Result ok = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ok;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **state)
{
	static const char text[] = "text/plain; charset=utf-8";
	(void)cls, (void)version, (void)upload, (void)upload_size, (void)state;

	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, text, "GET /metrics\n", 13);
	if (strcmp(url, "/metrics") != 0)
		return reply(c, MHD_HTTP_NOT_FOUND, text, "GET /metrics\n", 13);
	struct buf b;
	buf_init(&b, METRICS_TEXT_MAX);
	enum MHD_Result ok;
	if (metrics_render(&b) == 0)
		ok = reply(c, MHD_HTTP_OK, content_type, b.data, b.len);
	else
		ok = reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, text, "metrics unavailable\n", 20);
	buf_free(&b);
	return ok;
}

/* Binds addr, waiting while another process holds it. Returns the socket. */
static int bind_when_free(const char *addr)
{
	struct listener l = {.name = "metrics", .fd = -1};
	char err[512], q[600];
	int said = 0;

	if (str_copy(l.addr, sizeof l.addr, addr) < 0) {
		log_err("metrics.serve", "result=failed error=\"metrics_listen too long\"");
		_exit(1);
	}
	while (master_bind(&l, 1, err, sizeof err) < 0) {
		if (!said++)
			log_info("metrics.serve", "result=waiting listen=%s error=%s", addr,
			         log_quote(q, sizeof q, err));
		sleep(METRICS_RETRY);
	}
	return l.fd;
}

static void serve(const char *addr)
{
	int fd = bind_when_free(addr);
	struct MHD_Daemon *d = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL, answer, NULL,
	    MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_CONNECTIONS,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_TIMEOUT, MHD_OPTION_END);
	if (d == NULL) {
		log_err("metrics.serve", "result=failed listen=%s error=\"libmicrohttpd did not start\"",
		        addr);
		_exit(1);
	}
	log_info("metrics.serve", "result=ok listen=%s", addr);
	for (;;)
		pause();
}

pid_t metrics_serve_start(const struct mss_config *cfg)
{
	if (cfg->metrics_listen[0] == '\0')
		return 0;
	/* started again when it dies, after a pause (lib/keeper.h) */
	struct keeper k = {"metrics-server", "mss-metric-keep", SIGTERM, cfg->child_restart_max, -1};
	pid_t pid = keeper_fork(&k);
	if (pid != 0)
		return pid;
	pid_t parent = getppid();         /* its keeper */
	prctl(PR_SET_PDEATHSIG, SIGTERM); /* ends with the keeper, which ends with the daemon */
	if (getppid() != parent)
		_exit(0);
	privsep_drop_caps(); /* what mss-imapd's master keeps for its pre-login processes */
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	if (geteuid() == 0 || getuid() == 0) {
		log_err("metrics.serve",
		        "result=refused error=\"not served as root: set user to an unprivileged "
		        "account\"");
		_exit(1);
	}
	serve(cfg->metrics_listen);
	_exit(0);
}

void metrics_start(const struct mss_config *cfg)
{
	char path[CONFIG_PATH_MAX + 64], err[CONFIG_PATH_MAX + 256] = "data_dir/run/metrics: name too long";
	if (metrics_path(cfg, path, sizeof path) < 0 || metrics_open(path, err, sizeof err) < 0) {
		log_err("metrics", "result=failed error=\"%s\"", err);
		return;
	}
	if (metrics_serve_start(cfg) < 0)
		log_err("metrics", "result=failed error=\"cannot fork\"");
}
