/*-------------------------------------------------------------------------
 *
 * pattern.c
 *	  EventBridge event patterns: validation, compilation and matching.
 *
 * Vocabulary:
 *
 *	  pattern	  a JSON object mirroring the event: nested objects select
 *				  nested fields, and every leaf is a non-empty list of
 *				  conditions, e.g. {"detail": {"state": ["running"]}}
 *	  path		  the dotted name of a leaf ("detail.state").  Dots in keys
 *				  are the same as nesting, in the pattern and in the event:
 *				  {"a.b": [1]} matches {"a": {"b": 1}} and the other way round
 *	  condition   one member of a leaf list: an exact value (string, number,
 *				  true, false, null) or a match expression, an object with
 *				  exactly one operator (prefix, suffix, equals-ignore-case,
 *				  wildcard, anything-but, numeric, exists, cidr).  The
 *				  conditions of a list are alternatives: any one will do
 *	  field		  a path with its conditions; the fields of a pattern must all
 *				  hold
 *	  term		  one alternative of the whole pattern: $or groups are
 *				  expanded at compile time (disjunctive normal form), so a
 *				  compiled pattern is a list of terms, each a list of fields,
 *				  and it matches when one term does.  This is also the form a
 *				  rule index needs (one entry per term)
 *	  leaf value  a scalar found at a path in the event; an event array
 *				  contributes each of its elements (recursively), an object
 *				  contributes nothing: conditions never match objects
 *	  candidate   a leaf value that satisfies some condition of its field,
 *				  with the array elements it sits in (its membership)
 *
 * Semantics follow AWS EventBridge (recorded in test/conformance):
 *
 *	  - a field whose path has no leaf value (absent, an object, or []) fails
 *		every condition but {"exists": false}
 *	  - null is a value: it matches [null], {"exists": true} and every
 *		anything-but form, and nothing else; "" is not null
 *	  - exact values are type-exact ("1" is not 1), numbers compare by value
 *		(300 matches 300.0) exactly, as PostgreSQL numerics
 *	  - anything-but matches every present value not excluded, including values
 *		of other types (anything-but "x" matches 12)
 *	  - array consistency: the candidates chosen for the fields of one term
 *		must lie in the same element of every array they share, so
 *		{"emp": {"first": ["Anna"], "last": ["Jones"]}} does not match
 *		{"emp": [{"first": "Anna", "last": "Smith"},
 *				 {"first": "Peter", "last": "Jones"}]}
 *	  - {"exists": false} holds when the path has no leaf value anywhere in the
 *		event, whatever array element the other fields use
 *
 * Matching walks the event in place (getKeyJsonValueFromContainer and
 * JsonbIterator over the event's binary form): no pattern re-parsing, no
 * intermediate jsonb.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "catalog/pg_collation.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "jsonb_build.h"
#include "pg_courier.h"
#include "pattern.h"
#include "pattern_int.h"

/* More '*' than this in one wildcard is rejected, as EventBridge does. */
#define COURIER_WILDCARD_MAX_STARS	5

/* SNS filter-policy limits, as AWS documents them. */
#define SNS_MAX_KEYS			5
#define SNS_MAX_COMPLEXITY		150
#define SNS_NUMBER_LIMIT		INT64CONST(1000000000)
#define SNS_NUMBER_DECIMALS		5


/* Compilation */

/* Which rules a pattern is validated under. */
typedef enum PatDialect
{
	DIALECT_EVENTBRIDGE,		/* event patterns */
	DIALECT_SNS_HEADERS,		/* filter policies on message attributes */
	DIALECT_SNS_PAYLOAD			/* filter policies on the message body */
} PatDialect;

typedef struct CompileState
{
	MemoryContext cxt;			/* where the compiled pattern lives */
	PatDialect	dialect;
	bool		sns;			/* either SNS dialect */
	StringInfoData where;		/* the key being compiled, for messages */
	StringInfoData path;		/* its dotted match path */
} CompileState;

static const char *const operator_names[] = {
	"prefix", "suffix", "equals-ignore-case", "wildcard", "anything-but",
	"numeric", "exists", "cidr"
};

static void PatternError(CompileState *cs, const char *hint, const char *fmt,...)
			pg_attribute_printf(3, 4) pg_attribute_noreturn();

static void
PatternError(CompileState *cs, const char *hint, const char *fmt,...)
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
			 errmsg(cs->sns ? "invalid filter policy: %s" : "invalid event pattern: %s",
					reason.data),
			 cs->where.len > 0 ? errdetail("The problem is at key \"%s\".", cs->where.data) : 0,
			 hint != NULL ? errhint("%s", hint) : 0));
}

static bool
StrEq(const JsonbValue *key, const char *name)
{
	return key->type == jbvString &&
		strlen(name) == (size_t) key->val.string.len &&
		memcmp(key->val.string.val, name, key->val.string.len) == 0;
}

static bool
IsOperatorName(const JsonbValue *key)
{
	int			i;

	for (i = 0; i < (int) lengthof(operator_names); i++)
		if (StrEq(key, operator_names[i]))
			return true;
	return false;
}

#define IsObject(v) CourierJsonbIsContainer((v), true)
#define IsArray(v)	CourierJsonbIsContainer((v), false)

/* A JSON value as text, for messages. */
static char *
ValueText(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvBool:
			return v->val.boolean ? "true" : "false";
		case jbvString:
			return psprintf("\"%.*s\"", v->val.string.len, v->val.string.val);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out,
													   NumericGetDatum(v->val.numeric)));
		case jbvBinary:
			return JsonbToCString(NULL, v->val.binary.data, -1);
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

static char *
CopyBytes(MemoryContext cxt, const char *s, int len)
{
	char	   *r = MemoryContextAlloc(cxt, len + 1);

	memcpy(r, s, len);
	r[len] = '\0';
	return r;
}

static void
SetString(CompileState *cs, PatString *ps, const JsonbValue *v, bool fold)
{
	Assert(v->type == jbvString);
	if (fold)
	{
		MemoryContext old = MemoryContextSwitchTo(cs->cxt);

		ps->str = str_tolower(v->val.string.val, v->val.string.len,
							  DEFAULT_COLLATION_OID);
		ps->len = strlen(ps->str);
		MemoryContextSwitchTo(old);
	}
	else
	{
		ps->str = CopyBytes(cs->cxt, v->val.string.val, v->val.string.len);
		ps->len = v->val.string.len;
	}
}

static int
NumCmp(Numeric a, Numeric b)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp,
											 NumericGetDatum(a),
											 NumericGetDatum(b)));
}

/*
 * SNS documents numbers from -10^9 to 10^9 with five digits of accuracy
 * after the decimal point; a policy number outside that is rejected rather
 * than silently compared with less precision.
 */
static void
CheckSnsNumber(CompileState *cs, const JsonbValue *v)
{
	static const char *hint =
		"Filter policies take numbers from -1000000000 to 1000000000 with at most 5 digits after the decimal point.";
	char	   *text;
	char	   *dot;

	if (NumCmp(v->val.numeric, int64_to_numeric(SNS_NUMBER_LIMIT)) > 0 ||
		NumCmp(v->val.numeric, int64_to_numeric(-SNS_NUMBER_LIMIT)) < 0)
		PatternError(cs, hint, "number %s is out of range", ValueText(v));
	/* numeric_normalize drops trailing zeros: 1.500000 has one decimal */
	text = numeric_normalize(v->val.numeric);
	dot = strchr(text, '.');
	if (dot != NULL && strlen(dot + 1) > SNS_NUMBER_DECIMALS)
		PatternError(cs, hint, "number %s has more than %d digits after the decimal point",
					 text, SNS_NUMBER_DECIMALS);
	pfree(text);
}

static Numeric
CopyNumeric(CompileState *cs, const JsonbValue *v)
{
	Size		size = VARSIZE_ANY(v->val.numeric);
	Numeric		n;

	if (cs->sns)
		CheckSnsNumber(cs, v);
	n = MemoryContextAlloc(cs->cxt, size);
	memcpy(n, v->val.numeric, size);
	return n;
}

