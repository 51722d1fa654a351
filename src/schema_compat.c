/*-------------------------------------------------------------------------
 *
 * schema_compat.c
 *	  The compatibility checker: may a new schema version join the old ones
 *	  under the type's compatibility mode?
 *
 * Vocabulary (Confluent's modes, for JSON Schema):
 *	  writer    the schema data is produced with
 *	  reader    the schema a consumer reads (validates) it with
 *	  backward  reader = new, writer = old: consumers on the new schema can
 *	            read what producers on the old one wrote
 *	  forward   reader = old, writer = new: consumers still on the old schema
 *	            can read what producers on the new one write
 *	  full      both
 *	  transitive  against every previous version, not only the latest
 *
 * A writer/reader pair is compatible when every value the writer accepts,
 * the reader accepts too.  The check is structural over the keywords
 * schema.c supports, and conservative: where it cannot prove inclusion (two
 * different patterns, say) it reports a break.  Each break is a line naming
 * the JSON path in the schema and what changed, always said from old to new
 * ("$.owner: became required", "$.status: enum value \"closed\" removed").
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "pg_courier.h"
#include "plan.h"
#include "schema.h"

PG_FUNCTION_INFO_V1(courier_schema_compat_report);
PG_FUNCTION_INFO_V1(courier_test_schema_compatibility);

typedef struct CompatState
{
	List	   *lines;
	bool		reader_is_new;	/* backward */
	int32		version;		/* the old version checked against */
} CompatState;

static const CourierSchemaNode any_node = {
	.trivial = true,
	.min_length = -1,
	.max_length = -1
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

static void
Break(CompatState *st, StringInfo path, const char *fmt,...) pg_attribute_printf(3, 4);

static void
Break(CompatState *st, StringInfo path, const char *fmt,...)
{
	va_list		args;
	char		buf[1024];

	va_start(args, fmt);
	vsnprintf(buf, sizeof(buf), fmt, args);
	va_end(args);
	st->lines = lappend(st->lines,
						psprintf("%s: %s (%s, against version %d)", path->data, buf,
								 st->reader_is_new ? "backward" : "forward", st->version));
}

static char *
TypeText(int types)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; type_names[i].name != NULL; i++)
	{
		if (!(types & type_names[i].bit))
			continue;
		if (buf.len > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfo(&buf, "\"%s\"", type_names[i].name);
	}
	return buf.data;
}

static char *
JsonText(Jsonb *j)
{
	return JsonbToCString(NULL, &j->root, VARSIZE(j));
}

static char *
NumText(Numeric n)
{
	return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(n)));
}

static int
NumCmp(Numeric a, Numeric b)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(a),
											 NumericGetDatum(b)));
}

static bool
SameValue(Jsonb *a, Jsonb *b)
{
	if (JB_ROOT_IS_SCALAR(a) != JB_ROOT_IS_SCALAR(b))
		return false;
	return compareJsonbContainers(&a->root, &b->root) == 0;
}

/* The JSON type bit of a value given as a Jsonb. */
static int
ValueTypeBit(Jsonb *j)
{
	JsonbValue	v;

	if (!JB_ROOT_IS_SCALAR(j))
		return JB_ROOT_IS_ARRAY(j) ? SCHEMA_T_ARRAY : SCHEMA_T_OBJECT;
	(void) JsonbExtractScalar(&j->root, &v);
	switch (v.type)
	{
		case jbvNull:
			return SCHEMA_T_NULL;
		case jbvBool:
			return SCHEMA_T_BOOLEAN;
		case jbvNumeric:
			return SCHEMA_T_NUMBER;
		default:
			return SCHEMA_T_STRING;
	}
}

/* The types a schema can accept: declared, or those of its enum or const. */
static int
EffectiveTypes(const CourierSchemaNode *n)
{
	int			types = 0;
	int			i;

	if (n->types != 0)
		return n->types;
	if (n->const_value != NULL)
		return ValueTypeBit(n->const_value);
	for (i = 0; i < n->nenum; i++)
		types |= ValueTypeBit(n->enum_values[i]);
	return types;
}

static bool
MayBe(int types, int bits)
{
	return types == 0 || (types & bits) != 0;
}

