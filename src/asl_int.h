/*-------------------------------------------------------------------------
 *
 * asl_int.h
 *	  Internal interfaces shared by the asl_*.c files (the ASL data-flow
 *	  library); not for other callers, who use asl_path.h, asl_template.h
 *	  and asl_choice.h.
 *
 * Values are JsonbValues: a scalar, or jbvBinary for an object or an array
 * (never a raw-scalar container).  asl_json.c has the helpers that treat
 * them as JSON: compact text, equality, parsing text.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_ASL_INT_H
#define COURIER_ASL_INT_H

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#include "asl_path.h"

/* asl_json.c */

/* Set *err and return false; the cause is formatted like psprintf. */
extern bool AslFail(AslError *err, const char *error, const char *fmt,...)
			pg_attribute_printf(3, 4);

/* Raise a failure as an SQL error (for the courier.test_asl_* functions). */
extern void AslRaise(const AslError *err) pg_attribute_noreturn();

/* The top value of a document (a scalar document as the scalar); NULL: {}. */
extern void AslRootValue(Jsonb *jb, JsonbValue *v);

/* A jsonb document holding v (a copy; v's memory is not referenced). */
extern Jsonb *AslValueToJsonb(const JsonbValue *v);

/* A document as a jbvBinary value. */
extern void AslBinaryValue(Jsonb *jb, JsonbValue *v);

extern bool AslIsObject(const JsonbValue *v);
extern bool AslIsArray(const JsonbValue *v);

/* Elements of an array, or pairs of an object; v must be one. */
extern int	AslContainerSize(const JsonbValue *v);

/* "null", "boolean", "number", "string", "array" or "object". */
extern const char *AslTypeName(const JsonbValue *v);

/*
 * Compact JSON text of v (no spaces, as AWS writes it; keys in jsonb's
 * order).  normalize: numbers without trailing zeros, so that equal values
 * have equal text.
 */
extern void AslAppendJson(StringInfo buf, const JsonbValue *v, bool normalize);
extern char *AslJsonText(const JsonbValue *v);
/* The length of AslAppendJson's text of v (normalize false), without writing it. */
extern int64 AslJsonTextLength(const JsonbValue *v);

/* Deep equality; numbers compare by value (1 equals 1.0). */
extern bool AslJsonEqual(const JsonbValue *a, const JsonbValue *b);

/*
 * Parse JSON text (RFC 8259) into *out without raising: false with a reason
 * in *why when the text is not JSON, or holds what jsonb cannot (a \u0000,
 * a number out of numeric's range).
 */
extern bool AslParseJson(const char *text, int len, JsonbValue *out, char **why);

/* asl_path.c */

/*
 * Where a path may look: the state input, the context object, and (inside
 * filters) the current element.
 */
typedef struct AslEnv
{
	JsonbValue	input;
	JsonbValue	context;
} AslEnv;

/*
 * Parse a path that is part of a longer text (an argument of an intrinsic
 * function): from text[*pos], stopping before the first character that
 * cannot continue it; advances *pos.  Errors name the whole text as an
 * intrinsic function call of field.  Allocates in CurrentMemoryContext.
 */
extern AslPath *AslPathParseEmbedded(const char *text, int len, int *pos,
									 const char *field);

/* Raise 22023 for a path string that is not valid, naming field. */
extern AslPath *AslPathCompileField(const char *path, const char *field);

/*
 * What the path selects (see AslPathEvaluate); false when a definite path
 * selects nothing, with why (when not NULL) set to the reason as Jayway
 * JsonPath, which AWS uses, words it: "No results for path: $['x']".
 */
extern bool AslPathLookup(const AslPath *path, const AslEnv *env, JsonbValue *out,
						  char **why);

/*
 * The steps of a definite path, for writing through them (ResultPath):
 * AslPathStep returns true with the key of a key step, false with the index
 * of an index step.
 */
extern int	AslPathStepCount(const AslPath *path);
extern bool AslPathStep(const AslPath *path, int i, const char **key, int *keylen,
						int32 *index);

/* asl_intrinsics.c */

typedef struct AslCall AslCall;

/* Compile "States.Name(args)"; raises 22023 naming field. */
extern AslCall *AslIntrinsicCompile(const char *text, const char *field);

/* Evaluate a compiled call; false with *err (States.IntrinsicFailure, ...). */
extern bool AslIntrinsicEvaluate(const AslCall *call, const AslEnv *env, JsonbValue *out,
								 AslError *err);

#endif							/* COURIER_ASL_INT_H */