/* Strings of a single string or a non-empty list of strings. */
static bool
StringList(const JsonbValue *v, JsonbValue **elems, int *n)
{
	int			i;

	if (v->type == jbvString)
	{
		*elems = (JsonbValue *) v;
		*n = 1;
		return true;
	}
	if (!IsArray(v))
		return false;
	*n = CourierJsonbArrayElements(v->val.binary.data, elems);
	for (i = 0; i < *n; i++)
		if ((*elems)[i].type != jbvString)
			return false;
	return true;
}

/*
 * A wildcard: '*' stands for any run of characters, "\*" for a star and
 * "\\" for a backslash; no other escape is allowed.
 */
static void
CompileWildcard(CompileState *cs, const JsonbValue *v, PatWildcard *w)
{
	const char *s = v->val.string.val;
	int			len = v->val.string.len;
	char	   *buf = palloc(len + 1);
	int			blen = 0;
	int			maxparts = 1;
	int			i;
	bool		prev_star = false;

	for (i = 0; i < len; i++)
		if (s[i] == '*')
			maxparts++;
	w->nparts = 0;
	w->parts = MemoryContextAlloc(cs->cxt, sizeof(PatString) * maxparts);

	for (i = 0; i < len; i++)
	{
		char		c = s[i];

		if (c == '*')
		{
			if (prev_star)
				PatternError(cs, "Use a single \"*\" for any run of characters.",
							 "consecutive wildcard characters at pos %d in wildcard %s",
							 i, ValueText(v));
			w->parts[w->nparts].str = CopyBytes(cs->cxt, buf, blen);
			w->parts[w->nparts].len = blen;
			w->nparts++;
			blen = 0;
			prev_star = true;
			continue;
		}
		prev_star = false;
		if (c == '\\')
		{
			if (i + 1 >= len || (s[i + 1] != '*' && s[i + 1] != '\\'))
				PatternError(cs, "Only \"\\*\" and \"\\\\\" are escapes in a wildcard.",
							 "invalid escape character at pos %d in wildcard %s",
							 i, ValueText(v));
			c = s[++i];
		}
		buf[blen++] = c;
	}
	if (w->nparts > COURIER_WILDCARD_MAX_STARS)
		PatternError(cs, psprintf("Use at most %d wildcard characters in one wildcard.",
								  COURIER_WILDCARD_MAX_STARS),
					 "rule is too complex: wildcard %s has %d wildcard characters",
					 ValueText(v), w->nparts);
	w->parts[w->nparts].str = CopyBytes(cs->cxt, buf, blen);
	w->parts[w->nparts].len = blen;
	w->nparts++;
	pfree(buf);
}

/* Strict dotted-quad IPv4. */
static bool
ParseIPv4(const char *s, int len, uint8 *out)
{
	int			i = 0;
	int			part;

	for (part = 0; part < 4; part++)
	{
		int			val = 0;
		int			digits = 0;

		while (i < len && isdigit((unsigned char) s[i]))
		{
			if (++digits > 3)
				return false;
			val = val * 10 + (s[i++] - '0');
		}
		if (digits == 0 || val > 255)
			return false;
		out[part] = (uint8) val;
		if (part < 3)
		{
			if (i >= len || s[i] != '.')
				return false;
			i++;
		}
	}
	return i == len;
}

/* IPv6 text form (RFC 4291 2.2): "::" once, an IPv4 tail allowed. */
static bool
ParseIPv6(const char *s, int len, uint8 *out)
{
	uint16		groups[8];
	int			ngroups = 0;
	int			gap = -1;
	int			i = 0;
	int			k;

	if (len < 2)
		return false;
	if (s[0] == ':')
	{
		if (s[1] != ':')
			return false;
		gap = 0;
		i = 2;
	}
	while (i < len)
	{
		int			val = 0;
		int			digits = 0;

		while (i + digits < len && digits < 5 && isxdigit((unsigned char) s[i + digits]))
			digits++;
		if (i + digits < len && s[i + digits] == '.')
		{
			uint8		v4[4];

			if (ngroups > 6 || !ParseIPv4(s + i, len - i, v4))
				return false;
			groups[ngroups++] = (v4[0] << 8) | v4[1];
			groups[ngroups++] = (v4[2] << 8) | v4[3];
			i = len;
			break;
		}
		if (digits == 0 || digits > 4 || ngroups == 8)
			return false;
		for (k = 0; k < digits; k++)
		{
			char		c = s[i + k];

			val = val * 16 + (isdigit((unsigned char) c) ? c - '0'
							  : tolower((unsigned char) c) - 'a' + 10);
		}
		groups[ngroups++] = (uint16) val;
		i += digits;
		if (i == len)
			break;
		if (s[i] != ':')
			return false;
		i++;
		if (i < len && s[i] == ':')
		{
			if (gap >= 0)
				return false;
			gap = ngroups;
			i++;
		}
		else if (i == len)
			return false;
	}
	if (gap < 0 ? ngroups != 8 : ngroups > 7)
		return false;

	memset(out, 0, 16);
	if (gap < 0)
		gap = ngroups;
	for (k = 0; k < gap; k++)
	{
		out[2 * k] = groups[k] >> 8;
		out[2 * k + 1] = groups[k] & 0xff;
	}
	for (k = gap; k < ngroups; k++)
	{
		int			pos = 8 - (ngroups - k);

		out[2 * pos] = groups[k] >> 8;
		out[2 * pos + 1] = groups[k] & 0xff;
	}
	return true;
}

static void
CompileCidr(CompileState *cs, const JsonbValue *v, PatCidr *cidr)
{
	const char *s = v->val.string.val;
	int			len = v->val.string.len;
	const char *slash = memchr(s, '/', len);
	int			iplen;
	int			i;
	int			bits = 0;
	int			maxbits;

	if (slash == NULL || memchr(slash + 1, '/', len - (slash + 1 - s)) != NULL)
		PatternError(cs, "Write an address and a prefix length, such as \"10.0.0.0/24\".",
					 "malformed CIDR %s, one \"/\" required", ValueText(v));
	iplen = slash - s;
	if (len - iplen - 1 < 1 || len - iplen - 1 > 3)
		PatternError(cs, NULL, "malformed CIDR %s, mask bits must be an integer", ValueText(v));
	for (i = iplen + 1; i < len; i++)
	{
		if (!isdigit((unsigned char) s[i]))
			PatternError(cs, NULL, "malformed CIDR %s, mask bits must be an integer", ValueText(v));
		bits = bits * 10 + (s[i] - '0');
	}
	if (ParseIPv4(s, iplen, cidr->addr))
	{
		cidr->family = 4;
		maxbits = 32;
	}
	else if (ParseIPv6(s, iplen, cidr->addr))
	{
		cidr->family = 6;
		maxbits = 128;
	}
	else
		PatternError(cs, NULL, "nonstandard IP address: %.*s", iplen, s);
	if (bits > maxbits)
		PatternError(cs, NULL, "malformed CIDR %s, mask bits must be at most %d",
					 ValueText(v), maxbits);
	cidr->bits = bits;
	/* clear the host bits */
	for (i = 0; i < 16; i++)
	{
		int			keep = Min(Max(bits - 8 * i, 0), 8);

		cidr->addr[i] &= (uint8) (0xff00 >> keep);
	}
}

/*
 * numeric: ["=", n], or one bound (">", ">=", "<", "<=" with a number), or a
 * lower bound (">" or ">=") followed by an upper one ("<" or "<=").
 */
