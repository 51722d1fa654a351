/*-------------------------------------------------------------------------
 *
 * workflow_task.c
 *	  A Task state's resource: a SQL function called with the state's
 *	  effective input, in a subtransaction, as the role that started the
 *	  execution; and courier.task_error(), which raises a named ASL error
 *	  from inside such a function.
 *
 * Any other SQL error a task raises becomes an ASL error named after its
 * SQLSTATE condition (unique_violation, ...), from the table generated
 * from PostgreSQL's errcodes.txt (src/sqlstate_names.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "storage/proc.h"

#include "compat.h"
#include "pg_courier.h"
#include "workflow_task.h"

PG_FUNCTION_INFO_V1(courier_task_error);

/* The SQLSTATE courier.task_error() raises; the message is the error name. */
#define ERRCODE_COURIER_TASK_ERROR	MAKE_SQLSTATE('C', 'W', '0', '0', '1')

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
 * task state cost.  The function is checked to still exist at each use.
 */
#define TASK_FUNCTIONS_CACHED 8
typedef struct TaskFunction
{
	char		name[NAMEDATALEN * 2 + 2];
	Oid			oid;
	LocalTransactionId lxid;
} TaskFunction;

static Oid
CachedTaskFunction(const char *name)
{
	static TaskFunction cache[TASK_FUNCTIONS_CACHED];
	static int	next_slot = 0;
	TaskFunction *f;
	int			i;

	for (i = 0; i < TASK_FUNCTIONS_CACHED; i++)
	{
		f = &cache[i];
		if (f->lxid == MyProc->lxid && f->lxid != InvalidLocalTransactionId &&
			strcmp(f->name, name) == 0)
		{
			if (SearchSysCacheExists1(PROCOID, ObjectIdGetDatum(f->oid)))
				return f->oid;
			break;
		}
	}
	if (strlen(name) >= sizeof(cache[0].name))
		return LookupTaskFunction(name);	/* too long to remember */
	f = i < TASK_FUNCTIONS_CACHED ? &cache[i] : &cache[next_slot++ % TASK_FUNCTIONS_CACHED];
	f->oid = LookupTaskFunction(name);
	f->lxid = OidIsValid(f->oid) ? MyProc->lxid : InvalidLocalTransactionId;
	strlcpy(f->name, name, sizeof(f->name));
	return f->oid;
}

/*
 * Run a Task's resource with its effective input.  true with *result on
 * success; false with *fail otherwise (everything the task did rolled back).
 */
bool
WorkflowRunTask(const Execution *x, const AslState *s, Jsonb *input, Jsonb **result, StateFailure *fail)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	Oid			fnoid;
	Oid			role;
	Oid			save_userid;
	int			save_sec_context;
	bool		ok = true;

	if (s->resource == NULL || strncmp(s->resource, "function:", 9) != 0)
	{
		fail->error = pstrdup("States.Runtime");
		fail->cause = psprintf("resource \"%s\" is not available in pg_courier",
							   s->resource ? s->resource : "");
		return false;
	}
	fnoid = CachedTaskFunction(s->resource + 9);
	if (!OidIsValid(fnoid))
	{
		fail->error = pstrdup("courier.FunctionNotFound");
		fail->cause = psprintf("function %s(jsonb) does not exist", s->resource + 9);
		return false;
	}
	role = get_role_oid(x->started_by, true);
	if (!OidIsValid(role) || CourierProcAclCheck(fnoid, role, ACL_EXECUTE) != ACLCHECK_OK)
	{
		fail->error = pstrdup("courier.PermissionDenied");
		fail->cause = psprintf("role \"%s\" may not execute function %s(jsonb)",
							   x->started_by, s->resource + 9);
		return false;
	}

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		LOCAL_FCINFO(fcinfo, 1);
		FmgrInfo	flinfo;
		Datum		d;

		SetUserIdAndSecContext(role, save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
		fmgr_info(fnoid, &flinfo);
		InitFunctionCallInfoData(*fcinfo, &flinfo, 1, InvalidOid, NULL, NULL);
		fcinfo->args[0].value = JsonbPGetDatum(input);
		fcinfo->args[0].isnull = false;
		d = FunctionCallInvoke(fcinfo);
		SetUserIdAndSecContext(save_userid, save_sec_context);
		MemoryContextSwitchTo(oldcxt);
		if (fcinfo->isnull || get_func_rettype(fnoid) != JSONBOID)
			*result = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("null")));
		else
			*result = DatumGetJsonbPCopy(d);
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
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
			edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
			ReThrowError(edata);
		if (edata->sqlerrcode == ERRCODE_COURIER_TASK_ERROR)
		{
			fail->error = pstrdup(edata->message ? edata->message : "");
			fail->cause = edata->detail ? pstrdup(edata->detail) : NULL;
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
	return ok;
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

