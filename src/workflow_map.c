/*-------------------------------------------------------------------------
 *
 * workflow_map.c
 *	  Parallel and Map states: their branches and iterations run as child
 *	  executions.
 *
 * Vocabulary:
 *	  child        a row of courier.executions with a parent_execution_id:
 *	               one branch of a Parallel state, or one item of a Map
 *	               state, run by the engine like any execution (it can Wait,
 *	               retry with backoff, run nested Parallel and Map states)
 *	  branch path  which sub-machine a child runs: {state, branch index,
 *	               state, branch index, ...} from the top machine down
 *	               (a Map's ItemProcessor is its branch 0)
 *	  attempt      one run of a Parallel or Map state: Retry and loops enter
 *	               it again; the parent's children_from is the lowest id of
 *	               the current attempt's children (ids only grow)
 *	  pending      a Map iteration waiting for a MaxConcurrency slot
 *	               (status PENDING, not due)
 *
 * The parent enters the state, creates all its children (running, or
 * pending beyond MaxConcurrency), and waits in PHASE_CHILDREN, due only at
 * its execution's timeout or a periodic recheck.  A child that ends makes its parent
 * due (next_step_at) by updating the parent's row, which serialises
 * children finishing in concurrent transactions; each child's result stays
 * in its own row, so none is lost.  The woken parent counts its children:
 * it starts pending ones into free slots, fails when a failure is not
 * tolerated (stopping the others), or, when all succeeded, collects their
 * outputs in branch or item order.  Children are due at once, so pure
 * branches finish within the same run of courier._run_executions.
 *
 * Lock order is child, then parent: the parent never waits for a child's
 * row (it stops children with SKIP LOCKED), and a child taken after its
 * parent stopped waiting for it is aborted instead of run.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "asl_path.h"
#include "asl_template.h"
#include "clock.h"
#include "jsonb_build.h"
#include "plan.h"
#include "workflow_map.h"

static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr children_from_plan = NULL;
static SPIPlanPtr counts_plan = NULL;
static SPIPlanPtr failure_plan = NULL;
static SPIPlanPtr start_plan = NULL;
static SPIPlanPtr outputs_plan = NULL;
static SPIPlanPtr stop_plan = NULL;
static SPIPlanPtr wanted_plan = NULL;
static SPIPlanPtr wanted_lock_plan = NULL;
static SPIPlanPtr wake_plan = NULL;
static SPIPlanPtr parent_history_plan = NULL;

static SPIPlanPtr root_input_plan = NULL;

/* The time of the run that took the child now being stepped. */
static TimestampTz child_now = 0;

/*
 * The input of the top-level execution whose children are being stepped
 * ($$.Execution.Input in every branch), kept for the transaction: children
 * of one execution follow each other, and copying a large input into every
 * child's row would cost as much as the whole Map.
 */
static struct
{
	char	   *machine;
	char	   *name;
	Jsonb	   *input;
	MemoryContextCallback reset;
} root_cache;
static bool root_cached = false;

/*----------
 * Jsonb helpers.
 *----------
 */

/* Push a document as a value (WJB_VALUE) or an array element (WJB_ELEM). */
static void
PushDocument(JsonbParseState **st, JsonbIteratorToken tok, Jsonb *doc)
{
	JsonbValue	v;

	pushJsonbValue(st, tok, CourierJsonbAsValue(doc, &v));
}

/* History details of the state: {"name": state, "length": n}. */
static Jsonb *
StartedDetails(const AslState *s, int n)
{
	JsonbParseState *st = NULL;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	CourierPushText(&st, "name", s->name);
	CourierPushInt(&st, "length", n);
	return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
}

/* History details of an iteration: {"name", "index", "executionId", ...}. */
static Jsonb *
IterationDetails(const char *state, int32 index, int64 child, const char *error,
				 const char *cause)
{
	JsonbParseState *st = NULL;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	CourierPushText(&st, "name", state);
	CourierPushInt(&st, "index", index);
	CourierPushInt(&st, "executionId", child);
	if (error != NULL)
		CourierPushText(&st, "error", error);
	if (cause != NULL)
		CourierPushText(&st, "cause", cause);
	return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
}

