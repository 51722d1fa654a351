/*-------------------------------------------------------------------------
 *
 * workflow.c
 *	  The workflow engine: executions of Amazon States Language state
 *	  machines, advanced by tick().
 *
 * Vocabulary:
 *	  state machine  a named ASL definition, in versions
 *	                 (courier.state_machine_versions); an execution runs on
 *	                 the version it started with
 *	  execution      one run of a machine (courier.executions): at one state
 *	                 at a time, with the input it entered that state with
 *	  step           what the engine does for one execution at its current
 *	                 state: enter it, run it, and leave it for the next
 *	                 (a transition), or stop to wait (a Wait state, a retry's
 *	                 backoff), or end the execution
 *	  phase          where an execution is inside its state: just entered,
 *	                 waiting for a Wait to end, waiting for a retry
 *	  task           a Task state's work: a SQL function called with the
 *	                 state's effective input, in a subtransaction, as the role
 *	                 that started the execution
 *	  history        the execution's events (courier.execution_events: one
 *	                 row per save, courier.execution_history: one per event),
 *	                 with Step Functions' event type names; the engine keeps
 *	                 a run's events with the execution and writes them with
 *	                 its row (SaveExecution); courier.executions.last_event_id
 *	                 is the last event id, kept by the SQL functions that add
 *	                 events too (courier._history)
 *
 * courier._run_executions() takes due executions one at a time, FOR UPDATE
 * SKIP LOCKED (so concurrent ticks share executions and never run one
 * twice), and steps each as far as it can go in this transaction: pure
 * states (Pass, Choice, Succeed, Fail) and SQL tasks follow each other
 * without a round trip, up to the caller's budget of steps.  Everything an
 * execution did, its tasks' writes included, commits with the tick's
 * transaction: a transition and the work of its task are atomic.
 *
 * The data flow of a state (InputPath, Parameters, ResultSelector,
 * ResultPath, OutputPath) and Choice rules are evaluated by asl_path.c,
 * asl_template.c and asl_choice.c; definitions are validated by
 * asl_validate.c when they are created, compiled by asl_machine.c, and
 * cached here once per backend and version.  Task resources are run by
 * workflow_task.c.
 *
 * Parallel and Map states run their branches and iterations as child
 * executions (workflow_map.c).  A Task that waits for its task token
 * (task_token.c) stays in PHASE_TOKEN until a caller or a deadline ends the
 * wait.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "asl_choice.h"
#include "asl_path.h"
#include "asl_template.h"
#include "bus.h"
#include "clock.h"
#include "compat.h"
#include "jsonb_build.h"
#include "pg_courier.h"
#include "plan.h"
#include "task_token.h"
#include "stats.h"
#include "worker.h"
#include "workflow.h"
#include "workflow_map.h"
#include "workflow_store.h"
#include "workflow_task.h"

PG_FUNCTION_INFO_V1(courier_run_executions);
PG_FUNCTION_INFO_V1(courier_wake_executions);

typedef struct MachineKey
{
	char		name[ASL_STATE_NAME_MAX + 1];
	int32		version;
} MachineKey;

typedef struct MachineCache
{
	MachineKey	key;
	TimestampTz created_at;		/* of the version row: a re-created machine differs */
	uint64		checked;		/* run_generation when created_at was last checked */
	MemoryContext cxt;
	AslMachine *machine;
} MachineCache;

static HTAB *machine_cache = NULL;

static SPIPlanPtr due_plan = NULL;
static SPIPlanPtr version_plan = NULL;
static SPIPlanPtr definition_plan = NULL;
static SPIPlanPtr save_plan = NULL;

/* Counts courier._run_executions() calls: a machine is checked once per call. */
static uint64 run_generation = 0;

/*
 * Due executions locked by this call and not yet taken (TakeDue).  Locking
 * them a batch at a time matters: the executions a call has finished leave
 * index entries its own later scans of executions_due_idx must step over
 * (they cannot be marked dead before the transaction ends), so one scan per
 * execution made a call quadratic in the executions it ran.  The batch
 * starts at one and doubles up to DUE_BATCH: a call locks no more
 * executions than it is likely to run, so that a concurrent tick with work
 * to spare is not kept from executions this one will not reach.
 */
#define DUE_BATCH	64
static int64 due_ids[DUE_BATCH];
static ItemPointerData due_tids[DUE_BATCH];	/* their versions as locked */
static int	ndue = 0;
static int	next_due = 0;
static int	due_batch = 1;		/* how many the next lock scan takes */
/*
 * And each scan starts where the last one ended (the due time of the last
 * execution it locked): executions become due during a call only at the
 * call's own now, never earlier, so nothing is missed.
 */
static TimestampTz due_from = DT_NOBEGIN;
static SPIPlanPtr due_batch_plan = NULL;

/* Did this transaction start executions for the worker to advance? */
static bool wake_at_commit = false;
static bool xact_callback_registered = false;

