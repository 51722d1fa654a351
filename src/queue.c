/*-------------------------------------------------------------------------
 *
 * queue.c
 *	  Queue lookup and the send side: send() and send_batch().
 *
 * A send looks the queue up, checks the message, and inserts one row into
 * courier.messages with visible_at = now + delay.  The row is invisible to
 * every other session until the sender commits, which is what makes sending
 * transactional; at commit, waiting receivers are woken (wait.c).  FIFO
 * queues add deduplication and group ordering (queue_fifo.c).  A queue that
 * requires schemas checks each message sent to it against the registry
 * (schema.c) before anything is written.
 *
 * Dropping a queue must not leave behind messages a concurrent sender wrote
 * after the drop deleted the queue's rows.  Senders therefore hold a shared
 * object lock on the queue (keyed by a hash of its name) until they commit,
 * and drop_queue() takes it exclusively before it deletes anything: a sender
 * either commits before the drop looks for messages, or waits for the drop and
 * then finds no queue.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "clock.h"
#include "context.h"
#include "grants.h"
#include "envelope.h"
#include "pg_courier.h"
#include "plan.h"
#include "queue.h"
#include "queue_head.h"
#include "queue_store.h"
#include "schema.h"
#include "stats.h"
#include "wait.h"

PG_FUNCTION_INFO_V1(courier_lock_queue);
PG_FUNCTION_INFO_V1(courier_send);
PG_FUNCTION_INFO_V1(courier_send_batch);

static SPIPlanPtr lookup_plan = NULL;
static SPIPlanPtr lookup_share_plan = NULL;
static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr insert_batch_plan = NULL;

#define COURIER_MAX_ID_LEN 128

#define LOOKUP_SQL \
	"SELECT q.visibility_timeout, q.delay, q.retention, q.max_message_bytes," \
	"       q.fifo, q.content_based_dedup, q.dedup_window, q.dead_letter_queue," \
	"       q.max_receive_count, q.require_schema" \
	"  FROM courier.queues AS q" \
	" WHERE q.queue_name OPERATOR(pg_catalog.=) $1"

void
CourierNoSuchQueue(text *queue_name)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("queue \"%s\" does not exist", text_to_cstring(queue_name)),
			 errhint("courier.list_queues() shows the queues there are.")));
}

static int64
IntervalColumn(HeapTuple tup, TupleDesc desc, int col, const char *name)
{
	bool		isnull;

	return CourierIntervalUsec(DatumGetIntervalP(SPI_getbinval(tup, desc, col, &isnull)),
							   name);
}

/*
 * Look a queue up; the caller is connected to SPI and uses the result (the
 * dead-letter queue name in particular) before SPI_finish().
 *
 * lock_row takes FOR KEY SHARE on the queue row.  Senders need it only when
 * their snapshot predates the statement (REPEATABLE READ, SERIALIZABLE): a
 * drop that committed after that snapshot then raises a serialization error
 * instead of letting the sender write into a dropped queue.
 */
void
CourierLookupQueue(text *queue_name, CourierQueue *queue, bool lock_row)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	SPIPlanPtr	plan;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		d;

	if (lock_row)
		plan = CourierPlan(&lookup_share_plan, LOOKUP_SQL " FOR KEY SHARE", 1, argtypes);
	else
		plan = CourierPlan(&lookup_plan, LOOKUP_SQL, 1, argtypes);

	values[0] = PointerGetDatum(queue_name);
	if (SPI_execute_plan(plan, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "queue lookup failed");
	if (SPI_processed == 0)
		CourierNoSuchQueue(queue_name);

	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	queue->visibility_usec = IntervalColumn(tup, desc, 1, "visibility_timeout");
	queue->delay_usec = IntervalColumn(tup, desc, 2, "delay");
	queue->retention_usec = IntervalColumn(tup, desc, 3, "retention");
	queue->max_message_bytes = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
	queue->fifo = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
	queue->content_based_dedup = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
	queue->dedup_window_usec = IntervalColumn(tup, desc, 7, "dedup_window");
	d = SPI_getbinval(tup, desc, 8, &isnull);
	queue->dead_letter_queue = isnull ? NULL : DatumGetTextPP(d);
	d = SPI_getbinval(tup, desc, 9, &isnull);
	queue->max_receive_count = isnull ? 0 : DatumGetInt32(d);
	queue->require_schema = DatumGetBool(SPI_getbinval(tup, desc, 10, &isnull));
}

