/*-------------------------------------------------------------------------
 *
 * asl_validate.c
 *	  Strict validation of Amazon States Language definitions (JSONPath
 *	  query language), before a state machine is created or run.
 *
 * Vocabulary:
 *
 *	  definition  the JSON object of a state machine: StartAt, States and
 *				  the optional top-level fields
 *	  state		  a member of a States object: its key is the state's name,
 *				  its value an object whose Type says what it does
 *	  scope		  a set of states that transitions may move between: the
 *				  top level, each branch of a Parallel state, and the item
 *				  processor (or legacy iterator) of a Map state.  A
 *				  transition never leaves its scope; state names are unique
 *				  across all scopes of a definition (the ASL specification
 *				  says so)
 *	  transition  a state name a state may go to: Next, Default, the Next
 *				  of a top-level Choice rule, the Next of a catcher
 *	  terminal	  a state that ends its scope: "End": true, Succeed, Fail
 *	  where		  the location of a problem, for messages: State "Fan"
 *				  branch 2 state "Check" (branches counted from 1); field
 *				  paths inside a state index arrays from 0, as in
 *				  "Retry[0].MaxAttempts"
 *	  path		  a JSONPath string: "$..." (the state's input), "$$..."
 *				  (the context object) or "$name..." (a variable).  Only its
 *				  start is checked here; the data-flow code compiles it
 *	  reference path  a path a value is written to (ResultPath): "$" or
 *				  "$." / "$[" followed by a single-node selection
 *	  payload template  Parameters, ItemSelector, ResultSelector,
 *				  Credentials, ...: JSON in which a key ending in ".$" has a
 *				  path or an intrinsic function call (States.Format(...)) as
 *				  its value
 *
 * Validation runs in three passes, so that each problem is reported by the
 * check that knows most about it:
 *
 *	  0. JSONata: a QueryLanguage "JSONata" anywhere is 0A000, before
 *		 anything else is judged by JSONPath rules it does not follow
 *	  1. structure: every scope and state, field by field; state names are
 *		 registered (length, uniqueness) and transitions collected
 *	  2. graph, per scope: StartAt and every transition name a state of the
 *		 same scope, every state is reachable from StartAt, and some state
 *		 is terminal
 *
 * Every error is 22023 with errmsg "invalid state machine definition: ..."
 * and errdetail the location; nothing is allocated outside a memory context
 * of our own, deleted when validation ends (or with the transaction).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "common/hashfn.h"
#include "common/jsonapi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "asl_validate.h"
#include "compat.h"
#include "jsonb_build.h"
#include "pg_courier.h"

PG_FUNCTION_INFO_V1(courier_validate_state_machine_definition);
PG_FUNCTION_INFO_V1(courier_validate_state_machine_definition_text);

/* AWS's upper bound of most integer fields (TimeoutSeconds, MaxAttempts...) */
#define ASL_MAX_INT				INT64CONST(99999999)
/* a Task without TimeoutSeconds times out after this many seconds */
#define ASL_DEFAULT_TIMEOUT		INT64CONST(99999999)
/* Retry MaxDelaySeconds: at most 366 days */
#define ASL_MAX_DELAY_SECONDS	INT64CONST(31622400)
/* ItemBatcher MaxInputBytesPerBatch: at most 256 KiB */
#define ASL_MAX_BATCH_BYTES		INT64CONST(262144)
/* ItemReader ReaderConfig MaxItems */
#define ASL_MAX_READER_ITEMS	INT64CONST(100000000)
/* Map Label, in characters */
#define ASL_MAX_LABEL			40
/* a state name fits in this many bytes, with its terminating NUL */
#define ASL_NAME_KEYSIZE		(ASL_MAX_STATE_NAME * MAX_MULTIBYTE_CHAR_LEN + 1)
/* values quoted in messages are cut to this many bytes */
#define ASL_MAX_QUOTED			60

/* Types of state */
typedef enum AslStateType
{
	ST_TASK,
	ST_PASS,
	ST_CHOICE,
	ST_WAIT,
	ST_SUCCEED,
	ST_FAIL,
	ST_PARALLEL,
	ST_MAP
} AslStateType;

static const char *const state_type_names[] = {
	"Task", "Pass", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map", NULL
};

/*
 * The fields each type of state takes in JSONPath mode (aws-semantics 4.2
 * and 4.7), each list in the order the hint of an unknown-field error names
 * them.
 */
static const char *const task_fields[] = {
	"Type", "Comment", "QueryLanguage", "Resource", "InputPath", "OutputPath",
	"Parameters", "ResultSelector", "ResultPath", "Retry", "Catch", "Assign",
	"TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds",
	"HeartbeatSecondsPath", "Credentials", "Next", "End", NULL
};
static const char *const pass_fields[] = {
	"Type", "Comment", "QueryLanguage", "InputPath", "OutputPath",
	"Parameters", "Result", "ResultPath", "Assign", "Next", "End", NULL
};
static const char *const choice_fields[] = {
	"Type", "Comment", "QueryLanguage", "InputPath", "OutputPath", "Choices",
	"Default", "Assign", NULL
};
static const char *const wait_fields[] = {
	"Type", "Comment", "QueryLanguage", "InputPath", "OutputPath", "Seconds",
	"Timestamp", "SecondsPath", "TimestampPath", "Assign", "Next", "End", NULL
};
static const char *const succeed_fields[] = {
	"Type", "Comment", "QueryLanguage", "InputPath", "OutputPath", NULL
};
static const char *const fail_fields[] = {
	"Type", "Comment", "QueryLanguage", "Error", "ErrorPath", "Cause",
	"CausePath", NULL
};
static const char *const parallel_fields[] = {
	"Type", "Comment", "QueryLanguage", "Branches", "InputPath", "OutputPath",
	"Parameters", "ResultSelector", "ResultPath", "Retry", "Catch", "Assign",
	"Next", "End", NULL
};
static const char *const map_fields[] = {
	"Type", "Comment", "QueryLanguage", "ItemProcessor", "Iterator",
	"ItemsPath", "ItemSelector", "Parameters", "MaxConcurrency",
	"MaxConcurrencyPath", "InputPath", "OutputPath", "ResultSelector",
	"ResultPath", "Retry", "Catch", "Assign", "ItemReader", "ItemBatcher",
	"ResultWriter", "Label", "ToleratedFailureCount",
	"ToleratedFailureCountPath", "ToleratedFailurePercentage",
	"ToleratedFailurePercentagePath", "Next", "End", NULL
};

static const char *const *const state_fields[] = {
	task_fields, pass_fields, choice_fields, wait_fields, succeed_fields,
	fail_fields, parallel_fields, map_fields
};

/* Fields only the JSONata query language has. */
static const char *const jsonata_fields[] = {
	"Arguments", "Output", "Items", "Condition", NULL
};

static const char *const top_fields[] = {
	"StartAt", "States", "Comment", "Version", "TimeoutSeconds",
	"QueryLanguage", NULL
};
static const char *const branch_fields[] = {
	"StartAt", "States", "Comment", NULL
};
static const char *const item_processor_fields[] = {
	"ProcessorConfig", "StartAt", "States", "Comment", NULL
};
static const char *const iterator_fields[] = {
	"StartAt", "States", "Comment", NULL
};
static const char *const processor_config_fields[] = {
	"Mode", "ExecutionType", NULL
};
static const char *const retrier_fields[] = {
	"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate",
	"MaxDelaySeconds", "JitterStrategy", "Comment", NULL
};
static const char *const catcher_fields[] = {
	"ErrorEquals", "Next", "ResultPath", "Assign", "Comment", NULL
};
static const char *const item_reader_fields[] = {
	"Resource", "ReaderConfig", "Parameters", NULL
};
static const char *const reader_config_fields[] = {
	"InputType", "CSVHeaderLocation", "CSVHeaders", "CSVDelimiter",
	"MaxItems", "MaxItemsPath", "ManifestType", NULL
};
static const char *const item_batcher_fields[] = {
	"MaxItemsPerBatch", "MaxItemsPerBatchPath", "MaxInputBytesPerBatch",
	"MaxInputBytesPerBatchPath", "BatchInput", NULL
};
static const char *const result_writer_fields[] = {
	"Resource", "Parameters", "WriterConfig", NULL
};

/* Error names with the reserved "States." prefix (aws-semantics 4.6). */
static const char *const predefined_errors[] = {
	"States.ALL", "States.DataLimitExceeded", "States.HeartbeatTimeout",
	"States.Timeout", "States.TaskFailed", "States.Permissions",
	"States.ResultPathMatchFailure", "States.ParameterPathFailure",
	"States.QueryEvaluationError", "States.BranchFailed",
	"States.NoChoiceMatched", "States.IntrinsicFailure",
	"States.ExceedToleratedFailureThreshold", "States.ItemReaderFailed",
	"States.ResultWriterFailed", "States.Runtime", NULL
};

/* Intrinsic functions (aws-semantics 4.9), without their "States." prefix. */
static const char *const intrinsic_functions[] = {
	"Format", "StringToJson", "JsonToString", "Array", "ArrayPartition",
	"ArrayContains", "ArrayRange", "ArrayGetItem", "ArrayLength",
	"ArrayUnique", "Base64Encode", "Base64Decode", "Hash", "JsonMerge",
	"MathRandom", "MathAdd", "StringSplit", "UUID", NULL
};

/* What the operand of a Choice comparison operator must be. */
typedef enum AslOperand
{
	OPERAND_STRING,
	OPERAND_TIMESTAMP,
	OPERAND_NUMBER,
	OPERAND_BOOLEAN,
	OPERAND_PATH
} AslOperand;

static const struct
{
	const char *name;
	AslOperand	operand;
}			choice_operators[] =
{
	{"StringEquals", OPERAND_STRING},
	{"StringEqualsPath", OPERAND_PATH},
	{"StringLessThan", OPERAND_STRING},
	{"StringLessThanPath", OPERAND_PATH},
	{"StringGreaterThan", OPERAND_STRING},
	{"StringGreaterThanPath", OPERAND_PATH},
	{"StringLessThanEquals", OPERAND_STRING},
	{"StringLessThanEqualsPath", OPERAND_PATH},
	{"StringGreaterThanEquals", OPERAND_STRING},
	{"StringGreaterThanEqualsPath", OPERAND_PATH},
	{"StringMatches", OPERAND_STRING},
	{"NumericEquals", OPERAND_NUMBER},
	{"NumericEqualsPath", OPERAND_PATH},
	{"NumericLessThan", OPERAND_NUMBER},
	{"NumericLessThanPath", OPERAND_PATH},
	{"NumericGreaterThan", OPERAND_NUMBER},
	{"NumericGreaterThanPath", OPERAND_PATH},
	{"NumericLessThanEquals", OPERAND_NUMBER},
	{"NumericLessThanEqualsPath", OPERAND_PATH},
	{"NumericGreaterThanEquals", OPERAND_NUMBER},
	{"NumericGreaterThanEqualsPath", OPERAND_PATH},
	{"BooleanEquals", OPERAND_BOOLEAN},
	{"BooleanEqualsPath", OPERAND_PATH},
	{"TimestampEquals", OPERAND_TIMESTAMP},
	{"TimestampEqualsPath", OPERAND_PATH},
	{"TimestampLessThan", OPERAND_TIMESTAMP},
	{"TimestampLessThanPath", OPERAND_PATH},
	{"TimestampGreaterThan", OPERAND_TIMESTAMP},
	{"TimestampGreaterThanPath", OPERAND_PATH},
	{"TimestampLessThanEquals", OPERAND_TIMESTAMP},
	{"TimestampLessThanEqualsPath", OPERAND_PATH},
	{"TimestampGreaterThanEquals", OPERAND_TIMESTAMP},
	{"TimestampGreaterThanEqualsPath", OPERAND_PATH},
	{"IsNull", OPERAND_BOOLEAN},
	{"IsPresent", OPERAND_BOOLEAN},
	{"IsNumeric", OPERAND_BOOLEAN},
	{"IsString", OPERAND_BOOLEAN},
	{"IsBoolean", OPERAND_BOOLEAN},
	{"IsTimestamp", OPERAND_BOOLEAN}
};