/* The compiled machine of an execution's version, compiled once per backend. */
static AslMachine *
MachineOf(const Execution *x)
{
	MachineKey	key;
	MachineCache *entry;
	bool		found;
	Oid			argtypes[2] = {TEXTOID, INT4OID};
	Datum		values[2];
	SPIPlanPtr	plan;
	bool		isnull;
	TimestampTz created_at;
	MemoryContext cxt;

	if (machine_cache == NULL)
	{
		HASHCTL		info;

		memset(&info, 0, sizeof(info));
		info.keysize = sizeof(MachineKey);
		info.entrysize = sizeof(MachineCache);
		machine_cache = hash_create("pg_courier state machines", 16, &info, HASH_ELEM | HASH_BLOBS);
	}
	memset(&key, 0, sizeof(key));
	strlcpy(key.name, x->machine_name, sizeof(key.name));
	key.version = x->version;
	entry = hash_search(machine_cache, &key, HASH_FIND, NULL);
	if (entry != NULL && entry->machine != NULL && entry->checked == run_generation)
		return entry->machine;	/* checked already in this call */

	values[0] = CStringGetTextDatum(x->machine_name);
	values[1] = Int32GetDatum(x->version);
	plan = CourierPlan(&version_plan,
					   "SELECT v.created_at FROM courier.state_machine_versions AS v"
					   " WHERE v.state_machine_name OPERATOR(pg_catalog.=) $1"
					   "   AND v.version OPERATOR(pg_catalog.=) $2",
					   2, argtypes);
	if (SPI_execute_plan(plan, values, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "courier: state machine version lookup failed");
	created_at = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);

	entry = hash_search(machine_cache, &key, HASH_ENTER, &found);
	if (found && entry->machine != NULL && entry->created_at == created_at)
	{
		entry->checked = run_generation;
		return entry->machine;
	}
	if (!found)
	{
		entry->machine = NULL;
		entry->cxt = NULL;
	}

	plan = CourierPlan(&definition_plan,
					   "SELECT v.definition FROM courier.state_machine_versions AS v"
					   " WHERE v.state_machine_name OPERATOR(pg_catalog.=) $1"
					   "   AND v.version OPERATOR(pg_catalog.=) $2",
					   2, argtypes);
	if (SPI_execute_plan(plan, values, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "courier: state machine definition lookup failed");

	cxt = AllocSetContextCreate(CacheMemoryContext, "pg_courier state machine", ALLOCSET_SMALL_SIZES);
	PG_TRY();
	{
		AslMachine *m = AslCompileMachine(DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0],
																	SPI_tuptable->tupdesc, 1, &isnull)),
									   cxt);

		if (entry->cxt != NULL)
			MemoryContextDelete(entry->cxt);
		entry->cxt = cxt;
		entry->machine = m;
		entry->created_at = created_at;
		entry->checked = run_generation;
	}
	PG_CATCH();
	{
		MemoryContextDelete(cxt);
		entry->machine = NULL;
		PG_RE_THROW();
	}
	PG_END_TRY();
	SPI_freetuptable(SPI_tuptable);
	return entry->machine;
}

/*----------
 * Jsonb helpers.
 *----------
 */

static char *
IsoTime(TimestampTz t)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0)
		return pstrdup("");
	return psprintf("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year, tm.tm_mon, tm.tm_mday,
					tm.tm_hour, tm.tm_min, tm.tm_sec, (int) (fsec / 1000));
}

static char *
ExecutionArn(const Execution *x)
{
	return psprintf("arn:courier:states:%s:%s:execution:%s:%s",
					courier_region ? courier_region : "local",
					get_database_name(MyDatabaseId), x->machine_name, x->name);
}

/* The context object $$ of the execution at its current state. */
static Jsonb *
ContextObject(const Execution *x)
{
	JsonbParseState *st = NULL;
	char	   *db = get_database_name(MyDatabaseId);

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	CourierPushKey(&st, "Execution");
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	CourierPushText(&st, "Id", ExecutionArn(x));
	CourierPushJsonb(&st, "Input", x->input);
	CourierPushText(&st, "Name", x->name);
	CourierPushText(&st, "RoleArn", x->started_by);
	CourierPushText(&st, "StartTime", IsoTime(x->started_at));
	CourierPushInt(&st, "RedriveCount", x->redrive_count);
	if (x->redriven_at != 0)
		CourierPushText(&st, "RedriveTime", IsoTime(x->redriven_at));
	pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	CourierPushKey(&st, "State");
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	CourierPushText(&st, "EnteredTime", IsoTime(x->entered_at));
	CourierPushText(&st, "Name", x->state);
	{
		int			retries = 0;
		int			i;

		for (i = 0; i < x->nretry_counts; i++)
			retries += x->retry_counts[i];
		CourierPushInt(&st, "RetryCount", retries);
	}
	pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	CourierPushKey(&st, "StateMachine");
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	CourierPushText(&st, "Id", psprintf("arn:courier:states:%s:%s:stateMachine:%s",
								 courier_region ? courier_region : "local", db, x->machine_name));
	CourierPushText(&st, "Name", x->machine_name);
	pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	if (x->task_token != NULL)
	{
		CourierPushKey(&st, "Task");
		pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
		CourierPushText(&st, "Token", x->task_token);
		pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	}
	return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
}

/*----------
 * History.
 *----------
 */

/*
 * Add an event to the execution's history.  The events of a run are kept
 * in the Execution and written by SaveExecution with its row, in one
 * statement: one INSERT per event was most of what a pure state cost.
 * The buffer, and the type and details it points to, are in the current
 * memory context, which must last until SaveExecution (the run loop's
 * per-execution context); an event not saved is lost with the step.
 */
void
WorkflowHistory(Execution *x, const char *type, Jsonb *details)
{
	if (x->nevents == x->maxevents)
	{
		int			n = x->maxevents == 0 ? 16 : x->maxevents * 2;

		if (x->maxevents == 0)
		{
			x->event_times = palloc(sizeof(TimestampTz) * n);
			x->event_types = palloc(sizeof(char *) * n);
			x->event_details = palloc(sizeof(Jsonb *) * n);
		}
		else
		{
			x->event_times = repalloc(x->event_times, sizeof(TimestampTz) * n);
			x->event_types = repalloc(x->event_types, sizeof(char *) * n);
			x->event_details = repalloc(x->event_details, sizeof(Jsonb *) * n);
		}
		x->maxevents = n;
	}
	x->last_event++;
	x->event_times[x->nevents] = CourierNow();
	x->event_types[x->nevents] = (char *) type;
	x->event_details[x->nevents] = details;
	x->nevents++;
}

