/*-------------------------------------------------------------------------
 *
 * topic.h
 *	  Topics: fanout of a published message to subscribed queues.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_TOPIC_H
#define COURIER_TOPIC_H

#include "utils/jsonb.h"

/*
 * Publish a message to the topic's subscriptions, in the current
 * transaction (what courier.publish() does); returns the publish id.
 * headers, group_id and dedup_id may be NULL.
 */
extern int64 CourierPublish(text *topic_name, Jsonb *payload, Jsonb *headers,
							text *group_id, text *dedup_id);

#endif							/* COURIER_TOPIC_H */
