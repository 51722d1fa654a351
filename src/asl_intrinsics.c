/*-------------------------------------------------------------------------
 *
 * asl_intrinsics.c
 *	  The intrinsic functions of ASL JSONPath mode (States.Format, ...):
 *	  parsed once with the payload template, evaluated per application.
 *
 * Vocabulary:
 *
 *	  call			"States.Name(argument, ...)", the whole value of a
 *					dynamic field of a payload template
 *	  argument		a 'string literal', a number, true, false, null, a path
 *					("$..." or "$$...") or a nested call (at most 10 calls
 *					deep, as AWS allows)
 *	  escape		in a string literal, \' \{ \} and \\ stand for the
 *					character; any other backslash is a syntax error
 *	  placeholder	an unescaped "{}" in the template of States.Format
 *
 * Syntax errors (22023) are found when compiling.  What depends on the data
 * (argument count and types, values out of range) fails when evaluating,
 * with States.IntrinsicFailure and a cause "Invalid arguments in
 * States.Name: ...", catchable like a task error.  A path argument that
 * selects nothing fails with States.Runtime, as AWS does.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>

#include "common/base64.h"
#include "common/cryptohash.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "asl_int.h"
#include "compat.h"

#define MAX_NESTED_CALLS	10		/* AWS: "up to 10 intrinsic functions" */
#define MAX_RANGE_ITEMS		1000	/* States.ArrayRange */
#define MAX_STRING_CHARS	10000	/* Base64Encode, Base64Decode, Hash */

typedef enum ArgKind
{
	ARG_VALUE,
	ARG_PATH,
	ARG_CALL
} ArgKind;

typedef struct AslArg
{
	ArgKind		kind;
	JsonbValue	value;			/* ARG_VALUE */
	int			nholes;			/* ARG_VALUE string: placeholders, as byte */
	int		   *holes;			/* offsets into value of each "{}" */
	AslPath    *path;			/* ARG_PATH */
	AslCall    *call;			/* ARG_CALL */
} AslArg;

/* One evaluation of a call: the arguments' values, where the result goes. */
typedef struct Invocation
{
	const AslCall *call;
	JsonbValue *args;
	int			nargs;
	JsonbValue *out;
	AslError   *err;
} Invocation;

typedef bool (*IntrinsicFn) (Invocation *inv);

typedef struct Intrinsic
{
	const char *name;
	IntrinsicFn fn;
	int			min_args;
	int			max_args;		/* -1: any number */
} Intrinsic;

struct AslCall
{
	const Intrinsic *fn;
	int			nargs;
	AslArg	   *args;
};

static bool IntrinsicFormat(Invocation *inv);
static bool IntrinsicStringToJson(Invocation *inv);
static bool IntrinsicJsonToString(Invocation *inv);
static bool IntrinsicArray(Invocation *inv);
static bool IntrinsicArrayPartition(Invocation *inv);
static bool IntrinsicArrayContains(Invocation *inv);
static bool IntrinsicArrayRange(Invocation *inv);
static bool IntrinsicArrayGetItem(Invocation *inv);
static bool IntrinsicArrayLength(Invocation *inv);
static bool IntrinsicArrayUnique(Invocation *inv);
static bool IntrinsicBase64Encode(Invocation *inv);
static bool IntrinsicBase64Decode(Invocation *inv);
static bool IntrinsicHash(Invocation *inv);
static bool IntrinsicJsonMerge(Invocation *inv);
static bool IntrinsicMathRandom(Invocation *inv);
static bool IntrinsicMathAdd(Invocation *inv);
static bool IntrinsicStringSplit(Invocation *inv);
static bool IntrinsicUUID(Invocation *inv);

static const Intrinsic intrinsics[] = {
	{"States.Format", IntrinsicFormat, 1, -1},
	{"States.StringToJson", IntrinsicStringToJson, 1, 1},
	{"States.JsonToString", IntrinsicJsonToString, 1, 1},
	{"States.Array", IntrinsicArray, 0, -1},
	{"States.ArrayPartition", IntrinsicArrayPartition, 2, 2},
	{"States.ArrayContains", IntrinsicArrayContains, 2, 2},
	{"States.ArrayRange", IntrinsicArrayRange, 3, 3},
	{"States.ArrayGetItem", IntrinsicArrayGetItem, 2, 2},
	{"States.ArrayLength", IntrinsicArrayLength, 1, 1},
	{"States.ArrayUnique", IntrinsicArrayUnique, 1, 1},
	{"States.Base64Encode", IntrinsicBase64Encode, 1, 1},
	{"States.Base64Decode", IntrinsicBase64Decode, 1, 1},
	{"States.Hash", IntrinsicHash, 2, 2},
	{"States.JsonMerge", IntrinsicJsonMerge, 3, 3},
	{"States.MathRandom", IntrinsicMathRandom, 2, 3},
	{"States.MathAdd", IntrinsicMathAdd, 2, 2},
	{"States.StringSplit", IntrinsicStringSplit, 2, 2},
	{"States.UUID", IntrinsicUUID, 0, 0},
};


