/*-------------------------------------------------------------------------
 *
 * bus_delivery.c
 *	  Deliveries to function and state machine targets: attempts, retries
 *	  with backoff, and dead letters.
 *
 * Vocabulary:
 *	  delivery  a row of courier.bus_deliveries: one event on its way to one
 *	            function target, written by put_events() (bus.c)
 *	  attempt   one call of the target's function with the delivery's input
 *	            (for a state machine target: one start_execution() with it),
 *	            in a subtransaction of its own, as the role that put the
 *	            target (targets.run_as)
 *	  retry     an attempt after the first; the delivery waits for it with
 *	            exponential backoff and jitter
 *	  exhausted a delivery that may not be attempted again: retries used up
 *	            (MaximumRetryAttempts), too old (MaximumEventAgeInSeconds),
 *	            or failed with an error no retry can fix (the function or
 *	            the role is gone, or the role may not execute it)
 *	  dead letter  an exhausted delivery's event, sent to the target's
 *	            dead-letter queue with the reason in its headers; without one
 *	            the event is dropped, and counted
 *
 * tick() calls courier._deliver_bus_events(), which takes the due
 * deliveries with FOR UPDATE SKIP LOCKED, so concurrent ticks never attempt
 * one delivery twice at the same time.  A successful attempt deletes its
 * delivery in the same transaction as the function's own writes: if tick's
 * transaction commits, both are there, if it aborts, neither is, and the
 * delivery is attempted again.  That is exactly-once for what the function
 * writes in the database, and at-least-once for anything it does outside.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/regproc.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "bus_input.h"
#include "compat.h"
#include "context.h"
#include "jsonb_build.h"
#include "pg_courier.h"
#include "plan.h"
#include "queue.h"
#include "queue_head.h"
#include "stats.h"

PG_FUNCTION_INFO_V1(courier_deliver_bus_events);

/* Backoff: 1 s, doubling, at most 5 minutes; each wait drawn from [d/2, d]. */
#define COURIER_RETRY_BASE_USEC		USECS_PER_SEC
#define COURIER_RETRY_MAX_USEC		(300 * USECS_PER_SEC)

/* How much of an error message a delivery and a dead letter keep. */
#define COURIER_ERROR_MESSAGE_MAX	1024

static SPIPlanPtr due_plan = NULL;
static SPIPlanPtr done_plan = NULL;
static SPIPlanPtr retry_plan = NULL;
static SPIPlanPtr park_plan = NULL;
static SPIPlanPtr left_plan = NULL;

typedef struct Delivery
{
	int64		delivery_id;
	text	   *bus_name;
	text	   *rule_name;
	int64		target_key;
	TimestampTz ingested_at;
	int32		attempts;
	Jsonb	   *event;
	Jsonb	   *input;
	char	   *function_name;	/* regprocedure text, for function targets */
	char	   *state_machine;	/* for state machine targets */
	char	   *run_as;
	int32		max_retry_attempts;
	int32		max_event_age;	/* seconds */
	text	   *dead_letter_queue;
	char	   *target;
	char	   *correlation_id; /* of the put_events() transaction; NULL if none */
	char	   *causation_id;
} Delivery;

/* What went wrong with an attempt. */
typedef struct AttemptError
{
	char		code[6];		/* SQLSTATE */
	char	   *message;
	bool		retryable;
} AttemptError;

static text *
TextColumn(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? NULL : DatumGetTextPCopy(d);
}

static char *
CStringColumn(HeapTuple tup, TupleDesc desc, int col)
{
	text	   *t = TextColumn(tup, desc, col);

	return t ? text_to_cstring(t) : NULL;
}

static void
NotRetryable(AttemptError *err, int sqlerrcode, const char *message)
{
	strlcpy(err->code, unpack_sql_state(sqlerrcode), sizeof(err->code));
	err->message = pstrdup(message);
	err->retryable = false;
}

