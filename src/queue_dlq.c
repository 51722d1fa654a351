/*-------------------------------------------------------------------------
 *
 * queue_dlq.c
 *	  Dead-letter queues: moving poison messages of FIFO queues, and redrive.
 *
 * A message received max_receive_count times is moved, on the next receive
 * that reaches it, to its queue's dead-letter queue (an ordinary queue),
 * keeping its id, payload and envelope, and the evidence of what happened:
 * the queue it died in, when it was sent, how often and when it was
 * received, and the last error a consumer gave release().  For standard
 * queues the move is part of the lease statement (queue_lease.c); FIFO moves
 * are here.  As in SQS, a standard dead letter keeps its send time (retention
 * counts from the original send) and a FIFO dead letter's send time restarts.
 *
 * redrive() moves dead letters back (only messages that died elsewhere, not
 * messages sent to the dead-letter queue directly), oldest first, as new messages (new id,
 * receive count reset, the dead letter's id kept in origin_msg_id), to the
 * queue each came from or to a destination.  Each message leaves the
 * dead-letter queue and enters the destination in the same transaction, and
 * messages are picked with SKIP LOCKED, so two overlapping redrives (two
 * pg_cron runs) never move the same message.  The audit trail records the
 * ids of the dead letters moved (the first thousand of each call).
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
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "clock.h"
#include "envelope.h"
#include "pg_courier.h"
#include "plan.h"
#include "queue.h"
#include "queue_defer.h"
#include "queue_head.h"
#include "stats.h"
#include "wait.h"

PG_FUNCTION_INFO_V1(courier_redrive);

#define REDRIVE_BATCH 1000
#define COURIER_MAX_REDRIVE 1000000

static SPIPlanPtr fifo_move_plan = NULL;
static SPIPlanPtr redrive_take_plan = NULL;
static SPIPlanPtr redrive_next_plan = NULL;
static SPIPlanPtr redrive_lock_plan = NULL;
static SPIPlanPtr redrive_take_one_plan = NULL;
static SPIPlanPtr audit_plan = NULL;

/*
 * The dead letters of queue $1 a redrive may take at time $2: not leased, and
 * with somewhere to go (destination $3, or a source queue that still exists).
 */
#define REDRIVABLE \
	" c.queue_name OPERATOR(pg_catalog.=) $1" \
	" AND c.dead_lettered_at IS NOT NULL" \
	" AND c.visible_at OPERATOR(pg_catalog.<=) $2" \
	" AND ($3 IS NOT NULL OR EXISTS (" \
	"     SELECT 1 FROM courier.queues AS q" \
	"      WHERE q.queue_name OPERATOR(pg_catalog.=) c.source_queue))"

/* Columns every dead letter is read with, for re-sending. */
#define DEAD_LETTER_COLUMNS \
	" m.msg_id, m.source_queue, m.type, m.schema_version, m.correlation_id," \
	" m.causation_id, m.idempotency_key, m.tenant_id, m.occurred_at, m.headers," \
	" m.payload, m.group_id"

/*
 * Move messages `ids` (all of group group_id, whose lock the caller holds) of
 * a FIFO queue to its dead-letter queue; returns how many moved (none if the
 * dead-letter queue was dropped meanwhile).  The dead-letter group is joined
 * first: group locks are always taken before message rows.
 */
