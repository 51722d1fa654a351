/*-------------------------------------------------------------------------
 *
 * asl_path.h
 *	  Amazon States Language data flow, JSONPath mode: paths, and the steps
 *	  of a state's input and output processing (InputPath, ResultPath,
 *	  OutputPath).  Payload templates are in asl_template.h, Choice rules in
 *	  asl_choice.h.
 *
 * Everything here is a pure function over jsonb: nothing reads or writes a
 * table.  Compiling checks the syntax once (22023 with a message naming the
 * path); evaluating never raises for what the data holds but returns false
 * with an AslError named as ASL names errors, which the workflow engine
 * turns into a state failure.  The rules, and where they differ from AWS,
 * are in docs/asl-data-flow.md.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_ASL_PATH_H
#define COURIER_ASL_PATH_H

#include "utils/jsonb.h"
#include "utils/palloc.h"

/*
 * A runtime failure, named as ASL names errors ("States.Runtime",
 * "States.IntrinsicFailure", ...).  error points to a constant string; cause
 * is palloc'd in the memory context current at the failing call.
 */
typedef struct AslError
{
	const char *error;
	char	   *cause;
} AslError;

/* The error names this library raises. */
#define ASL_ERROR_RUNTIME				"States.Runtime"
#define ASL_ERROR_INTRINSIC_FAILURE		"States.IntrinsicFailure"
#define ASL_ERROR_DATA_LIMIT_EXCEEDED	"States.DataLimitExceeded"
#define ASL_ERROR_REFERENCE_PATH_CONFLICT "States.ReferencePathConflict"

/* A state's input or output: at most 256 KiB of UTF-8 JSON text. */
#define ASL_MAX_PAYLOAD_BYTES	262144

/*
 * Paths.  Compile validates syntax (22023 with a message naming the path);
 * reference = true allows only reference paths (keys and indexes: no "*",
 * filters, slices, lists of indexes or "..") as ResultPath and the *Path
 * fields need.  The compiled path is allocated in cxt; after an error what
 * was allocated there is garbage.
 */
typedef struct AslPath AslPath;

extern AslPath *AslPathCompile(const char *path, bool reference, MemoryContext cxt);

/*
 * Evaluate on the input, or on the context object when the path starts with
 * "$$" (context NULL: an empty object).  A definite path (no "*", "..",
 * filter, slice or list of indexes) selects one value; an indefinite path
 * selects the array of its matches, [] when there is none.  Returns false,
 * with *err set to States.Runtime and the cause as AWS words it (e.g.
 * "Invalid path '$.x' : No results for path: $['x']"), when a definite path
 * selects nothing.  *result is palloc'd in CurrentMemoryContext.
 */
extern bool AslPathEvaluate(const AslPath *path, Jsonb *input, Jsonb *context,
							Jsonb **result, AslError *err);

/* The text the path was compiled from. */
extern const char *AslPathText(const AslPath *path);

/* Does the path start with "$$"?  Does it select one value (see above)? */
extern bool AslPathIsContext(const AslPath *path);
extern bool AslPathIsDefinite(const AslPath *path);

/*
 * The data flow of a state, steps as in aws-semantics 4.3; each returns
 * false with *err on failure.  *out may be one of the arguments itself
 * (never modify or pfree it then), else it is palloc'd.
 *
 * InputPath: input_path NULL and !is_null means the default "$" (the raw
 * input); is_null (InputPath: null) gives {}.  A path that selects nothing
 * fails with States.Runtime "Invalid path '<path>' : <why>".
 */
extern bool AslApplyInputPath(const AslPath *input_path, bool is_null, Jsonb *raw,
							  Jsonb *context, Jsonb **out, AslError *err);

/*
 * ResultPath: NULL and !is_null means "$" (the output is the result);
 * is_null (ResultPath: null) discards the result (the output is raw_input).
 * Otherwise the result is put into a copy of the RAW state input (before
 * InputPath) at the path, creating objects for missing keys and replacing
 * what is there.  A step into something that is not an object (or, for an
 * index, not an array that long) fails with States.ReferencePathConflict
 * "Unable to apply step "<step>" to input <input>".  Checks the output
 * against ASL_MAX_PAYLOAD_BYTES (States.DataLimitExceeded).
 */
extern bool AslApplyResultPath(const AslPath *result_path, bool is_null, Jsonb *raw_input,
							   Jsonb *result, Jsonb **out, AslError *err);

/* OutputPath: as InputPath, on the output of ResultPath. */
extern bool AslApplyOutputPath(const AslPath *output_path, bool is_null, Jsonb *in,
							   Jsonb *context, Jsonb **out, AslError *err);

/*
 * Is doc within ASL_MAX_PAYLOAD_BYTES as compact JSON text?  Else false with
 * States.DataLimitExceeded, the cause naming what (e.g. "state output").
 * AslApplyResultPath and AslTemplateApply check their outputs; the engine
 * checks what else enters a state (execution input, task results).
 */
extern bool AslCheckPayloadSize(Jsonb *doc, const char *what, AslError *err);

#endif							/* COURIER_ASL_PATH_H */