/* The function a target names (regprocedure text), or InvalidOid. */
static Oid
LookupFunction(const char *signature)
{
	LOCAL_FCINFO(fcinfo, 1);
	Datum		result;

	/* to_regprocedure() returns NULL for a missing function */
	InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = CStringGetTextDatum(signature);
	fcinfo->args[0].isnull = false;
	result = to_regprocedure(fcinfo);
	return fcinfo->isnull ? InvalidOid : DatumGetObjectId(result);
}

/*
 * Call the target's function with the delivery's input, in a
 * subtransaction, as the role that put the target.  true on success; on
 * failure err says why, and everything the function did is rolled back.
 */
static bool
Attempt(const Delivery *d, AttemptError *err)
{
	Oid			fnoid;
	Oid			role;
	Oid			save_userid;
	int			save_sec_context;
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile bool ok = true;
	CourierContextSaved saved_context;

	if (d->target == NULL)
	{
		NotRetryable(err, ERRCODE_UNDEFINED_OBJECT, "the target was removed");
		return false;
	}
	role = get_role_oid(d->run_as, true);
	if (!OidIsValid(role))
	{
		NotRetryable(err, ERRCODE_UNDEFINED_OBJECT,
					 psprintf("role \"%s\" of the target does not exist", d->run_as));
		return false;
	}
	fnoid = d->function_name ? LookupFunction(d->function_name) : InvalidOid;
	if (d->function_name != NULL && !OidIsValid(fnoid))
	{
		NotRetryable(err, ERRCODE_UNDEFINED_FUNCTION,
					 psprintf("function %s does not exist", d->function_name));
		return false;
	}
	if (d->function_name != NULL && CourierProcAclCheck(fnoid, role, ACL_EXECUTE) != ACLCHECK_OK)
	{
		NotRetryable(err, ERRCODE_INSUFFICIENT_PRIVILEGE,
					 psprintf("permission denied for function %s", d->function_name));
		return false;
	}

	/*
	 * What the target sends (or the execution it starts) belongs to the flow
	 * of the transaction that put the event (context.c).
	 */
	CourierContextOverride(d->correlation_id, d->causation_id, &saved_context);

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		LOCAL_FCINFO(fcinfo, 1);
		FmgrInfo	flinfo;

		SetUserIdAndSecContext(role, save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
		if (d->state_machine != NULL)
		{
			/* a state machine target: an execution with the input */
			Oid			argtypes[2] = {TEXTOID, JSONBOID};
			Datum		values[2];

			values[0] = CStringGetTextDatum(d->state_machine);
			values[1] = JsonbPGetDatum(d->input);
			if (SPI_execute_with_args("SELECT courier.start_execution($1, $2)",
									  2, argtypes, values, NULL, false, 1) != SPI_OK_SELECT)
				elog(ERROR, "courier: start_execution for a bus target failed");
		}
		else
		{
			/* any result is success, NULL (a void function) included */
			fmgr_info(fnoid, &flinfo);
			InitFunctionCallInfoData(*fcinfo, &flinfo, 1, InvalidOid, NULL, NULL);
			fcinfo->args[0].value = JsonbPGetDatum(d->input);
			fcinfo->args[0].isnull = false;
			(void) FunctionCallInvoke(fcinfo);
		}
		SetUserIdAndSecContext(save_userid, save_sec_context);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		SetUserIdAndSecContext(save_userid, save_sec_context);
		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;

		/* a cancel or shutdown is not the function's failure */
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
			edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
			ReThrowError(edata);
		strlcpy(err->code, unpack_sql_state(edata->sqlerrcode), sizeof(err->code));
		err->message = pnstrdup(edata->message ? edata->message : "",
								COURIER_ERROR_MESSAGE_MAX);
		err->retryable = true;
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	CourierContextRestore(&saved_context);
	return ok;
}

static void
DeleteDelivery(const Delivery *d)
{
	Oid			argtypes[2] = {TEXTOID, INT8OID};
	Datum		values[2];
	SPIPlanPtr	plan;

	plan = CourierPlan(&done_plan,
					   "DELETE FROM courier.bus_deliveries AS d"
					   " WHERE d.bus_name OPERATOR(pg_catalog.=) $1"
					   "   AND d.delivery_id OPERATOR(pg_catalog.=) $2",
					   2, argtypes);
	values[0] = PointerGetDatum(d->bus_name);
	values[1] = Int64GetDatum(d->delivery_id);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "courier: bus delivery delete failed");
}

