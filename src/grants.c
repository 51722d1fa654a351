/*-------------------------------------------------------------------------
 *
 * grants.c
 *	  Per-object privileges: courier.grant(privilege, object_kind,
 *	  object_name, role, tenant_id) and the checks the entry points make.
 *
 * Two ways let a role use an object.  PostgreSQL privileges on the tables
 * (docs/security.md) cover every object of a kind at once; a call then acts
 * as its caller, as it always did.  A courier grant, a row of
 * courier.grants, covers one object (or "*", every object of its kind): a
 * call the grant covers acts as the extension's owner for its duration, so
 * the role needs no table privileges at all, and sees nothing but what the
 * function returns.
 *
 * A grant may be bound to a tenant.  A call acting through such grants is
 * restricted to the messages whose tenant_id is one of those tenants: sends
 * get or must carry one, receives lease only those, and the receipt of
 * another tenant's message matches nothing.  A role with a tenant-bound
 * grant is "bound": row-level security on courier.messages and
 * courier.outbox, and the courier.dead_letters view, show it only its
 * tenants' rows when it reads the tables directly.
 *
 * The rows of courier.grants are read by a direct heap scan (a role that
 * may not read the table must still be checked against it) and kept per
 * backend until the table's relcache entry is invalidated; a statement
 * trigger on the table sends that invalidation on every change, so another
 * backend sees a committed grant or revoke at its next transaction.
 *
 * PL/pgSQL entry points cannot change their user mid-call, so those a grant
 * covers are declared in C as courier_guarded(): it finds the object the
 * call names, checks, switches to the owner when a grant applies, and calls
 * the body (courier._NAME, same arguments) directly through fmgr, which
 * checks no EXECUTE privilege: nobody holds EXECUTE on the bodies.  While a
 * call acts for its caller, courier._acting_role() names the caller, so the
 * audit trail and "started_by"/"run_as" columns record who called.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "grants.h"
#include "pg_courier.h"

PG_FUNCTION_INFO_V1(courier_guarded);
PG_FUNCTION_INFO_V1(courier_acting_role);
PG_FUNCTION_INFO_V1(courier_acting_tenants);
PG_FUNCTION_INFO_V1(courier_may);
PG_FUNCTION_INFO_V1(courier_tenant_unbound);
PG_FUNCTION_INFO_V1(courier_bound_tenants);
PG_FUNCTION_INFO_V1(courier_grants_changed);
PG_FUNCTION_INFO_V1(courier_tenant_for);

/* One row of courier.grants. */
typedef struct GrantRow
{
	char	   *kind;
	char	   *name;
	char	   *privilege;
	Oid			grantee;
	char	   *tenant;			/* NULL: every tenant */
} GrantRow;

static MemoryContext grants_cxt = NULL;
static GrantRow *grant_rows = NULL;
static int	n_grant_rows = 0;
static bool grants_valid = false;
static Oid	grants_relid = InvalidOid;
/* the tables of the object kinds (KindTable), forgotten with the grants' */
static Oid	kind_relids[4];
static Oid	grants_owner = InvalidOid;
static bool grants_callbacks_registered = false;

/* the last CourierRoleUnbound() answer, until the grants change */
static Oid	unbound_role = InvalidOid;
static bool unbound_answer = true;

/*
 * Who the calls acting through a grant act for, innermost last; each entry
 * remembers the transaction nesting level it was pushed at, so that an
 * error that aborts a (sub)transaction drops what was pushed inside it.
 */
#define MAX_ACTING 32
typedef struct Acting
{
	Oid			caller;
	Oid			owner;
	List	   *tenants;		/* in TopTransactionContext */
	int			nest_level;
} Acting;

static Acting acting[MAX_ACTING];
static int	n_acting = 0;

static void
GrantsRelcacheCallback(Datum arg pg_attribute_unused(), Oid relid)
{
	if (relid == InvalidOid || relid == grants_relid)
	{
		grants_valid = false;
		unbound_role = InvalidOid;
		/* the extension may have been dropped and created again: look again */
		grants_relid = InvalidOid;
		memset(kind_relids, 0, sizeof(kind_relids));
	}
}

