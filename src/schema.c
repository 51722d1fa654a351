/*-------------------------------------------------------------------------
 *
 * schema.c
 *	  JSON Schemas of message types: compiling, validating payloads, and the
 *	  require_schema check of send, send_batch, publish and put_events.
 *
 * Vocabulary:
 *	  message type   the envelope's type (a header of send and publish, the
 *	                 detail-type of a bus entry)
 *	  schema         a JSON Schema registered for one type and version in
 *	                 courier.schemas; schema_id is a fresh sequence value per
 *	                 registration, never reused
 *	  compiled       a schema turned into a tree of CourierSchemaNode, once
 *	                 per backend, type and version
 *	  violation      one way a payload does not match: the JSON path of the
 *	                 value ($.items[2].sku) and what is wrong with it
 *
 * The supported keywords are type, properties, required,
 * additionalProperties, items (one schema for every element), enum, const,
 * minimum, maximum, minLength, maxLength, pattern and format "date-time"
 * (RFC 3339), plus annotations that constrain nothing ($schema, $id,
 * $comment, title, description, default, examples, deprecated, readOnly,
 * writeOnly).  Any other keyword is refused when the schema is compiled, so
 * a registered schema never means more than it is checked for.
 *
 * pattern uses PostgreSQL's regular expressions (advanced syntax, C
 * collation), which RE_compile_and_cache keeps compiled per backend.
 *
 * Compiled schemas are cached per backend by type and version.  Each use
 * reads the row's schema_id (one index probe, the schema itself is read only
 * when the id differs from the cached one): a version deleted and
 * registered again, even in one transaction, gets a new id, so the cache can
 * never serve a schema that is not the row's.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "regex/regex.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "pg_courier.h"
#include "plan.h"
#include "schema.h"

PG_FUNCTION_INFO_V1(courier_compile_json_schema);
PG_FUNCTION_INFO_V1(courier_test_json_schema);
PG_FUNCTION_INFO_V1(courier_validate_payload);

/* Longest message type, in characters (the envelope's limit). */
#define SCHEMA_MAX_TYPE_LEN		COURIER_MAX_ENVELOPE_TEXT

/* Most violations validate_payload() reports, and a send's error shows. */
#define SCHEMA_MAX_VIOLATIONS	1000
#define SCHEMA_ERROR_VIOLATIONS 20

static const char *const annotation_keywords[] = {
	"$schema", "$id", "$comment", "title", "description", "default", "examples",
	"deprecated", "readOnly", "writeOnly", NULL
};

static const struct
{
	const char *name;
	int			bit;
}			type_names[] =
{
	{"null", SCHEMA_T_NULL},
	{"boolean", SCHEMA_T_BOOLEAN},
	{"object", SCHEMA_T_OBJECT},
	{"array", SCHEMA_T_ARRAY},
	{"number", SCHEMA_T_NUMBER},
	{"string", SCHEMA_T_STRING},
	{"integer", SCHEMA_T_INTEGER},
	{NULL, 0}
};

/*----------
 * Paths.
 *----------
 */

/* Append .name, or ["name"] when name is not a plain identifier. */
void
CourierSchemaAppendPath(StringInfo path, const char *name, int len)
{
	bool		plain = len > 0 && (isalpha((unsigned char) name[0]) || name[0] == '_');
	int			i;

	for (i = 1; plain && i < len; i++)
		if (!(isalnum((unsigned char) name[i]) || name[i] == '_'))
			plain = false;
	if (plain)
	{
		appendStringInfoChar(path, '.');
		appendBinaryStringInfo(path, name, len);
		return;
	}
	appendStringInfoString(path, "[\"");
	for (i = 0; i < len; i++)
	{
		if (name[i] == '"' || name[i] == '\\')
			appendStringInfoChar(path, '\\');
		appendStringInfoChar(path, name[i]);
	}
	appendStringInfoString(path, "\"]");
}

/*----------
 * Compiling.
 *----------
 */

static pg_attribute_noreturn() void
BadSchema(StringInfo path, const char *fmt,...) pg_attribute_printf(2, 3);

static void
BadSchema(StringInfo path, const char *fmt,...)
{
	va_list		args;
	char		buf[512];

	va_start(args, fmt);
	vsnprintf(buf, sizeof(buf), fmt, args);
	va_end(args);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid JSON Schema"),
			 errdetail("At %s: %s", path->data, buf)));
}

static const char *
ValueKind(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "a string";
		case jbvNumeric:
			return "a number";
		case jbvBool:
			return "a boolean";
		case jbvBinary:
			return JsonContainerIsArray(v->val.binary.data) ? "an array" : "an object";
		default:
			return "a value";
	}
}

static bool
KeyIs(const JsonbValue *k, const char *name)
{
	return k->val.string.len == (int) strlen(name) &&
		memcmp(k->val.string.val, name, k->val.string.len) == 0;
}

static bool
IsAnnotation(const JsonbValue *k)
{
	int			i;

	for (i = 0; annotation_keywords[i] != NULL; i++)
		if (KeyIs(k, annotation_keywords[i]))
			return true;
	return false;
}

