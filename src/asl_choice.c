/*-------------------------------------------------------------------------
 *
 * asl_choice.c
 *	  Choice rules of ASL (JSONPath mode): compiling a rule once, evaluating
 *	  it on an input.
 *
 * Vocabulary:
 *
 *	  rule			a comparison, a type test or a boolean rule
 *	  comparison	"Variable" (a path) and one operator of a family
 *					(String, Numeric, Boolean, Timestamp) with an operand: a
 *					literal, or for the ...Path twin a path to compare
 *					against
 *	  type test		IsNull, IsPresent, IsNumeric, IsString, IsBoolean,
 *					IsTimestamp, with true or false: does the variable have
 *					that property
 *	  boolean rule	And, Or (non-empty arrays of rules), Not (one rule)
 *	  timestamp		RFC 3339 as AWS restricts it: YYYY-MM-DDThh:mm:ss, an
 *					optional fraction, then Z or an offset +hh:mm / -hh:mm;
 *					uppercase T and Z
 *
 * A comparison whose values are not both of its family's type (a string, a
 * number, a boolean, a timestamp string) is false: AWS's recorded behaviour
 * (test/conformance/asl-choice-cases.json).  Strings compare by code point
 * (bytewise UTF-8), numbers by value (1 equals 1.0), timestamps as instants.
 * A Variable that selects nothing fails the state with States.Runtime,
 * except in IsPresent; IsPresent is true for a null.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "asl_choice.h"
#include "asl_int.h"
#include "pg_courier.h"

PG_FUNCTION_INFO_V1(courier_test_asl_choice);

typedef enum RuleKind
{
	RULE_AND,
	RULE_OR,
	RULE_NOT,
	RULE_COMPARISON
} RuleKind;

typedef enum Family
{
	FAMILY_STRING,
	FAMILY_NUMERIC,
	FAMILY_BOOLEAN,
	FAMILY_TIMESTAMP,
	FAMILY_TEST
} Family;

typedef enum Operation
{
	OP_EQ,
	OP_LT,
	OP_GT,
	OP_LE,
	OP_GE,
	OP_MATCHES,
	TEST_NULL,
	TEST_PRESENT,
	TEST_NUMERIC,
	TEST_STRING,
	TEST_BOOLEAN,
	TEST_TIMESTAMP
} Operation;

typedef struct Operator
{
	const char *name;
	Family		family;
	Operation	op;
	bool		path;			/* the ...Path twin */
} Operator;