/* History details: {"name": state, key: value}. */
Jsonb *
WorkflowStateDetails(const char *state, const char *key, Jsonb *value)
{
	CourierMembers m;

	m.n = 0;
	if (state != NULL)
		CourierMemberText(&m, "name", state);
	if (key != NULL)
		CourierMemberJsonb(&m, key, value);
	return CourierMembersObject(&m);
}

Jsonb *
WorkflowErrorDetails(const char *state, const char *error, const char *cause)
{
	CourierMembers m;

	m.n = 0;
	if (state != NULL)
		CourierMemberText(&m, "name", state);
	CourierMemberText(&m, "error", error);
	CourierMemberText(&m, "cause", cause);
	return CourierMembersObject(&m);
}

/*----------
 * Running states.
 *----------
 */

static bool
IsTerminalError(const char *error)
{
	return strcmp(error, "States.Runtime") == 0 ||
		strcmp(error, "States.DataLimitExceeded") == 0;
}

/* Does an ErrorEquals list match the error? */
static bool
ErrorMatches(char **errors, int n, const char *error)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		if (strcmp(errors[i], error) == 0)
			return true;
		if (strcmp(errors[i], "States.ALL") == 0 && !IsTerminalError(error))
			return true;
		if (strcmp(errors[i], "States.TaskFailed") == 0 && !IsTerminalError(error) &&
			strcmp(error, "States.Timeout") != 0 && strcmp(error, "States.HeartbeatTimeout") != 0 &&
			strncmp(error, "States.", 7) != 0)
			return true;
	}
	return false;
}

/* PassStateEntered, TaskStateExited, ...: of the type's names, in its order. */
static const char *
StateEventType(AslStateType type, bool entered)
{
	static const char *const names[][2] = {
		{"PassStateExited", "PassStateEntered"},
		{"TaskStateExited", "TaskStateEntered"},
		{"ChoiceStateExited", "ChoiceStateEntered"},
		{"WaitStateExited", "WaitStateEntered"},
		{"SucceedStateExited", "SucceedStateEntered"},
		{"FailStateExited", "FailStateEntered"},
		{"ParallelStateExited", "ParallelStateEntered"},
		{"MapStateExited", "MapStateEntered"}
	};

	if ((int) type < 0 || (int) type >= (int) lengthof(names))
		elog(ERROR, "courier: unknown state type %d", (int) type);
	Assert(strncmp(names[type][0], state_type_names[type], strlen(state_type_names[type])) == 0);
	return names[type][entered ? 1 : 0];
}

/* Enter state `name` with input: the next step runs it. */
static void
Transition(Execution *x, const AslState *from, const char *name, Jsonb *output)
{
	WorkflowHistory(x, StateEventType(from->type, false),
			WorkflowStateDetails(from->name, "output", output));
	x->state = pstrdup(name);
	x->state_input = output;
	x->entered_at = CourierNow();
	x->phase = PHASE_ENTER;
	x->nretry_counts = 0;
	x->retry_counts = NULL;
}

/* End the execution. */
static void
Finish(Execution *x, const char *status, Jsonb *output, const char *error, const char *cause)
{
	x->status = pstrdup(status);
	x->output = output;
	x->error = error ? pstrdup(error) : NULL;
	x->cause = cause ? pstrdup(cause) : NULL;
	x->next_step_at = 0;
	x->finished = true;
	if (x->phase == PHASE_CHILDREN)
		WorkflowStopChildren(x);
	if (x->parent_id != 0)
	{
		WorkflowBranchFinished(x);	/* its parent collects it */
		return;
	}
	CourierCountExecutionEnd(x->machine_name, status);
	if (strcmp(status, "SUCCEEDED") == 0)
		WorkflowHistory(x, "ExecutionSucceeded", WorkflowStateDetails(NULL, "output", output));
	else if (strcmp(status, "TIMED_OUT") == 0)
		WorkflowHistory(x, "ExecutionTimedOut", WorkflowErrorDetails(NULL, error, cause));
	else
		WorkflowHistory(x, "ExecutionFailed", WorkflowErrorDetails(NULL, error, cause));
}

/* The output of a state whose result goes through ResultPath and OutputPath. */
static bool
StateOutput(const AslState *s, Jsonb *raw, Jsonb *result, Jsonb *context, Jsonb **out,
			AslError *err)
{
	Jsonb	   *merged;

	if (s->result_selector != NULL &&
		!AslTemplateApply(s->result_selector, result, context, &result, err))
		return false;
	if (!AslApplyResultPath(s->result_path.path, s->result_path.is_null, raw, result, &merged, err))
		return false;
	return AslApplyOutputPath(s->output_path.path, s->output_path.is_null, merged, context, out, err);
}

/* The effective input: InputPath, then Parameters. */
static bool
EffectiveInput(const AslState *s, Jsonb *raw, Jsonb *context, Jsonb **out, AslError *err)
{
	Jsonb	   *in;

	if (!AslApplyInputPath(s->input_path.path, s->input_path.is_null, raw, context, &in, err))
		return false;
	if (s->parameters != NULL)
		return AslTemplateApply(s->parameters, in, context, out, err);
	*out = in;
	return true;
}

/*
 * A state failed: retry it, catch the error, or fail the execution.
 */
