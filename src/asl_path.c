/*-------------------------------------------------------------------------
 *
 * asl_path.c
 *	  JSONPath as Amazon States Language uses it (JSONPath mode): compiling
 *	  paths once, evaluating them on a state's input or on the context
 *	  object.
 *
 * Vocabulary:
 *
 *	  path			"$" (the state input), "$$" (the context object) or, in
 *					a filter, "@" (the element tested), followed by steps
 *	  step			a selector, maybe after ".." (deep: applied to the node
 *					and every container below it, in document order):
 *					  key		.name or ['name'] (or ["name"])
 *					  index		[n]; negative counts from the end
 *					  union		[n,m,...]
 *					  slice		[a:b], [a:], [:b] (b excluded; negatives count
 *								from the end)
 *					  wildcard	.* or [*]: every value of an object, every
 *								element of an array
 *					  filter	[?(expression)]: the elements of an array (or
 *								an object itself) for which the expression
 *								holds
 *	  definite		a path of key and index steps only: it selects one value
 *					or nothing
 *	  indefinite	any other path: it selects the array of its matches, []
 *					when there are none (as Jayway JsonPath, which AWS uses,
 *					does)
 *	  reference		a path AWS calls a Reference Path: definite, and so
 *					usable where one node is written or read (ResultPath,
 *					ItemsPath, the *Path fields)
 *	  miss			a definite path selecting nothing: the reason is worded
 *					as Jayway words it, e.g. "No results for path:
 *					$['a']['b']", because AWS puts that text in its causes
 *
 * Filter expressions: operands are paths ("@..." relative to the element,
 * "$..." from the input), numbers, 'strings' or "strings", true, false,
 * null, [lists] of those, and /regular expressions/ (after =~, flag i).
 * Operators: == != < <= > >= =~ in nin subsetof anyof noneof size empty
 * contains, combined with && || ! and parentheses; an operand path alone
 * tests that it exists.  Comparing values of different types is false;
 * strings order by code point.  A regular expression must match the whole
 * string (Java's matches(), which Jayway uses); PostgreSQL's regular
 * expression engine runs it.
 *
 * Not supported: Jayway's functions (length(), min(), ...), several keys in
 * one bracket, slice steps ([a:b:c]), workflow variables ($name).
 *
 * The processing steps that use paths (InputPath, ResultPath, OutputPath)
 * are in asl_io.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "catalog/pg_collation.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "regex/regex.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "asl_int.h"

/* Compiled form */

typedef enum AslRoot
{
	ROOT_INPUT,					/* $ */
	ROOT_CONTEXT,				/* $$ */
	ROOT_CURRENT				/* @ */
} AslRoot;

typedef enum AslStepKind
{
	STEP_KEY,
	STEP_INDEX,
	STEP_UNION,
	STEP_SLICE,
	STEP_WILDCARD,
	STEP_FILTER
} AslStepKind;

typedef struct AslFilter AslFilter;

typedef struct AslStep
{
	AslStepKind kind;
	bool		deep;			/* after ".." */
	char	   *key;			/* STEP_KEY */
	int			keylen;
	int32		index;			/* STEP_INDEX */
	int			nindexes;		/* STEP_UNION */
	int32	   *indexes;
	bool		has_start;		/* STEP_SLICE */
	bool		has_end;
	int32		start;
	int32		end;
	AslFilter  *filter;			/* STEP_FILTER */
} AslStep;

struct AslPath
{
	char	   *text;
	AslRoot		root;
	bool		definite;
	int			nsteps;
	AslStep    *steps;
};

typedef enum FilterKind
{
	FILTER_AND,
	FILTER_OR,
	FILTER_NOT,
	FILTER_EXISTS,
	FILTER_COMPARE
} FilterKind;

typedef enum FilterOp
{
	FOP_EQ,
	FOP_NE,
	FOP_LT,
	FOP_LE,
	FOP_GT,
	FOP_GE,
	FOP_REGEX,
	FOP_IN,
	FOP_NIN,
	FOP_SUBSETOF,
	FOP_ANYOF,
	FOP_NONEOF,
	FOP_SIZE,
	FOP_EMPTY,
	FOP_CONTAINS
} FilterOp;

typedef enum OperandKind
{
	OPERAND_PATH,
	OPERAND_VALUE,
	OPERAND_REGEX
} OperandKind;

typedef struct FilterOperand
{
	OperandKind kind;
	AslPath    *path;			/* OPERAND_PATH */
	JsonbValue	value;			/* OPERAND_VALUE */
	text	   *regex;			/* OPERAND_REGEX: anchored pattern */
	int			cflags;
} FilterOperand;

struct AslFilter
{
	FilterKind	kind;
	AslFilter  *left;			/* AND, OR, NOT */
	AslFilter  *right;			/* AND, OR */
	FilterOp	op;				/* COMPARE */
	FilterOperand a;			/* EXISTS, COMPARE */
	FilterOperand b;			/* COMPARE */
};