static void
CompileNumeric(CompileState *cs, const JsonbValue *v, PatCond *c)
{
	JsonbValue *e;
	int			n;
	int			i;

	if (!IsArray(v))
		PatternError(cs, "Write for example {\"numeric\": [\">\", 0, \"<=\", 5]}.",
					 "value of numeric must be an array, not %s", ValueKind(v));
	n = CourierJsonbArrayElements(v->val.binary.data, &e);
	if (n == 0)
		PatternError(cs, NULL, "numeric must not be an empty array");

	for (i = 0; i < n; i += 2)
	{
		const char *op;
		int			oplen;

		if (e[i].type != jbvString)
			PatternError(cs, NULL, i == 0 ? "invalid member in numeric match: %s"
						 : "bad value in numeric range: %s", ValueText(&e[i]));
		op = e[i].val.string.val;
		oplen = e[i].val.string.len;
		if (!StrEq(&e[i], "=") && !StrEq(&e[i], "<") && !StrEq(&e[i], "<=") &&
			!StrEq(&e[i], ">") && !StrEq(&e[i], ">="))
			PatternError(cs, "The numeric operators are =, <, <=, > and >=.",
						 "unrecognized numeric range operator \"%.*s\"", oplen, op);
		if (i == 2 && op[0] != '<')
			PatternError(cs, "A numeric range has at most one lower bound (> or >=) followed by one upper bound (< or <=).",
						 "bad numeric range operator \"%.*s\"", oplen, op);
		if (i + 1 >= n || e[i + 1].type != jbvNumeric)
			PatternError(cs, NULL, "value of %s must be numeric",
						 op[0] == '=' ? "equals" : pnstrdup(op, oplen));
		if (op[0] == '=')
			c->lower = c->upper = CopyNumeric(cs, &e[i + 1]);
		else if (op[0] == '>')
			c->lower = CopyNumeric(cs, &e[i + 1]);
		else
			c->upper = CopyNumeric(cs, &e[i + 1]);
		if (op[0] == '=' || oplen == 2)
		{
			if (op[0] != '<')
				c->lower_inclusive = true;
			if (op[0] != '>')
				c->upper_inclusive = true;
		}
		if (i == 0 && n > 2 && op[0] != '>')
			PatternError(cs, "A numeric range has at most one lower bound (> or >=) followed by one upper bound (< or <=).",
						 "too many elements in numeric expression");
		if (i == 2 && n > 4)
			PatternError(cs, NULL, "too many terms in numeric range expression");
	}
	if (c->lower != NULL && c->upper != NULL && c->lower != c->upper &&
		NumCmp(c->lower, c->upper) >= 0)
		PatternError(cs, NULL, "bottom must be less than top in numeric range");
}

static void
CompileAnythingBut(CompileState *cs, const JsonbValue *v, PatCond *c)
{
	JsonbValue *e;
	int			n;
	int			i;

	if (v->type == jbvString || v->type == jbvNumeric)
	{
		e = (JsonbValue *) v;
		n = 1;
	}
	else if (IsArray(v))
	{
		n = CourierJsonbArrayElements(v->val.binary.data, &e);
		if (n == 0)
			PatternError(cs, NULL, "empty arrays are not allowed in anything-but");
	}
	else if (IsObject(v))
	{
		JsonbValue *keys;
		JsonbValue *vals;
		const char *op;
		bool		prefix_like;

		n = CourierJsonbObjectPairs(v->val.binary.data, &keys, &vals);
		if (n != 1)
			PatternError(cs, NULL, "anything-but takes an object with exactly one key, not %d", n);
		if (cs->sns && !StrEq(&keys[0], "prefix"))
			PatternError(cs, "In a filter policy, anything-but accepts a value, a list, or {\"prefix\": \"...\"}.",
						 "unsupported anything-but pattern \"%.*s\"",
						 keys[0].val.string.len, keys[0].val.string.val);
		if (cs->sns && vals[0].type != jbvString)
			PatternError(cs, NULL, "prefix match pattern must be a string");
		if (StrEq(&keys[0], "prefix"))
			c->kind = COND_BUT_PREFIX;
		else if (StrEq(&keys[0], "suffix"))
			c->kind = COND_BUT_SUFFIX;
		else if (StrEq(&keys[0], "equals-ignore-case"))
			c->kind = COND_BUT_IGNORE_CASE;
		else if (StrEq(&keys[0], "wildcard"))
			c->kind = COND_BUT_WILDCARD;
		else
			PatternError(cs, "anything-but accepts a value, a list, or one of prefix, suffix, equals-ignore-case and wildcard.",
						 "unsupported anything-but pattern \"%.*s\"",
						 keys[0].val.string.len, keys[0].val.string.val);
		op = pnstrdup(keys[0].val.string.val, keys[0].val.string.len);
		prefix_like = (c->kind == COND_BUT_PREFIX || c->kind == COND_BUT_SUFFIX);

		if (IsObject(&vals[0]))
			PatternError(cs, NULL, "nested match expressions are not allowed in anything-but/%s", op);
		if (!StringList(&vals[0], &e, &n))
			PatternError(cs, NULL, "anything-but/%s match pattern must be a string or a list of strings",
						 op);
		if (n == 0)
			PatternError(cs, NULL, "empty arrays are not allowed in anything-but/%s", op);

		if (c->kind == COND_BUT_WILDCARD)
		{
			c->nwildcards = n;
			c->wildcards = MemoryContextAllocZero(cs->cxt, sizeof(PatWildcard) * n);
			for (i = 0; i < n; i++)
				CompileWildcard(cs, &e[i], &c->wildcards[i]);
			return;
		}
		c->nstrings = n;
		c->strings = MemoryContextAllocZero(cs->cxt, sizeof(PatString) * n);
		for (i = 0; i < n; i++)
		{
			if (prefix_like && e[i].val.string.len == 0)
				PatternError(cs, NULL, "null prefix/suffix not allowed in anything-but/%s", op);
			SetString(cs, &c->strings[i], &e[i], c->kind == COND_BUT_IGNORE_CASE);
		}
		return;
	}
	else
		PatternError(cs, NULL, "value of anything-but must be an array or single string/number value, not %s",
					 ValueKind(v));

	/* a value or a list of values: all strings or all numbers */
	for (i = 0; i < n; i++)
	{
		if (e[i].type != jbvString && e[i].type != jbvNumeric)
			PatternError(cs, NULL, "inside anything-but list, %s is not supported",
						 ValueKind(&e[i]));
		if (e[i].type != e[0].type)
			PatternError(cs, NULL, "inside anything-but list, either all values are number or string, mixed type is not supported");
	}
	if (e[0].type == jbvString)
	{
		c->kind = COND_BUT_STRINGS;
		c->nstrings = n;
		c->strings = MemoryContextAllocZero(cs->cxt, sizeof(PatString) * n);
		for (i = 0; i < n; i++)
			SetString(cs, &c->strings[i], &e[i], false);
	}
	else
	{
		c->kind = COND_BUT_NUMBERS;
		c->nnumbers = n;
		c->numbers = MemoryContextAlloc(cs->cxt, sizeof(Numeric) * n);
		for (i = 0; i < n; i++)
			c->numbers[i] = CopyNumeric(cs, &e[i]);
	}
}

