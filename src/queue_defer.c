/*-------------------------------------------------------------------------
 *
 * queue_defer.c
 *	  Leases written at commit.
 *
 * A lease is a row version: receive() sets the message's visible_at to the
 * end of the lease and counts the delivery, and the consumer's delete then
 * removes that new version.  A consumer that receives and deletes in one
 * transaction (the pattern that makes side effects exactly-once: receive,
 * do the work, delete, commit) therefore writes every message twice, and the
 * lease it wrote is dead the moment the transaction commits.
 *
 * Inside a transaction block, receive() on a standard queue instead only
 * locks the messages it picks (FOR UPDATE SKIP LOCKED, as before) and returns
 * them as leased; the lease waits in backend memory, in this transaction.
 * The lock keeps every other consumer away exactly as the uncommitted lease
 * row did.  At commit (or PREPARE TRANSACTION) the leases still waiting are
 * written, with the values receive returned: the end of the lease, the
 * delivery count, the receipt's nonce.  A lease whose message the
 * transaction has deleted is never written; the delete removes the message
 * by its id, which the lock makes safe.  Rolled back, nothing was written
 * and the lock goes with the transaction: the message is as it was, as
 * after a rolled-back lease.
 *
 * Vocabulary: a deferred lease is one receive returned and has not written;
 * it is waiting until written (flushed) or settled (its message deleted).
 * Each remembers the subtransaction that took it and the one that settled
 * or flushed it, so that rolling back to a savepoint undoes exactly what
 * the rolled-back part did: leases taken there disappear (their locks are
 * released), deletes and flushes done there are undone (the rows are back,
 * still locked by the surviving part), and those leases wait again.
 *
 * What stays eager: FIFO queues (their group rows carry the lease state),
 * receive outside a transaction block (its transaction ends with the
 * statement, so there is nothing to gain), and courier.defer_leases = off.
 * Before anything in the transaction could see the difference through the
 * courier functions, the waiting leases of the queue are written first: a
 * second receive (which would otherwise find the locked rows again), and
 * change_visibility or release of a waiting lease.  What remains visible is
 * courier.messages itself, read inside the receiving transaction: it shows
 * the message as before the receive until commit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "plan.h"
#include "queue_defer.h"
#include "queue_head.h"

bool		courier_defer_leases = true;

PG_FUNCTION_INFO_V1(courier_flush_leases);

/* What one receive call's deferred leases share. */
typedef struct DeferredCall
{
	text	   *queue_name;
	TimestampTz received_at;
	TimestampTz lease_end;
	int64		nonce;
	Oid			userid;			/* who leased: the lease is written as it */
} DeferredCall;

typedef struct DeferredLease
{
	int64		msg_id;			/* hash key */
	int			call;			/* index into calls */
	int32		receive_count;	/* the delivery this lease is */
	SubTransactionId taken_in;
	SubTransactionId settled_in;	/* InvalidSubTransactionId while waiting */
} DeferredLease;

/* All in TopTransactionContext; NULL outside a transaction with leases. */
static HTAB *leases = NULL;
static DeferredCall *calls = NULL;
static int	ncalls = 0;
static int	maxcalls = 0;
static bool callbacks_registered = false;

static SPIPlanPtr flush_plan = NULL;


static void
Forget(void)
{
	leases = NULL;
	calls = NULL;
	ncalls = maxcalls = 0;
}

static bool
AnyWaiting(void)
{
	HASH_SEQ_STATUS seq;
	DeferredLease *l;

	if (leases == NULL)
		return false;
	hash_seq_init(&seq, leases);
	while ((l = hash_seq_search(&seq)) != NULL)
	{
		if (l->settled_in == InvalidSubTransactionId)
		{
			hash_seq_term(&seq);
			return true;
		}
	}
	return false;
}

static void
DeferXactCallback(XactEvent event, void *arg pg_attribute_unused())
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (AnyWaiting())
			{
				/* the last statement's changes must be visible to the flush */
				CommandCounterIncrement();
				PushActiveSnapshot(GetTransactionSnapshot());
				SPI_connect();
				CourierDeferFlush(NULL);
				SPI_finish();
				PopActiveSnapshot();
			}
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			Forget();
			break;
		default:
			break;
	}
}