static bool
IsObject(const JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data);
}

static bool
IsArray(const JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data);
}

/* A copy of a JSON value as a Jsonb of its own, in the current context. */
static Jsonb *
ValueJsonb(JsonbValue *v)
{
	return JsonbValueToJsonb(v);
}

static int
TypeBit(const JsonbValue *v, StringInfo path)
{
	int			i;

	if (v->type != jbvString)
		BadSchema(path, "\"type\" must be a type name or an array of type names, not %s.",
				  ValueKind(v));
	for (i = 0; type_names[i].name != NULL; i++)
		if (KeyIs(v, type_names[i].name))
			return type_names[i].bit;
	BadSchema(path, "unknown type \"%.*s\" (the types are null, boolean, object, array, number, string and integer).",
			  v->val.string.len, v->val.string.val);
}

static int32
LengthKeyword(const JsonbValue *v, StringInfo path, const char *keyword)
{
	char	   *s;
	char	   *end;
	long		n;

	if (v->type != jbvNumeric)
		BadSchema(path, "\"%s\" must be a non-negative integer, not %s.", keyword, ValueKind(v));
	s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	errno = 0;
	n = strtol(s, &end, 10);
	if (*end == '.')
	{
		end++;
		while (*end == '0')
			end++;
	}
	if (*end != '\0' || errno != 0 || n < 0 || n > PG_INT32_MAX)
		BadSchema(path, "\"%s\" must be a non-negative integer, not %s.", keyword, s);
	return (int32) n;
}

static Numeric
NumberKeyword(const JsonbValue *v, StringInfo path, const char *keyword)
{
	Numeric		n;

	if (v->type != jbvNumeric)
		BadSchema(path, "\"%s\" must be a number, not %s.", keyword, ValueKind(v));
	n = palloc(VARSIZE_ANY(v->val.numeric));
	memcpy(n, v->val.numeric, VARSIZE_ANY(v->val.numeric));
	return n;
}

static int
CompareProperty(const void *a, const void *b)
{
	const CourierSchemaProperty *x = a;
	const CourierSchemaProperty *y = b;
	int			c = memcmp(x->name, y->name, Min(x->namelen, y->namelen));

	if (c != 0)
		return c;
	return x->namelen - y->namelen;
}

static CourierSchemaNode *CompileValue(JsonbValue *v, StringInfo path);

