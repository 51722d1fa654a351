/*-------------------------------------------------------------------------
 *
 * bus_input.c
 *	  Target input shaping: what an event bus delivers to a rule's target
 *	  instead of the event (EventBridge Input, InputPath, InputTransformer).
 *
 * Vocabulary:
 *
 *	  input			a target's constant input: any JSON value, delivered
 *					instead of every event
 *	  input path	a JSONPath selecting the part of the event to deliver:
 *					"$" then steps ".key", ".*", "[n]" and "[*]".  Keys are
 *					letters, digits, "_", "-" and non-ASCII characters.  A path
 *					without "*" selects one value or nothing; a path with "*"
 *					selects an array of every match, [] when there is none
 *	  transformer	an input transformer: a paths map and a template
 *	  paths map		InputPathsMap: placeholder name -> input path
 *	  template		InputTemplate: text with placeholders, read as JSON when
 *					it begins with "{", "[" or a quote, or is one placeholder
 *					alone (a JSON template), else as plain text
 *	  placeholder	"<name>" in a template, name a key of the paths map or a
 *					predefined aws.events.* name
 *	  variable		what a placeholder stands for, found once per event: a
 *					path's value or a predefined value
 *	  missing		a path that selects nothing (or a predefined value the
 *					caller did not give)
 *	  JSON context	a placeholder where a JSON value may stand (unquoted in a
 *					JSON template): replaced by its value (a missing one by
 *					null)
 *	  text context	a placeholder inside a string literal of a JSON template,
 *					or anywhere in plain text: replaced by its text, a string
 *					without quotes, anything else as compact JSON, a missing
 *					value by nothing
 *
 * Everything a template can get wrong is found when it is compiled, not when
 * an event arrives: the template is parsed once into a tree whose leaves are
 * constants, variables (JSON context) and runs of text and variables (text
 * context).  Every variable yields a JSON value and every run of text a
 * string, so whatever the event holds, applying the tree builds valid jsonb
 * directly, with no text to re-parse.  A template that is not JSON is plain
 * text and is delivered as a JSON string.  docs/input-shaping.md has the
 * rules and the choices made where EventBridge is silent.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "commands/dbcommands.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "bus_input.h"
#include "clock.h"
#include "compat.h"
#include "pg_courier.h"

PG_FUNCTION_INFO_V1(courier_test_target_input);
PG_FUNCTION_INFO_V1(courier_check_target_input);

/* Compiled form */

typedef enum PathStepKind
{
	STEP_KEY,					/* .key */
	STEP_INDEX,					/* [n] */
	STEP_WILDCARD				/* .* or [*] */
} PathStepKind;

typedef struct PathStep
{
	PathStepKind kind;
	char	   *key;
	int			keylen;
	int32		index;
} PathStep;

typedef struct InputPath
{
	int			nsteps;
	PathStep   *steps;
	bool		wildcard;		/* has a "*" step */
} InputPath;

typedef enum VarKind
{
	VAR_PATH,
	VAR_RULE_ARN,
	VAR_RULE_NAME,
	VAR_INGESTION_TIME,
	VAR_EVENT,					/* the event without "detail" */
	VAR_EVENT_JSON				/* the whole event */
} VarKind;

typedef struct Predefined
{
	const char *name;
	VarKind		kind;
	bool		json_only;		/* only in JSON context */
} Predefined;

static const Predefined predefined[] = {
	{"aws.events.rule-arn", VAR_RULE_ARN, false},
	{"aws.events.rule-name", VAR_RULE_NAME, false},
	{"aws.events.event.ingestion-time", VAR_INGESTION_TIME, false},
	{"aws.events.event", VAR_EVENT, true},
	{"aws.events.event.json", VAR_EVENT_JSON, true},
};

typedef struct TemplateVar
{
	char	   *name;
	int			namelen;
	VarKind		kind;
	bool		json_only;
	bool		used;			/* does the template refer to it? */
	InputPath	path;			/* VAR_PATH */
} TemplateVar;

typedef enum TplKind
{
	TPL_SCALAR,					/* a constant string, number, bool or null */
	TPL_VAR,					/* a placeholder in JSON context */
	TPL_TEXT,					/* a string of text and placeholders */
	TPL_OBJECT,
	TPL_ARRAY
} TplKind;

/* One run of a TPL_TEXT string: literal text, or a variable's text. */
typedef struct TplPart
{
	int			var;			/* index into vars; -1: literal text */
	char	   *text;
	int			len;
} TplPart;

typedef struct TplNode TplNode;

struct TplNode
{
	TplKind		kind;
	JsonbValue	scalar;			/* TPL_SCALAR */
	int			var;			/* TPL_VAR */
	int			nparts;			/* TPL_TEXT */
	TplPart    *parts;
	int			nitems;			/* TPL_OBJECT, TPL_ARRAY */
	JsonbValue *keys;			/* TPL_OBJECT: jbvString keys */
	TplNode   **items;
};

typedef enum InputMode
{
	MODE_INPUT,
	MODE_PATH,
	MODE_TRANSFORMER
} InputMode;

struct CourierTargetInput
{
	InputMode	mode;
	Jsonb	   *constant;		/* MODE_INPUT */
	InputPath	path;			/* MODE_PATH */
	int			nvars;			/* MODE_TRANSFORMER */
	TemplateVar *vars;
	TplNode    *root;
};

/* A variable's value for one event. */
typedef struct VarValue
{
	bool		found;
	JsonbValue	v;
} VarValue;

static const char *const path_hint =
"An input path is \"$\" followed by steps \".key\", \".*\", \"[n]\" or \"[*]\", as in \"$.detail.items[0].id\".";


/* Input paths */

/* ASCII only: what a name may hold must not depend on the locale. */
static bool
IsAsciiAlnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool
IsPathKeyChar(unsigned char c)
{
	return IsAsciiAlnum(c) || c == '_' || c == '-' || c >= 0x80;
}

/* entry: the paths-map key the path belongs to; NULL for input_path. */
static void PathError(const char *path, int pos, const char *entry,
					  const char *reason) pg_attribute_noreturn();