/* A change of role membership may bind or unbind a role. */
static void
MembershipCallback(Datum arg pg_attribute_unused(), int cacheid pg_attribute_unused(),
				   uint32 hashvalue pg_attribute_unused())
{
	unbound_role = InvalidOid;
}

static void
ActingXactCallback(XactEvent event, void *arg pg_attribute_unused())
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PREPARE)
		n_acting = 0;
}

static void
ActingSubXactCallback(SubXactEvent event, SubTransactionId mySubid pg_attribute_unused(),
					  SubTransactionId parentSubid pg_attribute_unused(),
					  void *arg pg_attribute_unused())
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		int			level = GetCurrentTransactionNestLevel();

		while (n_acting > 0 && acting[n_acting - 1].nest_level >= level)
			n_acting--;
	}
}

static void
RegisterCallbacks(void)
{
	if (grants_callbacks_registered)
		return;
	CacheRegisterRelcacheCallback(GrantsRelcacheCallback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, MembershipCallback, (Datum) 0);
	RegisterXactCallback(ActingXactCallback, NULL);
	RegisterSubXactCallback(ActingSubXactCallback, NULL);
	grants_callbacks_registered = true;
}

static char *
TextAttr(HeapTuple tup, TupleDesc desc, AttrNumber att)
{
	bool		isnull;
	Datum		d = heap_getattr(tup, att, desc, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/* Read courier.grants into grant_rows unless what is there is current. */
static void
LoadGrants(void)
{
	Relation	rel;
	TableScanDesc scan;
	Snapshot	snapshot;
	HeapTuple	tup;
	TupleDesc	desc;
	AttrNumber	a_kind,
				a_name,
				a_privilege,
				a_grantee,
				a_tenant;
	int			allocated = 16;
	MemoryContext old;

	RegisterCallbacks();
	/*
	 * Opening the table takes a lock, which reads pending invalidations; one
	 * saying the table was dropped (the extension dropped and created again)
	 * makes the callback forget its oid, and the new table is looked up.
	 */
	for (;;)
	{
		Oid			relid;

		CHECK_FOR_INTERRUPTS();
		if (!OidIsValid(grants_relid))
		{
			grants_relid = get_relname_relid("grants", get_namespace_oid("courier", false));
			if (!OidIsValid(grants_relid))
				elog(ERROR, "courier.grants is missing");
		}
		relid = grants_relid;
		rel = try_table_open(relid, AccessShareLock);
		if (rel != NULL && grants_relid == relid)
			break;
		if (rel != NULL)
			table_close(rel, AccessShareLock);
		grants_relid = InvalidOid;
	}
	if (grants_valid)
	{
		table_close(rel, AccessShareLock);
		return;
	}
	if (grants_cxt == NULL)
		grants_cxt = AllocSetContextCreate(TopMemoryContext, "courier grants",
										   ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(grants_cxt);
	grant_rows = NULL;
	n_grant_rows = 0;
	grants_owner = rel->rd_rel->relowner;

	desc = RelationGetDescr(rel);
	a_kind = get_attnum(grants_relid, "object_kind");
	a_name = get_attnum(grants_relid, "object_name");
	a_privilege = get_attnum(grants_relid, "privilege");
	a_grantee = get_attnum(grants_relid, "grantee");
	a_tenant = get_attnum(grants_relid, "tenant_id");
	if (a_kind == InvalidAttrNumber || a_name == InvalidAttrNumber ||
		a_privilege == InvalidAttrNumber || a_grantee == InvalidAttrNumber ||
		a_tenant == InvalidAttrNumber)
		elog(ERROR, "courier.grants does not have the expected columns");

	old = MemoryContextSwitchTo(grants_cxt);
	grant_rows = palloc(allocated * sizeof(GrantRow));
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	scan = table_beginscan(rel, snapshot, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		GrantRow   *row;
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		if (n_grant_rows == allocated)
		{
			allocated *= 2;
			grant_rows = repalloc(grant_rows, allocated * sizeof(GrantRow));
		}
		row = &grant_rows[n_grant_rows];
		row->kind = TextAttr(tup, desc, a_kind);
		row->name = TextAttr(tup, desc, a_name);
		row->privilege = TextAttr(tup, desc, a_privilege);
		row->grantee = DatumGetObjectId(heap_getattr(tup, a_grantee, desc, &isnull));
		row->tenant = TextAttr(tup, desc, a_tenant);
		if (row->kind == NULL || row->name == NULL || row->privilege == NULL || isnull)
			continue;
		n_grant_rows++;
	}
	table_endscan(scan);
	UnregisterSnapshot(snapshot);
	MemoryContextSwitchTo(old);
	table_close(rel, AccessShareLock);
	grants_valid = true;
}

/* The innermost call acting for a caller, if the session is inside it. */
static Acting *
CurrentActing(void)
{
	if (n_acting == 0)
		return NULL;
	/* an elevated call runs as the owner; anything else is not inside it */
	if (GetUserId() != acting[n_acting - 1].owner)
		return NULL;
	return &acting[n_acting - 1];
}

static bool
InList(List *list, const char *s)
{
	ListCell   *lc;

	foreach(lc, list)
		if (strcmp((const char *) lfirst(lc), s) == 0)
			return true;
	return false;
}

/*
 * The grants of privilege on (kind, name) that role holds, directly or
 * through a role it has the privileges of: whether there is any, and the
 * tenants they are bound to (NIL when one of them is unbound).
 */
static bool
MatchGrants(Oid role, const char *privilege, const char *kind, const char *name,
			List **tenants)
{
	bool		any = false;
	bool		unbound = false;
	int			i;

	*tenants = NIL;
	LoadGrants();
	for (i = 0; i < n_grant_rows; i++)
	{
		GrantRow   *row = &grant_rows[i];

		CHECK_FOR_INTERRUPTS();
		if (strcmp(row->privilege, privilege) != 0 || strcmp(row->kind, kind) != 0)
			continue;
		if (strcmp(row->name, name) != 0 && strcmp(row->name, "*") != 0)
			continue;
		if (!has_privs_of_role(role, row->grantee))
			continue;
		any = true;
		if (row->tenant == NULL)
			unbound = true;
		else if (!InList(*tenants, row->tenant))
			*tenants = lappend(*tenants, pstrdup(row->tenant));
	}
	if (unbound)
		*tenants = NIL;
	return any;
}

/* The table that holds the objects of a kind; looked up once. */
static Oid
KindTable(const char *kind)
{
	static const char *const tables[4] = {"queues", "topics", "buses", "state_machines"};
	int			k;

	if (strcmp(kind, "queue") == 0)
		k = 0;
	else if (strcmp(kind, "topic") == 0)
		k = 1;
	else if (strcmp(kind, "bus") == 0)
		k = 2;
	else
		k = 3;
	if (!OidIsValid(kind_relids[k]))
	{
		kind_relids[k] = get_relname_relid(tables[k], get_namespace_oid("courier", false));
		if (!OidIsValid(kind_relids[k]))
			elog(ERROR, "courier.%s is missing", tables[k]);
	}
	return kind_relids[k];
}

void
CourierAuthorize(const char *privilege, const char *kind, const char *name,
				 CourierAccess *acc)
{
	List	   *tenants;
	Acting	   *outer = CurrentActing();

	memset(acc, 0, sizeof(*acc));
	acc->caller = GetUserId();
	/*
	 * Called by a call acting through a grant (delete_once calls delete):
	 * its caller's grants decide, tenants included; without one nothing
	 * falls back to the owner's privileges.
	 */
	if (outer != NULL && name != NULL)
	{
		acc->caller = outer->caller;
		if (!MatchGrants(acc->caller, privilege, kind, name, &tenants))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to %s on %s \"%s\"", privilege, kind, name),
					 errdetail("Role \"%s\" holds no %s grant on it.",
							   GetUserNameFromId(acc->caller, false), privilege)));
		acc->elevated = true;
		acc->tenants = tenants;
		return;
	}
	/* superusers (the worker, tick() from pg_cron as one) skip the lookup */
	if (superuser() || name == NULL)
		return;
	if (MatchGrants(acc->caller, privilege, kind, name, &tenants))
	{
		acc->elevated = true;
		acc->tenants = tenants;
		return;
	}
	/*
	 * No grant: the call acts as its caller, which needs at least SELECT on
	 * the table of the object's kind (docs/security.md); say what would help
	 * rather than which table it could not read.
	 */
	if (pg_class_aclcheck(KindTable(kind), acc->caller, ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s on %s \"%s\"", privilege, kind, name),
				 errdetail("Role \"%s\" holds no %s grant on it, nor privileges on the courier tables.",
						   GetUserNameFromId(acc->caller, false), privilege),
				 errhint("Give it with courier.grant('%s', '%s', '%s', role).",
						 privilege, kind, name)));
}

