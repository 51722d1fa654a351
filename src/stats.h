/*-------------------------------------------------------------------------
 *
 * stats.h
 *	  Counters of committed work per object (queue, subscription, rule,
 *	  target, state machine), kept in shared memory.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_STATS_H
#define COURIER_STATS_H

/*
 * What a counter belongs to.  Ids are those of the object's own table; queues
 * and state machines, keyed by name, use CourierStatsNameId() of the name.
 */
typedef enum CourierStatsKind
{
	COURIER_STATS_SUBSCRIPTION = 1,
	COURIER_STATS_RULE,
	COURIER_STATS_TARGET,
	COURIER_STATS_QUEUE,
	COURIER_STATS_STATE_MACHINE
} CourierStatsKind;

/* Counters per object; each kind gives them its own meaning. */
#define COURIER_STATS_NCOUNTERS 6

/* subscriptions */
#define COURIER_SUB_DELIVERED		0
#define COURIER_SUB_FILTERED_OUT	1

/* rules */
#define COURIER_RULE_MATCHED		0

/* targets */
#define COURIER_TARGET_INVOCATIONS	0
#define COURIER_TARGET_FAILED		1
#define COURIER_TARGET_RETRIES		2
#define COURIER_TARGET_DEAD_LETTERS 3
#define COURIER_TARGET_DROPPED		4
#define COURIER_TARGET_THROTTLED	5

/* queues */
#define COURIER_QUEUE_SENT			0	/* send, send_batch, fanout, bus, redrive */
#define COURIER_QUEUE_RECEIVED		1	/* messages leased by receive */
#define COURIER_QUEUE_DELETED		2	/* delete, delete_batch */
#define COURIER_QUEUE_DEAD_LETTERED 3	/* moved to the queue's dead-letter queue */
#define COURIER_QUEUE_EXPIRED		4	/* removed by tick() past retention */

/* state machines: executions */
#define COURIER_EXEC_STARTED		0
#define COURIER_EXEC_SUCCEEDED		1
#define COURIER_EXEC_FAILED			2
#define COURIER_EXEC_TIMED_OUT		3
#define COURIER_EXEC_ABORTED		4

/*
 * Objects (of all databases) shared memory holds counters for; beyond this,
 * new objects are not counted and show 0 (SNS allows 10,000 filter policies
 * per account, EventBridge 300 rules per bus with 5 targets each).
 */
#define COURIER_MAX_TRACKED_OBJECTS 20000

/* Called from _PG_init while shared_preload_libraries is being processed. */
extern void CourierStatsRequestShmem(void);

/*
 * Count n more of a counter, in the current (sub)transaction: the shared
 * counter grows when the top transaction commits, and a rolled-back
 * savepoint takes its share with it.
 */
extern void CourierStatsAdd(CourierStatsKind kind, int64 id, int counter, uint64 n);

/* Drop the object's shared counters when the transaction commits. */
extern void CourierStatsForget(CourierStatsKind kind, int64 id);

/*
 * Read the object's committed counters into counters[COURIER_STATS_NCOUNTERS]
 * (zeros for an object never counted).  false when pg_courier is not
 * preloaded and there are no counters at all.
 */
extern bool CourierStatsRead(CourierStatsKind kind, int64 id, uint64 *counters);

/*
 * The id of an object keyed by name (a queue, a state machine): a 64-bit
 * hash of the name, so counting needs no lookup.
 */
extern int64 CourierStatsNameId(const char *name, int len);
#define CourierStatsTextId(t) CourierStatsNameId(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t))

/* The execution counter of a final status ("SUCCEEDED", ...). */
extern int	CourierStatsExecutionCounter(const char *status);

/* What the hot paths call: count n of a queue's counter, or an ended execution. */
#define CourierCountQueue(queue_name, counter, n) \
	CourierStatsAdd(COURIER_STATS_QUEUE, CourierStatsTextId(queue_name), (counter), (uint64) (n))
#define CourierCountExecutionEnd(machine_name, status) \
	CourierStatsAdd(COURIER_STATS_STATE_MACHINE, \
					CourierStatsNameId((machine_name), strlen(machine_name)), \
					CourierStatsExecutionCounter(status), 1)

#endif							/* COURIER_STATS_H */