/* The lock that orders senders against drop_queue(); see the file header. */
void
CourierLockQueue(text *queue_name, LOCKMODE mode)
{
	Oid			nsp = get_namespace_oid("courier", false);
	Oid			relid = get_relname_relid("queues", nsp);
	uint32		key;

	if (!OidIsValid(relid))
		elog(ERROR, "table courier.queues is missing");
	key = DatumGetUInt32(hash_any((const unsigned char *) VARDATA_ANY(queue_name),
								  VARSIZE_ANY_EXHDR(queue_name)));
	LockDatabaseObject(relid, (Oid) key, 0, mode);
}

Datum
courier_lock_queue(PG_FUNCTION_ARGS)
{
	CourierLockQueue(PG_GETARG_TEXT_PP(0),
					 PG_GETARG_BOOL(1) ? AccessExclusiveLock : AccessShareLock);
	PG_RETURN_VOID();
}

/*
 * A group id or dedup id: 1 to 128 printable ASCII characters, no spaces
 * (the SQS rule: letters, digits and punctuation).
 */
void
CourierCheckId(const char *what, text *value)
{
	const char *s = VARDATA_ANY(value);
	int			len = VARSIZE_ANY_EXHDR(value);
	int			i;

	if (len < 1 || len > COURIER_MAX_ID_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must have 1 to %d characters", what, COURIER_MAX_ID_LEN),
				 errdetail("The value given has %d bytes.", len)));
	for (i = 0; i < len; i++)
		if ((unsigned char) s[i] < 0x21 || (unsigned char) s[i] > 0x7e)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid %s \"%.*s\"", what, len, s),
					 errdetail("Use letters, digits and ASCII punctuation, without spaces.")));
}

/* Bytes a message counts against max_message_bytes: payload + headers. */
static int64
MessageBytes(Jsonb *payload, Jsonb *headers)
{
	int64		n = VARSIZE_ANY_EXHDR(payload);

	if (headers != NULL)
		n += VARSIZE_ANY_EXHDR(headers);
	return n;
}

static void
CheckMessageBytes(int64 nbytes, const CourierQueue *queue, text *queue_name)
{
	if (nbytes > queue->max_message_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("message is too large for queue \"%s\"", text_to_cstring(queue_name)),
				 errdetail("The message has %lld bytes of payload and headers; the queue accepts at most %d.",
						   (long long) nbytes, queue->max_message_bytes),
				 errhint("Send a reference to large data instead, or raise max_message_bytes with courier.alter_queue().")));
}

/*
 * Check what a message asks for against the kind of queue it goes to.  On a
 * FIFO queue without an explicit dedup id, content-based deduplication
 * supplies one.
 */
static void
CheckForQueue(const CourierQueue *queue, CourierNewMessage *msg, bool explicit_delay)
{
	if (!queue->fifo)
	{
		if (msg->group_id != NULL || msg->dedup_id != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s is only for FIFO queues",
							msg->group_id != NULL ? "group_id" : "dedup_id"),
					 errhint("Create the queue with fifo => true to get ordered, deduplicated delivery.")));
		return;
	}
	if (msg->group_id == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("group_id is required on a FIFO queue"),
				 errhint("Messages of one group are delivered in order; use one group per entity that needs ordering.")));
	if (explicit_delay && msg->delay_usec != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a FIFO queue does not take a per-message delay"),
				 errhint("Set the queue's delay with courier.alter_queue() instead.")));
	if (msg->dedup_id == NULL)
	{
		if (!queue->content_based_dedup)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("dedup_id is required on a FIFO queue without content-based deduplication"),
					 errhint("Pass dedup_id, or alter the queue with content_based_dedup => true.")));
		msg->dedup_id = CourierContentDedupId(msg->payload);
	}
}