/* Compile the schema v (an object or a boolean) at path. */
static CourierSchemaNode *
CompileValue(JsonbValue *v, StringInfo path)
{
	CourierSchemaNode *node = palloc0(sizeof(CourierSchemaNode));
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	k,
				val;
	int			pathlen = path->len;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	node->min_length = -1;
	node->max_length = -1;
	node->trivial = true;

	if (v->type == jbvBool)
	{
		node->is_false = !v->val.boolean;
		node->trivial = v->val.boolean;
		return node;
	}
	if (!IsObject(v))
		BadSchema(path, "a schema is a JSON object or a boolean, not %s.", ValueKind(v));

	it = JsonbIteratorInit(v->val.binary.data);
	tok = JsonbIteratorNext(&it, &k, true);
	while ((tok = JsonbIteratorNext(&it, &k, true)) == WJB_KEY)
	{
		tok = JsonbIteratorNext(&it, &val, true);
		Assert(tok == WJB_VALUE);

		if (IsAnnotation(&k))
			continue;
		node->trivial = false;
		if (KeyIs(&k, "type"))
		{
			if (IsArray(&val))
			{
				JsonbIterator *ait = JsonbIteratorInit(val.val.binary.data);
				JsonbValue	e;

				while ((tok = JsonbIteratorNext(&ait, &e, true)) != WJB_DONE)
					if (tok == WJB_ELEM)
						node->types |= TypeBit(&e, path);
				if (node->types == 0)
					BadSchema(path, "\"type\" must name at least one type.");
			}
			else
				node->types = TypeBit(&val, path);
		}
		else if (KeyIs(&k, "properties"))
		{
			JsonbIterator *pit;
			JsonbValue	pk,
						pv;
			int			n = 0;

			if (!IsObject(&val))
				BadSchema(path, "\"properties\" must be an object, not %s.", ValueKind(&val));
			node->nproperties = JsonContainerSize(val.val.binary.data);
			node->properties = palloc0(sizeof(CourierSchemaProperty) * Max(node->nproperties, 1));
			pit = JsonbIteratorInit(val.val.binary.data);
			tok = JsonbIteratorNext(&pit, &pk, true);
			while ((tok = JsonbIteratorNext(&pit, &pk, true)) == WJB_KEY)
			{
				CourierSchemaProperty *p = &node->properties[n++];

				tok = JsonbIteratorNext(&pit, &pv, true);
				p->name = pnstrdup(pk.val.string.val, pk.val.string.len);
				p->namelen = pk.val.string.len;
				appendStringInfoString(path, ".properties");
				CourierSchemaAppendPath(path, p->name, p->namelen);
				p->schema = CompileValue(&pv, path);
				path->len = pathlen;
				path->data[pathlen] = '\0';
			}
			node->nproperties = n;
			/* jsonb keeps object keys sorted by length, then bytes: resort */
			qsort(node->properties, n, sizeof(CourierSchemaProperty), CompareProperty);
		}
		else if (KeyIs(&k, "required"))
		{
			JsonbIterator *rit;
			JsonbValue	e;
			int			n = 0;

			if (!IsArray(&val))
				BadSchema(path, "\"required\" must be an array of property names, not %s.",
						  ValueKind(&val));
			node->nrequired = JsonContainerSize(val.val.binary.data);
			node->required = palloc0(sizeof(char *) * Max(node->nrequired, 1));
			node->required_len = palloc0(sizeof(int) * Max(node->nrequired, 1));
			rit = JsonbIteratorInit(val.val.binary.data);
			while ((tok = JsonbIteratorNext(&rit, &e, true)) != WJB_DONE)
			{
				if (tok != WJB_ELEM)
					continue;
				if (e.type != jbvString)
					BadSchema(path, "\"required\" must be an array of property names, not of %s.",
							  ValueKind(&e));
				node->required[n] = pnstrdup(e.val.string.val, e.val.string.len);
				node->required_len[n] = e.val.string.len;
				n++;
			}
			node->nrequired = n;
		}
		else if (KeyIs(&k, "additionalProperties"))
		{
			appendStringInfoString(path, ".additionalProperties");
			node->has_additional = true;
			node->additional = CompileValue(&val, path);
			path->len = pathlen;
			path->data[pathlen] = '\0';
		}
		else if (KeyIs(&k, "items"))
		{
			if (IsArray(&val))
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("JSON Schema \"items\" as an array is not supported"),
						 errdetail("At %s: \"items\" must be one schema that every element matches.",
								   path->data)));
			appendStringInfoString(path, ".items");
			node->items = CompileValue(&val, path);
			path->len = pathlen;
			path->data[pathlen] = '\0';
		}
		else if (KeyIs(&k, "enum"))
		{
			JsonbIterator *eit;
			JsonbValue	e;
			int			n = 0;

			if (!IsArray(&val))
				BadSchema(path, "\"enum\" must be an array, not %s.", ValueKind(&val));
			if (JsonContainerSize(val.val.binary.data) == 0)
				BadSchema(path, "\"enum\" must have at least one value.");
			node->nenum = JsonContainerSize(val.val.binary.data);
			node->enum_values = palloc0(sizeof(Jsonb *) * node->nenum);
			eit = JsonbIteratorInit(val.val.binary.data);
			while ((tok = JsonbIteratorNext(&eit, &e, true)) != WJB_DONE)
				if (tok == WJB_ELEM)
					node->enum_values[n++] = ValueJsonb(&e);
			node->nenum = n;
		}
		else if (KeyIs(&k, "const"))
			node->const_value = ValueJsonb(&val);
		else if (KeyIs(&k, "minimum"))
			node->minimum = NumberKeyword(&val, path, "minimum");
		else if (KeyIs(&k, "maximum"))
			node->maximum = NumberKeyword(&val, path, "maximum");
		else if (KeyIs(&k, "minLength"))
			node->min_length = LengthKeyword(&val, path, "minLength");
		else if (KeyIs(&k, "maxLength"))
			node->max_length = LengthKeyword(&val, path, "maxLength");
		else if (KeyIs(&k, "pattern"))
		{
			if (val.type != jbvString)
				BadSchema(path, "\"pattern\" must be a string, not %s.", ValueKind(&val));
			node->pattern = cstring_to_text_with_len(val.val.string.val, val.val.string.len);
			/* raises 2201B for an invalid regular expression */
			(void) RE_compile_and_cache(node->pattern, REG_ADVANCED, C_COLLATION_OID);
		}
		else if (KeyIs(&k, "format"))
		{
			if (val.type != jbvString)
				BadSchema(path, "\"format\" must be a string, not %s.", ValueKind(&val));
			if (!KeyIs(&val, "date-time"))
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("JSON Schema format \"%.*s\" is not supported",
								val.val.string.len, val.val.string.val),
						 errdetail("At %s: the only format checked is \"date-time\" (RFC 3339).",
								   path->data),
						 errhint("Use \"pattern\" to constrain the string instead.")));
			node->format_date_time = true;
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("JSON Schema keyword \"%.*s\" is not supported",
							k.val.string.len, k.val.string.val),
					 errdetail("At %s.", path->data),
					 errhint("pg_courier checks type, properties, required, additionalProperties, items, enum, const, minimum, maximum, minLength, maxLength, pattern and format \"date-time\"; a schema may also hold annotations (title, description, ...).")));
	}
	if (node->minimum != NULL && node->maximum != NULL &&
		DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(node->minimum),
										  NumericGetDatum(node->maximum))) > 0)
		BadSchema(path, "\"minimum\" is greater than \"maximum\".");
	if (node->min_length >= 0 && node->max_length >= 0 && node->min_length > node->max_length)
		BadSchema(path, "\"minLength\" is greater than \"maxLength\".");
	return node;
}