/* Parsing */

typedef struct CallParser
{
	const char *text;
	int			len;
	int			pos;
	const char *field;
} CallParser;

static void CallError(CallParser *p, const char *reason) pg_attribute_noreturn();

static void
CallError(CallParser *p, const char *reason)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid intrinsic function call in field \"%s\"", p->field),
			 errdetail("%s at character %d of \"%s\".", reason,
					   pg_mbstrlen_with_len(p->text, Min(p->pos, p->len)) + 1, p->text)));
}

static void
CallSkipSpace(CallParser *p)
{
	while (p->pos < p->len && isspace((unsigned char) p->text[p->pos]))
		p->pos++;
}

static bool
CallWord(CallParser *p, const char *word)
{
	int			n = strlen(word);

	if (p->pos + n > p->len || memcmp(p->text + p->pos, word, n) != 0)
		return false;
	if (p->pos + n < p->len && isalnum((unsigned char) p->text[p->pos + n]))
		return false;
	p->pos += n;
	return true;
}

/* 'literal', with its placeholders noted for States.Format. */
static void
ParseStringLiteral(CallParser *p, AslArg *arg)
{
	StringInfoData buf;
	int			maxholes = 4;

	initStringInfo(&buf);
	arg->holes = palloc(sizeof(int) * maxholes);
	p->pos++;
	for (;;)
	{
		char		c;

		if (p->pos >= p->len)
			CallError(p, "Unterminated string literal");
		c = p->text[p->pos];
		if (c == '\'')
		{
			p->pos++;
			break;
		}
		if (c == '\\')
		{
			char		next = p->pos + 1 < p->len ? p->text[p->pos + 1] : '\0';

			if (next != '\'' && next != '{' && next != '}' && next != '\\')
				CallError(p, "A backslash escapes only \\', \\{, \\} and \\\\");
			appendStringInfoChar(&buf, next);
			p->pos += 2;
			continue;
		}
		if (c == '{' && p->pos + 1 < p->len && p->text[p->pos + 1] == '}')
		{
			if (arg->nholes == maxholes)
			{
				maxholes *= 2;
				arg->holes = repalloc(arg->holes, sizeof(int) * maxholes);
			}
			arg->holes[arg->nholes++] = buf.len;
			appendStringInfoString(&buf, "{}");
			p->pos += 2;
			continue;
		}
		appendStringInfoChar(&buf, c);
		p->pos++;
	}
	arg->kind = ARG_VALUE;
	arg->value.type = jbvString;
	arg->value.val.string.val = buf.data;
	arg->value.val.string.len = buf.len;
}

static void
ParseNumberLiteral(CallParser *p, AslArg *arg)
{
	int			start = p->pos;
	char	   *str;

	if (p->text[p->pos] == '-')
		p->pos++;
	if (p->pos >= p->len || !isdigit((unsigned char) p->text[p->pos]))
		CallError(p, "Expected a digit");
	while (p->pos < p->len && isdigit((unsigned char) p->text[p->pos]))
		p->pos++;
	if (p->pos < p->len && p->text[p->pos] == '.')
	{
		p->pos++;
		if (p->pos >= p->len || !isdigit((unsigned char) p->text[p->pos]))
			CallError(p, "Expected a digit");
		while (p->pos < p->len && isdigit((unsigned char) p->text[p->pos]))
			p->pos++;
	}
	if (p->pos < p->len && (p->text[p->pos] == 'e' || p->text[p->pos] == 'E'))
	{
		p->pos++;
		if (p->pos < p->len && (p->text[p->pos] == '+' || p->text[p->pos] == '-'))
			p->pos++;
		if (p->pos >= p->len || !isdigit((unsigned char) p->text[p->pos]))
			CallError(p, "Expected a digit");
		while (p->pos < p->len && isdigit((unsigned char) p->text[p->pos]))
			p->pos++;
	}
	str = pnstrdup(p->text + start, p->pos - start);
	arg->kind = ARG_VALUE;
	arg->value.type = jbvNumeric;
	arg->value.val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in,
																 CStringGetDatum(str),
																 ObjectIdGetDatum(InvalidOid),
																 Int32GetDatum(-1)));
}

static AslCall *ParseCall(CallParser *p, int depth);

