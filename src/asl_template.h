/*-------------------------------------------------------------------------
 *
 * asl_template.h
 *	  ASL payload templates (Parameters, ResultSelector, ItemSelector) in
 *	  JSONPath mode, with the intrinsic functions (States.Format, ...).
 *
 * A key ending in ".$" takes its value from a path ("$..."), a context path
 * ("$$...") or an intrinsic function call ("States.Format('{}', $.x)");
 * the output key drops the ".$".  Other keys are literal.  Templates apply
 * through nested objects and arrays.  The rules are in
 * docs/asl-data-flow.md.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_ASL_TEMPLATE_H
#define COURIER_ASL_TEMPLATE_H

#include "utils/jsonb.h"
#include "utils/palloc.h"

#include "asl_path.h"

typedef struct AslTemplate AslTemplate;

/*
 * Validate and compile a template (any JSON value; only objects have ".$"
 * keys).  Raises 22023 naming the key for a ".$" value that is not a string,
 * a path or intrinsic call that does not parse, an unknown intrinsic
 * function, more than 10 nested calls, or a key given both with and without
 * ".$"; 0A000 for a workflow variable ("$name").  Allocated in cxt; after
 * an error what was allocated there is garbage.
 */
extern AslTemplate *AslTemplateCompile(Jsonb *tmpl, MemoryContext cxt);

/*
 * The template applied to input (context: the context object, NULL for {}).
 * False with *err: States.Runtime for a path that selects nothing ("The
 * JSONPath '$.x' specified for the field 'x.$' could not be found in the
 * input '...'"), States.IntrinsicFailure for an intrinsic function given
 * arguments it cannot take, States.DataLimitExceeded for an output over
 * ASL_MAX_PAYLOAD_BYTES.  *out is palloc'd in CurrentMemoryContext.
 */
extern bool AslTemplateApply(const AslTemplate *t, Jsonb *input, Jsonb *context,
							 Jsonb **out, AslError *err);

#endif							/* COURIER_ASL_TEMPLATE_H */
