/*-------------------------------------------------------------------------
 *
 * workflow_store.c
 *	  An execution's save written into courier.executions and
 *	  courier.execution_events directly.
 *
 * SaveExecution (workflow.c) used to write the row and the history of a
 * run with one statement, an UPDATE with an INSERT in a WITH clause: its
 * executor start-up and shutdown, and the CHECK constraints of both tables,
 * which PostgreSQL keeps as text and parses and plans again for every
 * statement, were a fifth of what a Task state cost.  Here the new row
 * version is formed from the one the engine read and updated in place
 * (table_tuple_update, then the index entries unless the update was HOT),
 * and the history row inserted (table_tuple_insert, which compresses and
 * TOASTs its arrays as the columns say), as queue_store.c stores messages.
 *
 * What the statement did implicitly is done here explicitly, and where it
 * cannot be the caller falls back to the statement, having written
 * nothing:
 * - privileges: table-level UPDATE and SELECT on courier.executions and
 *   INSERT on courier.execution_events for the current user (the statement
 *   would also accept column privileges, and reports what is missing);
 * - row-level security enabled on either table, rules on either;
 * - triggers: none on courier.execution_events; on courier.executions only
 *   the triggers of foreign keys whose columns a save does not change.
 *   Those are courier.executions' own key into its machine's versions and
 *   the keys of other tables into it (courier.task_tokens).  PostgreSQL
 *   queues no check for them when the key is unchanged
 *   (RI_FKey_pk_upd_check_required, RI_FKey_fk_upd_check_required), except
 *   for a referencing row inserted by the same transaction, whose insert
 *   check may not have run yet: when the constraint is not deferrable it
 *   has, at the end of the inserting statement; a deferrable one falls
 *   back;
 * - constraints: NOT NULL and every CHECK constraint of the table are
 *   evaluated on the new rows, the CHECKs prepared once per relcache entry;
 *   a row that fails one is saved by the statement, which raises the error;
 * - columns: the ones a save writes must have the types it writes, no
 *   column may be generated, and courier.execution_events may have no
 *   other column with a default or NOT NULL;
 * - the row: tid must still be the current version of the execution's row
 *   (a task of this transaction may have updated it since it was read),
 *   which a snapshot taken after CommandCounterIncrement() decides.  The row
 *   is locked FOR UPDATE by this transaction, so nobody else can have.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "compat.h"
#include "workflow_store.h"

static const char *const save_names[NUM_SAVE_COLUMNS] = {
	"status", "next_step_at", "current_state", "state_entered_at", "state_phase",
	"retry_counts", "error", "cause", "state_input", "output", "stopped_at",
	"last_event_id"
};
static const Oid save_types[NUM_SAVE_COLUMNS] = {
	TEXTOID, TIMESTAMPTZOID, TEXTOID, TIMESTAMPTZOID, INT2OID,
	INT4ARRAYOID, TEXTOID, TEXTOID, JSONBOID, JSONBOID, TIMESTAMPTZOID,
	INT4OID
};
static const char *const read_names[NUM_READ_COLUMNS] = {
	"execution_id", "state_machine_name", "execution_name", "version", "started_at",
	"timeout_at", "current_state", "state_entered_at", "state_phase", "retry_counts",
	"redrive_count", "started_by", "input", "state_input", "parent_execution_id",
	"branch_path", "item_index", "children_from", "correlation_id", "last_event_id",
	"redriven_at"
};
static const Oid read_types[NUM_READ_COLUMNS] = {
	INT8OID, TEXTOID, TEXTOID, INT4OID, TIMESTAMPTZOID,
	TIMESTAMPTZOID, TEXTOID, TIMESTAMPTZOID, INT2OID, INT4ARRAYOID,
	INT4OID, NAMEOID, JSONBOID, JSONBOID, INT8OID,
	TEXTARRAYOID, INT4OID, INT8OID, TEXTOID, INT4OID,
	TIMESTAMPTZOID
};
static const char *const event_names[NUM_EVENT_COLUMNS] = {
	"execution_id", "first_event_id", "last_event_id", "timestamps", "types", "details"
};
static const Oid event_types[NUM_EVENT_COLUMNS] = {
	INT8OID, INT4OID, INT4OID, TIMESTAMPTZARRAYOID, TEXTARRAYOID, JSONBARRAYOID
};

/* What is known about one of the two tables, until its relcache entry changes. */
typedef struct StoreTable
{
	Oid			relid;
	int			natts;
	int			nchecks;
	ExprState **checks;			/* its CHECK constraints, ready to evaluate */
} StoreTable;