static void
ParseArg(CallParser *p, AslArg *arg, int depth)
{
	char		c;

	CallSkipSpace(p);
	c = p->pos < p->len ? p->text[p->pos] : '\0';
	memset(arg, 0, sizeof(AslArg));
	if (c == '\'')
		ParseStringLiteral(p, arg);
	else if (c == '$')
	{
		if (p->pos + 1 < p->len &&
			(isalpha((unsigned char) p->text[p->pos + 1]) || p->text[p->pos + 1] == '_'))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("workflow variables are not supported: field \"%s\" refers to one",
							p->field),
					 errdetail("The call is \"%s\".", p->text)));
		arg->kind = ARG_PATH;
		arg->path = AslPathParseEmbedded(p->text, p->len, &p->pos, p->field);
	}
	else if (c == '-' || isdigit((unsigned char) c))
		ParseNumberLiteral(p, arg);
	else if (p->len - p->pos >= 7 && memcmp(p->text + p->pos, "States.", 7) == 0)
	{
		arg->kind = ARG_CALL;
		arg->call = ParseCall(p, depth + 1);
	}
	else if (CallWord(p, "true"))
	{
		arg->kind = ARG_VALUE;
		arg->value.type = jbvBool;
		arg->value.val.boolean = true;
	}
	else if (CallWord(p, "false"))
	{
		arg->kind = ARG_VALUE;
		arg->value.type = jbvBool;
		arg->value.val.boolean = false;
	}
	else if (CallWord(p, "null"))
	{
		arg->kind = ARG_VALUE;
		arg->value.type = jbvNull;
	}
	else
		CallError(p, "Expected an argument: a 'string', a number, true, false, null, a path or an intrinsic function call");
}

static AslCall *
ParseCall(CallParser *p, int depth)
{
	AslCall    *call = palloc0(sizeof(AslCall));
	int			start = p->pos;
	int			maxargs = 4;
	int			i;

	check_stack_depth();
	if (depth > MAX_NESTED_CALLS)
		CallError(p, "More than 10 nested intrinsic functions");
	p->pos += 7;				/* "States." */
	while (p->pos < p->len && isalnum((unsigned char) p->text[p->pos]))
		p->pos++;
	for (i = 0; i < (int) lengthof(intrinsics); i++)
		if (strlen(intrinsics[i].name) == (size_t) (p->pos - start) &&
			memcmp(intrinsics[i].name, p->text + start, p->pos - start) == 0)
			call->fn = &intrinsics[i];
	if (call->fn == NULL)
	{
		char	   *reason = psprintf("Unknown intrinsic function \"%.*s\"",
									  p->pos - start, p->text + start);

		p->pos = start;
		CallError(p, reason);
	}
	CallSkipSpace(p);
	if (p->pos >= p->len || p->text[p->pos] != '(')
		CallError(p, "Expected \"(\"");
	p->pos++;
	call->args = palloc(sizeof(AslArg) * maxargs);
	CallSkipSpace(p);
	if (p->pos < p->len && p->text[p->pos] == ')')
	{
		p->pos++;
		return call;
	}
	for (;;)
	{
		if (call->nargs == maxargs)
		{
			maxargs *= 2;
			call->args = repalloc(call->args, sizeof(AslArg) * maxargs);
		}
		ParseArg(p, &call->args[call->nargs++], depth);
		CallSkipSpace(p);
		if (p->pos < p->len && p->text[p->pos] == ',')
		{
			p->pos++;
			continue;
		}
		if (p->pos < p->len && p->text[p->pos] == ')')
		{
			p->pos++;
			return call;
		}
		CallError(p, "Expected \",\" or \")\"");
	}
}

AslCall *
AslIntrinsicCompile(const char *text, const char *field)
{
	CallParser	p;
	AslCall    *call;

	p.text = text;
	p.len = strlen(text);
	p.pos = 0;
	p.field = field;
	call = ParseCall(&p, 1);
	CallSkipSpace(&p);
	if (p.pos < p.len)
		CallError(&p, "Expected the end of the call");
	return call;
}


/* Evaluation */

static bool IntrinsicFail(Invocation *inv, const char *fmt,...) pg_attribute_printf(2, 3);

static bool
IntrinsicFail(Invocation *inv, const char *fmt,...)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "Invalid arguments in %s: ", inv->call->fn->name);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	inv->err->error = ASL_ERROR_INTRINSIC_FAILURE;
	inv->err->cause = buf.data;
	return false;
}

