/*-------------------------------------------------------------------------
 *
 * workflow_task.c
 *	  A Task state's resource, run in a subtransaction as the role that
 *	  started the execution: a SQL function called with the state's
 *	  effective input, or one of the service integrations; the task's
 *	  TimeoutSeconds; its history events; and courier.task_error(), which
 *	  raises a named ASL error from inside a function task.
 *
 * Vocabulary:
 *	  resource     what a Task runs: function:SCHEMA.NAME, courier:send,
 *	               courier:publish or courier:put_events, each optionally
 *	               with the ".waitForTaskToken" suffix (task_token.c)
 *	  integration  a courier:* resource: the effective input holds the call's
 *	               Parameters with the field names of the AWS service call it
 *	               mirrors (SQS SendMessage, SNS Publish, EventBridge
 *	               PutEvents), and courier.send / courier.publish /
 *	               courier.put_events do the work, through plans kept per
 *	               backend
 *	  task timeout a synchronous task's TimeoutSeconds: a timer (USER_TIMEOUT)
 *	               that cancels the running query when it fires; the cancel
 *	               is recognised as ours and becomes States.Timeout
 *
 * Any other SQL error a task raises becomes an ASL error named after its
 * SQLSTATE condition (unique_violation, ...), from the table generated
 * from PostgreSQL's errcodes.txt (src/sqlstate_names.h); an integration's
 * missing queue, topic or bus is courier.QueueDoesNotExist,
 * courier.TopicDoesNotExist or courier.BusDoesNotExist.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/regproc.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timeout.h"

#include "compat.h"
#include "context.h"
#include "jsonb_build.h"
#include "pg_courier.h"
#include "plan.h"
#include "task_token.h"
#include "workflow_task.h"

PG_FUNCTION_INFO_V1(courier_task_error);

/* The SQLSTATE courier.task_error() raises; the message is the error name. */
#define ERRCODE_COURIER_TASK_ERROR	MAKE_SQLSTATE('C', 'W', '0', '0', '1')

#define TOKEN_SUFFIX		".waitForTaskToken"
#define TOKEN_SUFFIX_LEN	(sizeof(TOKEN_SUFFIX) - 1)

/* What a Resource names. */
typedef enum ResourceKind
{
	RESOURCE_UNKNOWN,
	RESOURCE_FUNCTION,
	RESOURCE_SEND,
	RESOURCE_PUBLISH,
	RESOURCE_PUT_EVENTS
} ResourceKind;

/* SQLSTATE -> condition name, generated from utils/errcodes.h */
typedef struct SqlStateEntry
{
	int			code;
	const char *name;
} SqlStateEntry;

static const SqlStateEntry sqlstate_names[] = {
#include "sqlstate_names.h"
	{0, NULL}
};

static SPIPlanPtr send_plan = NULL;
static SPIPlanPtr publish_plan = NULL;
static SPIPlanPtr put_events_plan = NULL;

/* The task timeout's timer, registered once per backend. */
static TimeoutId task_timeout_id;
static bool task_timeout_registered = false;
static volatile sig_atomic_t task_timeout_fired = false;


static const char *
SqlStateName(int sqlerrcode)
{
	int			i;

	for (i = 0; sqlstate_names[i].name != NULL; i++)
		if (sqlstate_names[i].code == sqlerrcode)
			return sqlstate_names[i].name;
	return unpack_sql_state(sqlerrcode);
}

static Oid
LookupTaskFunction(const char *name)
{
	LOCAL_FCINFO(fcinfo, 1);
	Datum		result;

	InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = CStringGetTextDatum(psprintf("%s(jsonb)", name));
	fcinfo->args[0].isnull = false;
	result = to_regprocedure(fcinfo);
	return fcinfo->isnull ? InvalidOid : DatumGetObjectId(result);
}

/*
 * LookupTaskFunction, remembered for the rest of the transaction (the last
 * few names): parsing the name and its argument type was a fifth of what a
 * task state cost.  With it the function's call information (FmgrInfo:
 * for a function with SET options or SECURITY DEFINER, what fmgr reads of
 * its pg_proc row at the first call), made once as a SQL statement makes
 * it once for all its rows, and its return type.  The function is checked
 * to still exist, and to be the same version of its pg_proc row (else the
 * call information is made again), at its first use after any pg_proc row
 * changed: proc_generation counts the invalidations of pg_proc's syscache.
 */
