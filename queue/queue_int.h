/* queue_int.h: what the queue's files share (never included outside queue/ and its
 * tests). */
#ifndef MSS_QUEUE_INT_H
#define MSS_QUEUE_INT_H

#include <stddef.h>

#include "lib/crypto.h"
#include "queue/queue.h"

/* "mssqueue": the key of entries queued by an older MSS, derived from the master key
 * (store_service_key: mssctl's only); queue_reseal_all moves them to keys of their own. */
int queue_old_key(struct store *st, unsigned char key[CRYPTO_KEY_LEN], char *err, size_t errlen);
/* <blob_dir>/queue/<qid>. Returns 0 or -1 when it does not fit. */
int queue_file_path(struct store *st, const char *qid, char *out, size_t outlen);
/* Makes <blob_dir>/queue (0700, its parent fsynced) when missing. Returns 0 or -1. */
int queue_dir_make(struct store *st, char *err, size_t errlen);

#endif