static const Operator operators[] = {
	{"StringEquals", FAMILY_STRING, OP_EQ, false},
	{"StringEqualsPath", FAMILY_STRING, OP_EQ, true},
	{"StringLessThan", FAMILY_STRING, OP_LT, false},
	{"StringLessThanPath", FAMILY_STRING, OP_LT, true},
	{"StringGreaterThan", FAMILY_STRING, OP_GT, false},
	{"StringGreaterThanPath", FAMILY_STRING, OP_GT, true},
	{"StringLessThanEquals", FAMILY_STRING, OP_LE, false},
	{"StringLessThanEqualsPath", FAMILY_STRING, OP_LE, true},
	{"StringGreaterThanEquals", FAMILY_STRING, OP_GE, false},
	{"StringGreaterThanEqualsPath", FAMILY_STRING, OP_GE, true},
	{"StringMatches", FAMILY_STRING, OP_MATCHES, false},
	{"NumericEquals", FAMILY_NUMERIC, OP_EQ, false},
	{"NumericEqualsPath", FAMILY_NUMERIC, OP_EQ, true},
	{"NumericLessThan", FAMILY_NUMERIC, OP_LT, false},
	{"NumericLessThanPath", FAMILY_NUMERIC, OP_LT, true},
	{"NumericGreaterThan", FAMILY_NUMERIC, OP_GT, false},
	{"NumericGreaterThanPath", FAMILY_NUMERIC, OP_GT, true},
	{"NumericLessThanEquals", FAMILY_NUMERIC, OP_LE, false},
	{"NumericLessThanEqualsPath", FAMILY_NUMERIC, OP_LE, true},
	{"NumericGreaterThanEquals", FAMILY_NUMERIC, OP_GE, false},
	{"NumericGreaterThanEqualsPath", FAMILY_NUMERIC, OP_GE, true},
	{"BooleanEquals", FAMILY_BOOLEAN, OP_EQ, false},
	{"BooleanEqualsPath", FAMILY_BOOLEAN, OP_EQ, true},
	{"TimestampEquals", FAMILY_TIMESTAMP, OP_EQ, false},
	{"TimestampEqualsPath", FAMILY_TIMESTAMP, OP_EQ, true},
	{"TimestampLessThan", FAMILY_TIMESTAMP, OP_LT, false},
	{"TimestampLessThanPath", FAMILY_TIMESTAMP, OP_LT, true},
	{"TimestampGreaterThan", FAMILY_TIMESTAMP, OP_GT, false},
	{"TimestampGreaterThanPath", FAMILY_TIMESTAMP, OP_GT, true},
	{"TimestampLessThanEquals", FAMILY_TIMESTAMP, OP_LE, false},
	{"TimestampLessThanEqualsPath", FAMILY_TIMESTAMP, OP_LE, true},
	{"TimestampGreaterThanEquals", FAMILY_TIMESTAMP, OP_GE, false},
	{"TimestampGreaterThanEqualsPath", FAMILY_TIMESTAMP, OP_GE, true},
	{"IsNull", FAMILY_TEST, TEST_NULL, false},
	{"IsPresent", FAMILY_TEST, TEST_PRESENT, false},
	{"IsNumeric", FAMILY_TEST, TEST_NUMERIC, false},
	{"IsString", FAMILY_TEST, TEST_STRING, false},
	{"IsBoolean", FAMILY_TEST, TEST_BOOLEAN, false},
	{"IsTimestamp", FAMILY_TEST, TEST_TIMESTAMP, false},
};

/* An instant: seconds since 1970-01-01T00:00:00Z and nanoseconds. */
typedef struct Instant
{
	int64		seconds;
	int32		nanos;
} Instant;

struct AslChoiceRule
{
	RuleKind	kind;
	int			nrules;			/* AND, OR, NOT (1) */
	AslChoiceRule **rules;
	AslPath    *variable;		/* COMPARISON */
	const Operator *op;
	AslPath    *operand_path;	/* op->path */
	JsonbValue	operand;		/* literal operand */
	Instant		instant;		/* literal Timestamp operand */
	int			nsegments;		/* StringMatches: the pattern split at */
	char	  **segments;		/* its wildcards, unescaped */
	int		   *seglens;
};


/* Timestamps */

static bool
Digits(const char *s, int len, int pos, int n, int *out)
{
	int			i;

	*out = 0;
	if (pos + n > len)
		return false;
	for (i = 0; i < n; i++)
	{
		char		c = s[pos + i];

		if (c < '0' || c > '9')
			return false;
		*out = *out * 10 + (c - '0');
	}
	return true;
}

