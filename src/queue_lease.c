/*-------------------------------------------------------------------------
 *
 * queue_lease.c
 *	  The receive side: receive() with long polling, delete(),
 *	  delete_batch(), change_visibility() and release().
 *
 * receive() leases messages: on a standard queue it picks visible messages
 * in (visible_at, msg_id) order with FOR UPDATE SKIP LOCKED, so concurrent
 * consumers never wait on each other and never get the same message, and
 * moves each picked message's visible_at to the end of its lease.  A message
 * already delivered max_receive_count times is moved to the dead-letter queue
 * instead, in the same statement, and is not returned.  FIFO queues lease
 * group by group (queue_fifo.c).
 *
 * A lease is named by (msg_id, receive_count, receipt_nonce); the receipt
 * carries all three.  Every later call that acts on a lease matches all three
 * in its WHERE clause, so once a message has been received again an older
 * receipt matches no row: it does nothing and the call returns false.  A
 * lease whose time has run out but that nobody took over is still the current
 * lease, and its receipt still works (as with SQS standard queues).
 *
 * receive(wait => t) long-polls: when nothing is there it sleeps until a
 * sender to the queue commits (wait.c), a delayed message or expired lease is
 * due, or t has passed, and then looks again with a fresh snapshot.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "clock.h"
#include "compat.h"
#include "context.h"
#include "grants.h"
#include "pg_courier.h"
#include "plan.h"
#include "queue.h"
#include "queue_defer.h"
#include "queue_head.h"
#include "receipt.h"
#include "stats.h"
#include "wait.h"

PG_FUNCTION_INFO_V1(courier_receive);
PG_FUNCTION_INFO_V1(courier_delete);
PG_FUNCTION_INFO_V1(courier_delete_batch);
PG_FUNCTION_INFO_V1(courier_change_visibility);
PG_FUNCTION_INFO_V1(courier_release);

#define COURIER_MAX_RECEIVE 1000
#define COURIER_MAX_NAP_MS 1000		/* a sleeping receive looks again at least this often */
#define COURIER_FIRST_POLL_MS 10	/* polling without shared memory starts here */
#define COURIER_MAX_POLL_MS 250	/* ... and backs off to this */

int			courier_max_wait = 20000;	/* ms */

static SPIPlanPtr lease_plan = NULL;
static SPIPlanPtr lease_dlq_plan = NULL;
static SPIPlanPtr tenant_lease_plan = NULL;
static SPIPlanPtr tenant_lease_dlq_plan = NULL;
static SPIPlanPtr tenant_of_plan = NULL;
static SPIPlanPtr defer_plan = NULL;
static SPIPlanPtr defer_dlq_plan = NULL;
static SPIPlanPtr delete_waiting_plan = NULL;
static SPIPlanPtr delete_waiting_batch_plan = NULL;
static SPIPlanPtr next_due_plan = NULL;
static SPIPlanPtr next_due_fifo_plan = NULL;
static SPIPlanPtr delete_plan = NULL;
static SPIPlanPtr delete_batch_plan = NULL;
static SPIPlanPtr extend_plan = NULL;
static SPIPlanPtr extend_fifo_plan = NULL;
static SPIPlanPtr probe_plan = NULL;
static SPIPlanPtr probe_fifo_plan = NULL;

/* The WHERE clause that names one lease of a standard queue; $1 is the queue. */
#define LEASE_MATCH \
	" m.queue_name OPERATOR(pg_catalog.=) $1" \
	" AND m.msg_id OPERATOR(pg_catalog.=) $2" \
	" AND m.receive_count OPERATOR(pg_catalog.=) $3" \
	" AND m.receipt_nonce OPERATOR(pg_catalog.=) $4"

/* The columns of courier.received, then how many messages went to the DLQ. */
#define RECEIVED_COLUMNS(suffix) \
	" SELECT l.msg_id," \
	"        l.msg_id::pg_catalog.text OPERATOR(pg_catalog.||) ':'" \
	"          OPERATOR(pg_catalog.||) l.receive_count::pg_catalog.text" \
	"          OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) $7," \
	"        l.payload, l.headers, l.type, l.schema_version," \
	"        l.correlation_id, l.causation_id, l.idempotency_key," \
	"        l.tenant_id, l.occurred_at, l.receive_count, l.sent_at," \
	"        l.first_received_at, l.visible_at, l.group_id, l.dedup_id," suffix

/*
 * Which messages a receive takes: visible, not expired, from the scan hint
 * on ($10, $11), oldest first, skipping those another transaction holds.
 */
#define PICK_WHERE(columns, extra) \
	"WITH picked AS (" \
	"    SELECT " columns " FROM courier.messages AS m" \
	"     WHERE m.queue_name OPERATOR(pg_catalog.=) $1" \
	"       AND m.visible_at OPERATOR(pg_catalog.<=) $2" \
	"       AND m.sent_at OPERATOR(pg_catalog.>) $3" \
	"       AND (m.visible_at, m.msg_id) OPERATOR(pg_catalog.>=) ($10, $11)" extra \
	"     ORDER BY m.visible_at, m.msg_id" \
	"     LIMIT $4" \
	"       FOR UPDATE SKIP LOCKED" \
	")"