/* Scopes */
typedef enum AslScopeKind
{
	SCOPE_TOP,
	SCOPE_BRANCH,
	SCOPE_ITEM_PROCESSOR,
	SCOPE_ITERATOR
} AslScopeKind;

static const char *const scope_kind_names[] = {
	"top level", "branch", "item processor", "iterator"
};

/* A transition, resolved to its target state in pass 2. */
typedef struct AslEdge
{
	char	   *target;			/* the state name given */
	char	   *field;			/* where it was given: "Next", "Catch[0].Next" */
	struct AslNode *to;			/* the state, once resolved */
} AslEdge;

/* A state, as pass 2 needs it. */
typedef struct AslNode
{
	char	   *name;
	char	   *where;			/* State "Fan" branch 2 state "Check" */
	bool		terminal;
	bool		reached;
	List	   *edges;			/* AslEdge */
} AslNode;

typedef struct AslScope
{
	AslScopeKind kind;
	char	   *where;			/* NULL at the top level */
	char	   *start_at;
	List	   *nodes;			/* AslNode, in jsonb key order */
} AslScope;

/* Entry of the table of every state name of the definition. */
typedef struct AslName
{
	char		key[ASL_NAME_KEYSIZE];
	AslScope   *scope;
	AslNode    *node;
} AslName;

typedef struct AslCtx
{
	HTAB	   *names;			/* state name -> AslName */
	List	   *scopes;			/* AslScope, outermost first */
} AslCtx;

static void ValidateScope(AslCtx *cx, JsonbContainer *obj, const char *where,
						  AslScopeKind kind);


/* Messages */

static char *
Location(const char *where, const char *field)
{
	if (where == NULL)
		return field != NULL ? psprintf("Top-level field \"%s\".", field)
			: pstrdup("At the top level.");
	if (field == NULL)
		return psprintf("%s.", where);
	return psprintf("%s, field \"%s\".", where, field);
}

static void AslError(const char *where, const char *field, const char *hint,
					 const char *fmt,...)
			pg_attribute_printf(4, 5) pg_attribute_noreturn();

/*
 * Raise 22023: errmsg "invalid state machine definition: <fmt>", errdetail
 * the location (where NULL: the top level; field NULL: the state or scope
 * itself), errhint the hint if any.
 */
static void
AslError(const char *where, const char *field, const char *hint,
		 const char *fmt,...)
{
	StringInfoData reason;

	initStringInfo(&reason);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&reason, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&reason, needed);
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid state machine definition: %s", reason.data),
			 errdetail_internal("%s", Location(where, field)),
			 hint != NULL ? errhint("%s", hint) : 0));
}

/*
 * "A, B, C and D", for hints; each name after prefix, in quotes if quote,
 * the last joined with conj ("and", "or").
 */
static char *
JoinList(const char *const *names, const char *prefix, bool quote,
		 const char *conj)
{
	StringInfoData s;
	int			n = 0;
	int			i;

	while (names[n] != NULL)
		n++;
	initStringInfo(&s);
	for (i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfo(&s, i == n - 1 ? " %s " : ", ", conj);
		appendStringInfo(&s, quote ? "\"%s%s\"" : "%s%s", prefix, names[i]);
	}
	return s.data;
}

#define JoinNames(names) JoinList((names), "", false, "and")

/* A field path below another: "Retry[0]" + "MaxAttempts". */
static char *
SubField(const char *parent, const char *key)
{
	return parent == NULL ? pstrdup(key) : psprintf("%s.%s", parent, key);
}

static char *
ElemField(const char *parent, int i)
{
	return psprintf("%s[%d]", parent, i);
}


/* JSON values */

#define IsObject(v) CourierJsonbIsContainer((v), true)
#define IsArray(v)	CourierJsonbIsContainer((v), false)

static bool
IsStringValue(const JsonbValue *v, const char *s)
{
	return v->type == jbvString &&
		strlen(s) == (size_t) v->val.string.len &&
		memcmp(v->val.string.val, s, v->val.string.len) == 0;
}

static char *
StringOf(const JsonbValue *v)
{
	Assert(v->type == jbvString);
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* The member key of obj, or NULL. */
static JsonbValue *
Get(JsonbContainer *obj, const char *key)
{
	return getKeyJsonValueFromContainer(obj, key, strlen(key), NULL);
}

/* Quote at most ASL_MAX_QUOTED bytes of a string, for messages. */
static char *
Quoted(const char *s, int len)
{
	if (len > ASL_MAX_QUOTED)
		return psprintf("\"%.*s...\"", pg_mbcliplen(s, len, ASL_MAX_QUOTED), s);
	return psprintf("\"%.*s\"", len, s);
}

/* A JSON value as (short) text, for messages. */
static char *
ValueText(const JsonbValue *v)
{
	char	   *s;

	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvBool:
			return v->val.boolean ? "true" : "false";
		case jbvString:
			return Quoted(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out,
													   NumericGetDatum(v->val.numeric)));
		case jbvBinary:
			s = JsonbToCString(NULL, v->val.binary.data, -1);
			if (strlen(s) > ASL_MAX_QUOTED)
				return psprintf("%.*s...", pg_mbcliplen(s, strlen(s), ASL_MAX_QUOTED), s);
			return s;
		default:
			return "?";
	}
}

static const char *
ValueKind(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvBool:
			return "a boolean";
		case jbvString:
			return "a string";
		case jbvNumeric:
			return "a number";
		case jbvBinary:
			return JsonContainerIsArray(v->val.binary.data) ? "an array" : "an object";
		default:
			return "a value";
	}
}

static bool
InList(const char *const *list, const char *s, int len)
{
	int			i;

	for (i = 0; list[i] != NULL; i++)
		if (strlen(list[i]) == (size_t) len && memcmp(list[i], s, len) == 0)
			return true;
	return false;
}

/*
 * Reject every key of obj that is not in allowed.  what names the object
 * for the hint ("A Retry entry"); a known JSONata-only field says so.
 */
static void
CheckKeys(JsonbContainer *obj, const char *const *allowed, const char *where,
		  const char *parent, const char *what)
{
	JsonbValue *keys;
	JsonbValue *vals;
	int			n = CourierJsonbObjectPairs(obj, &keys, &vals);
	int			i;

	for (i = 0; i < n; i++)
	{
		const char *k = keys[i].val.string.val;
		int			klen = keys[i].val.string.len;
		char	   *key;

		if (InList(allowed, k, klen))
			continue;
		key = pnstrdup(k, klen);
		if (InList(jsonata_fields, k, klen))
			AslError(where, SubField(parent, key),
					 "pg_courier runs the JSONPath query language only, where InputPath, Parameters, ResultSelector, ResultPath and OutputPath do this work.",
					 "field \"%s\" belongs to the JSONata query language", key);
		AslError(where, SubField(parent, key),
				 psprintf("%s takes %s.", what, JoinNames(allowed)),
				 "unknown field \"%s\"", key);
	}
}

/*
 * Like CheckKeys for a state: a field of another type of state gets a
 * message saying so.
 */
static void
CheckStateKeys(JsonbContainer *obj, AslStateType type, const char *where)
{
	JsonbValue *keys;
	JsonbValue *vals;
	int			n = CourierJsonbObjectPairs(obj, &keys, &vals);
	int			i;
	int			t;

	for (i = 0; i < n; i++)
	{
		const char *k = keys[i].val.string.val;
		int			klen = keys[i].val.string.len;
		char	   *key;
		char	   *hint;

		if (InList(state_fields[type], k, klen))
			continue;
		key = pnstrdup(k, klen);
		hint = psprintf("A %s state takes %s.", state_type_names[type],
						JoinNames(state_fields[type]));
		if ((strcmp(key, "Next") == 0 || strcmp(key, "End") == 0) &&
			(type == ST_CHOICE || type == ST_SUCCEED || type == ST_FAIL))
			AslError(where, key,
					 "Choice, Succeed and Fail states have neither Next nor End: a Choice state goes on through its rules and Default, Succeed and Fail end their scope.",
					 "a %s state cannot have \"%s\"", state_type_names[type], key);
		if (InList(jsonata_fields, k, klen))
			AslError(where, key,
					 "pg_courier runs the JSONPath query language only, where InputPath, Parameters, ResultSelector, ResultPath and OutputPath do this work.",
					 "field \"%s\" belongs to the JSONata query language", key);
		for (t = 0; t < (int) lengthof(state_fields); t++)
			if (InList(state_fields[t], k, klen))
				AslError(where, key, hint,
						 "field \"%s\" is not allowed in a %s state",
						 key, state_type_names[type]);
		AslError(where, key, hint, "unknown field \"%s\"", key);
	}
}


/* Scalar fields */

static void
CheckString(const JsonbValue *v, const char *where, const char *field,
			const char *name)
{
	if (v->type != jbvString)
		AslError(where, field, NULL, "\"%s\" must be a string, not %s",
				 name, ValueKind(v));
}

static void
CheckNonEmptyString(const JsonbValue *v, const char *where, const char *field,
					const char *name)
{
	CheckString(v, where, field, name);
	if (v->val.string.len == 0)
		AslError(where, field, NULL, "\"%s\" must not be empty", name);
}

/* A string from a fixed list. */
static void
CheckEnum(const JsonbValue *v, const char *const *values, const char *where,
		  const char *field, const char *name)
{
	CheckString(v, where, field, name);
	if (InList(values, v->val.string.val, v->val.string.len))
		return;
	if (values[1] == NULL)
		AslError(where, field, NULL, "\"%s\" must be \"%s\", not %s",
				 name, values[0], ValueText(v));
	AslError(where, field,
			 psprintf("\"%s\" is %s.", name, JoinList(values, "", true, "or")),
			 "\"%s\" cannot be %s", name, ValueText(v));
}

/* An integral JSON number, capped at +-10^15 (false if not one). */
static bool
JsonInteger(const JsonbValue *v, int64 *out)
{
	char	   *s;
	char	   *p;
	int64		r = 0;
	bool		neg;

	if (v->type != jbvNumeric)
		return false;
	/* numeric_normalize drops trailing zeros: 2.0 is "2" */
	s = numeric_normalize(v->val.numeric);
	p = s;
	neg = (*p == '-');
	if (neg)
		p++;
	if (*p == '\0')
		return false;
	for (; *p != '\0'; p++)
	{
		if (!isdigit((unsigned char) *p))
			return false;
		if (r < INT64CONST(1000000000000000))
			r = r * 10 + (*p - '0');
	}
	*out = neg ? -r : r;
	return true;
}

/* An integer in [min, max]. */
static int64
CheckInteger(const JsonbValue *v, int64 min, int64 max, const char *where,
			 const char *field, const char *name)
{
	int64		r;
	const char *kind;

	if (min == 1)
		kind = "a positive integer";
	else if (min == 0)
		kind = "a non-negative integer";
	else
		kind = "an integer";
	if (!JsonInteger(v, &r) || r < min)
		AslError(where, field, NULL, "\"%s\" must be %s, not %s",
				 name, kind, ValueText(v));
	if (r > max)
		AslError(where, field, NULL, "\"%s\" must be at most " INT64_FORMAT ", not %s",
				 name, max, ValueText(v));
	return r;
}

