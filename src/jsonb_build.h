/*-------------------------------------------------------------------------
 *
 * jsonb_build.h
 *	  Building jsonb objects key by key, and reading one key of an object.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_JSONB_BUILD_H
#define COURIER_JSONB_BUILD_H

#include "utils/jsonb.h"

/* "key": push the key of the next member of an object being built */
extern void CourierPushKey(JsonbParseState **st, const char *key);
/* "key": value, any JsonbValue */
extern void CourierPushValue(JsonbParseState **st, const char *key, JsonbValue *value);
/* "key": "value", or null for NULL */
extern void CourierPushText(JsonbParseState **st, const char *key, const char *value);
/* "key": a number */
extern void CourierPushInt(JsonbParseState **st, const char *key, int64 value);
/* "key": a document (object, array or scalar), or null for NULL */
extern void CourierPushJsonb(JsonbParseState **st, const char *key, Jsonb *value);

/* A document as a value to push (JSON null for NULL); returns v. */
extern JsonbValue *CourierJsonbAsValue(Jsonb *doc, JsonbValue *v);

/* The value of key in an object container, or NULL. */
extern JsonbValue *CourierJsonbField(JsonbContainer *c, const char *key);
/* The key/value pairs of an object container, in palloc'd arrays; their number. */
extern int	CourierJsonbObjectPairs(JsonbContainer *c, JsonbValue **keys, JsonbValue **vals);
/* The elements of an array container, in a palloc'd array; their number. */
extern int	CourierJsonbArrayElements(JsonbContainer *c, JsonbValue **elems);
/* Is v an object (object true) or an array (false) container?  Inline:
 * pattern matching asks it of every value it looks at. */
static inline bool
CourierJsonbIsContainer(const JsonbValue *v, bool object)
{
	if (v->type != jbvBinary)
		return false;
	return object ? JsonContainerIsObject(v->val.binary.data)
		: JsonContainerIsArray(v->val.binary.data);
}

#endif							/* COURIER_JSONB_BUILD_H */
