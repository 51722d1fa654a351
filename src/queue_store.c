/*-------------------------------------------------------------------------
 *
 * queue_store.c
 *	  New messages written into courier.messages directly.
 *
 * send(), publish() and redrive use it for one message at a time, where
 * it saves the executor's start-up and shutdown of an INSERT statement.
 *
 * send_batch() of a standard queue used to hand its messages to one
 * INSERT ... SELECT over nine unnested arrays: the statement spent most of
 * its time taking the arrays apart and projecting rows, not storing them.
 * Here the rows are formed in C and stored the way COPY stores them: one
 * table_multi_insert() call (heap_multi_insert: the tuples of a page in one
 * WAL record) and then each row's index entries.  The ids are drawn from
 * courier.message_id_seq in input order, as the statement did.
 *
 * What the statement did implicitly is checked here explicitly, and where
 * it cannot be the caller falls back to the statement: the table-level
 * INSERT privilege (the statement would also accept column privileges),
 * row-level security (unless the only policy is the extension's own tenant
 * policy and the role is bound to no tenant, for which it is true), rules
 * and triggers on the table (none by default; a site may add them, and the
 * statement applies them), and a table whose columns
 * are not the ones this file fills (a column with a default or NOT NULL
 * that it does not know).  The sequence's privilege is checked by
 * nextval_internal().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "rewrite/rowsecurity.h"
#include "utils/acl.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"

#include "compat.h"
#include "grants.h"
#include "queue_store.h"

/* The columns this file fills. */
typedef enum StoreColumn
{
	COL_MSG_ID,
	COL_VISIBLE_AT,
	COL_SENT_AT,
	COL_RECEIVE_COUNT,
	COL_QUEUE_NAME,
	COL_TYPE,
	COL_CORRELATION_ID,
	COL_CAUSATION_ID,
	COL_IDEMPOTENCY_KEY,
	COL_TENANT_ID,
	COL_SCHEMA_VERSION,
	COL_OCCURRED_AT,
	COL_HEADERS,
	COL_PAYLOAD,
	COL_GROUP_ID,
	COL_DEDUP_ID,
	COL_ORIGIN_MSG_ID,
	NUM_STORE_COLUMNS
} StoreColumn;

static const char *const column_names[NUM_STORE_COLUMNS] = {
	"msg_id", "visible_at", "sent_at", "receive_count", "queue_name", "type",
	"correlation_id", "causation_id", "idempotency_key", "tenant_id",
	"schema_version", "occurred_at", "headers", "payload", "group_id", "dedup_id",
	"origin_msg_id"
};

/* The envelope's text fields, in CourierEnvelopeText order. */
static const StoreColumn text_columns[ENV_NUM_TEXT] = {
	COL_TYPE, COL_CORRELATION_ID, COL_CAUSATION_ID, COL_IDEMPOTENCY_KEY, COL_TENANT_ID
};

/* What is known about courier.messages, until its relcache entry changes. */
typedef struct StoreInfo
{
	bool		valid;
	bool		usable;			/* the columns are the ones filled here */
	Oid			relid;
	Oid			seqid;
	int			natts;
	AttrNumber	attnum[NUM_STORE_COLUMNS];
} StoreInfo;

static StoreInfo store;
static bool callback_registered = false;

static void
StoreRelcacheCallback(Datum arg pg_attribute_unused(), Oid relid)
{
	if (relid == InvalidOid || relid == store.relid || relid == store.seqid)
		store.valid = false;
}

/*
 * Every column of the table is either one this file fills, or nullable
 * without a default (so that leaving it null is what INSERT would do).
 */
static bool
ColumnsAsExpected(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;
	int			c;

	for (c = 0; c < NUM_STORE_COLUMNS; c++)
		store.attnum[c] = InvalidAttrNumber;
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		bool		known = false;

		if (att->attisdropped)
			continue;
		for (c = 0; c < NUM_STORE_COLUMNS; c++)
		{
			if (strcmp(NameStr(att->attname), column_names[c]) == 0)
			{
				store.attnum[c] = att->attnum;
				known = true;
			}
		}
		if (!known && (att->atthasdef || att->attnotnull || att->attgenerated))
			return false;
	}
	for (c = 0; c < NUM_STORE_COLUMNS; c++)
		if (store.attnum[c] == InvalidAttrNumber)
			return false;
	if (desc->constr != NULL && desc->constr->num_check > 0)
		return false;
	store.natts = desc->natts;
	return true;
}

static bool
LookupStore(void)
{
	Oid			nsp;
	Relation	rel;

	if (store.valid)
		return store.usable;
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(StoreRelcacheCallback, (Datum) 0);
		callback_registered = true;
	}
	nsp = get_namespace_oid("courier", false);
	store.relid = get_relname_relid("messages", nsp);
	store.seqid = get_relname_relid("message_id_seq", nsp);
	if (!OidIsValid(store.relid) || !OidIsValid(store.seqid))
		elog(ERROR, "courier.messages or courier.message_id_seq is missing");
	/*
	 * Valid from here: an invalidation accepted while the table is opened
	 * (its lock reads them) leaves it invalid, for the next call to look
	 * again, instead of being overwritten when this look ends.
	 */
	store.valid = true;
	rel = table_open(store.relid, AccessShareLock);
	store.usable = rel->rd_rel->relkind == RELKIND_RELATION && ColumnsAsExpected(rel);
	table_close(rel, AccessShareLock);
	return store.usable;
}