static void
DeferSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
					 SubTransactionId parentSubid, void *arg pg_attribute_unused())
{
	HASH_SEQ_STATUS seq;
	DeferredLease *l;

	if (leases == NULL)
		return;
	if (event != SUBXACT_EVENT_COMMIT_SUB && event != SUBXACT_EVENT_ABORT_SUB)
		return;
	hash_seq_init(&seq, leases);
	while ((l = hash_seq_search(&seq)) != NULL)
	{
		if (event == SUBXACT_EVENT_COMMIT_SUB)
		{
			if (l->taken_in == mySubid)
				l->taken_in = parentSubid;
			if (l->settled_in == mySubid)
				l->settled_in = parentSubid;
		}
		else if (l->taken_in == mySubid)
		{
			/* the lock went with the subtransaction: no lease at all */
			(void) hash_search(leases, &l->msg_id, HASH_REMOVE, NULL);
		}
		else if (l->settled_in == mySubid)
			l->settled_in = InvalidSubTransactionId;	/* waiting again */
	}
}

bool
CourierDeferEnabled(const CourierQueue *queue)
{
	return courier_defer_leases && !queue->fifo && IsTransactionBlock();
}

void
CourierDeferRecord(text *queue_name, TimestampTz received_at, TimestampTz lease_end,
				   int64 nonce, SPITupleTable *tuptable, uint64 nrows)
{
	MemoryContext old;
	DeferredCall *call;
	uint64		row;
	int			callno;

	if (!callbacks_registered)
	{
		RegisterXactCallback(DeferXactCallback, NULL);
		RegisterSubXactCallback(DeferSubXactCallback, NULL);
		callbacks_registered = true;
	}

	old = MemoryContextSwitchTo(TopTransactionContext);
	if (leases == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(DeferredLease);
		ctl.hcxt = TopTransactionContext;
		leases = hash_create("pg_courier deferred leases", 64, &ctl,
							 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	if (ncalls == maxcalls)
	{
		maxcalls = Max(8, maxcalls * 2);
		calls = calls == NULL ? palloc(maxcalls * sizeof(DeferredCall))
			: repalloc(calls, maxcalls * sizeof(DeferredCall));
	}
	callno = ncalls++;
	call = &calls[callno];
	call->queue_name = DatumGetTextPCopy(PointerGetDatum(queue_name));
	call->received_at = received_at;
	call->lease_end = lease_end;
	call->nonce = nonce;
	/* a receive acting through a courier grant runs as the owner (grants.c) */
	call->userid = GetUserId();
	MemoryContextSwitchTo(old);

	for (row = 0; row < nrows; row++)
	{
		bool		isnull;
		Datum		id;
		Datum		count;
		int64		msg_id;
		DeferredLease *l;
		bool		found;

		CHECK_FOR_INTERRUPTS();
		/* columns of courier.received: 1 msg_id, 12 receive_count */
		id = SPI_getbinval(tuptable->vals[row], tuptable->tupdesc, 1, &isnull);
		if (isnull)
			continue;			/* the all-null row of the dead-letter variant */
		count = SPI_getbinval(tuptable->vals[row], tuptable->tupdesc, 12, &isnull);
		msg_id = DatumGetInt64(id);
		l = hash_search(leases, &msg_id, HASH_ENTER, &found);
		l->msg_id = msg_id;
		l->call = callno;
		l->receive_count = DatumGetInt32(count);
		l->taken_in = GetCurrentSubTransactionId();
		l->settled_in = InvalidSubTransactionId;
	}
}

static bool
SameQueue(const text *a, const text *b)
{
	return VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0;
}

CourierDeferMatch
CourierDeferLookup(text *queue_name, const CourierReceipt *receipt)
{
	DeferredLease *l;
	const DeferredCall *call;

	if (leases == NULL || receipt->fifo)
		return COURIER_DEFER_NONE;
	l = hash_search(leases, &receipt->msg_id, HASH_FIND, NULL);
	if (l == NULL || l->settled_in != InvalidSubTransactionId)
		return COURIER_DEFER_NONE;
	call = &calls[l->call];
	if (!SameQueue(call->queue_name, queue_name))
		return COURIER_DEFER_NONE;
	if (receipt->receive_count == l->receive_count && receipt->nonce == call->nonce)
		return COURIER_DEFER_MATCH;
	return COURIER_DEFER_STALE;
}

void
CourierDeferDone(int64 msg_id)
{
	DeferredLease *l;

	if (leases == NULL)
		return;
	l = hash_search(leases, &msg_id, HASH_FIND, NULL);
	if (l != NULL)
		l->settled_in = GetCurrentSubTransactionId();
}

/* A waiting lease on its way to be written. */
typedef struct WaitingLease
{
	int			call;
	int64		msg_id;
} WaitingLease;

static int
CompareWaiting(const void *a, const void *b)
{
	const WaitingLease *x = a;
	const WaitingLease *y = b;

	if (x->call != y->call)
		return x->call < y->call ? -1 : 1;
	return x->msg_id < y->msg_id ? -1 : (x->msg_id > y->msg_id ? 1 : 0);
}

/*
 * One UPDATE per receive call whose leases wait, with the values that
 * receive returned.  A message the transaction deleted some other way
 * (purge_queue, drop_queue) is simply not found.
 */
int
CourierDeferFlush(text *queue_name)
{
	static Oid	argtypes[5] = {TEXTOID, INT8ARRAYOID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID};
	HASH_SEQ_STATUS seq;
	DeferredLease *l;
	WaitingLease *waiting;
	Datum	   *ids;
	int			nwaiting = 0;
	int			i;
	SPIPlanPtr	plan;
	Oid			saved_userid;
	int			saved_sec_context;

	if (leases == NULL)
		return 0;
	waiting = palloc(Max(hash_get_num_entries(leases), 1) * sizeof(WaitingLease));
	hash_seq_init(&seq, leases);
	while ((l = hash_seq_search(&seq)) != NULL)
	{
		if (l->settled_in != InvalidSubTransactionId)
			continue;
		if (queue_name != NULL && !SameQueue(calls[l->call].queue_name, queue_name))
			continue;
		waiting[nwaiting].call = l->call;
		waiting[nwaiting].msg_id = l->msg_id;
		nwaiting++;
		l->settled_in = GetCurrentSubTransactionId();
	}
	if (nwaiting == 0)
	{
		pfree(waiting);
		return 0;
	}
	qsort(waiting, nwaiting, sizeof(WaitingLease), CompareWaiting);

	plan = CourierPlan(&flush_plan,
					   "UPDATE courier.messages AS m"
					   "   SET visible_at = $3,"
					   "       receive_count = m.receive_count OPERATOR(pg_catalog.+) 1,"
					   "       first_received_at = COALESCE(m.first_received_at, $4),"
					   "       last_received_at = $4,"
					   "       receipt_nonce = $5,"
					   "       returned_at = NULL"
					   " WHERE m.queue_name OPERATOR(pg_catalog.=) $1"
					   "   AND m.msg_id OPERATOR(pg_catalog.=) ANY ($2)"
					   "   AND m.group_id IS NULL",
					   5, argtypes);
	ids = palloc(nwaiting * sizeof(Datum));
	(void) CourierWriteBegin();
	for (i = 0; i < nwaiting;)
	{
		const DeferredCall *call = &calls[waiting[i].call];
		int			n = 0;
		int			dims[1];
		int			lbs[1] = {1};
		Datum		values[5];
		int			c = waiting[i].call;

		CHECK_FOR_INTERRUPTS();
		while (i < nwaiting && waiting[i].call == c)
			ids[n++] = Int64GetDatum(waiting[i++].msg_id);
		dims[0] = n;
		values[0] = PointerGetDatum(call->queue_name);
		values[1] = PointerGetDatum(construct_md_array(ids, NULL, 1, dims, lbs, INT8OID,
													   8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		values[2] = TimestampTzGetDatum(call->lease_end);
		values[3] = TimestampTzGetDatum(call->received_at);
		values[4] = Int64GetDatum(call->nonce);
		GetUserIdAndSecContext(&saved_userid, &saved_sec_context);
		if (call->userid != saved_userid)
			SetUserIdAndSecContext(call->userid,
								   saved_sec_context | SECURITY_LOCAL_USERID_CHANGE);
		if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "courier: writing deferred leases failed");
		SetUserIdAndSecContext(saved_userid, saved_sec_context);
	}
	CourierWriteEnd();
	pfree(ids);
	pfree(waiting);
	return nwaiting;
}

/*
 * courier.flush_leases() returns integer: write the waiting leases of this
 * transaction now (so that courier.messages shows them to the transaction
 * itself); how many were waiting.
 */
Datum
courier_flush_leases(PG_FUNCTION_ARGS)
{
	int			n;

	SPI_connect();
	n = CourierDeferFlush(NULL);
	SPI_finish();
	PG_RETURN_INT32(n);
}