void
CourierAuthorizeText(const char *privilege, const char *kind, text *name,
					 CourierAccess *acc)
{
	if (superuser() && CurrentActing() == NULL)
	{
		memset(acc, 0, sizeof(*acc));
		acc->caller = GetUserId();
		return;
	}
	CourierAuthorize(privilege, kind, text_to_cstring(name), acc);
}

/* Act as the extension's owner while an elevated call runs. */
void
CourierAccessBegin(CourierAccess *acc)
{
	MemoryContext old;
	Acting	   *a;
	ListCell   *lc;

	if (!acc->elevated)
		return;
	if (n_acting == MAX_ACTING)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("pg_courier calls acting through grants are nested too deeply"),
				 errdetail("At most %d may be nested.", MAX_ACTING)));
	a = &acting[n_acting];
	a->caller = acc->caller;
	a->owner = grants_owner;
	old = MemoryContextSwitchTo(TopTransactionContext);
	a->tenants = NIL;
	foreach(lc, acc->tenants)
		a->tenants = lappend(a->tenants, pstrdup((char *) lfirst(lc)));
	MemoryContextSwitchTo(old);
	a->nest_level = GetCurrentTransactionNestLevel();
	n_acting++;

	GetUserIdAndSecContext(&acc->saved_userid, &acc->saved_sec_context);
	SetUserIdAndSecContext(grants_owner,
						   acc->saved_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	acc->switched = true;
}

