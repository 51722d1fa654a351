/*-------------------------------------------------------------------------
 *
 * asl_choice.h
 *	  Choice state rules of ASL, JSONPath mode: compiled once, evaluated on a
 *	  state's (effective) input.
 *
 * A rule is a comparison ("Variable" and one operator: StringEquals, ...,
 * each with its ...Path twin, the Is* type tests, StringMatches) or a
 * boolean rule (And, Or: arrays of rules; Not: one rule), nested freely.  A
 * type mismatch makes a comparison false, never an error.  The rules are in
 * docs/asl-data-flow.md.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_ASL_CHOICE_H
#define COURIER_ASL_CHOICE_H

#include "utils/jsonb.h"
#include "utils/palloc.h"

#include "asl_path.h"

typedef struct AslChoiceRule AslChoiceRule;

/*
 * Validate and compile one top-level rule (with or without its "Next",
 * which is ignored; "Comment" and "Assign" are ignored too).  Raises 22023
 * naming the field for an unknown field, no or several operators, a
 * comparison without Variable, an operand of the wrong type (a Timestamp*
 * operand must be an RFC 3339 timestamp), a path that does not parse, an
 * empty And/Or, or a nested rule with Next.  Allocated in cxt; after an
 * error what was allocated there is garbage.
 */
extern AslChoiceRule *AslChoiceCompile(Jsonb *rule, MemoryContext cxt);

/*
 * Does the rule match the input (context: the context object, NULL for
 * {})?  False with *err (States.Runtime, "Invalid path '$.x': The choice
 * state's condition path references an invalid value.") when a Variable or
 * an operand path selects nothing, except for IsPresent.
 */
extern bool AslChoiceEvaluate(const AslChoiceRule *rule, Jsonb *input, Jsonb *context,
							  bool *matched, AslError *err);

#endif							/* COURIER_ASL_CHOICE_H */
