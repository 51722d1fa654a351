/*-------------------------------------------------------------------------
 *
 * operations.c
 *	  What DBAs and monitoring read: the committed counters of queues and
 *	  state machines, for the views courier.queue_stats and
 *	  courier.execution_stats, courier.alarms and courier.metrics()
 *	  (sql/parts/96_operations.sql).
 *
 * Vocabulary (see stats.c for how counting works):
 *	  total     a counter of committed work since the server started: sent,
 *	            received, deleted, dead-lettered and expired messages of a
 *	            queue; started, succeeded, failed, timed-out and aborted
 *	            executions of a state machine
 *	  name id   queues and state machines are keyed by name; their counters
 *	            by a hash of it (CourierStatsNameId)
 *
 * The C paths that do the work count it themselves (queue.c, queue_lease.c,
 * queue_dlq.c, workflow.c).  The functions here serve the PL/pgSQL paths
 * (tick()'s expiry, start_execution, stop_execution), forget the counters
 * of a dropped object, and read them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "funcapi.h"
#include "utils/builtins.h"

#include "stats.h"

PG_FUNCTION_INFO_V1(courier_queue_counts);
PG_FUNCTION_INFO_V1(courier_execution_counts);
PG_FUNCTION_INFO_V1(courier_count_stats);
PG_FUNCTION_INFO_V1(courier_forget_stats);

#define NUM_TOTALS 5

static CourierStatsKind
KindArg(text *kind_text)
{
	char	   *kind = text_to_cstring(kind_text);

	if (strcmp(kind, "queue") == 0)
		return COURIER_STATS_QUEUE;
	if (strcmp(kind, "state_machine") == 0)
		return COURIER_STATS_STATE_MACHINE;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown statistics kind \"%s\"", kind),
			 errhint("The kinds counted by name are queue and state_machine.")));
	return 0;					/* keep the compiler quiet */
}

/* The counters a PL/pgSQL path may add to. */
static int
CounterArg(CourierStatsKind kind, text *counter_text)
{
	char	   *counter = text_to_cstring(counter_text);

	if (kind == COURIER_STATS_QUEUE && strcmp(counter, "expired") == 0)
		return COURIER_QUEUE_EXPIRED;
	if (kind == COURIER_STATS_STATE_MACHINE && strcmp(counter, "started") == 0)
		return COURIER_EXEC_STARTED;
	if (kind == COURIER_STATS_STATE_MACHINE && strcmp(counter, "aborted") == 0)
		return COURIER_EXEC_ABORTED;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown counter \"%s\"", counter),
			 errhint("SQL may count queue expired, state_machine started and aborted.")));
	return 0;					/* keep the compiler quiet */
}

/*
 * The five totals of an object as a row; nulls without shared memory (not
 * preloaded), zeros for an object never counted.
 */
static Datum
TotalsRow(FunctionCallInfo fcinfo, CourierStatsKind kind)
{
	text	   *name = PG_GETARG_TEXT_PP(0);
	TupleDesc	tupdesc;
	uint64		counters[COURIER_STATS_NCOUNTERS];
	Datum		values[NUM_TOTALS];
	bool		nulls[NUM_TOTALS];
	bool		have;
	int			i;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	have = CourierStatsRead(kind, CourierStatsTextId(name), counters);
	for (i = 0; i < NUM_TOTALS; i++)
	{
		values[i] = Int64GetDatum((int64) counters[i]);
		nulls[i] = !have;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * courier._queue_counts(queue_name text, OUT sent_total bigint,
 *		OUT received_total bigint, OUT deleted_total bigint,
 *		OUT dead_lettered_total bigint, OUT expired_total bigint)
 */
Datum
courier_queue_counts(PG_FUNCTION_ARGS)
{
	return TotalsRow(fcinfo, COURIER_STATS_QUEUE);
}

/*
 * courier._execution_counts(state_machine_name text, OUT started_total bigint,
 *		OUT succeeded_total bigint, OUT failed_total bigint,
 *		OUT timed_out_total bigint, OUT aborted_total bigint)
 */
Datum
courier_execution_counts(PG_FUNCTION_ARGS)
{
	return TotalsRow(fcinfo, COURIER_STATS_STATE_MACHINE);
}

/* courier._count_stats(kind text, name text, counter text, n bigint) */
Datum
courier_count_stats(PG_FUNCTION_ARGS)
{
	CourierStatsKind kind = KindArg(PG_GETARG_TEXT_PP(0));
	text	   *name = PG_GETARG_TEXT_PP(1);
	int			counter = CounterArg(kind, PG_GETARG_TEXT_PP(2));
	int64		n = PG_GETARG_INT64(3);

	if (n > 0)
		CourierStatsAdd(kind, CourierStatsTextId(name), counter, (uint64) n);
	PG_RETURN_VOID();
}

/* courier._forget_stats(kind text, name text): at commit, drop the counters */
Datum
courier_forget_stats(PG_FUNCTION_ARGS)
{
	CourierStatsKind kind = KindArg(PG_GETARG_TEXT_PP(0));
	text	   *name = PG_GETARG_TEXT_PP(1);

	CourierStatsForget(kind, CourierStatsTextId(name));
	PG_RETURN_VOID();
}