/*
 * Insert one message row and return its id.  Used by every path that creates
 * a message (send, FIFO send, redrive).
 */
int64
CourierInsertMessage(text *queue_name, const CourierNewMessage *msg,
					 TimestampTz visible_at, TimestampTz now)
{
	static Oid	argtypes[15] = {TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID,
								TEXTOID, INT4OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
								TIMESTAMPTZOID, JSONBOID, JSONBOID, TEXTOID, TEXTOID,
								INT8OID};
	Datum		values[15];
	char		nulls[15];
	const CourierEnvelope *env = &msg->env;
	SPIPlanPtr	plan;
	bool		isnull;
	int64		msg_id;
	int			i;

	CourierWriteCheck();

	if (CourierStoreMessages(queue_name, msg, 1, visible_at, now, &msg_id))
		return msg_id;

	/* the statement, where the direct path cannot be used (queue_store.c) */
	memset(nulls, ' ', sizeof(nulls));
	values[0] = TimestampTzGetDatum(visible_at);
	values[1] = TimestampTzGetDatum(now);
	values[2] = PointerGetDatum(queue_name);
	for (i = 0; i < ENV_NUM_TEXT; i++)
	{
		/* $4 type, then $6..$9 */
		int			slot = (i == ENV_TYPE) ? 3 : 4 + i;

		values[slot] = PointerGetDatum(env->text_fields[i]);
		if (env->text_fields[i] == NULL)
			nulls[slot] = 'n';
	}
	values[4] = Int32GetDatum(env->schema_version);
	if (!env->has_schema_version)
		nulls[4] = 'n';
	values[9] = TimestampTzGetDatum(env->occurred_at);
	if (!env->has_occurred_at)
		nulls[9] = 'n';
	values[10] = PointerGetDatum(env->headers);
	if (env->headers == NULL)
		nulls[10] = 'n';
	values[11] = PointerGetDatum(msg->payload);
	values[12] = PointerGetDatum(msg->group_id);
	if (msg->group_id == NULL)
		nulls[12] = 'n';
	values[13] = PointerGetDatum(msg->dedup_id);
	if (msg->dedup_id == NULL)
		nulls[13] = 'n';
	values[14] = Int64GetDatum(msg->origin_msg_id);
	if (msg->origin_msg_id == 0)
		nulls[14] = 'n';

	plan = CourierPlan(&insert_plan,
					   "INSERT INTO courier.messages"
					   " (msg_id, visible_at, sent_at, queue_name, type, schema_version,"
					   "  correlation_id, causation_id, idempotency_key, tenant_id, occurred_at,"
					   "  headers, payload, group_id, dedup_id, origin_msg_id)"
					   " VALUES (pg_catalog.nextval('courier.message_id_seq'::pg_catalog.regclass),"
					   "         $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
					   " RETURNING msg_id",
					   15, argtypes);
	if (SPI_execute_plan(plan, values, nulls, false, 0) != SPI_OK_INSERT_RETURNING ||
		SPI_processed != 1)
		elog(ERROR, "courier: message insert failed");
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Put one message into a queue: the standard path inserts a row, the FIFO
 * path deduplicates and orders it within its group.  Returns the message id
 * (for a FIFO duplicate, the id of the message first sent).  The caller
 * holds the queue's send lock and is connected to SPI.
 */
int64
CourierEnqueue(text *queue_name, const CourierQueue *queue, CourierNewMessage *msg,
			   TimestampTz now)
{
	int64		msg_id;

	if (queue->fifo)
		msg_id = CourierEnqueueFifo(queue_name, queue, msg, now);
	else
	{
		int64		delay = msg->delay_usec >= 0 ? msg->delay_usec : queue->delay_usec;

		msg_id = CourierInsertMessage(queue_name, msg, now + delay, now);
	}
	CourierWaitNoteSend(queue_name);
	return msg_id;
}

/* Common start of both send paths: lock and look up the queue. */
static void
BeginSend(text *queue_name, CourierQueue *queue)
{
	CourierLockQueue(queue_name, AccessShareLock);
	CourierLookupQueue(queue_name, queue, IsolationUsesXactSnapshot());
}

/*
 * Send one message the way send() does: lock and look up the queue, check the
 * message against it, enqueue.  nbytes is what the message counts against
 * max_message_bytes; explicit_delay says the caller asked for msg->delay_usec.
 * from_sender: send() itself, where the queue's require_schema applies
 * (deliveries of topics and buses are checked where they entered).  The
 * caller is connected to SPI.
 */
static int64
SendOne(text *queue_name, CourierNewMessage *msg, int64 nbytes, bool explicit_delay,
		TimestampTz now, bool from_sender, const CourierAccess *acc)
{
	CourierQueue queue;

	BeginSend(queue_name, &queue);
	if (acc != NULL && queue.fifo)
		CourierTenantNoFifo(acc, "send to", "queue", queue_name);
	CheckMessageBytes(nbytes, &queue, queue_name);
	CheckForQueue(&queue, msg, explicit_delay);
	if (from_sender && queue.require_schema)
		CourierSchemaCheckMessage("queue", text_to_cstring(queue_name), &msg->env,
								  msg->payload, 0, NULL);
	CourierCountQueue(queue_name, COURIER_QUEUE_SENT, 1);
	return CourierEnqueue(queue_name, &queue, msg, now);
}

/* SendOne for topic fanout (topic.c) and bus targets (bus.c). */
int64
CourierSendMessage(text *queue_name, CourierNewMessage *msg, int64 nbytes,
				   bool explicit_delay, TimestampTz now)
{
	return SendOne(queue_name, msg, nbytes, explicit_delay, now, false, NULL);
}

/* A delay argument in microseconds; -1 when NULL (the queue's delay). */
static int64
DelayArg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		return -1;
	return CourierDurationArg(PG_GETARG_INTERVAL_P(argno), "delay",
							  0, COURIER_MAX_DELAY, "0 and 15 minutes");
}

