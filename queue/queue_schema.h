/* queue_schema.h: the queue's tables (component "queue": queue_messages,
 * queue_rcpts), for policy/'s list of every part's schema. */
#ifndef MSS_QUEUE_SCHEMA_H
#define MSS_QUEUE_SCHEMA_H

#include "lib/sql.h"

extern const struct sql_schema queue_schema;

#endif