uint64
CourierMoveToDeadLetterFifo(text *queue_name, const CourierQueue *queue,
							text *group_id, Datum ids, TimestampTz now)
{
	uint64		moved;

	Oid			argtypes[4] = {TEXTOID, INT8ARRAYOID, TIMESTAMPTZOID, TEXTOID};
	Datum		values[4];
	SPIPlanPtr	plan;

	/* a move sends to the dead-letter queue: hold its send lock, as senders do */
	CourierLockQueue(queue->dead_letter_queue, AccessShareLock);
	CourierJoinGroup(queue->dead_letter_queue, group_id, now);

	values[0] = PointerGetDatum(queue_name);
	values[1] = ids;
	values[2] = TimestampTzGetDatum(now);
	values[3] = PointerGetDatum(queue->dead_letter_queue);
	plan = CourierPlan(&fifo_move_plan,
					   "WITH doomed AS ("
					   "    DELETE FROM courier.messages AS m"
					   "     WHERE m.queue_name OPERATOR(pg_catalog.=) $1"
					   "       AND m.msg_id OPERATOR(pg_catalog.=) ANY ($2)"
					   /* dropped meanwhile: leave the messages where they are */
					   "       AND EXISTS (SELECT 1 FROM courier.queues AS dq"
					   "                    WHERE dq.queue_name OPERATOR(pg_catalog.=) $4)"
					   "    RETURNING m.*"
					   ")"
					   " INSERT INTO courier.messages"
					   "   (msg_id, visible_at, sent_at, occurred_at, schema_version,"
					   "    queue_name, type, correlation_id, causation_id, idempotency_key,"
					   "    tenant_id, last_error, headers, payload, group_id, source_queue,"
					   "    origin_msg_id, source_sent_at, source_receive_count,"
					   "    source_first_received_at, source_last_received_at, dead_lettered_at)"
					   " SELECT d.msg_id, $3, $3, d.occurred_at, d.schema_version,"
					   "        $4, d.type, d.correlation_id, d.causation_id, d.idempotency_key,"
					   "        d.tenant_id, d.last_error, d.headers, d.payload, d.group_id, $1,"
					   "        d.origin_msg_id, d.sent_at, d.receive_count,"
					   "        d.first_received_at, d.last_received_at, $3"
					   "   FROM doomed AS d",
					   4, argtypes);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "courier: dead-letter move failed");
	moved = SPI_processed;
	CourierCountQueue(queue_name, COURIER_QUEUE_DEAD_LETTERED, moved);
	CourierWaitNoteSend(queue->dead_letter_queue);
	return moved;
}

/* A dead letter read back for re-sending, copied out of SPI memory. */
typedef struct DeadLetter
{
	int64		msg_id;
	text	   *source_queue;
	text	   *group_id;
	CourierNewMessage msg;
} DeadLetter;

static int
CompareDeadLetters(const void *a, const void *b)
{
	int64		x = ((const DeadLetter *) a)->msg_id;
	int64		y = ((const DeadLetter *) b)->msg_id;

	return (x > y) - (x < y);
}

static text *
TextColumn(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? NULL : DatumGetTextPCopy(d);
}

static void
ReadDeadLetter(HeapTuple tup, TupleDesc desc, DeadLetter *dl)
{
	bool		isnull;
	Datum		d;

	memset(dl, 0, sizeof(*dl));
	dl->msg_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	dl->source_queue = TextColumn(tup, desc, 2);
	dl->msg.env.text_fields[ENV_TYPE] = TextColumn(tup, desc, 3);
	d = SPI_getbinval(tup, desc, 4, &isnull);
	dl->msg.env.has_schema_version = !isnull;
	if (!isnull)
		dl->msg.env.schema_version = DatumGetInt32(d);
	dl->msg.env.text_fields[ENV_CORRELATION_ID] = TextColumn(tup, desc, 5);
	dl->msg.env.text_fields[ENV_CAUSATION_ID] = TextColumn(tup, desc, 6);
	dl->msg.env.text_fields[ENV_IDEMPOTENCY_KEY] = TextColumn(tup, desc, 7);
	dl->msg.env.text_fields[ENV_TENANT_ID] = TextColumn(tup, desc, 8);
	d = SPI_getbinval(tup, desc, 9, &isnull);
	dl->msg.env.has_occurred_at = !isnull;
	if (!isnull)
		dl->msg.env.occurred_at = DatumGetTimestampTz(d);
	d = SPI_getbinval(tup, desc, 10, &isnull);
	dl->msg.env.headers = isnull ? NULL : DatumGetJsonbPCopy(d);
	dl->msg.payload = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 11, &isnull));
	dl->group_id = TextColumn(tup, desc, 12);
	dl->msg.group_id = dl->group_id;
	dl->msg.delay_usec = -1;
	dl->msg.origin_msg_id = dl->msg_id;
}

/* The queue a dead letter goes back to, looked up (and send-locked) once per name. */
typedef struct Destination
{
	text	   *name;
	CourierQueue queue;
} Destination;