/*
 * Compile a JSON Schema into cxt.  Raises 22023 for a malformed schema,
 * 0A000 for a keyword or format pg_courier does not check, 2201B for an
 * invalid pattern.
 */
CourierSchemaNode *
CourierSchemaCompile(Jsonb *schema, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	StringInfoData path;
	JsonbValue	root;
	CourierSchemaNode *node;

	initStringInfo(&path);
	appendStringInfoChar(&path, '$');
	if (JB_ROOT_IS_SCALAR(schema))
	{
		if (!JsonbExtractScalar(&schema->root, &root))
			elog(ERROR, "could not read a scalar JSON Schema");
	}
	else
	{
		root.type = jbvBinary;
		root.val.binary.data = &schema->root;
		root.val.binary.len = VARSIZE(schema) - VARHDRSZ;
	}
	node = CompileValue(&root, &path);
	pfree(path.data);
	MemoryContextSwitchTo(old);
	return node;
}

/*----------
 * Validating.
 *----------
 */

typedef struct ValidateState
{
	List	   *violations;
	int			count;			/* all found, also those not kept */
	int			max;
} ValidateState;

static void
Violation(ValidateState *st, StringInfo path, const char *fmt,...) pg_attribute_printf(3, 4);

static void
Violation(ValidateState *st, StringInfo path, const char *fmt,...)
{
	CourierViolation *v;
	va_list		args;
	char		buf[1024];

	st->count++;
	if (list_length(st->violations) >= st->max)
		return;
	va_start(args, fmt);
	vsnprintf(buf, sizeof(buf), fmt, args);
	va_end(args);
	v = palloc(sizeof(CourierViolation));
	v->path = pstrdup(path->data);
	v->message = pstrdup(buf);
	st->violations = lappend(st->violations, v);
}

static bool
NumericIsIntegral(Numeric n)
{
	char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(n)));
	char	   *dot = strchr(s, '.');

	if (dot == NULL)
		return true;
	for (dot++; *dot; dot++)
		if (*dot != '0')
			return false;
	return true;
}

static const char *
InstanceType(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvBool:
			return "boolean";
		case jbvNumeric:
			return NumericIsIntegral(v->val.numeric) ? "integer" : "number";
		case jbvString:
			return "string";
		case jbvBinary:
			return JsonContainerIsArray(v->val.binary.data) ? "array" : "object";
		default:
			return "value";
	}
}

static bool
TypeAccepts(int types, const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return types & SCHEMA_T_NULL;
		case jbvBool:
			return types & SCHEMA_T_BOOLEAN;
		case jbvNumeric:
			return (types & SCHEMA_T_NUMBER) ||
				((types & SCHEMA_T_INTEGER) && NumericIsIntegral(v->val.numeric));
		case jbvString:
			return types & SCHEMA_T_STRING;
		case jbvBinary:
			return types & (JsonContainerIsArray(v->val.binary.data) ?
							SCHEMA_T_ARRAY : SCHEMA_T_OBJECT);
		default:
			return false;
	}
}

static void
TypeList(StringInfo buf, int types)
{
	int			i;
	bool		first = true;

	for (i = 0; type_names[i].name != NULL; i++)
	{
		if (!(types & type_names[i].bit))
			continue;
		if (!first)
			appendStringInfoString(buf, " or ");
		appendStringInfoString(buf, type_names[i].name);
		first = false;
	}
}

/* JSON text of a value, shortened to about 100 bytes. */
static char *
ShortJson(Jsonb *j)
{
	char	   *s = JsonbToCString(NULL, &j->root, VARSIZE(j));

	if (strlen(s) > 100)
	{
		int			cut = pg_mbcliplen(s, strlen(s), 100);

		s[cut] = '\0';
		s = psprintf("%s...", s);
	}
	return s;
}

static bool
SameValue(Jsonb *a, Jsonb *b)
{
	/* jsonb equality: numbers by value (1 = 1.0), objects regardless of key order */
	if (JB_ROOT_IS_SCALAR(a) != JB_ROOT_IS_SCALAR(b))
		return false;
	return compareJsonbContainers(&a->root, &b->root) == 0;
}

static int
Digits(const char *s, int n)
{
	int			v = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/*
 * RFC 3339 date-time: full-date "T" full-time, with a time offset ("Z" or
 * +hh:mm / -hh:mm); T and Z in either case; a leap second (60) accepted.
 */
static bool
IsDateTime(const char *s, int len)
{
	static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int			year,
				month,
				day,
				hour,
				minute,
				second;
	int			p = 19;

	if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
		s[13] != ':' || s[16] != ':')
		return false;
	year = Digits(s, 4);
	month = Digits(s + 5, 2);
	day = Digits(s + 8, 2);
	hour = Digits(s + 11, 2);
	minute = Digits(s + 14, 2);
	second = Digits(s + 17, 2);
	if (year < 0 || month < 1 || month > 12 || day < 1 || day > mdays[month - 1] ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60)
		return false;
	if (month == 2 && day == 29 &&
		!((year % 4 == 0 && year % 100 != 0) || year % 400 == 0))
		return false;
	if (p < len && s[p] == '.')
	{
		p++;
		if (p >= len || s[p] < '0' || s[p] > '9')
			return false;
		while (p < len && s[p] >= '0' && s[p] <= '9')
			p++;
	}
	if (p < len && (s[p] == 'Z' || s[p] == 'z'))
		return p + 1 == len;
	if (p < len && (s[p] == '+' || s[p] == '-'))
	{
		int			oh,
					om;

		if (len - p != 6 || s[p + 3] != ':')
			return false;
		oh = Digits(s + p + 1, 2);
		om = Digits(s + p + 4, 2);
		return oh >= 0 && oh <= 23 && om >= 0 && om <= 59;
	}
	return false;
}

