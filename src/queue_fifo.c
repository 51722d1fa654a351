/*-------------------------------------------------------------------------
 *
 * queue_fifo.c
 *	  FIFO queues: deduplication, and strict order within a message group.
 *
 * Every message of a FIFO queue belongs to a group (group_id).  Within a
 * group, messages are delivered in msg_id order, and while any message of a
 * group is in flight the group delivers nothing more.  Other groups go on.
 *
 * The group row in courier.message_groups is the lock that orders all of it.
 * Senders, receivers, deleters and lease changes take it before they touch a
 * group's messages, so there is one lock order (group, then messages) and no
 * deadlock between them.  Because a sender holds the group lock until it
 * commits and draws the message id only after taking it, ids within a group
 * are in commit order: a message can never appear behind one that was already
 * delivered.
 *
 * The group row also records when the group may deliver next (visible_at):
 * the end of its in-flight messages' lease, or when its next message becomes
 * visible, or 'infinity' when it is empty.  receive() finds ready groups
 * through an index on (queue_name, visible_at), so blocked groups and their
 * messages are never visited, however many there are.  inflight counts the
 * messages the group's last receive leased and nobody has deleted or released
 * since; when it drops to zero the group is ready at once.
 *
 * Deduplication: a dedup id (given, or the SHA-256 of the payload) is claimed
 * in courier.dedup for the queue's dedup_window.  A concurrent sender of the
 * same id waits for the first to commit (unique index), then finds the claim
 * and gets the first message's id back; nothing is stored for it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "clock.h"
#include "plan.h"
#include "queue.h"
#include "receipt.h"
#include "wait.h"

static SPIPlanPtr dedup_claim_plan = NULL;
static SPIPlanPtr dedup_lookup_plan = NULL;
static SPIPlanPtr dedup_fill_plan = NULL;
static SPIPlanPtr group_join_plan = NULL;
static SPIPlanPtr group_pick_plan = NULL;
static SPIPlanPtr group_head_plan = NULL;
static SPIPlanPtr group_lease_plan = NULL;
static SPIPlanPtr group_set_plan = NULL;
static SPIPlanPtr group_inflight_plan = NULL;
static SPIPlanPtr group_visibility_plan = NULL;
static SPIPlanPtr group_lock_plan = NULL;
static SPIPlanPtr fifo_delete_plan = NULL;

#define LEASE_MATCH \
	" m.queue_name OPERATOR(pg_catalog.=) $1" \
	" AND m.msg_id OPERATOR(pg_catalog.=) $2" \
	" AND m.receive_count OPERATOR(pg_catalog.=) $3" \
	" AND m.receipt_nonce OPERATOR(pg_catalog.=) $4" \
	" AND m.group_id IS NOT NULL"

/* Content-based dedup id: hex SHA-256 of the payload's JSON text. */
text *
CourierContentDedupId(Jsonb *payload)
{
	char	   *json = JsonbToCString(NULL, &payload->root, VARSIZE(payload));
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char		hex[PG_SHA256_DIGEST_STRING_LENGTH];
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	int			i;

	if (ctx == NULL ||
		pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) json, strlen(json)) < 0 ||
		pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
		elog(ERROR, "could not compute SHA-256 of the payload");
	pg_cryptohash_free(ctx);
	for (i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	pfree(json);
	return cstring_to_text(hex);
}

/*
 * Claim msg->dedup_id on the queue.  Returns 0 when the claim is ours (the
 * caller then sends and fills it in), or the id of the message that holds it.
 */