typedef struct SaveInfo
{
	bool		relids_valid;
	bool		valid;
	bool		usable;
	MemoryContext cxt;			/* the checks */
	StoreTable	exec;
	StoreTable	events;
	AttrNumber	id_attnum;		/* courier.executions.execution_id */
	AttrNumber	save_attnum[NUM_SAVE_COLUMNS];
	AttrNumber	event_attnum[NUM_EVENT_COLUMNS];
	/* what a read needs, known apart: it opens courier.executions alone */
	bool		read_valid;
	bool		read_usable;
	int			read_natts;
	AttrNumber	read_attnum[NUM_READ_COLUMNS];
	AttrNumber	status_attnum;
	AttrNumber	next_step_attnum;
} SaveInfo;

static SaveInfo info;
static bool callback_registered = false;

static void
SaveRelcacheCallback(Datum arg pg_attribute_unused(), Oid relid)
{
	if (relid == InvalidOid || relid == info.exec.relid || relid == info.events.relid)
	{
		info.valid = false;
		info.read_valid = false;
		info.relids_valid = false;
	}
}

static void
LookupRelids(void)
{
	Oid			nsp;

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(SaveRelcacheCallback, (Datum) 0);
		callback_registered = true;
	}
	nsp = get_namespace_oid("courier", false);
	info.exec.relid = get_relname_relid("executions", nsp);
	info.events.relid = get_relname_relid("execution_events", nsp);
	if (!OidIsValid(info.exec.relid) || !OidIsValid(info.events.relid))
		elog(ERROR, "courier.executions or courier.execution_events is missing");
	info.valid = false;
	info.read_valid = false;
	info.relids_valid = true;
}

/* The attribute number of column name of type typid; 0 when there is none. */
static AttrNumber
ColumnOf(TupleDesc desc, const char *name, Oid typid)
{
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return att->atttypid == typid ? att->attnum : InvalidAttrNumber;
	}
	return InvalidAttrNumber;
}

/* What both tables' triggers, rules and columns allow (see the header). */
static bool
TableUsable(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rules != NULL)
		return false;
	for (i = 0; i < desc->natts; i++)
		if (TupleDescAttr(desc, i)->attgenerated)
			return false;
	return true;
}

/* Whether every attribute number of the int2[] keys is one a save leaves alone. */
static bool
KeysUnchanged(Datum keys)
{
	ArrayType  *arr = DatumGetArrayTypeP(keys);
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i,
				c;

	deconstruct_array(arr, INT2OID, 2, true, TYPALIGN_SHORT, &elems, &nulls, &n);
	for (i = 0; i < n; i++)
		for (c = 0; c < NUM_SAVE_COLUMNS; c++)
			if (!nulls[i] && DatumGetInt16(elems[i]) == info.save_attnum[c])
				return false;
	return true;
}

/*
 * Whether the only triggers on courier.executions are those of foreign keys
 * a save leaves alone: on the referencing side (courier.executions' own key)
 * not deferrable, on the referenced side any.
 */
static bool
TriggersAllowed(Relation rel)
{
	TriggerDesc *td = rel->trigdesc;
	int			i;

	if (td == NULL)
		return true;
	for (i = 0; i < td->numtriggers; i++)
	{
		Trigger    *t = &td->triggers[i];
		int			type = RI_FKey_trigger_type(t->tgfoid);
		HeapTuple	ctup;
		Form_pg_constraint con;
		Datum		keys;
		bool		isnull;
		bool		ok;

		if (type == RI_TRIGGER_NONE || !OidIsValid(t->tgconstraint) ||
			(type == RI_TRIGGER_FK && t->tgdeferrable))
			return false;
		ctup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(t->tgconstraint));
		if (!HeapTupleIsValid(ctup))
			return false;
		con = (Form_pg_constraint) GETSTRUCT(ctup);
		ok = con->contype == CONSTRAINT_FOREIGN &&
			(type == RI_TRIGGER_FK ? con->conrelid : con->confrelid) == RelationGetRelid(rel);
		if (ok)
		{
			keys = SysCacheGetAttr(CONSTROID, ctup,
								   type == RI_TRIGGER_FK ? Anum_pg_constraint_conkey :
								   Anum_pg_constraint_confkey, &isnull);
			ok = !isnull && KeysUnchanged(keys);
		}
		ReleaseSysCache(ctup);
		if (!ok)
			return false;
	}
	return true;
}

