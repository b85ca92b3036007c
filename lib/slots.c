/* slots.c: the shared bounded pool (see slots.h). */
#include "lib/slots.h"

#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* One MAP_SHARED page for every process of the daemon: the size and the wait live
 * there too, so that a SIGHUP's new size reaches the sessions already running. */
struct shared_pool {
	unsigned n; /* slots in use: holder[0..n) */
	unsigned wait_ms;
	pid_t holder[SLOTS_MAX]; /* 0 = free, else the pid holding it */
};

static struct shared_pool *pool;

int slots_init(unsigned n, unsigned wait_ms)
{
	if (n == 0 || n > SLOTS_MAX)
		return -1;
	void *p = mmap(NULL, sizeof(*pool), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	pool = p;
	slots_resize(n, wait_ms);
	return 0;
}

int slots_resize(unsigned n, unsigned wait_ms)
{
	if (pool == NULL || n == 0 || n > SLOTS_MAX)
		return -1;
	__atomic_store_n(&pool->wait_ms, wait_ms, __ATOMIC_RELEASE);
	__atomic_store_n(&pool->n, n, __ATOMIC_RELEASE);
	return 0;
}

static int dead(pid_t pid)
{
	return kill(pid, 0) < 0 && errno == ESRCH;
}

/* One pass: a free slot, or one whose holder is gone. */
static int try_take(pid_t self)
{
	unsigned n = __atomic_load_n(&pool->n, __ATOMIC_ACQUIRE);

	for (unsigned i = 0; i < n; i++) {
		pid_t cur = __atomic_load_n(&pool->holder[i], __ATOMIC_ACQUIRE);
		if (cur != 0 && !dead(cur))
			continue;
		if (__atomic_compare_exchange_n(&pool->holder[i], &cur, self, 0, __ATOMIC_ACQ_REL,
		                                __ATOMIC_ACQUIRE))
			return (int)i;
	}
	return -1;
}

int slots_take(void)
{
	if (pool == NULL)
		return SLOTS_NONE;
	pid_t self = getpid();
	struct timespec step = {0, 10 * 1000 * 1000};
	for (unsigned waited = 0;; waited += 10) {
		int s = try_take(self);
		if (s >= 0 || waited >= __atomic_load_n(&pool->wait_ms, __ATOMIC_ACQUIRE))
			return s;
		nanosleep(&step, NULL);
	}
}

void slots_give(int slot)
{
	if (pool == NULL || slot < 0 || slot >= SLOTS_MAX)
		return; /* a slot past a shrunk size is still given back */
	pid_t self = getpid();
	__atomic_compare_exchange_n(&pool->holder[slot], &self, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}