static const struct
{
	const char *name;
	FilterOp	op;
}			word_operators[] =
{
	{"subsetof", FOP_SUBSETOF},
	{"contains", FOP_CONTAINS},
	{"noneof", FOP_NONEOF},
	{"anyof", FOP_ANYOF},
	{"empty", FOP_EMPTY},
	{"size", FOP_SIZE},
	{"nin", FOP_NIN},
	{"in", FOP_IN},
};


/* Parsing */

typedef struct PathParser
{
	const char *text;			/* the whole text (for messages) */
	int			len;
	int			pos;			/* byte offset into text */
	const char *field;			/* the template field it belongs to, or NULL */
	bool		intrinsic;		/* text is an intrinsic function call */
} PathParser;

static void ParseError(PathParser *p, const char *reason) pg_attribute_noreturn();

static void
ParseError(PathParser *p, const char *reason)
{
	int			chr = pg_mbstrlen_with_len(p->text, Min(p->pos, p->len)) + 1;

	if (p->intrinsic)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid intrinsic function call in field \"%s\"", p->field),
				 errdetail("%s at character %d of \"%s\".", reason, chr, p->text)));
	if (p->field != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid JSONPath \"%s\" in field \"%s\"", p->text, p->field),
				 errdetail("%s at character %d.", reason, chr)));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid JSONPath \"%s\"", p->text),
			 errdetail("%s at character %d.", reason, chr)));
}

static void
SkipSpace(PathParser *p)
{
	while (p->pos < p->len &&
		   (p->text[p->pos] == ' ' || p->text[p->pos] == '\t' ||
			p->text[p->pos] == '\n' || p->text[p->pos] == '\r'))
		p->pos++;
}

static char
Peek(PathParser *p)
{
	return p->pos < p->len ? p->text[p->pos] : '\0';
}

static void
Expect(PathParser *p, char c, const char *reason)
{
	if (Peek(p) != c)
		ParseError(p, reason);
	p->pos++;
}

/* Characters that end a key in dot notation. */
static bool
IsKeyChar(unsigned char c)
{
	switch (c)
	{
		case '\0':
		case '.':
		case '[':
		case ']':
		case '(':
		case ')':
		case '\'':
		case '"':
		case ',':
		case ' ':
		case '\t':
		case '\n':
		case '\r':
		case '=':
		case '!':
		case '<':
		case '>':
		case '&':
		case '|':
			return false;
		default:
			return true;
	}
}

/* An integer ([-]digits) within int32. */
static int32
ParseInt(PathParser *p)
{
	bool		negative = false;
	int64		n = 0;
	int			start;

	if (Peek(p) == '-')
	{
		negative = true;
		p->pos++;
	}
	start = p->pos;
	while (Peek(p) >= '0' && Peek(p) <= '9')
	{
		n = n * 10 + (p->text[p->pos] - '0');
		if (n > PG_INT32_MAX)
			ParseError(p, "Number too large");
		p->pos++;
	}
	if (p->pos == start)
		ParseError(p, "Expected a number");
	return (int32) (negative ? -n : n);
}

/* A quoted string at p->pos ('...' or "..."); a backslash escapes any character. */
static void
ParseQuoted(PathParser *p, JsonbValue *out)
{
	char		quote = p->text[p->pos];
	StringInfoData buf;

	initStringInfo(&buf);
	p->pos++;
	for (;;)
	{
		char		c = Peek(p);

		if (p->pos >= p->len)
			ParseError(p, "Unterminated quoted string");
		p->pos++;
		if (c == quote)
			break;
		if (c == '\\')
		{
			if (p->pos >= p->len)
				ParseError(p, "Unterminated quoted string");
			c = p->text[p->pos++];
		}
		appendStringInfoChar(&buf, c);
	}
	out->type = jbvString;
	out->val.string.val = buf.data;
	out->val.string.len = buf.len;
}

static bool
IsDigit(char c)
{
	return c >= '0' && c <= '9';
}

/* A JSON number at p->pos. */
static void
ParseNumber(PathParser *p, JsonbValue *out)
{
	int			start = p->pos;
	char	   *str;

	if (Peek(p) == '-')
		p->pos++;
	if (!IsDigit(Peek(p)))
		ParseError(p, "Expected a number");
	while (IsDigit(Peek(p)))
		p->pos++;
	if (Peek(p) == '.')
	{
		p->pos++;
		if (!IsDigit(Peek(p)))
			ParseError(p, "Expected a digit");
		while (IsDigit(Peek(p)))
			p->pos++;
	}
	if (Peek(p) == 'e' || Peek(p) == 'E')
	{
		p->pos++;
		if (Peek(p) == '+' || Peek(p) == '-')
			p->pos++;
		if (!IsDigit(Peek(p)))
			ParseError(p, "Expected a digit");
		while (IsDigit(Peek(p)))
			p->pos++;
	}
	str = pnstrdup(p->text + start, p->pos - start);
	out->type = jbvNumeric;
	out->val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in,
														   CStringGetDatum(str),
														   ObjectIdGetDatum(InvalidOid),
														   Int32GetDatum(-1)));
}