#define TASK_FUNCTIONS_CACHED 8
typedef struct TaskFunction
{
	char		name[NAMEDATALEN * 2 + 2];
	Oid			oid;
	LocalTransactionId lxid;
	bool		have_call;		/* flinfo and rettype are set */
	TransactionId proc_xmin;	/* of the pg_proc row they were made from */
	ItemPointerData proc_tid;
	Oid			rettype;
	FmgrInfo	flinfo;			/* in TopTransactionContext */
	uint64		checked;		/* proc_generation when last checked */
} TaskFunction;

static TaskFunction task_functions[TASK_FUNCTIONS_CACHED];
static uint64 proc_generation = 1;
static bool proc_callback_registered = false;

static void
ProcCacheCallback(Datum arg pg_attribute_unused(), int cacheid pg_attribute_unused(),
				  uint32 hashvalue pg_attribute_unused())
{
	proc_generation++;
}

static TaskFunction *
CachedTaskFunction(const char *name)
{
	static TaskFunction uncached;
	static int	next_slot = 0;
	TaskFunction *f;
	int			i;

	if (!proc_callback_registered)
	{
		CacheRegisterSyscacheCallback(PROCOID, ProcCacheCallback, (Datum) 0);
		proc_callback_registered = true;
	}
	for (i = 0; i < TASK_FUNCTIONS_CACHED; i++)
	{
		f = &task_functions[i];
		if (f->lxid == CourierMyLocalXid() && f->lxid != InvalidLocalTransactionId &&
			strcmp(f->name, name) == 0)
		{
			if ((f->have_call && f->checked == proc_generation) ||
				SearchSysCacheExists1(PROCOID, ObjectIdGetDatum(f->oid)))
				return f;
			break;
		}
	}
	if (strlen(name) >= sizeof(task_functions[0].name))
	{
		/* too long to remember */
		f = &uncached;
		f->oid = LookupTaskFunction(name);
		f->lxid = InvalidLocalTransactionId;
		f->have_call = false;
		return f;
	}
	f = i < TASK_FUNCTIONS_CACHED ? &task_functions[i] :
		&task_functions[next_slot++ % TASK_FUNCTIONS_CACHED];
	f->oid = LookupTaskFunction(name);
	f->lxid = OidIsValid(f->oid) ? CourierMyLocalXid() : InvalidLocalTransactionId;
	f->have_call = false;
	strlcpy(f->name, name, sizeof(f->name));
	return f;
}

/*
 * The call information of f, made again when its pg_proc row changed
 * (CREATE OR REPLACE, ALTER FUNCTION) since it was made.  In
 * TopTransactionContext when f is remembered for the transaction, else in
 * the current context.
 */