void
CourierAccessEnd(CourierAccess *acc)
{
	if (!acc->switched)
		return;
	SetUserIdAndSecContext(acc->saved_userid, acc->saved_sec_context);
	acc->switched = false;
	if (n_acting > 0)
		n_acting--;
}


/* Whether tenant (not NULL) is one of tenants. */
static bool
TenantInList(List *tenants, text *tenant)
{
	char	   *s = text_to_cstring(tenant);
	bool		ok = InList(tenants, s);

	pfree(s);
	return ok;
}

bool
CourierTenantAllowed(const CourierAccess *acc, text *tenant)
{
	if (!CourierTenantBound(acc))
		return true;
	return tenant != NULL && TenantInList(acc->tenants, tenant);
}

static char *
TenantList(List *tenants)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, tenants)
		appendStringInfo(&buf, "%s\"%s\"", buf.len > 0 ? ", " : "", (char *) lfirst(lc));
	return buf.data;
}

/*
 * A tenant-bound send or publish: the message gets the caller's tenant when
 * it names none and the caller has one, and must carry one of the caller's
 * tenants otherwise.
 */
void
CourierTenantApply(const CourierAccess *acc, CourierEnvelope *env,
				   const char *verb, const char *kind, text *name)
{
	text	   *tenant;

	if (!CourierTenantBound(acc))
		return;
	tenant = env->text_fields[ENV_TENANT_ID];
	if (tenant == NULL)
	{
		if (list_length(acc->tenants) == 1)
		{
			env->text_fields[ENV_TENANT_ID] = cstring_to_text(linitial(acc->tenants));
			return;
		}
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("a tenant_id header is required to %s to %s \"%s\"",
						verb, kind, text_to_cstring(name)),
				 errdetail("The grants of role \"%s\" on it are bound to the tenants %s.",
						   GetUserNameFromId(acc->caller, false), TenantList(acc->tenants)),
				 errhint("Set the tenant_id header to one of them.")));
	}
	if (!CourierTenantAllowed(acc, tenant))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s messages of tenant \"%s\" to %s \"%s\"",
						verb, text_to_cstring(tenant), kind, text_to_cstring(name)),
				 errdetail("The grants of role \"%s\" on it are bound to the tenants %s.",
						   GetUserNameFromId(acc->caller, false), TenantList(acc->tenants))));
}