static int64
ClaimDedup(text *queue_name, const CourierQueue *queue, text *dedup_id, TimestampTz now)
{
	Oid			argtypes[4] = {TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[4];
	SPIPlanPtr	plan;
	bool		isnull;
	Datum		id;

	values[0] = PointerGetDatum(queue_name);
	values[1] = PointerGetDatum(dedup_id);
	values[2] = TimestampTzGetDatum(now + queue->dedup_window_usec);
	values[3] = TimestampTzGetDatum(now);
	plan = CourierPlan(&dedup_claim_plan,
					   "INSERT INTO courier.dedup AS d (msg_id, expires_at, queue_name, dedup_id)"
					   " VALUES (NULL, $3, $1, $2)"
					   " ON CONFLICT ON CONSTRAINT dedup_pkey DO UPDATE"
					   "   SET msg_id = NULL, expires_at = EXCLUDED.expires_at"
					   " WHERE d.expires_at OPERATOR(pg_catalog.<=) $4",
					   4, argtypes);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "courier: dedup claim failed");
	if (SPI_processed == 1)
		return 0;

	/* A live claim exists, committed (we waited for it) or our own. */
	plan = CourierPlan(&dedup_lookup_plan,
					   "SELECT d.msg_id FROM courier.dedup AS d"
					   " WHERE d.queue_name OPERATOR(pg_catalog.=) $1"
					   "   AND d.dedup_id OPERATOR(pg_catalog.=) $2",
					   2, argtypes);
	if (SPI_execute_plan(plan, values, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "courier: dedup lookup failed");
	id = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		elog(ERROR, "courier: dedup claim without a message");
	return DatumGetInt64(id);
}

/*
 * Take the group's lock by creating or locking its row; a group that was
 * empty becomes ready when its new message becomes visible.  The row is
 * written only when its visible_at moves earlier: ON CONFLICT locks the row
 * even when the WHERE is false, and an unconditional update would add a row
 * version per message, which a batch of many messages to one group then
 * walks on every send (quadratic: 200,000 messages to one group in one
 * send_batch ran for over ten minutes).
 */
void
CourierJoinGroup(text *queue_name, text *group_id, TimestampTz visible_at)
{
	Oid			argtypes[3] = {TEXTOID, TEXTOID, TIMESTAMPTZOID};
	Datum		values[3];
	SPIPlanPtr	plan;

	values[0] = PointerGetDatum(queue_name);
	values[1] = PointerGetDatum(group_id);
	values[2] = TimestampTzGetDatum(visible_at);
	plan = CourierPlan(&group_join_plan,
					   "INSERT INTO courier.message_groups AS g (visible_at, inflight, queue_name, group_id)"
					   " VALUES ($3, 0, $1, $2)"
					   " ON CONFLICT ON CONSTRAINT message_groups_pkey DO UPDATE"
					   "   SET visible_at = EXCLUDED.visible_at"
					   " WHERE g.inflight OPERATOR(pg_catalog.=) 0"
					   "   AND EXCLUDED.visible_at OPERATOR(pg_catalog.<) g.visible_at",
					   3, argtypes);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "courier: group update failed");
}

int64
CourierEnqueueFifo(text *queue_name, const CourierQueue *queue, CourierNewMessage *msg,
				   TimestampTz now)
{
	TimestampTz visible_at = now + queue->delay_usec;
	int64		msg_id;

	if (msg->dedup_id != NULL)
	{
		int64		original = ClaimDedup(queue_name, queue, msg->dedup_id, now);

		if (original != 0)
			return original;
	}

	CourierJoinGroup(queue_name, msg->group_id, visible_at);
	msg_id = CourierInsertMessage(queue_name, msg, visible_at, now);

	if (msg->dedup_id != NULL)
	{
		Oid			argtypes[3] = {TEXTOID, TEXTOID, INT8OID};
		Datum		values[3];
		SPIPlanPtr	plan;

		values[0] = PointerGetDatum(queue_name);
		values[1] = PointerGetDatum(msg->dedup_id);
		values[2] = Int64GetDatum(msg_id);
		plan = CourierPlan(&dedup_fill_plan,
						   "UPDATE courier.dedup AS d SET msg_id = $3"
						   " WHERE d.queue_name OPERATOR(pg_catalog.=) $1"
						   "   AND d.dedup_id OPERATOR(pg_catalog.=) $2",
						   3, argtypes);
		if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "courier: dedup update failed");
	}
	return msg_id;
}