/* The context object with $$.Map.Item for ItemSelector. */
static Jsonb *
ItemContext(Jsonb *context, int index, Jsonb *item)
{
	JsonbParseState *st = NULL;
	Jsonb	   *map;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	CourierPushKey(&st, "Map");
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	CourierPushKey(&st, "Item");
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	CourierPushInt(&st, "Index", index);
	CourierPushKey(&st, "Value");
	PushDocument(&st, WJB_VALUE, item);
	pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	map = JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
	return DatumGetJsonbP(DirectFunctionCall2(jsonb_concat, JsonbPGetDatum(context),
											  JsonbPGetDatum(map)));
}

static BranchesResult
RuntimeFail(StateFailure *fail, AslError *err)
{
	fail->error = pstrdup(err->error ? err->error : "States.Runtime");
	fail->cause = err->cause;
	return BRANCHES_FAILED;
}

/* A non-negative number a *Path field of a Map selects; false: none. */
static bool
PathNumber(const AslState *s, const AslPath *path, const char *field, double max,
		   Jsonb *in, Jsonb *context, double *out, AslError *err)
{
	Jsonb	   *v;
	JsonbValue	scalar;
	double		d;

	if (!AslPathEvaluate(path, in, context, &v, err))
		return false;
	if (!JB_ROOT_IS_SCALAR(v) || !JsonbExtractScalar(&v->root, &scalar) ||
		scalar.type != jbvNumeric || (d = AslNumberValue(&scalar, -1)) < 0 || d > max)
	{
		err->error = "States.Runtime";
		err->cause = psprintf("the %s of Map state \"%s\" does not select a number from 0 to %g",
							  field, s->name, max);
		return false;
	}
	*out = d;
	return true;
}

/* MaxConcurrency and the tolerated failures of a Map state. */
static bool
MapLimits(const AslState *s, Jsonb *in, Jsonb *context, int *max_concurrency,
		  double *tolerated_count, double *tolerated_percentage, AslError *err)
{
	double		d;

	*max_concurrency = s->max_concurrency;
	*tolerated_count = s->tolerated_count;
	*tolerated_percentage = s->tolerated_percentage;
	if (s->max_concurrency_path)
	{
		if (!PathNumber(s, s->max_concurrency_path, "MaxConcurrencyPath", PG_INT32_MAX, in,
						context, &d, err))
			return false;
		*max_concurrency = (int) d;
	}
	if (s->tolerated_count_path &&
		!PathNumber(s, s->tolerated_count_path, "ToleratedFailureCountPath", PG_INT32_MAX, in,
					context, tolerated_count, err))
		return false;
	if (s->tolerated_percentage_path &&
		!PathNumber(s, s->tolerated_percentage_path, "ToleratedFailurePercentagePath", 100, in,
					context, tolerated_percentage, err))
		return false;
	return true;
}

/*----------
 * Children.
 *----------
 */