/*
 * FIFO queues and topics deduplicate and order across the whole object, so
 * a tenant-bound call would see (through a duplicate's original id, or a
 * group blocked by another tenant's message) what other tenants sent.
 */
void
CourierTenantNoFifo(const CourierAccess *acc, const char *verb, const char *kind,
					text *name)
{
	if (!CourierTenantBound(acc))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("tenant-bound grants cannot %s FIFO %s \"%s\"",
					verb, kind, text_to_cstring(name)),
			 errdetail("Deduplication and message groups of a FIFO %s span its tenants.", kind),
			 errhint("Give each tenant its own FIFO %s, or use a standard one.", kind)));
}

/* A list of tenants as a text[] Datum. */
static Datum
TenantArray(List *tenants)
{
	int			n = list_length(tenants);
	Datum	   *elems = palloc(Max(n, 1) * sizeof(Datum));
	ListCell   *lc;
	int			i = 0;

	foreach(lc, tenants)
		elems[i++] = CStringGetTextDatum((char *) lfirst(lc));
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* The tenants roleid is bound to, through any of its grants. */
static List *
BoundTenants(Oid roleid)
{
	List	   *tenants = NIL;
	int			i;

	LoadGrants();
	for (i = 0; i < n_grant_rows; i++)
	{
		GrantRow   *row = &grant_rows[i];

		CHECK_FOR_INTERRUPTS();
		if (row->tenant != NULL && has_privs_of_role(roleid, row->grantee) &&
			!InList(tenants, row->tenant))
			tenants = lappend(tenants, pstrdup(row->tenant));
	}
	return tenants;
}

bool
CourierRoleUnbound(Oid roleid)
{
	if (superuser_arg(roleid))
		return true;
	LoadGrants();
	if (roleid != unbound_role)
	{
		unbound_answer = BoundTenants(roleid) == NIL;
		unbound_role = roleid;
	}
	return unbound_answer;
}

/* courier._tenant_unbound() returns boolean: row-level security's test */
Datum
courier_tenant_unbound(PG_FUNCTION_ARGS pg_attribute_unused())
{
	PG_RETURN_BOOL(CourierRoleUnbound(GetUserId()));
}

/* courier._bound_tenants() returns text[]: the tenants the role may see */
Datum
courier_bound_tenants(PG_FUNCTION_ARGS pg_attribute_unused())
{
	PG_RETURN_DATUM(TenantArray(superuser() ? NIL : BoundTenants(GetUserId())));
}

/*
 * courier._tenant_for(tenant_id text) returns text: the tenant a role's
 * idempotency keys belong to.  A role bound to tenants (or a call acting
 * through tenant-bound grants) gets the one given, which must be one of its
 * tenants, or its only one; any other role the one given, or '' for none.
 */
Datum
courier_tenant_for(PG_FUNCTION_ARGS)
{
	Acting	   *a = CurrentActing();
	text	   *given = PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0);
	List	   *tenants;
	Oid			who;

	if (given != NULL &&
		(VARSIZE_ANY_EXHDR(given) == 0 ||
		 pg_mbstrlen_with_len(VARDATA_ANY(given), VARSIZE_ANY_EXHDR(given)) > 256))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tenant_id must have 1 to 256 characters")));
	if (a != NULL)
	{
		who = a->caller;
		tenants = a->tenants;
	}
	else
	{
		who = GetUserId();
		tenants = superuser() ? NIL : BoundTenants(who);
	}
	if (tenants == NIL)
		PG_RETURN_TEXT_P(given != NULL ? given : cstring_to_text(""));
	if (given != NULL)
	{
		if (!TenantInList(tenants, given))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for the idempotency keys of tenant \"%s\"",
							text_to_cstring(given)),
					 errdetail("Role \"%s\" is bound to the tenants %s.",
							   GetUserNameFromId(who, false), TenantList(tenants))));
		PG_RETURN_TEXT_P(given);
	}
	if (list_length(tenants) == 1)
		PG_RETURN_TEXT_P(cstring_to_text(linitial(tenants)));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("a tenant_id is required for idempotency keys of role \"%s\"",
					GetUserNameFromId(who, false)),
			 errdetail("It is bound to the tenants %s.", TenantList(tenants)),
			 errhint("Pass tenant_id.")));
	PG_RETURN_NULL();			/* not reached */
}