#define PICK(columns) PICK_WHERE(columns, "")

/*
 * A tenant-bound receive (grants.c) takes only one tenant's messages ($12),
 * through messages_tenant_idx, in the same order.
 */
#define BY_TENANT "       AND m.tenant_id OPERATOR(pg_catalog.=) $12"

#define PICK_AND_LEASE_WHERE(extra) \
	PICK_WHERE("m.msg_id, m.receive_count", extra) \
	", leased AS (" \
	"    UPDATE courier.messages AS m" \
	"       SET visible_at = $5," \
	"           receive_count = m.receive_count OPERATOR(pg_catalog.+) 1," \
	"           first_received_at = COALESCE(m.first_received_at, $2)," \
	"           last_received_at = $2," \
	"           receipt_nonce = $6," \
	"           returned_at = NULL" \
	"     WHERE m.queue_name OPERATOR(pg_catalog.=) $1" \
	"       AND m.msg_id OPERATOR(pg_catalog.=) ANY (ARRAY(" \
	"           SELECT p.msg_id FROM picked AS p"

/*
 * The dead-letter move of both lease statements: the picked messages already
 * delivered max_receive_count ($8) times leave the queue ($1) for its
 * dead-letter queue ($9) with their evidence, at $2; "moved" counts them.
 */
#define DEAD_LETTER_MOVE \
	"), doomed AS (" \
	"    DELETE FROM courier.messages AS m" \
	"     WHERE m.queue_name OPERATOR(pg_catalog.=) $1" \
	"       AND m.msg_id OPERATOR(pg_catalog.=) ANY (ARRAY(" \
	"           SELECT p.msg_id FROM picked AS p" \
	"            WHERE p.receive_count OPERATOR(pg_catalog.>=) $8))" \
	/* dropped meanwhile: leave the message where it is */ \
	"       AND EXISTS (SELECT 1 FROM courier.queues AS dq" \
	"                    WHERE dq.queue_name OPERATOR(pg_catalog.=) $9)" \
	"    RETURNING m.*" \
	"), moved AS (" \
	"    INSERT INTO courier.messages" \
	"      (msg_id, visible_at, sent_at, occurred_at, schema_version," \
	"       queue_name, type, correlation_id, causation_id, idempotency_key," \
	"       tenant_id, last_error, headers, payload, source_queue," \
	"       origin_msg_id, source_sent_at, source_receive_count," \
	"       source_first_received_at, source_last_received_at," \
	"       dead_lettered_at)" \
	"    SELECT d.msg_id, $2, d.sent_at, d.occurred_at, d.schema_version," \
	"           $9, d.type, d.correlation_id, d.causation_id," \
	"           d.idempotency_key, d.tenant_id, d.last_error, d.headers," \
	"           d.payload, $1, d.origin_msg_id, d.sent_at," \
	"           d.receive_count, d.first_received_at," \
	"           d.last_received_at, $2" \
	"      FROM doomed AS d" \
	"    RETURNING 1" \
	")"

/*
 * The eager lease statements (pick is a condition PICK adds): the leased
 * messages, and with a redrive policy also the count of those moved to the
 * dead-letter queue instead.
 */
#define LEASE_STATEMENT(pick) \
	PICK_AND_LEASE_WHERE(pick) "))" \
	"    RETURNING m.*" \
	")" \
	RECEIVED_COLUMNS(" 0::pg_catalog.int8") \
	"   FROM leased AS l" \
	"  ORDER BY l.msg_id"
#define LEASE_DLQ_STATEMENT(pick) \
	PICK_AND_LEASE_WHERE(pick) \
	"            WHERE p.receive_count OPERATOR(pg_catalog.<) $8))" \
	"    RETURNING m.*" \
	DEAD_LETTER_MOVE \
	RECEIVED_COLUMNS(" (SELECT pg_catalog.count(*) FROM moved)") \
	"   FROM (SELECT 1) AS one LEFT JOIN leased AS l ON true" \
	"  ORDER BY l.msg_id"

/*
 * The deferred variant (queue_defer.c): the picked messages are only locked,
 * and "leased" shows each as the lease would leave it.
 */
#define PICK_FOR_DEFER PICK("m.*")
#define DEFERRED_LEASED(where) \
	"    SELECT p.msg_id, p.receive_count OPERATOR(pg_catalog.+) 1 AS receive_count," \
	"           p.payload, p.headers, p.type, p.schema_version, p.correlation_id," \
	"           p.causation_id, p.idempotency_key, p.tenant_id, p.occurred_at, p.sent_at," \
	"           COALESCE(p.first_received_at, $2) AS first_received_at," \
	"           $5::pg_catalog.timestamptz AS visible_at, p.group_id, p.dedup_id" \
	"      FROM picked AS p" where

/*
 * Copy the rows of the last lease statement into the result, skipping the
 * all-null row the dead-letter variant returns when it leased nothing; the
 * statement's last column (messages moved to the DLQ) goes to *moved.
 */
