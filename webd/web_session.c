/* web_session.c: the session process of a separated mss-webd connection (web.h,
 * web_msg.h): the pages on the database, for the requests its front process sends. */
#include "webd/web.h"

#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/str.h"
#include "webd/web_msg.h"

static void req_clear(struct web_req *r)
{
	for (size_t i = 0; i < r->form.n; i++)
		buf_free(&r->form.f[i].value);
	buf_free(&r->body);
}

int web_session_serve(const struct webd *d, struct store *st, int chan, const char *peer, long front_pid)
{
	static struct web_req r; /* large (query arguments, headers): not on the stack */
	char bound[AUTH_ADDRESS_MAX] = "", err[256];
	size_t max = d->cfg.web_max_form + WEB_MSG_REQ_OVERHEAD;
	struct buf in, out;
	int rc = 0;

	buf_init(&in, max);
	buf_init(&out, BUF_UNLIMITED);
	for (;;) {
		enum web_msg_read got = web_msg_read(chan, WEB_MSG_REQUEST, max, &in, err, sizeof(err));
		if (got == WEB_MSG_EOF)
			break;
		memset(&r, 0, sizeof(r));
		r.d = d;
		r.st = st;
		r.bound = bound;
		str_assert(str_copy(r.peer, sizeof(r.peer), peer), "the master's 64-byte peer address");
		buf_init(&r.body, WEB_BODY_MAX);
		if (got != WEB_MSG_OK || web_msg_get_request((const uint8_t *)in.data, in.len, &r,
		                                             d->cfg.web_max_form, err, sizeof(err)) < 0) {
			log_err("web.chan_refused", "peer=%s peer_pid=%ld error=\"%s\"", peer, front_pid,
			        err);
			req_clear(&r);
			rc = -1;
			break;
		}
		web_dispatch(&r);
		web_finish(&r);
		buf_reset(&out);
		web_msg_put_response(&out, &r);
		bool gone = web_msg_write(chan, &out) < 0;
		req_clear(&r);
		if (gone)
			break;
	}
	buf_free(&in);
	buf_free(&out);
	return rc;
}
