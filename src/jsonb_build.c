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

#include "lib/stringinfo.h"
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

/* jsonb's order of object keys: shorter first, then bytewise */
static int
KeyOrder(const JsonbValue *a, const JsonbValue *b)
{
	if (a->val.string.len != b->val.string.len)
		return a->val.string.len > b->val.string.len ? 1 : -1;
	return memcmp(a->val.string.val, b->val.string.val, a->val.string.len);
}

/* Zero bytes up to the next 4-byte boundary of the document; how many. */
static int
PadToInt(StringInfo buf)
{
	int			pad = INTALIGN(buf->len) - buf->len;

	if (pad > 0)
	{
		enlargeStringInfo(buf, pad);
		memset(buf->data + buf->len, 0, pad);
		buf->len += pad;
	}
	return pad;
}

/*
 * See jsonb_build.h.  The layout is what convertJsonbObject() in
 * PostgreSQL's jsonb_util.c writes: the header, the keys' JEntries then the
 * values', the keys' bytes in order, then the values'; a JEntry holds the
 * length of its item, or every JB_OFFSET_STRIDE'th the end offset of it;
 * numerics and containers start on a 4-byte boundary of the document, the
 * padding counted in their length.
 */
Jsonb *
CourierJsonbObjectFrom(int n, const JsonbValue *keys, const JsonbValue *vals)
{
	int		   *order = palloc(sizeof(int) * Max(n, 1));
	StringInfoData buf;
	uint32		header = (uint32) n | JB_FOBJECT;
	int			entries;
	uint32		total = 0;
	int			size = VARHDRSZ + sizeof(uint32) + 2 * n * sizeof(JEntry);
	int			i;

	/* the keys in jsonb's order (callers pass them nearly sorted) */
	for (i = 0; i < n; i++)
	{
		int			j = i;

		Assert(keys[i].type == jbvString);
		size += keys[i].val.string.len;
		if (vals[i].type == jbvBinary)
			size += vals[i].val.binary.len + 3;
		else if (vals[i].type == jbvString)
			size += vals[i].val.string.len;
		else if (vals[i].type == jbvNumeric)
			size += VARSIZE_ANY(vals[i].val.numeric) + 3;
		while (j > 0 && KeyOrder(&keys[order[j - 1]], &keys[i]) > 0)
		{
			order[j] = order[j - 1];
			j--;
		}
		if (j > 0 && KeyOrder(&keys[order[j - 1]], &keys[i]) == 0)
			elog(ERROR, "courier: duplicate key \"%.*s\" in an object built",
				 keys[i].val.string.len, keys[i].val.string.val);
		order[j] = i;
	}

	initStringInfo(&buf);
	enlargeStringInfo(&buf, size);
	buf.len = VARHDRSZ;
	appendBinaryStringInfo(&buf, (char *) &header, sizeof(uint32));
	entries = buf.len;
	buf.len += 2 * n * sizeof(JEntry);

	for (i = 0; i < 2 * n; i++)
	{
		const JsonbValue *v = i < n ? &keys[order[i]] : &vals[order[i - n]];
		int			start = buf.len;
		uint32		type;
		uint32		len;
		JEntry		meta;

		switch (v->type)
		{
			case jbvNull:
				type = JENTRY_ISNULL;
				break;
			case jbvBool:
				type = v->val.boolean ? JENTRY_ISBOOL_TRUE : JENTRY_ISBOOL_FALSE;
				break;
			case jbvString:
				type = JENTRY_ISSTRING;
				appendBinaryStringInfo(&buf, v->val.string.val, v->val.string.len);
				break;
			case jbvNumeric:
				type = JENTRY_ISNUMERIC;
				PadToInt(&buf);
				appendBinaryStringInfo(&buf, (char *) v->val.numeric, VARSIZE_ANY(v->val.numeric));
				break;
			case jbvBinary:
				type = JENTRY_ISCONTAINER;
				PadToInt(&buf);
				appendBinaryStringInfo(&buf, (char *) v->val.binary.data, v->val.binary.len);
				break;
			default:
				elog(ERROR, "courier: unexpected jsonb value type %d in an object built", (int) v->type);
		}
		len = buf.len - start;
		total += len;
		if (total > JENTRY_OFFLENMASK)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("total size of jsonb object elements exceeds the maximum of %d bytes",
							JENTRY_OFFLENMASK)));
		meta = type | ((i % JB_OFFSET_STRIDE) == 0 ? (total | JENTRY_HAS_OFF) : len);
		memcpy(buf.data + entries + i * sizeof(JEntry), &meta, sizeof(JEntry));
	}
	SET_VARSIZE(buf.data, buf.len);
	pfree(order);
	return (Jsonb *) buf.data;
}

static JsonbValue *
NextMember(CourierMembers *m, const char *key)
{
	if (m->n >= COURIER_MEMBERS_MAX)
		elog(ERROR, "courier: too many members for an object built");
	StringValue(&m->keys[m->n], key);
	return &m->vals[m->n++];
}

void
CourierMemberText(CourierMembers *m, const char *key, const char *value)
{
	JsonbValue *v = NextMember(m, key);

	if (value == NULL)
		v->type = jbvNull;
	else
		StringValue(v, value);
}

void
CourierMemberInt(CourierMembers *m, const char *key, int64 value)
{
	JsonbValue *v = NextMember(m, key);

	v->type = jbvNumeric;
	v->val.numeric = int64_to_numeric(value);
}

void
CourierMemberJsonb(CourierMembers *m, const char *key, Jsonb *value)
{
	(void) CourierJsonbAsValue(value, NextMember(m, key));
}

Jsonb *
CourierMembersObject(const CourierMembers *m)
{
	return CourierJsonbObjectFrom(m->n, m->keys, m->vals);
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