/* Days from 1970-01-01 to a proleptic Gregorian date. */
static int64
DaysFromCivil(int64 y, int m, int d)
{
	int64		era;
	int64		yoe;
	int64		doy;
	int64		doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool
ParseTimestamp(const char *s, int len, Instant *out)
{
	static const int month_days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int			year,
				month,
				day,
				hour,
				minute,
				second;
	int			pos = 19;
	int			nanos = 0;
	int			offset = 0;

	if (!Digits(s, len, 0, 4, &year) || len < 20 || s[4] != '-' ||
		!Digits(s, len, 5, 2, &month) || s[7] != '-' ||
		!Digits(s, len, 8, 2, &day) || s[10] != 'T' ||
		!Digits(s, len, 11, 2, &hour) || s[13] != ':' ||
		!Digits(s, len, 14, 2, &minute) || s[16] != ':' ||
		!Digits(s, len, 17, 2, &second))
		return false;
	if (month < 1 || month > 12 || day < 1 || day > month_days[month - 1] ||
		(month == 2 && day == 29 && !((year % 4 == 0 && year % 100 != 0) || year % 400 == 0)) ||
		hour > 23 || minute > 59 || second > 59)
		return false;
	if (pos < len && s[pos] == '.')
	{
		int			ndigits = 0;

		pos++;
		while (pos < len && s[pos] >= '0' && s[pos] <= '9')
		{
			if (ndigits < 9)
				nanos = nanos * 10 + (s[pos] - '0');
			ndigits++;
			pos++;
		}
		if (ndigits == 0)
			return false;
		for (; ndigits < 9; ndigits++)
			nanos *= 10;
	}
	if (pos < len && s[pos] == 'Z')
		pos++;
	else if (pos < len && (s[pos] == '+' || s[pos] == '-'))
	{
		int			oh,
					om;

		if (!Digits(s, len, pos + 1, 2, &oh) || pos + 3 >= len || s[pos + 3] != ':' ||
			!Digits(s, len, pos + 4, 2, &om) || oh > 23 || om > 59)
			return false;
		offset = (oh * 60 + om) * 60 * (s[pos] == '+' ? 1 : -1);
		pos += 6;
	}
	else
		return false;
	if (pos != len)
		return false;
	out->seconds = DaysFromCivil(year, month, day) * 86400 +
		hour * 3600 + minute * 60 + second - offset;
	out->nanos = nanos;
	return true;
}

static int
CompareInstants(const Instant *a, const Instant *b)
{
	if (a->seconds != b->seconds)
		return a->seconds < b->seconds ? -1 : 1;
	return (a->nanos > b->nanos) - (a->nanos < b->nanos);
}


/* Compiling */

static void RuleError(const char *fmt,...) pg_attribute_printf(1, 2) pg_attribute_noreturn();

static void
RuleError(const char *fmt,...)
{
	StringInfoData buf;

	initStringInfo(&buf);
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
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid Choice rule: %s", buf.data)));
	pg_unreachable();
}

static bool
KeyIs(const JsonbValue *key, const char *name)
{
	return strlen(name) == (size_t) key->val.string.len &&
		memcmp(key->val.string.val, name, key->val.string.len) == 0;
}

static void
WrongOperand(const char *field, const char *expected, const JsonbValue *v)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid Choice rule: %s must be %s", field, expected),
			 errdetail("The value given is a JSON %s.", AslTypeName(v))));
}

static char *
StringOf(const JsonbValue *v)
{
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* StringMatches: split the pattern at its unescaped "*"s. */
static void
CompilePattern(AslChoiceRule *rule, const JsonbValue *v)
{
	const char *s = v->val.string.val;
	int			len = v->val.string.len;
	int			max = 4;
	int			i;
	StringInfoData seg;

	rule->segments = palloc(sizeof(char *) * max);
	rule->seglens = palloc(sizeof(int) * max);
	initStringInfo(&seg);
	for (i = 0; i <= len; i++)
	{
		if (i < len && s[i] == '\\' && i + 1 < len && (s[i + 1] == '*' || s[i + 1] == '\\'))
		{
			appendStringInfoChar(&seg, s[++i]);
			continue;
		}
		if (i < len && s[i] != '*')
		{
			appendStringInfoChar(&seg, s[i]);
			continue;
		}
		if (rule->nsegments == max)
		{
			max *= 2;
			rule->segments = repalloc(rule->segments, sizeof(char *) * max);
			rule->seglens = repalloc(rule->seglens, sizeof(int) * max);
		}
		rule->segments[rule->nsegments] = pnstrdup(seg.data, seg.len);
		rule->seglens[rule->nsegments++] = seg.len;
		resetStringInfo(&seg);
	}
}

static AslChoiceRule *CompileRule(const JsonbValue *v, bool top, const char *where);

/* name: And, Or or Not; parent: where the rule is (NULL: the top) */
static void
CompileBoolean(AslChoiceRule *rule, const char *name, const JsonbValue *v, const char *parent)
{
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	elem;
	char	   *where;

	if (parent != NULL)
		name = psprintf("%s.%s", parent, name);
	if (rule->kind == RULE_NOT)
	{
		if (!AslIsObject(v))
			WrongOperand(name, "a rule (a JSON object)", v);
		rule->rules = palloc(sizeof(AslChoiceRule *));
		rule->rules[0] = CompileRule(v, false, name);
		rule->nrules = 1;
		return;
	}
	if (!AslIsArray(v))
		WrongOperand(name, "an array of rules", v);
	if (AslContainerSize(v) == 0)
		RuleError("%s must have at least one rule", name);
	rule->rules = palloc(sizeof(AslChoiceRule *) * AslContainerSize(v));
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		where = psprintf("%s[%d]", name, rule->nrules);
		if (!AslIsObject(&elem))
			WrongOperand(where, "a rule (a JSON object)", &elem);
		rule->rules[rule->nrules++] = CompileRule(&elem, false, where);
	}
}

