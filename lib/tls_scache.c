/* tls_scache.c: the shared table of encoded TLS sessions (see tls_scache.h). */
#include "lib/tls_scache.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/buf.h"

#define SUM_BYTES crypto_shorthash_BYTES

/* A slot's lock word, changed by one compare-and-swap: its sequence number (odd while a
 * writer fills the slot; a reader that sees it change drops what it copied), the low
 * 16 bits of the time its writer took it, and that writer's pid. All three in one word:
 * a writer that takes a slot over from a dead one names itself, and its time, as it
 * takes it, so that no third process judges it by the dead one's, nor by a time
 * written after (a writer stopped in between could never be judged). 16 bits of
 * sequence are plenty: a reader's copy takes a microsecond, and the sum checks it. */
#define WORD(seq, stamp, pid)                                                                                \
	((uint64_t)(uint16_t)(seq) << 48 | (uint64_t)(uint16_t)(stamp) << 32 | (uint32_t)(pid))
#define WORD_SEQ(w) ((uint16_t)((w) >> 48))
#define WORD_STAMP(w) ((uint16_t)((w) >> 32))
#define WORD_PID(w) ((uint32_t)(w))

/* A slot is a page of its own (4 KiB, and so within any larger page): a put or a get
 * touches one page. The table is MAP_SHARED and anonymous, whose page table entries a
 * fork does not copy, so a pre-login process takes a page fault at the first touch of
 * each page, and lives 100 connections (smtp_session_max_use): slots of 4,064 bytes
 * straddled two pages nearly all, and the faults were 2.3 % of the pre-login
 * processes' samples on a connection per MX message (bench/README.md, gnutlsrow). */
#define SLOT_BYTES 4096

struct slot {
	_Alignas(SLOT_BYTES) uint64_t word; /* WORD(seq, when taken, writer's pid) */
	uint8_t sum[SUM_BYTES];             /* of expires, len, id_len, id and der[0, len): see sum_of */
	int64_t expires;
	uint16_t len; /* 0: empty */
	uint8_t id_len;
	uint8_t id[TLS_SCACHE_ID_MAX];
	uint8_t der[TLS_SCACHE_DER_MAX]; /* zero past len */
};
_Static_assert(sizeof(struct slot) == SLOT_BYTES, "a slot is one page");

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

/* What a reader checks its copy against: a writer that lost the slot while it wrote
 * (taken over after TLS_SCACHE_WRITE_MAX) may still store bytes into it, after the
 * sequence number that would have told. Not a defence against a process of the table
 * (it could write a matching sum), hence no secret key: OpenSSL checks a resumed
 * session's secret. SipHash (crypto_shorthash): 0.6 us for a 1.8 kB session, a
 * third of BLAKE2b's 1.7. */
static void sum_of(uint8_t sum[SUM_BYTES], int64_t expires, uint16_t len, uint8_t id_len, const uint8_t *id,
                   const uint8_t *der)
{
	static const uint8_t key[crypto_shorthash_KEYBYTES];
	struct {
		int64_t expires;
		uint16_t len;
		uint8_t id_len;
		uint8_t id[TLS_SCACHE_ID_MAX];
		uint8_t der_sum[SUM_BYTES];
	} in;

	memset(&in, 0, sizeof in); /* the padding too: hashed with the rest */
	in.expires = expires;
	in.len = len;
	in.id_len = id_len;
	memcpy(in.id, id, id_len);
	crypto_shorthash(in.der_sum, der, len, key);
	crypto_shorthash(sum, (const uint8_t *)&in, sizeof in, key);
}

/* Whether the writer named in an odd word w will never finish: its process is gone
 * (a crash, kill -9), or it has held the slot past TLS_SCACHE_WRITE_MAX (stopped, or
 * its pid now another process's). The word is the shared mapping's, so whatever it
 * says: a pid of 0 or "negative" would make kill() signal a process group; this
 * process's own pid is a dead writer's, reused (this process is not writing). */
static bool writer_gone(uint64_t w, time_t now)
{
	pid_t pid = (pid_t)(int32_t)WORD_PID(w);

	if (pid <= 0 || pid == getpid())
		return true;
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return true;
	return (uint16_t)((uint16_t)now - WORD_STAMP(w)) > TLS_SCACHE_WRITE_MAX;
}

enum take {
	TAKE_BUSY, /* a live writer has the slot */
	TAKE_FREE, /* ours; it was stable */
	TAKE_OVER, /* ours; its writer was gone, leaving what it wrote half-written */
};

/* Makes the slot ours (its sequence odd, our pid): when it is stable, or when the
 * writer that left it odd is gone. */
static enum take slot_take(struct slot *s, time_t now, uint64_t *mine)
{
	uint64_t cur = __atomic_load_n(&s->word, __ATOMIC_ACQUIRE);
	uint16_t seq = WORD_SEQ(cur);