/* Set a group's visible_at and inflight (the caller holds its lock). */
static void
SetGroup(text *queue_name, text *group_id, TimestampTz visible_at, int32 inflight)
{
	Oid			argtypes[4] = {TEXTOID, TEXTOID, TIMESTAMPTZOID, INT4OID};
	Datum		values[4];
	SPIPlanPtr	plan;

	values[0] = PointerGetDatum(queue_name);
	values[1] = PointerGetDatum(group_id);
	values[2] = TimestampTzGetDatum(visible_at);
	values[3] = Int32GetDatum(inflight);
	plan = CourierPlan(&group_set_plan,
					   "UPDATE courier.message_groups AS g SET visible_at = $3, inflight = $4"
					   " WHERE g.queue_name OPERATOR(pg_catalog.=) $1"
					   "   AND g.group_id OPERATOR(pg_catalog.=) $2",
					   4, argtypes);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "courier: group update failed");
}

/*
 * A lease of the group changed its end to new_end: with one message in flight
 * (only) the group waits exactly until then, otherwise until the latest end.
 */
static void
SetGroupVisibility(text *queue_name, text *group_id, TimestampTz new_end, bool only)
{
	Oid			argtypes[4] = {TEXTOID, TEXTOID, TIMESTAMPTZOID, BOOLOID};
	Datum		values[4];
	SPIPlanPtr	plan;

	values[0] = PointerGetDatum(queue_name);
	values[1] = PointerGetDatum(group_id);
	values[2] = TimestampTzGetDatum(new_end);
	values[3] = BoolGetDatum(only);
	plan = CourierPlan(&group_visibility_plan,
					   "UPDATE courier.message_groups AS g"
					   "   SET visible_at = CASE WHEN $4 THEN $3"
					   "                         ELSE GREATEST(g.visible_at, $3) END"
					   " WHERE g.queue_name OPERATOR(pg_catalog.=) $1"
					   "   AND g.group_id OPERATOR(pg_catalog.=) $2",
					   4, argtypes);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "courier: group update failed");
}

/* Set when a group may deliver next, keeping inflight. */
static void
SetGroupVisibleAt(text *queue_name, text *group_id, TimestampTz visible_at)
{
	SetGroupVisibility(queue_name, group_id, visible_at, true);
}

/*
 * Lease what the next ready group can give, at most req->max_messages - taken
 * messages; returns how many were leased, or -1 when no group is ready.
 * visited holds the groups this call already served (a group locked by our
 * own transaction is not skipped by SKIP LOCKED).
 */