/* Record a failed attempt; next: when to try again (infinity: parked). */
static void
UpdateDelivery(SPIPlanPtr *cache, const Delivery *d, int32 attempts, TimestampTz next,
			   const AttemptError *err)
{
	Oid			argtypes[6] = {TEXTOID, INT8OID, INT4OID, TIMESTAMPTZOID, TEXTOID, TEXTOID};
	Datum		values[6];
	SPIPlanPtr	plan;

	plan = CourierPlan(cache,
					   "UPDATE courier.bus_deliveries AS d"
					   "   SET attempts = $3, next_attempt_at = $4,"
					   "       last_error_code = $5, last_error_message = $6"
					   " WHERE d.bus_name OPERATOR(pg_catalog.=) $1"
					   "   AND d.delivery_id OPERATOR(pg_catalog.=) $2",
					   6, argtypes);
	values[0] = PointerGetDatum(d->bus_name);
	values[1] = Int64GetDatum(d->delivery_id);
	values[2] = Int32GetDatum(attempts);
	values[3] = TimestampTzGetDatum(next);
	values[4] = CStringGetTextDatum(err->code);
	values[5] = CStringGetTextDatum(err->message);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "courier: bus delivery update failed");
}

/*
 * Send an exhausted delivery's event to the target's dead-letter queue, with
 * EventBridge's attributes as headers.  In a subtransaction: false when the
 * queue refused it (gone, or the event too large for it).
 */
static bool
SendDeadLetter(const Delivery *d, const AttemptError *err, const char *condition,
			   int32 attempts, TimestampTz now, AttemptError *dlq_err)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	JsonbParseState *state = NULL;
	JsonbValue	n;
	Jsonb	   *headers;
	CourierNewMessage msg;
	bool		ok = true;
	char	   *bus = text_to_cstring(d->bus_name);
	char	   *rule = text_to_cstring(d->rule_name);

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	CourierPushText(&state, "ERROR_CODE", err->code);
	CourierPushText(&state, "ERROR_MESSAGE", err->message);
	if (condition != NULL)
		CourierPushText(&state, "EXHAUSTED_RETRY_CONDITION", condition);
	n.type = jbvNumeric;
	n.val.numeric = int64_to_numeric(Max(attempts - 1, 0));
	CourierPushValue(&state, "RETRY_ATTEMPTS", &n);
	CourierPushText(&state, "RULE_ARN", CourierRuleArn(bus, rule));
	CourierPushText(&state, "TARGET_ARN", d->target);
	headers = JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));

	memset(&msg, 0, sizeof(msg));
	CourierReadEnvelope(headers, &msg.env);
	msg.payload = d->event;
	msg.delay_usec = -1;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		(void) CourierSendMessage(d->dead_letter_queue, &msg,
								  VARSIZE(d->event) + VARSIZE(headers) - 2 * VARHDRSZ,
								  false, now);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
			edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
			ReThrowError(edata);
		strlcpy(dlq_err->code, unpack_sql_state(edata->sqlerrcode), sizeof(dlq_err->code));
		dlq_err->message = psprintf("the dead-letter queue refused the event: %s",
									edata->message ? edata->message : "");
		dlq_err->retryable = false;
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/* The wait before retry number `retry` (1 for the first retry). */
static int64
BackoffUsec(int32 retry)
{
	double		d = (double) COURIER_RETRY_BASE_USEC * pow(2.0, Min(retry - 1, 30));

	if (d > COURIER_RETRY_MAX_USEC)
		d = COURIER_RETRY_MAX_USEC;
	return (int64) (d / 2 + CourierRandomDouble() * d / 2);
}

typedef struct DeliveryCounts
{
	int64		succeeded;
	int64		failed;
	int64		dead_lettered;
	int64		dropped;
	int64		parked;
} DeliveryCounts;