static FmgrInfo *
TaskFunctionCall(TaskFunction *f)
{
	HeapTuple	tup;
	TransactionId xmin;
	ItemPointerData tid;

	if (f->have_call && f->checked == proc_generation)
		return &f->flinfo;
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(f->oid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", f->oid);
	xmin = HeapTupleHeaderGetRawXmin(tup->t_data);
	tid = tup->t_self;
	f->rettype = ((Form_pg_proc) GETSTRUCT(tup))->prorettype;
	ReleaseSysCache(tup);
	f->checked = proc_generation;
	if (f->have_call && f->proc_xmin == xmin && ItemPointerEquals(&f->proc_tid, &tid))
		return &f->flinfo;
	fmgr_info_cxt(f->oid, &f->flinfo,
				  f->lxid != InvalidLocalTransactionId ? TopTransactionContext : CurrentMemoryContext);
	f->proc_xmin = xmin;
	f->proc_tid = tid;
	f->have_call = f->lxid != InvalidLocalTransactionId;
	return &f->flinfo;
}

/*
 * What a Resource names; *name (functions: SCHEMA.NAME) and *token (the
 * ".waitForTaskToken" suffix) as well.
 */
static ResourceKind
ParseResource(const char *resource, char **name, bool *token)
{
	size_t		len;
	char	   *r;

	*name = NULL;
	*token = false;
	if (resource == NULL)
		return RESOURCE_UNKNOWN;
	len = strlen(resource);
	if (len > TOKEN_SUFFIX_LEN && strcmp(resource + len - TOKEN_SUFFIX_LEN, TOKEN_SUFFIX) == 0)
	{
		*token = true;
		len -= TOKEN_SUFFIX_LEN;
	}
	/* a copy only to cut the suffix off: this runs at every Task state */
	r = *token ? pnstrdup(resource, len) : (char *) resource;
	if (strncmp(r, "function:", 9) == 0 && r[9] != '\0')
	{
		*name = r + 9;
		return RESOURCE_FUNCTION;
	}
	if (strcmp(r, "courier:send") == 0)
		return RESOURCE_SEND;
	if (strcmp(r, "courier:publish") == 0)
		return RESOURCE_PUBLISH;
	if (strcmp(r, "courier:put_events") == 0)
		return RESOURCE_PUT_EVENTS;
	*token = false;
	return RESOURCE_UNKNOWN;
}

/* Does the Task wait for its task token? */
bool
WorkflowTaskWaitsForToken(const AslState *s)
{
	char	   *name;
	bool		token;

	return ParseResource(s->resource, &name, &token) != RESOURCE_UNKNOWN && token;
}

/*----------
 * The task timeout.
 *
 * The timer's handler asks for a query cancel, as statement_timeout does;
 * the cancel's error, caught in RunTask's PG_CATCH with the flag set, is
 * the timeout.  A cancel while the flag is unset is the user's, and goes
 * on up.
 *----------
 */

static void
TaskTimeoutHandler(void)
{
	task_timeout_fired = true;
	InterruptPending = true;
	QueryCancelPending = true;
	SetLatch(MyLatch);
}

static void
ArmTaskTimeout(int64 seconds)
{
	task_timeout_fired = false;
	if (seconds <= 0)
		return;
	if (!task_timeout_registered)
	{
		task_timeout_id = RegisterTimeout(USER_TIMEOUT, TaskTimeoutHandler);
		task_timeout_registered = true;
	}
	enable_timeout_after(task_timeout_id, (int) Min(seconds * 1000, (int64) PG_INT32_MAX));
}

/* Stop the timer; true if it fired. */
static bool
DisarmTaskTimeout(int64 seconds)
{
	bool		fired;

	if (seconds > 0)
		disable_timeout(task_timeout_id, false);
	fired = task_timeout_fired;
	task_timeout_fired = false;
	return fired;
}

/*----------
 * Integrations: Parameters -> a call of courier.send, courier.publish or
 * courier.put_events.  A bad parameter raises courier.InvalidParameter,
 * caught by RunTask as any task error.
 *----------
 */

static pg_attribute_noreturn() void
InvalidParameter(const char *integration, const char *fmt, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_COURIER_TASK_ERROR),
			 errmsg("courier.InvalidParameter"),
			 errdetail_internal("%s: %s", integration, psprintf(fmt, what))));
}

/* The Parameters must be an object with no other fields than `allowed`. */
static JsonbContainer *
CheckFields(Jsonb *in, const char *integration, const char *const *allowed)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (!JB_ROOT_IS_OBJECT(in))
		InvalidParameter(integration, "the Parameters must be a JSON object%s", "");
	it = JsonbIteratorInit(&in->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		int			i;
		bool		known = false;

		if (tok != WJB_KEY)
			continue;
		for (i = 0; allowed[i] != NULL && !known; i++)
			known = strlen(allowed[i]) == (size_t) v.val.string.len &&
				memcmp(allowed[i], v.val.string.val, v.val.string.len) == 0;
		if (!known)
			InvalidParameter(integration, "unknown field \"%s\"",
							 pnstrdup(v.val.string.val, v.val.string.len));
	}
	return &in->root;
}

static char *
StringField(JsonbContainer *c, const char *key, bool required, const char *integration)
{
	JsonbValue *v = CourierJsonbField(c, key);

	if (v == NULL || v->type == jbvNull)
	{
		if (required)
			InvalidParameter(integration, "\"%s\" is required", key);
		return NULL;
	}
	if (v->type != jbvString)
		InvalidParameter(integration, "\"%s\" must be a string", key);
	return pnstrdup(v->val.string.val, v->val.string.len);
}

static Jsonb *
ValueJsonb(JsonbValue *v)
{
	return JsonbValueToJsonb(v);
}

/*
 * MessageAttributes -> headers: {"name": {"DataType": "String",
 * "StringValue": "x"}} gives "name": "x"; any other value is kept as is.
 */