static Destination *
FindDestination(Destination **cache, int *ncache, text *name, bool fifo)
{
	Destination *d;
	int			i;

	for (i = 0; i < *ncache; i++)
		if (VARSIZE_ANY_EXHDR((*cache)[i].name) == VARSIZE_ANY_EXHDR(name) &&
			memcmp(VARDATA_ANY((*cache)[i].name), VARDATA_ANY(name),
				   VARSIZE_ANY_EXHDR(name)) == 0)
			return &(*cache)[i];

	if (*ncache % 8 == 0)
		*cache = *ncache == 0 ? palloc(sizeof(Destination) * 8)
			: repalloc(*cache, sizeof(Destination) * (*ncache + 8));
	d = &(*cache)[(*ncache)++];
	d->name = name;
	CourierLockQueue(name, AccessShareLock);
	CourierLookupQueue(name, &d->queue, IsolationUsesXactSnapshot());
	if (d->queue.fifo != fifo)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot redrive %s dead letters to %s queue \"%s\"",
						fifo ? "FIFO" : "standard", d->queue.fifo ? "FIFO" : "standard",
						text_to_cstring(name)),
				 errhint("A FIFO dead-letter queue redrives to FIFO queues, a standard one to standard queues.")));
	return d;
}

/* Redrive from a standard dead-letter queue, in batches. */
/*
 * Remember a moved dead letter's id for the audit trail (the first
 * AUDIT_MAX_IDS of them; the count is always complete).
 */
#define AUDIT_MAX_IDS 1000

static void
NoteMoved(ArrayBuildState **ids, int64 moved, int64 msg_id)
{
	if (moved < AUDIT_MAX_IDS)
		*ids = accumArrayResult(*ids, Int64GetDatum(msg_id), false, INT8OID,
								CurrentMemoryContext);
}