/* The table's CHECK constraints, planned and initialized in info.cxt. */
static void
PrepareChecks(Relation rel, StoreTable *t)
{
	TupleConstr *constr = RelationGetDescr(rel)->constr;
	MemoryContext old;
	int			i;

	t->natts = RelationGetDescr(rel)->natts;
	t->nchecks = constr != NULL ? constr->num_check : 0;
	t->checks = NULL;
	if (t->nchecks == 0)
		return;
	old = MemoryContextSwitchTo(info.cxt);
	t->checks = palloc(sizeof(ExprState *) * t->nchecks);
	for (i = 0; i < t->nchecks; i++)
	{
		Expr	   *expr = (Expr *) stringToNode(constr->check[i].ccbin);

		t->checks[i] = ExecInitExpr(expression_planner(expr), NULL);
	}
	MemoryContextSwitchTo(old);
}

static void
BuildInfo(Relation rel, Relation evrel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	TupleDesc	evdesc = RelationGetDescr(evrel);
	bool		usable = true;
	int			c,
				i;

	/*
	 * Valid from here: a relcache invalidation that arrives while this runs
	 * (catalog lookups can take locks, which accept invalidations) makes
	 * the next save build it again.
	 */
	info.valid = true;
	info.usable = false;
	if (info.cxt != NULL)
		MemoryContextDelete(info.cxt);
	info.cxt = AllocSetContextCreate(CacheMemoryContext, "pg_courier execution store",
									 ALLOCSET_SMALL_SIZES);

	info.id_attnum = ColumnOf(desc, "execution_id", INT8OID);
	usable = info.id_attnum != InvalidAttrNumber;
	for (c = 0; c < NUM_SAVE_COLUMNS; c++)
	{
		info.save_attnum[c] = ColumnOf(desc, save_names[c], save_types[c]);
		if (info.save_attnum[c] == InvalidAttrNumber)
			usable = false;
	}
	for (c = 0; c < NUM_EVENT_COLUMNS; c++)
	{
		info.event_attnum[c] = ColumnOf(evdesc, event_names[c], event_types[c]);
		if (info.event_attnum[c] == InvalidAttrNumber)
			usable = false;
	}
	/* a column of the history this file does not fill must be left null */
	for (i = 0; usable && i < evdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(evdesc, i);
		bool		known = false;

		if (att->attisdropped)
			continue;
		for (c = 0; c < NUM_EVENT_COLUMNS; c++)
			if (info.event_attnum[c] == att->attnum)
				known = true;
		if (!known && (att->atthasdef || att->attnotnull))
			usable = false;
	}
	usable = usable && TableUsable(rel) && TableUsable(evrel) &&
		evrel->trigdesc == NULL && TriggersAllowed(rel);
	if (usable)
	{
		PrepareChecks(rel, &info.exec);
		PrepareChecks(evrel, &info.events);
	}
	info.usable = usable;
}

/* NOT NULL and the CHECK constraints of t hold for the row in slot. */
static bool
RowValid(const StoreTable *t, TupleTableSlot *slot, EState *estate)
{
	TupleDesc	desc = slot->tts_tupleDescriptor;
	ExprContext *econtext;
	int			i;

	for (i = 0; i < desc->natts; i++)
		if (TupleDescAttr(desc, i)->attnotnull && slot->tts_isnull[i])
			return false;
	econtext = GetPerTupleExprContext(estate);
	econtext->ecxt_scantuple = slot;
	for (i = 0; i < t->nchecks; i++)
		if (!ExecCheck(t->checks[i], econtext))
			return false;
	return true;
}

/* Whether the text datum d is s. */
static bool
TextIs(Datum d, const char *s)
{
	text	   *t = DatumGetTextPP(d);

	return VARSIZE_ANY_EXHDR(t) == strlen(s) && memcmp(VARDATA_ANY(t), s, strlen(s)) == 0;
}