int
CourierPutLeased(CourierLeaseRequest *req, int64 *moved)
{
	uint64		row;
	int			n = 0;

	if (moved)
		*moved = 0;
	for (row = 0; row < SPI_processed; row++)
	{
		Datum		values[COURIER_RECEIVED_NATTS + 1];
		bool		nulls[COURIER_RECEIVED_NATTS + 1];

		CHECK_FOR_INTERRUPTS();
		heap_deform_tuple(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, values, nulls);
		if (moved && !nulls[COURIER_RECEIVED_NATTS])
			*moved = DatumGetInt64(values[COURIER_RECEIVED_NATTS]);
		if (nulls[0])
			continue;
		tuplestore_putvalues(req->tupstore, req->tupdesc, values, nulls);
		/* column 7 of courier.received: correlation_id */
		CourierContextNoteReceived(DatumGetInt64(values[0]),
								   nulls[6] ? NULL : DatumGetTextPP(values[6]));
		n++;
	}
	SPI_freetuptable(SPI_tuptable);
	return n;
}

/*
 * One lease statement on a standard queue.  The picked ids reach the UPDATE
 * (and DELETE) as an array, so the plan is an index probe per id whatever the
 * generic plan guesses for LIMIT $4 (joining the CTE instead let the planner
 * pick a hash join over the whole table once the queue was large).  With a
 * redrive policy, messages already delivered max_receive_count times are
 * moved to the dead-letter queue in the same statement (keeping the evidence)
 * instead of leased; since that can leave the batch short while more
 * messages wait, the caller repeats while messages were moved.  Inside a
 * transaction block the statement only locks what it leases, and the leases
 * are left to queue_defer.c.
 */
static int
LeaseStandard(CourierLeaseRequest *req, int want, int64 *moved)
{
	static Oid	argtypes[12] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID,
								TIMESTAMPTZOID, INT8OID, TEXTOID, INT4OID, TEXTOID,
								TIMESTAMPTZOID, INT8OID, TEXTOID};
	Datum		values[12];
	const CourierQueue *queue = req->queue;
	bool		by_tenant = req->tenants != NIL;
	/* tenant-bound receives lease at once: their statements are their own */
	bool		deferred = !by_tenant && CourierDeferEnabled(queue);
	SPIPlanPtr	plan;
	TimestampTz head_visible_at;
	int64		head_msg_id;

	/* start past the dead entries at the head of the queue (queue_head.c) */
	(void) CourierHeadGet(req->queue_name, &head_visible_at, &head_msg_id);
	values[9] = TimestampTzGetDatum(head_visible_at);
	values[10] = Int64GetDatum(head_msg_id);
	values[0] = PointerGetDatum(req->queue_name);
	values[1] = TimestampTzGetDatum(req->now);
	values[2] = TimestampTzGetDatum(req->now - queue->retention_usec);
	values[3] = Int64GetDatum((int64) want);
	values[4] = TimestampTzGetDatum(req->now + req->visibility_usec);
	values[5] = Int64GetDatum(req->nonce);
	values[6] = req->nonce_text;
	values[11] = req->tenant;

	if (queue->dead_letter_queue == NULL)
	{
		/* $8 and $9 only serve the dead-letter variant */
		values[7] = Int32GetDatum(0);
		values[8] = PointerGetDatum(req->queue_name);
		if (by_tenant)
			plan = CourierPlan(&tenant_lease_plan,
							   LEASE_STATEMENT(BY_TENANT),
							   12, argtypes);
		else if (deferred)
			plan = CourierPlan(&defer_plan,
							   PICK_FOR_DEFER
							   ", leased AS (" DEFERRED_LEASED("") ")"
							   RECEIVED_COLUMNS(" 0::pg_catalog.int8")
							   "   FROM leased AS l"
							   "  ORDER BY l.msg_id",
							   11, argtypes);
		else
			plan = CourierPlan(&lease_plan,
							   LEASE_STATEMENT(""),
							   11, argtypes);
	}
	else
	{
		/*
		 * A move sends to the dead-letter queue: hold its send lock, as any
		 * sender does, so it cannot be dropped under the move.
		 */
		CourierLockQueue(queue->dead_letter_queue, AccessShareLock);
		values[7] = Int32GetDatum(queue->max_receive_count);
		values[8] = PointerGetDatum(queue->dead_letter_queue);
		if (by_tenant)
			plan = CourierPlan(&tenant_lease_dlq_plan,
							   LEASE_DLQ_STATEMENT(BY_TENANT),
							   12, argtypes);
		else if (deferred)
			plan = CourierPlan(&defer_dlq_plan,
							   PICK_FOR_DEFER
							   ", leased AS ("
							   DEFERRED_LEASED(" WHERE p.receive_count OPERATOR(pg_catalog.<) $8")
							   DEAD_LETTER_MOVE
							   RECEIVED_COLUMNS(" (SELECT pg_catalog.count(*) FROM moved)")
							   "   FROM (SELECT 1) AS one LEFT JOIN leased AS l ON true"
							   "  ORDER BY l.msg_id",
							   11, argtypes);
		else
			plan = CourierPlan(&lease_dlq_plan,
							   LEASE_DLQ_STATEMENT(""),
							   11, argtypes);
	}
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "courier.receive: lease statement failed");
	if (deferred)
		CourierDeferRecord(req->queue_name, req->now, req->now + req->visibility_usec,
						   req->nonce, SPI_tuptable, SPI_processed);
	return CourierPutLeased(req, moved);
}