static int
LeaseFromNextGroup(CourierLeaseRequest *req, int taken, ArrayBuildState **visited)
{
	const CourierQueue *queue = req->queue;
	Oid			pick_types[3] = {TEXTOID, TIMESTAMPTZOID, TEXTARRAYOID};
	Datum		pick_values[3];
	Oid			head_types[4] = {TEXTOID, TEXTOID, INT8OID, TIMESTAMPTZOID};
	Datum		head_values[4];
	text	   *group_id;
	TimestampTz cutoff = req->now - queue->retention_usec;
	TimestampTz next_visible = DT_NOEND;
	int			want = req->max_messages - taken;
	ArrayBuildState *lease_ids = NULL;
	ArrayBuildState *doomed_ids = NULL;
	int			nlease = 0;
	int			ndoomed = 0;
	bool		blocked = false;
	uint64		nhead;
	uint64		row;
	bool		isnull;
	SPIPlanPtr	plan;

	/* 1. The ready group that has waited longest. */
	pick_values[0] = PointerGetDatum(req->queue_name);
	pick_values[1] = TimestampTzGetDatum(req->now);
	if (*visited)
	{
		/* keep the build state: later groups are added to it */
		int			dims[1] = {(*visited)->nelems};
		int			lbs[1] = {1};

		pick_values[2] = makeMdArrayResult(*visited, 1, dims, lbs, CurrentMemoryContext, false);
	}
	else
		pick_values[2] = PointerGetDatum(construct_empty_array(TEXTOID));
	plan = CourierPlan(&group_pick_plan,
					   "SELECT g.group_id FROM courier.message_groups AS g"
					   " WHERE g.queue_name OPERATOR(pg_catalog.=) $1"
					   "   AND g.visible_at OPERATOR(pg_catalog.<=) $2"
					   "   AND g.group_id OPERATOR(pg_catalog.<>) ALL ($3)"
					   " ORDER BY g.visible_at, g.group_id"
					   " LIMIT 1"
					   "   FOR UPDATE SKIP LOCKED",
					   3, pick_types);
	if (SPI_execute_plan(plan, pick_values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "courier: group pick failed");
	if (SPI_processed == 0)
		return -1;
	group_id = DatumGetTextPCopy(SPI_getbinval(SPI_tuptable->vals[0],
											   SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	*visited = accumArrayResult(*visited, PointerGetDatum(group_id), false, TEXTOID,
								CurrentMemoryContext);

	/* 2. Its first messages, in order; lease the visible prefix. */
again:
	head_values[0] = PointerGetDatum(req->queue_name);
	head_values[1] = PointerGetDatum(group_id);
	head_values[2] = Int64GetDatum((int64) want);
	head_values[3] = TimestampTzGetDatum(cutoff);
	plan = CourierPlan(&group_head_plan,
					   "SELECT m.msg_id, m.visible_at, m.sent_at, m.receive_count,"
					   "       m.returned_at IS NULL AND m.receive_count OPERATOR(pg_catalog.>) 0"
					   "  FROM courier.messages AS m"
					   " WHERE m.queue_name OPERATOR(pg_catalog.=) $1"
					   "   AND m.group_id OPERATOR(pg_catalog.=) $2"
					   "   AND m.sent_at OPERATOR(pg_catalog.>) $4"
					   " ORDER BY m.msg_id"
					   " LIMIT $3",
					   4, head_types);
	if (SPI_execute_plan(plan, head_values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "courier: group scan failed");
	nhead = SPI_processed;
	for (row = 0; row < nhead; row++)
	{
		HeapTuple	tup = SPI_tuptable->vals[row];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		Datum		msg_id = SPI_getbinval(tup, desc, 1, &isnull);
		TimestampTz visible_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 2, &isnull));
		int32		receive_count = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
		bool		leased = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));

		if (visible_at > req->now)
		{
			/*
			 * Still delayed (or given back with a delay): nothing behind it
			 * may go first.  In flight under a lease: the whole group waits,
			 * even for messages before it that became visible again.
			 */
			next_visible = visible_at;
			blocked = leased;
			break;
		}
		if (queue->dead_letter_queue != NULL && receive_count >= queue->max_receive_count)
		{
			doomed_ids = accumArrayResult(doomed_ids, msg_id, false, INT8OID,
										  CurrentMemoryContext);
			ndoomed++;
			continue;
		}
		lease_ids = accumArrayResult(lease_ids, msg_id, false, INT8OID, CurrentMemoryContext);
		nlease++;
	}
	SPI_freetuptable(SPI_tuptable);

	if (blocked)
	{
		/* a message of the group is in flight: wait for its lease */
		SetGroupVisibleAt(req->queue_name, group_id, next_visible);
		return 0;
	}

	/* 3. Poison messages go to the dead-letter queue; that unblocks the group. */
	if (ndoomed > 0)
	{
		uint64		moved = CourierMoveToDeadLetterFifo(req->queue_name, queue, group_id,
														makeArrayResult(doomed_ids,
																		CurrentMemoryContext),
														req->now);

		if (moved > 0 && nlease == 0 && next_visible == DT_NOEND && (int) nhead == want)
		{
			/* only poison so far, and maybe more behind it: look again */
			doomed_ids = NULL;
			ndoomed = 0;
			CHECK_FOR_INTERRUPTS();
			goto again;
		}
	}

	/* 4. Lease the visible prefix, all with one lease end. */
	if (nlease > 0)
	{
		Oid			lease_types[6] = {TEXTOID, INT8ARRAYOID, TIMESTAMPTZOID,
									  TIMESTAMPTZOID, INT8OID, TEXTOID};
		Datum		lease_values[6];
		TimestampTz lease_end = req->now + req->visibility_usec;

		lease_values[0] = PointerGetDatum(req->queue_name);
		lease_values[1] = makeArrayResult(lease_ids, CurrentMemoryContext);
		lease_values[2] = TimestampTzGetDatum(req->now);
		lease_values[3] = TimestampTzGetDatum(lease_end);
		lease_values[4] = Int64GetDatum(req->nonce);
		lease_values[5] = req->nonce_text;
		plan = CourierPlan(&group_lease_plan,
						   "WITH leased AS ("
						   "    UPDATE courier.messages AS m"
						   "       SET visible_at = $4,"
						   "           receive_count = m.receive_count OPERATOR(pg_catalog.+) 1,"
						   "           first_received_at = COALESCE(m.first_received_at, $3),"
						   "           last_received_at = $3,"
						   "           receipt_nonce = $5,"
						   "           returned_at = NULL"
						   "     WHERE m.queue_name OPERATOR(pg_catalog.=) $1"
						   "       AND m.msg_id OPERATOR(pg_catalog.=) ANY ($2)"
						   "    RETURNING m.*"
						   ")"
						   " SELECT l.msg_id,"
						   "        l.msg_id::pg_catalog.text OPERATOR(pg_catalog.||) ':'"
						   "          OPERATOR(pg_catalog.||) l.receive_count::pg_catalog.text"
						   "          OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) $6"
						   "          OPERATOR(pg_catalog.||) ':g',"
						   "        l.payload, l.headers, l.type, l.schema_version,"
						   "        l.correlation_id, l.causation_id, l.idempotency_key,"
						   "        l.tenant_id, l.occurred_at, l.receive_count, l.sent_at,"
						   "        l.first_received_at, l.visible_at, l.group_id, l.dedup_id,"
						   "        0::pg_catalog.int8"
						   "   FROM leased AS l"
						   "  ORDER BY l.msg_id",
						   6, lease_types);
		if (SPI_execute_plan(plan, lease_values, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "courier: FIFO lease failed");
		nlease = CourierPutLeased(req, NULL);
		SetGroup(req->queue_name, group_id, lease_end, nlease);
	}
	else if (ndoomed > 0)
		SetGroup(req->queue_name, group_id, req->now, 0);	/* serve the rest next time */
	else if (nhead == 0)
		SetGroup(req->queue_name, group_id, DT_NOEND, 0);	/* empty: park it */
	else
		SetGroup(req->queue_name, group_id,
				 next_visible != DT_NOEND ? next_visible : req->now, 0);
	return nlease;
}

/* receive() on a FIFO queue: fill the batch group by group. */
int
CourierReceiveFifo(CourierLeaseRequest *req)
{
	ArrayBuildState *visited = NULL;
	int			taken = 0;

	while (taken < req->max_messages)
	{
		int			n;

		CHECK_FOR_INTERRUPTS();
		n = LeaseFromNextGroup(req, taken, &visited);
		if (n < 0)
			break;
		taken += n;
	}
	return taken;
}

/* Set a group's inflight count, keeping visible_at (the caller holds its lock). */
static void
SetGroupInflight(text *queue_name, text *group_id, int32 inflight)
{
	Oid			argtypes[3] = {TEXTOID, TEXTOID, INT4OID};
	Datum		values[3];
	SPIPlanPtr	plan;

	values[0] = PointerGetDatum(queue_name);
	values[1] = PointerGetDatum(group_id);
	values[2] = Int32GetDatum(inflight);
	plan = CourierPlan(&group_inflight_plan,
					   "UPDATE courier.message_groups AS g SET inflight = $3"
					   " WHERE g.queue_name OPERATOR(pg_catalog.=) $1"
					   "   AND g.group_id OPERATOR(pg_catalog.=) $2",
					   3, argtypes);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "courier: group update failed");
}