/* The columns a read takes from courier.executions (see the header). */
static void
BuildReadInfo(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	bool		usable;
	int			c;

	info.read_valid = true;		/* as in BuildInfo */
	info.read_natts = desc->natts;
	usable = rel->rd_rel->relkind == RELKIND_RELATION;
	for (c = 0; c < NUM_READ_COLUMNS; c++)
	{
		info.read_attnum[c] = ColumnOf(desc, read_names[c], read_types[c]);
		if (info.read_attnum[c] == InvalidAttrNumber)
			usable = false;
	}
	info.status_attnum = ColumnOf(desc, "status", TEXTOID);
	info.next_step_attnum = ColumnOf(desc, "next_step_at", TIMESTAMPTZOID);
	if (info.status_attnum == InvalidAttrNumber || info.next_step_attnum == InvalidAttrNumber)
		usable = false;
	info.read_usable = usable;
}

bool
CourierReadExecutionDirect(int64 id, ItemPointer tid, TimestampTz now, Datum *values, bool *nulls)
{
	Relation	rel;
	TupleTableSlot *slot;
	bool		found = false;
	int			c;

	if (!ItemPointerIsValid(tid))
		return false;
	if (!info.relids_valid)
		LookupRelids();
	if (pg_class_aclcheck(info.exec.relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK ||
		check_enable_rls(info.exec.relid, InvalidOid, true) == RLS_ENABLED)
		return false;

	rel = table_open(info.exec.relid, AccessShareLock);
	if (!info.relids_valid)
	{
		table_close(rel, AccessShareLock);	/* dropped or replaced meanwhile */
		return false;
	}
	if (!info.read_valid)
		BuildReadInfo(rel);
	if (!info.read_usable || RelationGetDescr(rel)->natts != info.read_natts)
	{
		table_close(rel, AccessShareLock);
		return false;
	}

	/*
	 * The version at tid, if it is still current: visible to a snapshot
	 * that sees all this transaction did.  Nobody else can have changed it:
	 * this transaction locked it.
	 */
	CommandCounterIncrement();
	slot = table_slot_create(rel, NULL);
	if (table_tuple_fetch_row_version(rel, tid, GetLatestSnapshot(), slot))
	{
		HeapTuple	tup;
		Datum	   *all;
		bool	   *allnulls;
		TupleDesc	desc = RelationGetDescr(rel);
		AttrNumber	a;

		/* a copy, in the caller's context: the values point into it */
		tup = ExecCopySlotHeapTuple(slot);
		all = palloc(sizeof(Datum) * desc->natts);
		allnulls = palloc(sizeof(bool) * desc->natts);
		heap_deform_tuple(tup, desc, all, allnulls);
		a = info.read_attnum[READ_EXECUTION_ID] - 1;
		found = !allnulls[a] && DatumGetInt64(all[a]) == id &&
			!allnulls[info.status_attnum - 1] &&
			TextIs(all[info.status_attnum - 1], "RUNNING") &&
			!allnulls[info.next_step_attnum - 1] &&
			DatumGetTimestampTz(all[info.next_step_attnum - 1]) <= now;
		for (c = 0; found && c < NUM_READ_COLUMNS; c++)
		{
			a = info.read_attnum[c] - 1;
			nulls[c] = allnulls[a];
			values[c] = all[a];
		}
		if (found && !nulls[READ_STARTED_BY])
			values[READ_STARTED_BY] =
				CStringGetTextDatum(NameStr(*DatumGetName(values[READ_STARTED_BY])));
	}
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, AccessShareLock);
	return found;
}

