/*-------------------------------------------------------------------------
 *
 * asl_validate.h
 *	  Strict validation of Amazon States Language (state machine)
 *	  definitions, before anything runs them.  docs/asl-validation.md has the
 *	  rules.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_ASL_VALIDATE_H
#define COURIER_ASL_VALIDATE_H

#include "utils/jsonb.h"

/*
 * Longest state name, in characters (AWS's limit).
 */
#define ASL_MAX_STATE_NAME	80

/*
 * Validate an ASL definition strictly (JSONPath query language).  Raises
 * 22023 invalid_parameter_value with errmsg "invalid state machine
 * definition: <what>" and errdetail naming the location, e.g. "State
 * \"Charge\", field \"Retry[0].MaxAttempts\"."  JSONata definitions
 * (QueryLanguage "JSONata" at the top or in a state) raise 0A000
 * feature_not_supported.  Allocates only in a memory context of its own,
 * deleted before it returns.
 */
extern void AslValidate(Jsonb *definition);

/*
 * The same for a definition still in JSON text: the text is parsed into
 * jsonb (22P02 when it is not JSON), checked for duplicate object keys,
 * which jsonb would silently collapse to the last one (22023), then
 * validated as AslValidate does.  Returns the jsonb, allocated in
 * CurrentMemoryContext.
 */
extern Jsonb *AslValidateText(const char *json, int len);

#endif							/* COURIER_ASL_VALIDATE_H */