/* Lease up to req->max_messages, having taken already; returns how many. */
static int
LeaseStandardAll(CourierLeaseRequest *req, int taken)
{
	while (taken < req->max_messages)
	{
		int64		moved;

		CHECK_FOR_INTERRUPTS();
		taken += LeaseStandard(req, req->max_messages - taken, &moved);
		if (moved == 0)
			break;
		CourierCountQueue(req->queue_name, COURIER_QUEUE_DEAD_LETTERED, moved);
		CourierWaitNoteSend(req->queue->dead_letter_queue);
		/* the next round must not find the messages this one locked */
		CourierDeferFlush(req->queue_name);
	}
	return taken;
}

/*
 * Lease up to req->max_messages; returns how many were leased.  A
 * tenant-bound receive takes its tenants' messages one tenant after the
 * other (a standard queue promises no order across them).
 */
static int
LeaseOnce(CourierLeaseRequest *req)
{
	int			taken = 0;
	ListCell   *lc;

	if (req->queue->fifo)
		return CourierReceiveFifo(req);
	if (req->tenants == NIL)
		return LeaseStandardAll(req, 0);
	foreach(lc, req->tenants)
	{
		CHECK_FOR_INTERRUPTS();
		req->tenant = CStringGetTextDatum((char *) lfirst(lc));
		taken = LeaseStandardAll(req, taken);
		if (taken >= req->max_messages)
			break;
	}
	return taken;
}

/*
 * When something in the queue becomes receivable without a new send: the
 * earliest future visible_at (a delayed message, an expiring lease), or for
 * a FIFO queue the earliest group to become ready.  DT_NOEND when nothing is.
 */
static TimestampTz
NextDue(CourierLeaseRequest *req)
{
	Oid			argtypes[2] = {TEXTOID, TIMESTAMPTZOID};
	Datum		values[2];
	SPIPlanPtr	plan;
	bool		isnull;
	Datum		d;

	values[0] = PointerGetDatum(req->queue_name);
	values[1] = TimestampTzGetDatum(req->now);
	if (req->queue->fifo)
		plan = CourierPlan(&next_due_fifo_plan,
						   "SELECT pg_catalog.min(g.visible_at) FROM courier.message_groups AS g"
						   " WHERE g.queue_name OPERATOR(pg_catalog.=) $1"
						   "   AND g.visible_at OPERATOR(pg_catalog.>) $2",
						   2, argtypes);
	else
		plan = CourierPlan(&next_due_plan,
						   "SELECT pg_catalog.min(m.visible_at) FROM courier.messages AS m"
						   " WHERE m.queue_name OPERATOR(pg_catalog.=) $1"
						   "   AND m.visible_at OPERATOR(pg_catalog.>) $2",
						   2, argtypes);
	if (SPI_execute_plan(plan, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "courier.receive: could not find the next due message");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	SPI_freetuptable(SPI_tuptable);
	return isnull ? DT_NOEND : DatumGetTimestampTz(d);
}

/*
 * courier.receive(queue_name text, max_messages int = 1,
 *				   visibility_timeout interval = null, wait interval = '0')
 *	 returns setof courier.received
 */
Datum
courier_receive(PG_FUNCTION_ARGS)
{
	CourierLeaseRequest req;
	CourierQueue queue;
	text	   *queue_name;
	int64		vt_usec = -1;
	int64		wait_usec;
	char		nonce_text[COURIER_NONCE_TEXT_LEN + 1];
	TimestampTz deadline;
	uint32		slot;
	long		poll_ms = COURIER_FIRST_POLL_MS;
	CourierAccess acc;

	CourierArgNotNull(fcinfo, 0, "queue_name");
	CourierArgNotNull(fcinfo, 1, "max_messages");
	queue_name = PG_GETARG_TEXT_PP(0);
	memset(&req, 0, sizeof(req));
	req.queue_name = queue_name;
	req.max_messages = PG_GETARG_INT32(1);
	if (req.max_messages < 1 || req.max_messages > COURIER_MAX_RECEIVE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_messages must be between 1 and %d", COURIER_MAX_RECEIVE),
				 errdetail("The value given was %d.", req.max_messages)));
	if (!PG_ARGISNULL(2))
		vt_usec = CourierDurationArg(PG_GETARG_INTERVAL_P(2), "visibility_timeout",
									 0, COURIER_MAX_VISIBILITY, "0 and 12 hours");
	/* 0.1 declared three arguments (no wait); the same symbol serves both. */
	if (PG_NARGS() > 3)
	{
		CourierArgNotNull(fcinfo, 3, "wait");
		wait_usec = CourierIntervalUsec(PG_GETARG_INTERVAL_P(3), "wait");
	}
	else
		wait_usec = 0;
	if (wait_usec < 0 || wait_usec > (int64) courier_max_wait * 1000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("wait must be between 0 and courier.max_wait (%d ms)", courier_max_wait),
				 errhint("A waiting receive holds a snapshot; a superuser can raise courier.max_wait.")));
	if (wait_usec > 0 && IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("courier.receive() cannot wait in a REPEATABLE READ or SERIALIZABLE transaction"),
				 errdetail("Its snapshot would never show messages committed while it waits."),
				 errhint("Receive with wait in a READ COMMITTED transaction.")));

	req.tupstore = CourierMaterialize(fcinfo, &req.tupdesc);
	deadline = GetCurrentTimestamp() + wait_usec;
	slot = CourierWaitSlot(queue_name);

	CourierAuthorizeText("receive", "queue", queue_name, &acc);
	req.tenants = acc.tenants;
	CourierAccessBegin(&acc);
	SPI_connect();
	CourierLookupQueue(queue_name, &queue, false);
	if (queue.fifo)
		CourierTenantNoFifo(&acc, "receive from", "queue", queue_name);
	req.queue = &queue;
	req.visibility_usec = vt_usec >= 0 ? vt_usec : queue.visibility_usec;
	/* this transaction's own deferred leases are locked by it, not skipped */
	CourierDeferFlush(queue_name);

	for (;;)
	{
		uint64		seen = CourierWaitAvailable() ? CourierWaitGeneration(slot) : 0;
		TimestampTz real_now;
		TimestampTz due;
		long		sleep_ms;

		int			got;

		req.now = CourierWriteBegin();
		req.nonce = CourierNewNonce();
		CourierNonceText(req.nonce, nonce_text);
		req.nonce_text = CStringGetTextDatum(nonce_text);
		got = LeaseOnce(&req);
		CourierCountQueue(queue_name, COURIER_QUEUE_RECEIVED, got);
		CourierWriteEnd();
		if (got > 0 || wait_usec == 0)
			break;

		real_now = GetCurrentTimestamp();
		if (real_now >= deadline)
			break;
		sleep_ms = (long) Min((deadline - real_now + 999) / 1000, COURIER_MAX_NAP_MS);
		due = NextDue(&req);
		if (due != DT_NOEND)
			sleep_ms = Min(sleep_ms, (long) Max((due - req.now + 999) / 1000, 1));

		if (CourierWaitAvailable())
			CourierWaitSleep(slot, seen, sleep_ms);
		else
		{
			/* No shared memory (not preloaded): poll, backing off. */
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 Min(sleep_ms, poll_ms), CourierWaitEventReceive());
			ResetLatch(MyLatch);
			poll_ms = Min(poll_ms * 2, COURIER_MAX_POLL_MS);
		}
		CHECK_FOR_INTERRUPTS();
	}
	SPI_finish();
	CourierAccessEnd(&acc);

	return (Datum) 0;
}