bool
CourierSaveExecutionDirect(int64 id, ItemPointer tid, const Datum *values,
						   const bool *nulls, const Datum *events)
{
	Oid			user = GetUserId();
	Relation	rel;
	Relation	evrel;
	EState	   *estate = NULL;
	TupleTableSlot *oldslot = NULL;
	TupleTableSlot *newslot = NULL;
	TupleTableSlot *evslot = NULL;
	ResultRelInfo *rri = NULL;
	ResultRelInfo *evrri = NULL;
	Snapshot	snapshot;
	TM_FailureData tmfd;
	LockTupleMode lockmode;
	CourierUpdateIndexes update_indexes;
	CommandId	cid;
	bool		done = false;
	int			natts;
	int			c;

	if (!ItemPointerIsValid(tid))
		return false;
	if (!info.relids_valid)
		LookupRelids();
	if (pg_class_aclcheck(info.exec.relid, user, ACL_UPDATE) != ACLCHECK_OK ||
		pg_class_aclcheck(info.exec.relid, user, ACL_SELECT) != ACLCHECK_OK ||
		pg_class_aclcheck(info.events.relid, user, ACL_INSERT) != ACLCHECK_OK ||
		check_enable_rls(info.exec.relid, InvalidOid, true) == RLS_ENABLED ||
		check_enable_rls(info.events.relid, InvalidOid, true) == RLS_ENABLED)
		return false;

	rel = table_open(info.exec.relid, RowExclusiveLock);
	evrel = table_open(info.events.relid, RowExclusiveLock);
	if (!info.relids_valid)
		goto out;				/* dropped or replaced meanwhile */
	if (!info.valid)
		BuildInfo(rel, evrel);
	if (!info.usable || RelationGetDescr(rel)->natts != info.exec.natts ||
		RelationGetDescr(evrel)->natts != info.events.natts)
		goto out;

	/* the row as it is now: what this transaction did so far is visible */
	CommandCounterIncrement();
	snapshot = GetLatestSnapshot();
	estate = CreateExecutorState();
	oldslot = table_slot_create(rel, NULL);
	if (!table_tuple_fetch_row_version(rel, tid, snapshot, oldslot))
		goto out;
	slot_getallattrs(oldslot);
	if (oldslot->tts_isnull[info.id_attnum - 1] ||
		DatumGetInt64(oldslot->tts_values[info.id_attnum - 1]) != id)
		goto out;

	natts = RelationGetDescr(rel)->natts;
	newslot = table_slot_create(rel, NULL);
	ExecClearTuple(newslot);
	memcpy(newslot->tts_values, oldslot->tts_values, natts * sizeof(Datum));
	memcpy(newslot->tts_isnull, oldslot->tts_isnull, natts * sizeof(bool));
	for (c = 0; c < NUM_SAVE_COLUMNS; c++)
	{
		newslot->tts_values[info.save_attnum[c] - 1] = nulls[c] ? (Datum) 0 : values[c];
		newslot->tts_isnull[info.save_attnum[c] - 1] = nulls[c];
	}
	ExecStoreVirtualTuple(newslot);
	if (!RowValid(&info.exec, newslot, estate))
		goto out;

	if (events != NULL)
	{
		evslot = table_slot_create(evrel, NULL);
		ExecClearTuple(evslot);
		memset(evslot->tts_isnull, true, RelationGetDescr(evrel)->natts * sizeof(bool));
		for (c = 0; c < NUM_EVENT_COLUMNS; c++)
		{
			evslot->tts_values[info.event_attnum[c] - 1] = events[c];
			evslot->tts_isnull[info.event_attnum[c] - 1] = false;
		}
		ExecStoreVirtualTuple(evslot);
		ResetPerTupleExprContext(estate);
		if (!RowValid(&info.events, evslot, estate))
			goto out;
	}

	/* a publication that publishes updates needs the table's replica identity */
	CheckCmdReplicaIdentity(rel, CMD_UPDATE);

	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	ExecOpenIndices(rri, false);
	cid = GetCurrentCommandId(true);
	if (table_tuple_update(rel, tid, newslot, cid, snapshot, InvalidSnapshot, true,
						   &tmfd, &lockmode, &update_indexes) != TM_Ok)
		goto out;				/* nothing written */
	done = true;
	if (CourierUpdateNeedsIndexes(update_indexes))
	{
		ResetPerTupleExprContext(estate);
		if (CourierUpdateIndexTuples(rri, newslot, estate, update_indexes) != NIL)
			elog(ERROR, "courier: deferred unique check on courier.executions");
	}

	if (events != NULL)
	{
		evrri = makeNode(ResultRelInfo);
		InitResultRelInfo(evrri, evrel, 1, NULL, 0);
		ExecOpenIndices(evrri, false);
		table_tuple_insert(evrel, evslot, cid, 0, NULL);
		ResetPerTupleExprContext(estate);
		if (CourierInsertIndexTuples(evrri, evslot, estate) != NIL)
			elog(ERROR, "courier: deferred unique check on courier.execution_events");
	}

out:
	if (evrri != NULL)
		ExecCloseIndices(evrri);
	if (rri != NULL)
		ExecCloseIndices(rri);
	if (evslot != NULL)
		ExecDropSingleTupleTableSlot(evslot);
	if (newslot != NULL)
		ExecDropSingleTupleTableSlot(newslot);
	if (oldslot != NULL)
		ExecDropSingleTupleTableSlot(oldslot);
	if (estate != NULL)
		FreeExecutorState(estate);
	table_close(evrel, NoLock);
	table_close(rel, NoLock);

	/* what follows in the caller's transaction sees the new rows */
	if (done)
		CommandCounterIncrement();
	return done;
}