static void
PathError(const char *path, int pos, const char *entry, const char *reason)
{
	int			chr = pg_mbstrlen_with_len(path, pos) + 1;

	if (entry != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid input path \"%s\"", path),
				 errdetail("%s at character %d of the path of InputPathsMap key \"%s\".",
						   reason, chr, entry),
				 errhint("%s", path_hint)));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid input path \"%s\"", path),
			 errdetail("%s at character %d.", reason, chr),
			 errhint("%s", path_hint)));
}

/* Parse path (NUL-terminated) into out; allocates in CurrentMemoryContext. */
static void
CompilePath(const char *path, const char *entry, InputPath *out)
{
	int			len = strlen(path);
	int			nchars = pg_mbstrlen_with_len(path, len);
	int			pos;

	if (nchars > COURIER_INPUT_MAX_PATH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid input path \"%s\"", path),
				 errdetail("A path has at most %d characters; this one has %d.",
						   COURIER_INPUT_MAX_PATH_LEN, nchars)));
	if (path[0] != '$')
		PathError(path, 0, entry, "Expected \"$\"");

	out->nsteps = 0;
	out->wildcard = false;
	/* every step takes at least two bytes */
	out->steps = palloc(sizeof(PathStep) * (len / 2 + 1));
	pos = 1;
	while (pos < len)
	{
		PathStep   *step = &out->steps[out->nsteps];

		if (path[pos] == '.')
		{
			int			start = ++pos;

			if (path[pos] == '*')
			{
				step->kind = STEP_WILDCARD;
				pos++;
			}
			else if (path[pos] == '.')
				PathError(path, pos - 1, entry, "Recursive descent (\"..\") is not supported");
			else
			{
				while (IsPathKeyChar((unsigned char) path[pos]))
					pos++;
				if (pos == start)
					PathError(path, pos, entry, "Expected a key or \"*\" after \".\"");
				step->kind = STEP_KEY;
				step->keylen = pos - start;
				step->key = pnstrdup(path + start, step->keylen);
			}
		}
		else if (path[pos] == '[')
		{
			pos++;
			if (path[pos] == '*')
			{
				step->kind = STEP_WILDCARD;
				pos++;
			}
			else if (isdigit((unsigned char) path[pos]))
			{
				int64		index = 0;

				while (isdigit((unsigned char) path[pos]))
				{
					index = index * 10 + (path[pos] - '0');
					if (index > PG_INT32_MAX)
						PathError(path, pos, entry, "Array index too large");
					pos++;
				}
				step->kind = STEP_INDEX;
				step->index = (int32) index;
			}
			else if (path[pos] == '\'' || path[pos] == '"')
				PathError(path, pos, entry,
						  "Quoted keys in brackets are not supported");
			else
				PathError(path, pos, entry,
						  "Expected an array index (a number from 0) or \"*\" after \"[\"");
			if (path[pos] != ']')
				PathError(path, pos, entry, "Expected \"]\"");
			pos++;
		}
		else
			PathError(path, pos, entry, "Expected \".\" or \"[\"");

		if (step->kind == STEP_WILDCARD)
			out->wildcard = true;
		out->nsteps++;
	}
}

/* A jsonb document as a jbvBinary value. */
static void
BinaryValue(Jsonb *jb, JsonbValue *v)
{
	v->type = jbvBinary;
	v->val.binary.data = &jb->root;
	v->val.binary.len = VARSIZE(jb) - VARHDRSZ;
}

/* The top of a document: a scalar document as the scalar, else its container. */
static void
RootValue(Jsonb *jb, JsonbValue *v)
{
	if (JB_ROOT_IS_SCALAR(jb))
		(void) JsonbExtractScalar(&jb->root, v);
	else
		BinaryValue(jb, v);
}

/* One key or index step from v into out; false when it selects nothing. */
static bool
StepInto(const PathStep *step, const JsonbValue *v, JsonbValue *out)
{
	JsonbContainer *c;
	JsonbValue *elem;

	if (v->type != jbvBinary)
		return false;
	c = v->val.binary.data;
	if (step->kind == STEP_KEY)
		return JsonContainerIsObject(c) &&
			getKeyJsonValueFromContainer(c, step->key, step->keylen, out) != NULL;

	Assert(step->kind == STEP_INDEX);
	if (!JsonContainerIsArray(c) || JsonContainerIsScalar(c) ||
		(uint32) step->index >= JsonContainerSize(c))
		return false;
	elem = getIthJsonbValueFromContainer(c, (uint32) step->index);
	*out = *elem;
	pfree(elem);
	return true;
}

/* Add every match of steps[stepno ..] below v to the array being built. */
static void
CollectMatches(const InputPath *path, int stepno, const JsonbValue *v,
			   JsonbParseState **state)
{
	JsonbValue	cur = *v;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	for (; stepno < path->nsteps; stepno++)
	{
		const PathStep *step = &path->steps[stepno];
		JsonbValue	next;

		if (step->kind == STEP_WILDCARD)
		{
			JsonbIterator *it;
			JsonbIteratorToken tok;
			JsonbValue	child;

			if (cur.type != jbvBinary)
				return;
			it = JsonbIteratorInit(cur.val.binary.data);
			while ((tok = JsonbIteratorNext(&it, &child, true)) != WJB_DONE)
				if (tok == WJB_ELEM || tok == WJB_VALUE)
					CollectMatches(path, stepno + 1, &child, state);
			return;
		}
		if (!StepInto(step, &cur, &next))
			return;
		cur = next;
	}
	(void) pushJsonbValue(state, WJB_ELEM, &cur);
}

/*
 * What the path selects in the event; false when nothing.  A path with a
 * wildcard always selects an array (of its matches, maybe none).
 */
static bool
EvalPath(const InputPath *path, Jsonb *event, JsonbValue *result)
{
	JsonbValue	cur;
	int			i;

	RootValue(event, &cur);
	if (path->wildcard)
	{
		JsonbParseState *state = NULL;
		JsonbValue *array;

		(void) pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
		CollectMatches(path, 0, &cur, &state);
		array = pushJsonbValue(&state, WJB_END_ARRAY, NULL);
		BinaryValue(JsonbValueToJsonb(array), result);
		return true;
	}
	for (i = 0; i < path->nsteps; i++)
	{
		JsonbValue	next;

		if (!StepInto(&path->steps[i], &cur, &next))
			return false;
		cur = next;
	}
	*result = cur;
	return true;
}


