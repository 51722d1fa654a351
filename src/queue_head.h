/*-------------------------------------------------------------------------
 *
 * queue_head.h
 *	  Where the ready messages of a standard queue begin: a scan hint that
 *	  lets receive() start past the dead index entries at the head of a
 *	  queue, and the write marks that keep the hint safe.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_QUEUE_HEAD_H
#define COURIER_QUEUE_HEAD_H

#include "datatype/timestamp.h"

extern bool courier_scan_hints;

extern void CourierHeadRequestShmem(void);

/*
 * Every code path that writes a row version of courier.messages whose
 * visible_at may be in the past of a concurrent receive (send, send_batch,
 * publish, receive's lease and dead-letter move, change_visibility,
 * release, redrive) brackets the write with these.  CourierWriteBegin
 * returns the time to use as "now" for the write: every visible_at written
 * must be at or after it.  Nested calls are allowed; an error clears the
 * mark at the end of the transaction.
 */
extern TimestampTz CourierWriteBegin(void);
extern void CourierWriteEnd(void);
extern void CourierWriteCheck(void);

/*
 * The key (visible_at, msg_id) at which a receive on the queue may start
 * scanning: every index entry before it belongs to a row version that no
 * transaction can lease any more.  Returns false (and the lowest possible
 * key) when there is no hint: hints off, no shared memory, or nothing
 * known yet.
 */
extern bool CourierHeadGet(text *queue_name, TimestampTz *visible_at, int64 *msg_id);

#endif							/* COURIER_QUEUE_HEAD_H */
