/*-------------------------------------------------------------------------
 *
 * asl_json.c
 *	  JSON helpers of the ASL data-flow library: values, their compact text,
 *	  equality, and a parser of JSON text that reports instead of raising.
 *
 * Vocabulary:
 *
 *	  value		a JsonbValue that is a scalar, or jbvBinary pointing at an
 *				object or array container (never at a raw-scalar one)
 *	  compact	JSON text without white space between tokens, as AWS
 *				serialises (States.JsonToString, payload size, causes)
 *	  failure	an AslError: the ASL error name and the cause
 *
 * jsonb orders object keys (shorter first, then bytewise), so compact text
 * lists keys in that order, not in the order they were written.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "asl_int.h"


/* Failures */

bool
AslFail(AslError *err, const char *error, const char *fmt,...)
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
	err->error = error;
	err->cause = buf.data;
	return false;
}

/*
 * 22000 (data_exception) with the message "<error name>: <cause>": what a
 * state failure looks like to SQL callers of the test functions.
 */
void
AslRaise(const AslError *err)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("%s: %s", err->error, err->cause)));
	pg_unreachable();
}


/* Values */

void
AslBinaryValue(Jsonb *jb, JsonbValue *v)
{
	v->type = jbvBinary;
	v->val.binary.data = &jb->root;
	v->val.binary.len = VARSIZE(jb) - VARHDRSZ;
}

void
AslRootValue(Jsonb *jb, JsonbValue *v)
{
	if (jb == NULL)
	{
		JsonbParseState *state = NULL;

		(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		AslBinaryValue(JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL)), v);
	}
	else if (JB_ROOT_IS_SCALAR(jb))
		(void) JsonbExtractScalar(&jb->root, v);
	else
		AslBinaryValue(jb, v);
}

Jsonb *
AslValueToJsonb(const JsonbValue *v)
{
	return JsonbValueToJsonb((JsonbValue *) v);
}

bool
AslIsObject(const JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data);
}

bool
AslIsArray(const JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data) &&
		!JsonContainerIsScalar(v->val.binary.data);
}

int
AslContainerSize(const JsonbValue *v)
{
	Assert(v->type == jbvBinary);
	return JsonContainerSize(v->val.binary.data);
}

const char *
AslTypeName(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvBool:
			return "boolean";
		case jbvNumeric:
			return "number";
		case jbvString:
			return "string";
		case jbvBinary:
			return AslIsObject(v) ? "object" : "array";
		default:
			return "unknown";
	}
}


/* Compact text */

static void
AppendScalar(StringInfo buf, const JsonbValue *v, bool normalize)
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
			if (normalize)
				appendStringInfoString(buf, numeric_normalize(v->val.numeric));
			else
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

void
AslAppendJson(StringInfo buf, const JsonbValue *v, bool normalize)
{
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	child;
	bool		first = true;
	bool		raw = false;

	if (v->type != jbvBinary)
	{
		AppendScalar(buf, v, normalize);
		return;
	}
	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &child, true)) != WJB_DONE)
	{
		switch (tok)
		{
			case WJB_BEGIN_OBJECT:
				appendStringInfoChar(buf, '{');
				break;
			case WJB_END_OBJECT:
				appendStringInfoChar(buf, '}');
				break;
			case WJB_BEGIN_ARRAY:
				raw = child.val.array.rawScalar;
				if (!raw)
					appendStringInfoChar(buf, '[');
				break;
			case WJB_END_ARRAY:
				if (!raw)
					appendStringInfoChar(buf, ']');
				break;
			case WJB_KEY:
				if (!first)
					appendStringInfoChar(buf, ',');
				first = false;
				AppendScalar(buf, &child, false);
				appendStringInfoChar(buf, ':');
				break;
			case WJB_ELEM:
				if (!first)
					appendStringInfoChar(buf, ',');
				first = false;
				/* FALLTHROUGH */
			case WJB_VALUE:
				AslAppendJson(buf, &child, normalize);
				break;
			default:
				break;
		}
	}
}

/* The length of escape_json()'s text of the string. */
static int64
EscapedLength(const char *s, int len)
{
	int64		n = 2;			/* the quotes */
	int			i;

	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == '\0')
			break;				/* escape_json stops there (jsonb has none) */
		if (c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t' ||
			c == '"' || c == '\\')
			n += 2;
		else if (c < ' ')
			n += 6;				/* \u00XX */
		else
			n += 1;
	}
	return n;
}