static bool
MatchWord(PathParser *p, const char *word)
{
	int			n = strlen(word);

	if (p->pos + n > p->len || memcmp(p->text + p->pos, word, n) != 0)
		return false;
	if (p->pos + n < p->len &&
		(isalnum((unsigned char) p->text[p->pos + n]) || p->text[p->pos + n] == '_'))
		return false;
	p->pos += n;
	return true;
}

static AslPath *ParsePath(PathParser *p, bool embedded);
static AslFilter *ParseOr(PathParser *p);

/* A literal operand of a filter: number, string, true, false, null, [list]. */
static bool
ParseLiteral(PathParser *p, JsonbValue *out)
{
	char		c = Peek(p);

	if (c == '\'' || c == '"')
		ParseQuoted(p, out);
	else if (c == '-' || IsDigit(c))
		ParseNumber(p, out);
	else if (MatchWord(p, "true"))
	{
		out->type = jbvBool;
		out->val.boolean = true;
	}
	else if (MatchWord(p, "false"))
	{
		out->type = jbvBool;
		out->val.boolean = false;
	}
	else if (MatchWord(p, "null"))
		out->type = jbvNull;
	else if (c == '[')
	{
		JsonbParseState *state = NULL;
		JsonbValue *res;

		p->pos++;
		(void) pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
		SkipSpace(p);
		if (Peek(p) == ']')
			p->pos++;
		else
			for (;;)
			{
				JsonbValue	elem;

				SkipSpace(p);
				if (Peek(p) == '[' || !ParseLiteral(p, &elem))
					ParseError(p, "Expected a number, a string, true, false or null");
				(void) pushJsonbValue(&state, WJB_ELEM, &elem);
				SkipSpace(p);
				if (Peek(p) == ',')
				{
					p->pos++;
					continue;
				}
				Expect(p, ']', "Expected \",\" or \"]\"");
				break;
			}
		res = pushJsonbValue(&state, WJB_END_ARRAY, NULL);
		AslBinaryValue(JsonbValueToJsonb(res), out);
	}
	else
		return false;
	return true;
}

/* /pattern/flags: compiled now, so that a bad pattern is a compile error. */
static void
ParseRegex(PathParser *p, FilterOperand *operand)
{
	StringInfoData pattern;

	initStringInfo(&pattern);
	appendStringInfoString(&pattern, "^(?:");
	p->pos++;
	for (;;)
	{
		char		c = Peek(p);

		if (p->pos >= p->len)
			ParseError(p, "Unterminated regular expression");
		p->pos++;
		if (c == '/')
			break;
		if (c == '\\' && Peek(p) == '/')
		{
			c = '/';
			p->pos++;
		}
		else if (c == '\\' && p->pos < p->len)
		{
			appendStringInfoChar(&pattern, c);
			c = p->text[p->pos++];
		}
		appendStringInfoChar(&pattern, c);
	}
	appendStringInfoString(&pattern, ")$");
	operand->kind = OPERAND_REGEX;
	operand->cflags = REG_ADVANCED;
	while (isalpha((unsigned char) Peek(p)))
	{
		if (Peek(p) == 'i')
			operand->cflags |= REG_ICASE;
		else
			ParseError(p, "Unsupported regular expression flag (only \"i\" is)");
		p->pos++;
	}
	operand->regex = cstring_to_text_with_len(pattern.data, pattern.len);
	(void) RE_compile_and_cache(operand->regex, operand->cflags, C_COLLATION_OID);
}

static void
ParseOperand(PathParser *p, FilterOperand *operand, bool regex)
{
	char		c;

	SkipSpace(p);
	c = Peek(p);
	memset(operand, 0, sizeof(FilterOperand));
	if (c == '@' || c == '$')
	{
		operand->kind = OPERAND_PATH;
		operand->path = ParsePath(p, true);
	}
	else if (regex && c == '/')
		ParseRegex(p, operand);
	else if (!regex && ParseLiteral(p, &operand->value))
		operand->kind = OPERAND_VALUE;
	else
		ParseError(p, regex ? "Expected a regular expression /.../" :
				   "Expected a path (@... or $...), a number, a string, true, false, null or a list");
}