/*
 * Whether a tenant-bound caller may act on a message it names by receipt:
 * the message is one of its tenants' (or does not exist: the call will
 * match nothing).  Another tenant's message is treated as a receipt that
 * names no lease, so the answer says nothing about it.
 */
static bool
TenantOwns(const CourierAccess *acc, text *queue_name, int64 msg_id)
{
	static Oid	argtypes[2] = {TEXTOID, INT8OID};
	Datum		values[2];
	SPIPlanPtr	plan;
	bool		isnull;
	Datum		tenant;

	if (!CourierTenantBound(acc))
		return true;
	values[0] = PointerGetDatum(queue_name);
	values[1] = Int64GetDatum(msg_id);
	plan = CourierPlan(&tenant_of_plan,
					   "SELECT m.tenant_id FROM courier.messages AS m"
					   " WHERE m.queue_name OPERATOR(pg_catalog.=) $1"
					   "   AND m.msg_id OPERATOR(pg_catalog.=) $2",
					   2, argtypes);
	if (SPI_execute_plan(plan, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "courier: message lookup failed");
	if (SPI_processed == 0)
		return true;
	tenant = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return !isnull && CourierTenantAllowed(acc, DatumGetTextPP(tenant));
}

static void
ReceiptArg(FunctionCallInfo fcinfo, int argno, CourierReceipt *receipt)
{
	char	   *str;

	CourierArgNotNull(fcinfo, argno, "receipt");
	str = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	CourierParseReceipt(str, receipt);
	pfree(str);
}

/*
 * Nothing matched: a receipt that names no current lease yields false, but
 * an unknown queue is an error.
 */
static bool
NothingMatched(text *queue_name)
{
	CourierQueue queue;

	CourierLookupQueue(queue_name, &queue, false);
	return false;
}

static bool
DeleteStandard(text *queue_name, const CourierReceipt *receipt)
{
	static Oid	argtypes[4] = {TEXTOID, INT8OID, INT4OID, INT8OID};
	Datum		values[4];
	SPIPlanPtr	plan;

	switch (CourierDeferLookup(queue_name, receipt))
	{
		case COURIER_DEFER_MATCH:
			/* this transaction holds the lock of its deferred lease */
			values[0] = PointerGetDatum(queue_name);
			values[1] = Int64GetDatum(receipt->msg_id);
			plan = CourierPlan(&delete_waiting_plan,
							   "DELETE FROM courier.messages AS m"
							   " WHERE m.queue_name OPERATOR(pg_catalog.=) $1"
							   "   AND m.msg_id OPERATOR(pg_catalog.=) $2"
							   "   AND m.group_id IS NULL",
							   2, argtypes);
			if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_DELETE)
				elog(ERROR, "courier.delete: delete failed");
			if (SPI_processed != 1)
				return false;
			CourierDeferDone(receipt->msg_id);
			return true;
		case COURIER_DEFER_STALE:
			return false;
		case COURIER_DEFER_NONE:
			break;
	}

	values[0] = PointerGetDatum(queue_name);
	values[1] = Int64GetDatum(receipt->msg_id);
	values[2] = Int32GetDatum(receipt->receive_count);
	values[3] = Int64GetDatum(receipt->nonce);
	plan = CourierPlan(&delete_plan,
					   "DELETE FROM courier.messages AS m WHERE" LEASE_MATCH
					   " AND m.group_id IS NULL",
					   4, argtypes);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "courier.delete: delete failed");
	return SPI_processed == 1;
}

