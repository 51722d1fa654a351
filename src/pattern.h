/*-------------------------------------------------------------------------
 *
 * pattern.h
 *	  Event patterns: compiled once, matched against many events.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_PATTERN_H
#define COURIER_PATTERN_H

#include "utils/jsonb.h"
#include "utils/memutils.h"

/* A compiled pattern; opaque outside pattern.c. */
typedef struct CourierPattern CourierPattern;

/*
 * Most alternatives a pattern may expand to through $or (the product of the
 * branch counts of nested $or groups); beyond this it is rejected as too
 * complex.
 */
#define COURIER_PATTERN_MAX_TERMS	1024

/*
 * Validate an EventBridge event pattern and compile it into cxt.  Raises
 * 22023 naming the offending key and operator when the pattern is invalid;
 * what was allocated in cxt by then is garbage, so callers that cache
 * compile into a context of their own and delete it on error.
 */
extern CourierPattern *CourierPatternCompile(Jsonb *pattern, MemoryContext cxt);

/*
 * Does the event match?  An event that is not a JSON object matches
 * nothing.  Allocates only transient memory in CurrentMemoryContext and
 * frees it before returning.
 */
extern bool CourierPatternMatch(const CourierPattern *pattern, Jsonb *event);

#endif							/* COURIER_PATTERN_H */