bool
AslIntrinsicEvaluate(const AslCall *call, const AslEnv *env, JsonbValue *out, AslError *err)
{
	JsonbValue *args = palloc(sizeof(JsonbValue) * Max(call->nargs, 1));
	Invocation	inv;
	int			i;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	inv.call = call;
	inv.args = args;
	inv.nargs = call->nargs;
	inv.out = out;
	inv.err = err;
	if (call->nargs < call->fn->min_args ||
		(call->fn->max_args >= 0 && call->nargs > call->fn->max_args))
	{
		if (call->fn->min_args == call->fn->max_args)
			return IntrinsicFail(&inv, "expected %d argument%s, got %d",
								 call->fn->min_args, call->fn->min_args == 1 ? "" : "s",
								 call->nargs);
		if (call->fn->max_args < 0)
			return IntrinsicFail(&inv, "expected at least %d argument%s, got %d",
								 call->fn->min_args, call->fn->min_args == 1 ? "" : "s",
								 call->nargs);
		return IntrinsicFail(&inv, "expected %d to %d arguments, got %d",
							 call->fn->min_args, call->fn->max_args, call->nargs);
	}
	for (i = 0; i < call->nargs; i++)
	{
		const AslArg *arg = &call->args[i];

		switch (arg->kind)
		{
			case ARG_VALUE:
				args[i] = arg->value;
				break;
			case ARG_PATH:
				if (!AslPathLookup(arg->path, env, &args[i], NULL))
				{
					const JsonbValue *in = AslPathIsContext(arg->path) ? &env->context : &env->input;

					return AslFail(err, ASL_ERROR_RUNTIME,
								   "The JsonPath argument for the field '%s' could not be found in the input '%s'",
								   AslPathText(arg->path), AslJsonText(in));
				}
				break;
			case ARG_CALL:
				if (!AslIntrinsicEvaluate(arg->call, env, &args[i], err))
					return false;
				break;
		}
	}
	return call->fn->fn(&inv);
}


/* Argument checks */

static const char *const ordinals[] = {"first", "second", "third"};

static const char *
Ordinal(int i)
{
	return i < (int) lengthof(ordinals) ? ordinals[i] : psprintf("%dth", i + 1);
}

static bool
WrongType(Invocation *inv, int i, const char *expected)
{
	return IntrinsicFail(inv, "the %s argument must be %s, not %s",
						 Ordinal(i), expected, AslTypeName(&inv->args[i]));
}

static double
NumberAsDouble(const JsonbValue *v)
{
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
											  NumericGetDatum(v->val.numeric)));
}

/* inv->args[i] must be an integer (2.0 counts) between min and max. */
static bool
IntegerArg(Invocation *inv, int i, int64 min, int64 max, int64 *out)
{
	double		d;

	if (inv->args[i].type != jbvNumeric)
		return WrongType(inv, i, "an integer");
	d = NumberAsDouble(&inv->args[i]);
	if (d != floor(d))
		return IntrinsicFail(inv, "the %s argument must be an integer, not %s",
							 Ordinal(i), AslJsonText(&inv->args[i]));
	if (d < (double) min || d > (double) max)
		return IntrinsicFail(inv, "the %s argument must be between " INT64_FORMAT " and " INT64_FORMAT ", not %s",
							 Ordinal(i), min, max, AslJsonText(&inv->args[i]));
	*out = (int64) d;
	return true;
}

/*
 * inv->args[i] must be a number; rounded to the nearest integer, halves up (as
 * Java's Math.round, which AWS documents for MathAdd and MathRandom), and
 * then within int32, the range AWS documents.
 */
static bool
RoundedArg(Invocation *inv, int i, int64 *out)
{
	double		d;

	if (inv->args[i].type != jbvNumeric)
		return WrongType(inv, i, "a number");
	d = floor(NumberAsDouble(&inv->args[i]) + 0.5);
	if (d < (double) PG_INT32_MIN || d > (double) PG_INT32_MAX)
		return IntrinsicFail(inv, "the %s argument must be between %d and %d, not %s",
							 Ordinal(i), PG_INT32_MIN, PG_INT32_MAX, AslJsonText(&inv->args[i]));
	*out = (int64) d;
	return true;
}

static void
StringValue(JsonbValue *out, char *s, int len)
{
	out->type = jbvString;
	out->val.string.val = s;
	out->val.string.len = len;
}

static void
NumberValue(JsonbValue *out, int64 n)
{
	out->type = jbvNumeric;
	out->val.numeric = int64_to_numeric(n);
}

static void
FinishArray(JsonbParseState **state, JsonbValue *out)
{
	AslBinaryValue(JsonbValueToJsonb(pushJsonbValue(state, WJB_END_ARRAY, NULL)), out);
}