/* Text of values */

static void
AppendJsonScalar(StringInfo buf, const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			appendStringInfoString(buf, "null");
			break;
		case jbvBool:
			appendStringInfoString(buf, v->val.boolean ? "true" : "false");
			break;
		case jbvNumeric:
			appendStringInfoString(buf,
								   DatumGetCString(DirectFunctionCall1(numeric_out,
																	   NumericGetDatum(v->val.numeric))));
			break;
		case jbvString:
			{
				char	   *s = pnstrdup(v->val.string.val, v->val.string.len);

				escape_json(buf, s);
				pfree(s);
			}
			break;
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
	}
}

/*
 * A container as compact JSON: no white space, as EventBridge minifies the
 * JSON it splices into text (jsonb's own output puts a space after ":" and
 * ",").  Keys come in jsonb's order.
 */
static void
AppendCompactJson(StringInfo buf, JsonbContainer *c)
{
	JsonbIterator *it = JsonbIteratorInit(c);
	JsonbIteratorToken tok;
	JsonbValue	v;
	bool		comma = false;
	bool		raw_scalar = false;

	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		CHECK_FOR_INTERRUPTS();
		if (tok == WJB_BEGIN_ARRAY && v.val.array.rawScalar)
		{
			raw_scalar = true;
			continue;
		}
		if (tok == WJB_END_ARRAY && raw_scalar)
			continue;
		if (comma && (tok == WJB_KEY || tok == WJB_ELEM ||
					  tok == WJB_BEGIN_ARRAY || tok == WJB_BEGIN_OBJECT))
			appendStringInfoChar(buf, ',');
		switch (tok)
		{
			case WJB_BEGIN_OBJECT:
				appendStringInfoChar(buf, '{');
				comma = false;
				break;
			case WJB_BEGIN_ARRAY:
				appendStringInfoChar(buf, '[');
				comma = false;
				break;
			case WJB_END_OBJECT:
				appendStringInfoChar(buf, '}');
				comma = true;
				break;
			case WJB_END_ARRAY:
				appendStringInfoChar(buf, ']');
				comma = true;
				break;
			case WJB_KEY:
				AppendJsonScalar(buf, &v);
				appendStringInfoChar(buf, ':');
				comma = false;
				break;
			case WJB_VALUE:
			case WJB_ELEM:
				AppendJsonScalar(buf, &v);
				comma = true;
				break;
			case WJB_DONE:
				break;
		}
	}
}

/* A value in text context: a string without its quotes, the rest as JSON. */
static void
AppendValueText(StringInfo buf, const VarValue *value)
{
	if (!value->found)
		return;
	switch (value->v.type)
	{
		case jbvString:
			appendBinaryStringInfo(buf, value->v.val.string.val, value->v.val.string.len);
			break;
		case jbvBinary:
			AppendCompactJson(buf, value->v.val.binary.data);
			break;
		default:
			AppendJsonScalar(buf, &value->v);
			break;
	}
}


/* Predefined values */

static void
StringValue(const char *s, JsonbValue *v)
{
	v->type = jbvString;
	v->val.string.val = (char *) s;
	v->val.string.len = strlen(s);
}

/* The event without its top-level "detail" (aws.events.event). */
static void
EventWithoutDetail(Jsonb *event, JsonbValue *result)
{
	JsonbParseState *state = NULL;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	JsonbValue *res = NULL;

	if (!JB_ROOT_IS_OBJECT(event) ||
		getKeyJsonValueFromContainer(&event->root, "detail", 6, &v) == NULL)
	{
		RootValue(event, result);
		return;
	}
	it = JsonbIteratorInit(&event->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		CHECK_FOR_INTERRUPTS();
		if (tok == WJB_KEY && v.val.string.len == 6 &&
			memcmp(v.val.string.val, "detail", 6) == 0)
		{
			tok = JsonbIteratorNext(&it, &v, true); /* skip its value */
			Assert(tok == WJB_VALUE);
			continue;
		}
		res = pushJsonbValue(&state, tok, tok < WJB_BEGIN_ARRAY ? &v : NULL);
	}
	BinaryValue(JsonbValueToJsonb(res), result);
}

/* yyyy-MM-ddTHH:mm:ssZ in UTC; false for a time that has no such form. */
static bool
FormatIngestionTime(TimestampTz ts, char *buf, size_t size)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_NOT_FINITE(ts) ||
		timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0 ||
		tm.tm_year < 1 || tm.tm_year > 9999)
		return false;
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ",
			 tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return true;
}

static void
EvalVar(const TemplateVar *var, Jsonb *event, const CourierInputContext *ctx,
		VarValue *out)
{
	char		buf[64];

	out->found = false;
	switch (var->kind)
	{
		case VAR_PATH:
			out->found = EvalPath(&var->path, event, &out->v);
			break;
		case VAR_RULE_ARN:
			if (ctx != NULL && ctx->rule_arn != NULL)
			{
				StringValue(ctx->rule_arn, &out->v);
				out->found = true;
			}
			break;
		case VAR_RULE_NAME:
			if (ctx != NULL && ctx->rule_name != NULL)
			{
				StringValue(ctx->rule_name, &out->v);
				out->found = true;
			}
			break;
		case VAR_INGESTION_TIME:
			if (ctx != NULL &&
				FormatIngestionTime(ctx->ingestion_time, buf, sizeof(buf)))
			{
				StringValue(pstrdup(buf), &out->v);
				out->found = true;
			}
			break;
		case VAR_EVENT:
			EventWithoutDetail(event, &out->v);
			out->found = true;
			break;
		case VAR_EVENT_JSON:
			RootValue(event, &out->v);
			out->found = true;
			break;
	}
}


/* Templates: compilation */

typedef struct TplParser
{
	const char *text;			/* the template, NUL-terminated */
	int			len;
	int			pos;			/* byte offset of the next character */
	CourierTargetInput *ti;		/* where the variables go */
	int			maxvars;
} TplParser;

static const char *const json_template_hint =
"A template that begins with \"{\", \"[\" or a quote must be one JSON value, with placeholders where values may stand or inside strings.";

static void TemplateSyntaxError(TplParser *p, const char *reason) pg_attribute_noreturn();