static Jsonb *
AttributesHeaders(JsonbContainer *c, const char *subject, const char *integration)
{
	JsonbValue *attrs = CourierJsonbField(c, "MessageAttributes");
	JsonbParseState *st = NULL;
	JsonbValue	k;

	if ((attrs == NULL || attrs->type == jbvNull) && subject == NULL)
		return NULL;
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	if (attrs != NULL && attrs->type != jbvNull)
	{
		JsonbIterator *it;
		JsonbValue	v;
		JsonbIteratorToken tok;

		if (attrs->type != jbvBinary || !JsonContainerIsObject(attrs->val.binary.data))
			InvalidParameter(integration, "\"%s\" must be a JSON object", "MessageAttributes");
		it = JsonbIteratorInit(attrs->val.binary.data);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok == WJB_KEY)
				pushJsonbValue(&st, WJB_KEY, &v);
			else if (tok == WJB_VALUE)
			{
				JsonbValue *sv = NULL;

				if (v.type == jbvBinary && JsonContainerIsObject(v.val.binary.data))
					sv = CourierJsonbField(v.val.binary.data, "StringValue");
				pushJsonbValue(&st, WJB_VALUE, sv != NULL ? sv : &v);
			}
		}
	}
	if (subject != NULL)
	{
		JsonbValue	sv;

		k.type = jbvString;
		k.val.string.val = "Subject";
		k.val.string.len = 7;
		pushJsonbValue(&st, WJB_KEY, &k);
		sv.type = jbvString;
		sv.val.string.val = (char *) subject;
		sv.val.string.len = strlen(subject);
		pushJsonbValue(&st, WJB_VALUE, &sv);
	}
	return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
}

/* {"MessageId": "id"} */
static Jsonb *
MessageIdResult(int64 id)
{
	JsonbParseState *st = NULL;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	CourierPushText(&st, "MessageId", psprintf(INT64_FORMAT, id));
	return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
}

static Datum
NullableText(const char *s, char *null)
{
	*null = s ? ' ' : 'n';
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/* courier:send: QueueName, MessageBody, DelaySeconds, MessageGroupId, MessageDeduplicationId, MessageAttributes */
static Jsonb *
IntegrationSend(Jsonb *in)
{
	static const char *const fields[] = {"QueueName", "MessageBody", "DelaySeconds",
		"MessageGroupId", "MessageDeduplicationId", "MessageAttributes", NULL};
	const char *name = "courier:send";
	JsonbContainer *c = CheckFields(in, name, fields);
	Oid			argtypes[6] = {TEXTOID, JSONBOID, JSONBOID, INTERVALOID, TEXTOID, TEXTOID};
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	JsonbValue *body = CourierJsonbField(c, "MessageBody");
	JsonbValue *delay = CourierJsonbField(c, "DelaySeconds");
	Jsonb	   *headers;
	SPIPlanPtr	plan;
	bool		isnull;

	values[0] = CStringGetTextDatum(StringField(c, "QueueName", true, name));
	if (body == NULL)
		InvalidParameter(name, "\"%s\" is required", "MessageBody");
	values[1] = JsonbPGetDatum(ValueJsonb(body));
	headers = AttributesHeaders(c, NULL, name);
	values[2] = JsonbPGetDatum(headers);
	nulls[2] = headers ? ' ' : 'n';
	if (delay != NULL && delay->type != jbvNull)
	{
		Interval   *iv = palloc0(sizeof(Interval));
		double		secs = AslNumberValue(delay, -1);

		if (delay->type != jbvNumeric || secs < 0 || secs > 900 || secs != floor(secs))
			InvalidParameter(name, "\"%s\" must be an integer from 0 to 900", "DelaySeconds");
		iv->time = (int64) secs * USECS_PER_SEC;
		values[3] = IntervalPGetDatum(iv);
	}
	else
		nulls[3] = 'n';
	values[4] = NullableText(StringField(c, "MessageGroupId", false, name), &nulls[4]);
	values[5] = NullableText(StringField(c, "MessageDeduplicationId", false, name), &nulls[5]);
	plan = CourierPlan(&send_plan, "SELECT courier.send($1, $2, $3, $4, $5, $6)", 6, argtypes);
	if (SPI_execute_plan(plan, values, nulls, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "courier: courier:send failed");
	return MessageIdResult(DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
													   1, &isnull)));
}