/* courier.delete(queue_name text, receipt text) returns boolean */
Datum
courier_delete(PG_FUNCTION_ARGS)
{
	text	   *queue_name;
	CourierReceipt receipt;
	bool		deleted;
	CourierAccess acc;

	CourierArgNotNull(fcinfo, 0, "queue_name");
	queue_name = PG_GETARG_TEXT_PP(0);
	ReceiptArg(fcinfo, 1, &receipt);
	CourierAuthorizeText("receive", "queue", queue_name, &acc);

	CourierAccessBegin(&acc);
	SPI_connect();
	if (!TenantOwns(&acc, queue_name, receipt.msg_id))
		deleted = false;
	else if (receipt.fifo)
	{
		/* the next message of the group may now be delivered */
		deleted = CourierDeleteFifo(queue_name, &receipt);
		if (deleted)
			CourierWaitNoteSend(queue_name);
	}
	else
		deleted = DeleteStandard(queue_name, &receipt);
	CourierCountQueue(queue_name, COURIER_QUEUE_DELETED, deleted ? 1 : 0);
	if (!deleted)
		deleted = NothingMatched(queue_name);
	SPI_finish();
	CourierAccessEnd(&acc);

	PG_RETURN_BOOL(deleted);
}

/*
 * courier.delete_batch(queue_name text, receipts text[]) returns integer
 *
 * Standard receipts go in one statement; FIFO receipts one by one, each
 * taking its group's lock.
 */