/* A match expression: an object with one operator. */
static void
CompileMatchExpression(CompileState *cs, JsonbContainer *obj, PatCond *c)
{
	JsonbValue *keys;
	JsonbValue *vals;
	JsonbValue *key;
	JsonbValue *val;
	int			n;
	int			i;

	n = CourierJsonbObjectPairs(obj, &keys, &vals);
	if (n == 0)
		PatternError(cs, NULL, "empty match expression");
	if (n > 1)
		PatternError(cs, "Put each operator in an object of its own: [{\"prefix\": \"a\"}, {\"suffix\": \"b\"}].",
					 "only one key allowed in match expression, found %d", n);
	key = &keys[0];
	val = &vals[0];

	if (StrEq(key, "prefix") || StrEq(key, "suffix"))
	{
		const char *op = StrEq(key, "prefix") ? "prefix" : "suffix";

		c->kind = (op[0] == 'p') ? COND_PREFIX : COND_SUFFIX;
		c->nstrings = 1;
		c->strings = MemoryContextAllocZero(cs->cxt, sizeof(PatString));
		if (val->type == jbvString)
			SetString(cs, &c->strings[0], val, false);
		else if (cs->sns)
			PatternError(cs, NULL, "%s match pattern must be a string", op);
		else if (IsObject(val))
		{
			JsonbValue *ik;
			JsonbValue *iv;

			if (CourierJsonbObjectPairs(val->val.binary.data, &ik, &iv) != 1 ||
				!StrEq(&ik[0], "equals-ignore-case"))
				PatternError(cs, NULL, "unsupported %s pattern: only equals-ignore-case may be nested in %s",
							 op, op);
			if (iv[0].type != jbvString)
				PatternError(cs, NULL, "%s/equals-ignore-case match pattern must be a string", op);
			c->ignore_case = true;
			SetString(cs, &c->strings[0], &iv[0], true);
		}
		else
			PatternError(cs, NULL, "%s match pattern must be a string, not %s", op, ValueKind(val));
	}
	else if (StrEq(key, "equals-ignore-case"))
	{
		if (val->type != jbvString)
			PatternError(cs, NULL, "equals-ignore-case match pattern must be a string, not %s",
						 ValueKind(val));
		c->kind = COND_EQUALS_IGNORE_CASE;
		c->nstrings = 1;
		c->strings = MemoryContextAllocZero(cs->cxt, sizeof(PatString));
		SetString(cs, &c->strings[0], val, true);
	}
	else if (StrEq(key, "wildcard") && !cs->sns)
	{
		if (val->type != jbvString)
			PatternError(cs, NULL, "wildcard match pattern must be a string, not %s", ValueKind(val));
		c->kind = COND_WILDCARD;
		c->nwildcards = 1;
		c->wildcards = MemoryContextAllocZero(cs->cxt, sizeof(PatWildcard));
		CompileWildcard(cs, val, &c->wildcards[0]);
	}
	else if (StrEq(key, "anything-but"))
		CompileAnythingBut(cs, val, c);
	else if (StrEq(key, "numeric"))
	{
		c->kind = COND_NUMERIC;
		CompileNumeric(cs, val, c);
	}
	else if (StrEq(key, "exists"))
	{
		if (val->type != jbvBool)
			PatternError(cs, NULL, "exists match pattern must be either true or false");
		c->kind = COND_EXISTS;
		c->flag = val->val.boolean;
	}
	else if (StrEq(key, "cidr"))
	{
		if (val->type != jbvString)
			PatternError(cs, NULL, "cidr match pattern must be a string, not %s", ValueKind(val));
		c->kind = COND_CIDR;
		CompileCidr(cs, val, &c->cidr);
	}
	else
	{
		const char *hint = NULL;

		for (i = 0; i < (int) lengthof(operator_names); i++)
			if (strlen(operator_names[i]) == (size_t) key->val.string.len &&
				pg_strncasecmp(operator_names[i], key->val.string.val, key->val.string.len) == 0)
				hint = psprintf("Match types are case-sensitive: write \"%s\".", operator_names[i]);
		if (cs->sns && StrEq(key, "wildcard"))
			hint = "Filter policies have no wildcard operator; prefix and suffix are the closest.";
		if (hint == NULL && cs->where.len >= 3 &&
			strcmp(cs->where.data + cs->where.len - 3, "$or") == 0)
			hint = "\"$or\" combines conditions only when it holds a list of at least two objects.";
		PatternError(cs, hint, "unrecognized match type \"%.*s\"",
					 key->val.string.len, key->val.string.val);
	}
}

/* A leaf: a non-empty list of conditions. */
static PatField *
CompileField(CompileState *cs, JsonbContainer *list)
{
	PatField   *f = MemoryContextAllocZero(cs->cxt, sizeof(PatField));
	JsonbValue *e;
	int			n;
	int			i;
	int			nsegs = 1;

	n = CourierJsonbArrayElements(list, &e);
	if (n == 0)
		PatternError(cs, "A leaf lists the values or match expressions it accepts; list at least one.",
					 "empty arrays are not allowed");

	f->nconds = n;
	f->conds = MemoryContextAllocZero(cs->cxt, sizeof(PatCond) * n);
	for (i = 0; i < n; i++)
	{
		PatCond    *c = &f->conds[i];

		switch (e[i].type)
		{
			case jbvString:
				c->kind = COND_STRING;
				c->nstrings = 1;
				c->strings = MemoryContextAllocZero(cs->cxt, sizeof(PatString));
				SetString(cs, &c->strings[0], &e[i], false);
				break;
			case jbvNumeric:
				c->kind = COND_NUMBER;
				c->nnumbers = 1;
				c->numbers = MemoryContextAlloc(cs->cxt, sizeof(Numeric));
				c->numbers[0] = CopyNumeric(cs, &e[i]);
				break;
			case jbvNull:
				c->kind = COND_NULL;
				break;
			case jbvBool:
				c->kind = COND_BOOL;
				c->flag = e[i].val.boolean;
				break;
			default:
				if (!IsObject(&e[i]))
					PatternError(cs, NULL, "match value must be a string, number, true, false, or null, not %s",
								 ValueKind(&e[i]));
				CompileMatchExpression(cs, e[i].val.binary.data, c);
				if (c->kind == COND_EXISTS && !c->flag)
					f->absent_ok = true;
				break;
		}
	}

	/* the path, split at every dot */
	f->path = CopyBytes(cs->cxt, cs->path.data, cs->path.len);
	for (i = 0; i < cs->path.len; i++)
		if (cs->path.data[i] == '.')
			nsegs++;
	f->nsegs = nsegs;
	f->seg_start = MemoryContextAlloc(cs->cxt, sizeof(int) * nsegs);
	f->seg_end = MemoryContextAlloc(cs->cxt, sizeof(int) * nsegs);
	nsegs = 0;
	f->seg_start[0] = 0;
	for (i = 0; i < cs->path.len; i++)
	{
		if (cs->path.data[i] == '.')
		{
			f->seg_end[nsegs++] = i;
			f->seg_start[nsegs] = i + 1;
		}
	}
	f->seg_end[nsegs] = cs->path.len;
	return f;
}

/* Every term of a followed by every term of b: the AND of two ORs. */
static List *
CrossTerms(CompileState *cs, List *a, List *b)
{
	List	   *result = NIL;
	ListCell   *la;
	ListCell   *lb;

	if ((double) list_length(a) * list_length(b) > COURIER_PATTERN_MAX_TERMS)
		PatternError(cs, "Use fewer or smaller $or groups.",
					 "pattern is too complex: its $or groups expand to more than %d alternatives",
					 COURIER_PATTERN_MAX_TERMS);
	foreach(la, a)
		foreach(lb, b)
		result = lappend(result, list_concat_copy((List *) lfirst(la), (List *) lfirst(lb)));
	return result;
}

/*
 * "$or" combines its objects only in the shape EventBridge accepts: a list
 * of at least two objects, none of which holds an operator.  Otherwise it
 * is an ordinary field name.
 */
static bool
IsOrGroup(const JsonbValue *key, const JsonbValue *val)
{
	JsonbValue *e;
	int			n;
	int			i;

	if (!StrEq(key, "$or") || !IsArray(val))
		return false;
	n = CourierJsonbArrayElements(val->val.binary.data, &e);
	if (n < 2)
		return false;
	for (i = 0; i < n; i++)
	{
		JsonbValue *keys;
		JsonbValue *vals;
		int			nkeys;
		int			j;

		if (!IsObject(&e[i]))
			return false;
		nkeys = CourierJsonbObjectPairs(e[i].val.binary.data, &keys, &vals);
		for (j = 0; j < nkeys; j++)
			if (IsOperatorName(&keys[j]))
				return false;
	}
	return true;
}