static int64
InsertChild(const Execution *x, const AslState *s, int index, int branch, Jsonb *input,
			bool running, TimestampTz now)
{
	Oid			argtypes[14] = {TEXTOID, TEXTOID, INT4OID, INT4OID, TEXTOID, TIMESTAMPTZOID,
		TIMESTAMPTZOID, TEXTOID, TEXTOID, JSONBOID, JSONBOID, INT4OID, INT8OID, TEXTARRAYOID};
	Datum		values[14];
	char		nulls[14];
	Datum	   *path;
	int			i;
	bool		isnull;
	SPIPlanPtr	plan;

	/* a child belongs to its parent's flow: the same correlation and causation ids */
	plan = CourierPlan(&insert_plan,
					   "WITH n AS (SELECT pg_catalog.nextval('courier.execution_id_seq') AS id)"
					   " INSERT INTO courier.executions"
					   "  (execution_id, state_machine_name, execution_name, version, status,"
					   "   started_at, next_step_at, current_state, state_entered_at, started_by,"
					   "   input, state_input, redrive_count, parent_execution_id, branch_path,"
					   "   item_index, correlation_id, causation_id)"
					   " SELECT n.id, $1, pg_catalog.format('%s/%s-%s', $2, $3, n.id), $4, $5,"
					   "        $6, $7, $8, $6, $9::pg_catalog.name, $10, $11, $12, $13, $14, $3,"
					   "        p.correlation_id, p.causation_id"
					   "   FROM n, courier.executions AS p"
					   "  WHERE p.execution_id OPERATOR(pg_catalog.=) $13"
					   " RETURNING execution_id",
					   14, argtypes);
	memset(nulls, ' ', sizeof(nulls));
	path = palloc(sizeof(Datum) * (x->nbranch_path + 2));
	for (i = 0; i < x->nbranch_path; i++)
		path[i] = CStringGetTextDatum(x->branch_path[i]);
	path[i++] = CStringGetTextDatum(s->name);
	path[i++] = CStringGetTextDatum(psprintf("%d", branch));
	values[0] = CStringGetTextDatum(x->machine_name);
	values[1] = CStringGetTextDatum(x->name);
	values[2] = Int32GetDatum(index);
	values[3] = Int32GetDatum(x->version);
	values[4] = CStringGetTextDatum(running ? "RUNNING" : "PENDING");
	values[5] = TimestampTzGetDatum(now);
	values[6] = TimestampTzGetDatum(now);
	if (!running)
		nulls[6] = 'n';
	values[7] = CStringGetTextDatum(s->branches[branch]->start_at);
	values[8] = CStringGetTextDatum(x->started_by);
	values[9] = JsonbPGetDatum(input);	/* $$.Execution.Input is the top's */
	values[10] = JsonbPGetDatum(input);
	values[11] = Int32GetDatum(x->redrive_count);
	values[12] = Int64GetDatum(x->id);
	values[13] = PointerGetDatum(construct_array(path, i, TEXTOID, -1, false, TYPALIGN_INT));
	if (SPI_execute_plan(plan, values, nulls, false, 1) != SPI_OK_INSERT_RETURNING ||
		SPI_processed != 1)
		elog(ERROR, "courier: child execution insert failed");
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Abort the running and pending children (at any depth) of the parent; with
 * the state, a Map's aborted running iterations go into its history.
 */
static void
StopChildren(Execution *x, const AslState *s)
{
	Oid			argtypes[2] = {INT8OID, TIMESTAMPTZOID};
	Datum		values[2];
	SPIPlanPtr	plan;
	SPITupleTable *tuptable;
	uint64		n,
				i;

	plan = CourierPlan(&stop_plan,
					   "SELECT s.execution_id, s.item_index, s.was"
					   "  FROM courier._stop_children($1, $2) AS s"
					   " WHERE s.parent_execution_id OPERATOR(pg_catalog.=) $1"
					   " ORDER BY s.item_index",
					   2, argtypes);
	values[0] = Int64GetDatum(x->id);
	values[1] = TimestampTzGetDatum(CourierNow());
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "courier: stopping child executions failed");
	if (s == NULL || s->type != STATE_MAP)
		return;
	tuptable = SPI_tuptable;
	n = SPI_processed;
	for (i = 0; i < n; i++)
	{
		bool		isnull;
		HeapTuple	tup = tuptable->vals[i];
		char	   *was = TextDatumGetCString(SPI_getbinval(tup, tuptable->tupdesc, 3, &isnull));

		CHECK_FOR_INTERRUPTS();
		if (strcmp(was, "RUNNING") == 0)
			WorkflowHistory(x, "MapIterationAborted",
							IterationDetails(s->name,
											 DatumGetInt32(SPI_getbinval(tup, tuptable->tupdesc, 2, &isnull)),
											 DatumGetInt64(SPI_getbinval(tup, tuptable->tupdesc, 1, &isnull)),
											 NULL, NULL));
	}
	SPI_freetuptable(tuptable);
}

void
WorkflowStopChildren(Execution *x)
{
	StopChildren(x, NULL);
}