/* courier:publish: TopicName, Message, Subject, MessageAttributes, MessageGroupId, MessageDeduplicationId */
static Jsonb *
IntegrationPublish(Jsonb *in)
{
	static const char *const fields[] = {"TopicName", "Message", "Subject", "MessageAttributes",
		"MessageGroupId", "MessageDeduplicationId", NULL};
	const char *name = "courier:publish";
	JsonbContainer *c = CheckFields(in, name, fields);
	Oid			argtypes[5] = {TEXTOID, JSONBOID, JSONBOID, TEXTOID, TEXTOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	JsonbValue *message = CourierJsonbField(c, "Message");
	Jsonb	   *headers;
	SPIPlanPtr	plan;
	bool		isnull;

	values[0] = CStringGetTextDatum(StringField(c, "TopicName", true, name));
	if (message == NULL)
		InvalidParameter(name, "\"%s\" is required", "Message");
	values[1] = JsonbPGetDatum(ValueJsonb(message));
	headers = AttributesHeaders(c, StringField(c, "Subject", false, name), name);
	values[2] = JsonbPGetDatum(headers);
	nulls[2] = headers ? ' ' : 'n';
	values[3] = NullableText(StringField(c, "MessageGroupId", false, name), &nulls[3]);
	values[4] = NullableText(StringField(c, "MessageDeduplicationId", false, name), &nulls[4]);
	plan = CourierPlan(&publish_plan, "SELECT courier.publish($1, $2, $3, $4, $5)", 5, argtypes);
	if (SPI_execute_plan(plan, values, nulls, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "courier: courier:publish failed");
	return MessageIdResult(DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
													   1, &isnull)));
}

/* One PutEvents entry -> [the event] for courier.put_events; *bus its bus. */
static Jsonb *
EntryEvents(JsonbValue *entry, char **bus, const char *name)
{
	static const char *const fields[] = {"EventBusName", "Source", "DetailType", "Detail",
		"Resources", "Time", NULL};
	Jsonb	   *e;
	JsonbContainer *c;
	JsonbParseState *st = NULL;
	JsonbValue *v;

	if (entry->type != jbvBinary || !JsonContainerIsObject(entry->val.binary.data))
		InvalidParameter(name, "each of \"%s\" must be a JSON object", "Entries");
	e = ValueJsonb(entry);
	c = CheckFields(e, name, fields);
	*bus = StringField(c, "EventBusName", false, name);
	if (*bus == NULL)
		*bus = "default";
	pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	if ((v = CourierJsonbField(c, "Source")) != NULL)
		CourierPushValue(&st, "source", v);
	if ((v = CourierJsonbField(c, "DetailType")) != NULL)
		CourierPushValue(&st, "detail-type", v);
	if ((v = CourierJsonbField(c, "Detail")) != NULL)
	{
		if (v->type == jbvString)
		{
			/* EventBridge's Detail is JSON text; an object is taken as well */
			Jsonb	   *parsed = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
																	CStringGetDatum(pnstrdup(v->val.string.val,
																							 v->val.string.len))));
			JsonbValue	pv;

			CourierPushValue(&st, "detail", CourierJsonbAsValue(parsed, &pv));
		}
		else
			CourierPushValue(&st, "detail", v);
	}
	if ((v = CourierJsonbField(c, "Resources")) != NULL)
		CourierPushValue(&st, "resources", v);
	if ((v = CourierJsonbField(c, "Time")) != NULL)
		CourierPushValue(&st, "time", v);
	pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_ARRAY, NULL));
}

/*
 * courier:put_events: Entries [{EventBusName, Source, DetailType, Detail,
 * Resources, Time}], 1 to 10 of them.  Result as PutEvents':
 * {"Entries": [{"EventId"} or {"ErrorCode", "ErrorMessage"}], "FailedEntryCount"};
 * a failed entry fails the task (courier.FailedEntry, that result as the
 * cause), so that the other entries are rolled back with it.
 */
