/*-------------------------------------------------------------------------
 *
 * schema.h
 *	  JSON Schemas of message types: compiled schemas, payload validation,
 *	  the compatibility checker and the require_schema check of senders.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_SCHEMA_H
#define COURIER_SCHEMA_H

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"

#include "envelope.h"

/* A new schema version breaks the type's compatibility mode. */
#define ERRCODE_COURIER_SCHEMA_INCOMPATIBLE	MAKE_SQLSTATE('C', 'S', '0', '0', '1')
/* A message does not meet the schema requirement of where it is sent. */
#define ERRCODE_COURIER_SCHEMA_VIOLATION	MAKE_SQLSTATE('C', 'S', '0', '0', '2')

/* JSON types a schema's "type" names, as bits. */
#define SCHEMA_T_NULL		0x01
#define SCHEMA_T_BOOLEAN	0x02
#define SCHEMA_T_OBJECT		0x04
#define SCHEMA_T_ARRAY		0x08
#define SCHEMA_T_NUMBER		0x10
#define SCHEMA_T_STRING		0x20
#define SCHEMA_T_INTEGER	0x40	/* a number without a fraction */

typedef struct CourierSchemaNode CourierSchemaNode;

/* A property of an object schema: its name and its schema. */
typedef struct CourierSchemaProperty
{
	char	   *name;
	int			namelen;
	CourierSchemaNode *schema;
} CourierSchemaProperty;

/*
 * One compiled (sub)schema.  Absent keywords constrain nothing: a node with
 * only annotations accepts every value (trivial).
 */
struct CourierSchemaNode
{
	bool		is_false;		/* the schema false: no value is valid */
	bool		trivial;		/* true, {}, or only annotations */
	int			types;			/* SCHEMA_T_* bits; 0: any type */

	/* objects */
	int			nproperties;
	CourierSchemaProperty *properties;	/* sorted by name */
	int			nrequired;
	char	  **required;
	int		   *required_len;
	bool		has_additional; /* additionalProperties given */
	CourierSchemaNode *additional;	/* its schema (false: closed) */

	/* arrays */
	CourierSchemaNode *items;	/* NULL: any items */

	/* enum and const: each value as a Jsonb of its own */
	int			nenum;
	Jsonb	  **enum_values;	/* NULL: no enum */
	Jsonb	   *const_value;	/* NULL: no const */

	/* numbers */
	Numeric		minimum;		/* NULL: none */
	Numeric		maximum;

	/* strings */
	int32		min_length;		/* -1: none */
	int32		max_length;
	text	   *pattern;		/* NULL: none */
	bool		format_date_time;
};

/* One way a payload does not match a schema. */
typedef struct CourierViolation
{
	char	   *path;			/* $.a.b[2] */
	char	   *message;
} CourierViolation;

/*
 * The schema a batch's previous message was checked against: consecutive
 * messages of one type and version look it up once per call.  Zeroed by the
 * caller; valid for one call (one snapshot) only.
 */
typedef struct CourierSchemaMemo
{
	text	   *message_type;
	int32		schema_version;
	CourierSchemaNode *node;
} CourierSchemaMemo;

/* schema.c */
extern CourierSchemaNode *CourierSchemaCompile(Jsonb *schema, MemoryContext cxt);
extern List *CourierSchemaValidate(const CourierSchemaNode *schema, Jsonb *payload,
								   int max_violations, int *total);
extern CourierSchemaNode *CourierSchemaLookup(text *message_type, int32 schema_version,
											  bool missing_ok);
extern void CourierSchemaCheckMessage(const char *kind, const char *object_name,
									  const CourierEnvelope *env, Jsonb *payload,
									  int element, CourierSchemaMemo *memo);
extern bool CourierSchemaCheckEntry(const char *bus_name, const char *detail_type,
									int32 schema_version,
									bool has_version, Jsonb *detail,
									const char **code, char **message,
									CourierSchemaMemo *memo);
extern void CourierSchemaAppendPath(StringInfo path, const char *name, int len);
extern void CourierSchemaFormatViolations(StringInfo buf, List *violations, int total);

/* schema_compat.c */
extern List *CourierSchemaCompatReport(const CourierSchemaNode *new_schema,
									   const CourierSchemaNode *const *previous,
									   const int32 *versions, int nprevious,
									   const char *mode);

#endif							/* COURIER_SCHEMA_H */