/*
 * The parent waits for its children: a child that ends makes it due.  It
 * is due anyway at its execution's timeout, and every CHILDREN_RECHECK: a
 * stop that could not lock a child running in another transaction leaves
 * it to the next look at it, and a child that waits for children of its
 * own would otherwise never be looked at again.
 */
#define CHILDREN_RECHECK (5 * 60 * USECS_PER_SEC)

static void
WaitForChildren(Execution *x, TimestampTz now)
{
	x->phase = PHASE_CHILDREN;
	x->next_step_at = now + CHILDREN_RECHECK;
	if (x->timeout_at != 0 && x->timeout_at < x->next_step_at)
		x->next_step_at = x->timeout_at;
}

/* Enter the state: create the children, and wait for them. */
static BranchesResult
StartChildren(Execution *x, const AslState *s, Jsonb *in, Jsonb *context, TimestampTz now,
			  Jsonb **result, StateFailure *fail)
{
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		values[2];
	AslError	err;
	Jsonb	  **inputs;
	int			n;
	int			running;
	int			i;
	int64		first = 0;
	SPIPlanPtr	plan;

	memset(&err, 0, sizeof(err));
	if (s->type == STATE_PARALLEL)
	{
		Jsonb	   *effective = in;

		if (s->parameters != NULL &&
			!AslTemplateApply(s->parameters, in, context, &effective, &err))
			return RuntimeFail(fail, &err);
		n = s->nbranches;
		inputs = palloc(sizeof(Jsonb *) * n);
		for (i = 0; i < n; i++)
			inputs[i] = effective;
		running = n;
	}
	else
	{
		Jsonb	   *items = in;
		const AslTemplate *selector = s->item_selector ? s->item_selector : s->parameters;
		JsonbIterator *it;
		JsonbValue	v;
		JsonbIteratorToken tok;
		int			max_concurrency;
		double		tc,
					tp;

		if (s->items_path != NULL &&
			!AslPathEvaluate(s->items_path, in, context, &items, &err))
			return RuntimeFail(fail, &err);
		if (JB_ROOT_IS_SCALAR(items) || !JB_ROOT_IS_ARRAY(items))
		{
			fail->error = pstrdup("States.Runtime");
			fail->cause = psprintf("the ItemsPath of Map state \"%s\" (%s) does not select an array",
								   s->name, s->items_path ? AslPathText(s->items_path) : "$");
			return BRANCHES_FAILED;
		}
		if (!MapLimits(s, in, context, &max_concurrency, &tc, &tp, &err))
			return RuntimeFail(fail, &err);
		n = JsonContainerSize(&items->root);
		inputs = palloc(sizeof(Jsonb *) * Max(n, 1));
		i = 0;
		it = JsonbIteratorInit(&items->root);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			Jsonb	   *item;

			if (tok != WJB_ELEM)
				continue;
			CHECK_FOR_INTERRUPTS();
			item = JsonbValueToJsonb(&v);
			if (selector != NULL &&
				!AslTemplateApply(selector, in, ItemContext(context, i, item), &item, &err))
				return RuntimeFail(fail, &err);
			inputs[i++] = item;
		}
		running = max_concurrency > 0 ? Min(n, max_concurrency) : n;
	}

	WorkflowHistory(x, psprintf("%sStateStarted", state_type_names[s->type]), StartedDetails(s, n));
	if (n == 0)
	{
		JsonbParseState *st = NULL;

		pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
		*result = JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_ARRAY, NULL));
		WorkflowHistory(x, psprintf("%sStateSucceeded", state_type_names[s->type]),
						WorkflowStateDetails(s->name, "output", *result));
		return BRANCHES_DONE;
	}
	for (i = 0; i < n; i++)
	{
		int64		id;

		CHECK_FOR_INTERRUPTS();
		id = InsertChild(x, s, i, s->type == STATE_PARALLEL ? i : 0, inputs[i], i < running, now);
		if (i == 0)
			first = id;
		if (s->type == STATE_MAP && i < running)
			WorkflowHistory(x, "MapIterationStarted", IterationDetails(s->name, i, id, NULL, NULL));
	}

	plan = CourierPlan(&children_from_plan,
					   "UPDATE courier.executions AS e SET children_from = $2"
					   " WHERE e.execution_id OPERATOR(pg_catalog.=) $1",
					   2, argtypes);
	values[0] = Int64GetDatum(x->id);
	values[1] = Int64GetDatum(first);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "courier: execution update failed");
	x->children_from = first;
	WaitForChildren(x, now);
	return BRANCHES_WAIT;
}