static int
NumCmp(Numeric a, int64 b)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp,
											 NumericGetDatum(a),
											 NumericGetDatum(int64_to_numeric(b))));
}

static bool
IsBool(const JsonbValue *v)
{
	return v->type == jbvBool;
}

/*
 * RFC 3339 date-time, with the restrictions AWS adds: an upper-case "T"
 * between date and time and an upper-case "Z" for UTC.
 * YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)
 */
static int
Digits(const char *s, int n)
{
	int			r = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		if (!isdigit((unsigned char) s[i]))
			return -1;
		r = r * 10 + (s[i] - '0');
	}
	return r;
}

static bool
IsRfc3339(const char *s, int len)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int			year,
				month,
				day,
				hour,
				minute,
				second;
	int			i;

	if (len < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
		s[13] != ':' || s[16] != ':')
		return false;
	year = Digits(s, 4);
	month = Digits(s + 5, 2);
	day = Digits(s + 8, 2);
	hour = Digits(s + 11, 2);
	minute = Digits(s + 14, 2);
	second = Digits(s + 17, 2);
	if (year < 1 || month < 1 || month > 12 || day < 1 || day > mdays[month - 1] ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 ||
		second < 0 || second > 59)
		return false;
	if (month == 2 && day == 29 &&
		!((year % 4 == 0 && year % 100 != 0) || year % 400 == 0))
		return false;
	i = 19;
	if (i < len && s[i] == '.')
	{
		int			start = ++i;

		while (i < len && isdigit((unsigned char) s[i]))
			i++;
		if (i == start)
			return false;
	}
	if (i < len && s[i] == 'Z')
		i++;
	else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':')
	{
		int			oh = Digits(s + i + 1, 2);
		int			om = Digits(s + i + 4, 2);

		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return false;
		i += 6;
	}
	else
		return false;
	return i == len;
}

static void
CheckTimestamp(const JsonbValue *v, const char *where, const char *field,
			   const char *name)
{
	CheckString(v, where, field, name);
	if (!IsRfc3339(v->val.string.val, v->val.string.len))
		AslError(where, field,
				 "Write an RFC 3339 timestamp with an upper-case T and a Z or an offset, e.g. \"2026-01-02T03:04:05Z\" or \"2026-01-02T03:04:05.5+01:00\".",
				 "\"%s\" is not an RFC 3339 timestamp: %s", name, ValueText(v));
}


/* Paths and intrinsic functions */

#define PATH_NULL_OK	0x01	/* null is allowed (InputPath, OutputPath,
								 * ResultPath) */
#define PATH_REFERENCE	0x02	/* a reference path: no "$$", no variable */
#define PATH_INTRINSIC	0x04	/* an intrinsic function call will do too */

static bool
IsVariableStart(char c)
{
	return isalpha((unsigned char) c) || c == '_';
}

static bool
IsVariableChar(char c)
{
	return isalnum((unsigned char) c) || c == '_';
}

/*
 * Does s start as a path should?  "$" alone, "$." or "$[" then more; not a
 * reference path also "$$" (the context object, alone or followed by "."
 * or "[") or "$name" (a variable, then "." or "[" or nothing).
 */
static bool
PathStartOk(const char *s, int len, bool reference)
{
	int			i;

	if (len == 0 || s[0] != '$')
		return false;
	if (len == 1)
		return true;
	if (s[1] == '.' || s[1] == '[')
		return len > 2;
	if (reference)
		return false;
	if (s[1] == '$')
		return len == 2 || ((s[2] == '.' || s[2] == '[') && len > 3);
	if (!IsVariableStart(s[1]))
		return false;
	for (i = 2; i < len && IsVariableChar(s[i]); i++)
		;
	return i == len || ((s[i] == '.' || s[i] == '[') && i + 1 < len);
}

/*
 * An intrinsic function call: States.Name( ... ), Name a known function.
 * Only the frame is checked; the arguments are the data-flow compiler's.
 */
static void
CheckIntrinsic(const char *s, int len, const char *where, const char *field,
			   const char *name)
{
	int			i = 7;			/* after "States." */
	int			start = i;
	char	   *fn;

	while (i < len && isalnum((unsigned char) s[i]))
		i++;
	fn = pnstrdup(s + start, i - start);
	if (i == start || i >= len || s[i] != '(')
		AslError(where, field,
				 "An intrinsic function call is States.Name(arguments), e.g. States.Format('{}', $.x).",
				 "\"%s\" is not an intrinsic function call: %s", name, Quoted(s, len));
	if (!InList(intrinsic_functions, fn, strlen(fn)))
		AslError(where, field,
				 psprintf("The intrinsic functions are %s.",
						  JoinList(intrinsic_functions, "States.", false, "and")),
				 "unknown intrinsic function \"States.%s\"", fn);
	while (len > 0 && isspace((unsigned char) s[len - 1]))
		len--;
	if (s[len - 1] != ')')
		AslError(where, field, NULL,
				 "intrinsic function call in \"%s\" does not end with \")\"", name);
}

static void
CheckPath(const JsonbValue *v, int flags, const char *where, const char *field,
		  const char *name)
{
	const char *s;
	int			len;

	if (v->type == jbvNull && (flags & PATH_NULL_OK))
		return;
	if (v->type != jbvString)
		AslError(where, field, NULL, "\"%s\" must be a %s, not %s", name,
				 (flags & PATH_REFERENCE) ? "reference path" : "path",
				 ValueKind(v));
	s = v->val.string.val;
	len = v->val.string.len;
	if ((flags & PATH_INTRINSIC) && len >= 7 && strncmp(s, "States.", 7) == 0)
	{
		CheckIntrinsic(s, len, where, field, name);
		return;
	}
	if (flags & PATH_REFERENCE)
	{
		if (!PathStartOk(s, len, true))
			AslError(where, field,
					 "A reference path is \"$\" or starts with \"$.\" or \"$[\"; variables (\"$name\") and the context object (\"$$\") cannot be written to.",
					 "\"%s\" must be a reference path, not %s", name, Quoted(s, len));
	}
	else if (!PathStartOk(s, len, false))
		AslError(where, field,
				 (flags & PATH_INTRINSIC) ?
				 "A path is \"$\", \"$.field\", \"$[0]\", a context path \"$$.Execution.Id\" or a variable \"$name\"; an intrinsic function call (States.Format(...)) will do too." :
				 "A path is \"$\", \"$.field\", \"$[0]\", a context path \"$$.Execution.Id\" or a variable \"$name\".",
				 "\"%s\" must be a path starting with \"$\", not %s", name, Quoted(s, len));
}

/* Both name and name-with-Path given? */
static void
CheckNotBoth(JsonbContainer *obj, const char *a, const char *b,
			 const char *where, const char *parent)
{
	if (Get(obj, a) != NULL && Get(obj, b) != NULL)
		AslError(where, SubField(parent, b),
				 psprintf("Give either \"%s\" or \"%s\".", a, b),
				 "\"%s\" and \"%s\" cannot both be set", a, b);
}


/* Payload templates and variables */

static void CheckTemplateValue(const JsonbValue *v, const char *where,
							   const char *field);

/*
 * The members of a payload-template object (also an Assign object, whose
 * keys are variable names).  A key ending in ".$" takes a path or an
 * intrinsic function call and stands for the key without the suffix, which
 * therefore cannot be there too.
 */
static void
CheckTemplateObject(JsonbContainer *obj, bool assign, const char *where,
					const char *field)
{
	JsonbValue *keys;
	JsonbValue *vals;
	int			n = CourierJsonbObjectPairs(obj, &keys, &vals);
	int			i;

	for (i = 0; i < n; i++)
	{
		const char *k = keys[i].val.string.val;
		int			klen = keys[i].val.string.len;
		char	   *key = pnstrdup(k, klen);
		char	   *sub = SubField(field, key);
		bool		dynamic = klen >= 2 && k[klen - 1] == '$' && k[klen - 2] == '.';
		int			baselen = dynamic ? klen - 2 : klen;

		CHECK_FOR_INTERRUPTS();
		if (assign)
		{
			int			j;
			bool		ok = baselen > 0 && IsVariableStart(k[0]);

			for (j = 1; ok && j < baselen; j++)
				ok = IsVariableChar(k[j]);
			if (!ok)
				AslError(where, sub,
						 "A variable name starts with a letter or \"_\" and goes on with letters, digits and \"_\"; a name ending in \".$\" takes a path.",
						 "invalid variable name \"%.*s\"", baselen, k);
		}
		if (dynamic)
		{
			char	   *base = pnstrdup(k, baselen);

			if (Get(obj, base) != NULL)
				AslError(where, field,
						 psprintf("A key ending in \".$\" sets the key without it: \"%s\" and \"%s\" would both set \"%s\".",
								  key, base, base),
						 "\"%s\" and \"%s\" cannot both be set", base, key);
			if (vals[i].type != jbvString)
				AslError(where, sub,
						 "A key ending in \".$\" takes a path or an intrinsic function call; drop the \".$\" for a literal value.",
						 "\"%s\" must be a path or an intrinsic function call, not %s",
						 key, ValueKind(&vals[i]));
			if (vals[i].val.string.len >= 7 &&
				strncmp(vals[i].val.string.val, "States.", 7) == 0)
				CheckIntrinsic(vals[i].val.string.val, vals[i].val.string.len,
							   where, sub, key);
			else if (!PathStartOk(vals[i].val.string.val, vals[i].val.string.len, false))
				AslError(where, sub,
						 "A key ending in \".$\" takes a path (\"$.field\", \"$$.Execution.Id\", \"$name\") or an intrinsic function call (States.Format(...)); drop the \".$\" for a literal value.",
						 "\"%s\" must be a path or an intrinsic function call, not %s",
						 key, ValueText(&vals[i]));
		}
		else
			CheckTemplateValue(&vals[i], where, sub);
	}
}

/* Any JSON value of a payload template. */
static void
CheckTemplateValue(const JsonbValue *v, const char *where, const char *field)
{
	check_stack_depth();
	if (IsObject(v))
		CheckTemplateObject(v->val.binary.data, false, where, field);
	else if (IsArray(v))
	{
		JsonbValue *elems;
		int			n = CourierJsonbArrayElements(v->val.binary.data, &elems);
		int			i;

		for (i = 0; i < n; i++)
			CheckTemplateValue(&elems[i], where, ElemField(field, i));
	}
}

/*
 * Parameters, ItemSelector and ResultSelector: an object, or for
 * Parameters and ItemSelector also an array (a constant input).
 */
static void
CheckTemplate(const JsonbValue *v, bool array_ok, const char *where,
			  const char *field, const char *name)
{
	if (!IsObject(v) && !(array_ok && IsArray(v)))
		AslError(where, field, NULL, "\"%s\" must be a JSON object%s, not %s",
				 name, array_ok ? " or array" : "", ValueKind(v));
	CheckTemplateValue(v, where, field);
}

static void
CheckAssign(const JsonbValue *v, const char *where, const char *field)
{
	if (!IsObject(v))
		AslError(where, field, NULL, "\"Assign\" must be a JSON object, not %s",
				 ValueKind(v));
	CheckTemplateObject(v->val.binary.data, true, where, field);
}


/* Transitions */

static void
AddEdge(AslNode *node, const JsonbValue *v, const char *where, const char *field,
		const char *name)
{
	AslEdge    *e;

	CheckNonEmptyString(v, where, field, name);
	e = palloc0(sizeof(AslEdge));
	e->target = StringOf(v);
	e->field = pstrdup(field);
	node->edges = lappend(node->edges, e);
}