/* An operator at p->pos, or false when none is there. */
static bool
ParseOperator(PathParser *p, FilterOp *op)
{
	const char *s = p->text + p->pos;
	int			rest = p->len - p->pos;
	size_t		i;

	if (rest >= 2)
	{
		static const struct
		{
			const char *sym;
			FilterOp	op;
		}			symbols[] =
		{
			{"==", FOP_EQ}, {"!=", FOP_NE}, {"<=", FOP_LE}, {">=", FOP_GE}, {"=~", FOP_REGEX},
		};

		for (i = 0; i < lengthof(symbols); i++)
			if (memcmp(s, symbols[i].sym, 2) == 0)
			{
				*op = symbols[i].op;
				p->pos += 2;
				return true;
			}
	}
	if (rest >= 1 && (s[0] == '<' || s[0] == '>'))
	{
		*op = s[0] == '<' ? FOP_LT : FOP_GT;
		p->pos++;
		return true;
	}
	for (i = 0; i < lengthof(word_operators); i++)
		if (MatchWord(p, word_operators[i].name))
		{
			*op = word_operators[i].op;
			return true;
		}
	return false;
}

static AslFilter *
NewFilter(FilterKind kind)
{
	AslFilter  *f = palloc0(sizeof(AslFilter));

	f->kind = kind;
	return f;
}

static AslFilter *
ParseUnary(PathParser *p)
{
	AslFilter  *f;
	FilterOp	op;

	check_stack_depth();
	SkipSpace(p);
	if (Peek(p) == '!' && (p->pos + 1 >= p->len || p->text[p->pos + 1] != '='))
	{
		p->pos++;
		f = NewFilter(FILTER_NOT);
		f->left = ParseUnary(p);
		return f;
	}
	if (Peek(p) == '(')
	{
		p->pos++;
		f = ParseOr(p);
		SkipSpace(p);
		Expect(p, ')', "Expected \")\"");
		return f;
	}
	f = NewFilter(FILTER_COMPARE);
	ParseOperand(p, &f->a, false);
	SkipSpace(p);
	if (!ParseOperator(p, &op))
	{
		if (f->a.kind != OPERAND_PATH)
			ParseError(p, "Expected an operator");
		f->kind = FILTER_EXISTS;
		return f;
	}
	f->op = op;
	ParseOperand(p, &f->b, op == FOP_REGEX);
	return f;
}

static AslFilter *
ParseAnd(PathParser *p)
{
	AslFilter  *left = ParseUnary(p);

	for (;;)
	{
		AslFilter  *f;

		SkipSpace(p);
		if (p->pos + 1 >= p->len || p->text[p->pos] != '&' || p->text[p->pos + 1] != '&')
			return left;
		p->pos += 2;
		f = NewFilter(FILTER_AND);
		f->left = left;
		f->right = ParseUnary(p);
		left = f;
	}
}

static AslFilter *
ParseOr(PathParser *p)
{
	AslFilter  *left = ParseAnd(p);

	for (;;)
	{
		AslFilter  *f;

		SkipSpace(p);
		if (p->pos + 1 >= p->len || p->text[p->pos] != '|' || p->text[p->pos + 1] != '|')
			return left;
		p->pos += 2;
		f = NewFilter(FILTER_OR);
		f->left = left;
		f->right = ParseAnd(p);
		left = f;
	}
}

/* The inside of [...], p->pos just after "[". */
static void
ParseBracket(PathParser *p, AslStep *step)
{
	char		c;

	SkipSpace(p);
	c = Peek(p);
	if (c == '*')
	{
		step->kind = STEP_WILDCARD;
		p->pos++;
	}
	else if (c == '?')
	{
		p->pos++;
		SkipSpace(p);
		Expect(p, '(', "Expected \"(\" after \"?\"");
		step->kind = STEP_FILTER;
		step->filter = ParseOr(p);
		SkipSpace(p);
		Expect(p, ')', "Expected \")\" at the end of the filter");
	}
	else if (c == '\'' || c == '"')
	{
		JsonbValue	key;

		ParseQuoted(p, &key);
		step->kind = STEP_KEY;
		step->key = key.val.string.val;
		step->keylen = key.val.string.len;
		SkipSpace(p);
		if (Peek(p) == ',')
			ParseError(p, "Several keys in one bracket are not supported");
	}
	else if (c == '-' || IsDigit(c) || c == ':')
	{
		int32		first = 0;
		bool		has_first = c != ':';

		if (has_first)
			first = ParseInt(p);
		SkipSpace(p);
		if (Peek(p) == ':')
		{
			step->kind = STEP_SLICE;
			step->has_start = has_first;
			step->start = first;
			p->pos++;
			SkipSpace(p);
			if (Peek(p) == '-' || IsDigit(Peek(p)))
			{
				step->has_end = true;
				step->end = ParseInt(p);
				SkipSpace(p);
			}
			if (Peek(p) == ':')
				ParseError(p, "Slice steps are not supported");
		}
		else if (Peek(p) == ',')
		{
			int			max = 4;

			step->kind = STEP_UNION;
			step->indexes = palloc(sizeof(int32) * max);
			step->indexes[0] = first;
			step->nindexes = 1;
			while (Peek(p) == ',')
			{
				p->pos++;
				SkipSpace(p);
				if (step->nindexes == max)
				{
					max *= 2;
					step->indexes = repalloc(step->indexes, sizeof(int32) * max);
				}
				step->indexes[step->nindexes++] = ParseInt(p);
				SkipSpace(p);
			}
		}
		else
		{
			step->kind = STEP_INDEX;
			step->index = first;
		}
	}
	else
		ParseError(p, "Expected an index, a quoted key, \"*\" or a filter after \"[\"");
	SkipSpace(p);
	Expect(p, ']', "Expected \"]\"");
}

