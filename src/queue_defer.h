/*-------------------------------------------------------------------------
 *
 * queue_defer.h
 *	  Leases written at commit: receive() inside a transaction block locks
 *	  the messages it takes and writes their leases only when the
 *	  transaction commits, unless it has deleted them by then.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_QUEUE_DEFER_H
#define COURIER_QUEUE_DEFER_H

#include "datatype/timestamp.h"
#include "executor/spi.h"

#include "queue.h"
#include "receipt.h"

extern bool courier_defer_leases;

/* May this receive defer its leases?  (setting, queue kind, transaction) */
extern bool CourierDeferEnabled(const CourierQueue *queue);

/*
 * Remember the leases of the rows of tuptable, the result of a deferred
 * lease statement (the columns of courier.received): each names its message
 * (msg_id) and the delivery it is (receive_count); received_at, lease_end
 * and nonce are those of the receive call.
 */
extern void CourierDeferRecord(text *queue_name, TimestampTz received_at,
							   TimestampTz lease_end, int64 nonce,
							   SPITupleTable *tuptable, uint64 nrows);

typedef enum CourierDeferMatch
{
	COURIER_DEFER_NONE,			/* no lease of this message is waiting */
	COURIER_DEFER_MATCH,		/* the receipt names the waiting lease */
	COURIER_DEFER_STALE			/* a lease is waiting; the receipt names another */
} CourierDeferMatch;

extern CourierDeferMatch CourierDeferLookup(text *queue_name, const CourierReceipt *receipt);

/* The waiting lease of msg_id is settled (its message was deleted). */
extern void CourierDeferDone(int64 msg_id);

/*
 * Write the waiting leases of queue_name (NULL: of every queue) now, as
 * receive would have without deferring; returns how many there were.
 * Needs SPI connected.
 */
extern int	CourierDeferFlush(text *queue_name);

#endif							/* COURIER_QUEUE_DEFER_H */