/* An object of the pattern: returns its terms, each a List of PatField. */
static List *
CompileObject(CompileState *cs, JsonbContainer *obj)
{
	List	   *terms = list_make1(NIL);
	JsonbValue *keys;
	JsonbValue *vals;
	int			n;
	int			i;

	n = CourierJsonbObjectPairs(obj, &keys, &vals);
	if (n == 0)
		PatternError(cs, "Leave the key out to accept any value.",
					 "empty objects are not allowed");

	for (i = 0; i < n; i++)
	{
		JsonbValue *key = &keys[i];
		JsonbValue *val = &vals[i];
		int			where_len = cs->where.len;
		int			path_len = cs->path.len;

		if (where_len > 0)
			appendStringInfoChar(&cs->where, '.');
		appendBinaryStringInfo(&cs->where, key->val.string.val, key->val.string.len);

		CHECK_FOR_INTERRUPTS();

		if (IsOrGroup(key, val))
		{
			List	   *alternatives = NIL;
			JsonbValue *branches;
			int			nbranches;
			int			b;
			int			or_len = cs->where.len;

			nbranches = CourierJsonbArrayElements(val->val.binary.data, &branches);
			for (b = 0; b < nbranches; b++)
			{
				appendStringInfo(&cs->where, "[%d]", b);
				alternatives = list_concat(alternatives,
										   CompileObject(cs, branches[b].val.binary.data));
				if (list_length(alternatives) > COURIER_PATTERN_MAX_TERMS)
					PatternError(cs, "Use fewer or smaller $or groups.",
								 "pattern is too complex: its $or groups expand to more than %d alternatives",
								 COURIER_PATTERN_MAX_TERMS);
				cs->where.len = or_len;
				cs->where.data[or_len] = '\0';
			}
			terms = CrossTerms(cs, terms, alternatives);
		}
		else
		{
			if (path_len > 0)
				appendStringInfoChar(&cs->path, '.');
			appendBinaryStringInfo(&cs->path, key->val.string.val, key->val.string.len);

			if (IsObject(val))
				terms = CrossTerms(cs, terms, CompileObject(cs, val->val.binary.data));
			else if (IsArray(val))
			{
				PatField   *f = CompileField(cs, val->val.binary.data);
				ListCell   *lc;

				foreach(lc, terms)
					lfirst(lc) = lappend((List *) lfirst(lc), f);
			}
			else
				PatternError(cs, psprintf("Write the accepted values as a list: {\"%.*s\": [%s]}.",
										  key->val.string.len, key->val.string.val,
										  ValueText(val)),
							 "\"%.*s\" must be an object or an array",
							 key->val.string.len, key->val.string.val);
			cs->path.len = path_len;
			cs->path.data[path_len] = '\0';
		}
		cs->where.len = where_len;
		cs->where.data[where_len] = '\0';
	}
	return terms;
}

/*
 * SNS's complexity of an object of a filter policy: the product over its
 * keys of the length of each value list, times the depth the list sits at
 * (1 at the top: only the payload scope nests), a nested object counting as
 * its own complexity and a $or group as the sum of its alternatives'.  So
 * {"a": [1, 2, 3], "b": [1], "c": [1, 2]} is 3 * 1 * 2 = 6, and
 * {"a": {"b": {"c": [1, 2, 3, 4]}}, "d": {"e": [1, 2, 3]}, "f": [1, 2, 3]}
 * is (4 * 3) * (3 * 2) * (3 * 1) = 216: too complex.
 *
 * Also rejects nesting in the headers scope, whose keys are attribute names.
 * Other shape errors are left to CompileObject, which words them.
 */
static double
SnsComplexity(CompileState *cs, JsonbContainer *obj, int depth)
{
	JsonbValue *keys;
	JsonbValue *vals;
	double		product = 1;
	int			n;
	int			i;

	check_stack_depth();
	n = CourierJsonbObjectPairs(obj, &keys, &vals);
	for (i = 0; i < n; i++)
	{
		JsonbValue *key = &keys[i];
		JsonbValue *val = &vals[i];
		int			where_len = cs->where.len;

		CHECK_FOR_INTERRUPTS();
		if (where_len > 0)
			appendStringInfoChar(&cs->where, '.');
		appendBinaryStringInfo(&cs->where, key->val.string.val, key->val.string.len);

		if (IsOrGroup(key, val))
		{
			JsonbValue *branches;
			int			nbranches;
			int			b;
			int			or_len = cs->where.len;
			double		sum = 0;

			nbranches = CourierJsonbArrayElements(val->val.binary.data, &branches);
			for (b = 0; b < nbranches; b++)
			{
				appendStringInfo(&cs->where, "[%d]", b);
				sum += SnsComplexity(cs, branches[b].val.binary.data, depth);
				cs->where.len = or_len;
				cs->where.data[or_len] = '\0';
			}
			product *= sum;
		}
		else if (IsObject(val))
		{
			if (cs->dialect == DIALECT_SNS_HEADERS)
				PatternError(cs, "Message attributes are a flat object: filter nested payload fields with filter_scope => 'payload'.",
							 "filter policy scope MessageAttributes (headers) does not support nested filter policy");
			product *= SnsComplexity(cs, val->val.binary.data, depth + 1);
		}
		else if (IsArray(val))
			product *= (double) JsonContainerSize(val->val.binary.data) * depth;

		cs->where.len = where_len;
		cs->where.data[where_len] = '\0';
	}
	return product;
}

/* The paths of a term, for messages: "a", "b.c", ... */
static char *
TermKeys(const PatTerm *term)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < term->nfields; i++)
		appendStringInfo(&buf, "%s\"%s\"", i > 0 ? ", " : "", term->fields[i]->path);
	return buf.data;
}

static CourierPattern *
CompileDialect(Jsonb *pattern, PatDialect dialect, MemoryContext cxt)
{
	CompileState cs;
	CourierPattern *p;
	List	   *terms;
	ListCell   *lc;
	int			t = 0;

	cs.cxt = cxt;
	cs.dialect = dialect;
	cs.sns = (dialect != DIALECT_EVENTBRIDGE);
	initStringInfo(&cs.where);
	initStringInfo(&cs.path);

	if (!JB_ROOT_IS_OBJECT(pattern))
		PatternError(&cs, cs.sns ? "A filter policy is a JSON object such as {\"store\": [\"example_corp\"]}."
					 : "An event pattern is a JSON object such as {\"source\": [\"my.app\"]}.",
					 "the %s must be a JSON object, not a JSON %s",
					 cs.sns ? "filter policy" : "pattern",
					 JB_ROOT_IS_SCALAR(pattern) ? "scalar" : "array");

	if (cs.sns)
	{
		double		complexity = SnsComplexity(&cs, &pattern->root, 1);

		if (complexity > SNS_MAX_COMPLEXITY)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid filter policy: filter policy is too complex"),
					 errdetail("Its complexity is %.0f; at most %d is allowed.",
							   complexity, SNS_MAX_COMPLEXITY),
					 errhint("Complexity is the product of the lengths of the value lists%s, $or groups adding up their alternatives.",
							 dialect == DIALECT_SNS_PAYLOAD
							 ? " (each multiplied by its nesting depth)" : "")));
	}

	terms = CompileObject(&cs, &pattern->root);

	p = MemoryContextAllocZero(cxt, sizeof(CourierPattern));
	p->nterms = list_length(terms);
	p->terms = MemoryContextAllocZero(cxt, sizeof(PatTerm) * p->nterms);
	foreach(lc, terms)
	{
		List	   *fields = (List *) lfirst(lc);
		PatTerm    *term = &p->terms[t++];
		ListCell   *lf;
		int			i = 0;

		term->nfields = list_length(fields);
		term->fields = MemoryContextAlloc(cxt, sizeof(PatField *) * Max(term->nfields, 1));
		foreach(lf, fields)
			term->fields[i++] = (PatField *) lfirst(lf);
		p->max_fields = Max(p->max_fields, term->nfields);

		/* SNS counts the keys that hold values, in each $or alternative */
		if (cs.sns && term->nfields > SNS_MAX_KEYS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid filter policy: filter policy can not have more than %d keys",
							SNS_MAX_KEYS),
					 p->nterms > 1
					 ? errdetail("One alternative of its $or groups has %d keys: %s.",
								 term->nfields, TermKeys(term))
					 : errdetail("It has %d keys: %s.", term->nfields, TermKeys(term)),
					 errhint("Keys are counted where they hold a list of values; objects that only nest others do not count.")));
	}
	pfree(cs.where.data);
	pfree(cs.path.data);
	return p;
}