static StepResult
Failed(Execution *x, const AslState *s, StateFailure *f, TimestampTz now)
{
	int			i;

	if (!IsTerminalError(f->error))
	{
		for (i = 0; i < s->nretriers; i++)
		{
			const AslRetrier *r = &s->retriers[i];
			double		delay;

			if (!ErrorMatches(r->errors, r->nerrors, f->error))
				continue;
			if (x->nretry_counts < s->nretriers)
			{
				int		   *counts = palloc0(sizeof(int) * s->nretriers);

				if (x->retry_counts)
					memcpy(counts, x->retry_counts, sizeof(int) * x->nretry_counts);
				x->retry_counts = counts;
				x->nretry_counts = s->nretriers;
			}
			if (x->retry_counts[i] >= r->max_attempts)
				break;			/* the first matching retrier decides */
			delay = r->interval * pow(r->backoff_rate, x->retry_counts[i]);
			if (r->max_delay > 0 && delay > r->max_delay)
				delay = r->max_delay;
			if (r->full_jitter)
				delay = delay * CourierRandomDouble();
			x->retry_counts[i]++;
			x->phase = PHASE_RETRY;
			x->next_step_at = now + (int64) (delay * USECS_PER_SEC);
			if (x->timeout_at != 0 && x->next_step_at > x->timeout_at)
				x->next_step_at = x->timeout_at;
			return STEP_WAIT;
		}
		for (i = 0; i < s->ncatchers; i++)
		{
			const AslCatcher *c = &s->catchers[i];
			JsonbParseState *st = NULL;
			Jsonb	   *error_output;
			Jsonb	   *out;
			AslError	err;

			if (!ErrorMatches(c->errors, c->nerrors, f->error))
				continue;
			pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
			CourierPushText(&st, "Error", f->error);
			CourierPushText(&st, "Cause", f->cause ? f->cause : "");
			error_output = JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
			if (!AslApplyResultPath(c->result_path, c->result_path_null, x->state_input,
									error_output, &out, &err))
			{
				Finish(x, "FAILED", NULL, err.error, err.cause);
				return STEP_DONE;
			}
			Transition(x, s, c->next, out);
			return STEP_NEXT;
		}
	}
	Finish(x, "FAILED", NULL, f->error, f->cause);
	return STEP_DONE;
}

static StepResult
RuntimeFailure(Execution *x, const AslState *s, AslError *err, TimestampTz now)
{
	StateFailure f;

	f.error = pstrdup(err->error ? err->error : "States.Runtime");
	f.cause = err->cause;
	return Failed(x, s, &f, now);
}