static int64
RedriveStandard(text *dlq, text *destination, int64 limit, TimestampTz now,
				ArrayBuildState **ids)
{
	Oid			argtypes[4] = {TEXTOID, TIMESTAMPTZOID, TEXTOID, INT8OID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	Destination *cache = NULL;
	int			ncache = 0;
	int64		moved = 0;

	values[0] = PointerGetDatum(dlq);
	values[1] = TimestampTzGetDatum(now);
	values[2] = PointerGetDatum(destination);
	if (destination == NULL)
		nulls[2] = 'n';

	while (limit < 0 || moved < limit)
	{
		int64		batch = limit < 0 ? REDRIVE_BATCH : Min(REDRIVE_BATCH, limit - moved);
		uint64		n;
		uint64		i;
		DeadLetter *dls;
		SPIPlanPtr	plan;

		CHECK_FOR_INTERRUPTS();
		values[3] = Int64GetDatum(batch);
		plan = CourierPlan(&redrive_take_plan,
						   /*
							* The pick is a CTE so it runs once: as an IN
							* subquery it may be run again per row and
							* return more than $4 messages in all.
							*/
						   "WITH picked AS ("
						   "    SELECT c.msg_id FROM courier.messages AS c"
						   "     WHERE" REDRIVABLE
						   "     ORDER BY c.msg_id"
						   "     LIMIT $4"
						   "       FOR UPDATE SKIP LOCKED"
						   ")"
						   " DELETE FROM courier.messages AS m"
						   " WHERE m.queue_name OPERATOR(pg_catalog.=) $1"
						   "   AND m.msg_id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT p.msg_id FROM picked AS p))"
						   " RETURNING" DEAD_LETTER_COLUMNS,
						   4, argtypes);
		if (SPI_execute_plan(plan, values, nulls, false, 0) != SPI_OK_DELETE_RETURNING)
			elog(ERROR, "courier.redrive: could not take dead letters");
		n = SPI_processed;
		if (n == 0)
			break;
		dls = palloc(n * sizeof(DeadLetter));
		for (i = 0; i < n; i++)
			ReadDeadLetter(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, &dls[i]);
		SPI_freetuptable(SPI_tuptable);
		/* oldest first: RETURNING order is not promised */
		qsort(dls, n, sizeof(DeadLetter), CompareDeadLetters);

		for (i = 0; i < n; i++)
		{
			Destination *d = FindDestination(&cache, &ncache,
											 destination ? destination : dls[i].source_queue,
											 false);

			CHECK_FOR_INTERRUPTS();
			(void) CourierEnqueue(d->name, &d->queue, &dls[i].msg, now);
			CourierCountQueue(d->name, COURIER_QUEUE_SENT, 1);
			NoteMoved(ids, moved + i, dls[i].msg_id);
		}
		moved += n;
		if ((int64) n < batch)
			break;
	}
	return moved;
}

/*
 * Redrive from a FIFO dead-letter queue, one message at a time, taking locks
 * in the order every FIFO path uses: the destination group (joined first, as
 * a receiver moving messages the other way also does), then the dead-letter
 * group, then the message.
 */
static int64
RedriveFifo(text *dlq, text *destination, int64 limit, TimestampTz now,
			ArrayBuildState **ids)
{
	Oid			next_types[4] = {TEXTOID, TIMESTAMPTZOID, TEXTOID, INT8OID};
	Datum		next_values[4];
	char		next_nulls[4] = {' ', ' ', ' ', ' '};
	Destination *cache = NULL;
	int			ncache = 0;
	int64		moved = 0;
	int64		last = 0;

	next_values[0] = PointerGetDatum(dlq);
	next_values[1] = TimestampTzGetDatum(now);
	next_values[2] = PointerGetDatum(destination);
	if (destination == NULL)
		next_nulls[2] = 'n';

	while (limit < 0 || moved < limit)
	{
		Oid			one_types[3] = {TEXTOID, INT8OID, TIMESTAMPTZOID};
		Datum		one_values[3];
		Oid			lock_types[2] = {TEXTOID, TEXTOID};
		Datum		lock_values[2];
		HeapTuple	tup;
		bool		isnull;
		text	   *group_id;
		text	   *source;
		Destination *d;
		DeadLetter	dl;
		SPIPlanPtr	plan;

		CHECK_FOR_INTERRUPTS();
		next_values[3] = Int64GetDatum(last);
		plan = CourierPlan(&redrive_next_plan,
						   "SELECT c.msg_id, c.group_id, c.source_queue FROM courier.messages AS c"
						   " WHERE" REDRIVABLE
						   "   AND c.msg_id OPERATOR(pg_catalog.>) $4"
						   " ORDER BY c.msg_id"
						   " LIMIT 1",
						   4, next_types);
		if (SPI_execute_plan(plan, next_values, next_nulls, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "courier.redrive: could not find dead letters");
		if (SPI_processed == 0)
			break;
		tup = SPI_tuptable->vals[0];
		last = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		group_id = TextColumn(tup, SPI_tuptable->tupdesc, 2);
		source = TextColumn(tup, SPI_tuptable->tupdesc, 3);
		SPI_freetuptable(SPI_tuptable);

		d = FindDestination(&cache, &ncache, destination ? destination : source, true);
		CourierJoinGroup(d->name, group_id, now + d->queue.delay_usec);

		lock_values[0] = PointerGetDatum(dlq);
		lock_values[1] = PointerGetDatum(group_id);
		plan = CourierPlan(&redrive_lock_plan,
						   "SELECT 1 FROM courier.message_groups AS g"
						   " WHERE g.queue_name OPERATOR(pg_catalog.=) $1"
						   "   AND g.group_id OPERATOR(pg_catalog.=) $2"
						   "   FOR UPDATE SKIP LOCKED",
						   2, lock_types);
		if (SPI_execute_plan(plan, lock_values, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "courier.redrive: could not lock a dead-letter group");
		if (SPI_processed == 0)
			continue;			/* someone else is on this group */

		one_values[0] = PointerGetDatum(dlq);
		one_values[1] = Int64GetDatum(last);
		one_values[2] = TimestampTzGetDatum(now);
		plan = CourierPlan(&redrive_take_one_plan,
						   "DELETE FROM courier.messages AS m"
						   " WHERE m.queue_name OPERATOR(pg_catalog.=) $1"
						   "   AND m.msg_id OPERATOR(pg_catalog.=) $2"
						   "   AND m.visible_at OPERATOR(pg_catalog.<=) $3"
						   " RETURNING" DEAD_LETTER_COLUMNS,
						   3, one_types);
		if (SPI_execute_plan(plan, one_values, NULL, false, 0) != SPI_OK_DELETE_RETURNING)
			elog(ERROR, "courier.redrive: could not take a dead letter");
		if (SPI_processed == 0)
			continue;			/* taken or leased meanwhile */
		ReadDeadLetter(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, &dl);
		SPI_freetuptable(SPI_tuptable);

		(void) CourierInsertMessage(d->name, &dl.msg, now + d->queue.delay_usec, now);
		CourierCountQueue(d->name, COURIER_QUEUE_SENT, 1);
		CourierWaitNoteSend(d->name);
		NoteMoved(ids, moved, dl.msg_id);
		moved++;
	}
	return moved;
}

static void
Audit(text *dlq, text *destination, int64 max_messages, int64 moved, ArrayBuildState *ids)
{
	Oid			argtypes[5] = {TEXTOID, TEXTOID, INT8OID, INT8OID, INT8ARRAYOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	SPIPlanPtr	plan;

	values[0] = PointerGetDatum(dlq);
	values[1] = PointerGetDatum(destination);
	if (destination == NULL)
		nulls[1] = 'n';
	values[2] = Int64GetDatum(max_messages);
	if (max_messages < 0)
		nulls[2] = 'n';
	values[3] = Int64GetDatum(moved);
	values[4] = ids ? makeArrayResult(ids, CurrentMemoryContext)
		: PointerGetDatum(construct_empty_array(INT8OID));
	plan = CourierPlan(&audit_plan,
					   "SELECT courier._audit('redrive', 'queue', $1,"
					   "    pg_catalog.jsonb_build_object('destination', $2::pg_catalog.text,"
					   "        'max_messages', $3::pg_catalog.int8, 'moved', $4::pg_catalog.int8,"
					   "        'msg_ids', pg_catalog.to_jsonb($5::pg_catalog.int8[])))",
					   5, argtypes);
	if (SPI_execute_plan(plan, values, nulls, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "courier.redrive: audit failed");
}

/*
 * courier.redrive(dead_letter_queue text, destination text = null,
 *				   max_messages int = null) returns bigint
 */
Datum
courier_redrive(PG_FUNCTION_ARGS)
{
	text	   *dlq;
	text	   *destination = NULL;
	int64		limit = -1;
	CourierQueue dlq_queue;
	Destination *cache = NULL;
	int			ncache = 0;
	TimestampTz now;
	int64		moved;
	ArrayBuildState *ids = NULL;

	CourierArgNotNull(fcinfo, 0, "dead_letter_queue");
	dlq = PG_GETARG_TEXT_PP(0);
	if (!PG_ARGISNULL(1))
		destination = PG_GETARG_TEXT_PP(1);
	if (!PG_ARGISNULL(2))
	{
		limit = PG_GETARG_INT32(2);
		if (limit < 1 || limit > COURIER_MAX_REDRIVE)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_messages must be between 1 and %d", COURIER_MAX_REDRIVE),
					 errdetail("The value given was %lld.", (long long) limit)));
	}

	SPI_connect();
	CourierLookupQueue(dlq, &dlq_queue, false);
	/* dead letters this transaction has received are leased: write that */
	CourierDeferFlush(dlq);
	if (destination != NULL)
	{
		if (VARSIZE_ANY_EXHDR(destination) == VARSIZE_ANY_EXHDR(dlq) &&
			memcmp(VARDATA_ANY(destination), VARDATA_ANY(dlq), VARSIZE_ANY_EXHDR(dlq)) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cannot redrive queue \"%s\" into itself", text_to_cstring(dlq))));
		(void) FindDestination(&cache, &ncache, destination, dlq_queue.fifo);
	}
	now = CourierWriteBegin();
	if (dlq_queue.fifo)
		moved = RedriveFifo(dlq, destination, limit, now, &ids);
	else
		moved = RedriveStandard(dlq, destination, limit, now, &ids);
	CourierWriteEnd();
	Audit(dlq, destination, limit, moved, ids);
	SPI_finish();

	PG_RETURN_INT64(moved);
}

