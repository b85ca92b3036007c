/* fuzz-libs: auth audit directory store lib */
/* fuzz_auth_chan: the check of every message received on the authentication channel
 * between a pre-login process and its session process (auth/auth_chan.c) on arbitrary
 * datagrams, as either side receives them. Besides crashes, checks that a message
 * accepted has every string field terminated inside its field and its length exactly
 * that of its type, so that nothing read past a field or a datagram can follow. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "auth/auth_chan.h"

static void terminated(const char *f, size_t n)
{
	assert(memchr(f, '\0', n) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct auth_chan_msg m;
	char err[160];
	size_t n = size < sizeof(m) ? size : sizeof(m);

	memset(&m, 0, sizeof(m));
	memcpy(&m, data, n);
	for (int want = 0; want <= AUTH_CHAN_REPLY; want += AUTH_CHAN_REPLY) {
		/* size as recv reports it with MSG_TRUNC: longer than the buffer shows */
		int type = auth_chan_check(&m, size, want, err, sizeof(err));
		if (type < 0)
			continue;
		assert(size == m.h.length && size <= sizeof(m));
		if (type == AUTH_CHAN_VERIFY) {
			terminated(m.b.rq.user, sizeof(m.b.rq.user));
			terminated(m.b.rq.secret, sizeof(m.b.rq.secret));
			terminated(m.b.rq.peer.subject_dn, sizeof(m.b.rq.peer.subject_dn));
		} else if (type == AUTH_CHAN_CERT_MAP) {
			terminated(m.b.peer.email, sizeof(m.b.peer.email));
		} else if (type == AUTH_CHAN_HANDOFF) {
			assert(want == 0 && (m.b.ho.flags & ~AUTH_HANDOFF_FLAGS) == 0);
			terminated(m.b.ho.client_name, sizeof(m.b.ho.client_name));
			terminated(m.b.ho.subject_dn, sizeof(m.b.ho.subject_dn));
			terminated(m.b.ho.tls_cipher, sizeof(m.b.ho.tls_cipher));
		} else {
			assert(type == AUTH_CHAN_REPLY && want == AUTH_CHAN_REPLY);
			terminated(m.b.rp.account, sizeof(m.b.rp.account));
		}
	}
	return 0;
}