/* The elements of array v, palloc'd; *n their count. */
static JsonbValue *
Elements(const JsonbValue *v, int *n)
{
	JsonbIterator *it = JsonbIteratorInit(v->val.binary.data);
	JsonbIteratorToken tok;
	JsonbValue	elem;
	JsonbValue *elems = palloc(sizeof(JsonbValue) * Max(AslContainerSize(v), 1));

	*n = 0;
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
		if (tok == WJB_ELEM)
			elems[(*n)++] = elem;
	return elems;
}


/* States.Format */

/*
 * A value as States.Format writes it: a string as it is, other scalars as
 * JSON, an array as [a, b], an object as {key=value, ...} (how AWS's Java
 * runtime prints them).
 */
static void
AppendFormatted(StringInfo buf, const JsonbValue *v)
{
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	child;
	bool		first = true;
	bool		object;

	if (v->type == jbvString)
	{
		appendBinaryStringInfo(buf, v->val.string.val, v->val.string.len);
		return;
	}
	if (v->type != jbvBinary)
	{
		AslAppendJson(buf, v, false);
		return;
	}
	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	object = AslIsObject(v);
	appendStringInfoChar(buf, object ? '{' : '[');
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &child, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY || tok == WJB_ELEM)
		{
			if (!first)
				appendStringInfoString(buf, ", ");
			first = false;
		}
		if (tok == WJB_KEY)
		{
			appendBinaryStringInfo(buf, child.val.string.val, child.val.string.len);
			appendStringInfoChar(buf, '=');
		}
		else if (tok == WJB_VALUE || tok == WJB_ELEM)
			AppendFormatted(buf, &child);
	}
	appendStringInfoChar(buf, object ? '}' : ']');
}

static bool
IntrinsicFormat(Invocation *inv)
{
	const AslArg *tmpl = &inv->call->args[0];
	const char *s;
	int			len;
	int		   *holes;
	int			nholes = 0;
	int			pos = 0;
	int			i;
	StringInfoData buf;

	if (inv->args[0].type != jbvString)
		return WrongType(inv, 0, "a string");
	s = inv->args[0].val.string.val;
	len = inv->args[0].val.string.len;
	if (tmpl->kind == ARG_VALUE)
	{
		/* a literal: the placeholders the parser saw (escaped braces are not) */
		holes = tmpl->holes;
		nholes = tmpl->nholes;
	}
	else
	{
		/* from the input or a call: every "{}" is a placeholder */
		holes = palloc(sizeof(int) * (len / 2 + 1));
		for (i = 0; i + 1 < len; i++)
			if (s[i] == '{' && s[i + 1] == '}')
			{
				holes[nholes++] = i;
				i++;
			}
	}
	if (nholes != inv->nargs - 1)
		return IntrinsicFail(inv, "the template has %d placeholder%s {} but %d value%s given",
							 nholes, nholes == 1 ? "" : "s", inv->nargs - 1,
							 inv->nargs - 1 == 1 ? " is" : "s are");
	initStringInfo(&buf);
	for (i = 0; i < nholes; i++)
	{
		appendBinaryStringInfo(&buf, s + pos, holes[i] - pos);
		AppendFormatted(&buf, &inv->args[i + 1]);
		pos = holes[i] + 2;
	}
	appendBinaryStringInfo(&buf, s + pos, len - pos);
	StringValue(inv->out, buf.data, buf.len);
	return true;
}


/* JSON */

static bool
IntrinsicStringToJson(Invocation *inv)
{
	char	   *why;

	if (inv->args[0].type != jbvString)
		return WrongType(inv, 0, "a string");
	if (!AslParseJson(inv->args[0].val.string.val, inv->args[0].val.string.len, inv->out, &why))
		return IntrinsicFail(inv, "the string is not valid JSON: %s", why);
	return true;
}

static bool
IntrinsicJsonToString(Invocation *inv)
{
	char	   *s = AslJsonText(&inv->args[0]);

	StringValue(inv->out, s, strlen(s));
	return true;
}

static bool
IntrinsicJsonMerge(Invocation *inv)
{
	JsonbParseState *state = NULL;
	int			i;

	if (!AslIsObject(&inv->args[0]))
		return WrongType(inv, 0, "an object");
	if (!AslIsObject(&inv->args[1]))
		return WrongType(inv, 1, "an object");
	if (inv->args[2].type != jbvBool)
		return WrongType(inv, 2, "a boolean");
	if (inv->args[2].val.boolean)
		return IntrinsicFail(inv, "deep merging is not supported; the third argument must be false");

	/* jsonb keeps the last of equal keys: the second object's values win */
	(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (i = 0; i < 2; i++)
	{
		JsonbIterator *it = JsonbIteratorInit(inv->args[i].val.binary.data);
		JsonbIteratorToken tok;
		JsonbValue	v;

		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			if (tok == WJB_KEY || tok == WJB_VALUE)
				(void) pushJsonbValue(&state, tok, &v);
	}
	AslBinaryValue(JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL)), inv->out);
	return true;
}