CourierPattern *
CourierPatternCompile(Jsonb *pattern, MemoryContext cxt)
{
	return CompileDialect(pattern, DIALECT_EVENTBRIDGE, cxt);
}

static bool
IsAscii(const char *s, int len)
{
	int			i;

	for (i = 0; i < len; i++)
		if (IS_HIGHBIT_SET(s[i]))
			return false;
	return true;
}

typedef enum FoldMode
{
	FOLD_EQUAL,
	FOLD_PREFIX,
	FOLD_SUFFIX
} FoldMode;

/*
 * Compare event text, lower-cased, with a lower-cased pattern string.  ASCII
 * text is folded on the fly; other text goes through str_tolower, as the
 * pattern did.
 */
static bool
FoldedCompare(const PatString *pat, const char *s, int len, FoldMode mode)
{
	bool		result;
	char	   *lowered = NULL;
	int			off;
	int			i;

	if (!IsAscii(s, len))
	{
		lowered = str_tolower(s, len, DEFAULT_COLLATION_OID);
		s = lowered;
		len = strlen(lowered);
	}
	if (mode == FOLD_EQUAL ? len != pat->len : len < pat->len)
		result = false;
	else
	{
		off = (mode == FOLD_SUFFIX) ? len - pat->len : 0;
		result = true;
		for (i = 0; i < pat->len; i++)
		{
			if (pg_ascii_tolower((unsigned char) s[off + i]) != (unsigned char) pat->str[i])
			{
				result = false;
				break;
			}
		}
	}
	if (lowered)
		pfree(lowered);
	return result;
}

static int
FindBytes(const char *hay, int haylen, const char *needle, int nlen)
{
	int			i;

	if (nlen == 0)
		return 0;
	for (i = 0; i + nlen <= haylen; i++)
		if (hay[i] == needle[0] && memcmp(hay + i, needle, nlen) == 0)
			return i;
	return -1;
}

/* Leftmost-first placement of the literal pieces is exact for '*' only. */
static bool
WildcardMatches(const PatWildcard *w, const char *s, int len)
{
	const PatString *first = &w->parts[0];
	const PatString *last = &w->parts[w->nparts - 1];
	int			pos;
	int			end;
	int			i;

	if (w->nparts == 1)
		return len == first->len && memcmp(s, first->str, len) == 0;
	if (len < first->len + last->len ||
		memcmp(s, first->str, first->len) != 0 ||
		memcmp(s + len - last->len, last->str, last->len) != 0)
		return false;
	pos = first->len;
	end = len - last->len;
	for (i = 1; i < w->nparts - 1; i++)
	{
		int			found = FindBytes(s + pos, end - pos, w->parts[i].str, w->parts[i].len);

		if (found < 0)
			return false;
		pos += found + w->parts[i].len;
	}
	return true;
}

static bool
CidrContains(const PatCidr *cidr, const char *s, int len)
{
	uint8		addr[16];
	int			full = cidr->bits / 8;
	int			rest = cidr->bits % 8;

	if (cidr->family == 4 ? !ParseIPv4(s, len, addr) : !ParseIPv6(s, len, addr))
		return false;
	if (memcmp(addr, cidr->addr, full) != 0)
		return false;
	return rest == 0 ||
		(addr[full] & (uint8) (0xff00 >> rest)) == cidr->addr[full];
}

static bool
StringIn(const PatCond *c, const JsonbValue *v)
{
	int			i;

	for (i = 0; i < c->nstrings; i++)
		if (c->strings[i].len == v->val.string.len &&
			memcmp(c->strings[i].str, v->val.string.val, v->val.string.len) == 0)
			return true;
	return false;
}

static bool
NumberIn(const PatCond *c, const JsonbValue *v)
{
	int			i;

	for (i = 0; i < c->nnumbers; i++)
		if (NumCmp(c->numbers[i], v->val.numeric) == 0)
			return true;
	return false;
}

static bool
AffixIn(const PatCond *c, const JsonbValue *v, bool suffix)
{
	const char *s = v->val.string.val;
	int			len = v->val.string.len;
	int			i;

	for (i = 0; i < c->nstrings; i++)
	{
		const PatString *p = &c->strings[i];

		if (c->ignore_case)
		{
			if (FoldedCompare(p, s, len, suffix ? FOLD_SUFFIX : FOLD_PREFIX))
				return true;
		}
		else if (len >= p->len &&
				 memcmp(suffix ? s + len - p->len : s, p->str, p->len) == 0)
			return true;
	}
	return false;
}

static bool
FoldedIn(const PatCond *c, const JsonbValue *v)
{
	int			i;

	for (i = 0; i < c->nstrings; i++)
		if (FoldedCompare(&c->strings[i], v->val.string.val, v->val.string.len, FOLD_EQUAL))
			return true;
	return false;
}

static bool
WildcardIn(const PatCond *c, const JsonbValue *v)
{
	int			i;

	for (i = 0; i < c->nwildcards; i++)
		if (WildcardMatches(&c->wildcards[i], v->val.string.val, v->val.string.len))
			return true;
	return false;
}

/* Does the leaf value v (a scalar) satisfy condition c? */
static bool
CondMatches(const PatCond *c, const JsonbValue *v)
{
	bool		is_string = (v->type == jbvString);

	switch (c->kind)
	{
		case COND_STRING:
			return is_string && StringIn(c, v);
		case COND_NUMBER:
			return v->type == jbvNumeric && NumberIn(c, v);
		case COND_NULL:
			return v->type == jbvNull;
		case COND_BOOL:
			return v->type == jbvBool && v->val.boolean == c->flag;
		case COND_PREFIX:
			return is_string && AffixIn(c, v, false);
		case COND_SUFFIX:
			return is_string && AffixIn(c, v, true);
		case COND_EQUALS_IGNORE_CASE:
			return is_string && FoldedIn(c, v);
		case COND_WILDCARD:
			return is_string && WildcardIn(c, v);
		case COND_NUMERIC:
			{
				int			cmp;

				if (v->type != jbvNumeric)
					return false;
				if (c->lower != NULL)
				{
					cmp = NumCmp(v->val.numeric, c->lower);
					if (cmp < 0 || (cmp == 0 && !c->lower_inclusive))
						return false;
				}
				if (c->upper != NULL)
				{
					cmp = NumCmp(v->val.numeric, c->upper);
					if (cmp > 0 || (cmp == 0 && !c->upper_inclusive))
						return false;
				}
				return true;
			}
		case COND_EXISTS:
			/* a present value; exists: false is decided by absence */
			return c->flag;
		case COND_CIDR:
			return is_string && CidrContains(&c->cidr, v->val.string.val, v->val.string.len);
		case COND_BUT_STRINGS:
			return !(is_string && StringIn(c, v));
		case COND_BUT_NUMBERS:
			return !(v->type == jbvNumeric && NumberIn(c, v));
		case COND_BUT_PREFIX:
			return !(is_string && AffixIn(c, v, false));
		case COND_BUT_SUFFIX:
			return !(is_string && AffixIn(c, v, true));
		case COND_BUT_IGNORE_CASE:
			return !(is_string && FoldedIn(c, v));
		case COND_BUT_WILDCARD:
			return !(is_string && WildcardIn(c, v));
	}
	return false;
}