/* Next or "End": true, exactly one. */
static void
CheckNextEnd(JsonbContainer *st, AslNode *node, const char *where)
{
	JsonbValue *next = Get(st, "Next");
	JsonbValue *end = Get(st, "End");
	bool		is_end = false;

	if (end != NULL)
	{
		if (!IsBool(end))
			AslError(where, "End", NULL, "\"End\" must be a boolean, not %s",
					 ValueKind(end));
		is_end = end->val.boolean;
	}
	if (next != NULL && is_end)
		AslError(where, "End",
				 "A state either goes on to its Next state or ends its scope with \"End\": true.",
				 "\"Next\" and \"End\" cannot both be set");
	if (next == NULL && !is_end)
		AslError(where, NULL,
				 "Add \"Next\" naming the state to go on to, or \"End\": true.",
				 "state has neither \"Next\" nor \"End\": true");
	if (next != NULL)
		AddEdge(node, next, where, "Next", "Next");
	node->terminal = is_end;
}


/* Errors: Retry and Catch */

static void
CheckErrorEquals(JsonbContainer *entry, bool last, bool catcher,
				 const char *where, const char *parent)
{
	char	   *field = SubField(parent, "ErrorEquals");
	JsonbValue *v = Get(entry, "ErrorEquals");
	JsonbValue *elems;
	int			n;
	int			i;

	if (v == NULL)
		AslError(where, parent, NULL, "%s has no \"ErrorEquals\"",
				 catcher ? "catcher" : "retrier");
	if (!IsArray(v))
		AslError(where, field, NULL, "\"ErrorEquals\" must be an array of error names, not %s",
				 ValueKind(v));
	n = CourierJsonbArrayElements(v->val.binary.data, &elems);
	if (n == 0)
		AslError(where, field, NULL, "\"ErrorEquals\" must not be empty");
	for (i = 0; i < n; i++)
	{
		char	   *ef = ElemField(field, i);
		const char *s;
		int			len;

		if (elems[i].type != jbvString)
			AslError(where, ef, NULL, "error names must be strings, not %s",
					 ValueKind(&elems[i]));
		s = elems[i].val.string.val;
		len = elems[i].val.string.len;
		if (len == 0)
			AslError(where, ef, NULL, "error names must not be empty");
		if (len >= 7 && strncmp(s, "States.", 7) == 0 &&
			!InList(predefined_errors, s, len))
			AslError(where, ef,
					 psprintf("Names beginning with \"States.\" are reserved for the predefined errors: %s.",
							  JoinNames(predefined_errors)),
					 "unknown error name %s", Quoted(s, len));
		if (IsStringValue(&elems[i], "States.ALL"))
		{
			if (n > 1)
				AslError(where, field,
						 "\"States.ALL\" matches every error: give it an ErrorEquals of its own.",
						 "\"States.ALL\" must be alone in its \"ErrorEquals\"");
			if (!last)
				AslError(where, field,
						 "Entries after one with \"States.ALL\" could never match.",
						 "the %s with \"States.ALL\" must be the last one",
						 catcher ? "catcher" : "retrier");
		}
	}
}

static void
CheckRetry(const JsonbValue *v, const char *where)
{
	static const char *const jitter[] = {"FULL", "NONE", NULL};
	JsonbValue *elems;
	int			n;
	int			i;

	if (!IsArray(v))
		AslError(where, "Retry", NULL, "\"Retry\" must be an array of retriers, not %s",
				 ValueKind(v));
	n = CourierJsonbArrayElements(v->val.binary.data, &elems);
	for (i = 0; i < n; i++)
	{
		char	   *f = ElemField("Retry", i);
		JsonbContainer *r;
		JsonbValue *x;

		CHECK_FOR_INTERRUPTS();
		if (!IsObject(&elems[i]))
			AslError(where, f, NULL, "a retrier must be a JSON object, not %s",
					 ValueKind(&elems[i]));
		r = elems[i].val.binary.data;
		CheckKeys(r, retrier_fields, where, f, "A retrier");
		CheckErrorEquals(r, i == n - 1, false, where, f);
		if ((x = Get(r, "IntervalSeconds")) != NULL)
			CheckInteger(x, 1, ASL_MAX_INT, where, SubField(f, "IntervalSeconds"),
						 "IntervalSeconds");
		if ((x = Get(r, "MaxAttempts")) != NULL)
			CheckInteger(x, 0, ASL_MAX_INT, where, SubField(f, "MaxAttempts"),
						 "MaxAttempts");
		if ((x = Get(r, "BackoffRate")) != NULL &&
			(x->type != jbvNumeric || NumCmp(x->val.numeric, 1) < 0))
			AslError(where, SubField(f, "BackoffRate"), NULL,
					 "\"BackoffRate\" must be a number of at least 1.0, not %s",
					 ValueText(x));
		if ((x = Get(r, "MaxDelaySeconds")) != NULL)
			CheckInteger(x, 1, ASL_MAX_DELAY_SECONDS, where,
						 SubField(f, "MaxDelaySeconds"), "MaxDelaySeconds");
		if ((x = Get(r, "JitterStrategy")) != NULL)
			CheckEnum(x, jitter, where, SubField(f, "JitterStrategy"), "JitterStrategy");
		if ((x = Get(r, "Comment")) != NULL)
			CheckString(x, where, SubField(f, "Comment"), "Comment");
	}
}

static void
CheckCatch(const JsonbValue *v, AslNode *node, const char *where)
{
	JsonbValue *elems;
	int			n;
	int			i;

	if (!IsArray(v))
		AslError(where, "Catch", NULL, "\"Catch\" must be an array of catchers, not %s",
				 ValueKind(v));
	n = CourierJsonbArrayElements(v->val.binary.data, &elems);
	for (i = 0; i < n; i++)
	{
		char	   *f = ElemField("Catch", i);
		JsonbContainer *c;
		JsonbValue *x;

		CHECK_FOR_INTERRUPTS();
		if (!IsObject(&elems[i]))
			AslError(where, f, NULL, "a catcher must be a JSON object, not %s",
					 ValueKind(&elems[i]));
		c = elems[i].val.binary.data;
		CheckKeys(c, catcher_fields, where, f, "A catcher");
		CheckErrorEquals(c, i == n - 1, true, where, f);
		if ((x = Get(c, "Next")) == NULL)
			AslError(where, f, "A catcher names the state to go on to when it catches an error.",
					 "catcher has no \"Next\"");
		AddEdge(node, x, where, SubField(f, "Next"), "Next");
		if ((x = Get(c, "ResultPath")) != NULL)
			CheckPath(x, PATH_NULL_OK | PATH_REFERENCE, where,
					  SubField(f, "ResultPath"), "ResultPath");
		if ((x = Get(c, "Assign")) != NULL)
			CheckAssign(x, where, SubField(f, "Assign"));
		if ((x = Get(c, "Comment")) != NULL)
			CheckString(x, where, SubField(f, "Comment"), "Comment");
	}
}


/* Choice rules */

static void
CheckChoiceRule(const JsonbValue *v, bool top, AslNode *node, const char *where,
				const char *field)
{
	JsonbContainer *rule;
	JsonbValue *keys;
	JsonbValue *vals;
	int			n;
	int			i;
	int			nops = 0;
	const char *ops[2] = {NULL, NULL};	/* the first two operators */
	int			op_index = -1;	/* the comparison operator, in
								 * choice_operators */
	int			op_pair = -1;	/* its member, in keys/vals */
	int			bool_pair = -1; /* And, Or or Not, in keys/vals */
	JsonbValue *variable;

	check_stack_depth();
	if (!IsObject(v))
		AslError(where, field, NULL, "a choice rule must be a JSON object, not %s",
				 ValueKind(v));
	rule = v->val.binary.data;
	n = CourierJsonbObjectPairs(rule, &keys, &vals);
	for (i = 0; i < n; i++)
	{
		const char *k = keys[i].val.string.val;
		int			klen = keys[i].val.string.len;
		char	   *key = pnstrdup(k, klen);
		int			o;

		if (strcmp(key, "Variable") == 0 || strcmp(key, "Comment") == 0)
			continue;
		if (strcmp(key, "Next") == 0 || strcmp(key, "Assign") == 0)
		{
			if (!top)
				AslError(where, SubField(field, key),
						 "Only the rules directly in Choices have Next and Assign; the rules inside And, Or and Not only test.",
						 "a nested choice rule cannot have \"%s\"", key);
			continue;
		}
		if (strcmp(key, "And") == 0 || strcmp(key, "Or") == 0 || strcmp(key, "Not") == 0)
		{
			if (nops < 2)
				ops[nops] = key;
			nops++;
			bool_pair = i;
			continue;
		}
		for (o = 0; o < (int) lengthof(choice_operators); o++)
			if (strcmp(key, choice_operators[o].name) == 0)
				break;
		if (o < (int) lengthof(choice_operators))
		{
			if (nops < 2)
				ops[nops] = key;
			nops++;
			op_index = o;
			op_pair = i;
			continue;
		}
		if (strcmp(key, "Condition") == 0)
			AslError(where, SubField(field, key),
					 "pg_courier runs the JSONPath query language only: compare a Variable with an operator such as StringEquals.",
					 "field \"Condition\" belongs to the JSONata query language");
		if (strcmp(key, "End") == 0)
			AslError(where, SubField(field, key),
					 "A choice rule cannot end the execution: its Next names a state, which may be a Succeed state or have \"End\": true.",
					 "unknown field \"End\" in a choice rule");
		AslError(where, SubField(field, key),
				 "A choice rule has Variable and one comparison operator (StringEquals, NumericLessThan, IsPresent, ...), or one of And, Or and Not; a rule directly in Choices also has Next and may have Assign.",
				 "unknown field \"%s\" in a choice rule", key);
	}

	variable = Get(rule, "Variable");
	if (nops == 0)
		AslError(where, field,
				 "A choice rule has Variable and one comparison operator (StringEquals, NumericLessThan, IsPresent, ...), or one of And, Or and Not.",
				 variable != NULL ? "choice rule has no comparison operator"
				 : "choice rule has neither a comparison nor \"And\", \"Or\" or \"Not\"");
	if (nops > 1)
		AslError(where, field,
				 "Combine several tests with And or Or.",
				 "choice rule has more than one operator: \"%s\" and \"%s\"",
				 ops[0], ops[1]);

	if (bool_pair >= 0)
	{
		char	   *op = pnstrdup(keys[bool_pair].val.string.val,
								  keys[bool_pair].val.string.len);
		char	   *sub = SubField(field, op);
		JsonbValue *x = &vals[bool_pair];

		if (variable != NULL)
			AslError(where, SubField(field, "Variable"),
					 "The rules inside And, Or and Not have the Variables.",
					 "a choice rule with \"%s\" cannot have \"Variable\"", op);
		if (strcmp(op, "Not") == 0)
		{
			if (!IsObject(x))
				AslError(where, sub, NULL, "\"Not\" must be a choice rule (a JSON object), not %s",
						 ValueKind(x));
			CheckChoiceRule(x, false, node, where, sub);
		}
		else
		{
			JsonbValue *elems;
			int			ne;

			if (!IsArray(x))
				AslError(where, sub, NULL, "\"%s\" must be an array of choice rules, not %s",
						 op, ValueKind(x));
			ne = CourierJsonbArrayElements(x->val.binary.data, &elems);
			if (ne == 0)
				AslError(where, sub, NULL, "\"%s\" must not be empty", op);
			for (i = 0; i < ne; i++)
			{
				CHECK_FOR_INTERRUPTS();
				CheckChoiceRule(&elems[i], false, node, where, ElemField(sub, i));
			}
		}
	}
	else
	{
		const char *opname = choice_operators[op_index].name;
		char	   *sub = SubField(field, opname);
		JsonbValue *x = &vals[op_pair];

		if (variable == NULL)
			AslError(where, field,
					 "A comparison tests the value at the path given in \"Variable\".",
					 "choice rule with \"%s\" has no \"Variable\"", opname);
		CheckPath(variable, 0, where, SubField(field, "Variable"), "Variable");
		switch (choice_operators[op_index].operand)
		{
			case OPERAND_STRING:
				if (x->type != jbvString)
					AslError(where, sub, NULL, "\"%s\" must be a string, not %s",
							 opname, ValueKind(x));
				break;
			case OPERAND_TIMESTAMP:
				CheckTimestamp(x, where, sub, opname);
				break;
			case OPERAND_NUMBER:
				if (x->type != jbvNumeric)
					AslError(where, sub, NULL, "\"%s\" must be a number, not %s",
							 opname, ValueKind(x));
				break;
			case OPERAND_BOOLEAN:
				if (!IsBool(x))
					AslError(where, sub, NULL, "\"%s\" must be a boolean, not %s",
							 opname, ValueKind(x));
				break;
			case OPERAND_PATH:
				CheckPath(x, 0, where, sub, opname);
				break;
		}
	}

	if (top)
	{
		JsonbValue *x;

		if ((x = Get(rule, "Next")) == NULL)
			AslError(where, field,
					 "Each rule directly in Choices names the state to go on to when it matches.",
					 "choice rule has no \"Next\"");
		AddEdge(node, x, where, SubField(field, "Next"), "Next");
		if ((x = Get(rule, "Assign")) != NULL)
			CheckAssign(x, where, SubField(field, "Assign"));
	}
	{
		JsonbValue *x = Get(rule, "Comment");

		if (x != NULL)
			CheckString(x, where, SubField(field, "Comment"), "Comment");
	}
}