/*
 * A path at p->pos.  embedded: it is part of a longer text (a filter
 * operand, an intrinsic function argument) and ends before the first
 * character that cannot continue it; else it must be all of the text.
 */
static AslPath *
ParsePath(PathParser *p, bool embedded)
{
	AslPath    *path = palloc0(sizeof(AslPath));
	int			start = p->pos;
	int			max = 4;

	path->steps = palloc0(sizeof(AslStep) * max);
	path->definite = true;
	if (Peek(p) == '@' && embedded)
	{
		path->root = ROOT_CURRENT;
		p->pos++;
	}
	else if (Peek(p) == '$')
	{
		p->pos++;
		path->root = ROOT_INPUT;
		if (Peek(p) == '$')
		{
			path->root = ROOT_CONTEXT;
			p->pos++;
		}
	}
	else
		ParseError(p, "Expected \"$\"");

	if (isalpha((unsigned char) Peek(p)) || Peek(p) == '_')
		ParseError(p, "Workflow variables ($name) are not supported; expected \".\" or \"[\"");

	while (p->pos < p->len)
	{
		AslStep    *step;
		char		c = Peek(p);

		if (c != '.' && c != '[')
		{
			if (embedded)
				break;
			if (c == '(')
				ParseError(p, "Functions are not supported");
			ParseError(p, "Expected \".\" or \"[\"");
		}
		if (path->nsteps == max)
		{
			max *= 2;
			path->steps = repalloc(path->steps, sizeof(AslStep) * max);
			memset(path->steps + path->nsteps, 0, sizeof(AslStep) * (max - path->nsteps));
		}
		step = &path->steps[path->nsteps];
		p->pos++;
		if (c == '[')
			ParseBracket(p, step);
		else
		{
			if (Peek(p) == '.')
			{
				step->deep = true;
				p->pos++;
			}
			if (Peek(p) == '[' && step->deep)
			{
				p->pos++;
				ParseBracket(p, step);
			}
			else if (Peek(p) == '*')
			{
				step->kind = STEP_WILDCARD;
				p->pos++;
			}
			else
			{
				int			kstart = p->pos;

				while (p->pos < p->len && IsKeyChar((unsigned char) p->text[p->pos]))
					p->pos++;
				if (p->pos == kstart)
					ParseError(p, "Expected a key or \"*\" after \".\"");
				step->kind = STEP_KEY;
				step->key = pnstrdup(p->text + kstart, p->pos - kstart);
				step->keylen = p->pos - kstart;
			}
		}
		if (step->deep || (step->kind != STEP_KEY && step->kind != STEP_INDEX))
			path->definite = false;
		path->nsteps++;
	}
	path->text = pnstrdup(p->text + start, p->pos - start);
	return path;
}

static AslPath *
CompileText(const char *text, bool reference, const char *field)
{
	PathParser	p;
	AslPath    *path;

	p.text = text;
	p.len = strlen(text);
	p.pos = 0;
	p.field = field;
	p.intrinsic = false;
	path = ParsePath(&p, false);
	if (reference && !path->definite)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid reference path \"%s\"", text),
				 errdetail("A reference path selects one value: it has keys and indexes only, no \"*\", \"..\", filters, slices or lists of indexes.")));
	return path;
}

AslPath *
AslPathCompile(const char *path, bool reference, MemoryContext cxt)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(cxt);
	AslPath    *result = CompileText(path, reference, NULL);

	MemoryContextSwitchTo(oldcxt);
	return result;
}

AslPath *
AslPathCompileField(const char *path, const char *field)
{
	return CompileText(path, false, field);
}

AslPath *
AslPathParseEmbedded(const char *text, int len, int *pos, const char *field)
{
	PathParser	p;
	AslPath    *path;

	p.text = text;
	p.len = len;
	p.pos = *pos;
	p.field = field;
	p.intrinsic = true;
	path = ParsePath(&p, true);
	*pos = p.pos;
	return path;
}

const char *
AslPathText(const AslPath *path)
{
	return path->text;
}

bool
AslPathIsContext(const AslPath *path)
{
	return path->root == ROOT_CONTEXT;
}

bool
AslPathIsDefinite(const AslPath *path)
{
	return path->definite;
}



/* Evaluation */

