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
 * nothing, except under the empty filter policy, which passes everything.
 * Allocates only transient memory in CurrentMemoryContext and frees it
 * before returning.
 */
extern bool CourierPatternMatch(const CourierPattern *pattern, Jsonb *event);

/*
 * SNS filter policies: the same engine under SNS's rules.  The scope says
 * what a policy is matched against: the message's headers (message
 * attributes: a flat object of strings, numbers and string arrays) or its
 * payload (a JSON object, nested keys allowed).
 */
typedef enum CourierFilterScope
{
	COURIER_SCOPE_HEADERS,
	COURIER_SCOPE_PAYLOAD
} CourierFilterScope;

/* Parse 'headers' / 'payload'; raises 22023 for anything else. */
extern CourierFilterScope CourierFilterScopeFromName(const char *name);

/*
 * Validate an SNS filter policy for the scope and compile it into cxt.
 * Raises 22023 with the reason (as AWS words it) when it is invalid; error
 * handling of cxt as for CourierPatternCompile.  policy may be NULL: NULL
 * and {} compile to the empty policy, which every message passes.
 */
extern CourierPattern *CourierFilterPolicyCompile(Jsonb *policy,
												  CourierFilterScope scope,
												  MemoryContext cxt);

/*
 * Does a message pass the policy?  headers and payload may be NULL (NULL
 * headers are no message attributes); a payload that is not a JSON object
 * passes no payload-scope policy but the empty one.  policy may be NULL
 * (no policy: true).
 */
extern bool CourierFilterPolicyMatch(const CourierPattern *policy,
									 CourierFilterScope scope,
									 Jsonb *headers, Jsonb *payload);

/*
 * The document a policy of the scope is matched against: the headers (an
 * empty object when there are none, so that only {"exists": false} holds)
 * or the payload.  NULL when there is no payload: only an empty policy
 * passes then.  The same answer as CourierFilterPolicyMatch, for matching
 * many policies of one scope at once (ruleset.h).
 */
extern Jsonb *CourierFilterDocument(CourierFilterScope scope, Jsonb *headers,
									Jsonb *payload);

#endif							/* COURIER_PATTERN_H */