static void
TemplateSyntaxError(TplParser *p, const char *reason)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid input transformer: InputTemplate is not valid JSON"),
			 errdetail("%s at character %d.", reason,
					   pg_mbstrlen_with_len(p->text, p->pos) + 1),
			 errhint("%s", json_template_hint)));
}

static bool
IsNameChar(unsigned char c)
{
	return IsAsciiAlnum(c) || c == '_' || c == '-' || c == '.';
}

/* Length in bytes of the placeholder "<name>" at pos, 0 when there is none. */
static int
PlaceholderAt(const char *s, int pos, int len)
{
	int			i = pos + 1;

	if (pos >= len || s[pos] != '<')
		return 0;
	while (i < len && IsNameChar((unsigned char) s[i]))
		i++;
	if (i == pos + 1 || i >= len || s[i] != '>')
		return 0;
	return i - pos + 1;
}

/*
 * The variable a placeholder at p->pos (length n) stands for, marked used.
 * Predefined variables are added the first time they are used.
 */
static int
ResolvePlaceholder(TplParser *p, int n, bool json_context)
{
	const char *name = p->text + p->pos + 1;
	int			namelen = n - 2;
	CourierTargetInput *ti = p->ti;
	int			i;
	int			found = -1;

	for (i = 0; i < ti->nvars && found < 0; i++)
		if (ti->vars[i].namelen == namelen &&
			memcmp(ti->vars[i].name, name, namelen) == 0)
			found = i;
	for (i = 0; i < (int) lengthof(predefined) && found < 0; i++)
		if (strlen(predefined[i].name) == (size_t) namelen &&
			memcmp(predefined[i].name, name, namelen) == 0)
		{
			TemplateVar *var;

			Assert(ti->nvars < p->maxvars);
			found = ti->nvars++;
			var = &ti->vars[found];
			var->name = pstrdup(predefined[i].name);
			var->namelen = namelen;
			var->kind = predefined[i].kind;
			var->json_only = predefined[i].json_only;
		}
	if (found < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid input transformer: undefined placeholder \"<%.*s>\"",
						namelen, name),
				 errdetail("\"%.*s\" is neither a key of InputPathsMap nor a predefined name.",
						   namelen, name),
				 errhint("The predefined names are aws.events.rule-arn, aws.events.rule-name, "
						 "aws.events.event.ingestion-time, aws.events.event and aws.events.event.json.")));
	if (ti->vars[found].json_only && !json_context)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid input transformer: placeholder \"<%.*s>\" may only stand for a JSON value",
						namelen, name),
				 errdetail("It is at character %d of InputTemplate, inside a string or in plain text.",
						   pg_mbstrlen_with_len(p->text, p->pos) + 1),
				 errhint("Use it unquoted in a JSON template, or alone as the whole template.")));
	ti->vars[found].used = true;
	return found;
}

static void PlaceholderKeyError(TplParser *p, int n) pg_attribute_noreturn();

static void
PlaceholderKeyError(TplParser *p, int n)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid input transformer: placeholder \"%.*s\" is used as an object key",
					n, p->text + p->pos),
			 errdetail("It is at character %d of InputTemplate.",
					   pg_mbstrlen_with_len(p->text, p->pos) + 1),
			 errhint("Placeholders may stand for values and be part of string values, not of keys.")));
}