/* Jayway's rendering of steps[0 .. upto-1]: $['a'][0] */
static char *
NormalizedPath(const AslPath *path, int upto)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '$');
	for (i = 0; i < upto; i++)
	{
		const AslStep *step = &path->steps[i];

		if (step->kind == STEP_KEY)
		{
			appendStringInfoString(&buf, "['");
			appendBinaryStringInfo(&buf, step->key, step->keylen);
			appendStringInfoString(&buf, "']");
		}
		else
			appendStringInfo(&buf, "[%d]", step->index);
	}
	return buf.data;
}

static bool
GetKey(const JsonbValue *obj, const char *key, int keylen, JsonbValue *out)
{
	return getKeyJsonValueFromContainer(obj->val.binary.data, key, keylen, out) != NULL;
}

static void
GetElement(const JsonbValue *arr, int i, JsonbValue *out)
{
	JsonbValue *elem = getIthJsonbValueFromContainer(arr->val.binary.data, (uint32) i);

	*out = *elem;
	pfree(elem);
}

/* A definite path from root: false with why on a miss. */
static bool
LookupDefinite(const AslPath *path, const JsonbValue *root, JsonbValue *out, char **why)
{
	JsonbValue	cur = *root;
	int			i;

	for (i = 0; i < path->nsteps; i++)
	{
		const AslStep *step = &path->steps[i];
		JsonbValue	next;
		bool		last = i == path->nsteps - 1;

		if (step->kind == STEP_KEY)
		{
			if (!AslIsObject(&cur))
			{
				if (why)
					*why = psprintf("Expected to find an object with property ['%.*s'] in path %s but found '%s'. This is not a json object.",
									step->keylen, step->key, NormalizedPath(path, i),
									AslTypeName(&cur));
				return false;
			}
			if (!GetKey(&cur, step->key, step->keylen, &next))
			{
				if (why)
					*why = last ? psprintf("No results for path: %s", NormalizedPath(path, path->nsteps)) :
						psprintf("Missing property in path %s", NormalizedPath(path, i + 1));
				return false;
			}
		}
		else
		{
			int			size;
			int			index = step->index;

			Assert(step->kind == STEP_INDEX);
			if (!AslIsArray(&cur))
			{
				if (why)
					*why = cur.type == jbvNull ?
						psprintf("The path %s is null", NormalizedPath(path, i)) :
						psprintf("Filter: [%d] can only be applied to arrays. Current context is: %s",
								 step->index, AslJsonText(&cur));
				return false;
			}
			size = AslContainerSize(&cur);
			if (index < 0)
				index += size;
			if (index < 0 || index >= size)
			{
				if (why)
					*why = psprintf("No results for path: %s", NormalizedPath(path, path->nsteps));
				return false;
			}
			GetElement(&cur, index, &next);
		}
		cur = next;
	}
	*out = cur;
	return true;
}

typedef struct Matches
{
	JsonbParseState *state;
	const AslEnv *env;
	const AslPath *path;
} Matches;

static void Collect(Matches *m, int stepno, const JsonbValue *cur);
static bool FilterHolds(const AslEnv *env, const AslFilter *f, const JsonbValue *cur);

/* Apply the selector of steps[stepno] to cur, continuing with each match. */
static void
Select(Matches *m, int stepno, const JsonbValue *cur)
{
	const AslStep *step = &m->path->steps[stepno];
	JsonbValue	child;
	int			size;
	int			i;

	if (cur->type != jbvBinary)
		return;
	switch (step->kind)
	{
		case STEP_KEY:
			if (AslIsObject(cur) && GetKey(cur, step->key, step->keylen, &child))
				Collect(m, stepno + 1, &child);
			break;
		case STEP_INDEX:
		case STEP_UNION:
			if (!AslIsArray(cur))
				break;
			size = AslContainerSize(cur);
			for (i = 0; i < (step->kind == STEP_INDEX ? 1 : step->nindexes); i++)
			{
				int			index = step->kind == STEP_INDEX ? step->index : step->indexes[i];

				if (index < 0)
					index += size;
				if (index >= 0 && index < size)
				{
					GetElement(cur, index, &child);
					Collect(m, stepno + 1, &child);
				}
			}
			break;
		case STEP_SLICE:
			{
				int			from;
				int			to;

				if (!AslIsArray(cur))
					break;
				size = AslContainerSize(cur);
				from = step->has_start ? step->start : 0;
				to = step->has_end ? step->end : size;
				if (from < 0)
					from = Max(from + size, 0);
				if (to < 0)
					to = Max(to + size, 0);
				to = Min(to, size);
				for (i = from; i < to; i++)
				{
					GetElement(cur, i, &child);
					Collect(m, stepno + 1, &child);
				}
			}
			break;
		case STEP_WILDCARD:
		case STEP_FILTER:
			if (step->kind == STEP_FILTER && AslIsObject(cur))
			{
				if (FilterHolds(m->env, step->filter, cur))
					Collect(m, stepno + 1, cur);
			}
			else
			{
				JsonbIterator *it = JsonbIteratorInit(cur->val.binary.data);
				JsonbIteratorToken tok;

				while ((tok = JsonbIteratorNext(&it, &child, true)) != WJB_DONE)
					if ((tok == WJB_ELEM || tok == WJB_VALUE) &&
						(step->kind == STEP_WILDCARD || FilterHolds(m->env, step->filter, &child)))
						Collect(m, stepno + 1, &child);
			}
			break;
	}
}

