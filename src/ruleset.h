/*-------------------------------------------------------------------------
 *
 * ruleset.h
 *	  Many compiled patterns matched against one event at once, through an
 *	  index of the exact values they require.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_RULESET_H
#define COURIER_RULESET_H

#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "pattern.h"

/* A rule set; opaque outside ruleset.c. */
typedef struct CourierRuleSet CourierRuleSet;

/*
 * Index patterns[0 .. npatterns - 1] (compiled by CourierPatternCompile or
 * CourierFilterPolicyCompile) into a rule set allocated in cxt.  The set
 * refers to the patterns, which must live at least as long; the caller's
 * array is copied.
 */
extern CourierRuleSet *CourierRuleSetBuild(CourierPattern *const *patterns,
										   int npatterns, MemoryContext cxt);

/* How many patterns the set holds. */
extern int	CourierRuleSetSize(const CourierRuleSet *set);

/*
 * Which patterns match the event?  Writes their positions (0-based, in
 * ascending order) to matches, which has room for CourierRuleSetSize()
 * entries, and returns how many there are.  The answer is exactly that of
 * CourierPatternMatch on each pattern; only the work differs: a pattern
 * that requires an exact value the event does not have is never looked at.
 * Allocates only transient memory in CurrentMemoryContext.
 */
extern int	CourierRuleSetMatch(const CourierRuleSet *set, Jsonb *event, int *matches);

/*
 * The same answer by matching every pattern in turn, without the index:
 * the baseline the benchmark and the differential test compare with.
 */
extern int	CourierRuleSetMatchEach(const CourierRuleSet *set, Jsonb *event, int *matches);

#endif							/* COURIER_RULESET_H */