static void
PushStep(MatchState *ms, const JsonbContainer *array, int index)
{
	if (ms->chainlen == ms->chainmax)
	{
		ms->chainmax *= 2;
		ms->chain = repalloc(ms->chain, sizeof(ArrayStep) * ms->chainmax);
	}
	ms->chain[ms->chainlen].array = array;
	ms->chain[ms->chainlen].index = index;
	ms->chainlen++;
}

static void
AddCandidate(MatchState *ms)
{
	Candidate  *cand;

	if (ms->ncands == ms->maxcands)
	{
		ms->maxcands *= 2;
		ms->cands = repalloc(ms->cands, sizeof(Candidate) * ms->maxcands);
	}
	while (ms->nsteps + ms->chainlen > ms->maxsteps)
	{
		ms->maxsteps *= 2;
		ms->steps = repalloc(ms->steps, sizeof(ArrayStep) * ms->maxsteps);
	}
	cand = &ms->cands[ms->ncands++];
	cand->start = ms->nsteps;
	cand->len = ms->chainlen;
	memcpy(ms->steps + ms->nsteps, ms->chain, sizeof(ArrayStep) * ms->chainlen);
	ms->nsteps += ms->chainlen;
	/* a candidate in no array agrees with every choice: look no further */
	if (ms->chainlen == 0)
		ms->field_done = true;
}

/* The value at the end of the field's path: a leaf, or an array of them. */
static void
VisitLeaf(MatchState *ms, const JsonbValue *v)
{
	check_stack_depth();
	if (v->type != jbvBinary)
	{
		int			i;

		ms->saw_leaf = true;
		if (ms->collect != NULL)
		{
			ms->collect(v, ms->collect_arg);
			return;
		}
		for (i = 0; i < ms->field->nconds; i++)
		{
			if (CondMatches(&ms->field->conds[i], v))
			{
				AddCandidate(ms);
				break;
			}
		}
	}
	else if (JsonContainerIsArray(v->val.binary.data))
	{
		JsonbContainer *array = v->val.binary.data;
		JsonbIterator *it = JsonbIteratorInit(array);
		JsonbValue	elem;
		JsonbIteratorToken tok;
		int			index = 0;

		while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
		{
			if (tok != WJB_ELEM)
				continue;
			CHECK_FOR_INTERRUPTS();
			if (!ms->field_done)
			{
				PushStep(ms, array, index);
				VisitLeaf(ms, &elem);
				ms->chainlen--;
			}
			index++;
		}
	}
	/* an object is not a leaf value */
}

static void WalkObject(MatchState *ms, JsonbContainer *obj, int seg);

/* A value in the middle of the path: descend into objects and arrays. */
static void
Descend(MatchState *ms, const JsonbValue *v, int seg)
{
	check_stack_depth();
	if (v->type != jbvBinary)
		return;
	if (JsonContainerIsObject(v->val.binary.data))
		WalkObject(ms, v->val.binary.data, seg);
	else
	{
		JsonbContainer *array = v->val.binary.data;
		JsonbIterator *it = JsonbIteratorInit(array);
		JsonbValue	elem;
		JsonbIteratorToken tok;
		int			index = 0;

		while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
		{
			if (tok != WJB_ELEM)
				continue;
			CHECK_FOR_INTERRUPTS();
			if (!ms->field_done)
			{
				PushStep(ms, array, index);
				Descend(ms, &elem, seg);
				ms->chainlen--;
			}
			index++;
		}
	}
}

/*
 * Look up the rest of the field's path, from segment seg, in an event
 * object.  A key may span several segments ("state.status"), so each run of
 * segments starting at seg is a key to try.
 */
static void
WalkObject(MatchState *ms, JsonbContainer *obj, int seg)
{
	const PatField *f = ms->field;
	int			j;

	check_stack_depth();
	for (j = seg; j < f->nsegs && !ms->field_done; j++)
	{
		JsonbValue	v;

		if (getKeyJsonValueFromContainer(obj, f->path + f->seg_start[seg],
										 f->seg_end[j] - f->seg_start[seg], &v) == NULL)
			continue;
		if (j == f->nsegs - 1)
			VisitLeaf(ms, &v);
		else
			Descend(ms, &v, j + 1);
	}
}

static bool
Compatible(const MatchState *ms, const Candidate *a, const Candidate *b)
{
	int			i;
	int			j;

	for (i = 0; i < a->len; i++)
	{
		const ArrayStep *sa = &ms->steps[a->start + i];

		for (j = 0; j < b->len; j++)
		{
			const ArrayStep *sb = &ms->steps[b->start + j];

			if (sa->array == sb->array && sa->index != sb->index)
				return false;
		}
	}
	return true;
}

/*
 * Choose a candidate for fields i.. of the term, each in the same array
 * elements as the ones already chosen.  A field without candidates was
 * satisfied by absence and constrains nothing.
 */
static bool
Assign(MatchState *ms, int nfields, int i)
{
	int			k;

	if (i == nfields)
		return true;
	if (ms->count[i] == 0)
	{
		ms->chosen[i] = -1;
		return Assign(ms, nfields, i + 1);
	}
	for (k = ms->first[i]; k < ms->first[i] + ms->count[i]; k++)
	{
		int			j;
		bool		ok = true;

		CHECK_FOR_INTERRUPTS();
		for (j = 0; j < i && ok; j++)
			if (ms->chosen[j] >= 0)
				ok = Compatible(ms, &ms->cands[ms->chosen[j]], &ms->cands[k]);
		if (!ok)
			continue;
		ms->chosen[i] = k;
		if (Assign(ms, nfields, i + 1))
			return true;
	}
	return false;
}

/* Does one term of a pattern hold in the event object root? */
bool
PatMatchTerm(MatchState *ms, const PatTerm *term, JsonbContainer *root)
{
	bool		in_arrays = false;
	int			i;

	ms->nsteps = 0;
	ms->ncands = 0;
	for (i = 0; i < term->nfields; i++)
	{
		const PatField *f = term->fields[i];
		int			k;

		ms->field = f;
		ms->saw_leaf = false;
		ms->field_done = false;
		ms->chainlen = 0;
		ms->first[i] = ms->ncands;
		WalkObject(ms, root, 0);
		ms->count[i] = ms->ncands - ms->first[i];
		if (ms->count[i] == 0 && !(f->absent_ok && !ms->saw_leaf))
			return false;
		for (k = ms->first[i]; k < ms->ncands; k++)
			if (ms->cands[k].len > 0)
				in_arrays = true;
	}
	/* without arrays there is nothing to keep consistent */
	if (!in_arrays)
		return true;
	return Assign(ms, term->nfields, 0);
}

void
PatMatchStateInit(MatchState *ms, int max_fields)
{
	memset(ms, 0, sizeof(MatchState));
	ms->chainmax = 8;
	ms->chain = palloc(sizeof(ArrayStep) * ms->chainmax);
	ms->maxsteps = 16;
	ms->steps = palloc(sizeof(ArrayStep) * ms->maxsteps);
	ms->maxcands = 16;
	ms->cands = palloc(sizeof(Candidate) * ms->maxcands);
	ms->max_fields = Max(max_fields, 1);
	ms->first = palloc(sizeof(int) * ms->max_fields * 3);
	ms->count = ms->first + ms->max_fields;
	ms->chosen = ms->count + ms->max_fields;
}

void
PatMatchStateFree(MatchState *ms)
{
	pfree(ms->chain);
	pfree(ms->steps);
	pfree(ms->cands);
	pfree(ms->first);
}

/*
 * Report every leaf value at the field's path in the event object root to
 * callback, in document order; the field's conditions are not looked at.
 */
void
PatCollectLeaves(MatchState *ms, const PatField *field, JsonbContainer *root,
				 PatLeafCallback callback, void *arg)
{
	ms->field = field;
	ms->saw_leaf = false;
	ms->field_done = false;
	ms->chainlen = 0;
	ms->collect = callback;
	ms->collect_arg = arg;
	WalkObject(ms, root, 0);
	ms->collect = NULL;
	ms->collect_arg = NULL;
}