/* One step of an execution at its current state. */
static StepResult
Step(Execution *x, const AslMachine *m, TimestampTz now)
{
	const AslState *s = AslFindState(m, x->state);
	Jsonb	   *context;
	Jsonb	   *effective;
	Jsonb	   *out;
	AslError	err;

	memset(&err, 0, sizeof(err));
	if (x->timeout_at != 0 && now >= x->timeout_at)
	{
		Finish(x, "TIMED_OUT", NULL, "States.Timeout", "The execution timed out.");
		return STEP_DONE;
	}
	if (s == NULL)
	{
		Finish(x, "FAILED", NULL, "States.Runtime",
			   psprintf("state \"%s\" does not exist in version %d", x->state, x->version));
		return STEP_DONE;
	}
	context = s->uses_context ? ContextObject(x) : NULL;
	if (x->phase == PHASE_ENTER)
		WorkflowHistory(x, StateEventType(s->type, true),
				WorkflowStateDetails(s->name, "input", x->state_input));

	switch (s->type)
	{
		case STATE_PASS:
			if (!EffectiveInput(s, x->state_input, context, &effective, &err) ||
				!StateOutput(s, x->state_input, s->result ? s->result : effective, context, &out, &err))
				return RuntimeFailure(x, s, &err, now);
			break;

		case STATE_TASK:
			{
				Jsonb	   *result;
				StateFailure f;
				TaskOutcome o;

				if (x->phase == PHASE_TOKEN)
					o = WorkflowTaskResume(x, s, now, &result, &f);
				else
				{
					if (WorkflowTaskWaitsForToken(s))
					{
						x->task_token = WorkflowNewTaskToken();
						context = ContextObject(x);
					}
					if (!EffectiveInput(s, x->state_input, context, &effective, &err))
						return RuntimeFailure(x, s, &err, now);
					o = WorkflowTaskStart(x, s, effective, context, now, &result, &f, &err);
				}
				if (o == TASK_RUNTIME)
					return RuntimeFailure(x, s, &err, now);
				if (o == TASK_FAILED)
					return Failed(x, s, &f, now);
				if (o == TASK_WAITING)
					return STEP_WAIT;
				if (!StateOutput(s, x->state_input, result, context, &out, &err))
					return RuntimeFailure(x, s, &err, now);
				break;
			}

		case STATE_CHOICE:
			{
				int			i;
				const char *next = NULL;

				if (!AslApplyInputPath(s->input_path.path, s->input_path.is_null, x->state_input,
									   context, &effective, &err))
					return RuntimeFailure(x, s, &err, now);
				for (i = 0; i < s->nchoices && next == NULL; i++)
				{
					bool		matched;

					CHECK_FOR_INTERRUPTS();
					if (!AslChoiceEvaluate(s->choices[i], effective, context, &matched, &err))
						return RuntimeFailure(x, s, &err, now);
					if (matched)
						next = s->choice_next[i];
				}
				if (next == NULL)
					next = s->default_next;
				if (next == NULL)
				{
					StateFailure f;

					f.error = pstrdup("States.NoChoiceMatched");
					f.cause = psprintf("no choice rule of state \"%s\" matched, and it has no Default", s->name);
					Finish(x, "FAILED", NULL, f.error, f.cause);
					return STEP_DONE;
				}
				if (!AslApplyOutputPath(s->output_path.path, s->output_path.is_null, effective,
										context, &out, &err))
					return RuntimeFailure(x, s, &err, now);
				Transition(x, s, next, out);
				return STEP_NEXT;
			}

		case STATE_WAIT:
			if (!AslApplyInputPath(s->input_path.path, s->input_path.is_null, x->state_input,
								   context, &effective, &err))
				return RuntimeFailure(x, s, &err, now);
			if (x->phase == PHASE_ENTER)
			{
				TimestampTz until = now;
				Jsonb	   *v;

				if (s->has_seconds)
					until = now + (int64) (s->seconds * USECS_PER_SEC);
				else if (s->has_timestamp)
					until = s->timestamp;
				else if (s->seconds_path || s->timestamp_path)
				{
					JsonbValue	scalar;

					if (!AslPathEvaluate(s->seconds_path ? s->seconds_path : s->timestamp_path,
										 effective, context, &v, &err))
						return RuntimeFailure(x, s, &err, now);
					if (!JB_ROOT_IS_SCALAR(v) || !JsonbExtractScalar(&v->root, &scalar) ||
						(s->seconds_path && (scalar.type != jbvNumeric ||
											 AslNumberValue(&scalar, -1) < 0)) ||
						(s->timestamp_path && scalar.type != jbvString))
					{
						err.error = "States.Runtime";
						err.cause = psprintf("the %s of state \"%s\" is not a %s",
											 s->seconds_path ? "SecondsPath" : "TimestampPath", s->name,
											 s->seconds_path ? "non-negative number" : "timestamp");
						return RuntimeFailure(x, s, &err, now);
					}
					if (s->seconds_path)
						until = now + (int64) (AslNumberValue(&scalar, 0) * USECS_PER_SEC);
					else
						until = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
																		CStringGetDatum(pnstrdup(scalar.val.string.val, scalar.val.string.len)),
																		ObjectIdGetDatum(InvalidOid),
																		Int32GetDatum(-1)));
				}
				if (until > now)
				{
					x->phase = PHASE_WAITING;
					x->next_step_at = until;
					if (x->timeout_at != 0 && x->next_step_at > x->timeout_at)
						x->next_step_at = x->timeout_at;
					return STEP_WAIT;
				}
			}
			if (!AslApplyOutputPath(s->output_path.path, s->output_path.is_null, effective,
									context, &out, &err))
				return RuntimeFailure(x, s, &err, now);
			break;

		case STATE_SUCCEED:
			if (!AslApplyInputPath(s->input_path.path, s->input_path.is_null, x->state_input,
								   context, &effective, &err) ||
				!AslApplyOutputPath(s->output_path.path, s->output_path.is_null, effective,
									context, &out, &err))
				return RuntimeFailure(x, s, &err, now);
			WorkflowHistory(x, "SucceedStateExited", WorkflowStateDetails(s->name, "output", out));
			Finish(x, "SUCCEEDED", out, NULL, NULL);
			return STEP_DONE;

		case STATE_FAIL:
			{
				char	   *error = s->error;
				char	   *cause = s->cause;
				Jsonb	   *v;
				JsonbValue	scalar;

				if (s->error_path)
				{
					if (!AslPathEvaluate(s->error_path, x->state_input, context, &v, &err))
						return RuntimeFailure(x, s, &err, now);
					if (JB_ROOT_IS_SCALAR(v) && JsonbExtractScalar(&v->root, &scalar) &&
						scalar.type == jbvString)
						error = pnstrdup(scalar.val.string.val, scalar.val.string.len);
				}
				if (s->cause_path)
				{
					if (!AslPathEvaluate(s->cause_path, x->state_input, context, &v, &err))
						return RuntimeFailure(x, s, &err, now);
					if (JB_ROOT_IS_SCALAR(v) && JsonbExtractScalar(&v->root, &scalar) &&
						scalar.type == jbvString)
						cause = pnstrdup(scalar.val.string.val, scalar.val.string.len);
				}
				Finish(x, "FAILED", NULL, error, cause);
				return STEP_DONE;
			}

		case STATE_PARALLEL:
		case STATE_MAP:
			{
				Jsonb	   *result;
				StateFailure f;

				switch (WorkflowRunBranches(x, s, context, now, &result, &f))
				{
					case BRANCHES_WAIT:
						return STEP_WAIT;
					case BRANCHES_FAILED:
						return Failed(x, s, &f, now);
					case BRANCHES_DONE:
						break;
				}
				if (!StateOutput(s, x->state_input, result, context, &out, &err))
					return RuntimeFailure(x, s, &err, now);
				break;
			}
	}

	/* Pass, Task, Wait, Parallel, Map: on to Next, or the end */
	if (s->end || s->next == NULL)
	{
		WorkflowHistory(x, StateEventType(s->type, false),
				WorkflowStateDetails(s->name, "output", out));
		Finish(x, "SUCCEEDED", out, NULL, NULL);
		return STEP_DONE;
	}
	Transition(x, s, s->next, out);
	return STEP_NEXT;
}

/*----------
 * Loading and saving executions.
 *----------
 */

static char *
TextCol(const Datum *values, const bool *nulls, ReadColumn c)
{
	return nulls[c] ? NULL : TextDatumGetCString(values[c]);
}

static TimestampTz
TimeCol(const Datum *values, const bool *nulls, ReadColumn c)
{
	return nulls[c] ? 0 : DatumGetTimestampTz(values[c]);
}

static Jsonb *
JsonbCol(const Datum *values, const bool *nulls, ReadColumn c)
{
	return nulls[c] ? NULL : DatumGetJsonbPCopy(values[c]);
}