static Jsonb *
IntegrationPutEvents(Jsonb *in)
{
	static const char *const fields[] = {"Entries", NULL};
	const char *name = "courier:put_events";
	JsonbContainer *c = CheckFields(in, name, fields);
	JsonbValue *entries = CourierJsonbField(c, "Entries");
	Oid			argtypes[2] = {TEXTOID, JSONBOID};
	JsonbParseState *st = NULL;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			failed = 0;
	JsonbValue	n;
	Jsonb	   *result;

	if (entries == NULL || entries->type != jbvBinary ||
		!JsonContainerIsArray(entries->val.binary.data) ||
		JsonContainerSize(entries->val.binary.data) < 1 ||
		JsonContainerSize(entries->val.binary.data) > 10)
		InvalidParameter(name, "\"%s\" must be an array of 1 to 10 entries", "Entries");
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	n.type = jbvString;
	n.val.string.val = "Entries";
	n.val.string.len = 7;
	pushJsonbValue(&st, WJB_KEY, &n);
	pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
	it = JsonbIteratorInit(entries->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *bus;
		Datum		values[2];
		SPIPlanPtr	plan;
		bool		isnull;
		Datum		d;

		CHECK_FOR_INTERRUPTS();
		if (tok != WJB_ELEM)
			continue;
		values[1] = JsonbPGetDatum(EntryEvents(&v, &bus, name));
		values[0] = CStringGetTextDatum(bus);
		plan = CourierPlan(&put_events_plan,
						   "SELECT r.event_id::pg_catalog.text, r.error, r.error_code"
						   "  FROM courier.put_events($1, $2) AS r",
						   2, argtypes);
		if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "courier: courier:put_events failed");
		pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull)
			CourierPushText(&st, "EventId", TextDatumGetCString(d));
		else
		{
			char	   *code = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
			char	   *message = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);

			CourierPushText(&st, "ErrorCode", code ? code : "InternalFailure");
			CourierPushText(&st, "ErrorMessage", message ? message : "");
			failed++;
		}
		pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	}
	pushJsonbValue(&st, WJB_END_ARRAY, NULL);
	n.val.string.val = "FailedEntryCount";
	n.val.string.len = 16;
	pushJsonbValue(&st, WJB_KEY, &n);
	n.type = jbvNumeric;
	n.val.numeric = int64_to_numeric(failed);
	pushJsonbValue(&st, WJB_VALUE, &n);
	result = JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
	if (failed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_COURIER_TASK_ERROR),
				 errmsg("courier.FailedEntry"),
				 errdetail_internal("%s", JsonbToCString(NULL, &result->root, VARSIZE(result)))));
	return result;
}

/* The ASL error of an integration's SQL error, or NULL: name it by SQLSTATE. */
static const char *
IntegrationErrorName(ResourceKind kind, int sqlerrcode)
{
	if (sqlerrcode == ERRCODE_UNDEFINED_OBJECT)
		return kind == RESOURCE_SEND ? "courier.QueueDoesNotExist" :
			kind == RESOURCE_PUBLISH ? "courier.TopicDoesNotExist" : "courier.BusDoesNotExist";
	if (sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE)
		return "courier.PermissionDenied";
	return NULL;
}

/*
 * Run a Task's resource with its effective input, within timeout_seconds
 * (0: no limit).  true with *result on success; false with *fail otherwise
 * (everything the task did rolled back); *timed_out when the limit ended it.
 */