/*
 * Lock the group of the message a FIFO receipt names, and note the lease's
 * current end; false when the receipt names no current lease.
 */
bool
CourierLockGroupOf(text *queue_name, const CourierReceipt *receipt, CourierGroupLock *lock)
{
	static Oid	argtypes[4] = {TEXTOID, INT8OID, INT4OID, INT8OID};
	Datum		values[4];
	SPIPlanPtr	plan;
	bool		isnull;
	HeapTuple	tup;
	TupleDesc	desc;

	values[0] = PointerGetDatum(queue_name);
	values[1] = Int64GetDatum(receipt->msg_id);
	values[2] = Int32GetDatum(receipt->receive_count);
	values[3] = Int64GetDatum(receipt->nonce);
	plan = CourierPlan(&group_lock_plan,
					   "SELECT g.group_id, g.inflight, m.visible_at, m.returned_at IS NULL"
					   "  FROM courier.messages AS m"
					   "  JOIN courier.message_groups AS g"
					   "    ON g.queue_name OPERATOR(pg_catalog.=) m.queue_name"
					   "   AND g.group_id OPERATOR(pg_catalog.=) m.group_id"
					   " WHERE" LEASE_MATCH
					   "   FOR UPDATE OF g",
					   4, argtypes);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "courier: group lock failed");
	if (SPI_processed == 0)
		return false;
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	lock->group_id = DatumGetTextPCopy(SPI_getbinval(tup, desc, 1, &isnull));
	lock->inflight = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
	lock->lease_end = DatumGetTimestampTz(SPI_getbinval(tup, desc, 3, &isnull));
	lock->holds = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull)) &&
		lock->lease_end > CourierNow();
	return true;
}