/* Woken by a child: start pending ones, fail, or collect the outputs. */
static BranchesResult
CollectChildren(Execution *x, const AslState *s, Jsonb *in, Jsonb *context, TimestampTz now,
				Jsonb **result, StateFailure *fail)
{
	Oid			argtypes[4] = {INT8OID, INT8OID, INT4OID, TIMESTAMPTZOID};
	Datum		values[4];
	SPIPlanPtr	plan;
	bool		isnull;
	int64		running,
				pending,
				failed,
				total;
	int			max_concurrency = 0;
	double		tc = -1,
				tp = -1;
	AslError	err;
	const char *type = state_type_names[s->type];

	memset(&err, 0, sizeof(err));
	if (s->type == STATE_MAP &&
		!MapLimits(s, in, context, &max_concurrency, &tc, &tp, &err))
	{
		StopChildren(x, s);
		x->phase = PHASE_ENTER;
		return RuntimeFail(fail, &err);
	}

	values[0] = Int64GetDatum(x->id);
	values[1] = Int64GetDatum(x->children_from);
	plan = CourierPlan(&counts_plan,
					   "SELECT pg_catalog.count(*) FILTER (WHERE c.status OPERATOR(pg_catalog.=) 'RUNNING'),"
					   "       pg_catalog.count(*) FILTER (WHERE c.status OPERATOR(pg_catalog.=) 'PENDING'),"
					   "       pg_catalog.count(*) FILTER (WHERE c.status OPERATOR(pg_catalog.=)"
					   "                                   ANY ('{FAILED,TIMED_OUT,ABORTED}'::pg_catalog.text[])),"
					   "       pg_catalog.count(*)"
					   "  FROM courier.executions AS c"
					   " WHERE c.parent_execution_id OPERATOR(pg_catalog.=) $1"
					   "   AND c.execution_id OPERATOR(pg_catalog.>=) $2",
					   2, argtypes);
	if (SPI_execute_plan(plan, values, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "courier: child executions lookup failed");
	running = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	pending = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	failed = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	total = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull));

	if (failed > 0)
	{
		bool		tolerant = s->type == STATE_MAP && (tc >= 0 || tp >= 0);

		if (!tolerant)
		{
			/* the state fails with the error of the branch that failed first */
			plan = CourierPlan(&failure_plan,
							   "SELECT COALESCE(c.error, 'States.BranchFailed'), c.cause"
							   "  FROM courier.executions AS c"
							   " WHERE c.parent_execution_id OPERATOR(pg_catalog.=) $1"
							   "   AND c.execution_id OPERATOR(pg_catalog.>=) $2"
							   "   AND c.status OPERATOR(pg_catalog.=)"
							   "       ANY ('{FAILED,TIMED_OUT,ABORTED}'::pg_catalog.text[])"
							   " ORDER BY c.stopped_at, c.item_index"
							   " LIMIT 1",
							   2, argtypes);
			if (SPI_execute_plan(plan, values, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
				elog(ERROR, "courier: child executions lookup failed");
			fail->error = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
			fail->cause = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		}
		else if ((tc >= 0 && failed > tc) || (tp >= 0 && failed * 100.0 > tp * total))
		{
			fail->error = pstrdup("States.ExceedToleratedFailureThreshold");
			fail->cause = psprintf("%lld of the %lld iterations of Map state \"%s\" failed, more than it tolerates",
								   (long long) failed, (long long) total, s->name);
		}
		if (fail->error != NULL)
		{
			StopChildren(x, s);
			WorkflowHistory(x, psprintf("%sStateFailed", type),
							WorkflowErrorDetails(s->name, fail->error, fail->cause));
			x->phase = PHASE_ENTER;
			return BRANCHES_FAILED;
		}
	}

	if (running + pending == 0)
	{
		JsonbParseState *st = NULL;
		SPITupleTable *tuptable;
		uint64		n,
					i;

		plan = CourierPlan(&outputs_plan,
						   "SELECT c.status, c.output, c.error, c.cause"
						   "  FROM courier.executions AS c"
						   " WHERE c.parent_execution_id OPERATOR(pg_catalog.=) $1"
						   "   AND c.execution_id OPERATOR(pg_catalog.>=) $2"
						   " ORDER BY c.item_index",
						   2, argtypes);
		if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "courier: child executions lookup failed");
		tuptable = SPI_tuptable;
		n = SPI_processed;
		pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
		for (i = 0; i < n; i++)
		{
			HeapTuple	tup = tuptable->vals[i];
			char	   *status = SPI_getvalue(tup, tuptable->tupdesc, 1);
			Datum		d;

			CHECK_FOR_INTERRUPTS();
			if (strcmp(status, "SUCCEEDED") == 0)
			{
				d = SPI_getbinval(tup, tuptable->tupdesc, 2, &isnull);
				PushDocument(&st, WJB_ELEM, isnull ? NULL : DatumGetJsonbP(d));
			}
			else
			{
				/* a tolerated failure: its error output, as Catch gives it */
				char	   *error = SPI_getvalue(tup, tuptable->tupdesc, 3);
				char	   *cause = SPI_getvalue(tup, tuptable->tupdesc, 4);

				pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
				CourierPushText(&st, "Error", error ? error : "States.BranchFailed");
				CourierPushText(&st, "Cause", cause ? cause : "");
				pushJsonbValue(&st, WJB_END_OBJECT, NULL);
			}
		}
		*result = JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_ARRAY, NULL));
		SPI_freetuptable(tuptable);
		WorkflowHistory(x, psprintf("%sStateSucceeded", type),
						WorkflowStateDetails(s->name, "output", *result));
		return BRANCHES_DONE;
	}

	if (pending > 0 && (max_concurrency == 0 || running < max_concurrency))
	{
		SPITupleTable *tuptable;
		uint64		n,
					i;

		values[2] = Int32GetDatum(max_concurrency == 0 ? (int32) pending
								  : (int32) (max_concurrency - running));
		values[3] = TimestampTzGetDatum(now);
		plan = CourierPlan(&start_plan,
						   "UPDATE courier.executions AS c"
						   "   SET status = 'RUNNING', next_step_at = $4,"
						   /* a redriven child keeps its start, and its wait for children */
						   "       started_at = CASE WHEN c.redriven_at IS NULL THEN $4"
						   "                         ELSE c.started_at END,"
						   "       state_entered_at = CASE WHEN c.state_phase OPERATOR(pg_catalog.=) 4"
						   "                               THEN c.state_entered_at ELSE $4 END"
						   " WHERE c.execution_id OPERATOR(pg_catalog.=) ANY (ARRAY("
						   "       SELECT p.execution_id FROM courier.executions AS p"
						   "        WHERE p.parent_execution_id OPERATOR(pg_catalog.=) $1"
						   "          AND p.execution_id OPERATOR(pg_catalog.>=) $2"
						   "          AND p.status OPERATOR(pg_catalog.=) 'PENDING'"
						   "        ORDER BY p.item_index LIMIT $3))"
						   " RETURNING c.execution_id, c.item_index",
						   4, argtypes);
		if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "courier: starting child executions failed");
		tuptable = SPI_tuptable;
		n = SPI_processed;
		for (i = 0; i < n; i++)
			WorkflowHistory(x, "MapIterationStarted",
							IterationDetails(s->name,
											 DatumGetInt32(SPI_getbinval(tuptable->vals[i], tuptable->tupdesc, 2, &isnull)),
											 DatumGetInt64(SPI_getbinval(tuptable->vals[i], tuptable->tupdesc, 1, &isnull)),
											 NULL, NULL));
		SPI_freetuptable(tuptable);
	}
	WaitForChildren(x, now);
	return BRANCHES_WAIT;
}

