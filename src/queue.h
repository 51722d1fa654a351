/*-------------------------------------------------------------------------
 *
 * queue.h
 *	  Queue definitions as the message functions see them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_QUEUE_H
#define COURIER_QUEUE_H

#include "storage/lockdefs.h"

typedef struct CourierQueue
{
	int64		visibility_usec;	/* default lease length */
	int64		delay_usec;		/* default delay of new messages */
	int64		retention_usec; /* messages older than this are expired */
	int32		max_message_bytes;
} CourierQueue;

/* Look up a queue (caller is connected to SPI); 42704 when it does not exist. */
extern void CourierLookupQueue(text *queue_name, CourierQueue *queue, bool lock_row);
extern void CourierLockQueue(text *queue_name, LOCKMODE mode);
extern pg_attribute_noreturn() void CourierNoSuchQueue(text *queue_name);

#endif							/* COURIER_QUEUE_H */