static void ValidateValue(const CourierSchemaNode *node, JsonbValue *v, StringInfo path,
						  ValidateState *st);

static const CourierSchemaProperty *
FindProperty(const CourierSchemaNode *node, const char *name, int len)
{
	CourierSchemaProperty key;

	if (node->nproperties == 0)
		return NULL;
	key.name = (char *) name;
	key.namelen = len;
	return bsearch(&key, node->properties, node->nproperties,
				   sizeof(CourierSchemaProperty), CompareProperty);
}

static void
ValidateObject(const CourierSchemaNode *node, JsonbContainer *obj, StringInfo path,
			   ValidateState *st)
{
	int			pathlen = path->len;
	int			i;

	for (i = 0; i < node->nrequired; i++)
	{
		JsonbValue	k;

		k.type = jbvString;
		k.val.string.val = node->required[i];
		k.val.string.len = node->required_len[i];
		if (findJsonbValueFromContainer(obj, JB_FOBJECT, &k) == NULL)
		{
			CourierSchemaAppendPath(path, node->required[i], node->required_len[i]);
			Violation(st, path, "required property is missing");
			path->len = pathlen;
			path->data[pathlen] = '\0';
		}
	}
	if (node->nproperties > 0 || node->has_additional)
	{
		JsonbIterator *it = JsonbIteratorInit(obj);
		JsonbIteratorToken tok;
		JsonbValue	k,
					v;

		tok = JsonbIteratorNext(&it, &k, true);
		while ((tok = JsonbIteratorNext(&it, &k, true)) == WJB_KEY)
		{
			const CourierSchemaProperty *p;
			const CourierSchemaNode *sub = NULL;

			tok = JsonbIteratorNext(&it, &v, true);
			p = FindProperty(node, k.val.string.val, k.val.string.len);
			if (p != NULL)
				sub = p->schema;
			else if (node->has_additional)
				sub = node->additional;
			if (sub == NULL || sub->trivial)
				continue;
			CourierSchemaAppendPath(path, k.val.string.val, k.val.string.len);
			if (sub->is_false && p == NULL)
				Violation(st, path, "property is not allowed (additionalProperties is false)");
			else
				ValidateValue(sub, &v, path, st);
			path->len = pathlen;
			path->data[pathlen] = '\0';
		}
	}
}

static void
ValidateArray(const CourierSchemaNode *node, JsonbContainer *arr, StringInfo path,
			  ValidateState *st)
{
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	int			pathlen = path->len;
	int			i = 0;

	if (node->items == NULL || node->items->trivial)
		return;
	it = JsonbIteratorInit(arr);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		appendStringInfo(path, "[%d]", i++);
		ValidateValue(node->items, &v, path, st);
		path->len = pathlen;
		path->data[pathlen] = '\0';
	}
}