static text *
OptionalIdArg(FunctionCallInfo fcinfo, int argno, const char *what)
{
	text	   *value;

	if (PG_ARGISNULL(argno))
		return NULL;
	value = PG_GETARG_TEXT_PP(argno);
	CourierCheckId(what, value);
	return value;
}

/*
 * courier.send(queue_name text, payload jsonb, headers jsonb = null,
 *				delay interval = null, group_id text = null,
 *				dedup_id text = null) returns bigint
 */
Datum
courier_send(PG_FUNCTION_ARGS)
{
	text	   *queue_name;
	Jsonb	   *headers = NULL;
	CourierNewMessage msg;
	int64		msg_id;
	CourierAccess acc;

	CourierArgNotNull(fcinfo, 0, "queue_name");
	CourierArgNotNull(fcinfo, 1, "payload");
	queue_name = PG_GETARG_TEXT_PP(0);
	memset(&msg, 0, sizeof(msg));
	msg.payload = PG_GETARG_JSONB_P(1);
	if (!PG_ARGISNULL(2))
		headers = PG_GETARG_JSONB_P(2);
	msg.delay_usec = DelayArg(fcinfo, 3);
	/* 0.1 declared four arguments; the same symbol serves both versions. */
	if (PG_NARGS() > 5)
	{
		msg.group_id = OptionalIdArg(fcinfo, 4, "group_id");
		msg.dedup_id = OptionalIdArg(fcinfo, 5, "dedup_id");
	}
	CourierReadEnvelope(headers, &msg.env);
	CourierContextApply(&msg.env);
	CourierAuthorizeText("send", "queue", queue_name, &acc);
	CourierTenantApply(&acc, &msg.env, "send", "queue", queue_name);

	CourierAccessBegin(&acc);
	SPI_connect();
	msg_id = SendOne(queue_name, &msg, MessageBytes(msg.payload, headers),
					 !PG_ARGISNULL(3), CourierWriteBegin(), true, &acc);
	CourierWriteEnd();
	SPI_finish();
	CourierAccessEnd(&acc);

	PG_RETURN_INT64(msg_id);
}