static void
CheckChoice(JsonbContainer *st, AslNode *node, const char *where)
{
	JsonbValue *v = Get(st, "Choices");
	JsonbValue *elems;
	int			n;
	int			i;

	if (v == NULL)
		AslError(where, NULL, "A Choice state needs a non-empty array of rules in \"Choices\".",
				 "Choice state has no \"Choices\"");
	if (!IsArray(v))
		AslError(where, "Choices", NULL, "\"Choices\" must be an array of choice rules, not %s",
				 ValueKind(v));
	n = CourierJsonbArrayElements(v->val.binary.data, &elems);
	if (n == 0)
		AslError(where, "Choices", NULL, "\"Choices\" must not be empty");
	for (i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		CheckChoiceRule(&elems[i], true, node, where, ElemField("Choices", i));
	}
	if ((v = Get(st, "Default")) != NULL)
		AddEdge(node, v, where, "Default", "Default");
}


/* Task */

static bool
IsLambdaNameChar(char c)
{
	return isalnum((unsigned char) c) || c == '-' || c == '_';
}

/*
 * A Task's Resource string: a URI (ARNs checked a little further, Lambda
 * function ARNs down to their qualifier), or a text with CloudFormation
 * definition substitutions ("${name}"), which are only checked for being
 * closed: what they stand for is known when the template is deployed.
 */
static void
CheckResourceString(const char *s, int len, const char *where)
{
	const char *hint = "A Task's Resource is a URI such as an ARN, e.g. \"arn:aws:states:::lambda:invoke\".";
	const char *parts[6];
	int			plen[6];
	int			np;
	int			i;
	bool		subst = false;

	if (len == 0)
		AslError(where, "Resource", hint, "\"Resource\" must not be empty");
	for (i = 0; i + 1 < len; i++)
	{
		if (s[i] == '$' && s[i + 1] == '{')
		{
			int			j = i + 2;

			while (j < len && s[j] != '}')
				j++;
			if (j >= len || j == i + 2)
				AslError(where, "Resource",
						 "A definition substitution is \"${name}\", replaced when the template is deployed.",
						 "\"Resource\" has an unclosed definition substitution %s",
						 Quoted(s + i, len - i));
			subst = true;
			i = j;
		}
	}
	if (subst)
		return;

	/* URI scheme */
	if (!isalpha((unsigned char) s[0]))
		AslError(where, "Resource", hint, "\"Resource\" must be a URI, not %s", Quoted(s, len));
	for (i = 1; i < len && (isalnum((unsigned char) s[i]) || s[i] == '+' ||
							s[i] == '-' || s[i] == '.'); i++)
		;
	if (i >= len - 1 || s[i] != ':')
		AslError(where, "Resource", hint, "\"Resource\" must be a URI, not %s", Quoted(s, len));
	if (i != 3 || strncmp(s, "arn", 3) != 0)
		return;

	/* arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE */
	np = 0;
	parts[0] = s;
	for (i = 0; i < len && np < 5; i++)
	{
		if (s[i] == ':')
		{
			plen[np] = (s + i) - parts[np];
			np++;
			parts[np] = s + i + 1;
		}
	}
	if (np < 5)
		AslError(where, "Resource",
				 "An ARN is arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE.",
				 "\"Resource\" is not a valid ARN: %s", Quoted(s, len));
	plen[5] = (s + len) - parts[5];
	if (plen[1] == 0 || plen[2] == 0 || plen[5] == 0)
		AslError(where, "Resource",
				 "An ARN is arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE.",
				 "\"Resource\" is not a valid ARN: %s", Quoted(s, len));

	/* arn:...:lambda:...:function:NAME[:QUALIFIER] */
	if (plen[2] == 6 && strncmp(parts[2], "lambda", 6) == 0 &&
		plen[5] > 9 && strncmp(parts[5], "function:", 9) == 0)
	{
		const char *lhint = "A Lambda function ARN ends with the function name (letters, digits, \"-\", \"_\"), then optionally \":$LATEST\", a version number or an alias of letters, digits, \"-\" and \"_\".";
		const char *name = parts[5] + 9;
		const char *end = s + len;
		const char *p = name;

		while (p < end && IsLambdaNameChar(*p))
			p++;
		if (p == name || p - name > 64 || (p < end && *p != ':'))
			AslError(where, "Resource", lhint,
					 "\"Resource\" has an invalid Lambda function name: %s", Quoted(s, len));
		if (p < end)
		{
			const char *q = ++p;

			if (q == end)
				AslError(where, "Resource", lhint,
						 "\"Resource\" has an empty Lambda function qualifier: %s",
						 Quoted(s, len));
			if (!(end - q == 7 && strncmp(q, "$LATEST", 7) == 0))
			{
				while (p < end && IsLambdaNameChar(*p))
					p++;
				if (p < end || end - q > 128)
					AslError(where, "Resource", lhint,
							 "\"Resource\" has an invalid Lambda function qualifier %s",
							 Quoted(q, end - q));
			}
		}
	}
}

/*
 * Resource: a string, or one of CloudFormation's {"Ref": "..."} and
 * {"Fn::GetAtt": ["Name", "Attribute"]}, which stand for an ARN in a
 * template and are accepted as they are (they cannot run).
 */
static void
CheckResource(const JsonbValue *v, const char *where)
{
	const char *hint = "A Task's Resource is a URI such as an ARN (\"arn:aws:states:::lambda:invoke\"); CloudFormation's {\"Ref\": \"Name\"} and {\"Fn::GetAtt\": [\"Name\", \"Arn\"]} are accepted too.";

	if (v->type == jbvString)
	{
		CheckResourceString(v->val.string.val, v->val.string.len, where);
		return;
	}
	if (IsObject(v) && JsonContainerSize(v->val.binary.data) == 1)
	{
		JsonbContainer *c = v->val.binary.data;
		JsonbValue *x;

		if ((x = Get(c, "Ref")) != NULL)
		{
			if (x->type == jbvString && x->val.string.len > 0)
				return;
		}
		else if ((x = Get(c, "Fn::GetAtt")) != NULL)
		{
			JsonbValue *elems;

			if (IsArray(x) && CourierJsonbArrayElements(x->val.binary.data, &elems) == 2 &&
				elems[0].type == jbvString && elems[0].val.string.len > 0 &&
				elems[1].type == jbvString && elems[1].val.string.len > 0)
				return;
		}
	}
	AslError(where, "Resource", hint, "\"Resource\" must be a string, not %s", ValueText(v));
}

static void
CheckTask(JsonbContainer *st, const char *where)
{
	JsonbValue *v;
	int64		timeout = ASL_DEFAULT_TIMEOUT;

	if ((v = Get(st, "Resource")) == NULL)
		AslError(where, NULL, "A Task state names what it runs in \"Resource\".",
				 "Task state has no \"Resource\"");
	CheckResource(v, where);

	CheckNotBoth(st, "TimeoutSeconds", "TimeoutSecondsPath", where, NULL);
	CheckNotBoth(st, "HeartbeatSeconds", "HeartbeatSecondsPath", where, NULL);
	if ((v = Get(st, "TimeoutSeconds")) != NULL)
		timeout = CheckInteger(v, 1, ASL_MAX_INT, where, "TimeoutSeconds", "TimeoutSeconds");
	if ((v = Get(st, "TimeoutSecondsPath")) != NULL)
	{
		CheckPath(v, 0, where, "TimeoutSecondsPath", "TimeoutSecondsPath");
		timeout = -1;
	}
	if ((v = Get(st, "HeartbeatSeconds")) != NULL)
	{
		int64		heartbeat = CheckInteger(v, 1, ASL_MAX_INT, where,
											 "HeartbeatSeconds", "HeartbeatSeconds");

		if (timeout > 0 && heartbeat >= timeout)
			AslError(where, "HeartbeatSeconds",
					 Get(st, "TimeoutSeconds") != NULL ? NULL :
					 "A Task without TimeoutSeconds times out after 99999999 seconds.",
					 "\"HeartbeatSeconds\" (" INT64_FORMAT ") must be less than \"TimeoutSeconds\" (" INT64_FORMAT ")",
					 heartbeat, timeout);
	}
	if ((v = Get(st, "HeartbeatSecondsPath")) != NULL)
		CheckPath(v, 0, where, "HeartbeatSecondsPath", "HeartbeatSecondsPath");
	if ((v = Get(st, "Credentials")) != NULL)
	{
		if (!IsObject(v))
			AslError(where, "Credentials",
					 "Credentials is an object such as {\"RoleArn\": \"arn:aws:iam::123456789012:role/Name\"}.",
					 "\"Credentials\" must be a JSON object, not %s", ValueKind(v));
		CheckTemplateValue(v, where, "Credentials");
	}
}


/* Wait and Fail */