static bool
IsJsonSpace(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void
SkipSpace(TplParser *p)
{
	while (p->pos < p->len && IsJsonSpace(p->text[p->pos]))
		p->pos++;
}

static TplNode *
NewNode(TplKind kind)
{
	TplNode    *node = palloc0(sizeof(TplNode));

	node->kind = kind;
	return node;
}

static void
AddPart(TplNode *node, int *maxparts, int var, char *text, int len)
{
	if (node->nparts == *maxparts)
	{
		*maxparts *= 2;
		node->parts = repalloc(node->parts, sizeof(TplPart) * *maxparts);
	}
	node->parts[node->nparts].var = var;
	node->parts[node->nparts].text = text;
	node->parts[node->nparts].len = len;
	node->nparts++;
}

static int
HexDigit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* An error in the escape sequence that begins at start. */
static void EscapeError(TplParser *p, int start, const char *reason) pg_attribute_noreturn();

static void
EscapeError(TplParser *p, int start, const char *reason)
{
	p->pos = start;
	TemplateSyntaxError(p, reason);
}

/* The four hex digits of a \u escape at p->pos (after "\u"); -1 if bad. */
static int32
ParseHex4(TplParser *p)
{
	int32		cp = 0;
	int			i;

	for (i = 0; i < 4; i++)
	{
		int			d = p->pos + i < p->len ? HexDigit(p->text[p->pos + i]) : -1;

		if (d < 0)
			return -1;
		cp = cp * 16 + d;
	}
	p->pos += 4;
	return cp;
}

/* Decode the escape sequence at p->pos (a backslash) into buf. */
static void
DecodeEscape(TplParser *p, StringInfo buf)
{
	int			start = p->pos;
	char		c;

	p->pos++;
	c = p->pos < p->len ? p->text[p->pos] : '\0';
	p->pos++;
	switch (c)
	{
		case '"':
		case '\\':
		case '/':
			appendStringInfoChar(buf, c);
			break;
		case 'b':
			appendStringInfoChar(buf, '\b');
			break;
		case 'f':
			appendStringInfoChar(buf, '\f');
			break;
		case 'n':
			appendStringInfoChar(buf, '\n');
			break;
		case 'r':
			appendStringInfoChar(buf, '\r');
			break;
		case 't':
			appendStringInfoChar(buf, '\t');
			break;
		case 'u':
			{
				int32		cp = ParseHex4(p);
				unsigned char utf[MAX_UNICODE_EQUIVALENT_STRING + 1];

				if (cp < 0)
					EscapeError(p, start, "Expected four hexadecimal digits after \"\\u\"");
				if (cp >= 0xDC00 && cp <= 0xDFFF)
					EscapeError(p, start, "Unpaired Unicode low surrogate");
				if (cp >= 0xD800 && cp <= 0xDBFF)
				{
					int32		low = -1;

					if (p->pos + 1 < p->len && p->text[p->pos] == '\\' &&
						p->text[p->pos + 1] == 'u')
					{
						p->pos += 2;
						low = ParseHex4(p);
					}
					if (low < 0xDC00 || low > 0xDFFF)
						EscapeError(p, start, "Unpaired Unicode high surrogate");
					cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
				}
				if (cp == 0)
					EscapeError(p, start, "\\u0000 cannot be converted to text");
				pg_unicode_to_server((pg_wchar) cp, utf);
				appendStringInfoString(buf, (char *) utf);
			}
			break;
		default:
			EscapeError(p, start, "Invalid escape sequence");
	}
}

/*
 * A string literal at p->pos (its opening quote).  Placeholders inside it
 * are in text context; in a key they are an error.  Placeholders are found
 * in the template's own text, before escapes are decoded, so "\u003c" is a
 * way to write a literal "<".
 */
static TplNode *
ParseString(TplParser *p, bool is_key)
{
	TplNode    *node;
	StringInfoData lit;
	int			maxparts = 4;

	node = NewNode(TPL_TEXT);
	node->parts = palloc(sizeof(TplPart) * maxparts);
	initStringInfo(&lit);
	p->pos++;
	for (;;)
	{
		char		c;
		int			n;

		if (p->pos >= p->len)
			TemplateSyntaxError(p, "Expected the closing quote of a string");
		c = p->text[p->pos];
		if (c == '"')
		{
			p->pos++;
			break;
		}
		if ((unsigned char) c < 0x20)
			TemplateSyntaxError(p, "Unescaped control character in a string");
		if (c == '\\')
		{
			DecodeEscape(p, &lit);
			continue;
		}
		if (c == '<' && (n = PlaceholderAt(p->text, p->pos, p->len)) > 0)
		{
			if (is_key)
				PlaceholderKeyError(p, n);
			if (lit.len > 0)
			{
				AddPart(node, &maxparts, -1, lit.data, lit.len);
				initStringInfo(&lit);
			}
			AddPart(node, &maxparts, ResolvePlaceholder(p, n, false), NULL, 0);
			p->pos += n;
			CHECK_FOR_INTERRUPTS();
			continue;
		}
		appendStringInfoChar(&lit, c);
		p->pos++;
	}

	if (node->nparts == 0)
	{
		/* a constant string */
		node->kind = TPL_SCALAR;
		node->scalar.type = jbvString;
		node->scalar.val.string.val = lit.data;
		node->scalar.val.string.len = lit.len;
		node->nparts = 0;
		pfree(node->parts);
		node->parts = NULL;
	}
	else if (lit.len > 0)
		AddPart(node, &maxparts, -1, lit.data, lit.len);
	return node;
}

static TplNode *
ParseNumber(TplParser *p)
{
	const char *s = p->text;
	int			start = p->pos;
	int			i = start;
	char	   *num;
	TplNode    *node;

	if (s[i] == '-')
		i++;
	if (s[i] == '0')
		i++;
	else if (s[i] >= '1' && s[i] <= '9')
		while (isdigit((unsigned char) s[i]))
			i++;
	else
	{
		p->pos = i;
		TemplateSyntaxError(p, "Expected a digit");
	}
	if (s[i] == '.')
	{
		i++;
		if (!isdigit((unsigned char) s[i]))
		{
			p->pos = i;
			TemplateSyntaxError(p, "Expected a digit after the decimal point");
		}
		while (isdigit((unsigned char) s[i]))
			i++;
	}
	if (s[i] == 'e' || s[i] == 'E')
	{
		i++;
		if (s[i] == '+' || s[i] == '-')
			i++;
		if (!isdigit((unsigned char) s[i]))
		{
			p->pos = i;
			TemplateSyntaxError(p, "Expected a digit in the exponent");
		}
		while (isdigit((unsigned char) s[i]))
			i++;
	}
	num = pnstrdup(s + start, i - start);
	node = NewNode(TPL_SCALAR);
	node->scalar.type = jbvNumeric;
	node->scalar.val.numeric =
		DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(num),
											ObjectIdGetDatum(InvalidOid),
											Int32GetDatum(-1)));
	pfree(num);
	p->pos = i;
	return node;
}

static bool
MatchWord(TplParser *p, const char *word)
{
	int			n = strlen(word);

	if (p->pos + n > p->len || memcmp(p->text + p->pos, word, n) != 0)
		return false;
	p->pos += n;
	return true;
}

static TplNode *ParseValue(TplParser *p);

static void
AddItem(TplNode *node, int *maxitems, JsonbValue *key, TplNode *item)
{
	if (node->nitems == *maxitems)
	{
		*maxitems *= 2;
		node->items = repalloc(node->items, sizeof(TplNode *) * *maxitems);
		if (node->keys != NULL)
			node->keys = repalloc(node->keys, sizeof(JsonbValue) * *maxitems);
	}
	if (key != NULL)
		node->keys[node->nitems] = *key;
	node->items[node->nitems++] = item;
}

static TplNode *
ParseObject(TplParser *p)
{
	TplNode    *node = NewNode(TPL_OBJECT);
	int			maxitems = 4;

	node->items = palloc(sizeof(TplNode *) * maxitems);
	node->keys = palloc(sizeof(JsonbValue) * maxitems);
	p->pos++;
	SkipSpace(p);
	if (p->pos < p->len && p->text[p->pos] == '}')
	{
		p->pos++;
		return node;
	}
	for (;;)
	{
		TplNode    *key;
		TplNode    *value;
		int			n;

		CHECK_FOR_INTERRUPTS();
		SkipSpace(p);
		if ((n = PlaceholderAt(p->text, p->pos, p->len)) > 0)
			PlaceholderKeyError(p, n);
		if (p->pos >= p->len || p->text[p->pos] != '"')
			TemplateSyntaxError(p, "Expected a string as an object key");
		key = ParseString(p, true);
		Assert(key->kind == TPL_SCALAR);
		SkipSpace(p);
		if (p->pos >= p->len || p->text[p->pos] != ':')
			TemplateSyntaxError(p, "Expected \":\" after an object key");
		p->pos++;
		value = ParseValue(p);
		AddItem(node, &maxitems, &key->scalar, value);
		SkipSpace(p);
		if (p->pos < p->len && p->text[p->pos] == ',')
		{
			p->pos++;
			continue;
		}
		if (p->pos < p->len && p->text[p->pos] == '}')
		{
			p->pos++;
			return node;
		}
		TemplateSyntaxError(p, "Expected \",\" or \"}\"");
	}
}