/* Old and new side of a keyword, by direction. */
#define OLD_OF(st, w, r) ((st)->reader_is_new ? (w) : (r))
#define NEW_OF(st, w, r) ((st)->reader_is_new ? (r) : (w))

/* A numeric bound that changed: say it from old to new. */
static void
NumBound(CompatState *st, StringInfo path, const char *keyword, Numeric old, Numeric new)
{
	if (old == NULL)
		Break(st, path, "%s %s added", keyword, NumText(new));
	else if (new == NULL)
		Break(st, path, "%s %s removed", keyword, NumText(old));
	else
		Break(st, path, "%s %s from %s to %s", keyword,
			  NumCmp(new, old) > 0 ? "raised" : "lowered", NumText(old), NumText(new));
}

static void
LengthBound(CompatState *st, StringInfo path, const char *keyword, int32 old, int32 new)
{
	if (old < 0)
		Break(st, path, "%s %d added", keyword, new);
	else if (new < 0)
		Break(st, path, "%s %d removed", keyword, old);
	else
		Break(st, path, "%s %s from %d to %d", keyword, new > old ? "raised" : "lowered", old, new);
}

static bool
Requires(const CourierSchemaNode *n, const char *name, int len)
{
	int			i;

	for (i = 0; i < n->nrequired; i++)
		if (n->required_len[i] == len && memcmp(n->required[i], name, len) == 0)
			return true;
	return false;
}

static const CourierSchemaProperty *
Property(const CourierSchemaNode *n, const char *name, int len)
{
	int			i;

	for (i = 0; i < n->nproperties; i++)
		if (n->properties[i].namelen == len && memcmp(n->properties[i].name, name, len) == 0)
			return &n->properties[i];
	return NULL;
}

static void Check(CompatState *st, const CourierSchemaNode *w, const CourierSchemaNode *r,
				  StringInfo path);

static void
Restore(StringInfo path, int len)
{
	path->len = len;
	path->data[len] = '\0';
}

/* One property name, as the writer and the reader see it. */
static void
CheckProperty(CompatState *st, const CourierSchemaNode *w, const CourierSchemaNode *r,
			  const char *name, int len, StringInfo path)
{
	const CourierSchemaProperty *wp = Property(w, name, len);
	const CourierSchemaProperty *rp = Property(r, name, len);
	const CourierSchemaNode *ws = wp ? wp->schema : (w->has_additional ? w->additional : NULL);
	const CourierSchemaNode *rs = rp ? rp->schema : (r->has_additional ? r->additional : NULL);
	int			pathlen = path->len;

	if (ws != NULL && ws->is_false)
		return;					/* the writer never writes it */
	if (rs == NULL || rs->trivial)
		return;					/* the reader takes anything there */
	CourierSchemaAppendPath(path, name, len);
	if (rs->is_false)
	{
		if (st->reader_is_new)
			Break(st, path, "property is no longer allowed");
		else
			Break(st, path, "property added, but the old schema does not allow it");
	}
	else if (ws == NULL || ws->trivial)
	{
		if (st->reader_is_new)
			Break(st, path, "property added to an open content model (old data may hold any value there)");
		else
			Break(st, path, "property removed from an open content model (new data may hold any value there)");
	}
	else
		Check(st, ws, rs, path);
	Restore(path, pathlen);
}

static void
CheckObject(CompatState *st, const CourierSchemaNode *w, const CourierSchemaNode *r,
			StringInfo path)
{
	int			pathlen = path->len;
	int			i;

	for (i = 0; i < r->nrequired; i++)
	{
		if (Requires(w, r->required[i], r->required_len[i]))
			continue;
		CourierSchemaAppendPath(path, r->required[i], r->required_len[i]);
		Break(st, path, st->reader_is_new ? "became required" : "is no longer required");
		Restore(path, pathlen);
	}

	/* every name either side describes */
	for (i = 0; i < r->nproperties; i++)
		CheckProperty(st, w, r, r->properties[i].name, r->properties[i].namelen, path);
	for (i = 0; i < w->nproperties; i++)
		if (Property(r, w->properties[i].name, w->properties[i].namelen) == NULL)
			CheckProperty(st, w, r, w->properties[i].name, w->properties[i].namelen, path);

	/* and every other name */
	if (r->has_additional && !r->additional->trivial)
	{
		const CourierSchemaNode *wa = w->has_additional ? w->additional : NULL;

		if (wa != NULL && wa->is_false)
			return;
		if (r->additional->is_false)
		{
			if (st->reader_is_new)
				Break(st, path, "additionalProperties closed (old data may have other properties)");
			else
				Break(st, path, "additionalProperties opened (the old schema allows no other properties)");
		}
		else
		{
			appendStringInfoString(path, ".*");
			Check(st, wa ? wa : &any_node, r->additional, path);
			Restore(path, pathlen);
		}
	}
}