static bool
RunTask(const Execution *x, const AslState *s, Jsonb *input, int64 timeout_seconds,
		Jsonb **result, StateFailure *fail, bool *timed_out)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile Oid fnoid = InvalidOid;
	TaskFunction *volatile tf = NULL;
	Oid			role;
	Oid			save_userid;
	int			save_sec_context;
	volatile bool ok = true;
	char	   *fname;
	bool		token;
	ResourceKind kind = ParseResource(s->resource, &fname, &token);
	CourierContextSaved saved_context;
	char		causation[32];

	*timed_out = false;
	if (kind == RESOURCE_UNKNOWN)
	{
		fail->error = pstrdup("States.Runtime");
		fail->cause = psprintf("resource \"%s\" is not available in pg_courier",
							   s->resource ? s->resource : "");
		return false;
	}
	role = OidIsValid(x->role) ? x->role : get_role_oid(x->started_by, true);
	if (kind == RESOURCE_FUNCTION)
	{
		tf = CachedTaskFunction(fname);
		fnoid = tf->oid;
		if (!OidIsValid(fnoid))
		{
			fail->error = pstrdup("courier.FunctionNotFound");
			fail->cause = psprintf("function %s(jsonb) does not exist", fname);
			return false;
		}
		if (!OidIsValid(role) || CourierProcAclCheck(fnoid, role, ACL_EXECUTE) != ACLCHECK_OK)
		{
			fail->error = pstrdup("courier.PermissionDenied");
			fail->cause = psprintf("role \"%s\" may not execute function %s(jsonb)",
								   x->started_by, fname);
			return false;
		}
	}
	else if (!OidIsValid(role))
	{
		fail->error = pstrdup("courier.PermissionDenied");
		fail->cause = psprintf("role \"%s\" does not exist", x->started_by);
		return false;
	}

	/* what the task sends belongs to the execution's flow (context.c) */
	memcpy(causation, "execution:", 10);
	pg_lltoa(x->id, causation + 10);
	CourierContextOverride(x->correlation_id, causation, &saved_context);

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		Jsonb	   *r = NULL;

		SetUserIdAndSecContext(role, save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
		ArmTaskTimeout(timeout_seconds);
		if (kind == RESOURCE_FUNCTION)
		{
			LOCAL_FCINFO(fcinfo, 1);
			FmgrInfo   *flinfo = TaskFunctionCall(tf);
			Datum		d;

			InitFunctionCallInfoData(*fcinfo, flinfo, 1, InvalidOid, NULL, NULL);
			fcinfo->args[0].value = JsonbPGetDatum(input);
			fcinfo->args[0].isnull = false;
			d = FunctionCallInvoke(fcinfo);
			MemoryContextSwitchTo(oldcxt);
			if (fcinfo->isnull || tf->rettype != JSONBOID)
				r = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("null")));
			else
				r = DatumGetJsonbPCopy(d);
		}
		else if (kind == RESOURCE_SEND)
			r = IntegrationSend(input);
		else if (kind == RESOURCE_PUBLISH)
			r = IntegrationPublish(input);
		else
			r = IntegrationPutEvents(input);
		if (DisarmTaskTimeout(timeout_seconds))
		{
			/*
			 * The timer fired just as the task ended: the cancel it asked for
			 * is ours, and the task made it in time.
			 */
			QueryCancelPending = false;
		}
		SetUserIdAndSecContext(save_userid, save_sec_context);
		MemoryContextSwitchTo(oldcxt);
		*result = r;
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		bool		fired = DisarmTaskTimeout(timeout_seconds);
		const char *name;

		SetUserIdAndSecContext(save_userid, save_sec_context);
		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED && fired)
		{
			*timed_out = true;
			fail->error = pstrdup("States.Timeout");
			fail->cause = psprintf("the task did not end within its TimeoutSeconds (" INT64_FORMAT " s)",
								   timeout_seconds);
		}
		else if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
				 edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
			ReThrowError(edata);
		else if (edata->sqlerrcode == ERRCODE_COURIER_TASK_ERROR)
		{
			fail->error = pstrdup(edata->message ? edata->message : "");
			fail->cause = edata->detail ? pstrdup(edata->detail) : NULL;
		}
		else if (kind != RESOURCE_FUNCTION &&
				 (name = IntegrationErrorName(kind, edata->sqlerrcode)) != NULL)
		{
			fail->error = pstrdup(name);
			fail->cause = pstrdup(edata->message ? edata->message : "");
		}
		else
		{
			fail->error = pstrdup(SqlStateName(edata->sqlerrcode));
			fail->cause = pstrdup(edata->message ? edata->message : "");
		}
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	CourierContextRestore(&saved_context);
	return ok;
}

/*
 * Run a Task's resource with its effective input, without a time limit.
 * true with *result on success; false with *fail otherwise.
 */
bool
WorkflowRunTask(const Execution *x, const AslState *s, Jsonb *input, Jsonb **result, StateFailure *fail)
{
	bool		timed_out;

	return RunTask(x, s, input, 0, result, fail, &timed_out);
}

/*----------
 * A Task state's step.
 *----------
 */

/* History details of a task event: {"name", "resource", key: value} or error and cause. */
Jsonb *
WorkflowTaskDetails(const AslState *s, const char *key, Jsonb *value, const char *error,
					const char *cause)
{
	CourierMembers m;

	m.n = 0;
	CourierMemberText(&m, "name", s->name);
	CourierMemberText(&m, "resource", s->resource);
	if (key != NULL)
		CourierMemberJsonb(&m, key, value);
	if (error != NULL)
	{
		CourierMemberText(&m, "error", error);
		CourierMemberText(&m, "cause", cause);
	}
	return CourierMembersObject(&m);
}

/*
 * TimeoutSeconds / HeartbeatSeconds, or their path into the state's input:
 * a positive integer (0: none).  false with *err when the path's value is
 * not one.
 */