Datum
courier_delete_batch(PG_FUNCTION_ARGS)
{
	static Oid	argtypes[4] = {TEXTOID, INT8ARRAYOID, INT4ARRAYOID, INT8ARRAYOID};
	Datum		values[4];
	text	   *queue_name;
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *elem_nulls;
	int			n;
	int			i;
	CourierReceipt *receipts;
	Datum	   *ids;
	Datum	   *counts;
	Datum	   *nonces;
	int			nstandard = 0;
	Datum	   *waiting;
	int			nwaiting = 0;
	int			dims[1];
	int			lbs[1] = {1};
	SPIPlanPtr	plan;
	int32		ndeleted = 0;
	CourierAccess acc;

	CourierArgNotNull(fcinfo, 0, "queue_name");
	CourierArgNotNull(fcinfo, 1, "receipts");
	queue_name = PG_GETARG_TEXT_PP(0);
	arr = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("receipts must be a one-dimensional array")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &elem_nulls, &n);

	receipts = palloc((n + 1) * sizeof(CourierReceipt));
	waiting = palloc((n + 1) * sizeof(Datum));
	ids = palloc((n + 1) * sizeof(Datum));
	counts = palloc((n + 1) * sizeof(Datum));
	nonces = palloc((n + 1) * sizeof(Datum));
	CourierAuthorizeText("receive", "queue", queue_name, &acc);
	CourierAccessBegin(&acc);
	SPI_connect();
	for (i = 0; i < n; i++)
	{
		char	   *str;
		CourierDeferMatch match;

		CHECK_FOR_INTERRUPTS();
		if (elem_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("receipts must not contain nulls"),
					 errdetail("Element %d is null.", i + 1)));
		str = TextDatumGetCString(elems[i]);
		CourierParseReceipt(str, &receipts[i]);
		pfree(str);
		if (!TenantOwns(&acc, queue_name, receipts[i].msg_id))
		{
			/* as a receipt naming no lease: left out of every delete below */
			receipts[i].fifo = false;
			continue;
		}
		match = CourierDeferLookup(queue_name, &receipts[i]);
		if (match == COURIER_DEFER_MATCH)
		{
			/* a deferred lease of this transaction: deleted by id below */
			waiting[nwaiting++] = Int64GetDatum(receipts[i].msg_id);
		}
		else if (match == COURIER_DEFER_NONE && !receipts[i].fifo)
		{
			ids[nstandard] = Int64GetDatum(receipts[i].msg_id);
			counts[nstandard] = Int32GetDatum(receipts[i].receive_count);
			nonces[nstandard] = Int64GetDatum(receipts[i].nonce);
			nstandard++;
		}
	}

	if (nstandard > 0)
	{
		dims[0] = nstandard;
		values[0] = PointerGetDatum(queue_name);
		values[1] = PointerGetDatum(construct_md_array(ids, NULL, 1, dims, lbs, INT8OID,
													   8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		values[2] = PointerGetDatum(construct_md_array(counts, NULL, 1, dims, lbs, INT4OID,
													   4, true, TYPALIGN_INT));
		values[3] = PointerGetDatum(construct_md_array(nonces, NULL, 1, dims, lbs, INT8OID,
													   8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		plan = CourierPlan(&delete_batch_plan,
						   "DELETE FROM courier.messages AS m"
						   " USING ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3),"
						   "                  pg_catalog.unnest($4)) AS r(msg_id, receive_count, nonce)"
						   " WHERE m.queue_name OPERATOR(pg_catalog.=) $1"
						   "   AND m.msg_id OPERATOR(pg_catalog.=) r.msg_id"
						   "   AND m.receive_count OPERATOR(pg_catalog.=) r.receive_count"
						   "   AND m.receipt_nonce OPERATOR(pg_catalog.=) r.nonce"
						   "   AND m.group_id IS NULL",
						   4, argtypes);
		if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "courier.delete_batch: delete failed");
		ndeleted = (int32) SPI_processed;
	}
	if (nwaiting > 0)
	{
		uint64		row;

		dims[0] = nwaiting;
		values[0] = PointerGetDatum(queue_name);
		values[1] = PointerGetDatum(construct_md_array(waiting, NULL, 1, dims, lbs, INT8OID,
													   8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		plan = CourierPlan(&delete_waiting_batch_plan,
						   "DELETE FROM courier.messages AS m"
						   " WHERE m.queue_name OPERATOR(pg_catalog.=) $1"
						   "   AND m.msg_id OPERATOR(pg_catalog.=) ANY ($2)"
						   "   AND m.group_id IS NULL"
						   " RETURNING m.msg_id",
						   2, argtypes);
		if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_DELETE_RETURNING)
			elog(ERROR, "courier.delete_batch: delete failed");
		for (row = 0; row < SPI_processed; row++)
		{
			bool		isnull;

			CourierDeferDone(DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[row],
														 SPI_tuptable->tupdesc, 1, &isnull)));
		}
		ndeleted += (int32) SPI_processed;
	}
	for (i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (receipts[i].fifo && CourierDeleteFifo(queue_name, &receipts[i]))
		{
			ndeleted++;
			CourierWaitNoteSend(queue_name);
		}
	}
	CourierCountQueue(queue_name, COURIER_QUEUE_DELETED, ndeleted);
	if (ndeleted == 0)
		(void) NothingMatched(queue_name);
	SPI_finish();
	CourierAccessEnd(&acc);

	PG_RETURN_INT32(ndeleted);
}

static bool ExtendLeaseAs(const CourierAccess *acc, text *queue_name,
						  const CourierReceipt *receipt, int64 usec, text *error,
						  bool release);

/* ExtendLeaseAs() as the caller's grants allow (grants.c). */
static bool
ExtendLease(text *queue_name, const CourierReceipt *receipt, int64 usec, text *error,
			bool release)
{
	CourierAccess acc;
	bool		done;

	CourierAuthorizeText("receive", "queue", queue_name, &acc);
	CourierAccessBegin(&acc);
	done = ExtendLeaseAs(&acc, queue_name, receipt, usec, error, release);
	CourierAccessEnd(&acc);
	return done;
}

/*
 * Move the end of a lease to now + usec, keeping it within 12 hours of the
 * receive (the SQS rule: rejected, not clamped; ending a lease now is always
 * allowed).  error, when not NULL, is recorded as the message's last_error.
 * release says the consumer gives the message back: the lease then no longer
 * holds a FIFO group (returned_at), however often the receipt is used again.
 */
static bool
ExtendLeaseAs(const CourierAccess *acc, text *queue_name, const CourierReceipt *receipt,
			  int64 usec, text *error, bool release)
{
	static Oid	argtypes[9] = {TEXTOID, INT8OID, INT4OID, INT8OID,
							   TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID, BOOLOID,
							   TIMESTAMPTZOID};
	Datum		values[9];
	char		nulls[9];
	TimestampTz now;
	TimestampTz new_visible;
	CourierGroupLock group;
	SPIPlanPtr	plan;
	bool		done;

	/* a release makes the message visible again, as a send does */
	now = CourierWriteBegin();
	new_visible = now + usec;
	memset(nulls, ' ', sizeof(nulls));
	values[0] = PointerGetDatum(queue_name);
	values[1] = Int64GetDatum(receipt->msg_id);
	values[2] = Int32GetDatum(receipt->receive_count);
	values[3] = Int64GetDatum(receipt->nonce);
	values[4] = TimestampTzGetDatum(new_visible);
	values[5] = TimestampTzGetDatum(usec == 0 ? DT_NOBEGIN : new_visible - COURIER_MAX_VISIBILITY);
	values[6] = PointerGetDatum(error);
	if (error == NULL)
		nulls[6] = 'n';
	values[7] = BoolGetDatum(release);
	values[8] = TimestampTzGetDatum(now);

	SPI_connect();
	if (!TenantOwns(acc, queue_name, receipt->msg_id))
	{
		done = NothingMatched(queue_name);
		CourierWriteEnd();
		SPI_finish();
		return done;
	}
	/* a deferred lease of this transaction is written first, then extended */
	if (CourierDeferLookup(queue_name, receipt) != COURIER_DEFER_NONE)
		CourierDeferFlush(queue_name);
	if (receipt->fifo && !CourierLockGroupOf(queue_name, receipt, &group))
	{
		done = NothingMatched(queue_name);
		CourierWriteEnd();
		SPI_finish();
		return done;
	}

#define EXTEND_SQL \
	"UPDATE courier.messages AS m" \
	"   SET visible_at = $5, last_error = COALESCE($7, m.last_error)," \
	"       returned_at = CASE WHEN $8 THEN $9 ELSE m.returned_at END" \
	" WHERE" LEASE_MATCH \
	"   AND m.last_received_at OPERATOR(pg_catalog.>=) $6"
	if (receipt->fifo)
		plan = CourierPlan(&extend_fifo_plan, EXTEND_SQL " AND m.group_id IS NOT NULL",
						   9, argtypes);
	else
		plan = CourierPlan(&extend_plan, EXTEND_SQL " AND m.group_id IS NULL",
						   9, argtypes);
	if (SPI_execute_plan(plan, values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "courier: lease update failed");
	done = (SPI_processed == 1);

	if (done && receipt->fifo)
		CourierGroupAfterExtend(queue_name, &group, new_visible, release);
	if (done)
	{
		/*
		 * The message (and on FIFO perhaps its group) becomes receivable at
		 * new_visible: wake waiters at commit so they can look, or plan
		 * their next look for then.
		 */
		CourierWaitNoteSend(queue_name);
	}
	else if (!done)
	{
		/*
		 * Over the 12-hour cap, or no such lease?  Not read_only: the probe
		 * needs a snapshot taken now.  The UPDATE may have waited for a
		 * concurrent re-lease or delete; the statement's own snapshot would
		 * still show the old lease.
		 */
#define PROBE_SQL "SELECT m.last_received_at FROM courier.messages AS m WHERE" LEASE_MATCH
		if (receipt->fifo)
			plan = CourierPlan(&probe_fifo_plan, PROBE_SQL " AND m.group_id IS NOT NULL",
							   4, argtypes);
		else
			plan = CourierPlan(&probe_plan, PROBE_SQL " AND m.group_id IS NULL",
							   4, argtypes);
		if (SPI_execute_plan(plan, values, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "courier: lease lookup failed");
		if (SPI_processed == 1)
		{
			bool		isnull;
			TimestampTz received = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
																	 SPI_tuptable->tupdesc,
																	 1, &isnull));

			/* timestamptz_to_str() returns a static buffer: copy each result. */
			char	   *received_str = pstrdup(timestamptz_to_str(received));
			char	   *end_str = pstrdup(timestamptz_to_str(new_visible));

			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a lease cannot end more than 12 hours after its receive"),
					 errdetail("The message was received at %s; the lease would end at %s.",
							   received_str, end_str),
					 errhint("Release it with no delay, or receive it again to start a new lease.")));
		}
		done = NothingMatched(queue_name);
	}
	CourierWriteEnd();
	SPI_finish();
	return done;
}