bool
CourierPatternMatch(const CourierPattern *pattern, Jsonb *event)
{
	MatchState	ms;
	bool		result = false;
	int			t;

	if (pattern->match_all)
		return true;
	if (!JB_ROOT_IS_OBJECT(event))
		return false;

	PatMatchStateInit(&ms, pattern->max_fields);
	for (t = 0; t < pattern->nterms && !result; t++)
		result = PatMatchTerm(&ms, &pattern->terms[t], &event->root);
	PatMatchStateFree(&ms);
	return result;
}

/* SNS filter policies */

CourierFilterScope
CourierFilterScopeFromName(const char *name)
{
	if (strcmp(name, "headers") == 0)
		return COURIER_SCOPE_HEADERS;
	if (strcmp(name, "payload") == 0)
		return COURIER_SCOPE_PAYLOAD;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown filter scope \"%s\"", name),
			 errhint("Use 'headers' (message attributes) or 'payload' (the message body).")));
	pg_unreachable();
}

/*
 * An SNS filter policy is an event pattern under SNS's rules: no wildcard,
 * anything-but takes a value, a list or a prefix, no nested match
 * expressions, numbers within +-10^9 with 5 decimals, at most 5 keys, a
 * complexity of at most 150, and no nesting in the headers scope.  NULL or
 * {} is the empty policy: it passes every message, as a subscription
 * without a policy does in SNS.
 */
CourierPattern *
CourierFilterPolicyCompile(Jsonb *policy, CourierFilterScope scope, MemoryContext cxt)
{
	CourierPattern *p;

	if (policy == NULL || (JB_ROOT_IS_OBJECT(policy) && JB_ROOT_COUNT(policy) == 0))
	{
		p = MemoryContextAllocZero(cxt, sizeof(CourierPattern));
		p->match_all = true;
		return p;
	}
	return CompileDialect(policy, scope == COURIER_SCOPE_HEADERS
						  ? DIALECT_SNS_HEADERS : DIALECT_SNS_PAYLOAD, cxt);
}

/*
 * Headers are the message attributes: absent headers are no attributes, so
 * a policy sees an empty object (only {"exists": false} holds).  Each
 * String.Array element is tested on its own, as an event array's elements
 * are.  The payload must be a JSON object for any non-empty policy to pass.
 */
bool
CourierFilterPolicyMatch(const CourierPattern *policy, CourierFilterScope scope,
						 Jsonb *headers, Jsonb *payload)
{
	Jsonb	   *doc;

	if (policy == NULL || policy->match_all)
		return true;
	doc = CourierFilterDocument(scope, headers, payload);
	return doc != NULL && CourierPatternMatch(policy, doc);
}

Jsonb *
CourierFilterDocument(CourierFilterScope scope, Jsonb *headers, Jsonb *payload)
{
	if (scope == COURIER_SCOPE_HEADERS)
	{
		if (headers == NULL || !JB_ROOT_IS_OBJECT(headers))
		{
			/* the binary form of {}, made once per backend */
			static Jsonb *empty = NULL;

			if (empty == NULL)
			{
				empty = MemoryContextAllocZero(TopMemoryContext, VARHDRSZ + sizeof(uint32));
				SET_VARSIZE(empty, VARHDRSZ + sizeof(uint32));
				empty->root.header = JB_FOBJECT;
			}
			return empty;
		}
		return headers;
	}
	return payload;
}

/* SQL interface */

/* The last pattern compiled by one call site, kept across calls. */
typedef struct PatternCache
{
	MemoryContext cxt;
	Jsonb	   *source;
	int			scope;			/* filter policies: the scope it was
								 * compiled for */
	CourierPattern *pattern;
} PatternCache;

/*
 * Compile source under dialect, or reuse what this call site compiled last
 * time for the same bytes.  A failed compile leaves its context to the end
 * of the query (it is a child of fn_mcxt).
 */
static CourierPattern *
CachedCompile(FmgrInfo *flinfo, Jsonb *source, int scope)
{
	PatternCache *cache = (PatternCache *) flinfo->fn_extra;
	MemoryContext cxt;
	CourierPattern *compiled;
	Jsonb	   *copy;

	if (cache != NULL && cache->scope == scope &&
		VARSIZE(cache->source) == VARSIZE(source) &&
		memcmp(cache->source, source, VARSIZE(source)) == 0)
		return cache->pattern;

	cxt = AllocSetContextCreate(flinfo->fn_mcxt, "courier pattern",
								ALLOCSET_SMALL_SIZES);
	if (scope < 0)
		compiled = CourierPatternCompile(source, cxt);
	else
		compiled = CourierFilterPolicyCompile(source, (CourierFilterScope) scope, cxt);
	copy = MemoryContextAlloc(cxt, VARSIZE(source));
	memcpy(copy, source, VARSIZE(source));

	if (cache == NULL)
		cache = MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(PatternCache));
	else
		MemoryContextDelete(cache->cxt);
	cache->cxt = cxt;
	cache->source = copy;
	cache->scope = scope;
	cache->pattern = compiled;
	flinfo->fn_extra = cache;
	return compiled;
}

/*
 * courier.test_event_pattern(event_pattern jsonb, event jsonb) returns bool
 *
 * Like EventBridge's TestEventPattern.  The compiled pattern is cached in
 * fn_extra, so a query testing one pattern against many events compiles it
 * once.
 */
PG_FUNCTION_INFO_V1(courier_test_event_pattern);

Datum
courier_test_event_pattern(PG_FUNCTION_ARGS)
{
	Jsonb	   *source;
	Jsonb	   *event;
	CourierPattern *pattern;

	CourierArgNotNull(fcinfo, 0, "event_pattern");
	CourierArgNotNull(fcinfo, 1, "event");
	source = PG_GETARG_JSONB_P(0);
	event = PG_GETARG_JSONB_P(1);

	if (!JB_ROOT_IS_OBJECT(event))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("event must be a JSON object"),
				 errdetail("The value given is a JSON %s.",
						   JB_ROOT_IS_SCALAR(event) ? "scalar" : "array")));

	pattern = CachedCompile(fcinfo->flinfo, source, -1);
	PG_RETURN_BOOL(CourierPatternMatch(pattern, event));
}

/*
 * courier.test_filter_policy(filter_policy jsonb, headers jsonb,
 *							  payload jsonb, filter_scope text = 'headers')
 * returns bool
 *
 * Would a subscription with this policy and scope receive a message with
 * these headers and payload?  A NULL policy is no policy: true.  NULL
 * headers are no message attributes; a NULL payload, or one that is not a
 * JSON object, passes no payload-scope policy.  The policy is validated
 * whatever the message.
 */
PG_FUNCTION_INFO_V1(courier_test_filter_policy);

Datum
courier_test_filter_policy(PG_FUNCTION_ARGS)
{
	Jsonb	   *headers = NULL;
	Jsonb	   *payload = NULL;
	CourierFilterScope scope;
	CourierPattern *policy = NULL;

	CourierArgNotNull(fcinfo, 3, "filter_scope");
	scope = CourierFilterScopeFromName(text_to_cstring(PG_GETARG_TEXT_PP(3)));

	if (!PG_ARGISNULL(1))
	{
		headers = PG_GETARG_JSONB_P(1);
		if (!JB_ROOT_IS_OBJECT(headers))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("headers must be a JSON object"),
					 errdetail("The value given is a JSON %s.",
							   JB_ROOT_IS_SCALAR(headers) ? "scalar" : "array"),
					 errhint("Message attributes are an object of strings, numbers and arrays of strings.")));
	}
	if (!PG_ARGISNULL(2))
		payload = PG_GETARG_JSONB_P(2);
	if (!PG_ARGISNULL(0))
		policy = CachedCompile(fcinfo->flinfo, PG_GETARG_JSONB_P(0), (int) scope);

	PG_RETURN_BOOL(CourierFilterPolicyMatch(policy, scope, headers, payload));
}