/* A deep step: the selector on cur, then on every container below it. */
static void
SelectDeep(Matches *m, int stepno, const JsonbValue *cur)
{
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	child;

	check_stack_depth();
	Select(m, stepno, cur);
	if (cur->type != jbvBinary)
		return;
	it = JsonbIteratorInit(cur->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &child, true)) != WJB_DONE)
		if ((tok == WJB_ELEM || tok == WJB_VALUE) && child.type == jbvBinary)
			SelectDeep(m, stepno, &child);
}

static void
Collect(Matches *m, int stepno, const JsonbValue *cur)
{
	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	if (stepno == m->path->nsteps)
		(void) pushJsonbValue(&m->state, WJB_ELEM, (JsonbValue *) cur);
	else if (m->path->steps[stepno].deep)
		SelectDeep(m, stepno, cur);
	else
		Select(m, stepno, cur);
}

/* What path selects below root; cur is the element a filter tests. */
static bool
LookupFrom(const AslPath *path, const AslEnv *env, const JsonbValue *cur,
		   JsonbValue *out, char **why)
{
	const JsonbValue *root;

	switch (path->root)
	{
		case ROOT_INPUT:
			root = &env->input;
			break;
		case ROOT_CONTEXT:
			root = &env->context;
			break;
		default:
			Assert(cur != NULL);
			root = cur;
			break;
	}
	if (path->definite)
		return LookupDefinite(path, root, out, why);
	else
	{
		Matches		m;

		m.state = NULL;
		m.env = env;
		m.path = path;
		(void) pushJsonbValue(&m.state, WJB_BEGIN_ARRAY, NULL);
		Collect(&m, 0, root);
		AslBinaryValue(JsonbValueToJsonb(pushJsonbValue(&m.state, WJB_END_ARRAY, NULL)), out);
		return true;
	}
}

bool
AslPathLookup(const AslPath *path, const AslEnv *env, JsonbValue *out, char **why)
{
	if (path->root == ROOT_CURRENT)
		elog(ERROR, "a path relative to \"@\" outside a filter");
	return LookupFrom(path, env, NULL, out, why);
}

bool
AslPathEvaluate(const AslPath *path, Jsonb *input, Jsonb *context,
				Jsonb **result, AslError *err)
{
	AslEnv		env;
	JsonbValue	v;
	char	   *why;

	AslRootValue(input, &env.input);
	AslRootValue(context, &env.context);
	if (!AslPathLookup(path, &env, &v, &why))
		return AslFail(err, ASL_ERROR_RUNTIME, "Invalid path '%s' : %s", path->text, why);
	*result = AslValueToJsonb(&v);
	return true;
}


/* Filters */

static bool
OperandValue(const AslEnv *env, const FilterOperand *operand, const JsonbValue *cur,
			 JsonbValue *out)
{
	if (operand->kind == OPERAND_VALUE)
	{
		*out = operand->value;
		return true;
	}
	Assert(operand->kind == OPERAND_PATH);
	return LookupFrom(operand->path, env, cur, out, NULL);
}

static int
NumericCompare(const JsonbValue *a, const JsonbValue *b)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp,
											 NumericGetDatum(a->val.numeric),
											 NumericGetDatum(b->val.numeric)));
}

static int
StringCompare(const JsonbValue *a, const JsonbValue *b)
{
	int			cmp = memcmp(a->val.string.val, b->val.string.val,
							 Min(a->val.string.len, b->val.string.len));

	if (cmp != 0)
		return cmp;
	return (a->val.string.len > b->val.string.len) - (a->val.string.len < b->val.string.len);
}

/* Does array arr have an element equal to v? */
static bool
ArrayHas(const JsonbValue *arr, const JsonbValue *v)
{
	JsonbIterator *it = JsonbIteratorInit(arr->val.binary.data);
	JsonbIteratorToken tok;
	JsonbValue	elem;

	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
		if (tok == WJB_ELEM && AslJsonEqual(&elem, v))
			return true;
	return false;
}

/* How many elements of array a array b has. */
static int
CountIn(const JsonbValue *a, const JsonbValue *b)
{
	JsonbIterator *it = JsonbIteratorInit(a->val.binary.data);
	JsonbIteratorToken tok;
	JsonbValue	elem;
	int			n = 0;

	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
		if (tok == WJB_ELEM && ArrayHas(b, &elem))
			n++;
	return n;
}

