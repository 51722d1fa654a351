/*-------------------------------------------------------------------------
 *
 * bus_input.h
 *	  Target input shaping (EventBridge Input, InputPath, InputTransformer):
 *	  compiled once per target, applied to every event delivered to it.
 *
 * The vocabulary and the rules are at the top of bus_input.c and in
 * docs/input-shaping.md.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_BUS_INPUT_H
#define COURIER_BUS_INPUT_H

#include "datatype/timestamp.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

/* A target's compiled input settings; opaque outside bus_input.c. */
typedef struct CourierTargetInput CourierTargetInput;

/* Limits, as EventBridge documents them. */
#define COURIER_INPUT_MAX_PATHS			100 /* entries of InputPathsMap */
#define COURIER_INPUT_MAX_TEMPLATE		8192	/* characters of InputTemplate */
#define COURIER_INPUT_MAX_PATH_LEN		256 /* characters of a JSONPath */
#define COURIER_INPUT_MAX_NAME_LEN		256 /* characters of a placeholder name */

/*
 * Context for the predefined placeholders.  A NULL field (or a NULL
 * context) is a value that is missing: spliced as nothing in text and as
 * null where a JSON value is needed, like a path that selects nothing.
 */
typedef struct CourierInputContext
{
	const char *rule_name;
	const char *rule_arn;
	TimestampTz ingestion_time;
} CourierInputContext;

/*
 * Validate and compile a target's input settings; each argument NULL when
 * absent.  More than one given raises 22023 ("only one of input, input_path
 * or input_transformer may be given"); invalid settings raise 22023 with
 * the reason.  Every check happens here, so applying the result to an event
 * never fails on account of the settings.  Returns NULL when all three are
 * NULL (deliver the event as is).  The compiled form is allocated in cxt;
 * after an error what was allocated there is garbage, so callers that cache
 * compile into a context of their own and delete it on error.
 */
extern CourierTargetInput *CourierTargetInputCompile(Jsonb *input, text *input_path,
													 Jsonb *input_transformer,
													 MemoryContext cxt);

/*
 * The input to deliver for one event: a fresh jsonb palloc'd in
 * CurrentMemoryContext (a copy of the event when ti is NULL), which the
 * caller may pfree.  Works on the compiled form only, never re-parsing a
 * path or template; transient memory is allocated in CurrentMemoryContext.
 * ctx may be NULL when no predefined placeholder is used.
 */
extern Jsonb *CourierTargetInputApply(const CourierTargetInput *ti, Jsonb *event,
									  const CourierInputContext *ctx);

/*
 * "arn:courier:events:<region>:<account>:rule/<bus>/<rule>": account is the
 * current database's name, region the setting courier.region ("local" when
 * it is unset or empty).  palloc'd.
 */
extern char *CourierRuleArn(const char *bus_name, const char *rule_name);

#endif							/* COURIER_BUS_INPUT_H */