static void
ValidateValue(const CourierSchemaNode *node, JsonbValue *v, StringInfo path,
			  ValidateState *st)
{
	check_stack_depth();
	CHECK_FOR_INTERRUPTS();

	if (node->is_false)
	{
		Violation(st, path, "no value is allowed here");
		return;
	}
	if (node->trivial)
		return;
	if (node->types != 0 && !TypeAccepts(node->types, v))
	{
		StringInfoData buf;

		initStringInfo(&buf);
		TypeList(&buf, node->types);
		Violation(st, path, "expected %s, got %s", buf.data, InstanceType(v));
		pfree(buf.data);
		return;
	}
	if (node->enum_values != NULL || node->const_value != NULL)
	{
		Jsonb	   *j = ValueJsonb(v);
		int			i;

		if (node->const_value != NULL && !SameValue(j, node->const_value))
			Violation(st, path, "must be %s", ShortJson(node->const_value));
		if (node->enum_values != NULL)
		{
			for (i = 0; i < node->nenum; i++)
				if (SameValue(j, node->enum_values[i]))
					break;
			if (i == node->nenum)
			{
				StringInfoData buf;

				initStringInfo(&buf);
				for (i = 0; i < node->nenum && buf.len < 100; i++)
					appendStringInfo(&buf, "%s%s", i > 0 ? ", " : "",
									 ShortJson(node->enum_values[i]));
				if (i < node->nenum)
					appendStringInfoString(&buf, ", ...");
				Violation(st, path, "must be one of %s", buf.data);
				pfree(buf.data);
			}
		}
	}
	switch (v->type)
	{
		case jbvNumeric:
			if (node->minimum != NULL &&
				DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(v->val.numeric),
												  NumericGetDatum(node->minimum))) < 0)
				Violation(st, path, "must be at least %s, is %s",
						  DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(node->minimum))),
						  DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric))));
			if (node->maximum != NULL &&
				DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(v->val.numeric),
												  NumericGetDatum(node->maximum))) > 0)
				Violation(st, path, "must be at most %s, is %s",
						  DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(node->maximum))),
						  DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric))));
			break;
		case jbvString:
			if (node->min_length >= 0 || node->max_length >= 0)
			{
				int			n = pg_mbstrlen_with_len(v->val.string.val, v->val.string.len);

				if (node->min_length >= 0 && n < node->min_length)
					Violation(st, path, "must have at least %d characters, has %d",
							  node->min_length, n);
				if (node->max_length >= 0 && n > node->max_length)
					Violation(st, path, "must have at most %d characters, has %d",
							  node->max_length, n);
			}
			if (node->pattern != NULL &&
				!RE_compile_and_execute(node->pattern, v->val.string.val, v->val.string.len,
										REG_ADVANCED, C_COLLATION_OID, 0, NULL))
				Violation(st, path, "does not match pattern \"%s\"", text_to_cstring(node->pattern));
			if (node->format_date_time && !IsDateTime(v->val.string.val, v->val.string.len))
				Violation(st, path, "is not an RFC 3339 date-time");
			break;
		case jbvBinary:
			if (JsonContainerIsObject(v->val.binary.data))
				ValidateObject(node, v->val.binary.data, path, st);
			else
				ValidateArray(node, v->val.binary.data, path, st);
			break;
		default:
			break;
	}
}

/*
 * The violations of payload against schema (a list of CourierViolation),
 * at most max of them; *total says how many there are in all.
 */
List *
CourierSchemaValidate(const CourierSchemaNode *schema, Jsonb *payload, int max, int *total)
{
	ValidateState st;
	StringInfoData path;
	JsonbValue	root;

	memset(&st, 0, sizeof(st));
	st.max = max;
	initStringInfo(&path);
	appendStringInfoChar(&path, '$');
	if (JB_ROOT_IS_SCALAR(payload))
		(void) JsonbExtractScalar(&payload->root, &root);
	else
	{
		root.type = jbvBinary;
		root.val.binary.data = &payload->root;
		root.val.binary.len = VARSIZE(payload) - VARHDRSZ;
	}
	ValidateValue(schema, &root, &path, &st);
	pfree(path.data);
	if (total != NULL)
		*total = st.count;
	return st.violations;
}

/* "path: message" lines, and how many more of total there are. */
void
CourierSchemaFormatViolations(StringInfo buf, List *violations, int total)
{
	ListCell   *lc;

	foreach(lc, violations)
	{
		CourierViolation *v = lfirst(lc);

		if (buf->len > 0 && buf->data[buf->len - 1] != '\n')
			appendStringInfoChar(buf, '\n');
		appendStringInfo(buf, "%s: %s", v->path, v->message);
	}
	if (total > list_length(violations))
		appendStringInfo(buf, "\n... and %d more", total - list_length(violations));
}

/*----------
 * The registry, cached per backend.
 *----------
 */

typedef struct SchemaCacheKey
{
	char		message_type[SCHEMA_MAX_TYPE_LEN * MAX_MULTIBYTE_CHAR_LEN + 1];
	int32		schema_version;
} SchemaCacheKey;

typedef struct SchemaCacheEntry
{
	SchemaCacheKey key;
	int64		schema_id;		/* 0: nothing compiled */
	MemoryContext cxt;
	CourierSchemaNode *node;
} SchemaCacheEntry;

static HTAB *schema_cache = NULL;
static SPIPlanPtr lookup_plan = NULL;

/*
 * The compiled schema of a type and version, or NULL (missing_ok) when none
 * is registered.  The caller is connected to SPI.  The result stays valid
 * until the next lookup of the same type and version.
 */
