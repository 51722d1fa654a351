/*-------------------------------------------------------------------------
 *
 * envelope.c
 *	  The typed envelope every message carries, read from its headers.
 *
 * Headers are message attributes: a JSON object whose values are strings,
 * numbers or arrays of scalars (SQS String, Number and String.Array).  The
 * reserved keys below are not stored as headers but fill the envelope
 * columns, so DBAs can query and index them and row-level security can use
 * tenant_id:
 *
 *	  type, correlation_id, causation_id, idempotency_key, tenant_id
 *	                    strings of 1 to 256 characters
 *	  schema_version    a positive integer (number or decimal string)
 *	  occurred_at       a timestamp string (ISO 8601)
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "envelope.h"

#define COURIER_MAX_HEADER_NAME		256

static const char *const text_keys[ENV_NUM_TEXT] = {
	"type", "correlation_id", "causation_id", "idempotency_key", "tenant_id"
};

typedef enum ReservedKey
{
	KEY_NONE = -1,
	/* 0 .. ENV_NUM_TEXT - 1 are the text fields */
	KEY_SCHEMA_VERSION = ENV_NUM_TEXT,
	KEY_OCCURRED_AT
} ReservedKey;

static ReservedKey
ClassifyKey(const char *key, int len)
{
	int			i;

	for (i = 0; i < ENV_NUM_TEXT; i++)
		if (strlen(text_keys[i]) == (size_t) len && memcmp(key, text_keys[i], len) == 0)
			return (ReservedKey) i;
	if (len == 14 && memcmp(key, "schema_version", 14) == 0)
		return KEY_SCHEMA_VERSION;
	if (len == 11 && memcmp(key, "occurred_at", 11) == 0)
		return KEY_OCCURRED_AT;
	return KEY_NONE;
}

static const char *
JsonbValueKind(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "a null";
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

static pg_attribute_noreturn() void
BadHeader(const char *key, int keylen, const char *detail, const JsonbValue *v)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid header \"%.*s\"", keylen, key),
			 errdetail(detail, JsonbValueKind(v))));
}

/* A header name: 1 to 256 characters from [A-Za-z0-9_.-]. */
static void
CheckHeaderName(const char *key, int len)
{
	int			i;

	if (len < 1 || len > COURIER_MAX_HEADER_NAME)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid header name \"%.*s\"", Min(len, 64), key),
				 errdetail("A header name has 1 to %d characters.", COURIER_MAX_HEADER_NAME)));
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) key[i];

		if (!(isalnum(c) || c == '_' || c == '.' || c == '-') || c >= 0x80)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid header name \"%.*s\"", len, key),
					 errdetail("A header name may contain only letters, digits, \"_\", \".\" and \"-\".")));
	}
}

/* An ordinary header value: string, number, or array of scalars. */
static void
CheckHeaderValue(const char *key, int keylen, JsonbValue *v)
{
	if (v->type == jbvString || v->type == jbvNumeric)
		return;
	if (v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data))
	{
		JsonbIterator *it = JsonbIteratorInit(v->val.binary.data);
		JsonbValue	elem;
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
		{
			if (tok == WJB_ELEM && elem.type == jbvBinary)
				BadHeader(key, keylen,
						  "An array header may hold only strings, numbers, booleans and nulls, not %s.",
						  &elem);
		}
		return;
	}
	BadHeader(key, keylen,
			  "A header value is a string, a number or an array of scalars, not %s.", v);
}

static text *
EnvelopeText(const char *key, int keylen, const JsonbValue *v)
{
	int			nchars;

	if (v->type != jbvString)
		BadHeader(key, keylen, "This reserved header must be a string, not %s.", v);
	nchars = pg_mbstrlen_with_len(v->val.string.val, v->val.string.len);
	if (nchars < 1 || nchars > COURIER_MAX_ENVELOPE_TEXT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid header \"%.*s\"", keylen, key),
				 errdetail("This reserved header must have 1 to %d characters.",
						   COURIER_MAX_ENVELOPE_TEXT)));
	return cstring_to_text_with_len(v->val.string.val, v->val.string.len);
}

