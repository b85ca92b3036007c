/* tls_scache.c: the shared table of encoded TLS sessions (see tls_scache.h). */
#include "lib/tls_scache.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "lib/buf.h"

struct slot {
	uint32_t seq; /* even: stable; odd: a writer is filling the slot */
	uint8_t id_len;
	uint8_t id[TLS_SCACHE_ID_MAX];
	uint16_t len; /* 0: empty */
	int64_t expires;
	uint8_t der[TLS_SCACHE_DER_MAX];
};

/* The slots are shared (MAP_SHARED): any process of the table may write any byte of
 * them. Their number and the mapping's length are this process's own, kept outside it:
 * read from the shared bytes, they would let one process make the others, the master
 * among them, index, clear or unmap memory past the table. */
struct tls_scache {
	unsigned slots;
	size_t bytes;      /* of the mapping */
	struct slot *slot; /* the mapping */
};

struct tls_scache *tls_scache_new(unsigned slots)
{
	if (slots == 0 || slots > TLS_SCACHE_SLOTS_MAX)
		return NULL;
	size_t bytes = (size_t)slots * sizeof(struct slot);
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	struct tls_scache *c = xmalloc(sizeof(*c));
	c->slots = slots;
	c->bytes = bytes;
	c->slot = p; /* zero-filled: every slot empty */
	return c;
}

void tls_scache_free(struct tls_scache *c)
{
	if (c == NULL)
		return;
	(void)munmap(c->slot, c->bytes);
	free(c);
}

/* Session ids are random (OpenSSL draws them): their first bytes spread the slots. */
static struct slot *slot_of(struct tls_scache *c, const uint8_t *id, size_t id_len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < id_len && i < 8; i++)
		h = (h ^ id[i]) * 16777619u;
	return &c->slot[h % c->slots];
}

static bool id_ok(const uint8_t *id, size_t id_len)
{
	return id != NULL && id_len > 0 && id_len <= TLS_SCACHE_ID_MAX;
}

/* Makes the slot ours (its sequence odd) unless another writer has it. */
static bool slot_take(struct slot *s, uint32_t *seq)
{
	uint32_t cur = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);

	if (cur & 1u)
		return false;
	if (!__atomic_compare_exchange_n(&s->seq, &cur, cur + 1u, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return false;
	/* the odd number is seen before any byte the writer stores next (a release orders
	 * only what came before it; a reader's acquire fence pairs with this one) */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	*seq = cur + 1u;
	return true;
}

static void slot_release(struct slot *s, uint32_t seq)
{
	__atomic_store_n(&s->seq, seq + 1u, __ATOMIC_RELEASE);
}

int tls_scache_put(struct tls_scache *c, const uint8_t *id, size_t id_len, time_t expires, const uint8_t *der,
                   size_t len)
{
	uint32_t seq;

	if (c == NULL || !id_ok(id, id_len) || len == 0 || len > TLS_SCACHE_DER_MAX)
		return -1;
	struct slot *s = slot_of(c, id, id_len);
	if (!slot_take(s, &seq))
		return -1;
	/* the session replaced may be longer: none of its bytes stay (its length is
	 * bounded here, as anything a process sharing the table wrote) */
	size_t was = s->len > TLS_SCACHE_DER_MAX ? TLS_SCACHE_DER_MAX : s->len;
	memcpy(s->id, id, id_len);
	s->id_len = (uint8_t)id_len;
	s->expires = (int64_t)expires;
	memcpy(s->der, der, len);
	if (was > len)
		memset(s->der + len, 0, was - len);
	s->len = (uint16_t)len;
	slot_release(s, seq);
	return 0;
}

ssize_t tls_scache_get(struct tls_scache *c, const uint8_t *id, size_t id_len, time_t now, uint8_t *out,
                       size_t cap)
{
	if (c == NULL || !id_ok(id, id_len))
		return -1;
	struct slot *s = slot_of(c, id, id_len);
	uint32_t before = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
	if (before & 1u)
		return -1;
	/* copied first, judged after: a writer may change the slot meanwhile, and then
	 * the sequence number differs and the copy is thrown away */
	size_t len = __atomic_load_n(&s->len, __ATOMIC_RELAXED);
	uint8_t got_id_len = __atomic_load_n(&s->id_len, __ATOMIC_RELAXED);
	int64_t expires = __atomic_load_n(&s->expires, __ATOMIC_RELAXED);
	uint8_t got_id[TLS_SCACHE_ID_MAX];
	if (len == 0 || len > cap || len > TLS_SCACHE_DER_MAX || got_id_len != id_len)
		return -1;
	memcpy(got_id, s->id, id_len);
	memcpy(out, s->der, len);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) != before || memcmp(got_id, id, id_len) != 0 ||
	    (int64_t)now >= expires) {
		memset(out, 0, len);
		return -1;
	}
	return (ssize_t)len;
}

/* Empties the slot (and wipes the session: it holds the connection's secrets) when id
 * is NULL or the slot holds id. */
static void slot_empty(struct slot *s, const uint8_t *id, size_t id_len)
{
	uint32_t seq;

	if (!slot_take(s, &seq))
		return;
	if (id == NULL || (s->id_len == id_len && memcmp(s->id, id, id_len) == 0)) {
		s->len = 0;
		memset(s->der, 0, sizeof s->der);
	}
	slot_release(s, seq);
}

void tls_scache_del(struct tls_scache *c, const uint8_t *id, size_t id_len)
{
	if (c != NULL && id_ok(id, id_len))
		slot_empty(slot_of(c, id, id_len), id, id_len);
}

void tls_scache_clear(struct tls_scache *c)
{
	if (c == NULL)
		return;
	for (unsigned i = 0; i < c->slots; i++)
		if (__atomic_load_n(&c->slot[i].len, __ATOMIC_RELAXED) != 0)
			slot_empty(&c->slot[i], NULL, 0);
}