BranchesResult
WorkflowRunBranches(Execution *x, const AslState *s, Jsonb *context, TimestampTz now,
					Jsonb **result, StateFailure *fail)
{
	Jsonb	   *in;
	AslError	err;

	memset(&err, 0, sizeof(err));
	memset(fail, 0, sizeof(*fail));
	if (s->type == STATE_MAP && s->distributed)
	{
		fail->error = pstrdup("States.Runtime");
		fail->cause = psprintf("distributed Map states are not run by pg_courier 0.2 (state \"%s\")",
							   s->name);
		return BRANCHES_FAILED;
	}
	if (s->nbranches == 0)
		elog(ERROR, "courier: %s state \"%s\" has no branches", state_type_names[s->type], s->name);
	if (!AslApplyInputPath(s->input_path.path, s->input_path.is_null, x->state_input, context,
						   &in, &err))
	{
		if (x->phase == PHASE_CHILDREN)
		{
			StopChildren(x, s);
			x->phase = PHASE_ENTER;
		}
		return RuntimeFail(fail, &err);
	}
	if (x->phase != PHASE_CHILDREN)
		return StartChildren(x, s, in, context, now, result, fail);
	return CollectChildren(x, s, in, context, now, result, fail);
}

static void
RootCacheReset(void *arg pg_attribute_unused())
{
	root_cached = false;
}