	if ((seq & 1u) && !writer_gone(cur, now))
		return TAKE_BUSY;
	uint64_t next = WORD(seq + ((seq & 1u) ? 2u : 1u), now, getpid());
	if (!__atomic_compare_exchange_n(&s->word, &cur, next, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return TAKE_BUSY;
	/* the odd number is seen before any byte the writer stores next (a release orders
	 * only what came before it; a reader's acquire fence pairs with this one) */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	*mine = next;
	return (seq & 1u) ? TAKE_OVER : TAKE_FREE;
}

/* Hands the slot back, stable, unless another writer took it over meanwhile (then it
 * is theirs: their sequence number and the sum keep readers off our bytes). */
static void slot_release(struct slot *s, uint64_t mine)
{
	uint64_t cur = mine;

	(void)__atomic_compare_exchange_n(&s->word, &cur,
	                                  WORD(WORD_SEQ(mine) + 1u, WORD_STAMP(mine), WORD_PID(mine)), false,
	                                  __ATOMIC_RELEASE, __ATOMIC_RELAXED);
}

int tls_scache_put(struct tls_scache *c, const uint8_t *id, size_t id_len, time_t now, time_t expires,
                   const uint8_t *der, size_t len)
{
	uint64_t mine;
	uint8_t sum[SUM_BYTES];

	if (c == NULL || !id_ok(id, id_len) || len == 0 || len > TLS_SCACHE_DER_MAX)
		return -1;
	struct slot *s = slot_of(c, id, id_len);
	/* summed before the slot is taken: held for less long */
	sum_of(sum, (int64_t)expires, (uint16_t)len, (uint8_t)id_len, id, der);
	if (slot_take(s, now, &mine) == TAKE_BUSY)
		return -1;
	memcpy(s->id, id, id_len);
	s->id_len = (uint8_t)id_len;
	s->expires = (int64_t)expires;
	s->len = (uint16_t)len;
	/* none of the bytes an older session, or a writer that died, left stay: whatever
	 * length the slot said (a shared byte), the rest of it is wiped */
	memcpy(s->der, der, len);
	memset(s->der + len, 0, sizeof s->der - len);
	memcpy(s->sum, sum, SUM_BYTES);
	slot_release(s, mine);
	return 0;
}

ssize_t tls_scache_get(struct tls_scache *c, const uint8_t *id, size_t id_len, time_t now, uint8_t *out,
                       size_t cap)
{
	if (c == NULL || !id_ok(id, id_len))
		return -1;
	struct slot *s = slot_of(c, id, id_len);
	uint64_t before = __atomic_load_n(&s->word, __ATOMIC_ACQUIRE);
	if (WORD_SEQ(before) & 1u)
		return -1;
	/* copied first, judged after: a writer may change the slot meanwhile, and then
	 * the sequence number differs, or the sum, and the copy is thrown away */
	uint16_t len = __atomic_load_n(&s->len, __ATOMIC_RELAXED);
	uint8_t got_id_len = __atomic_load_n(&s->id_len, __ATOMIC_RELAXED);
	int64_t expires = __atomic_load_n(&s->expires, __ATOMIC_RELAXED);
	uint8_t got_id[TLS_SCACHE_ID_MAX], got_sum[SUM_BYTES], sum[SUM_BYTES];
	if (len == 0 || len > cap || len > TLS_SCACHE_DER_MAX || got_id_len != id_len)
		return -1;
	memcpy(got_id, s->id, id_len);
	memcpy(got_sum, s->sum, SUM_BYTES);
	memcpy(out, s->der, len);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	bool ok = __atomic_load_n(&s->word, __ATOMIC_RELAXED) == before;
	if (ok) {
		sum_of(sum, expires, len, got_id_len, got_id, out);
		ok = sodium_memcmp(sum, got_sum, SUM_BYTES) == 0;
	}
	if (!ok || memcmp(got_id, id, id_len) != 0 || (int64_t)now >= expires) {
		sodium_memzero(out, len);
		return -1;
	}
	return (ssize_t)len;
}

/* Empties the slot (and wipes the session: it holds the connection's secrets) when id
 * is NULL or the slot holds id, or a dead writer left it half-written. */
static void slot_empty(struct slot *s, const uint8_t *id, size_t id_len)
{
	uint64_t mine;
	enum take t = slot_take(s, time(NULL), &mine);

	if (t == TAKE_BUSY)
		return;
	if (t == TAKE_OVER || id == NULL || (s->id_len == id_len && memcmp(s->id, id, id_len) == 0)) {
		s->len = 0;
		memset(s->der, 0, sizeof s->der);
	}
	slot_release(s, mine);
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
	/* a slot left odd by a dead writer holds its bytes: emptied too */
	for (unsigned i = 0; i < c->slots; i++)
		if (__atomic_load_n(&c->slot[i].len, __ATOMIC_RELAXED) != 0 ||
		    (WORD_SEQ(__atomic_load_n(&c->slot[i].word, __ATOMIC_RELAXED)) & 1u))
			slot_empty(&c->slot[i], NULL, 0);
}