/* courier._acting_role() returns name: who the running call acts for */
Datum
courier_acting_role(PG_FUNCTION_ARGS pg_attribute_unused())
{
	Acting	   *a = CurrentActing();
	Oid			role = a != NULL ? a->caller : GetUserId();

	PG_RETURN_DATUM(DirectFunctionCall1(namein,
										CStringGetDatum(GetUserNameFromId(role, false))));
}

/*
 * courier._acting_tenants() returns text[]: the tenants the running call is
 * restricted to, NULL when it is not restricted.
 */
Datum
courier_acting_tenants(PG_FUNCTION_ARGS)
{
	Acting	   *a = CurrentActing();

	if (a == NULL || a->tenants == NIL)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(TenantArray(a->tenants));
}

/*
 * courier._may(privilege text, object_kind text, object_name text) returns
 * boolean: inside a call acting through a grant, whether its caller also
 * holds privilege on another object the call touches (the queue a
 * subscription delivers to, the destination of a target).  Outside one the
 * answer is true: the caller's own table privileges decide.
 */
Datum
courier_may(PG_FUNCTION_ARGS)
{
	Acting	   *a = CurrentActing();
	List	   *tenants;

	if (a == NULL)
		PG_RETURN_BOOL(true);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_BOOL(false);
	if (superuser_arg(a->caller))
		PG_RETURN_BOOL(true);
	PG_RETURN_BOOL(MatchGrants(a->caller, text_to_cstring(PG_GETARG_TEXT_PP(0)),
							   text_to_cstring(PG_GETARG_TEXT_PP(1)),
							   text_to_cstring(PG_GETARG_TEXT_PP(2)), &tenants));
}

/*
 * Statement trigger on courier.grants: every backend rereads the grants
 * (from its next transaction; this one from its next command).
 */
Datum
courier_grants_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("courier._grants_changed() must be called as a trigger")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	return PointerGetDatum(NULL);
}

/*
 * The entry points courier_guarded() serves.  name_arg is the argument that
 * names the object; when it is -1, resolve_sql finds the object from
 * argument 0 (an id).  kind_arg >= 0: the object kind is that argument.
 * every_tenant: the function acts on every tenant's data of the object, so
 * a tenant-bound grant does not cover it.  also_privilege: acting through a
 * grant, the caller must also hold that privilege (or manage) on the
 * also_kind object argument also_arg names, when it is not null (the queue a
 * subscription, a redrive or a dead-letter policy delivers to).
 */
typedef struct GuardSpec
{
	const char *function;
	const char *privilege;
	const char *kind;
	int			kind_arg;
	int			name_arg;
	const char *resolve_sql;
	bool		every_tenant;
	/* a second object the call writes to, named by argument also_arg */
	const char *also_privilege;
	const char *also_kind;
	int			also_arg;
} GuardSpec;

#define BY_SUBSCRIPTION \
	"SELECT s.topic_name FROM courier.subscriptions AS s" \
	" WHERE s.subscription_id OPERATOR(pg_catalog.=) $1"
#define BY_EXECUTION \
	"SELECT e.state_machine_name FROM courier.executions AS e" \
	" WHERE e.execution_id OPERATOR(pg_catalog.=) $1"