/*
 * After a lease's end moved to new_end: a released message that was in
 * flight no longer holds the group; a changed visibility holds it until the
 * latest lease end of its in-flight messages.
 */
void
CourierGroupAfterExtend(text *queue_name, const CourierGroupLock *lock,
						TimestampTz new_end, bool release)
{
	if (!lock->holds)
		return;					/* run out or given back: it held nothing */
	if (release)
	{
		if (lock->inflight <= 1)
			SetGroup(queue_name, lock->group_id, new_end, 0);
		else
			SetGroupInflight(queue_name, lock->group_id, lock->inflight - 1);
	}
	else
		SetGroupVisibility(queue_name, lock->group_id, new_end, lock->inflight <= 1);
}

/* delete() with a FIFO receipt; the caller is connected to SPI. */
bool
CourierDeleteFifo(text *queue_name, const CourierReceipt *receipt)
{
	static Oid	argtypes[4] = {TEXTOID, INT8OID, INT4OID, INT8OID};
	Datum		values[4];
	CourierGroupLock lock;
	TimestampTz now;
	SPIPlanPtr	plan;

	if (!CourierLockGroupOf(queue_name, receipt, &lock))
		return false;
	values[0] = PointerGetDatum(queue_name);
	values[1] = Int64GetDatum(receipt->msg_id);
	values[2] = Int32GetDatum(receipt->receive_count);
	values[3] = Int64GetDatum(receipt->nonce);
	plan = CourierPlan(&fifo_delete_plan,
					   "DELETE FROM courier.messages AS m WHERE" LEASE_MATCH,
					   4, argtypes);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "courier.delete: delete failed");
	if (SPI_processed == 0)
		return false;

	/* The group's last in-flight message is done: the group is ready now. */
	now = CourierNow();
	if (lock.holds)
	{
		if (lock.inflight <= 1)
			SetGroup(queue_name, lock.group_id, now, 0);
		else
			SetGroupInflight(queue_name, lock.group_id, lock.inflight - 1);
	}
	return true;
}