static int64
ScalarTextLength(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return 4;
		case jbvBool:
			return v->val.boolean ? 4 : 5;
		case jbvNumeric:
			{
				/*
				 * The text, not the stored size: 1e100000 is a few bytes
				 * stored and 100,001 characters written.
				 */
				char	   *t = DatumGetCString(DirectFunctionCall1(numeric_out,
																	NumericGetDatum(v->val.numeric)));
				int64		n = strlen(t);

				pfree(t);
				return n;
			}
		case jbvString:
			return EscapedLength(v->val.string.val, v->val.string.len);
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
	}
	return 0;
}

/*
 * See asl_int.h.  What AslAppendJson writes, counted: the payload-size
 * check asks it of every state's output, and writing the text only to
 * measure it was most of that check.
 */
int64
AslJsonTextLength(const JsonbValue *v)
{
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	child;
	bool		first = true;
	bool		raw = false;
	int64		n = 0;

	if (v->type != jbvBinary)
		return ScalarTextLength(v);
	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &child, true)) != WJB_DONE)
	{
		switch (tok)
		{
			case WJB_BEGIN_OBJECT:
			case WJB_END_OBJECT:
				n++;
				break;
			case WJB_BEGIN_ARRAY:
				raw = child.val.array.rawScalar;
				if (!raw)
					n++;
				break;
			case WJB_END_ARRAY:
				if (!raw)
					n++;
				break;
			case WJB_KEY:
				if (!first)
					n++;
				first = false;
				n += ScalarTextLength(&child) + 1;
				break;
			case WJB_ELEM:
				if (!first)
					n++;
				first = false;
				/* FALLTHROUGH */
			case WJB_VALUE:
				n += AslJsonTextLength(&child);
				break;
			default:
				break;
		}
	}
	return n;
}

char *
AslJsonText(const JsonbValue *v)
{
	StringInfoData buf;

	initStringInfo(&buf);
	AslAppendJson(&buf, v, false);
	return buf.data;
}


/* Equality */

static bool
ScalarEqual(const JsonbValue *a, const JsonbValue *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type)
	{
		case jbvNull:
			return true;
		case jbvBool:
			return a->val.boolean == b->val.boolean;
		case jbvNumeric:
			return DatumGetInt32(DirectFunctionCall2(numeric_cmp,
													 NumericGetDatum(a->val.numeric),
													 NumericGetDatum(b->val.numeric))) == 0;
		case jbvString:
			return a->val.string.len == b->val.string.len &&
				memcmp(a->val.string.val, b->val.string.val, a->val.string.len) == 0;
		default:
			return false;
	}
}

bool
AslJsonEqual(const JsonbValue *a, const JsonbValue *b)
{
	JsonbIterator *ia;
	JsonbIterator *ib;
	JsonbIteratorToken ta;
	JsonbIteratorToken tb;
	JsonbValue	va;
	JsonbValue	vb;

	if (a->type != jbvBinary || b->type != jbvBinary)
		return ScalarEqual(a, b);
	if (AslIsObject(a) != AslIsObject(b) ||
		AslContainerSize(a) != AslContainerSize(b))
		return false;

	/*
	 * Same kind and size: jsonb keeps object keys unique and sorted, so equal
	 * objects list the same keys in the same order, and a parallel walk
	 * compares both kinds.
	 */
	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	ia = JsonbIteratorInit(a->val.binary.data);
	ib = JsonbIteratorInit(b->val.binary.data);
	for (;;)
	{
		ta = JsonbIteratorNext(&ia, &va, true);
		tb = JsonbIteratorNext(&ib, &vb, true);
		if (ta != tb)
			return false;
		if (ta == WJB_DONE)
			return true;
		if ((ta == WJB_KEY || ta == WJB_VALUE || ta == WJB_ELEM) &&
			!AslJsonEqual(&va, &vb))
			return false;
	}
}


/* Parsing JSON text */

typedef struct JsonText
{
	const char *s;
	int			len;
	int			pos;
	char	   *why;
} JsonText;

static bool
JsonTextError(JsonText *p, const char *reason)
{
	if (p->why == NULL)
		p->why = psprintf("%s at character %d", reason,
						  pg_mbstrlen_with_len(p->s, Min(p->pos, p->len)) + 1);
	return false;
}

