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

#include "miscadmin.h"
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

/*
 * The key/value pairs of an object container, in its order, nested
 * containers as jbvBinary; returns how many.
 */
int
CourierJsonbObjectPairs(JsonbContainer *c, JsonbValue **keys, JsonbValue **vals)
{
	int			n = JsonContainerSize(c);
	int			i = 0;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	*keys = palloc(sizeof(JsonbValue) * Max(n, 1));
	*vals = palloc(sizeof(JsonbValue) * Max(n, 1));
	it = JsonbIteratorInit(c);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		CHECK_FOR_INTERRUPTS();
		if (tok == WJB_KEY)
			(*keys)[i] = v;
		else if (tok == WJB_VALUE)
			(*vals)[i++] = v;
	}
	Assert(i == n);
	return i;
}


/* The elements of an array container, in a palloc'd array; returns how many. */
int
CourierJsonbArrayElements(JsonbContainer *c, JsonbValue **elems)
{
	int			n = JsonContainerSize(c);
	int			i = 0;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	*elems = palloc(sizeof(JsonbValue) * Max(n, 1));
	it = JsonbIteratorInit(c);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		CHECK_FOR_INTERRUPTS();
		if (tok == WJB_ELEM)
			(*elems)[i++] = v;
	}
	Assert(i == n);
	return i;
}
