/* fuzz-libs: webd lib */
/* fuzz_web_msg: mss-webd's front/session messages (webd/web_msg.c) on arbitrary
 * payloads: the first byte chooses a REQUEST (what the session process reads from its
 * front process) or a RESPONSE (what the front process reads back). Besides crashes,
 * checks that a payload that decodes encodes back to the very same bytes (no field
 * ignored, none invented). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "webd/web_msg.h"

#define MAX_FORM 65536

static void check_same(const struct buf *frame, const uint8_t *p, size_t len)
{
	if (frame->len != WEB_MSG_HEAD_SIZE + len || memcmp(frame->data + WEB_MSG_HEAD_SIZE, p, len) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct web_req r;
	struct buf out;
	char err[256];

	if (size < 1)
		return 0;
	memset(&r, 0, sizeof(r));
	buf_init(&r.body, WEB_BODY_MAX);
	buf_init(&out, BUF_UNLIMITED);
	if (data[0] & 1) {
		if (web_msg_get_response(data + 1, size - 1, &r, err, sizeof(err)) == 0) {
			web_msg_put_response(&out, &r);
			check_same(&out, data + 1, size - 1);
		}
	} else if (web_msg_get_request(data + 1, size - 1, &r, MAX_FORM, err, sizeof(err)) == 0) {
		web_msg_put_request(&out, &r);
		check_same(&out, data + 1, size - 1);
	}
	for (size_t i = 0; i < r.form.n; i++)
		buf_free(&r.form.f[i].value);
	buf_free(&r.body);
	buf_free(&out);
	return 0;
}