static void
CompileOperand(AslChoiceRule *rule, const JsonbValue *v)
{
	const Operator *op = rule->op;

	if (op->path)
	{
		if (v->type != jbvString)
			WrongOperand(op->name, "a path (a string)", v);
		rule->operand_path = AslPathCompileField(StringOf(v), op->name);
		return;
	}
	switch (op->family)
	{
		case FAMILY_STRING:
			if (v->type != jbvString)
				WrongOperand(op->name, "a string", v);
			if (op->op == OP_MATCHES)
				CompilePattern(rule, v);
			break;
		case FAMILY_NUMERIC:
			if (v->type != jbvNumeric)
				WrongOperand(op->name, "a number", v);
			break;
		case FAMILY_BOOLEAN:
		case FAMILY_TEST:
			if (v->type != jbvBool)
				WrongOperand(op->name, "true or false", v);
			break;
		case FAMILY_TIMESTAMP:
			if (v->type != jbvString)
				WrongOperand(op->name, "a timestamp (a string)", v);
			if (!ParseTimestamp(v->val.string.val, v->val.string.len, &rule->instant))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid Choice rule: %s must be an RFC 3339 timestamp", op->name),
						 errdetail("\"%s\" is not one; a timestamp is written like \"2016-08-18T17:33:00Z\" or \"2016-08-18T17:33:00.5+02:00\".",
								   StringOf(v))));
			break;
	}
	/* copy: the compiled rule outlives the jsonb it was compiled from */
	rule->operand = *v;
	if (v->type == jbvString)
		rule->operand.val.string.val = StringOf(v);
	else if (v->type == jbvNumeric)
	{
		rule->operand.val.numeric = palloc(VARSIZE(v->val.numeric));
		memcpy(rule->operand.val.numeric, v->val.numeric, VARSIZE(v->val.numeric));
	}
}

static AslChoiceRule *
CompileRule(const JsonbValue *v, bool top, const char *where)
{
	AslChoiceRule *rule = palloc0(sizeof(AslChoiceRule));
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	child;
	JsonbValue	key = {0};
	JsonbValue	operand = {0};
	JsonbValue	boolean = {0};
	const char *first = NULL;
	char	   *variable = NULL;
	int			nops = 0;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	rule->kind = RULE_COMPARISON;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &child, true)) != WJB_DONE)
	{
		const char *name = NULL;
		int			i;

		if (tok == WJB_KEY)
		{
			key = child;
			continue;
		}
		if (tok != WJB_VALUE)
			continue;
		if (KeyIs(&key, "Variable"))
		{
			if (child.type != jbvString)
				WrongOperand("Variable", "a path (a string)", &child);
			variable = StringOf(&child);
			continue;
		}
		if (KeyIs(&key, "Next"))
		{
			if (!top)
				RuleError("a nested rule (%s) must not have Next", where);
			continue;
		}
		if (KeyIs(&key, "Comment") || KeyIs(&key, "Assign"))
			continue;
		if (KeyIs(&key, "And") || KeyIs(&key, "Or") || KeyIs(&key, "Not"))
		{
			name = KeyIs(&key, "And") ? "And" : KeyIs(&key, "Or") ? "Or" : "Not";
			rule->kind = name[0] == 'A' ? RULE_AND : name[0] == 'O' ? RULE_OR : RULE_NOT;
			boolean = child;
		}
		else
		{
			for (i = 0; i < (int) lengthof(operators); i++)
				if (KeyIs(&key, operators[i].name))
				{
					rule->op = &operators[i];
					name = operators[i].name;
					operand = child;
				}
			if (name == NULL)
				RuleError("unknown field \"%.*s\"%s%s", key.val.string.len, key.val.string.val,
						  where ? " in " : "", where ? where : "");
		}
		if (nops++ > 0)
			RuleError("a rule has one comparison operator or one of And, Or, Not; %s%s has both %s and %s",
					  where ? "rule " : "this one", where ? where : "", first, name);
		first = name;
	}
	if (nops == 0)
		RuleError("%s%s has no comparison operator and no And, Or or Not",
				  where ? "rule " : "the rule", where ? where : "");

	if (rule->kind != RULE_COMPARISON)
	{
		if (variable != NULL)
			RuleError("%s takes no Variable", first);
		CompileBoolean(rule, first, &boolean, where);
		return rule;
	}
	if (variable == NULL)
		RuleError("%s needs a Variable%s%s", rule->op->name, where ? " in " : "", where ? where : "");
	rule->variable = AslPathCompileField(variable, "Variable");
	CompileOperand(rule, &operand);
	return rule;
}