static TplNode *
ParseArray(TplParser *p)
{
	TplNode    *node = NewNode(TPL_ARRAY);
	int			maxitems = 4;

	node->items = palloc(sizeof(TplNode *) * maxitems);
	p->pos++;
	SkipSpace(p);
	if (p->pos < p->len && p->text[p->pos] == ']')
	{
		p->pos++;
		return node;
	}
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		AddItem(node, &maxitems, NULL, ParseValue(p));
		SkipSpace(p);
		if (p->pos < p->len && p->text[p->pos] == ',')
		{
			p->pos++;
			continue;
		}
		if (p->pos < p->len && p->text[p->pos] == ']')
		{
			p->pos++;
			return node;
		}
		TemplateSyntaxError(p, "Expected \",\" or \"]\"");
	}
}

/* A JSON value, or a placeholder standing for one. */
static TplNode *
ParseValue(TplParser *p)
{
	TplNode    *node;
	int			n;
	char		c;

	check_stack_depth();
	SkipSpace(p);
	c = p->pos < p->len ? p->text[p->pos] : '\0';
	switch (c)
	{
		case '{':
			return ParseObject(p);
		case '[':
			return ParseArray(p);
		case '"':
			return ParseString(p, false);
		case '<':
			if ((n = PlaceholderAt(p->text, p->pos, p->len)) == 0)
				break;
			node = NewNode(TPL_VAR);
			node->var = ResolvePlaceholder(p, n, true);
			p->pos += n;
			return node;
		case '-':
		case '0':
		case '1':
		case '2':
		case '3':
		case '4':
		case '5':
		case '6':
		case '7':
		case '8':
		case '9':
			return ParseNumber(p);
		default:
			node = NewNode(TPL_SCALAR);
			if (MatchWord(p, "true"))
			{
				node->scalar.type = jbvBool;
				node->scalar.val.boolean = true;
				return node;
			}
			if (MatchWord(p, "false"))
			{
				node->scalar.type = jbvBool;
				node->scalar.val.boolean = false;
				return node;
			}
			if (MatchWord(p, "null"))
			{
				node->scalar.type = jbvNull;
				return node;
			}
			pfree(node);
			break;
	}
	TemplateSyntaxError(p, "Expected a JSON value or a placeholder");
}

/* A plain-text template: all of it is text context. */
static TplNode *
ParsePlainText(TplParser *p)
{
	TplNode    *node = NewNode(TPL_TEXT);
	int			maxparts = 4;
	int			start = 0;

	node->parts = palloc(sizeof(TplPart) * maxparts);
	p->pos = 0;
	while (p->pos < p->len)
	{
		int			n = PlaceholderAt(p->text, p->pos, p->len);

		if (n == 0)
		{
			p->pos++;
			continue;
		}
		CHECK_FOR_INTERRUPTS();
		if (p->pos > start)
			AddPart(node, &maxparts, -1, pnstrdup(p->text + start, p->pos - start),
					p->pos - start);
		AddPart(node, &maxparts, ResolvePlaceholder(p, n, false), NULL, 0);
		p->pos += n;
		start = p->pos;
	}
	if (p->pos > start)
		AddPart(node, &maxparts, -1, pnstrdup(p->text + start, p->pos - start),
				p->pos - start);
	return node;
}

/*
 * Which kind of template this is, and its tree.  JSON when, white space
 * aside, it begins with "{", "[" or a quote, or is one placeholder alone;
 * plain text otherwise.
 */
static TplNode *
ParseTemplate(TplParser *p)
{
	int			start = 0;
	int			end = p->len;
	char		c;
	TplNode    *root;

	while (start < end && IsJsonSpace(p->text[start]))
		start++;
	while (end > start && IsJsonSpace(p->text[end - 1]))
		end--;
	c = start < end ? p->text[start] : '\0';
	if (c != '{' && c != '[' && c != '"' &&
		!(c == '<' && PlaceholderAt(p->text, start, p->len) == end - start))
		return ParsePlainText(p);

	p->pos = start;
	root = ParseValue(p);
	SkipSpace(p);
	if (p->pos < p->len)
		TemplateSyntaxError(p, "Expected the end of the template");
	return root;
}

static void TransformerError(const char *detail, const char *fmt,...)
			pg_attribute_printf(2, 3) pg_attribute_noreturn();

static void
TransformerError(const char *detail, const char *fmt,...)
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
			 errmsg("invalid input transformer: %s", reason.data),
			 detail != NULL ? errdetail("%s", detail) : 0,
			 errhint("An input transformer is an object with the keys InputPathsMap (optional) and InputTemplate.")));
}

static bool
KeyIs(const JsonbValue *key, const char *name)
{
	return key->type == jbvString &&
		strlen(name) == (size_t) key->val.string.len &&
		memcmp(key->val.string.val, name, key->val.string.len) == 0;
}

/* The paths map: one variable per entry. */
static void
CompilePathsMap(CourierTargetInput *ti, JsonbContainer *map)
{
	JsonbIterator *it = JsonbIteratorInit(map);
	JsonbIteratorToken tok;
	JsonbValue	v;
	TemplateVar *var = NULL;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		CHECK_FOR_INTERRUPTS();
		if (tok == WJB_KEY)
		{
			char	   *name = pnstrdup(v.val.string.val, v.val.string.len);
			int			nchars = pg_mbstrlen_with_len(name, v.val.string.len);
			int			i;
			bool		ok = nchars >= 1 && nchars <= COURIER_INPUT_MAX_NAME_LEN;

			for (i = 0; ok && i < v.val.string.len; i++)
				ok = IsNameChar((unsigned char) name[i]);
			if (!ok)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid input transformer: invalid placeholder name \"%s\"", name),
						 errdetail("A key of InputPathsMap has 1 to %d characters, each a letter, a digit, \"_\", \"-\" or \".\".",
								   COURIER_INPUT_MAX_NAME_LEN)));
			if (pg_strncasecmp(name, "aws.", 4) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid input transformer: placeholder name \"%s\" is reserved", name),
						 errdetail("Names beginning with \"aws.\" are predefined and cannot be keys of InputPathsMap.")));
			var = &ti->vars[ti->nvars++];
			var->name = name;
			var->namelen = v.val.string.len;
			var->kind = VAR_PATH;
		}
		else if (tok == WJB_VALUE)
		{
			Assert(var != NULL);
			if (v.type != jbvString)
				TransformerError(NULL, "the path of InputPathsMap key \"%s\" must be a string",
								 var->name);
			CompilePath(pnstrdup(v.val.string.val, v.val.string.len), var->name, &var->path);
		}
	}
}