CourierSchemaNode *
CourierSchemaLookup(text *message_type, int32 schema_version, bool missing_ok)
{
	Oid			argtypes[3] = {TEXTOID, INT4OID, INT8OID};
	Datum		values[3];
	SchemaCacheKey key;
	SchemaCacheEntry *entry;
	SPIPlanPtr	plan;
	bool		found;
	bool		isnull;
	int64		schema_id;
	Datum		d;
	int			len = VARSIZE_ANY_EXHDR(message_type);

	if (len >= (int) sizeof(key.message_type))
	{
		if (missing_ok)
			return NULL;
		goto missing;
	}
	if (schema_cache == NULL)
	{
		HASHCTL		info;

		memset(&info, 0, sizeof(info));
		info.keysize = sizeof(SchemaCacheKey);
		info.entrysize = sizeof(SchemaCacheEntry);
		schema_cache = hash_create("pg_courier schema cache", 32, &info,
								   HASH_ELEM | HASH_BLOBS);
	}
	memset(&key, 0, sizeof(key));
	memcpy(key.message_type, VARDATA_ANY(message_type), len);
	key.schema_version = schema_version;
	entry = hash_search(schema_cache, &key, HASH_ENTER, &found);
	if (!found)
	{
		entry->schema_id = 0;
		entry->cxt = NULL;
		entry->node = NULL;
	}

	/* the schema itself only when it is not the one compiled */
	plan = CourierPlan(&lookup_plan,
					   "SELECT s.schema_id,"
					   "       CASE WHEN s.schema_id OPERATOR(pg_catalog.=) $3 THEN NULL"
					   "            ELSE s.json_schema END"
					   "  FROM courier.schemas AS s"
					   " WHERE s.message_type OPERATOR(pg_catalog.=) $1"
					   "   AND s.schema_version OPERATOR(pg_catalog.=) $2",
					   3, argtypes);
	values[0] = PointerGetDatum(message_type);
	values[1] = Int32GetDatum(schema_version);
	values[2] = Int64GetDatum(entry->schema_id);
	if (SPI_execute_plan(plan, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "courier: schema lookup failed");
	if (SPI_processed == 0)
	{
		if (missing_ok)
			return NULL;
		goto missing;
	}
	schema_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											1, &isnull));
	if (schema_id != entry->schema_id)
	{
		MemoryContext cxt;

		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		if (isnull)
			elog(ERROR, "courier: schema %lld has no JSON Schema", (long long) schema_id);
		cxt = AllocSetContextCreate(CacheMemoryContext, "pg_courier schema",
									ALLOCSET_SMALL_SIZES);
		PG_TRY();
		{
			entry->node = CourierSchemaCompile(DatumGetJsonbP(d), cxt);
		}
		PG_CATCH();
		{
			MemoryContextDelete(cxt);
			entry->schema_id = 0;
			PG_RE_THROW();
		}
		PG_END_TRY();
		if (entry->cxt != NULL)
			MemoryContextDelete(entry->cxt);
		entry->cxt = cxt;
		entry->schema_id = schema_id;
	}
	return entry->node;

missing:
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("schema \"%s\" version %d is not registered",
					text_to_cstring(message_type), schema_version),
			 errhint("courier.list_schemas() shows the registered schemas.")));
	return NULL;				/* keep the compiler quiet */
}

/*----------
 * require_schema.
 *----------
 */

/* CourierSchemaLookup, or the memo when it holds this type and version. */
static CourierSchemaNode *
MemoLookup(CourierSchemaMemo *memo, text *message_type, int32 schema_version)
{
	CourierSchemaNode *node;

	if (memo != NULL && memo->node != NULL && memo->schema_version == schema_version &&
		VARSIZE_ANY_EXHDR(memo->message_type) == VARSIZE_ANY_EXHDR(message_type) &&
		memcmp(VARDATA_ANY(memo->message_type), VARDATA_ANY(message_type),
			   VARSIZE_ANY_EXHDR(message_type)) == 0)
		return memo->node;
	node = CourierSchemaLookup(message_type, schema_version, true);
	if (memo != NULL && node != NULL)
	{
		memo->message_type = message_type;
		memo->schema_version = schema_version;
		memo->node = node;
	}
	return node;
}

/*
 * Check a message for a queue or topic that requires schemas: a type and a
 * schema_version header naming a registered schema, and a payload valid
 * under it.  kind is "queue" or "topic"; element is the 1-based position in
 * a batch, or 0; memo is NULL or the batch's (see schema.h).  Raises CS002
 * or 42704; the caller has written nothing yet.
 */
void
CourierSchemaCheckMessage(const char *kind, const char *object_name,
						  const CourierEnvelope *env, Jsonb *payload, int element,
						  CourierSchemaMemo *memo)
{
	text	   *type = env->text_fields[ENV_TYPE];
	CourierSchemaNode *node;
	List	   *violations;
	int			total;
	StringInfoData detail;

	initStringInfo(&detail);
	if (element > 0)
		appendStringInfo(&detail, "Element %d of the batch:\n", element);
	if (type == NULL || !env->has_schema_version)
	{
		appendStringInfo(&detail, "The message has no \"%s\" header.",
						 type == NULL ? "type" : "schema_version");
		ereport(ERROR,
				(errcode(ERRCODE_COURIER_SCHEMA_VIOLATION),
				 errmsg("%s \"%s\" requires a registered schema", kind, object_name),
				 errdetail_internal("%s", detail.data),
				 errhint("Send the headers \"type\" and \"schema_version\" of a schema registered with courier.register_schema().")));
	}
	node = MemoLookup(memo, type, env->schema_version);
	if (node == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("schema \"%s\" version %d is not registered",
						text_to_cstring(type), env->schema_version),
				 errdetail_internal("%sThe %s \"%s\" requires a registered schema.",
									detail.data, kind, object_name),
				 errhint("courier.list_schemas() shows the registered schemas.")));
	violations = CourierSchemaValidate(node, payload, SCHEMA_ERROR_VIOLATIONS, &total);
	if (violations != NIL)
	{
		CourierSchemaFormatViolations(&detail, violations, total);
		ereport(ERROR,
				(errcode(ERRCODE_COURIER_SCHEMA_VIOLATION),
				 errmsg("message does not match schema \"%s\" version %d",
						text_to_cstring(type), env->schema_version),
				 errdetail_internal("%s", detail.data),
				 errhint("courier.validate_payload() lists every violation; %s \"%s\" requires valid payloads.",
						 kind, object_name)));
	}
	pfree(detail.data);
}

