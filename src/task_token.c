/*-------------------------------------------------------------------------
 *
 * task_token.c
 *	  Tasks that wait for a task token: a Task whose Resource ends with
 *	  ".waitForTaskToken" runs its resource with $$.Task.Token in its
 *	  context object, then waits until courier.send_task_success() or
 *	  courier.send_task_failure() is called with that token, or until its
 *	  TimeoutSeconds or HeartbeatSeconds (extended by
 *	  courier.send_task_heartbeat()) run out.
 *
 * Vocabulary:
 *	  task token   43 characters of base64url: 32 bytes from
 *	               pg_strong_random(), unguessable.  Only its SHA-256 is
 *	               stored (courier.task_tokens.token_hash): the token in a
 *	               message is what lets a consumer complete the task, and the
 *	               table does not
 *	  open token   a courier.task_tokens row the engine has not taken up
 *	               yet (resumed_at is null); an execution has at most one.
 *	               Its status is WAITING until a caller completes it
 *	               (SUCCEEDED, FAILED: sql/parts/93_task_tokens.sql) or the
 *	               engine times it out (TIMED_OUT)
 *	  resume       the engine's step of an execution in PHASE_TOKEN: take
 *	               the outcome of its open token, or time it out, or wait on
 *
 * Lock order, engine and callers alike: the execution's row, then the
 * token's.  The callers make the execution due at once (next_step_at) and
 * wake the worker at commit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "plan.h"
#include "task_token.h"

#define TOKEN_BYTES 32

static SPIPlanPtr register_plan = NULL;
static SPIPlanPtr open_plan = NULL;
static SPIPlanPtr close_plan = NULL;

/* A new task token: base64url, without padding. */
char *
WorkflowNewTaskToken(void)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	uint8		raw[TOKEN_BYTES];
	char	   *out = palloc((TOKEN_BYTES * 4 + 2) / 3 + 1);
	char	   *p = out;
	int			i;

	if (!pg_strong_random(raw, sizeof(raw)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random task token")));
	for (i = 0; i < TOKEN_BYTES; i += 3)
	{
		uint32		b = (uint32) raw[i] << 16;

		if (i + 1 < TOKEN_BYTES)
			b |= (uint32) raw[i + 1] << 8;
		if (i + 2 < TOKEN_BYTES)
			b |= raw[i + 2];
		*p++ = alphabet[(b >> 18) & 63];
		*p++ = alphabet[(b >> 12) & 63];
		if (i + 1 < TOKEN_BYTES)
			*p++ = alphabet[(b >> 6) & 63];
		if (i + 2 < TOKEN_BYTES)
			*p++ = alphabet[b & 63];
	}
	*p = '\0';
	return out;
}

static TimestampTz
Earliest(TimestampTz a, TimestampTz b)
{
	if (a == 0)
		return b;
	if (b == 0)
		return a;
	return Min(a, b);
}

/*
 * After its resource ran, the task waits for its token: the token's row
 * (any token still open for the execution, left by a stop or a redrive, is
 * closed), and the execution in PHASE_TOKEN until the first deadline.
 */
void
WorkflowRegisterTaskToken(Execution *x, const AslState *s, const char *token, TimestampTz now,
						  int64 timeout_seconds, int64 heartbeat_seconds)
{
	Oid			argtypes[6] = {TEXTOID, INT8OID, TEXTOID, INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	SPIPlanPtr	plan;
	TimestampTz timeout_at = 0;
	TimestampTz heartbeat_at = 0;

	plan = CourierPlan(&register_plan,
					   "WITH closed AS ("
					   "  UPDATE courier.task_tokens AS t SET resumed_at = $5"
					   "   WHERE t.execution_id OPERATOR(pg_catalog.=) $2 AND t.resumed_at IS NULL)"
					   " INSERT INTO courier.task_tokens"
					   "  (token_hash, execution_id, state_name, status, scheduled_at, timeout_at,"
					   "   heartbeat_seconds, heartbeat_at)"
					   " VALUES (pg_catalog.sha256(pg_catalog.convert_to($1, 'UTF8')), $2, $3, 'WAITING',"
					   "         $5, $6, $4, $5)",
					   6, argtypes);
	if (timeout_seconds > 0)
		timeout_at = now + timeout_seconds * USECS_PER_SEC;
	if (heartbeat_seconds > 0)
		heartbeat_at = now + heartbeat_seconds * USECS_PER_SEC;
	values[0] = CStringGetTextDatum(token);
	values[1] = Int64GetDatum(x->id);
	values[2] = CStringGetTextDatum(s->name);
	values[3] = Int32GetDatum((int32) heartbeat_seconds);
	nulls[3] = heartbeat_seconds > 0 ? ' ' : 'n';
	values[4] = TimestampTzGetDatum(now);
	values[5] = TimestampTzGetDatum(timeout_at);
	nulls[5] = timeout_at != 0 ? ' ' : 'n';
	if (SPI_execute_plan(plan, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "courier: task token insert failed");
	x->phase = PHASE_TOKEN;
	x->next_step_at = Earliest(Earliest(timeout_at, heartbeat_at), x->timeout_at);
}

/* The engine took up the token: its final status, and when. */
static void
CloseToken(Datum hash, const char *status, const char *error, const char *cause, TimestampTz now)
{
	Oid			argtypes[5] = {BYTEAOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	SPIPlanPtr	plan;

	plan = CourierPlan(&close_plan,
					   "UPDATE courier.task_tokens AS t"
					   "   SET resumed_at = $2, status = $3,"
					   "       completed_at = COALESCE(t.completed_at, $2),"
					   "       error = COALESCE(t.error, $4), cause = COALESCE(t.cause, $5)"
					   " WHERE t.token_hash OPERATOR(pg_catalog.=) $1",
					   5, argtypes);
	values[0] = hash;
	values[1] = TimestampTzGetDatum(now);
	values[2] = CStringGetTextDatum(status);
	values[3] = error ? CStringGetTextDatum(error) : (Datum) 0;
	nulls[3] = error ? ' ' : 'n';
	values[4] = cause ? CStringGetTextDatum(cause) : (Datum) 0;
	nulls[4] = cause ? ' ' : 'n';
	if (SPI_execute_plan(plan, values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "courier: task token update failed");
}

/*
 * An execution waiting for its token is due: take the outcome a caller
 * gave (TaskSucceeded, TaskFailed), time the task out (TaskTimedOut with
 * States.Timeout or States.HeartbeatTimeout), or wait on until the next
 * deadline.
 */
TaskOutcome
WorkflowTaskResume(Execution *x, const AslState *s, TimestampTz now, Jsonb **result,
				   StateFailure *fail)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];
	SPIPlanPtr	plan;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		hash;
	char	   *status;
	TimestampTz timeout_at = 0;
	TimestampTz heartbeat_due = 0;
	Datum		d;

	plan = CourierPlan(&open_plan,
					   "SELECT t.token_hash, t.status, t.output, t.error, t.cause, t.timeout_at,"
					   "       t.heartbeat_at OPERATOR(pg_catalog.+)"
					   "         pg_catalog.make_interval(secs => t.heartbeat_seconds),"
					   "       t.heartbeat_seconds"
					   "  FROM courier.task_tokens AS t"
					   " WHERE t.execution_id OPERATOR(pg_catalog.=) $1 AND t.resumed_at IS NULL"
					   "   FOR UPDATE OF t",
					   1, argtypes);
	values[0] = Int64GetDatum(x->id);
	if (SPI_execute_plan(plan, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "courier: task token lookup failed");
	if (SPI_processed == 0)
	{
		fail->error = pstrdup("States.Runtime");
		fail->cause = psprintf("the task token of state \"%s\" is gone", s->name);
		WorkflowHistory(x, "TaskFailed", WorkflowTaskDetails(s, NULL, NULL, fail->error, fail->cause));
		return TASK_FAILED;
	}
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	hash = datumCopy(SPI_getbinval(tup, desc, 1, &isnull), false, -1);
	status = TextDatumGetCString(SPI_getbinval(tup, desc, 2, &isnull));
	if (strcmp(status, "SUCCEEDED") == 0)
	{
		d = SPI_getbinval(tup, desc, 3, &isnull);
		*result = isnull ? DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("null")))
			: DatumGetJsonbPCopy(d);
		CloseToken(hash, status, NULL, NULL, now);
		WorkflowHistory(x, "TaskSucceeded", WorkflowTaskDetails(s, "output", *result, NULL, NULL));
		return TASK_SUCCEEDED;
	}
	if (strcmp(status, "FAILED") == 0)
	{
		d = SPI_getbinval(tup, desc, 4, &isnull);
		fail->error = isnull ? pstrdup("States.TaskFailed") : TextDatumGetCString(d);
		d = SPI_getbinval(tup, desc, 5, &isnull);
		fail->cause = isnull ? pstrdup("") : TextDatumGetCString(d);
		CloseToken(hash, status, NULL, NULL, now);
		WorkflowHistory(x, "TaskFailed", WorkflowTaskDetails(s, NULL, NULL, fail->error, fail->cause));
		return TASK_FAILED;
	}

	d = SPI_getbinval(tup, desc, 6, &isnull);
	if (!isnull)
		timeout_at = DatumGetTimestampTz(d);
	d = SPI_getbinval(tup, desc, 7, &isnull);
	if (!isnull)
		heartbeat_due = DatumGetTimestampTz(d);
	if (timeout_at != 0 && now >= timeout_at)
	{
		fail->error = pstrdup("States.Timeout");
		fail->cause = pstrdup("the task was not completed within its TimeoutSeconds");
	}
	else if (heartbeat_due != 0 && now >= heartbeat_due)
	{
		fail->error = pstrdup("States.HeartbeatTimeout");
		fail->cause = pstrdup("no heartbeat came within the task's HeartbeatSeconds");
	}
	else
	{
		/* not yet: woken early, or a heartbeat moved the deadline */
		x->next_step_at = Earliest(Earliest(timeout_at, heartbeat_due), x->timeout_at);
		return TASK_WAITING;
	}
	CloseToken(hash, "TIMED_OUT", fail->error, fail->cause, now);
	WorkflowHistory(x, "TaskTimedOut", WorkflowTaskDetails(s, NULL, NULL, fail->error, fail->cause));
	return TASK_FAILED;
}