/* Arrays */

static bool
IntrinsicArray(Invocation *inv)
{
	JsonbParseState *state = NULL;
	int			i;

	(void) pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
	for (i = 0; i < inv->nargs; i++)
		(void) pushJsonbValue(&state, WJB_ELEM, &inv->args[i]);
	FinishArray(&state, inv->out);
	return true;
}

static bool
IntrinsicArrayPartition(Invocation *inv)
{
	JsonbParseState *state = NULL;
	JsonbValue *elems;
	int64		size;
	int			n;
	int			i;

	if (!AslIsArray(&inv->args[0]))
		return WrongType(inv, 0, "an array");
	if (!IntegerArg(inv, 1, 1, PG_INT32_MAX, &size))
		return false;
	elems = Elements(&inv->args[0], &n);
	(void) pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
	for (i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (i % size == 0)
			(void) pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
		(void) pushJsonbValue(&state, WJB_ELEM, &elems[i]);
		if (i % size == size - 1 || i == n - 1)
			(void) pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	}
	FinishArray(&state, inv->out);
	return true;
}

static bool
IntrinsicArrayContains(Invocation *inv)
{
	JsonbValue *elems;
	int			n;
	int			i;

	if (!AslIsArray(&inv->args[0]))
		return WrongType(inv, 0, "an array");
	elems = Elements(&inv->args[0], &n);
	inv->out->type = jbvBool;
	inv->out->val.boolean = false;
	for (i = 0; i < n && !inv->out->val.boolean; i++)
	{
		CHECK_FOR_INTERRUPTS();
		inv->out->val.boolean = AslJsonEqual(&elems[i], &inv->args[1]);
	}
	return true;
}

static bool
IntrinsicArrayRange(Invocation *inv)
{
	JsonbParseState *state = NULL;
	int64		start;
	int64		end;
	int64		step;
	int64		count;
	int64		i;

	if (!IntegerArg(inv, 0, PG_INT32_MIN, PG_INT32_MAX, &start) ||
		!IntegerArg(inv, 1, PG_INT32_MIN, PG_INT32_MAX, &end) ||
		!IntegerArg(inv, 2, PG_INT32_MIN, PG_INT32_MAX, &step))
		return false;
	if (step == 0)
		return IntrinsicFail(inv, "the step (third argument) must not be 0");
	/* the end is included when the steps reach it; a wrong-way step gives [] */
	if (end != start && (end > start) != (step > 0))
		count = 0;
	else
		count = (end - start) / step + 1;
	if (count > MAX_RANGE_ITEMS)
		return IntrinsicFail(inv, "the range has " INT64_FORMAT " items; at most %d are allowed",
							 count, MAX_RANGE_ITEMS);
	(void) pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
	for (i = 0; i < count; i++)
	{
		JsonbValue	v;

		NumberValue(&v, start + i * step);
		(void) pushJsonbValue(&state, WJB_ELEM, &v);
	}
	FinishArray(&state, inv->out);
	return true;
}

static bool
IntrinsicArrayGetItem(Invocation *inv)
{
	int64		index;
	int			size;
	JsonbValue *elem;

	if (!AslIsArray(&inv->args[0]))
		return WrongType(inv, 0, "an array");
	if (!IntegerArg(inv, 1, 0, PG_INT32_MAX, &index))
		return false;
	size = AslContainerSize(&inv->args[0]);
	if (index >= size)
		return IntrinsicFail(inv, "the index " INT64_FORMAT " is out of bounds for an array of length %d",
							 index, size);
	elem = getIthJsonbValueFromContainer(inv->args[0].val.binary.data, (uint32) index);
	*inv->out = *elem;
	return true;
}

static bool
IntrinsicArrayLength(Invocation *inv)
{
	if (!AslIsArray(&inv->args[0]))
		return WrongType(inv, 0, "an array");
	NumberValue(inv->out, AslContainerSize(&inv->args[0]));
	return true;
}

typedef struct UniqueItem
{
	char	   *text;			/* canonical text */
	int			index;
} UniqueItem;

static int
CompareUniqueItems(const void *a, const void *b)
{
	const UniqueItem *x = a;
	const UniqueItem *y = b;
	int			cmp = strcmp(x->text, y->text);

	return cmp != 0 ? cmp : (x->index > y->index) - (x->index < y->index);
}