static void
CheckWait(JsonbContainer *st, const char *where)
{
	static const char *const kinds[] = {"Seconds", "Timestamp", "SecondsPath", "TimestampPath", NULL};
	const char *given[4];
	int			n = 0;
	int			i;
	JsonbValue *v;

	for (i = 0; kinds[i] != NULL; i++)
		if (Get(st, kinds[i]) != NULL)
			given[n++] = kinds[i];
	if (n == 0)
		AslError(where, NULL,
				 "A Wait state waits for \"Seconds\", until \"Timestamp\", or for what \"SecondsPath\" or \"TimestampPath\" selects.",
				 "Wait state has none of \"Seconds\", \"Timestamp\", \"SecondsPath\" and \"TimestampPath\"");
	if (n > 1)
		AslError(where, given[1],
				 "A Wait state takes exactly one of Seconds, Timestamp, SecondsPath and TimestampPath.",
				 "\"%s\" and \"%s\" cannot both be set", given[0], given[1]);
	if ((v = Get(st, "Seconds")) != NULL)
		CheckInteger(v, 0, ASL_MAX_INT, where, "Seconds", "Seconds");
	if ((v = Get(st, "Timestamp")) != NULL)
		CheckTimestamp(v, where, "Timestamp", "Timestamp");
	if ((v = Get(st, "SecondsPath")) != NULL)
		CheckPath(v, 0, where, "SecondsPath", "SecondsPath");
	if ((v = Get(st, "TimestampPath")) != NULL)
		CheckPath(v, 0, where, "TimestampPath", "TimestampPath");
}

static void
CheckFail(JsonbContainer *st, const char *where)
{
	JsonbValue *v;

	CheckNotBoth(st, "Error", "ErrorPath", where, NULL);
	CheckNotBoth(st, "Cause", "CausePath", where, NULL);
	if ((v = Get(st, "Error")) != NULL)
		CheckString(v, where, "Error", "Error");
	if ((v = Get(st, "Cause")) != NULL)
		CheckString(v, where, "Cause", "Cause");
	if ((v = Get(st, "ErrorPath")) != NULL)
		CheckPath(v, PATH_INTRINSIC, where, "ErrorPath", "ErrorPath");
	if ((v = Get(st, "CausePath")) != NULL)
		CheckPath(v, PATH_INTRINSIC, where, "CausePath", "CausePath");
}


/* Parallel and Map */

static void
CheckParallel(AslCtx *cx, JsonbContainer *st, const char *where)
{
	JsonbValue *v = Get(st, "Branches");
	JsonbValue *elems;
	int			n;
	int			i;

	if (v == NULL)
		AslError(where, NULL, "A Parallel state runs the state machines in \"Branches\", each {\"StartAt\": ..., \"States\": {...}}.",
				 "Parallel state has no \"Branches\"");
	if (!IsArray(v))
		AslError(where, "Branches", NULL, "\"Branches\" must be an array of branches, not %s",
				 ValueKind(v));
	n = CourierJsonbArrayElements(v->val.binary.data, &elems);
	if (n == 0)
		AslError(where, "Branches", NULL, "\"Branches\" must not be empty");
	for (i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (!IsObject(&elems[i]))
			AslError(where, ElemField("Branches", i),
					 "A branch is an object {\"StartAt\": ..., \"States\": {...}}.",
					 "a branch must be a JSON object, not %s", ValueKind(&elems[i]));
		ValidateScope(cx, elems[i].val.binary.data,
					  psprintf("%s branch %d", where, i + 1), SCOPE_BRANCH);
	}
}

/* The ItemReader of a distributed Map: structure only, it is not run. */
static void
CheckItemReader(const JsonbValue *v, const char *where)
{
	static const char *const input_types[] = {"CSV", "JSON", "JSONL", "MANIFEST", "PARQUET", NULL};
	static const char *const header_locations[] = {"FIRST_ROW", "GIVEN", NULL};
	JsonbContainer *c;
	JsonbValue *x;

	if (!IsObject(v))
		AslError(where, "ItemReader", NULL, "\"ItemReader\" must be a JSON object, not %s",
				 ValueKind(v));
	c = v->val.binary.data;
	CheckKeys(c, item_reader_fields, where, "ItemReader", "An ItemReader");
	if ((x = Get(c, "Resource")) == NULL)
		AslError(where, "ItemReader", NULL, "\"ItemReader\" has no \"Resource\"");
	CheckNonEmptyString(x, where, "ItemReader.Resource", "Resource");
	if ((x = Get(c, "Parameters")) != NULL)
		CheckTemplate(x, false, where, "ItemReader.Parameters", "Parameters");
	if ((x = Get(c, "ReaderConfig")) != NULL)
	{
		JsonbContainer *rc;
		JsonbValue *y;
		const char *f = "ItemReader.ReaderConfig";

		if (!IsObject(x))
			AslError(where, f, NULL, "\"ReaderConfig\" must be a JSON object, not %s",
					 ValueKind(x));
		rc = x->val.binary.data;
		CheckKeys(rc, reader_config_fields, where, f, "A ReaderConfig");
		CheckNotBoth(rc, "MaxItems", "MaxItemsPath", where, f);
		if ((y = Get(rc, "InputType")) != NULL)
			CheckEnum(y, input_types, where, SubField(f, "InputType"), "InputType");
		if ((y = Get(rc, "CSVHeaderLocation")) != NULL)
			CheckEnum(y, header_locations, where, SubField(f, "CSVHeaderLocation"),
					  "CSVHeaderLocation");
		if ((y = Get(rc, "CSVHeaders")) != NULL)
		{
			JsonbValue *elems;
			int			n;
			int			i;

			if (!IsArray(y))
				AslError(where, SubField(f, "CSVHeaders"), NULL,
						 "\"CSVHeaders\" must be an array of strings, not %s", ValueKind(y));
			n = CourierJsonbArrayElements(y->val.binary.data, &elems);
			for (i = 0; i < n; i++)
				CheckString(&elems[i], where, ElemField(SubField(f, "CSVHeaders"), i),
							"CSVHeaders");
		}
		if ((y = Get(rc, "CSVDelimiter")) != NULL)
			CheckString(y, where, SubField(f, "CSVDelimiter"), "CSVDelimiter");
		if ((y = Get(rc, "ManifestType")) != NULL)
			CheckString(y, where, SubField(f, "ManifestType"), "ManifestType");
		if ((y = Get(rc, "MaxItems")) != NULL)
			CheckInteger(y, 0, ASL_MAX_READER_ITEMS, where, SubField(f, "MaxItems"), "MaxItems");
		if ((y = Get(rc, "MaxItemsPath")) != NULL)
			CheckPath(y, 0, where, SubField(f, "MaxItemsPath"), "MaxItemsPath");
	}
}

static void
CheckItemBatcher(const JsonbValue *v, const char *where)
{
	const char *f = "ItemBatcher";
	JsonbContainer *c;
	JsonbValue *x;

	if (!IsObject(v))
		AslError(where, f, NULL, "\"ItemBatcher\" must be a JSON object, not %s", ValueKind(v));
	c = v->val.binary.data;
	CheckKeys(c, item_batcher_fields, where, f, "An ItemBatcher");
	CheckNotBoth(c, "MaxItemsPerBatch", "MaxItemsPerBatchPath", where, f);
	CheckNotBoth(c, "MaxInputBytesPerBatch", "MaxInputBytesPerBatchPath", where, f);
	if ((x = Get(c, "MaxItemsPerBatch")) != NULL)
		CheckInteger(x, 1, ASL_MAX_INT, where, SubField(f, "MaxItemsPerBatch"), "MaxItemsPerBatch");
	if ((x = Get(c, "MaxItemsPerBatchPath")) != NULL)
		CheckPath(x, 0, where, SubField(f, "MaxItemsPerBatchPath"), "MaxItemsPerBatchPath");
	if ((x = Get(c, "MaxInputBytesPerBatch")) != NULL)
		CheckInteger(x, 1, ASL_MAX_BATCH_BYTES, where, SubField(f, "MaxInputBytesPerBatch"),
					 "MaxInputBytesPerBatch");
	if ((x = Get(c, "MaxInputBytesPerBatchPath")) != NULL)
		CheckPath(x, 0, where, SubField(f, "MaxInputBytesPerBatchPath"),
				  "MaxInputBytesPerBatchPath");
	if ((x = Get(c, "BatchInput")) != NULL)
		CheckTemplate(x, false, where, SubField(f, "BatchInput"), "BatchInput");
}

static void
CheckResultWriter(const JsonbValue *v, const char *where)
{
	const char *f = "ResultWriter";
	JsonbContainer *c;
	JsonbValue *x;

	if (!IsObject(v))
		AslError(where, f, NULL, "\"ResultWriter\" must be a JSON object, not %s", ValueKind(v));
	c = v->val.binary.data;
	CheckKeys(c, result_writer_fields, where, f, "A ResultWriter");
	if ((x = Get(c, "Resource")) != NULL)
		CheckNonEmptyString(x, where, SubField(f, "Resource"), "Resource");
	if ((x = Get(c, "Parameters")) != NULL)
		CheckTemplate(x, false, where, SubField(f, "Parameters"), "Parameters");
	if ((x = Get(c, "WriterConfig")) != NULL && !IsObject(x))
		AslError(where, SubField(f, "WriterConfig"), NULL,
				 "\"WriterConfig\" must be a JSON object, not %s", ValueKind(x));
}