/*
 * Execution id as it is now, if it is RUNNING and due at now: read from
 * its version at tid when that is still current (workflow_store.c), else
 * by a SELECT.  Locked by this transaction, but a task of another execution
 * may have stopped or advanced it since it was locked.  The execution is
 * loaded into x, in cxt; false when it is no longer due.
 */
static bool
LoadExecution(int64 id, ItemPointer tid, TimestampTz now, Execution *x, MemoryContext cxt)
{
	Datum		values[NUM_READ_COLUMNS + 1];
	bool		nulls[NUM_READ_COLUMNS + 1];
	bool		from_spi = false;
	MemoryContext old = MemoryContextSwitchTo(cxt);
	int			c;

	if (!CourierReadExecutionDirect(id, tid, now, values, nulls))
	{
		Oid			argtypes[2] = {INT8OID, TIMESTAMPTZOID};
		Datum		args[2];
		SPIPlanPtr	plan;

		/* the columns in ReadColumn order, and the version's ctid */
		plan = CourierPlan(&due_plan,
						   "SELECT e.execution_id, e.state_machine_name, e.execution_name, e.version,"
						   "       e.started_at, e.timeout_at, e.current_state, e.state_entered_at,"
						   "       e.state_phase, e.retry_counts, e.redrive_count,"
						   "       e.started_by::pg_catalog.text, e.input, e.state_input,"
						   "       e.parent_execution_id, e.branch_path, e.item_index, e.children_from,"
						   "       e.correlation_id, e.last_event_id, e.redriven_at, e.ctid"
						   "  FROM courier.executions AS e"
						   " WHERE e.execution_id OPERATOR(pg_catalog.=) $1"
						   "   AND e.status OPERATOR(pg_catalog.=) 'RUNNING'"
						   "   AND e.next_step_at OPERATOR(pg_catalog.<=) $2",
						   2, argtypes);
		args[0] = Int64GetDatum(id);
		args[1] = TimestampTzGetDatum(now);
		if (SPI_execute_plan(plan, args, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "courier: due execution lookup failed");
		if (SPI_processed != 1)
		{
			SPI_freetuptable(SPI_tuptable);
			MemoryContextSwitchTo(old);
			return false;
		}
		for (c = 0; c <= NUM_READ_COLUMNS; c++)
			values[c] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, c + 1,
									  &nulls[c]);
		tid = (ItemPointer) DatumGetPointer(values[NUM_READ_COLUMNS]);
		from_spi = true;
		MemoryContextSwitchTo(cxt); /* SPI left its own */
	}

	memset(x, 0, sizeof(*x));
	x->id = DatumGetInt64(values[READ_EXECUTION_ID]);
	ItemPointerCopy(tid, &x->tid);
	x->machine_name = TextCol(values, nulls, READ_STATE_MACHINE_NAME);
	x->name = TextCol(values, nulls, READ_EXECUTION_NAME);
	x->version = DatumGetInt32(values[READ_VERSION]);
	x->started_at = TimeCol(values, nulls, READ_STARTED_AT);
	x->timeout_at = TimeCol(values, nulls, READ_TIMEOUT_AT);
	x->state = TextCol(values, nulls, READ_CURRENT_STATE);
	x->entered_at = TimeCol(values, nulls, READ_STATE_ENTERED_AT);
	x->phase = DatumGetInt16(values[READ_STATE_PHASE]);
	if (!nulls[READ_RETRY_COUNTS])
	{
		ArrayType  *arr = DatumGetArrayTypePCopy(values[READ_RETRY_COUNTS]);
		Datum	   *elems;
		bool	   *elemnulls;
		int			n,
					i;

		deconstruct_array(arr, INT4OID, 4, true, TYPALIGN_INT, &elems, &elemnulls, &n);
		x->retry_counts = palloc0(sizeof(int) * Max(n, 1));
		for (i = 0; i < n; i++)
			x->retry_counts[i] = elemnulls[i] ? 0 : DatumGetInt32(elems[i]);
		x->nretry_counts = n;
	}
	x->redrive_count = DatumGetInt32(values[READ_REDRIVE_COUNT]);
	x->started_by = TextCol(values, nulls, READ_STARTED_BY);
	x->role = x->started_by ? get_role_oid(x->started_by, true) : InvalidOid;
	x->input = JsonbCol(values, nulls, READ_INPUT);
	x->state_input = JsonbCol(values, nulls, READ_STATE_INPUT);
	x->correlation_id = TextCol(values, nulls, READ_CORRELATION_ID);
	x->status = pstrdup("RUNNING");
	if (!nulls[READ_PARENT_EXECUTION_ID])
	{
		Datum	   *elems;
		bool	   *elemnulls;
		int			i;

		x->parent_id = DatumGetInt64(values[READ_PARENT_EXECUTION_ID]);
		deconstruct_array(DatumGetArrayTypePCopy(values[READ_BRANCH_PATH]),
						  TEXTOID, -1, false, TYPALIGN_INT, &elems, &elemnulls, &x->nbranch_path);
		x->branch_path = palloc0(sizeof(char *) * Max(x->nbranch_path, 1));
		for (i = 0; i < x->nbranch_path; i++)
			x->branch_path[i] = TextDatumGetCString(elems[i]);
		x->item_index = DatumGetInt32(values[READ_ITEM_INDEX]);
	}
	x->children_from = nulls[READ_CHILDREN_FROM] ? 0 : DatumGetInt64(values[READ_CHILDREN_FROM]);
	/* the last history event, so new ones follow it */
	x->last_event = DatumGetInt32(values[READ_LAST_EVENT_ID]);
	x->saved_event = x->last_event;
	x->redriven_at = TimeCol(values, nulls, READ_REDRIVEN_AT);
	if (from_spi)
		SPI_freetuptable(SPI_tuptable);
	MemoryContextSwitchTo(old);
	return true;
}