AslChoiceRule *
AslChoiceCompile(Jsonb *rule, MemoryContext cxt)
{
	MemoryContext oldcxt;
	AslChoiceRule *result;
	JsonbValue	v;

	if (!JB_ROOT_IS_OBJECT(rule))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid Choice rule: a rule must be a JSON object"),
				 errdetail("The value given is a JSON %s.",
						   JB_ROOT_IS_SCALAR(rule) ? "scalar" : "array")));
	oldcxt = MemoryContextSwitchTo(cxt);
	AslRootValue(rule, &v);
	result = CompileRule(&v, true, NULL);
	MemoryContextSwitchTo(oldcxt);
	return result;
}


/* Evaluation */

static bool
InvalidPath(AslError *err, const AslPath *path)
{
	return AslFail(err, ASL_ERROR_RUNTIME,
				   "Invalid path '%s': The choice state's condition path references an invalid value.",
				   AslPathText(path));
}

static bool
IsTimestamp(const JsonbValue *v, Instant *out)
{
	return v->type == jbvString && ParseTimestamp(v->val.string.val, v->val.string.len, out);
}

static bool
Matches(const AslChoiceRule *rule, const char *s, int len)
{
	int			first = rule->seglens[0];
	int			last = rule->seglens[rule->nsegments - 1];
	int			pos;
	int			end;
	int			i;

	if (rule->nsegments == 1)
		return len == first && memcmp(s, rule->segments[0], len) == 0;
	if (len < first + last ||
		memcmp(s, rule->segments[0], first) != 0 ||
		memcmp(s + len - last, rule->segments[rule->nsegments - 1], last) != 0)
		return false;

	/* the middle segments, leftmost first: enough for "*" alone */
	pos = first;
	end = len - last;
	for (i = 1; i < rule->nsegments - 1; i++)
	{
		int			n = rule->seglens[i];

		CHECK_FOR_INTERRUPTS();
		while (pos + n <= end && memcmp(s + pos, rule->segments[i], n) != 0)
			pos++;
		if (pos + n > end)
			return false;
		pos += n;
	}
	return true;
}

static bool
Holds(int cmp, Operation op)
{
	switch (op)
	{
		case OP_EQ:
			return cmp == 0;
		case OP_LT:
			return cmp < 0;
		case OP_GT:
			return cmp > 0;
		case OP_LE:
			return cmp <= 0;
		case OP_GE:
			return cmp >= 0;
		default:
			return false;
	}
}