/*
 * Sort by canonical text (numbers normalised, keys in jsonb's order), so
 * that equal values are adjacent, the first occurrence first; keep that one.
 * O(n log n), where comparing every pair would be O(n^2) on a 256 KiB array.
 */
static bool
IntrinsicArrayUnique(Invocation *inv)
{
	JsonbParseState *state = NULL;
	JsonbValue *elems;
	UniqueItem *items;
	bool	   *keep;
	int			n;
	int			i;

	if (!AslIsArray(&inv->args[0]))
		return WrongType(inv, 0, "an array");
	elems = Elements(&inv->args[0], &n);
	items = palloc(sizeof(UniqueItem) * Max(n, 1));
	keep = palloc0(sizeof(bool) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		StringInfoData buf;

		CHECK_FOR_INTERRUPTS();
		initStringInfo(&buf);
		AslAppendJson(&buf, &elems[i], true);
		items[i].text = buf.data;
		items[i].index = i;
	}
	qsort(items, n, sizeof(UniqueItem), CompareUniqueItems);
	for (i = 0; i < n; i++)
		if (i == 0 || strcmp(items[i].text, items[i - 1].text) != 0)
			keep[items[i].index] = true;
	(void) pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
	for (i = 0; i < n; i++)
		if (keep[i])
			(void) pushJsonbValue(&state, WJB_ELEM, &elems[i]);
	FinishArray(&state, inv->out);
	return true;
}


/* Encoding and hashing */

static bool
ShortString(Invocation *inv, int i)
{
	int			nchars;

	if (inv->args[i].type != jbvString)
		return WrongType(inv, i, "a string");
	nchars = pg_mbstrlen_with_len(inv->args[i].val.string.val, inv->args[i].val.string.len);
	if (nchars > MAX_STRING_CHARS)
		return IntrinsicFail(inv, "the %s argument has %d characters; at most %d are allowed",
							 Ordinal(i), nchars, MAX_STRING_CHARS);
	return true;
}

static bool
IntrinsicBase64Encode(Invocation *inv)
{
	int			len;
	char	   *dst;
	int			n;

	if (!ShortString(inv, 0))
		return false;
	len = pg_b64_enc_len(inv->args[0].val.string.len);
	dst = palloc(len + 1);
	/* void pointers: the byte arguments are char or uint8 by version */
	n = pg_b64_encode((const void *) inv->args[0].val.string.val, inv->args[0].val.string.len, dst, len);
	if (n < 0)
		elog(ERROR, "could not encode base64");
	StringValue(inv->out, dst, n);
	return true;
}

static bool
IntrinsicBase64Decode(Invocation *inv)
{
	const char *src;
	int			len;
	char	   *padded;
	char	   *dst;
	int			n;

	if (!ShortString(inv, 0))
		return false;
	src = inv->args[0].val.string.val;
	len = inv->args[0].val.string.len;
	/* padding is optional, as for Java's decoder */
	if (len % 4 == 1)
		return IntrinsicFail(inv, "the string is not valid base64");
	padded = palloc(len + 4);
	memcpy(padded, src, len);
	while (len % 4 != 0)
		padded[len++] = '=';
	dst = palloc(pg_b64_dec_len(len) + 1);
	n = pg_b64_decode(padded, len, (void *) dst, pg_b64_dec_len(len));
	if (n < 0)
		return IntrinsicFail(inv, "the string is not valid base64");
	if (memchr(dst, '\0', n) != NULL || !pg_verifymbstr(dst, n, true))
		return IntrinsicFail(inv, "the decoded bytes are not a valid string in the database encoding");
	StringValue(inv->out, dst, n);
	return true;
}

static const struct
{
	const char *name;
	pg_cryptohash_type type;
	int			bytes;
}			hash_algorithms[] =
{
	{"MD5", PG_MD5, 16},
#ifdef COURIER_HAS_CRYPTOHASH_SHA1
	{"SHA-1", PG_SHA1, 20},
#endif
	{"SHA-256", PG_SHA256, 32},
	{"SHA-384", PG_SHA384, 48},
	{"SHA-512", PG_SHA512, 64},
};