/* Length of a string (in characters) or an array; -1 for anything else. */
static int
LengthOf(const JsonbValue *v)
{
	if (v->type == jbvString)
		return pg_mbstrlen_with_len(v->val.string.val, v->val.string.len);
	if (AslIsArray(v))
		return AslContainerSize(v);
	return -1;
}

static bool
Compare(const AslEnv *env, const AslFilter *f, const JsonbValue *cur)
{
	JsonbValue	a;
	JsonbValue	b;
	bool		has_a = OperandValue(env, &f->a, cur, &a);
	bool		has_b;

	if (f->op == FOP_REGEX)
		return has_a && a.type == jbvString &&
			RE_compile_and_execute(f->b.regex, a.val.string.val, a.val.string.len,
								   f->b.cflags, C_COLLATION_OID, 0, NULL);

	has_b = OperandValue(env, &f->b, cur, &b);
	switch (f->op)
	{
		case FOP_EQ:
			return has_a && has_b && AslJsonEqual(&a, &b);
		case FOP_NE:
			return !(has_a && has_b && AslJsonEqual(&a, &b));
		case FOP_LT:
		case FOP_LE:
		case FOP_GT:
		case FOP_GE:
			{
				int			cmp;

				if (!has_a || !has_b || a.type != b.type)
					return false;
				if (a.type == jbvNumeric)
					cmp = NumericCompare(&a, &b);
				else if (a.type == jbvString)
					cmp = StringCompare(&a, &b);
				else
					return false;
				switch (f->op)
				{
					case FOP_LT:
						return cmp < 0;
					case FOP_LE:
						return cmp <= 0;
					case FOP_GT:
						return cmp > 0;
					default:
						return cmp >= 0;
				}
			}
		case FOP_IN:
			return has_a && has_b && AslIsArray(&b) && ArrayHas(&b, &a);
		case FOP_NIN:
			return !(has_a && has_b && AslIsArray(&b) && ArrayHas(&b, &a));
		case FOP_SUBSETOF:
		case FOP_ANYOF:
		case FOP_NONEOF:
			{
				int			n;

				if (!has_a || !has_b || !AslIsArray(&a) || !AslIsArray(&b))
					return false;
				n = CountIn(&a, &b);
				if (f->op == FOP_SUBSETOF)
					return n == AslContainerSize(&a);
				if (f->op == FOP_ANYOF)
					return n > 0;
				return n == 0;
			}
		case FOP_SIZE:
			{
				int			len;

				if (!has_a || !has_b || b.type != jbvNumeric || (len = LengthOf(&a)) < 0)
					return false;
				return DatumGetInt32(DirectFunctionCall2(numeric_cmp,
														 DirectFunctionCall1(int4_numeric,
																			 Int32GetDatum(len)),
														 NumericGetDatum(b.val.numeric))) == 0;
			}
		case FOP_EMPTY:
			{
				int			len;

				if (!has_a || !has_b || b.type != jbvBool || (len = LengthOf(&a)) < 0)
					return false;
				return (len == 0) == b.val.boolean;
			}
		case FOP_CONTAINS:
			if (!has_a || !has_b)
				return false;
			if (a.type == jbvString && b.type == jbvString)
			{
				int			i;

				for (i = 0; i + b.val.string.len <= a.val.string.len; i++)
					if (memcmp(a.val.string.val + i, b.val.string.val, b.val.string.len) == 0)
						return true;
				return false;
			}
			return AslIsArray(&a) && ArrayHas(&a, &b);
		default:
			elog(ERROR, "unexpected filter operator %d", (int) f->op);
			return false;
	}
}

static bool
FilterHolds(const AslEnv *env, const AslFilter *f, const JsonbValue *cur)
{
	JsonbValue	v;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	switch (f->kind)
	{
		case FILTER_AND:
			return FilterHolds(env, f->left, cur) && FilterHolds(env, f->right, cur);
		case FILTER_OR:
			return FilterHolds(env, f->left, cur) || FilterHolds(env, f->right, cur);
		case FILTER_NOT:
			return !FilterHolds(env, f->left, cur);
		case FILTER_EXISTS:
			if (!OperandValue(env, &f->a, cur, &v))
				return false;
			/* an indefinite path exists when it matches something */
			return f->a.path->definite || AslContainerSize(&v) > 0;
		case FILTER_COMPARE:
			return Compare(env, f, cur);
	}
	return false;
}


/* For asl_io.c: the steps a definite path writes through. */

int
AslPathStepCount(const AslPath *path)
{
	return path->nsteps;
}

bool
AslPathStep(const AslPath *path, int i, const char **key, int *keylen, int32 *index)
{
	const AslStep *step = &path->steps[i];

	if (step->kind == STEP_KEY)
	{
		*key = step->key;
		*keylen = step->keylen;
		return true;
	}
	*key = NULL;
	*keylen = 0;
	*index = step->index;
	return false;
}