static bool
Compare(const AslChoiceRule *rule, const JsonbValue *a, const JsonbValue *b)
{
	Operation	op = rule->op->op;

	switch (rule->op->family)
	{
		case FAMILY_STRING:
			if (a->type != jbvString || b->type != jbvString)
				return false;
			if (op == OP_MATCHES)
				return Matches(rule, a->val.string.val, a->val.string.len);
			else
			{
				int			cmp = memcmp(a->val.string.val, b->val.string.val,
										 Min(a->val.string.len, b->val.string.len));

				if (cmp == 0)
					cmp = (a->val.string.len > b->val.string.len) -
						(a->val.string.len < b->val.string.len);
				return Holds(cmp, op);
			}
		case FAMILY_NUMERIC:
			if (a->type != jbvNumeric || b->type != jbvNumeric)
				return false;
			return Holds(DatumGetInt32(DirectFunctionCall2(numeric_cmp,
														   NumericGetDatum(a->val.numeric),
														   NumericGetDatum(b->val.numeric))), op);
		case FAMILY_BOOLEAN:
			return a->type == jbvBool && b->type == jbvBool &&
				a->val.boolean == b->val.boolean;
		case FAMILY_TIMESTAMP:
			{
				Instant		x;
				Instant		y;

				if (!IsTimestamp(a, &x))
					return false;
				if (rule->operand_path == NULL)
					y = rule->instant;
				else if (!IsTimestamp(b, &y))
					return false;
				return Holds(CompareInstants(&x, &y), op);
			}
		default:
			return false;
	}
}

static bool
TypeTest(Operation op, const JsonbValue *v)
{
	Instant		ignored;

	switch (op)
	{
		case TEST_NULL:
			return v->type == jbvNull;
		case TEST_NUMERIC:
			return v->type == jbvNumeric;
		case TEST_STRING:
			return v->type == jbvString;
		case TEST_BOOLEAN:
			return v->type == jbvBool;
		case TEST_TIMESTAMP:
			return IsTimestamp(v, &ignored);
		default:
			return true;
	}
}

static bool
EvaluateRule(const AslChoiceRule *rule, const AslEnv *env, bool *matched, AslError *err)
{
	JsonbValue	value;
	JsonbValue	operand;
	bool		found;
	int			i;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	switch (rule->kind)
	{
		case RULE_AND:
		case RULE_OR:
			for (i = 0; i < rule->nrules; i++)
			{
				if (!EvaluateRule(rule->rules[i], env, matched, err))
					return false;
				if (*matched != (rule->kind == RULE_AND))
					return true;
			}
			return true;
		case RULE_NOT:
			if (!EvaluateRule(rule->rules[0], env, matched, err))
				return false;
			*matched = !*matched;
			return true;
		case RULE_COMPARISON:
			break;
	}

	found = AslPathLookup(rule->variable, env, &value, NULL);
	if (rule->op->op == TEST_PRESENT)
	{
		*matched = found == rule->operand.val.boolean;
		return true;
	}
	if (!found)
		return InvalidPath(err, rule->variable);
	if (rule->op->family == FAMILY_TEST)
	{
		*matched = TypeTest(rule->op->op, &value) == rule->operand.val.boolean;
		return true;
	}
	if (rule->operand_path != NULL)
	{
		if (!AslPathLookup(rule->operand_path, env, &operand, NULL))
			return InvalidPath(err, rule->operand_path);
	}
	else
		operand = rule->operand;
	*matched = Compare(rule, &value, &operand);
	return true;
}

bool
AslChoiceEvaluate(const AslChoiceRule *rule, Jsonb *input, Jsonb *context,
				  bool *matched, AslError *err)
{
	AslEnv		env;

	AslRootValue(input, &env.input);
	AslRootValue(context, &env.context);
	*matched = false;
	return EvaluateRule(rule, &env, matched, err);
}


/* SQL function */

/*
 * courier.test_asl_choice(rule jsonb, input jsonb, context jsonb)
 * returns boolean
 *
 * Does the Choice rule match the input?  A failure raises 22000
 * "<error name>: <cause>".
 */
Datum
courier_test_asl_choice(PG_FUNCTION_ARGS)
{
	AslChoiceRule *rule;
	bool		matched;
	AslError	err;

	CourierArgNotNull(fcinfo, 0, "rule");
	CourierArgNotNull(fcinfo, 1, "input");
	CourierArgNotNull(fcinfo, 2, "context");
	rule = AslChoiceCompile(PG_GETARG_JSONB_P(0), CurrentMemoryContext);
	if (!AslChoiceEvaluate(rule, PG_GETARG_JSONB_P(1), PG_GETARG_JSONB_P(2), &matched, &err))
		AslRaise(&err);
	PG_RETURN_BOOL(matched);
}
