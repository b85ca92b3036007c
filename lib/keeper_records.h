/* keeper_records.h: the records a helper keeps with its keeper (keeper.h), the keeper's
 * side. Internal to lib/keeper.c. */
#ifndef MSS_KEEPER_RECORDS_H
#define MSS_KEEPER_RECORDS_H

#include <stdbool.h>
#include <sys/types.h>

/* In the keeper, once: the socket pair. Returns 0 or -1. */
int records_open(void);
/* The keeper's end (polled while the helper runs), -1 without records. */
int records_keeper_fd(void);
/* In a helper just forked: keeps its end, closes the keeper's. */
void records_enter_helper(void);
/* In the keeper: reads what the helper sent (never waits). */
void records_read(void);
/* In the keeper, after the helper ended: what it sent last is read, what it did not read
 * of the last replay thrown away. */
void records_after_end(void);
/* In the keeper, after a helper pid was forked again: every record, then the end.
 * Returns false if the helper ended meanwhile. */
bool records_replay(pid_t pid);

#endif