static int32
EnvelopeSchemaVersion(const char *key, int keylen, const JsonbValue *v)
{
	char	   *str;
	char	   *p;
	int64		result = 0;

	if (v->type == jbvNumeric)
		str = DatumGetCString(DirectFunctionCall1(numeric_out,
												  NumericGetDatum(v->val.numeric)));
	else if (v->type == jbvString)
		str = pnstrdup(v->val.string.val, v->val.string.len);
	else
		BadHeader(key, keylen, "schema_version must be a positive integer, not %s.", v);

	for (p = str; *p; p++)
	{
		if (!isdigit((unsigned char) *p) || result > PG_INT32_MAX)
			break;
		result = result * 10 + (*p - '0');
	}
	/* an integral number written with a fraction (2.0) is still integral */
	if (v->type == jbvNumeric && *p == '.' && p > str)
	{
		const char *f = p + 1;

		while (*f == '0')
			f++;
		if (*f == '\0')
			p = (char *) f;
	}
	if (*p != '\0' || p == str || result < 1 || result > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid header \"schema_version\""),
				 errdetail("schema_version must be a positive integer, not \"%s\".", str)));
	pfree(str);
	return (int32) result;
}

static void
OccurredAtErrorContext(void *arg pg_attribute_unused())
{
	errcontext("reading header \"occurred_at\"");
}

static TimestampTz
EnvelopeOccurredAt(const char *key, int keylen, const JsonbValue *v)
{
	ErrorContextCallback callback;
	char	   *str;
	TimestampTz ts;

	if (v->type != jbvString)
		BadHeader(key, keylen, "occurred_at must be a timestamp string, not %s.", v);
	/* ISO 8601 only: no special words such as 'now' or 'epoch' */
	if (v->val.string.len == 0 || !isdigit((unsigned char) v->val.string.val[0]))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid header \"occurred_at\""),
				 errdetail("occurred_at must be an ISO 8601 timestamp such as \"2026-01-02T03:04:05Z\".")));

	str = pnstrdup(v->val.string.val, v->val.string.len);
	callback.callback = OccurredAtErrorContext;
	callback.arg = NULL;
	callback.previous = error_context_stack;
	error_context_stack = &callback;
	ts = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
												 CStringGetDatum(str),
												 ObjectIdGetDatum(InvalidOid),
												 Int32GetDatum(-1)));
	error_context_stack = callback.previous;
	pfree(str);

	if (TIMESTAMP_NOT_FINITE(ts))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid header \"occurred_at\""),
				 errdetail("occurred_at must be a finite timestamp.")));
	return ts;
}

/*
 * Validate headers and split them into the envelope and the remaining
 * headers.  headers may be NULL.  Raises 22023 on anything malformed, before
 * the caller has written anything.
 */
void
CourierReadEnvelope(Jsonb *headers, CourierEnvelope *env)
{
	JsonbIterator *it;
	JsonbValue	k;
	JsonbValue	v;
	JsonbIteratorToken tok;
	bool		any_reserved = false;
	bool		any_plain = false;

	memset(env, 0, sizeof(*env));
	if (headers == NULL)
		return;

	if (!JB_ROOT_IS_OBJECT(headers))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("headers must be a JSON object"),
				 errdetail("The value given is a JSON %s.",
						   JB_ROOT_IS_SCALAR(headers) ? "scalar" : "array"),
				 errhint("Pass message attributes as {\"name\": value, ...}.")));

	it = JsonbIteratorInit(&headers->root);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		const char *key;
		int			keylen;
		ReservedKey kind;

		if (tok != WJB_KEY)
			continue;
		key = k.val.string.val;
		keylen = k.val.string.len;
		tok = JsonbIteratorNext(&it, &v, true);
		Assert(tok == WJB_VALUE);

		kind = ClassifyKey(key, keylen);
		if (kind == KEY_NONE)
		{
			CheckHeaderName(key, keylen);
			CheckHeaderValue(key, keylen, &v);
			any_plain = true;
			continue;
		}
		any_reserved = true;
		if (kind == KEY_SCHEMA_VERSION)
		{
			env->schema_version = EnvelopeSchemaVersion(key, keylen, &v);
			env->has_schema_version = true;
		}
		else if (kind == KEY_OCCURRED_AT)
		{
			env->occurred_at = EnvelopeOccurredAt(key, keylen, &v);
			env->has_occurred_at = true;
		}
		else
			env->text_fields[kind] = EnvelopeText(key, keylen, &v);
	}

	if (!any_plain)
		env->headers = NULL;
	else if (!any_reserved)
		env->headers = headers;
	else
	{
		/* Rebuild the object without the reserved keys. */
		JsonbParseState *state = NULL;
		JsonbValue *result;

		pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		it = JsonbIteratorInit(&headers->root);
		while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
		{
			if (tok != WJB_KEY)
				continue;
			tok = JsonbIteratorNext(&it, &v, true);
			if (ClassifyKey(k.val.string.val, k.val.string.len) != KEY_NONE)
				continue;
			pushJsonbValue(&state, WJB_KEY, &k);
			pushJsonbValue(&state, WJB_VALUE, &v);
		}
		result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
		env->headers = JsonbValueToJsonb(result);
	}
}