/*
 * The next due execution, locked; false when there is none.  budget: the
 * steps the caller may still make (at most that many are locked).
 */
static bool
TakeDue(TimestampTz now, Execution *x, MemoryContext cxt, int64 budget)
{
	Oid			argtypes[3] = {TIMESTAMPTZOID, INT8OID, TIMESTAMPTZOID};
	Datum		values[3];
	SPIPlanPtr	plan;
	bool		isnull;

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (next_due == ndue)
		{
			uint64		i;

			plan = CourierPlan(&due_batch_plan,
							   "SELECT e.execution_id, e.next_step_at, e.ctid"
							   "  FROM courier.executions AS e"
							   " WHERE e.status OPERATOR(pg_catalog.=) 'RUNNING'"
							   "   AND e.next_step_at OPERATOR(pg_catalog.<=) $1"
							   "   AND e.next_step_at OPERATOR(pg_catalog.>=) $3"
							   " ORDER BY e.next_step_at"
							   " LIMIT $2"
							   "   FOR UPDATE OF e SKIP LOCKED",
							   3, argtypes);
			values[0] = TimestampTzGetDatum(now);
			values[1] = Int64GetDatum(Min(budget, due_batch));
			due_batch = Min(due_batch * 2, DUE_BATCH);
			values[2] = TimestampTzGetDatum(due_from);
			if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_SELECT)
				elog(ERROR, "courier: due executions lookup failed");
			ndue = (int) SPI_processed;
			next_due = 0;
			for (i = 0; i < SPI_processed; i++)
			{
				HeapTuple	tup = SPI_tuptable->vals[i];
				TupleDesc	desc = SPI_tuptable->tupdesc;

				due_ids[i] = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
				ItemPointerCopy((ItemPointer) DatumGetPointer(SPI_getbinval(tup, desc, 3, &isnull)),
								&due_tids[i]);
			}
			if (ndue > 0)
				due_from = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[ndue - 1],
															 SPI_tuptable->tupdesc, 2, &isnull));
			SPI_freetuptable(SPI_tuptable);
			if (ndue == 0)
				return false;
		}
		next_due++;
		if (LoadExecution(due_ids[next_due - 1], &due_tids[next_due - 1], now, x, cxt))
			return true;
	}
}

/*
 * Write the execution's row and the history events of this run, in one
 * statement.
 */