static void
CheckValues(CompatState *st, const CourierSchemaNode *w, const CourierSchemaNode *r,
			StringInfo path)
{
	Jsonb	  **wvals;
	int			nw;
	int			i,
				j;

	if (r->const_value == NULL && r->enum_values == NULL)
		return;
	if (w->const_value != NULL)
	{
		wvals = (Jsonb **) &w->const_value;
		nw = 1;
	}
	else
	{
		wvals = w->enum_values;
		nw = w->nenum;
	}
	if (wvals == NULL)
	{
		if (r->const_value != NULL)
			Break(st, path, "const %s %s", JsonText(r->const_value),
				  st->reader_is_new ? "added" : "removed");
		else
			Break(st, path, st->reader_is_new ? "values restricted to an enum" : "enum removed");
		return;
	}
	if (r->const_value != NULL && w->const_value != NULL)
	{
		if (!SameValue(r->const_value, w->const_value))
			Break(st, path, "const changed from %s to %s",
				  JsonText(OLD_OF(st, w->const_value, r->const_value)),
				  JsonText(NEW_OF(st, w->const_value, r->const_value)));
		return;
	}
	for (i = 0; i < nw; i++)
	{
		bool		found = false;

		if (r->const_value != NULL)
			found = SameValue(wvals[i], r->const_value);
		for (j = 0; !found && j < r->nenum; j++)
			found = SameValue(wvals[i], r->enum_values[j]);
		if (!found)
			Break(st, path, "enum value %s %s", JsonText(wvals[i]),
				  st->reader_is_new ? "removed" : "added");
	}
}

/*
 * Report why a value the writer w accepts may be rejected by the reader r.
 */
static void
Check(CompatState *st, const CourierSchemaNode *w, const CourierSchemaNode *r,
	  StringInfo path)
{
	int			wtypes;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	if (r == NULL || r->trivial)
		return;
	if (w == NULL)
		w = &any_node;
	if (w->is_false)
		return;
	if (r->is_false)
	{
		Break(st, path, st->reader_is_new ? "no value is allowed any more" :
			  "values are allowed where the old schema allows none");
		return;
	}

	wtypes = EffectiveTypes(w);
	if (r->types != 0)
	{
		if (wtypes == 0)
			Break(st, path, st->reader_is_new ? "type restricted to %s" :
				  "type restriction to %s removed", TypeText(r->types));
		else
		{
			int			lost = 0;
			int			i;

			for (i = 0; type_names[i].name != NULL; i++)
			{
				int			t = type_names[i].bit;

				if (!(wtypes & t) || (r->types & t) ||
					(t == SCHEMA_T_INTEGER && (r->types & SCHEMA_T_NUMBER)))
					continue;
				lost |= t;
			}
			if (lost != 0)
			{
				int			old = OLD_OF(st, wtypes, r->types);
				int			new = NEW_OF(st, wtypes, r->types);

				Break(st, path, "type changed from %s to %s", TypeText(old), TypeText(new));
			}
		}
	}

	CheckValues(st, w, r, path);

	if (MayBe(wtypes, SCHEMA_T_NUMBER | SCHEMA_T_INTEGER))
	{
		if (r->minimum != NULL && (w->minimum == NULL || NumCmp(w->minimum, r->minimum) < 0))
			NumBound(st, path, "minimum", OLD_OF(st, w->minimum, r->minimum),
					 NEW_OF(st, w->minimum, r->minimum));
		if (r->maximum != NULL && (w->maximum == NULL || NumCmp(w->maximum, r->maximum) > 0))
			NumBound(st, path, "maximum", OLD_OF(st, w->maximum, r->maximum),
					 NEW_OF(st, w->maximum, r->maximum));
	}
	if (MayBe(wtypes, SCHEMA_T_STRING))
	{
		if (r->min_length >= 0 && (w->min_length < 0 || w->min_length < r->min_length))
			LengthBound(st, path, "minLength", OLD_OF(st, w->min_length, r->min_length),
						NEW_OF(st, w->min_length, r->min_length));
		if (r->max_length >= 0 && (w->max_length < 0 || w->max_length > r->max_length))
			LengthBound(st, path, "maxLength", OLD_OF(st, w->max_length, r->max_length),
						NEW_OF(st, w->max_length, r->max_length));
		if (r->pattern != NULL &&
			(w->pattern == NULL ||
			 VARSIZE_ANY_EXHDR(w->pattern) != VARSIZE_ANY_EXHDR(r->pattern) ||
			 memcmp(VARDATA_ANY(w->pattern), VARDATA_ANY(r->pattern),
					VARSIZE_ANY_EXHDR(r->pattern)) != 0))
		{
			text	   *old = OLD_OF(st, w->pattern, r->pattern);
			text	   *new = NEW_OF(st, w->pattern, r->pattern);

			if (old == NULL)
				Break(st, path, "pattern \"%s\" added", text_to_cstring(new));
			else if (new == NULL)
				Break(st, path, "pattern \"%s\" removed", text_to_cstring(old));
			else
				Break(st, path, "pattern changed from \"%s\" to \"%s\"",
					  text_to_cstring(old), text_to_cstring(new));
		}
		if (r->format_date_time && !w->format_date_time)
			Break(st, path, st->reader_is_new ? "format \"date-time\" added" :
				  "format \"date-time\" removed");
	}
	if (MayBe(wtypes, SCHEMA_T_OBJECT))
		CheckObject(st, w, r, path);
	if (MayBe(wtypes, SCHEMA_T_ARRAY) && r->items != NULL && !r->items->trivial)
	{
		int			pathlen = path->len;

		appendStringInfoString(path, "[*]");
		Check(st, w->items ? w->items : &any_node, r->items, path);
		Restore(path, pathlen);
	}
}