static bool
TaskSeconds(double literal, const AslPath *path, const char *field, const AslState *s,
			Jsonb *input, Jsonb *context, int64 *seconds, AslError *err)
{
	Jsonb	   *v;
	JsonbValue	scalar;
	double		d;

	*seconds = (int64) literal;
	if (path == NULL)
		return true;
	if (!AslPathEvaluate(path, input, context, &v, err))
		return false;
	if (!JB_ROOT_IS_SCALAR(v) || !JsonbExtractScalar(&v->root, &scalar) ||
		scalar.type != jbvNumeric ||
		(d = AslNumberValue(&scalar, -1)) < 1 || d != floor(d) || d > 99999999)
	{
		err->error = "States.Runtime";
		err->cause = psprintf("the %s of state \"%s\" is not a positive integer", field, s->name);
		return false;
	}
	*seconds = (int64) d;
	return true;
}

static Jsonb *
ScheduledDetails(const AslState *s, Jsonb *effective, int64 timeout, int64 heartbeat)
{
	CourierMembers m;

	m.n = 0;
	CourierMemberText(&m, "name", s->name);
	CourierMemberText(&m, "resource", s->resource);
	CourierMemberJsonb(&m, "parameters", effective);
	if (timeout > 0)
		CourierMemberInt(&m, "timeoutInSeconds", timeout);
	if (heartbeat > 0)
		CourierMemberInt(&m, "heartbeatInSeconds", heartbeat);
	return CourierMembersObject(&m);
}

/*
 * Start a Task: TaskScheduled, TaskStarted, then run its resource.  A
 * synchronous task ends here (TaskSucceeded, TaskFailed, or TaskTimedOut
 * when its TimeoutSeconds cut it short); a token task that ran its resource
 * registers its token (x->task_token, made by the caller, who put it into
 * the context object), logs TaskSubmitted, and waits.
 */
TaskOutcome
WorkflowTaskStart(Execution *x, const AslState *s, Jsonb *effective, Jsonb *context,
				  TimestampTz now, Jsonb **result, StateFailure *fail, AslError *err)
{
	int64		timeout;
	int64		heartbeat;
	bool		timed_out;
	char	   *token = x->task_token;

	x->task_token = NULL;
	if (!TaskSeconds(s->timeout_seconds, s->timeout_seconds_path, "TimeoutSecondsPath", s,
					 x->state_input, context, &timeout, err) ||
		!TaskSeconds(s->heartbeat_seconds, s->heartbeat_seconds_path, "HeartbeatSecondsPath", s,
					 x->state_input, context, &heartbeat, err))
		return TASK_RUNTIME;
	WorkflowHistory(x, "TaskScheduled", ScheduledDetails(s, effective, timeout, heartbeat));
	WorkflowHistory(x, "TaskStarted", WorkflowTaskDetails(s, NULL, NULL, NULL, NULL));
	if (!RunTask(x, s, effective, token ? 0 : timeout, result, fail, &timed_out))
	{
		WorkflowHistory(x, timed_out ? "TaskTimedOut" : "TaskFailed",
						WorkflowTaskDetails(s, NULL, NULL, fail->error, fail->cause));
		return TASK_FAILED;
	}
	if (token == NULL)
	{
		WorkflowHistory(x, "TaskSucceeded", WorkflowTaskDetails(s, "output", *result, NULL, NULL));
		return TASK_SUCCEEDED;
	}
	WorkflowRegisterTaskToken(x, s, token, now, timeout, heartbeat);
	WorkflowHistory(x, "TaskSubmitted", WorkflowTaskDetails(s, "output", *result, NULL, NULL));
	return TASK_WAITING;
}

/* courier.task_error(error_name text, cause text) */
Datum
courier_task_error(PG_FUNCTION_ARGS)
{
	char	   *name;

	CourierArgNotNull(fcinfo, 0, "error_name");
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (name[0] == '\0' || strlen(name) > 256)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("error_name must have 1 to 256 characters")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_COURIER_TASK_ERROR),
				 errmsg("%s", name)));
	ereport(ERROR,
			(errcode(ERRCODE_COURIER_TASK_ERROR),
			 errmsg("%s", name),
			 errdetail("%s", text_to_cstring(PG_GETARG_TEXT_PP(1)))));
	PG_RETURN_VOID();
}