/*
 * courier.change_visibility(queue_name text, receipt text,
 *							 visibility_timeout interval) returns boolean
 */
Datum
courier_change_visibility(PG_FUNCTION_ARGS)
{
	CourierReceipt receipt;
	int64		usec;

	CourierArgNotNull(fcinfo, 0, "queue_name");
	ReceiptArg(fcinfo, 1, &receipt);
	CourierArgNotNull(fcinfo, 2, "visibility_timeout");
	usec = CourierDurationArg(PG_GETARG_INTERVAL_P(2), "visibility_timeout",
							  0, COURIER_MAX_VISIBILITY, "0 and 12 hours");

	PG_RETURN_BOOL(ExtendLease(PG_GETARG_TEXT_PP(0), &receipt, usec, NULL, usec == 0));
}

/*
 * courier.release(queue_name text, receipt text, error text = null,
 *				   delay interval = '0') returns boolean
 */
Datum
courier_release(PG_FUNCTION_ARGS)
{
	CourierReceipt receipt;
	int64		usec;

	CourierArgNotNull(fcinfo, 0, "queue_name");
	ReceiptArg(fcinfo, 1, &receipt);
	CourierArgNotNull(fcinfo, 3, "delay");
	usec = CourierDurationArg(PG_GETARG_INTERVAL_P(3), "delay",
							  0, COURIER_MAX_VISIBILITY, "0 and 12 hours");

	PG_RETURN_BOOL(ExtendLease(PG_GETARG_TEXT_PP(0), &receipt, usec,
							   PG_ARGISNULL(2) ? NULL : PG_GETARG_TEXT_PP(2), true));
}
