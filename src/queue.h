/*-------------------------------------------------------------------------
 *
 * queue.h
 *	  Queue definitions and the internal send and lease entry points shared by
 *	  queue.c, queue_lease.c, queue_fifo.c and queue_dlq.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_QUEUE_H
#define COURIER_QUEUE_H

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"
#include "storage/lockdefs.h"
#include "utils/jsonb.h"
#include "utils/tuplestore.h"

#include "envelope.h"
#include "receipt.h"

typedef struct CourierQueue
{
	int64		visibility_usec;	/* default lease length */
	int64		delay_usec;		/* default delay of new messages */
	int64		retention_usec; /* messages older than this are expired */
	int32		max_message_bytes;
	bool		fifo;
	bool		content_based_dedup;
	int64		dedup_window_usec;
	text	   *dead_letter_queue;	/* NULL when there is no redrive policy */
	int32		max_receive_count;
	bool		require_schema; /* senders' messages must match a registered schema */
} CourierQueue;

/* A message on its way into a queue. */
typedef struct CourierNewMessage
{
	Jsonb	   *payload;
	CourierEnvelope env;		/* env.headers: what is stored as headers */
	int64		delay_usec;		/* -1: the queue's delay */
	text	   *group_id;		/* FIFO only */
	text	   *dedup_id;		/* FIFO only; NULL: no deduplication */
	int64		origin_msg_id;	/* redrive: the message replayed; 0 if none */
} CourierNewMessage;

/* What one receive call needs, shared by the standard and FIFO paths. */
typedef struct CourierLeaseRequest
{
	text	   *queue_name;
	const CourierQueue *queue;
	int32		max_messages;
	int64		visibility_usec;
	TimestampTz now;
	int64		nonce;
	Datum		nonce_text;		/* text */
	Tuplestorestate *tupstore;
	TupleDesc	tupdesc;
	List	   *tenants;		/* of char *: only these tenants' messages; NIL: any */
	Datum		tenant;			/* text: the one a lease statement takes */
} CourierLeaseRequest;

/* queue.c */
extern void CourierLookupQueue(text *queue_name, CourierQueue *queue, bool lock_row);
extern void CourierLockQueue(text *queue_name, LOCKMODE mode);
extern pg_attribute_noreturn() void CourierNoSuchQueue(text *queue_name);
extern int64 CourierEnqueue(text *queue_name, const CourierQueue *queue,
							CourierNewMessage *msg, TimestampTz now);
extern int64 CourierSendMessage(text *queue_name, CourierNewMessage *msg, int64 nbytes,
								bool explicit_delay, TimestampTz now);
extern int64 CourierInsertMessage(text *queue_name, const CourierNewMessage *msg,
								  TimestampTz visible_at, TimestampTz now);
extern void CourierCheckId(const char *what, text *value);

/* queue_lease.c */
extern int	CourierPutLeased(CourierLeaseRequest *req, int64 *moved);

/* queue_fifo.c */
extern text *CourierContentDedupId(Jsonb *payload);
extern void CourierJoinGroup(text *queue_name, text *group_id, TimestampTz visible_at);
extern int64 CourierEnqueueFifo(text *queue_name, const CourierQueue *queue,
								CourierNewMessage *msg, TimestampTz now);
extern int	CourierReceiveFifo(CourierLeaseRequest *req);
extern bool CourierDeleteFifo(text *queue_name, const CourierReceipt *receipt);

/* The group a FIFO receipt's message belongs to, locked. */
typedef struct CourierGroupLock
{
	text	   *group_id;
	TimestampTz lease_end;		/* the message's visible_at before the call */
	int32		inflight;
	bool		holds;			/* the lease is running and was not given back */
} CourierGroupLock;

extern bool CourierLockGroupOf(text *queue_name, const CourierReceipt *receipt,
							   CourierGroupLock *lock);
extern void CourierGroupAfterExtend(text *queue_name, const CourierGroupLock *lock,
									TimestampTz new_end, bool release);

/* queue_dlq.c */
extern uint64 CourierMoveToDeadLetterFifo(text *queue_name, const CourierQueue *queue,
										text *group_id, Datum ids, TimestampTz now);

/* Columns of courier.received, in order; the lease statements produce them. */
#define COURIER_RECEIVED_NATTS 17

#endif							/* COURIER_QUEUE_H */