static void
JsonSkipSpace(JsonText *p)
{
	while (p->pos < p->len &&
		   (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
			p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
		p->pos++;
}

static int
HexValue(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool
JsonHex4(JsonText *p, pg_wchar *cp)
{
	int			i;

	*cp = 0;
	if (p->pos + 4 > p->len)
		return JsonTextError(p, "Incomplete \\u escape");
	for (i = 0; i < 4; i++)
	{
		int			h = HexValue(p->s[p->pos + i]);

		if (h < 0)
			return JsonTextError(p, "Invalid \\u escape");
		*cp = (*cp << 4) | h;
	}
	p->pos += 4;
	return true;
}

/* A string token at p->pos (the opening quote), decoded into *out. */
static bool
JsonString(JsonText *p, JsonbValue *out)
{
	StringInfoData buf;

	initStringInfo(&buf);
	p->pos++;
	for (;;)
	{
		unsigned char c;

		if (p->pos >= p->len)
			return JsonTextError(p, "Unterminated string");
		c = (unsigned char) p->s[p->pos];
		if (c == '"')
		{
			p->pos++;
			break;
		}
		if (c < 0x20)
			return JsonTextError(p, "Control character in a string");
		if (c != '\\')
		{
			appendStringInfoChar(&buf, (char) c);
			p->pos++;
			continue;
		}
		p->pos++;
		if (p->pos >= p->len)
			return JsonTextError(p, "Unterminated string");
		c = (unsigned char) p->s[p->pos++];
		switch (c)
		{
			case '"':
			case '\\':
			case '/':
				appendStringInfoChar(&buf, (char) c);
				break;
			case 'b':
				appendStringInfoChar(&buf, '\b');
				break;
			case 'f':
				appendStringInfoChar(&buf, '\f');
				break;
			case 'n':
				appendStringInfoChar(&buf, '\n');
				break;
			case 'r':
				appendStringInfoChar(&buf, '\r');
				break;
			case 't':
				appendStringInfoChar(&buf, '\t');
				break;
			case 'u':
				{
					pg_wchar	cp;
					char		utf8[8];

					if (!JsonHex4(p, &cp))
						return false;
					if (cp >= 0xD800 && cp <= 0xDBFF)
					{
						pg_wchar	low;

						if (p->pos + 2 > p->len || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
							return JsonTextError(p, "Unpaired high surrogate");
						p->pos += 2;
						if (!JsonHex4(p, &low))
							return false;
						if (low < 0xDC00 || low > 0xDFFF)
							return JsonTextError(p, "Unpaired high surrogate");
						cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
					}
					else if (cp >= 0xDC00 && cp <= 0xDFFF)
						return JsonTextError(p, "Unpaired low surrogate");
					if (cp == 0)
						return JsonTextError(p, "\\u0000 cannot be stored");
					if (GetDatabaseEncoding() == PG_UTF8)
					{
						unicode_to_utf8(cp, (unsigned char *) utf8);
						appendBinaryStringInfo(&buf, utf8, pg_utf_mblen((unsigned char *) utf8));
					}
					else if (cp < 0x80)
						appendStringInfoChar(&buf, (char) cp);
					else
						return JsonTextError(p, "Non-ASCII \\u escape in a database that is not UTF-8");
				}
				break;
			default:
				return JsonTextError(p, "Invalid escape");
		}
	}
	out->type = jbvString;
	out->val.string.val = buf.data;
	out->val.string.len = buf.len;
	return true;
}

/*
 * A number token (JSON grammar), within what numeric_in accepts: the
 * bounds are well inside numeric's (131072 digits before the point, 16383
 * after), so that numeric_in cannot raise.
 */
static bool
JsonNumber(JsonText *p, JsonbValue *out)
{
	int			start = p->pos;
	int			intdigits = 0;
	int			fracdigits = 0;
	long		exponent = 0;
	char	   *str;

	if (p->s[p->pos] == '-')
		p->pos++;
	if (p->pos < p->len && p->s[p->pos] == '0')
	{
		p->pos++;
		intdigits = 1;
	}
	else
	{
		while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
		{
			p->pos++;
			intdigits++;
		}
		if (intdigits == 0)
			return JsonTextError(p, "Invalid number");
	}
	if (p->pos < p->len && p->s[p->pos] == '.')
	{
		p->pos++;
		while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
		{
			p->pos++;
			fracdigits++;
		}
		if (fracdigits == 0)
			return JsonTextError(p, "Invalid number");
	}
	if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E'))
	{
		bool		negative = false;
		int			ndigits = 0;

		p->pos++;
		if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
			negative = p->s[p->pos++] == '-';
		while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
		{
			if (exponent < 1000000)
				exponent = exponent * 10 + (p->s[p->pos] - '0');
			p->pos++;
			ndigits++;
		}
		if (ndigits == 0)
			return JsonTextError(p, "Invalid number");
		if (negative)
			exponent = -exponent;
	}
	if (exponent > 1000 || exponent < -1000 ||
		intdigits + exponent > 100000 || fracdigits - exponent > 16000)
		return JsonTextError(p, "Number out of range");

	str = pnstrdup(p->s + start, p->pos - start);
	out->type = jbvNumeric;
	out->val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in,
														   CStringGetDatum(str),
														   ObjectIdGetDatum(InvalidOid),
														   Int32GetDatum(-1)));
	pfree(str);
	return true;
}

static bool
JsonWord(JsonText *p, const char *word)
{
	int			n = strlen(word);

	if (p->pos + n > p->len || memcmp(p->s + p->pos, word, n) != 0)
		return false;
	p->pos += n;
	return true;
}

/*
 * One value at p->pos.  Containers are pushed into *state (as tok, when
 * inside another container); a scalar is returned in *out when it is the
 * whole document, else pushed too.
 */
static bool
JsonValue(JsonText *p, JsonbParseState **state, JsonbIteratorToken tok, JsonbValue *out)
{
	JsonbValue	v;
	char		c;

	check_stack_depth();
	JsonSkipSpace(p);
	if (p->pos >= p->len)
		return JsonTextError(p, "Expected a value");
	c = p->s[p->pos];
	if (c == '{' || c == '[')
	{
		bool		object = c == '{';
		JsonbValue *res;

		CHECK_FOR_INTERRUPTS();
		res = pushJsonbValue(state, object ? WJB_BEGIN_OBJECT : WJB_BEGIN_ARRAY, NULL);
		p->pos++;
		JsonSkipSpace(p);
		if (p->pos < p->len && p->s[p->pos] == (object ? '}' : ']'))
			p->pos++;
		else
		{
			for (;;)
			{
				if (object)
				{
					JsonbValue	key;

					JsonSkipSpace(p);
					if (p->pos >= p->len || p->s[p->pos] != '"')
						return JsonTextError(p, "Expected a string key");
					if (!JsonString(p, &key))
						return false;
					JsonSkipSpace(p);
					if (p->pos >= p->len || p->s[p->pos] != ':')
						return JsonTextError(p, "Expected \":\"");
					p->pos++;
					(void) pushJsonbValue(state, WJB_KEY, &key);
				}
				if (!JsonValue(p, state, object ? WJB_VALUE : WJB_ELEM, NULL))
					return false;
				JsonSkipSpace(p);
				if (p->pos < p->len && p->s[p->pos] == ',')
				{
					p->pos++;
					continue;
				}
				if (p->pos < p->len && p->s[p->pos] == (object ? '}' : ']'))
				{
					p->pos++;
					break;
				}
				return JsonTextError(p, object ? "Expected \",\" or \"}\"" : "Expected \",\" or \"]\"");
			}
		}
		res = pushJsonbValue(state, object ? WJB_END_OBJECT : WJB_END_ARRAY, NULL);
		if (out != NULL)
			AslBinaryValue(JsonbValueToJsonb(res), out);
		return true;
	}

	if (c == '"')
	{
		if (!JsonString(p, &v))
			return false;
	}
	else if (c == '-' || (c >= '0' && c <= '9'))
	{
		if (!JsonNumber(p, &v))
			return false;
	}
	else if (JsonWord(p, "true"))
	{
		v.type = jbvBool;
		v.val.boolean = true;
	}
	else if (JsonWord(p, "false"))
	{
		v.type = jbvBool;
		v.val.boolean = false;
	}
	else if (JsonWord(p, "null"))
		v.type = jbvNull;
	else
		return JsonTextError(p, "Expected a value");

	if (out != NULL)
		*out = v;
	else
		(void) pushJsonbValue(state, tok, &v);
	return true;
}

bool
AslParseJson(const char *text, int len, JsonbValue *out, char **why)
{
	JsonText	p;
	JsonbParseState *state = NULL;

	p.s = text;
	p.len = len;
	p.pos = 0;
	p.why = NULL;
	if (JsonValue(&p, &state, 0, out))
	{
		JsonSkipSpace(&p);
		if (p.pos == p.len)
			return true;
		(void) JsonTextError(&p, "Expected the end of the text");
	}
	*why = p.why;
	return false;
}