static void
CheckMap(AslCtx *cx, JsonbContainer *st, const char *where)
{
	static const char *const modes[] = {"INLINE", "DISTRIBUTED", NULL};
	static const char *const execution_types[] = {"STANDARD", "EXPRESS", NULL};
	JsonbValue *processor = Get(st, "ItemProcessor");
	JsonbValue *iterator = Get(st, "Iterator");
	JsonbValue *v;
	bool		distributed = false;
	const char *distributed_only[] = {"ItemReader", "ItemBatcher", "ResultWriter"};
	int			i;

	if (processor == NULL && iterator == NULL)
		AslError(where, NULL,
				 "A Map state runs \"ItemProcessor\" (or the older \"Iterator\"), {\"StartAt\": ..., \"States\": {...}}, for each item.",
				 "Map state has no \"ItemProcessor\"");
	if (processor != NULL && iterator != NULL)
		AslError(where, "Iterator",
				 "Iterator is the older name of ItemProcessor: give one of them.",
				 "\"ItemProcessor\" and \"Iterator\" cannot both be set");
	CheckNotBoth(st, "Parameters", "ItemSelector", where, NULL);
	CheckNotBoth(st, "MaxConcurrency", "MaxConcurrencyPath", where, NULL);
	CheckNotBoth(st, "ToleratedFailureCount", "ToleratedFailureCountPath", where, NULL);
	CheckNotBoth(st, "ToleratedFailurePercentage", "ToleratedFailurePercentagePath", where, NULL);

	if (processor != NULL)
	{
		JsonbContainer *pc;

		if (!IsObject(processor))
			AslError(where, "ItemProcessor", NULL, "\"ItemProcessor\" must be a JSON object, not %s",
					 ValueKind(processor));
		pc = processor->val.binary.data;
		CheckKeys(pc, item_processor_fields, where, "ItemProcessor", "An ItemProcessor");
		if ((v = Get(pc, "ProcessorConfig")) != NULL)
		{
			const char *f = "ItemProcessor.ProcessorConfig";
			JsonbContainer *cfg;
			JsonbValue *mode;
			JsonbValue *et;

			if (!IsObject(v))
				AslError(where, f, NULL, "\"ProcessorConfig\" must be a JSON object, not %s",
						 ValueKind(v));
			cfg = v->val.binary.data;
			CheckKeys(cfg, processor_config_fields, where, f, "A ProcessorConfig");
			if ((mode = Get(cfg, "Mode")) != NULL)
			{
				CheckEnum(mode, modes, where, SubField(f, "Mode"), "Mode");
				distributed = IsStringValue(mode, "DISTRIBUTED");
			}
			et = Get(cfg, "ExecutionType");
			if (et != NULL && !distributed)
				AslError(where, SubField(f, "ExecutionType"),
						 "An inline Map runs its items inside the execution; only a distributed Map starts child executions of a type.",
						 "\"ExecutionType\" is only for a distributed Map");
			if (et == NULL && distributed)
				AslError(where, f,
						 "A distributed Map says whether its child executions are \"STANDARD\" or \"EXPRESS\".",
						 "distributed Map has no \"ExecutionType\"");
			if (et != NULL)
				CheckEnum(et, execution_types, where, SubField(f, "ExecutionType"), "ExecutionType");
		}
	}
	else
	{
		if (!IsObject(iterator))
			AslError(where, "Iterator", NULL, "\"Iterator\" must be a JSON object, not %s",
					 ValueKind(iterator));
		CheckKeys(iterator->val.binary.data, iterator_fields, where, "Iterator", "An Iterator");
	}

	for (i = 0; i < (int) lengthof(distributed_only); i++)
		if (Get(st, distributed_only[i]) != NULL && !distributed)
			AslError(where, distributed_only[i],
					 "Set ItemProcessor.ProcessorConfig.Mode to \"DISTRIBUTED\" (pg_courier accepts distributed maps but does not run them).",
					 "\"%s\" is only for a distributed Map", distributed_only[i]);

	if ((v = Get(st, "ItemsPath")) != NULL)
		CheckPath(v, 0, where, "ItemsPath", "ItemsPath");
	if ((v = Get(st, "ItemSelector")) != NULL)
		CheckTemplate(v, true, where, "ItemSelector", "ItemSelector");
	if ((v = Get(st, "MaxConcurrency")) != NULL)
		CheckInteger(v, 0, ASL_MAX_INT, where, "MaxConcurrency", "MaxConcurrency");
	if ((v = Get(st, "MaxConcurrencyPath")) != NULL)
		CheckPath(v, 0, where, "MaxConcurrencyPath", "MaxConcurrencyPath");
	if ((v = Get(st, "ToleratedFailureCount")) != NULL)
		CheckInteger(v, 0, ASL_MAX_INT, where, "ToleratedFailureCount", "ToleratedFailureCount");
	if ((v = Get(st, "ToleratedFailureCountPath")) != NULL)
		CheckPath(v, 0, where, "ToleratedFailureCountPath", "ToleratedFailureCountPath");
	if ((v = Get(st, "ToleratedFailurePercentage")) != NULL &&
		(v->type != jbvNumeric || NumCmp(v->val.numeric, 0) < 0 ||
		 NumCmp(v->val.numeric, 100) > 0))
		AslError(where, "ToleratedFailurePercentage", NULL,
				 "\"ToleratedFailurePercentage\" must be a number from 0 to 100, not %s",
				 ValueText(v));
	if ((v = Get(st, "ToleratedFailurePercentagePath")) != NULL)
		CheckPath(v, 0, where, "ToleratedFailurePercentagePath", "ToleratedFailurePercentagePath");
	if ((v = Get(st, "ItemReader")) != NULL)
		CheckItemReader(v, where);
	if ((v = Get(st, "ItemBatcher")) != NULL)
		CheckItemBatcher(v, where);
	if ((v = Get(st, "ResultWriter")) != NULL)
		CheckResultWriter(v, where);
	if ((v = Get(st, "Label")) != NULL)
	{
		CheckNonEmptyString(v, where, "Label", "Label");
		if (pg_mbstrlen_with_len(v->val.string.val, v->val.string.len) > ASL_MAX_LABEL)
			AslError(where, "Label", NULL, "\"Label\" must have at most %d characters",
					 ASL_MAX_LABEL);
	}

	if (processor != NULL)
		ValidateScope(cx, processor->val.binary.data,
					  psprintf("%s item processor", where), SCOPE_ITEM_PROCESSOR);
	else
		ValidateScope(cx, iterator->val.binary.data,
					  psprintf("%s iterator", where), SCOPE_ITERATOR);
}


/* States */

static void
ValidateState(AslCtx *cx, JsonbContainer *st, AslNode *node)
{
	const char *where = node->where;
	JsonbValue *v;
	int			t;
	AslStateType type;
	bool		has_retry_catch;

	if ((v = Get(st, "Type")) == NULL)
		AslError(where, NULL,
				 psprintf("The types of state are %s.", JoinNames(state_type_names)),
				 "state has no \"Type\"");
	CheckString(v, where, "Type", "Type");
	for (t = 0; state_type_names[t] != NULL; t++)
		if (IsStringValue(v, state_type_names[t]))
			break;
	if (state_type_names[t] == NULL)
		AslError(where, "Type",
				 psprintf("The types of state are %s (with this capitalisation).",
						  JoinNames(state_type_names)),
				 "unknown state type %s", ValueText(v));
	type = (AslStateType) t;

	CheckStateKeys(st, type, where);

	/* what every type may have */
	if ((v = Get(st, "Comment")) != NULL)
		CheckString(v, where, "Comment", "Comment");
	if ((v = Get(st, "QueryLanguage")) != NULL && !IsStringValue(v, "JSONPath"))
		AslError(where, "QueryLanguage", "The query languages are \"JSONPath\" and \"JSONata\".",
				 "unknown query language %s", ValueText(v));
	if ((v = Get(st, "InputPath")) != NULL)
		CheckPath(v, PATH_NULL_OK, where, "InputPath", "InputPath");
	if ((v = Get(st, "OutputPath")) != NULL)
		CheckPath(v, PATH_NULL_OK, where, "OutputPath", "OutputPath");
	if ((v = Get(st, "Parameters")) != NULL)
		CheckTemplate(v, true, where, "Parameters", "Parameters");
	if ((v = Get(st, "ResultSelector")) != NULL)
		CheckTemplate(v, false, where, "ResultSelector", "ResultSelector");
	if ((v = Get(st, "ResultPath")) != NULL)
		CheckPath(v, PATH_NULL_OK | PATH_REFERENCE, where, "ResultPath", "ResultPath");
	if ((v = Get(st, "Assign")) != NULL)
		CheckAssign(v, where, "Assign");

	has_retry_catch = (type == ST_TASK || type == ST_PARALLEL || type == ST_MAP);
	if (has_retry_catch && (v = Get(st, "Retry")) != NULL)
		CheckRetry(v, where);
	if (has_retry_catch && (v = Get(st, "Catch")) != NULL)
		CheckCatch(v, node, where);

	switch (type)
	{
		case ST_TASK:
			CheckTask(st, where);
			break;
		case ST_PASS:
			break;
		case ST_CHOICE:
			CheckChoice(st, node, where);
			break;
		case ST_WAIT:
			CheckWait(st, where);
			break;
		case ST_SUCCEED:
		case ST_FAIL:
			node->terminal = true;
			if (type == ST_FAIL)
				CheckFail(st, where);
			break;
		case ST_PARALLEL:
			CheckParallel(cx, st, where);
			break;
		case ST_MAP:
			CheckMap(cx, st, where);
			break;
	}
	if (type != ST_CHOICE && type != ST_SUCCEED && type != ST_FAIL)
		CheckNextEnd(st, node, where);
}

/* Record a state's name for the whole definition; names are unique. */
static void
RegisterName(AslCtx *cx, AslScope *scope, AslNode *node)
{
	AslName    *entry;
	bool		found;

	entry = hash_search(cx->names, node->name, HASH_ENTER, &found);
	if (found)
		AslError(node->where, NULL,
				 "State names must be unique in the whole state machine, branches and item processors included.",
				 "state name \"%s\" is used twice; the other is %s", node->name,
				 entry->node->where);
	entry->scope = scope;
	entry->node = node;
}

/*
 * A scope: the top level, a Parallel branch or a Map item processor.  obj
 * is its object (StartAt, States, ...); where is NULL at the top level.
 */
static void
ValidateScope(AslCtx *cx, JsonbContainer *obj, const char *where, AslScopeKind kind)
{
	static const char *const versions[] = {"1.0", NULL};
	static const char *const *const fields[] = {
		top_fields, branch_fields, item_processor_fields, iterator_fields
	};
	static const char *const what[] = {
		"A state machine definition", "A branch", "An ItemProcessor", "An Iterator"
	};
	AslScope   *scope;
	JsonbValue *v;
	JsonbValue *keys;
	JsonbValue *vals;
	int			n;
	int			i;

	check_stack_depth();
	/* the item processor's and iterator's keys were checked by CheckMap */
	if (kind == SCOPE_TOP || kind == SCOPE_BRANCH)
		CheckKeys(obj, fields[kind], where, NULL, what[kind]);

	if ((v = Get(obj, "StartAt")) == NULL)
		AslError(where, NULL, "\"StartAt\" names the state to start with.",
				 "required field \"StartAt\" is missing");
	CheckNonEmptyString(v, where, "StartAt", "StartAt");
	scope = palloc0(sizeof(AslScope));
	scope->kind = kind;
	scope->where = where != NULL ? pstrdup(where) : NULL;
	scope->start_at = StringOf(v);
	cx->scopes = lappend(cx->scopes, scope);

	if ((v = Get(obj, "States")) == NULL)
		AslError(where, NULL, "\"States\" is an object of states, by name.",
				 "required field \"States\" is missing");
	if (!IsObject(v))
		AslError(where, "States", NULL, "\"States\" must be a JSON object, not %s",
				 ValueKind(v));
	if (JsonContainerSize(v->val.binary.data) == 0)
		AslError(where, "States", NULL, "\"States\" must not be empty");

	if (kind == SCOPE_TOP)
	{
		JsonbValue *x;

		if ((x = Get(obj, "Comment")) != NULL)
			CheckString(x, where, "Comment", "Comment");
		if ((x = Get(obj, "Version")) != NULL)
			CheckEnum(x, versions, where, "Version", "Version");
		if ((x = Get(obj, "TimeoutSeconds")) != NULL)
			CheckInteger(x, 1, ASL_MAX_INT, where, "TimeoutSeconds", "TimeoutSeconds");
		if ((x = Get(obj, "QueryLanguage")) != NULL && !IsStringValue(x, "JSONPath"))
			AslError(where, "QueryLanguage", "The query languages are \"JSONPath\" and \"JSONata\".",
					 "unknown query language %s", ValueText(x));
	}
	else if ((v = Get(obj, "Comment")) != NULL)
		CheckString(v, where, "Comment", "Comment");

	v = Get(obj, "States");
	n = CourierJsonbObjectPairs(v->val.binary.data, &keys, &vals);
	for (i = 0; i < n; i++)
	{
		const char *k = keys[i].val.string.val;
		int			klen = keys[i].val.string.len;
		AslNode    *node;

		CHECK_FOR_INTERRUPTS();
		node = palloc0(sizeof(AslNode));
		if (klen == 0)
			AslError(where, "States", NULL, "state name must not be empty");
		if (pg_mbstrlen_with_len(k, klen) > ASL_MAX_STATE_NAME)
			AslError(where, "States", NULL,
					 "state name %s is longer than %d characters",
					 Quoted(k, klen), ASL_MAX_STATE_NAME);
		node->name = pnstrdup(k, klen);
		node->where = where == NULL ? psprintf("State \"%s\"", node->name)
			: psprintf("%s state \"%s\"", where, node->name);
		if (!IsObject(&vals[i]))
			AslError(node->where, NULL, NULL, "a state must be a JSON object, not %s",
					 ValueKind(&vals[i]));
		RegisterName(cx, scope, node);
		scope->nodes = lappend(scope->nodes, node);
		ValidateState(cx, vals[i].val.binary.data, node);
	}
}


/* Pass 2: the graph of each scope */

