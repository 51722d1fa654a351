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

/*
 * An object written straight in jsonb's binary form from its members: n
 * keys (jbvString, distinct, in any order) and their values, scalars or
 * jbvBinary containers, which are copied as they are.  Pushing a container
 * with pushJsonbValue unpacks it to its last scalar and packs it again: what
 * most of a history event's details (a copy of a state's input or output)
 * and of a ResultPath merge cost.
 */
extern Jsonb *CourierJsonbObjectFrom(int n, const JsonbValue *keys, const JsonbValue *vals);

/* The members of a small object for CourierMembersObject, added one by one. */
#define COURIER_MEMBERS_MAX 8
typedef struct CourierMembers
{
	int			n;
	JsonbValue	keys[COURIER_MEMBERS_MAX];
	JsonbValue	vals[COURIER_MEMBERS_MAX];
} CourierMembers;

/* "key": "value", or null for NULL */
extern void CourierMemberText(CourierMembers *m, const char *key, const char *value);
/* "key": a number */
extern void CourierMemberInt(CourierMembers *m, const char *key, int64 value);
/* "key": a document (object, array or scalar), or null for NULL */
extern void CourierMemberJsonb(CourierMembers *m, const char *key, Jsonb *value);
extern Jsonb *CourierMembersObject(const CourierMembers *m);

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