static bool
IntrinsicHash(Invocation *inv)
{
	pg_cryptohash_ctx *ctx;
	uint8		digest[64];
	char	   *hex;
	int			alg = -1;
	int			i;

	if (!ShortString(inv, 0))
		return false;
	if (inv->args[1].type != jbvString)
		return WrongType(inv, 1, "a string");
	for (i = 0; i < (int) lengthof(hash_algorithms); i++)
		if (strlen(hash_algorithms[i].name) == (size_t) inv->args[1].val.string.len &&
			memcmp(hash_algorithms[i].name, inv->args[1].val.string.val, inv->args[1].val.string.len) == 0)
			alg = i;
	if (alg < 0)
		return IntrinsicFail(inv, "unknown hash algorithm \"%.*s\"; it must be MD5, SHA-1, SHA-256, SHA-384 or SHA-512",
							 inv->args[1].val.string.len, inv->args[1].val.string.val);

	ctx = pg_cryptohash_create(hash_algorithms[alg].type);
	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) inv->args[0].val.string.val, inv->args[0].val.string.len) < 0 ||
		CourierCryptohashFinal(ctx, digest, sizeof(digest)) < 0)
	{
		pg_cryptohash_free(ctx);
		return IntrinsicFail(inv, "the %s hash could not be computed",
							 hash_algorithms[alg].name);
	}
	pg_cryptohash_free(ctx);
	hex = palloc(hash_algorithms[alg].bytes * 2 + 1);
	hex_encode((const char *) digest, hash_algorithms[alg].bytes, hex);
	StringValue(inv->out, hex, hash_algorithms[alg].bytes * 2);
	return true;
}


/* Math */

/* splitmix64: a small generator whose sequence depends only on the seed. */
static uint64
SplitMix64(uint64 *state)
{
	uint64		z = (*state += UINT64CONST(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64CONST(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64CONST(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

static bool
IntrinsicMathRandom(Invocation *inv)
{
	int64		start;
	int64		end;
	uint64		span;
	uint64		r;

	if (!RoundedArg(inv, 0, &start) ||
		!RoundedArg(inv, 1, &end))
		return false;
	if (start > end)
		return IntrinsicFail(inv, "the start " INT64_FORMAT " is greater than the end " INT64_FORMAT,
							 start, end);
	span = (uint64) (end - start) + 1;	/* both ends included */
	if (inv->nargs == 3)
	{
		int64		seed;
		uint64		state;

		if (!RoundedArg(inv, 2, &seed))
			return false;
		state = (uint64) seed;
		r = SplitMix64(&state) % span;
	}
	else
		r = (uint64) floor(CourierRandomDouble() * (double) span);
	NumberValue(inv->out, start + (int64) r);
	return true;
}

static bool
IntrinsicMathAdd(Invocation *inv)
{
	int64		a;
	int64		b;

	if (!RoundedArg(inv, 0, &a) ||
		!RoundedArg(inv, 1, &b))
		return false;
	NumberValue(inv->out, a + b);
	return true;
}


/* Strings and identifiers */

static bool
IntrinsicStringSplit(Invocation *inv)
{
	JsonbParseState *state = NULL;
	const char *s;
	const char *d;
	int			len;
	int			dlen;
	int			pos = 0;
	int			piece = 0;

	if (inv->args[0].type != jbvString)
		return WrongType(inv, 0, "a string");
	if (inv->args[1].type != jbvString)
		return WrongType(inv, 1, "a string");
	s = inv->args[0].val.string.val;
	len = inv->args[0].val.string.len;
	d = inv->args[1].val.string.val;
	dlen = inv->args[1].val.string.len;

	/* split on each character of the delimiters; empty pieces are dropped */
	(void) pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
	while (pos <= len)
	{
		int			clen = pos < len ? pg_mblen(s + pos) : 0;
		bool		cut = pos == len;
		int			dpos;

		CHECK_FOR_INTERRUPTS();
		for (dpos = 0; !cut && dpos < dlen; dpos += pg_mblen(d + dpos))
			cut = pg_mblen(d + dpos) == clen && memcmp(d + dpos, s + pos, clen) == 0;
		if (cut)
		{
			if (pos > piece)
			{
				JsonbValue	v;

				StringValue(&v, (char *) s + piece, pos - piece);
				(void) pushJsonbValue(&state, WJB_ELEM, &v);
			}
			piece = pos + clen;
		}
		if (pos == len)
			break;
		pos += clen;
	}
	FinishArray(&state, inv->out);
	return true;
}

static bool
IntrinsicUUID(Invocation *inv)
{
	uint8		bytes[16];
	char	   *s = palloc(37);
	int			i;
	int			pos = 0;

	if (!pg_strong_random(bytes, sizeof(bytes)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random UUID")));
	bytes[6] = (bytes[6] & 0x0f) | 0x40;	/* version 4 */
	bytes[8] = (bytes[8] & 0x3f) | 0x80;	/* variant RFC 4122 */
	for (i = 0; i < 16; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			s[pos++] = '-';
		hex_encode((const char *) &bytes[i], 1, s + pos);
		pos += 2;
	}
	s[pos] = '\0';
	StringValue(inv->out, s, pos);
	return true;
}