/* The input of the top-level execution named root, cached for the transaction. */
static Jsonb *
RootInput(const Execution *x, const char *root)
{
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	SPIPlanPtr	plan;
	bool		isnull;
	Datum		d;
	MemoryContext old;

	if (root_cached && strcmp(root_cache.machine, x->machine_name) == 0 &&
		strcmp(root_cache.name, root) == 0)
		return root_cache.input;
	plan = CourierPlan(&root_input_plan,
					   "SELECT e.input FROM courier.executions AS e"
					   " WHERE e.state_machine_name OPERATOR(pg_catalog.=) $1"
					   "   AND e.execution_name OPERATOR(pg_catalog.=) $2",
					   2, argtypes);
	values[0] = CStringGetTextDatum(x->machine_name);
	values[1] = CStringGetTextDatum(root);
	if (SPI_execute_plan(plan, values, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "courier: execution \"%s\" of a branch execution not found", root);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	old = MemoryContextSwitchTo(TopTransactionContext);
	if (!root_cached)
	{
		/* forget it when the transaction ends */
		root_cache.reset.func = RootCacheReset;
		root_cache.reset.arg = NULL;
		MemoryContextRegisterResetCallback(TopTransactionContext, &root_cache.reset);
	}
	root_cache.machine = pstrdup(x->machine_name);
	root_cache.name = pstrdup(root);
	root_cache.input = DatumGetJsonbPCopy(d);
	root_cached = true;
	MemoryContextSwitchTo(old);
	return root_cache.input;
}

/*
 * The sub-machine a child runs; NULL when its parent no longer waits for it
 * (it stopped, failed, or moved on): the child is then aborted, with its
 * own children.
 */
const AslMachine *
WorkflowBranchMachine(Execution *x, const AslMachine *root, TimestampTz now)
{
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		values[2];
	SPIPlanPtr	plan;
	const AslMachine *m = root;
	int			i;

	child_now = now;
	plan = CourierPlan(&wanted_plan,
					   "SELECT 1 FROM courier.executions AS p"
					   " WHERE p.execution_id OPERATOR(pg_catalog.=) $1"
					   "   AND p.status OPERATOR(pg_catalog.=) 'RUNNING'"
					   "   AND p.state_phase OPERATOR(pg_catalog.=) 4"
					   "   AND p.children_from OPERATOR(pg_catalog.<=) $2",
					   2, argtypes);
	values[0] = Int64GetDatum(x->parent_id);
	values[1] = Int64GetDatum(x->id);
	if (SPI_execute_plan(plan, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "courier: parent execution lookup failed");
	if (SPI_processed == 0)
	{
		x->status = pstrdup("ABORTED");
		x->finished = true;
		x->next_step_at = 0;
		StopChildren(x, NULL);
		return NULL;
	}

	/*
	 * In the context object a child is the execution it belongs to: its
	 * $$.Execution.Name (and Id) are the top-level execution's, whose name
	 * its own begins with.  Its children are named after that, too.
	 */
	x->name = pnstrdup(x->name, strcspn(x->name, "/"));
	x->input = RootInput(x, x->name);

	for (i = 0; i + 1 < x->nbranch_path; i += 2)
	{
		const AslState *s = AslFindState(m, x->branch_path[i]);
		int			b = atoi(x->branch_path[i + 1]);

		if (s == NULL || b < 0 || b >= s->nbranches)
			elog(ERROR, "courier: execution " INT64_FORMAT " runs a branch its version does not have",
				 x->id);
		m = s->branches[b];
		x->map_iteration = s->type == STATE_MAP;
	}
	return m;
}

/*
 * A child ended (its row is saved after this): make its parent due, if it
 * still waits for it, and put a Map iteration's end into its history.  The
 * parent's row is locked first, so children ending in concurrent
 * transactions do this one after the other, each seeing the others' events.
 */
void
WorkflowBranchFinished(Execution *x)
{
	Oid			argtypes[3] = {INT8OID, INT8OID, TIMESTAMPTZOID};
	Oid			history_types[4] = {INT8OID, JSONBOID, TIMESTAMPTZOID, TEXTOID};
	Datum		values[4];
	SPIPlanPtr	plan;
	bool		isnull;
	const char *type;

	plan = CourierPlan(&wanted_lock_plan,
					   "SELECT p.next_step_at IS NULL OR p.next_step_at OPERATOR(pg_catalog.>) $3"
					   "  FROM courier.executions AS p"
					   " WHERE p.execution_id OPERATOR(pg_catalog.=) $1"
					   "   AND p.status OPERATOR(pg_catalog.=) 'RUNNING'"
					   "   AND p.state_phase OPERATOR(pg_catalog.=) 4"
					   "   AND p.children_from OPERATOR(pg_catalog.<=) $2"
					   "   FOR UPDATE OF p",
					   3, argtypes);
	values[0] = Int64GetDatum(x->parent_id);
	values[1] = Int64GetDatum(x->id);
	values[2] = TimestampTzGetDatum(child_now != 0 ? child_now : CourierNow());
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "courier: parent execution lookup failed");
	if (SPI_processed == 0)
		return;					/* it no longer waits for this child */
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
	{
		/* not yet due: make it so (once, rather than a row version per child) */
		plan = CourierPlan(&wake_plan,
						   "UPDATE courier.executions AS p SET next_step_at = $3"
						   " WHERE p.execution_id OPERATOR(pg_catalog.=) $1"
						   "   AND p.children_from OPERATOR(pg_catalog.<=) $2",
						   3, argtypes);
		if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "courier: parent execution update failed");
	}
	if (!x->map_iteration || x->nbranch_path < 2)
		return;

	if (strcmp(x->status, "SUCCEEDED") == 0)
		type = "MapIterationSucceeded";
	else if (strcmp(x->status, "ABORTED") == 0)
		type = "MapIterationAborted";
	else
		type = "MapIterationFailed";
	plan = CourierPlan(&parent_history_plan,
					   "WITH p AS ("
					   "  UPDATE courier.executions AS p"
					   "     SET last_event_id = p.last_event_id OPERATOR(pg_catalog.+) 1"
					   "   WHERE p.execution_id OPERATOR(pg_catalog.=) $1"
					   "  RETURNING p.last_event_id)"
					   "INSERT INTO courier.execution_events"
					   " (execution_id, first_event_id, last_event_id, timestamps, types, details)"
					   " SELECT $1, p.last_event_id, p.last_event_id,"
					   "        ARRAY[$3], ARRAY[$4], ARRAY[$2]"
					   "   FROM p",
					   4, history_types);
	values[1] = JsonbPGetDatum(IterationDetails(x->branch_path[x->nbranch_path - 2], x->item_index,
												 x->id, x->error, x->cause));
	values[2] = TimestampTzGetDatum(CourierNow());
	values[3] = CStringGetTextDatum(type);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "courier: execution history insert failed");
}
