/*-------------------------------------------------------------------------
 *
 * stats.h
 *	  Counters of committed work per object (subscription, rule, target),
 *	  kept in shared memory.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_STATS_H
#define COURIER_STATS_H

/* What a counter belongs to; ids are those of the object's own table. */
typedef enum CourierStatsKind
{
	COURIER_STATS_SUBSCRIPTION = 1,
	COURIER_STATS_RULE,
	COURIER_STATS_TARGET
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

#endif							/* COURIER_STATS_H */
