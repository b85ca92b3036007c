/* slots.h: a bounded pool shared by a master and the sessions it forks.
 *
 * For work too heavy to run in every session at once (an Argon2id check allocates
 * 64 MiB: 38 concurrent logins took 3.1 GB, issue 12). The master makes the pool
 * before forking (a MAP_SHARED page of pids); a session takes a slot, waiting up to
 * the pool's wait, and gives it back. A slot whose holder died (killed mid-check) is
 * taken back by the next waiter, so a crash never shrinks the pool. */
#ifndef MSS_SLOTS_H
#define MSS_SLOTS_H

#define SLOTS_MAX 1024

/* Creates the process-wide pool of n slots (1..SLOTS_MAX) with a wait of wait_ms.
 * Before fork. Returns 0 or -1 (mmap failed: then there is no bound). */
int slots_init(unsigned n, unsigned wait_ms);
/* SIGHUP: the new size and wait, for every process of the pool at once (sessions
 * already running too). A shrink applies as the extra holders give their slots back.
 * Returns 0, or -1 without a pool or with n out of 1..SLOTS_MAX. */
int slots_resize(unsigned n, unsigned wait_ms);
/* Takes a slot, waiting up to the pool's wait. Returns the slot (>= 0), SLOTS_NONE
 * when this process has no pool (no bound applies), or -1 when none came free. */
#define SLOTS_NONE 1000000
int slots_take(void);
/* Gives back what slots_take returned (SLOTS_NONE and -1 are fine). */
void slots_give(int slot);

#endif