/*
 * The same for one put_events() entry of a bus that requires schemas: its
 * detail-type and "schema-version" name the schema, its detail is the
 * payload.  Never raises for a bad entry: returns false with AWS-style
 * error code and message, so the entry fails alone.
 */
bool
CourierSchemaCheckEntry(const char *bus_name, const char *detail_type, int32 schema_version,
						bool has_version, Jsonb *detail, const char **code, char **message,
						CourierSchemaMemo *memo)
{
	CourierSchemaNode *node;
	List	   *violations;
	int			total;
	StringInfoData buf;

	if (!has_version)
	{
		*code = "InvalidArgument";
		*message = psprintf("Parameter schema-version is not valid. Reason: bus \"%s\" requires a registered schema, and the entry has no schema-version.",
							bus_name);
		return false;
	}
	node = MemoLookup(memo, cstring_to_text(detail_type), schema_version);
	if (node == NULL)
	{
		*code = "SchemaNotFound";
		*message = psprintf("Schema \"%s\" version %d is not registered; bus \"%s\" requires a registered schema.",
							detail_type, schema_version, bus_name);
		return false;
	}
	violations = CourierSchemaValidate(node, detail, SCHEMA_ERROR_VIOLATIONS, &total);
	if (violations == NIL)
		return true;
	initStringInfo(&buf);
	appendStringInfo(&buf, "Detail does not match schema \"%s\" version %d:", detail_type,
					 schema_version);
	{
		ListCell   *lc;

		foreach(lc, violations)
		{
			CourierViolation *v = lfirst(lc);

			appendStringInfo(&buf, " %s: %s;", v->path, v->message);
		}
		buf.data[--buf.len] = '\0';
		if (total > list_length(violations))
			appendStringInfo(&buf, "; ... and %d more", total - list_length(violations));
		appendStringInfoChar(&buf, '.');
	}
	*code = "SchemaViolation";
	*message = buf.data;
	return false;
}

/*----------
 * SQL functions.
 *----------
 */

/* courier._compile_json_schema(json_schema jsonb): raises when it is not one we check */
Datum
courier_compile_json_schema(PG_FUNCTION_ARGS)
{
	MemoryContext cxt;

	CourierArgNotNull(fcinfo, 0, "json_schema");
	cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_courier schema check",
								ALLOCSET_SMALL_SIZES);
	(void) CourierSchemaCompile(PG_GETARG_JSONB_P(0), cxt);
	MemoryContextDelete(cxt);
	PG_RETURN_VOID();
}

static void
PutViolations(FunctionCallInfo fcinfo, List *violations)
{
	TupleDesc	tupdesc;
	Tuplestorestate *tupstore = CourierMaterialize(fcinfo, &tupdesc);
	ListCell   *lc;

	foreach(lc, violations)
	{
		CourierViolation *v = lfirst(lc);
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(v->path);
		values[1] = CStringGetTextDatum(v->message);
		tuplestore_putvalues(tupstore, tupdesc, values, nulls);
	}
}

/*
 * courier.test_json_schema(json_schema jsonb, payload jsonb)
 *		RETURNS TABLE (path text, message text)
 */
Datum
courier_test_json_schema(PG_FUNCTION_ARGS)
{
	CourierSchemaNode *node;

	CourierArgNotNull(fcinfo, 0, "json_schema");
	CourierArgNotNull(fcinfo, 1, "payload");
	node = CourierSchemaCompile(PG_GETARG_JSONB_P(0), CurrentMemoryContext);
	PutViolations(fcinfo, CourierSchemaValidate(node, PG_GETARG_JSONB_P(1),
												SCHEMA_MAX_VIOLATIONS, NULL));
	return (Datum) 0;
}

/*
 * courier.validate_payload(message_type text, schema_version integer,
 *		payload jsonb) RETURNS TABLE (path text, message text)
 *
 * No rows: the payload is valid.  42704 when no such schema is registered.
 */
Datum
courier_validate_payload(PG_FUNCTION_ARGS)
{
	CourierSchemaNode *node;
	List	   *violations;
	Jsonb	   *payload;

	CourierArgNotNull(fcinfo, 0, "message_type");
	CourierArgNotNull(fcinfo, 1, "schema_version");
	CourierArgNotNull(fcinfo, 2, "payload");
	payload = PG_GETARG_JSONB_P(2);
	SPI_connect();
	node = CourierSchemaLookup(PG_GETARG_TEXT_PP(0), PG_GETARG_INT32(1), false);
	violations = CourierSchemaValidate(node, payload, SCHEMA_MAX_VIOLATIONS, NULL);
	/* the violations are in SPI's memory: store them before it goes */
	PutViolations(fcinfo, violations);
	SPI_finish();
	return (Datum) 0;
}
