/*-------------------------------------------------------------------------
 *
 * jsonb_build.c
 *	  Building jsonb objects key by key (history details, results,
 *	  envelopes, headers), and reading one key of an object: what the
 *	  bus and the workflow engine's files share instead of each keeping
 *	  its own copy.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/numeric.h"

#include "jsonb_build.h"

static void
StringValue(JsonbValue *v, const char *s)
{
	v->type = jbvString;
	v->val.string.val = (char *) s;
	v->val.string.len = strlen(s);
}

void
CourierPushKey(JsonbParseState **st, const char *key)
{
	JsonbValue	k;

	StringValue(&k, key);
	pushJsonbValue(st, WJB_KEY, &k);
}

void
CourierPushValue(JsonbParseState **st, const char *key, JsonbValue *value)
{
	CourierPushKey(st, key);
	pushJsonbValue(st, WJB_VALUE, value);
}

void
CourierPushText(JsonbParseState **st, const char *key, const char *value)
{
	JsonbValue	v;

	if (value == NULL)
		v.type = jbvNull;
	else
		StringValue(&v, value);
	CourierPushValue(st, key, &v);
}

void
CourierPushInt(JsonbParseState **st, const char *key, int64 value)
{
	JsonbValue	v;

	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(value);
	CourierPushValue(st, key, &v);
}

JsonbValue *
CourierJsonbAsValue(Jsonb *doc, JsonbValue *v)
{
	if (doc == NULL)
		v->type = jbvNull;
	else if (JB_ROOT_IS_SCALAR(doc))
		(void) JsonbExtractScalar(&doc->root, v);
	else
	{
		v->type = jbvBinary;
		v->val.binary.data = &doc->root;
		v->val.binary.len = VARSIZE(doc) - VARHDRSZ;
	}
	return v;
}

void
CourierPushJsonb(JsonbParseState **st, const char *key, Jsonb *value)
{
	JsonbValue	v;

	CourierPushValue(st, key, CourierJsonbAsValue(value, &v));
}

JsonbValue *
CourierJsonbField(JsonbContainer *c, const char *key)
{
	JsonbValue	k;

	StringValue(&k, key);
	return findJsonbValueFromContainer(c, JB_FOBJECT, &k);
}