static const GuardSpec guards[] = {
	{"create_queue", "manage", "queue", -1, 0, NULL, true, "send", "queue", 8},
	{"alter_queue", "manage", "queue", -1, 0, NULL, true, "send", "queue", 7},
	{"drop_queue", "manage", "queue", -1, 0, NULL, true, NULL, NULL, -1},
	{"purge_queue", "manage", "queue", -1, 0, NULL, true, NULL, NULL, -1},
	{"redrive", "manage", "queue", -1, 0, NULL, true, "send", "queue", 1},
	{"subscribe", "subscribe", "topic", -1, 0, NULL, true, "send", "queue", 1},
	{"unsubscribe", "subscribe", "topic", -1, -1, BY_SUBSCRIPTION, true, NULL, NULL, -1},
	{"create_topic", "manage", "topic", -1, 0, NULL, true, NULL, NULL, -1},
	{"drop_topic", "manage", "topic", -1, 0, NULL, true, NULL, NULL, -1},
	{"create_bus", "manage", "bus", -1, 0, NULL, true, NULL, NULL, -1},
	{"drop_bus", "manage", "bus", -1, 0, NULL, true, NULL, NULL, -1},
	{"put_rule", "manage", "bus", -1, 0, NULL, true, NULL, NULL, -1},
	{"delete_rule", "manage", "bus", -1, 0, NULL, true, NULL, NULL, -1},
	{"enable_rule", "manage", "bus", -1, 0, NULL, true, NULL, NULL, -1},
	{"disable_rule", "manage", "bus", -1, 0, NULL, true, NULL, NULL, -1},
	{"put_target", "manage", "bus", -1, 0, NULL, true, NULL, NULL, -1},
	{"remove_target", "manage", "bus", -1, 0, NULL, true, NULL, NULL, -1},
	{"start_execution", "start_execution", "state_machine", -1, 0, NULL, true, NULL, NULL, -1},
	{"stop_execution", "manage", "state_machine", -1, -1, BY_EXECUTION, true, NULL, NULL, -1},
	{"redrive_execution", "manage", "state_machine", -1, -1, BY_EXECUTION, true, NULL, NULL, -1},
	{"create_state_machine", "manage", "state_machine", -1, 0, NULL, true, NULL, NULL, -1},
	{"update_state_machine", "manage", "state_machine", -1, 0, NULL, true, NULL, NULL, -1},
	{"delete_state_machine", "manage", "state_machine", -1, 0, NULL, true, NULL, NULL, -1},
	{"delete_once", "receive", "queue", -1, 0, NULL, false, NULL, NULL, -1},
	{"grant", "manage", NULL, 1, 2, NULL, false, NULL, NULL, -1},
	{"revoke", "manage", NULL, 1, 2, NULL, false, NULL, NULL, -1},
};

/* What courier_guarded() keeps in fn_extra. */
typedef struct GuardCache
{
	const GuardSpec *spec;
	FmgrInfo	body;
	SPIPlanPtr	resolve_plan;
} GuardCache;

static GuardCache *
GetGuard(FunctionCallInfo fcinfo)
{
	GuardCache *gc = (GuardCache *) fcinfo->flinfo->fn_extra;
	HeapTuple	tup;
	Form_pg_proc proc;
	const GuardSpec *spec = NULL;
	char	   *body_name;
	Oid			body;
	int			i;

	if (gc != NULL)
		return gc;
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", fcinfo->flinfo->fn_oid);
	proc = (Form_pg_proc) GETSTRUCT(tup);
	for (i = 0; i < (int) lengthof(guards); i++)
		if (strcmp(NameStr(proc->proname), guards[i].function) == 0)
			spec = &guards[i];
	if (spec == NULL)
		elog(ERROR, "function %s is not a guarded pg_courier entry point",
			 NameStr(proc->proname));
	body_name = psprintf("_%s", spec->function);
	body = LookupFuncName(list_make2(makeString("courier"), makeString(body_name)),
						  proc->pronargs, proc->proargtypes.values, false);
	ReleaseSysCache(tup);

	gc = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(GuardCache));
	gc->spec = spec;
	fmgr_info_cxt(body, &gc->body, fcinfo->flinfo->fn_mcxt);
	fcinfo->flinfo->fn_extra = gc;
	return gc;
}

/* The object an id argument belongs to, read as the owner; NULL if none. */
static char *
ResolveObject(GuardCache *gc, Datum id)
{
	Oid			argtypes[1] = {INT8OID};
	Oid			saved_userid;
	int			saved_sec;
	char	   *name = NULL;
	MemoryContext caller_cxt = CurrentMemoryContext;

	LoadGrants();
	GetUserIdAndSecContext(&saved_userid, &saved_sec);
	SetUserIdAndSecContext(grants_owner, saved_sec | SECURITY_LOCAL_USERID_CHANGE);
	SPI_connect();
	if (gc->resolve_plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(gc->spec->resolve_sql, 1, argtypes);

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "courier: could not prepare \"%s\"", gc->spec->resolve_sql);
		gc->resolve_plan = plan;
	}
	if (SPI_execute_plan(gc->resolve_plan, &id, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "courier: \"%s\" failed", gc->spec->resolve_sql);
	if (SPI_processed == 1)
	{
		char	   *s = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (s != NULL)
			name = MemoryContextStrdup(caller_cxt, s);
	}
	SPI_finish();
	SetUserIdAndSecContext(saved_userid, saved_sec);
	return name;
}