static void
CompileTransformer(CourierTargetInput *ti, Jsonb *transformer)
{
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	JsonbValue	key = {0};
	JsonbContainer *map = NULL;
	char	   *template = NULL;
	int			template_len = 0;
	int			nmap = 0;
	int			nchars;
	TplParser	parser;

	if (!JB_ROOT_IS_OBJECT(transformer))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("input_transformer must be a JSON object"),
				 errdetail("The value given is a JSON %s.",
						   JB_ROOT_IS_SCALAR(transformer) ? "scalar" : "array"),
				 errhint("An input transformer is an object with the keys InputPathsMap (optional) and InputTemplate.")));

	it = JsonbIteratorInit(&transformer->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			key = v;
			if (!KeyIs(&key, "InputPathsMap") && !KeyIs(&key, "InputTemplate"))
				TransformerError(NULL, "unknown key \"%.*s\"",
								 key.val.string.len, key.val.string.val);
		}
		else if (tok == WJB_VALUE && KeyIs(&key, "InputPathsMap"))
		{
			if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
				TransformerError("Its keys are placeholder names, its values JSONPath strings.",
								 "InputPathsMap must be a JSON object");
			map = v.val.binary.data;
		}
		else if (tok == WJB_VALUE)
		{
			if (v.type != jbvString)
				TransformerError(NULL, "InputTemplate must be a string");
			template = pnstrdup(v.val.string.val, v.val.string.len);
			template_len = v.val.string.len;
		}
	}
	if (template == NULL)
		TransformerError(NULL, "InputTemplate is required");

	if (map != NULL)
	{
		nmap = JsonContainerSize(map);
		if (nmap > COURIER_INPUT_MAX_PATHS)
		{
			char	   *detail = psprintf("It has %d entries.", nmap);

			TransformerError(detail, "InputPathsMap has more than %d entries",
							 COURIER_INPUT_MAX_PATHS);
		}
	}
	ti->vars = palloc0(sizeof(TemplateVar) * (nmap + lengthof(predefined)));
	if (map != NULL)
		CompilePathsMap(ti, map);

	nchars = pg_mbstrlen_with_len(template, template_len);
	if (nchars == 0)
		TransformerError(NULL, "InputTemplate must not be empty");
	if (nchars > COURIER_INPUT_MAX_TEMPLATE)
	{
		char	   *detail = psprintf("It has %d.", nchars);

		TransformerError(detail, "InputTemplate has more than %d characters",
						 COURIER_INPUT_MAX_TEMPLATE);
	}

	parser.text = template;
	parser.len = template_len;
	parser.pos = 0;
	parser.ti = ti;
	parser.maxvars = nmap + lengthof(predefined);
	ti->root = ParseTemplate(&parser);
	pfree(template);				/* the tree has copies of what it needs */
}

CourierTargetInput *
CourierTargetInputCompile(Jsonb *input, text *input_path, Jsonb *input_transformer,
						  MemoryContext cxt)
{
	int			ngiven = (input != NULL) + (input_path != NULL) + (input_transformer != NULL);
	CourierTargetInput *ti;
	MemoryContext oldcxt;

	if (ngiven > 1)
	{
		const char *given;

		if (ngiven == 3)
			given = "input, input_path and input_transformer";
		else if (input == NULL)
			given = "input_path and input_transformer";
		else if (input_path == NULL)
			given = "input and input_transformer";
		else
			given = "input and input_path";
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("only one of input, input_path or input_transformer may be given"),
				 errdetail("The arguments given were %s.", given)));
	}
	if (ngiven == 0)
		return NULL;

	oldcxt = MemoryContextSwitchTo(cxt);
	ti = palloc0(sizeof(CourierTargetInput));
	if (input != NULL)
	{
		ti->mode = MODE_INPUT;
		ti->constant = palloc(VARSIZE(input));
		memcpy(ti->constant, input, VARSIZE(input));
	}
	else if (input_path != NULL)
	{
		ti->mode = MODE_PATH;
		CompilePath(text_to_cstring(input_path), NULL, &ti->path);
	}
	else
	{
		ti->mode = MODE_TRANSFORMER;
		CompileTransformer(ti, input_transformer);
	}
	MemoryContextSwitchTo(oldcxt);
	return ti;
}


/* Templates: application */

/* The value of a node that is not a container. */
static void
NodeValue(const TplNode *node, const VarValue *values, JsonbValue *out)
{
	switch (node->kind)
	{
		case TPL_SCALAR:
			*out = node->scalar;
			break;
		case TPL_VAR:
			if (values[node->var].found)
				*out = values[node->var].v;
			else
				out->type = jbvNull;
			break;
		case TPL_TEXT:
			{
				StringInfoData buf;
				int			i;

				initStringInfo(&buf);
				for (i = 0; i < node->nparts; i++)
				{
					const TplPart *part = &node->parts[i];

					if (part->var < 0)
						appendBinaryStringInfo(&buf, part->text, part->len);
					else
						AppendValueText(&buf, &values[part->var]);
				}
				out->type = jbvString;
				out->val.string.val = buf.data;
				out->val.string.len = buf.len;
			}
			break;
		default:
			elog(ERROR, "unexpected template node %d", (int) node->kind);
	}
}

/* Push an object or array node; returns what its end returned. */
static JsonbValue *
PushContainer(JsonbParseState **state, const TplNode *node, const VarValue *values)
{
	bool		object = node->kind == TPL_OBJECT;
	int			i;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	(void) pushJsonbValue(state, object ? WJB_BEGIN_OBJECT : WJB_BEGIN_ARRAY, NULL);
	for (i = 0; i < node->nitems; i++)
	{
		const TplNode *item = node->items[i];

		if (object)
			(void) pushJsonbValue(state, WJB_KEY, &node->keys[i]);
		if (item->kind == TPL_OBJECT || item->kind == TPL_ARRAY)
			(void) PushContainer(state, item, values);
		else
		{
			JsonbValue	v;

			NodeValue(item, values, &v);
			(void) pushJsonbValue(state, object ? WJB_VALUE : WJB_ELEM, &v);
		}
	}
	return pushJsonbValue(state, object ? WJB_END_OBJECT : WJB_END_ARRAY, NULL);
}

