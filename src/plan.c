/*-------------------------------------------------------------------------
 *
 * plan.c
 *	  Plans prepared once per backend, and set-returning plumbing.
 *
 * Every statement pg_courier runs through SPI is parsed and planned once per
 * backend, as a generic plan, and kept (SPI_keepplan); the plan cache re-plans
 * it by itself when
 * a table it uses changes, or when the caller's search_path changes.  That
 * last point is why every statement here names schemas and operators in
 * full (courier.messages, OPERATOR(pg_catalog.=)): re-planning resolves
 * names under the caller's search_path, so nothing may depend on it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"

#include "plan.h"

static bool schema_checked = false;

/*
 * The SQL objects must be those of this library's version: after a new
 * library is installed, its statements fail on the old tables until
 * ALTER EXTENSION ... UPDATE has run.  Say so instead of failing obscurely.
 * Checked once per backend, before the first plan is prepared.
 */
static void
CheckSchemaVersion(void)
{
	char	   *installed;

	if (SPI_execute("SELECT extversion FROM pg_catalog.pg_extension"
					" WHERE extname OPERATOR(pg_catalog.=) 'pg_courier'",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the pg_courier extension version");
	installed = SPI_processed == 1
		? SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) : NULL;
	if (installed == NULL || strcmp(installed, COURIER_VERSION) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_courier library version %s does not match the installed extension version %s",
						COURIER_VERSION, installed ? installed : "(none)"),
				 errhint("Run ALTER EXTENSION pg_courier UPDATE; in this database.")));
	schema_checked = true;
}

/*
 * Return the plan cached in *cache, preparing and keeping it on first use.
 * The caller must be connected to SPI.
 */
SPIPlanPtr
CourierPlan(SPIPlanPtr *cache, const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan;

	if (*cache != NULL)
		return *cache;
	if (!schema_checked)
		CheckSchemaVersion();

	/*
	 * Always the generic plan: the statements are keyed lookups whose best
	 * plan does not depend on the values, and with the default choice the
	 * plan cache replanned receive() on every call (its LIMIT parameter makes
	 * the generic plan look far costlier than it is, so a custom plan always
	 * "won").  Planning once per backend is what makes the hot paths cheap.
	 */
	plan = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for pg_courier statement: %s",
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	*cache = plan;
	return plan;
}

/*
 * Set up materialize mode for a set-returning function: the returned
 * tuplestore lives in the per-query context, so rows put into it outlive
 * SPI_finish().  A function returning SETOF a scalar gets a one-column
 * descriptor.
 */
Tuplestorestate *
CourierMaterialize(FunctionCallInfo fcinfo, TupleDesc *tupdesc)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext oldcontext;
	Tuplestorestate *tupstore;
	TupleDesc	desc;
	Oid			rettype;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	if (!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("materialize mode required, but it is not allowed in this context")));

	oldcontext = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);

	switch (get_call_result_type(fcinfo, &rettype, &desc))
	{
		case TYPEFUNC_COMPOSITE:
			desc = CreateTupleDescCopy(desc);
			break;
		case TYPEFUNC_SCALAR:
			desc = CreateTemplateTupleDesc(1);
			TupleDescInitEntry(desc, (AttrNumber) 1, "result", rettype, -1, 0);
			break;
		default:
			elog(ERROR, "unexpected result type for a pg_courier set-returning function");
	}

	tupstore = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = tupstore;
	rsinfo->setDesc = desc;

	MemoryContextSwitchTo(oldcontext);

	*tupdesc = desc;
	return tupstore;
}
