/*-------------------------------------------------------------------------
 *
 * topic.h
 *	  Topics: fanout of a published message to subscribed queues.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_TOPIC_H
#define COURIER_TOPIC_H

/*
 * Subscriptions (of all databases) whose statistics shared memory holds;
 * beyond this, new subscriptions are not counted and show 0 (SNS allows
 * 10,000 filter policies per account).
 */
#define COURIER_MAX_TRACKED_SUBSCRIPTIONS 10000

/* Called from _PG_init while shared_preload_libraries is being processed. */
extern void CourierTopicRequestShmem(void);

#endif							/* COURIER_TOPIC_H */