/* The modes, and what each checks. */
static bool
ParseMode(const char *mode, bool *backward, bool *forward, bool *transitive)
{
	static const struct
	{
		const char *name;
		bool		b,
					f,
					t;
	}			modes[] =
	{
		{"BACKWARD", true, false, false},
		{"BACKWARD_TRANSITIVE", true, false, true},
		{"FORWARD", false, true, false},
		{"FORWARD_TRANSITIVE", false, true, true},
		{"FULL", true, true, false},
		{"FULL_TRANSITIVE", true, true, true},
		{"NONE", false, false, false},
		{NULL, false, false, false}
	};
	int			i;

	for (i = 0; modes[i].name != NULL; i++)
		if (pg_strcasecmp(mode, modes[i].name) == 0)
		{
			*backward = modes[i].b;
			*forward = modes[i].f;
			*transitive = modes[i].t;
			return true;
		}
	return false;
}

static void
CheckMode(const char *mode)
{
	bool		b,
				f,
				t;

	if (!ParseMode(mode, &b, &f, &t))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid compatibility \"%s\"", mode),
				 errhint("The modes are BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE and NONE.")));
}

/*
 * The breaks of new_schema against the previous versions (oldest first,
 * versions[i] naming previous[i]) under mode: a list of lines (char *),
 * NIL when it is compatible.  Non-transitive modes check the latest only.
 */
List *
CourierSchemaCompatReport(const CourierSchemaNode *new_schema,
						  const CourierSchemaNode *const *previous,
						  const int32 *versions, int nprevious, const char *mode)
{
	CompatState st;
	bool		backward = false,
				forward = false,
				transitive = false;
	StringInfoData path;
	int			i;

	CheckMode(mode);
	(void) ParseMode(mode, &backward, &forward, &transitive);
	memset(&st, 0, sizeof(st));
	initStringInfo(&path);
	appendStringInfoChar(&path, '$');
	/* newest first: the breaks against the latest version come first */
	for (i = nprevious - 1; i >= 0; i--)
	{
		if (!transitive && i != nprevious - 1)
			break;
		st.version = versions[i];
		if (backward)
		{
			st.reader_is_new = true;
			Check(&st, previous[i], new_schema, &path);
		}
		if (forward)
		{
			st.reader_is_new = false;
			Check(&st, new_schema, previous[i], &path);
		}
	}
	pfree(path.data);
	return st.lines;
}