static int
CompareInt64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/* Deconstruct an optional one-dimensional array argument of n elements. */
static int
ArrayArg(FunctionCallInfo fcinfo, int argno, const char *name, Oid elemtype,
		 Datum **elems, bool **elem_nulls)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(argno);
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			n;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", name)));
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(arr, elemtype, typlen, typbyval, typalign, elems, elem_nulls, &n);
	return n;
}

static void
CheckSameLength(const char *name, int n, int m)
{
	if (n != m)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must have one element per payload", name),
				 errdetail("There are %d payloads and %d %s.", n, m, name),
				 errhint("Use NULL elements for messages without one.")));
}

/*
 * The standard-queue batch: one INSERT for the whole batch, fed by column
 * arrays.  Ids are drawn from the sequence in input order, so their ascending
 * order is the input order.
 */
static void
InsertBatch(text *queue_name, CourierNewMessage *msgs, int n, TimestampTz visible_at,
			TimestampTz now, ArrayType *payloads, Tuplestorestate *tupstore,
			TupleDesc tupdesc)
{
	static Oid	argtypes[12] = {TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID,
								TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
								TEXTARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID,
								JSONBARRAYOID, JSONBARRAYOID};
	Datum		values[12];
	Datum	   *col = palloc(n * sizeof(Datum));
	bool	   *colnull = palloc(n * sizeof(bool));
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int64	   *ids;
	SPIPlanPtr	plan;
	uint64		row;
	int			i;
	int			f;

	CourierWriteCheck();

	ids = palloc(n * sizeof(int64));
	if (CourierStoreMessages(queue_name, msgs, n, visible_at, now, ids))
	{
		for (i = 0; i < n; i++)
		{
			Datum		id = Int64GetDatum(ids[i]);
			bool		null = false;

			tuplestore_putvalues(tupstore, tupdesc, &id, &null);
		}
		return;
	}

	/* the statement, where the direct path cannot be used (queue_store.c) */
	values[0] = TimestampTzGetDatum(visible_at);
	values[1] = TimestampTzGetDatum(now);
	values[2] = PointerGetDatum(queue_name);
	for (f = 0; f < ENV_NUM_TEXT; f++)
	{
		int			slot = (f == ENV_TYPE) ? 3 : 4 + f;

		for (i = 0; i < n; i++)
		{
			col[i] = PointerGetDatum(msgs[i].env.text_fields[f]);
			colnull[i] = (msgs[i].env.text_fields[f] == NULL);
		}
		values[slot] = PointerGetDatum(construct_md_array(col, colnull, 1, dims, lbs, TEXTOID,
														  -1, false, TYPALIGN_INT));
	}
	for (i = 0; i < n; i++)
	{
		col[i] = Int32GetDatum(msgs[i].env.schema_version);
		colnull[i] = !msgs[i].env.has_schema_version;
	}
	values[4] = PointerGetDatum(construct_md_array(col, colnull, 1, dims, lbs,
												   INT4OID, 4, true, TYPALIGN_INT));
	for (i = 0; i < n; i++)
	{
		col[i] = TimestampTzGetDatum(msgs[i].env.occurred_at);
		colnull[i] = !msgs[i].env.has_occurred_at;
	}
	values[9] = PointerGetDatum(construct_md_array(col, colnull, 1, dims, lbs,
												   TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL,
												   TYPALIGN_DOUBLE));
	for (i = 0; i < n; i++)
	{
		col[i] = PointerGetDatum(msgs[i].env.headers);
		colnull[i] = (msgs[i].env.headers == NULL);
	}
	values[10] = PointerGetDatum(construct_md_array(col, colnull, 1, dims, lbs,
													JSONBOID, -1, false, TYPALIGN_INT));
	values[11] = PointerGetDatum(payloads);

	plan = CourierPlan(&insert_batch_plan,
					   "INSERT INTO courier.messages"
					   " (msg_id, visible_at, sent_at, queue_name, type, schema_version,"
					   "  correlation_id, causation_id, idempotency_key, tenant_id, occurred_at,"
					   "  headers, payload)"
					   " SELECT pg_catalog.nextval('courier.message_id_seq'::pg_catalog.regclass),"
					   "        $1, $2, $3, u.type, u.schema_version, u.correlation_id,"
					   "        u.causation_id, u.idempotency_key, u.tenant_id, u.occurred_at,"
					   "        u.headers, u.payload"
					   "   FROM ROWS FROM (pg_catalog.unnest($4), pg_catalog.unnest($6),"
					   "                   pg_catalog.unnest($7), pg_catalog.unnest($8),"
					   "                   pg_catalog.unnest($9), pg_catalog.unnest($5),"
					   "                   pg_catalog.unnest($10), pg_catalog.unnest($11),"
					   "                   pg_catalog.unnest($12))"
					   "        WITH ORDINALITY AS u(type, correlation_id, causation_id,"
					   "             idempotency_key, tenant_id, schema_version, occurred_at,"
					   "             headers, payload, ord)"
					   "  ORDER BY u.ord"
					   " RETURNING msg_id",
					   12, argtypes);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_INSERT_RETURNING ||
		SPI_processed != (uint64) n)
		elog(ERROR, "courier.send_batch: insert failed");

	for (row = 0; row < SPI_processed; row++)
	{
		bool		isnull;

		ids[row] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[row],
											   SPI_tuptable->tupdesc, 1, &isnull));
	}
	qsort(ids, n, sizeof(int64), CompareInt64);
	for (i = 0; i < n; i++)
	{
		Datum		id = Int64GetDatum(ids[i]);
		bool		null = false;

		tuplestore_putvalues(tupstore, tupdesc, &id, &null);
	}
}