static bool
KnownKind(const char *kind)
{
	return strcmp(kind, "queue") == 0 || strcmp(kind, "topic") == 0 ||
		strcmp(kind, "bus") == 0 || strcmp(kind, "state_machine") == 0;
}

static void
CheckAlso(CourierAccess *acc, const GuardSpec *spec, const char *name)
{
	List	   *tenants;

	if (MatchGrants(acc->caller, spec->also_privilege, spec->also_kind, name, &tenants) ||
		MatchGrants(acc->caller, "manage", spec->also_kind, name, &tenants))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to %s to %s \"%s\"",
					spec->also_privilege, spec->also_kind, name),
			 errdetail("courier.%s delivers to it; role \"%s\" holds neither %s nor manage on it.",
					   spec->function, GetUserNameFromId(acc->caller, false),
					   spec->also_privilege),
			 errhint("Grant it with courier.grant('%s', '%s', '%s', role).",
					 spec->also_privilege, spec->also_kind, name)));
}

/*
 * The C entry of the PL/pgSQL functions a grant covers (guards[] above):
 * check, act as the owner when a grant applies, call the body.
 */
Datum
courier_guarded(PG_FUNCTION_ARGS)
{
	GuardCache *gc = GetGuard(fcinfo);
	const GuardSpec *spec = gc->spec;
	CourierAccess acc;
	const char *kind = spec->kind;
	char	   *name = NULL;
	Datum		result;
	int			i;

	LOCAL_FCINFO(body_fcinfo, FUNC_MAX_ARGS);

	memset(&acc, 0, sizeof(acc));
	acc.caller = GetUserId();
	if (!superuser() || CurrentActing() != NULL)
	{
		if (spec->kind_arg >= 0)
			kind = PG_ARGISNULL(spec->kind_arg) ? NULL :
				text_to_cstring(PG_GETARG_TEXT_PP(spec->kind_arg));
		if (spec->name_arg >= 0)
		{
			if (!PG_ARGISNULL(spec->name_arg))
				name = text_to_cstring(PG_GETARG_TEXT_PP(spec->name_arg));
		}
		else if (!PG_ARGISNULL(0))
			name = ResolveObject(gc, PG_GETARG_DATUM(0));
		/* an unknown kind or object is the body's to report */
		if (kind != NULL && name != NULL && KnownKind(kind))
			CourierAuthorize(spec->privilege, kind, name, &acc);
		if (acc.elevated && CourierTenantBound(&acc) && spec->every_tenant)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for courier.%s on %s \"%s\"",
							spec->function, kind, name),
					 errdetail("The %s grants of role \"%s\" on it are bound to the tenants %s; "
							   "courier.%s acts on every tenant's data.",
							   spec->privilege, GetUserNameFromId(acc.caller, false),
							   TenantList(acc.tenants), spec->function),
					 errhint("Ask for an unbound grant, or a superuser to do it.")));
		/* ('' is alter_queue's "no dead-letter queue") */
		if (acc.elevated && spec->also_privilege != NULL && !PG_ARGISNULL(spec->also_arg) &&
			VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(spec->also_arg)) > 0)
			CheckAlso(&acc, spec, text_to_cstring(PG_GETARG_TEXT_PP(spec->also_arg)));
	}

	InitFunctionCallInfoData(*body_fcinfo, &gc->body, PG_NARGS(), PG_GET_COLLATION(),
							 NULL, NULL);
	for (i = 0; i < PG_NARGS(); i++)
	{
		body_fcinfo->args[i].value = fcinfo->args[i].value;
		body_fcinfo->args[i].isnull = fcinfo->args[i].isnull;
	}
	CourierAccessBegin(&acc);
	result = FunctionCallInvoke(body_fcinfo);
	CourierAccessEnd(&acc);
	fcinfo->isnull = body_fcinfo->isnull;
	return result;
}
