/* slots.c: the shared bounded pool (see slots.h). */
#include "lib/slots.h"

#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static struct {
	pid_t *holder; /* MAP_SHARED: 0 = free, else the pid holding it */
	unsigned n;
	unsigned wait_ms;
} pool;

int slots_init(unsigned n, unsigned wait_ms)
{
	if (n == 0 || n > SLOTS_MAX)
		return -1;
	void *p = mmap(NULL, n * sizeof(pid_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	pool.holder = p;
	pool.n = n;
	pool.wait_ms = wait_ms;
	return 0;
}

static int dead(pid_t pid)
{
	return kill(pid, 0) < 0 && errno == ESRCH;
}

/* One pass: a free slot, or one whose holder is gone. */
static int try_take(pid_t self)
{
	for (unsigned i = 0; i < pool.n; i++) {
		pid_t cur = __atomic_load_n(&pool.holder[i], __ATOMIC_ACQUIRE);
		if (cur != 0 && !dead(cur))
			continue;
		if (__atomic_compare_exchange_n(&pool.holder[i], &cur, self, 0, __ATOMIC_ACQ_REL,
		                                __ATOMIC_ACQUIRE))
			return (int)i;
	}
	return -1;
}

int slots_take(void)
{
	if (pool.holder == NULL)
		return SLOTS_NONE;
	pid_t self = getpid();
	struct timespec step = {0, 10 * 1000 * 1000};
	for (unsigned waited = 0;; waited += 10) {
		int s = try_take(self);
		if (s >= 0 || waited >= pool.wait_ms)
			return s;
		nanosleep(&step, NULL);
	}
}

void slots_give(int slot)
{
	if (pool.holder == NULL || slot < 0 || (unsigned)slot >= pool.n)
		return;
	pid_t self = getpid();
	__atomic_compare_exchange_n(&pool.holder[slot], &self, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}