static void
SaveExecution(const Execution *x, TimestampTz now)
{
	Oid			argtypes[17] = {INT8OID, TEXTOID, TIMESTAMPTZOID, TEXTOID, TIMESTAMPTZOID,
		INT2OID, INT4ARRAYOID, TEXTOID, TEXTOID, JSONBOID, JSONBOID, TIMESTAMPTZOID,
		INT4OID, INT4OID, TIMESTAMPTZARRAYOID, TEXTARRAYOID, JSONBARRAYOID};
	Datum		values[17];
	char		nulls[17];
	SPIPlanPtr	plan;

	memset(nulls, ' ', sizeof(nulls));
	plan = CourierPlan(&save_plan,
					   "WITH h AS ("
					   "  INSERT INTO courier.execution_events"
					   "         (execution_id, first_event_id, last_event_id, timestamps, types, details)"
					   "  SELECT $1, $13 OPERATOR(pg_catalog.+) 1, $14, $15, $16, $17"
					   "   WHERE $14 OPERATOR(pg_catalog.>) $13)"
					   "UPDATE courier.executions AS e"
					   "   SET status = $2, next_step_at = $3, current_state = $4,"
					   "       state_entered_at = $5, state_phase = $6, retry_counts = $7,"
					   "       error = $8, cause = $9, state_input = $10, output = $11,"
					   "       stopped_at = $12, last_event_id = $14"
					   " WHERE e.execution_id OPERATOR(pg_catalog.=) $1",
					   17, argtypes);
	values[0] = Int64GetDatum(x->id);
	values[1] = CStringGetTextDatum(x->status);
	if (x->next_step_at != 0)
		values[2] = TimestampTzGetDatum(x->next_step_at);
	else
		nulls[2] = 'n';
	values[3] = CStringGetTextDatum(x->state);
	values[4] = TimestampTzGetDatum(x->entered_at);
	values[5] = Int16GetDatum((int16) x->phase);
	if (x->nretry_counts > 0)
	{
		Datum	   *elems = palloc(sizeof(Datum) * x->nretry_counts);
		int			i;

		for (i = 0; i < x->nretry_counts; i++)
			elems[i] = Int32GetDatum(x->retry_counts[i]);
		values[6] = PointerGetDatum(construct_array(elems, x->nretry_counts, INT4OID, 4, true,
													TYPALIGN_INT));
	}
	else
		nulls[6] = 'n';
	if (x->error)
		values[7] = CStringGetTextDatum(x->error);
	else
		nulls[7] = 'n';
	if (x->cause)
		values[8] = CStringGetTextDatum(x->cause);
	else
		nulls[8] = 'n';
	if (x->state_input)
		values[9] = JsonbPGetDatum(x->state_input);
	else
		nulls[9] = 'n';
	if (x->output)
		values[10] = JsonbPGetDatum(x->output);
	else
		nulls[10] = 'n';
	if (x->finished)
		values[11] = TimestampTzGetDatum(now);
	else
		nulls[11] = 'n';
	values[12] = Int32GetDatum(x->saved_event);
	values[13] = Int32GetDatum(x->last_event);
	{
		Datum	   *times = palloc(sizeof(Datum) * Max(x->nevents, 1));
		Datum	   *types = palloc(sizeof(Datum) * Max(x->nevents, 1));
		Datum	   *details = palloc(sizeof(Datum) * Max(x->nevents, 1));
		int			i;

		for (i = 0; i < x->nevents; i++)
		{
			times[i] = TimestampTzGetDatum(x->event_times[i]);
			types[i] = CStringGetTextDatum(x->event_types[i]);
			details[i] = JsonbPGetDatum(x->event_details[i]);
		}
		values[14] = PointerGetDatum(construct_array(times, x->nevents, TIMESTAMPTZOID,
													 sizeof(TimestampTz), FLOAT8PASSBYVAL,
													 TYPALIGN_DOUBLE));
		values[15] = PointerGetDatum(construct_array(types, x->nevents, TEXTOID, -1, false,
													 TYPALIGN_INT));
		values[16] = PointerGetDatum(construct_array(details, x->nevents, JSONBOID, -1, false,
													 TYPALIGN_INT));
	}

	/* directly where it can be (workflow_store.c), else by the statement */
	{
		Datum		row[NUM_SAVE_COLUMNS];
		bool		rownulls[NUM_SAVE_COLUMNS];
		Datum		events[NUM_EVENT_COLUMNS];
		int			c;

		/* the statement's $2 .. $12 and $14, in SaveColumn order */
		for (c = 0; c < NUM_SAVE_COLUMNS - 1; c++)
		{
			row[c] = values[c + 1];
			rownulls[c] = nulls[c + 1] == 'n';
		}
		row[SAVE_LAST_EVENT_ID] = values[13];
		rownulls[SAVE_LAST_EVENT_ID] = false;
		events[EVENT_EXECUTION_ID] = values[0];
		events[EVENT_FIRST_EVENT_ID] = Int32GetDatum(x->saved_event + 1);
		events[EVENT_LAST_EVENT_ID] = values[13];
		events[EVENT_TIMESTAMPS] = values[14];
		events[EVENT_TYPES] = values[15];
		events[EVENT_DETAILS] = values[16];
		if (CourierSaveExecutionDirect(x->id, (ItemPointer) &x->tid, row, rownulls,
									   x->last_event > x->saved_event ? events : NULL))
			return;
	}
	if (SPI_execute_plan(plan, values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "courier: execution update failed");
}

/*
 * courier._run_executions(ts timestamptz, max_steps integer) RETURNS jsonb
 */
Datum
courier_run_executions(PG_FUNCTION_ARGS)
{
	TimestampTz now;
	int32		max_steps;
	int64		steps = 0;
	int64		advanced = 0;
	int64		finished = 0;
	MemoryContext per_execution;
	MemoryContext old;
	char	   *result;

	CourierArgNotNull(fcinfo, 0, "ts");
	CourierArgNotNull(fcinfo, 1, "max_steps");
	now = PG_GETARG_TIMESTAMPTZ(0);
	max_steps = PG_GETARG_INT32(1);
	if (max_steps < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_steps must be at least 1")));

	per_execution = AllocSetContextCreate(CurrentMemoryContext, "pg_courier execution",
										  ALLOCSET_DEFAULT_SIZES);
	run_generation++;
	ndue = next_due = 0;
	due_batch = 1;
	due_from = DT_NOBEGIN;
	SPI_connect();
	while (steps < max_steps)
	{
		Execution	x;
		const AslMachine *m;
		StepResult r = STEP_NEXT;

		CHECK_FOR_INTERRUPTS();
		old = MemoryContextSwitchTo(per_execution);
		if (!TakeDue(now, &x, per_execution, max_steps - steps))
		{
			MemoryContextSwitchTo(old);
			break;
		}
		m = MachineOf(&x);
		if (x.parent_id != 0)
			m = WorkflowBranchMachine(&x, m, now);	/* NULL: aborted, not wanted */
		while (m != NULL && r == STEP_NEXT && steps < max_steps)
		{
			CHECK_FOR_INTERRUPTS();

			/*
			 * Every SPI call leaves CurrentMemoryContext at SPI's procedure
			 * context, which lasts the whole call: what a step allocates
			 * goes in per_execution, freed once the execution is saved.
			 * Without this the memory of every execution of the call piled
			 * up, a fresh page touched for most of it.
			 */
			MemoryContextSwitchTo(per_execution);
			r = Step(&x, m, now);
			steps++;
		}
		if (m != NULL && r == STEP_NEXT)
			x.next_step_at = now;	/* budget used up: due again at once */
		SaveExecution(&x, now);
		advanced++;
		if (x.finished)
			finished++;
		MemoryContextSwitchTo(old);
		MemoryContextReset(per_execution);
	}
	SPI_finish();

	result = psprintf("{\"workflow_transitions\": " INT64_FORMAT
					  ", \"executions_advanced\": " INT64_FORMAT
					  ", \"executions_finished\": " INT64_FORMAT "}",
					  steps, advanced, finished);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(result)));
}

static void
WorkflowXactCallback(XactEvent event, void *arg pg_attribute_unused())
{
	if (!wake_at_commit)
		return;
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			CourierWakeWorker();
			wake_at_commit = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			wake_at_commit = false;
			break;
		default:
			break;
	}
}

/* courier._wake_executions(): the worker runs executions after commit. */
Datum
courier_wake_executions(PG_FUNCTION_ARGS pg_attribute_unused())
{
	if (!xact_callback_registered)
	{
		RegisterXactCallback(WorkflowXactCallback, NULL);
		xact_callback_registered = true;
	}
	wake_at_commit = true;
	PG_RETURN_VOID();
}