/* One due delivery: attempt it, and settle what follows. */
static void
Process(const Delivery *d, TimestampTz now, DeliveryCounts *counts)
{
	AttemptError err;
	int32		attempts = d->attempts + 1;
	const char *condition = NULL;
	int64		max_age_usec = (int64) d->max_event_age * USECS_PER_SEC;

	memset(&err, 0, sizeof(err));
	if (now - d->ingested_at > max_age_usec && d->attempts > 0)
	{
		/* too old to try again (a tick that came late) */
		condition = "MaximumEventAgeInSeconds";
		attempts = d->attempts;
		strlcpy(err.code, "00000", sizeof(err.code));
		err.message = pstrdup("the event is older than MaximumEventAgeInSeconds");
	}
	else
	{
		CourierStatsAdd(COURIER_STATS_TARGET, d->target_key,
						d->attempts == 0 ? COURIER_TARGET_INVOCATIONS : COURIER_TARGET_RETRIES, 1);
		if (Attempt(d, &err))
		{
			DeleteDelivery(d);
			counts->succeeded++;
			return;
		}
		CourierStatsAdd(COURIER_STATS_TARGET, d->target_key, COURIER_TARGET_FAILED, 1);
		counts->failed++;
		if (err.retryable)
		{
			if (attempts > d->max_retry_attempts)
				condition = "MaximumRetryAttempts";
			else
			{
				TimestampTz next = now + BackoffUsec(attempts);

				if (next - d->ingested_at > max_age_usec)
					condition = "MaximumEventAgeInSeconds";
				else
				{
					UpdateDelivery(&retry_plan, d, attempts, next, &err);
					return;
				}
			}
		}
	}

	/* exhausted */
	if (d->dead_letter_queue == NULL || d->target == NULL)
	{
		DeleteDelivery(d);
		CourierStatsAdd(COURIER_STATS_TARGET, d->target_key, COURIER_TARGET_DROPPED, 1);
		counts->dropped++;
		return;
	}
	{
		AttemptError dlq_err;

		if (SendDeadLetter(d, &err, condition, attempts, now, &dlq_err))
		{
			DeleteDelivery(d);
			CourierStatsAdd(COURIER_STATS_TARGET, d->target_key, COURIER_TARGET_DEAD_LETTERS, 1);
			counts->dead_lettered++;
		}
		else
		{
			/* kept where a DBA can see it, never attempted again */
			UpdateDelivery(&park_plan, d, attempts, DT_NOEND, &dlq_err);
			counts->parked++;
		}
	}
}

/*
 * courier._deliver_bus_events(ts timestamptz, max_deliveries integer)
 *		RETURNS jsonb
 */