static int
SchemaArray(ArrayType *arr, const char *name, Datum **elems, bool **nulls)
{
	int			n;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", name)));
	deconstruct_array(arr, JSONBOID, -1, false, TYPALIGN_INT, elems, nulls, &n);
	return n;
}

static List *
Report(Jsonb *new_schema, ArrayType *previous, int32 *versions, const char *mode)
{
	CourierSchemaNode *new_node;
	CourierSchemaNode **old_nodes;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;

	CheckMode(mode);
	n = SchemaArray(previous, "previous_schemas", &elems, &nulls);
	new_node = CourierSchemaCompile(new_schema, CurrentMemoryContext);
	old_nodes = palloc(sizeof(CourierSchemaNode *) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("previous_schemas must not contain nulls"),
					 errdetail("Element %d is null.", i + 1)));
		old_nodes[i] = CourierSchemaCompile(DatumGetJsonbP(elems[i]), CurrentMemoryContext);
		if (versions[i] == 0)
			versions[i] = i + 1;
	}
	return CourierSchemaCompatReport(new_node, (const CourierSchemaNode *const *) old_nodes,
									 versions, n, mode);
}

/*
 * courier._schema_compat_report(new_schema jsonb, previous jsonb[],
 *		versions integer[], compatibility text) RETURNS text[]
 *
 * register_schema()'s check: previous in version order, oldest first.
 */
Datum
courier_schema_compat_report(PG_FUNCTION_ARGS)
{
	ArrayType  *previous = PG_GETARG_ARRAYTYPE_P(1);
	ArrayType  *varr = PG_GETARG_ARRAYTYPE_P(2);
	Datum	   *vel;
	bool	   *vnull;
	int			nv;
	int32	   *versions;
	List	   *lines;
	ListCell   *lc;
	Datum	   *out;
	int			i = 0;

	deconstruct_array(varr, INT4OID, 4, true, TYPALIGN_INT, &vel, &vnull, &nv);
	if (nv != ArrayGetNItems(ARR_NDIM(previous), ARR_DIMS(previous)))
		elog(ERROR, "courier: one version per previous schema expected");
	versions = palloc0(sizeof(int32) * Max(nv, 1));
	for (i = 0; i < nv; i++)
		versions[i] = DatumGetInt32(vel[i]);
	lines = Report(PG_GETARG_JSONB_P(0), previous, versions,
				   text_to_cstring(PG_GETARG_TEXT_PP(3)));
	out = palloc(sizeof(Datum) * Max(list_length(lines), 1));
	i = 0;
	foreach(lc, lines)
		out[i++] = CStringGetTextDatum((char *) lfirst(lc));
	PG_RETURN_ARRAYTYPE_P(construct_array(out, i, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * courier.test_schema_compatibility(new_schema jsonb, previous_schemas jsonb[],
 *		compatibility text = 'BACKWARD') RETURNS SETOF text
 *
 * What register_schema() would report for a type whose versions are
 * previous_schemas (oldest first, numbered 1, 2, ...): no rows when
 * new_schema may follow them.
 */
Datum
courier_test_schema_compatibility(PG_FUNCTION_ARGS)
{
	ArrayType  *previous;
	int32	   *versions;
	List	   *lines;
	ListCell   *lc;
	TupleDesc	tupdesc;
	Tuplestorestate *tupstore;

	CourierArgNotNull(fcinfo, 0, "new_schema");
	CourierArgNotNull(fcinfo, 1, "previous_schemas");
	CourierArgNotNull(fcinfo, 2, "compatibility");
	previous = PG_GETARG_ARRAYTYPE_P(1);
	versions = palloc0(sizeof(int32) *
					   Max(ArrayGetNItems(ARR_NDIM(previous), ARR_DIMS(previous)), 1));
	lines = Report(PG_GETARG_JSONB_P(0), previous, versions,
				   text_to_cstring(PG_GETARG_TEXT_PP(2)));
	tupstore = CourierMaterialize(fcinfo, &tupdesc);
	foreach(lc, lines)
	{
		Datum		value = CStringGetTextDatum((char *) lfirst(lc));
		bool		null = false;

		tuplestore_putvalues(tupstore, tupdesc, &value, &null);
	}
	return (Datum) 0;
}
