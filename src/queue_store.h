/*-------------------------------------------------------------------------
 *
 * queue_store.h
 *	  Writing new messages into courier.messages directly, many rows at a
 *	  time, as COPY does (table_multi_insert and the index inserts), instead
 *	  of through an INSERT statement.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_QUEUE_STORE_H
#define COURIER_QUEUE_STORE_H

#include "queue.h"

/*
 * Insert msgs[0 .. n-1] (payload, envelope, group_id, dedup_id,
 * origin_msg_id) into queue_name with the given visible_at and sent_at
 * (= now), drawing their ids from courier.message_id_seq in order;
 * the ids go to ids[].  Returns false, having written nothing, when the
 * direct path cannot be used here (row-level security or triggers on
 * courier.messages, a table-level INSERT privilege missing, columns it does
 * not know how to fill): the caller then inserts through SQL, which applies
 * all of those.
 */
extern bool CourierStoreMessages(text *queue_name, const CourierNewMessage *msgs, int n,
								 TimestampTz visible_at, TimestampTz now, int64 *ids);

#endif							/* COURIER_QUEUE_STORE_H */