static Jsonb *
ApplyTransformer(const CourierTargetInput *ti, Jsonb *event, const CourierInputContext *ctx)
{
	VarValue   *values = palloc(sizeof(VarValue) * Max(ti->nvars, 1));
	JsonbValue	v;
	int			i;

	for (i = 0; i < ti->nvars; i++)
	{
		values[i].found = false;
		if (ti->vars[i].used)
			EvalVar(&ti->vars[i], event, ctx, &values[i]);
	}
	if (ti->root->kind == TPL_OBJECT || ti->root->kind == TPL_ARRAY)
	{
		JsonbParseState *state = NULL;

		return JsonbValueToJsonb(PushContainer(&state, ti->root, values));
	}
	NodeValue(ti->root, values, &v);
	return JsonbValueToJsonb(&v);
}

static Jsonb *
CopyJsonb(const Jsonb *jb)
{
	Jsonb	   *copy = palloc(VARSIZE(jb));

	memcpy(copy, jb, VARSIZE(jb));
	return copy;
}

Jsonb *
CourierTargetInputApply(const CourierTargetInput *ti, Jsonb *event,
						const CourierInputContext *ctx)
{
	JsonbValue	v;

	if (ti == NULL)
		return CopyJsonb(event);
	switch (ti->mode)
	{
		case MODE_INPUT:
			return CopyJsonb(ti->constant);
		case MODE_PATH:
			if (!EvalPath(&ti->path, event, &v))
				v.type = jbvNull;
			return JsonbValueToJsonb(&v);
		case MODE_TRANSFORMER:
			return ApplyTransformer(ti, event, ctx);
	}
	elog(ERROR, "unexpected target input mode %d", (int) ti->mode);
	return NULL;				/* keep compiler quiet */
}

char *
CourierRuleArn(const char *bus_name, const char *rule_name)
{
	const char *region = GetConfigOption("courier.region", true, false);
	char	   *account = get_database_name(MyDatabaseId);

	if (region == NULL || region[0] == '\0')
		region = "local";
	return psprintf("arn:courier:events:%s:%s:rule/%s/%s",
					region, account != NULL ? account : "", bus_name, rule_name);
}


/* SQL functions */

/*
 * The event's "time" when it is a timestamp (as timestamptz reads it, but
 * beginning with a digit, so not "now" or "infinity"), else courier.now().
 */
static TimestampTz
EventIngestionTime(Jsonb *event)
{
	JsonbValue	v;

	if (getKeyJsonValueFromContainer(&event->root, "time", 4, &v) != NULL &&
		v.type == jbvString && v.val.string.len > 0 && v.val.string.len < MAXDATELEN &&
		isdigit((unsigned char) v.val.string.val[0]))
	{
		char	   *str = pnstrdup(v.val.string.val, v.val.string.len);
		char		workbuf[MAXDATELEN + MAXDATEFIELDS];
		char	   *field[MAXDATEFIELDS];
		int			ftype[MAXDATEFIELDS];
		int			nf;
		int			dtype;
		int			tz;
		struct pg_tm tm;
		fsec_t		fsec;
		TimestampTz ts;

		if (ParseDateTime(str, workbuf, sizeof(workbuf), field, ftype,
						  MAXDATEFIELDS, &nf) == 0 &&
			CourierDecodeDateTime(field, ftype, nf, &dtype, &tm, &fsec, &tz) == 0 &&
			dtype == DTK_DATE &&
			tm2timestamp(&tm, fsec, &tz, &ts) == 0 &&
			IS_VALID_TIMESTAMP(ts))
			return ts;
	}
	return CourierNow();
}

/*
 * courier.test_target_input(event jsonb, input jsonb, input_path text,
 *							 input_transformer jsonb, rule_name text,
 *							 bus_name text) returns jsonb
 *
 * What a target with these input settings would receive for the event, as
 * the bus delivers it.  The ingestion time is the event's "time" when that
 * is a timestamp, else courier.now().
 */
Datum
courier_test_target_input(PG_FUNCTION_ARGS)
{
	Jsonb	   *event;
	CourierTargetInput *ti;
	CourierInputContext ctx;
	char	   *rule_name;
	char	   *bus_name;

	CourierArgNotNull(fcinfo, 0, "event");
	CourierArgNotNull(fcinfo, 4, "rule_name");
	CourierArgNotNull(fcinfo, 5, "bus_name");
	event = PG_GETARG_JSONB_P(0);
	if (!JB_ROOT_IS_OBJECT(event))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("event must be a JSON object"),
				 errdetail("The value given is a JSON %s.",
						   JB_ROOT_IS_SCALAR(event) ? "scalar" : "array")));

	ti = CourierTargetInputCompile(PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1),
								   PG_ARGISNULL(2) ? NULL : PG_GETARG_TEXT_PP(2),
								   PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3),
								   CurrentMemoryContext);
	rule_name = text_to_cstring(PG_GETARG_TEXT_PP(4));
	bus_name = text_to_cstring(PG_GETARG_TEXT_PP(5));
	ctx.rule_name = rule_name;
	ctx.rule_arn = CourierRuleArn(bus_name, rule_name);
	ctx.ingestion_time = EventIngestionTime(event);

	PG_RETURN_JSONB_P(CourierTargetInputApply(ti, event, &ctx));
}

/*
 * courier._check_target_input(input jsonb, input_path text,
 *							   input_transformer jsonb) returns void
 *
 * Raise what CourierTargetInputCompile would; for put_target.
 */
Datum
courier_check_target_input(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "courier target input check",
											  ALLOCSET_SMALL_SIZES);

	(void) CourierTargetInputCompile(PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0),
									 PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1),
									 PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2),
									 cxt);
	MemoryContextDelete(cxt);
	PG_RETURN_VOID();
}