static AslNode *
Resolve(AslCtx *cx, AslScope *scope, const char *target, const char *where,
		const char *field)
{
	AslName    *entry = NULL;

	if (strlen(target) < ASL_NAME_KEYSIZE)
		entry = hash_search(cx->names, target, HASH_FIND, NULL);
	if (entry == NULL)
		AslError(where, field, NULL, "state \"%s\" does not exist", target);
	if (entry->scope != scope)
	{
		char	   *hint = psprintf("Transitions cannot leave or enter a branch or item processor; \"%s\" is %s.",
									target, entry->node->where);

		if (scope->kind == SCOPE_TOP)
			AslError(where, field, hint, "state \"%s\" is not a top-level state", target);
		AslError(where, field, hint, "state \"%s\" is outside this %s",
				 target, scope_kind_names[scope->kind]);
	}
	return entry->node;
}

static void
CheckGraph(AslCtx *cx, AslScope *scope)
{
	AslNode    *start;
	List	   *queue;
	ListCell   *lc;
	ListCell   *le;
	int			i;
	bool		terminal = false;

	start = Resolve(cx, scope, scope->start_at, scope->where, "StartAt");
	foreach(lc, scope->nodes)
	{
		AslNode    *node = lfirst(lc);

		foreach(le, node->edges)
		{
			AslEdge    *e = lfirst(le);

			e->to = Resolve(cx, scope, e->target, node->where, e->field);
		}
	}

	start->reached = true;
	queue = list_make1(start);
	for (i = 0; i < list_length(queue); i++)
	{
		AslNode    *node = list_nth(queue, i);

		CHECK_FOR_INTERRUPTS();
		foreach(le, node->edges)
		{
			AslEdge    *e = lfirst(le);

			if (!e->to->reached)
			{
				e->to->reached = true;
				queue = lappend(queue, e->to);
			}
		}
	}
	foreach(lc, scope->nodes)
	{
		AslNode    *node = lfirst(lc);

		if (!node->reached)
			AslError(node->where, NULL,
					 "Every state must be reachable from StartAt through Next, Default, Choices or Catch; remove it or go to it from another state.",
					 "state \"%s\" is unreachable", node->name);
		terminal |= node->terminal;
	}
	if (!terminal)
		AslError(scope->where, scope->where == NULL ? "States" : NULL,
				 "A state with \"End\": true, a Succeed state or a Fail state ends the execution (or the branch or item processor).",
				 "there is no terminal state");
}


/* Pass 0: JSONata */

static void
RejectJsonataState(const char *where, const char *field)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("the JSONata query language is not supported"),
			 errdetail_internal("%s", Location(where, field)),
			 errhint("pg_courier runs state machines in the JSONPath query language only: leave QueryLanguage out or set it to \"JSONPath\".")));
}

/*
 * Any QueryLanguage "JSONata" in the scope obj or below, looked for in
 * whatever shape the definition has: what is malformed is pass 1's.
 */
static void
RejectJsonata(JsonbContainer *obj, const char *where)
{
	JsonbValue *v;
	JsonbValue *keys;
	JsonbValue *vals;
	int			n;
	int			i;

	check_stack_depth();
	if (where == NULL && (v = Get(obj, "QueryLanguage")) != NULL &&
		IsStringValue(v, "JSONata"))
		RejectJsonataState(NULL, "QueryLanguage");
	if ((v = Get(obj, "States")) == NULL || !IsObject(v))
		return;
	n = CourierJsonbObjectPairs(v->val.binary.data, &keys, &vals);
	for (i = 0; i < n; i++)
	{
		JsonbContainer *st;
		char	   *name;
		char	   *sw;
		JsonbValue *x;

		CHECK_FOR_INTERRUPTS();
		if (!IsObject(&vals[i]))
			continue;
		st = vals[i].val.binary.data;
		name = pnstrdup(keys[i].val.string.val, keys[i].val.string.len);
		sw = where == NULL ? psprintf("State \"%s\"", name)
			: psprintf("%s state \"%s\"", where, name);
		if ((x = Get(st, "QueryLanguage")) != NULL && IsStringValue(x, "JSONata"))
			RejectJsonataState(sw, "QueryLanguage");
		if ((x = Get(st, "Branches")) != NULL && IsArray(x))
		{
			JsonbValue *elems;
			int			ne = CourierJsonbArrayElements(x->val.binary.data, &elems);
			int			j;

			for (j = 0; j < ne; j++)
				if (IsObject(&elems[j]))
					RejectJsonata(elems[j].val.binary.data,
								  psprintf("%s branch %d", sw, j + 1));
		}
		if ((x = Get(st, "ItemProcessor")) != NULL && IsObject(x))
			RejectJsonata(x->val.binary.data, psprintf("%s item processor", sw));
		if ((x = Get(st, "Iterator")) != NULL && IsObject(x))
			RejectJsonata(x->val.binary.data, psprintf("%s iterator", sw));
	}
}


/* Entry points */

void
AslValidate(Jsonb *definition)
{
	MemoryContext cxt;
	MemoryContext old;
	HASHCTL		ctl;
	AslCtx		cx;
	ListCell   *lc;

	if (!JB_ROOT_IS_OBJECT(definition))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid state machine definition: it must be a JSON object"),
				 errdetail("The value given is a JSON %s.",
						   JB_ROOT_IS_SCALAR(definition) ? "scalar" : "array")));

	cxt = AllocSetContextCreate(CurrentMemoryContext, "ASL validation",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);

	RejectJsonata(&definition->root, NULL);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = ASL_NAME_KEYSIZE;
	ctl.entrysize = sizeof(AslName);
	ctl.hcxt = cxt;
	cx.names = hash_create("ASL state names", 64, &ctl,
						   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	cx.scopes = NIL;
	ValidateScope(&cx, &definition->root, NULL, SCOPE_TOP);

	foreach(lc, cx.scopes)
		CheckGraph(&cx, lfirst(lc));

	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}


/*
 * Duplicate keys.  jsonb keeps the last of duplicate keys, so they can only
 * be seen in the text: PostgreSQL's JSON parser walks it with a stack of
 * frames, one per open object or array, and each object's keys are sorted
 * and compared when it closes.
 */
typedef struct DupFrame
{
	bool		is_array;
	int			index;			/* current element, of an array */
	char	   *key;			/* current member, of an object */
	List	   *keys;			/* member names, of an object */
} DupFrame;

typedef struct DupState
{
	List	   *stack;			/* DupFrame, innermost last */
} DupState;

static int
CompareKeys(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* "States.Map.Iterator", "Choices[0]": where the innermost object is. */
static char *
DupPath(DupState *ds)
{
	StringInfoData s;
	ListCell   *lc;
	int			depth = list_length(ds->stack) - 1;
	int			i = 0;

	initStringInfo(&s);
	foreach(lc, ds->stack)
	{
		DupFrame   *f = lfirst(lc);

		if (i++ >= depth)
			break;
		if (f->is_array)
			appendStringInfo(&s, "[%d]", f->index);
		else
			appendStringInfo(&s, "%s%s", s.len > 0 ? "." : "", f->key);
	}
	return s.data;
}

static COURIER_JSON_ACTION
DupObjectStart(void *state)
{
	DupState   *ds = state;
	DupFrame   *f = palloc0(sizeof(DupFrame));

	check_stack_depth();
	ds->stack = lappend(ds->stack, f);
	COURIER_JSON_ACTION_DONE;
}

static COURIER_JSON_ACTION
DupArrayStart(void *state)
{
	DupState   *ds = state;
	DupFrame   *f = palloc0(sizeof(DupFrame));

	check_stack_depth();
	f->is_array = true;
	f->index = -1;
	ds->stack = lappend(ds->stack, f);
	COURIER_JSON_ACTION_DONE;
}

static COURIER_JSON_ACTION
DupArrayElementStart(void *state, bool isnull pg_attribute_unused())
{
	DupState   *ds = state;
	DupFrame   *f = llast(ds->stack);

	f->index++;
	COURIER_JSON_ACTION_DONE;
}

static COURIER_JSON_ACTION
DupFieldStart(void *state, char *fname, bool isnull pg_attribute_unused())
{
	DupState   *ds = state;
	DupFrame   *f = llast(ds->stack);

	f->key = fname;
	f->keys = lappend(f->keys, fname);
	COURIER_JSON_ACTION_DONE;
}

static COURIER_JSON_ACTION
DupObjectEnd(void *state)
{
	DupState   *ds = state;
	DupFrame   *f = llast(ds->stack);
	int			n = list_length(f->keys);

	if (n > 1)
	{
		char	  **keys = palloc(sizeof(char *) * n);
		ListCell   *lc;
		int			i = 0;

		foreach(lc, f->keys)
			keys[i++] = lfirst(lc);
		qsort(keys, n, sizeof(char *), CompareKeys);
		for (i = 1; i < n; i++)
		{
			CHECK_FOR_INTERRUPTS();
			if (strcmp(keys[i - 1], keys[i]) == 0)
			{
				char	   *path = DupPath(ds);

				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid state machine definition: duplicate key \"%s\"",
								keys[i]),
						 path[0] == '\0' ? errdetail("The key appears more than once in the top-level object.")
						 : errdetail("The key appears more than once in the object at \"%s\".", path),
						 errhint("A jsonb value keeps only the last of duplicate keys, so the others would be lost silently.")));
			}
		}
		pfree(keys);
	}
	ds->stack = list_delete_last(ds->stack);
	COURIER_JSON_ACTION_DONE;
}

static COURIER_JSON_ACTION
DupArrayEnd(void *state)
{
	DupState   *ds = state;

	ds->stack = list_delete_last(ds->stack);
	COURIER_JSON_ACTION_DONE;
}

/* Reject duplicate keys in JSON text already known to be valid JSON. */
static void
CheckDuplicateKeys(char *json, int len)
{
	JsonLexContext *lex = CourierJsonLexContext(json, len);
	JsonSemAction sem;
	DupState	ds;
	JsonParseErrorType rc;

	memset(&sem, 0, sizeof(sem));
	memset(&ds, 0, sizeof(ds));
	sem.semstate = &ds;
	sem.object_start = DupObjectStart;
	sem.object_end = DupObjectEnd;
	sem.array_start = DupArrayStart;
	sem.array_end = DupArrayEnd;
	sem.array_element_start = DupArrayElementStart;
	sem.object_field_start = DupFieldStart;
	rc = pg_parse_json(lex, &sem);
	if (rc != JSON_SUCCESS)
		elog(ERROR, "could not re-parse a state machine definition jsonb accepted");
}

Jsonb *
AslValidateText(const char *json, int len)
{
	char	   *cstr = pnstrdup(json, len);
	Jsonb	   *jb;
	MemoryContext cxt;
	MemoryContext old;

	/* jsonb_in reports text that is not JSON in the usual way (22P02) */
	jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(cstr)));

	cxt = AllocSetContextCreate(CurrentMemoryContext, "ASL duplicate keys",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	CheckDuplicateKeys(cstr, len);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	pfree(cstr);

	AslValidate(jb);
	return jb;
}

/*
 * courier.validate_state_machine_definition(definition jsonb) returns void
 */
Datum
courier_validate_state_machine_definition(PG_FUNCTION_ARGS)
{
	CourierArgNotNull(fcinfo, 0, "definition");
	AslValidate(PG_GETARG_JSONB_P(0));
	PG_RETURN_VOID();
}

/*
 * courier.validate_state_machine_definition(definition text) returns void
 *
 * The text form also rejects duplicate keys, which jsonb cannot show.
 */
Datum
courier_validate_state_machine_definition_text(PG_FUNCTION_ARGS)
{
	text	   *t;

	CourierArgNotNull(fcinfo, 0, "definition");
	t = PG_GETARG_TEXT_PP(0);
	(void) AslValidateText(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
	PG_RETURN_VOID();
}