/*
 * courier.send_batch(queue_name text, payloads jsonb[], headers jsonb[] = null,
 *					  delay interval = null, group_ids text[] = null,
 *					  dedup_ids text[] = null) returns setof bigint
 *
 * Every message is checked before anything is written; ids come back in
 * input order.
 */
Datum
courier_send_batch(PG_FUNCTION_ARGS)
{
	text	   *queue_name;
	Datum	   *payloads;
	bool	   *payload_nulls;
	Datum	   *header_elems = NULL;
	bool	   *header_nulls = NULL;
	Datum	   *group_elems = NULL;
	bool	   *group_nulls = NULL;
	Datum	   *dedup_elems = NULL;
	bool	   *dedup_nulls = NULL;
	int64		delay_usec;
	int64	   *nbytes;
	CourierNewMessage *msgs;
	CourierQueue queue;
	TimestampTz now;
	Tuplestorestate *tupstore;
	TupleDesc	tupdesc;
	int			n;
	int			i;
	CourierAccess acc;

	CourierArgNotNull(fcinfo, 0, "queue_name");
	CourierArgNotNull(fcinfo, 1, "payloads");
	queue_name = PG_GETARG_TEXT_PP(0);
	n = ArrayArg(fcinfo, 1, "payloads", JSONBOID, &payloads, &payload_nulls);
	if (!PG_ARGISNULL(2))
		CheckSameLength("headers",
						n, ArrayArg(fcinfo, 2, "headers", JSONBOID, &header_elems, &header_nulls));
	delay_usec = DelayArg(fcinfo, 3);
	/* 0.1 declared four arguments; the same symbol serves both versions. */
	if (PG_NARGS() > 5 && !PG_ARGISNULL(4))
		CheckSameLength("group_ids",
						n, ArrayArg(fcinfo, 4, "group_ids", TEXTOID, &group_elems, &group_nulls));
	if (PG_NARGS() > 5 && !PG_ARGISNULL(5))
		CheckSameLength("dedup_ids",
						n, ArrayArg(fcinfo, 5, "dedup_ids", TEXTOID, &dedup_elems, &dedup_nulls));

	tupstore = CourierMaterialize(fcinfo, &tupdesc);
	CourierAuthorizeText("send", "queue", queue_name, &acc);

	msgs = palloc0(Max(n, 1) * sizeof(CourierNewMessage));
	nbytes = palloc(Max(n, 1) * sizeof(int64));
	for (i = 0; i < n; i++)
	{
		Jsonb	   *headers = NULL;

		CHECK_FOR_INTERRUPTS();
		if (payload_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("payloads must not contain nulls"),
					 errdetail("Element %d is null.", i + 1)));
		msgs[i].payload = DatumGetJsonbP(payloads[i]);
		if (header_elems != NULL && !header_nulls[i])
			headers = DatumGetJsonbP(header_elems[i]);
		CourierReadEnvelope(headers, &msgs[i].env);
		CourierContextApply(&msgs[i].env);
		CourierTenantApply(&acc, &msgs[i].env, "send", "queue", queue_name);
		msgs[i].delay_usec = delay_usec;
		if (group_elems != NULL && !group_nulls[i])
		{
			msgs[i].group_id = DatumGetTextPP(group_elems[i]);
			CourierCheckId("group_id", msgs[i].group_id);
		}
		if (dedup_elems != NULL && !dedup_nulls[i])
		{
			msgs[i].dedup_id = DatumGetTextPP(dedup_elems[i]);
			CourierCheckId("dedup_id", msgs[i].dedup_id);
		}
		nbytes[i] = MessageBytes(msgs[i].payload, headers);
	}

	CourierAccessBegin(&acc);
	SPI_connect();
	/* Even an empty batch names a queue that must exist. */
	BeginSend(queue_name, &queue);
	if (queue.fifo)
		CourierTenantNoFifo(&acc, "send to", "queue", queue_name);
	for (i = 0; i < n; i++)
	{
		CheckMessageBytes(nbytes[i], &queue, queue_name);
		CheckForQueue(&queue, &msgs[i], !PG_ARGISNULL(3));
	}
	/* all or nothing: every message is checked before any is written */
	if (queue.require_schema)
	{
		char	   *name = text_to_cstring(queue_name);
		CourierSchemaMemo memo;

		memset(&memo, 0, sizeof(memo));
		for (i = 0; i < n; i++)
		{
			CHECK_FOR_INTERRUPTS();
			CourierSchemaCheckMessage("queue", name, &msgs[i].env, msgs[i].payload, i + 1,
									  &memo);
		}
	}
	now = CourierWriteBegin();

	if (n > 0 && !queue.fifo)
	{
		InsertBatch(queue_name, msgs, n,
					now + (delay_usec >= 0 ? delay_usec : queue.delay_usec), now,
					PG_GETARG_ARRAYTYPE_P(1), tupstore, tupdesc);
		CourierWaitNoteSend(queue_name);
	}
	else
	{
		/* FIFO: each message is deduplicated and ordered in its group. */
		for (i = 0; i < n; i++)
		{
			Datum		id;
			bool		null = false;

			CHECK_FOR_INTERRUPTS();
			id = Int64GetDatum(CourierEnqueue(queue_name, &queue, &msgs[i], now));
			tuplestore_putvalues(tupstore, tupdesc, &id, &null);
		}
	}
	CourierCountQueue(queue_name, COURIER_QUEUE_SENT, n);
	CourierWriteEnd();
	SPI_finish();
	CourierAccessEnd(&acc);

	return (Datum) 0;
}