/*
 * Whether the only row-level security policy on the table is the one the
 * extension creates (sql/parts/97_grants.sql), which lets a role bound to no
 * tenant write any row: such a role's INSERT checks nothing this file would
 * have to.
 */
static bool
OnlyTenantPolicy(Relation rel)
{
	RowSecurityPolicy *policy;

	if (rel->rd_rsdesc == NULL || list_length(rel->rd_rsdesc->policies) != 1)
		return false;
	policy = (RowSecurityPolicy *) linitial(rel->rd_rsdesc->policies);
	return strcmp(policy->policy_name, "tenant_rows") == 0;
}

bool
CourierStoreMessages(text *queue_name, const CourierNewMessage *msgs, int n,
					 TimestampTz visible_at, TimestampTz now, int64 *ids)
{
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot **slots;
	int			i;

	if (!LookupStore())
		return false;
	if (pg_class_aclcheck(store.relid, GetUserId(), ACL_INSERT) != ACLCHECK_OK)
		return false;

	rel = table_open(store.relid, RowExclusiveLock);
	if (rel->trigdesc != NULL || rel->rd_rules != NULL ||
		RelationGetDescr(rel)->natts != store.natts ||
		(check_enable_rls(store.relid, InvalidOid, true) == RLS_ENABLED &&
		 !(OnlyTenantPolicy(rel) && CourierRoleUnbound(GetUserId()))))
	{
		table_close(rel, RowExclusiveLock);
		return false;
	}

	estate = CreateExecutorState();
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	ExecOpenIndices(rri, false);

	slots = palloc(n * sizeof(TupleTableSlot *));
	for (i = 0; i < n; i++)
	{
		TupleTableSlot *slot = table_slot_create(rel, NULL);
		const CourierNewMessage *msg = &msgs[i];
		Datum	   *values = slot->tts_values;
		bool	   *isnull = slot->tts_isnull;
		int			f;

		CHECK_FOR_INTERRUPTS();
		ExecClearTuple(slot);
		memset(isnull, true, slot->tts_tupleDescriptor->natts * sizeof(bool));
#define SET(col, datum) \
		do { values[store.attnum[col] - 1] = (datum); isnull[store.attnum[col] - 1] = false; } while (0)
		ids[i] = nextval_internal(store.seqid, true);
		SET(COL_MSG_ID, Int64GetDatum(ids[i]));
		SET(COL_VISIBLE_AT, TimestampTzGetDatum(visible_at));
		SET(COL_SENT_AT, TimestampTzGetDatum(now));
		SET(COL_RECEIVE_COUNT, Int32GetDatum(0));
		SET(COL_QUEUE_NAME, PointerGetDatum(queue_name));
		for (f = 0; f < ENV_NUM_TEXT; f++)
			if (msg->env.text_fields[f] != NULL)
				SET(text_columns[f], PointerGetDatum(msg->env.text_fields[f]));
		if (msg->env.has_schema_version)
			SET(COL_SCHEMA_VERSION, Int32GetDatum(msg->env.schema_version));
		if (msg->env.has_occurred_at)
			SET(COL_OCCURRED_AT, TimestampTzGetDatum(msg->env.occurred_at));
		if (msg->env.headers != NULL)
			SET(COL_HEADERS, JsonbPGetDatum(msg->env.headers));
		SET(COL_PAYLOAD, JsonbPGetDatum(msg->payload));
		if (msg->group_id != NULL)
			SET(COL_GROUP_ID, PointerGetDatum(msg->group_id));
		if (msg->dedup_id != NULL)
			SET(COL_DEDUP_ID, PointerGetDatum(msg->dedup_id));
		if (msg->origin_msg_id != 0)
			SET(COL_ORIGIN_MSG_ID, Int64GetDatum(msg->origin_msg_id));
#undef SET
		ExecStoreVirtualTuple(slot);
		slots[i] = slot;
	}

	if (n == 1)
		table_tuple_insert(rel, slots[0], GetCurrentCommandId(true), 0, NULL);
	else
		table_multi_insert(rel, slots, n, GetCurrentCommandId(true), 0, NULL);
	for (i = 0; i < n; i++)
	{
		List	   *recheck;

		CHECK_FOR_INTERRUPTS();
		ResetPerTupleExprContext(estate);
		recheck = CourierInsertIndexTuples(rri, slots[i], estate);
		list_free(recheck);
	}

	for (i = 0; i < n; i++)
		ExecDropSingleTupleTableSlot(slots[i]);
	pfree(slots);
	ExecCloseIndices(rri);
	FreeExecutorState(estate);
	table_close(rel, NoLock);

	/* what follows in the caller's transaction sees the new rows */
	CommandCounterIncrement();
	return true;
}