Datum
courier_deliver_bus_events(PG_FUNCTION_ARGS)
{
	TimestampTz now;
	int32		max_deliveries;
	Oid			argtypes[2] = {TIMESTAMPTZOID, INT4OID};
	Datum		values[2];
	SPIPlanPtr	plan;
	Delivery   *due;
	uint64		ndue;
	uint64		i;
	DeliveryCounts counts;
	MemoryContext cxt;
	MemoryContext per_delivery;
	MemoryContext oldcxt;
	char	   *result;

	CourierArgNotNull(fcinfo, 0, "ts");
	CourierArgNotNull(fcinfo, 1, "max_deliveries");
	now = PG_GETARG_TIMESTAMPTZ(0);
	max_deliveries = PG_GETARG_INT32(1);
	if (max_deliveries < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_deliveries must be at least 1")));
	memset(&counts, 0, sizeof(counts));

	cxt = CurrentMemoryContext;
	SPI_connect();
	plan = CourierPlan(&due_plan,
					   "SELECT d.delivery_id, d.bus_name, d.rule_name, d.target_key,"
					   "       d.ingested_at, d.attempts, d.event, d.input,"
					   "       t.function_name, t.run_as::pg_catalog.text, t.max_retry_attempts,"
					   "       t.max_event_age, t.dead_letter_queue, t.target, t.state_machine_name,"
					   "       d.correlation_id, d.causation_id"
					   "  FROM courier.bus_deliveries AS d"
					   "  LEFT JOIN courier.targets AS t"
					   "    ON t.target_key OPERATOR(pg_catalog.=) d.target_key"
					   " WHERE d.next_attempt_at OPERATOR(pg_catalog.<=) $1"
					   " ORDER BY d.next_attempt_at"
					   " LIMIT $2"
					   "   FOR UPDATE OF d SKIP LOCKED",
					   2, argtypes);
	values[0] = TimestampTzGetDatum(now);
	values[1] = Int32GetDatum(max_deliveries);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "courier: due bus deliveries lookup failed");

	/* copy the rows out: the attempts run statements of their own */
	ndue = SPI_processed;
	oldcxt = MemoryContextSwitchTo(cxt);
	due = palloc0(sizeof(Delivery) * Max(ndue, 1));
	for (i = 0; i < ndue; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		Delivery   *d = &due[i];
		bool		isnull;
		Datum		v;

		d->delivery_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		d->bus_name = TextColumn(tup, desc, 2);
		d->rule_name = TextColumn(tup, desc, 3);
		d->target_key = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
		d->ingested_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 5, &isnull));
		d->attempts = DatumGetInt32(SPI_getbinval(tup, desc, 6, &isnull));
		d->event = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 7, &isnull));
		d->input = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 8, &isnull));
		d->function_name = CStringColumn(tup, desc, 9);
		d->run_as = CStringColumn(tup, desc, 10);
		v = SPI_getbinval(tup, desc, 11, &isnull);
		d->max_retry_attempts = isnull ? 0 : DatumGetInt32(v);
		v = SPI_getbinval(tup, desc, 12, &isnull);
		d->max_event_age = isnull ? 0 : DatumGetInt32(v);
		d->dead_letter_queue = TextColumn(tup, desc, 13);
		d->target = CStringColumn(tup, desc, 14);
		d->state_machine = CStringColumn(tup, desc, 15);
		d->correlation_id = CStringColumn(tup, desc, 16);
		d->causation_id = CStringColumn(tup, desc, 17);
	}
	MemoryContextSwitchTo(oldcxt);

	per_delivery = AllocSetContextCreate(CurrentMemoryContext, "pg_courier bus delivery",
										 ALLOCSET_DEFAULT_SIZES);
	(void) CourierWriteBegin();
	for (i = 0; i < ndue; i++)
	{
		CHECK_FOR_INTERRUPTS();
		oldcxt = MemoryContextSwitchTo(per_delivery);
		Process(&due[i], now, &counts);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(per_delivery);
	}
	CourierWriteEnd();

	/* due deliveries this tick had no room for: throttled */
	if (ndue == (uint64) max_deliveries)
	{
		plan = CourierPlan(&left_plan,
						   "SELECT d.target_key, pg_catalog.count(*)"
						   "  FROM (SELECT l.target_key FROM courier.bus_deliveries AS l"
						   "         WHERE l.next_attempt_at OPERATOR(pg_catalog.<=) $1"
						   "         LIMIT $2) AS d"
						   " GROUP BY d.target_key",
						   2, argtypes);
		values[1] = Int32GetDatum(max_deliveries * 10);
		/* not read-only: it must see the attempts just recorded */
		if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "courier: throttled bus deliveries lookup failed");
		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			HeapTuple	tup = SPI_tuptable->vals[i];

			CourierStatsAdd(COURIER_STATS_TARGET,
							DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull)),
							COURIER_TARGET_THROTTLED,
							(uint64) DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull)));
		}
	}
	SPI_finish();

	result = psprintf("{\"bus_deliveries_taken\": " UINT64_FORMAT
					  ", \"bus_deliveries_succeeded\": " INT64_FORMAT
					  ", \"bus_deliveries_failed\": " INT64_FORMAT
					  ", \"bus_dead_letters\": " INT64_FORMAT
					  ", \"bus_deliveries_dropped\": " INT64_FORMAT
					  ", \"bus_deliveries_parked\": " INT64_FORMAT "}",
					  ndue, counts.succeeded, counts.failed, counts.dead_lettered,
					  counts.dropped, counts.parked);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(result)));
}
