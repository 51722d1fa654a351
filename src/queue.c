/*-------------------------------------------------------------------------
 *
 * queue.c
 *	  Queue lookup and the send side: send() and send_batch().
 *
 * A send looks the queue up, checks the message, and inserts one row into
 * courier.messages with visible_at = now + delay.  The row is invisible to
 * every other session until the sender commits, which is what makes sending
 * transactional; nothing here needs to do anything at commit.
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
#include "envelope.h"
#include "pg_courier.h"
#include "plan.h"
#include "queue.h"

PG_FUNCTION_INFO_V1(courier_lock_queue);
PG_FUNCTION_INFO_V1(courier_send);
PG_FUNCTION_INFO_V1(courier_send_batch);

static SPIPlanPtr lookup_plan = NULL;
static SPIPlanPtr lookup_share_plan = NULL;
static SPIPlanPtr send_plan = NULL;
static SPIPlanPtr send_batch_plan = NULL;

#define LOOKUP_SQL \
	"SELECT q.visibility_timeout, q.delay, q.retention, q.max_message_bytes" \
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

/*
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
	queue->visibility_usec =
		CourierIntervalUsec(DatumGetIntervalP(SPI_getbinval(tup, desc, 1, &isnull)),
							"visibility_timeout");
	queue->delay_usec =
		CourierIntervalUsec(DatumGetIntervalP(SPI_getbinval(tup, desc, 2, &isnull)),
							"delay");
	queue->retention_usec =
		CourierIntervalUsec(DatumGetIntervalP(SPI_getbinval(tup, desc, 3, &isnull)),
							"retention");
	queue->max_message_bytes = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
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

/* Bytes a message counts against max_message_bytes: payload + headers. */
static int64
MessageBytes(Datum payload, Datum headers, bool headers_null)
{
	int64		n = VARSIZE_ANY_EXHDR(DatumGetPointer(payload));

	if (!headers_null)
		n += VARSIZE_ANY_EXHDR(DatumGetPointer(headers));
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

/* Common start of both send paths: lock and look up the queue. */
static void
BeginSend(text *queue_name, CourierQueue *queue)
{
	CourierLockQueue(queue_name, AccessShareLock);
	CourierLookupQueue(queue_name, queue, IsolationUsesXactSnapshot());
}

static int64
DelayArg(FunctionCallInfo fcinfo, int argno, const CourierQueue *queue)
{
	if (PG_ARGISNULL(argno))
		return queue->delay_usec;
	return CourierDurationArg(PG_GETARG_INTERVAL_P(argno), "delay",
							  0, COURIER_MAX_DELAY, "0 and 15 minutes");
}

#define SEND_COLUMNS \
	"(msg_id, visible_at, sent_at, queue_name, type, schema_version," \
	" correlation_id, causation_id, idempotency_key, tenant_id, occurred_at," \
	" headers, payload)"

/*
 * courier.send(queue_name text, payload jsonb, headers jsonb = null,
 *				delay interval = null) returns bigint
 */
Datum
courier_send(PG_FUNCTION_ARGS)
{
	static Oid	argtypes[12] = {TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID,
								TEXTOID, INT4OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
								TIMESTAMPTZOID, JSONBOID, JSONBOID};
	Datum		values[12];
	char		nulls[12];
	text	   *queue_name;
	Jsonb	   *payload;
	Jsonb	   *headers = NULL;
	CourierEnvelope env;
	CourierQueue queue;
	TimestampTz now;
	int64		delay_usec;
	int64		msg_id;
	bool		isnull;
	int			i;
	SPIPlanPtr	plan;

	CourierArgNotNull(fcinfo, 0, "queue_name");
	CourierArgNotNull(fcinfo, 1, "payload");
	queue_name = PG_GETARG_TEXT_PP(0);
	payload = PG_GETARG_JSONB_P(1);
	if (!PG_ARGISNULL(2))
		headers = PG_GETARG_JSONB_P(2);
	if (!PG_ARGISNULL(3))
		(void) DelayArg(fcinfo, 3, NULL);	/* validate before touching tables */

	CourierReadEnvelope(headers, &env);

	SPI_connect();
	BeginSend(queue_name, &queue);
	CheckMessageBytes(MessageBytes(PointerGetDatum(payload), PointerGetDatum(headers),
								   headers == NULL),
					  &queue, queue_name);
	delay_usec = DelayArg(fcinfo, 3, &queue);
	now = CourierNow();

	memset(nulls, ' ', sizeof(nulls));
	values[0] = TimestampTzGetDatum(now + delay_usec);
	values[1] = TimestampTzGetDatum(now);
	values[2] = PointerGetDatum(queue_name);
	for (i = 0; i < ENV_NUM_TEXT; i++)
	{
		/* $4 type, then $6..$9 */
		int			slot = (i == ENV_TYPE) ? 3 : 4 + i;

		values[slot] = PointerGetDatum(env.text_fields[i]);
		if (env.text_fields[i] == NULL)
			nulls[slot] = 'n';
	}
	values[4] = Int32GetDatum(env.schema_version);
	if (!env.has_schema_version)
		nulls[4] = 'n';
	values[9] = TimestampTzGetDatum(env.occurred_at);
	if (!env.has_occurred_at)
		nulls[9] = 'n';
	values[10] = PointerGetDatum(env.headers);
	if (env.headers == NULL)
		nulls[10] = 'n';
	values[11] = PointerGetDatum(payload);

	plan = CourierPlan(&send_plan,
					   "INSERT INTO courier.messages " SEND_COLUMNS
					   " VALUES (pg_catalog.nextval('courier.message_id_seq'::pg_catalog.regclass),"
					   "         $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
					   " RETURNING msg_id",
					   12, argtypes);
	if (SPI_execute_plan(plan, values, nulls, false, 0) != SPI_OK_INSERT_RETURNING ||
		SPI_processed != 1)
		elog(ERROR, "courier.send: insert failed");
	msg_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										 SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();

	PG_RETURN_INT64(msg_id);
}

static int
CompareInt64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/* Deconstruct a one-dimensional jsonb[] argument. */
static int
JsonbArrayArg(FunctionCallInfo fcinfo, int argno, const char *name,
			  Datum **elems, bool **elem_nulls)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(argno);
	int			n;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", name)));
	deconstruct_array(arr, JSONBOID, -1, false, TYPALIGN_INT, elems, elem_nulls, &n);
	return n;
}

/*
 * courier.send_batch(queue_name text, payloads jsonb[], headers jsonb[] = null,
 *					  delay interval = null) returns setof bigint
 *
 * One INSERT for the whole batch, fed by arrays; ids come back in input order.
 * Every message is checked before anything is written.
 */
Datum
courier_send_batch(PG_FUNCTION_ARGS)
{
	static Oid	argtypes[12] = {TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID,
								TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
								TEXTARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID,
								JSONBARRAYOID, JSONBARRAYOID};
	Datum		values[12];
	text	   *queue_name;
	Datum	   *payloads;
	bool	   *payload_nulls;
	Datum	   *header_elems = NULL;
	bool	   *header_nulls = NULL;
	int			n;
	int			nheaders = 0;
	Datum	   *text_cols[ENV_NUM_TEXT];
	bool	   *text_nulls[ENV_NUM_TEXT];
	Datum	   *sv_col;
	bool	   *sv_nulls;
	Datum	   *occ_col;
	bool	   *occ_nulls;
	Datum	   *hdr_col;
	bool	   *hdr_nulls;
	int64	   *nbytes;
	int			dims[1];
	int			lbs[1] = {1};
	CourierQueue queue;
	TimestampTz now;
	int64		delay_usec;
	Tuplestorestate *tupstore;
	TupleDesc	tupdesc;
	SPIPlanPtr	plan;
	uint64		row;
	int			i;
	int			f;

	CourierArgNotNull(fcinfo, 0, "queue_name");
	CourierArgNotNull(fcinfo, 1, "payloads");
	queue_name = PG_GETARG_TEXT_PP(0);
	n = JsonbArrayArg(fcinfo, 1, "payloads", &payloads, &payload_nulls);
	if (!PG_ARGISNULL(2))
	{
		nheaders = JsonbArrayArg(fcinfo, 2, "headers", &header_elems, &header_nulls);
		if (nheaders != n)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("headers must have one element per payload"),
					 errdetail("There are %d payloads and %d headers.", n, nheaders),
					 errhint("Use NULL elements for messages without headers.")));
	}
	if (!PG_ARGISNULL(3))
		(void) DelayArg(fcinfo, 3, NULL);

	tupstore = CourierMaterialize(fcinfo, &tupdesc);
	if (n == 0)
		return (Datum) 0;

	/* Check every message and build one column array per envelope field. */
	for (f = 0; f < ENV_NUM_TEXT; f++)
	{
		text_cols[f] = palloc(n * sizeof(Datum));
		text_nulls[f] = palloc(n * sizeof(bool));
	}
	sv_col = palloc(n * sizeof(Datum));
	sv_nulls = palloc(n * sizeof(bool));
	occ_col = palloc(n * sizeof(Datum));
	occ_nulls = palloc(n * sizeof(bool));
	hdr_col = palloc(n * sizeof(Datum));
	hdr_nulls = palloc(n * sizeof(bool));
	nbytes = palloc(n * sizeof(int64));

	for (i = 0; i < n; i++)
	{
		CourierEnvelope env;
		Jsonb	   *headers = NULL;

		CHECK_FOR_INTERRUPTS();
		if (payload_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("payloads must not contain nulls"),
					 errdetail("Element %d is null.", i + 1)));
		if (header_elems != NULL && !header_nulls[i])
			headers = DatumGetJsonbP(header_elems[i]);
		CourierReadEnvelope(headers, &env);

		for (f = 0; f < ENV_NUM_TEXT; f++)
		{
			text_cols[f][i] = PointerGetDatum(env.text_fields[f]);
			text_nulls[f][i] = (env.text_fields[f] == NULL);
		}
		sv_col[i] = Int32GetDatum(env.schema_version);
		sv_nulls[i] = !env.has_schema_version;
		occ_col[i] = TimestampTzGetDatum(env.occurred_at);
		occ_nulls[i] = !env.has_occurred_at;
		hdr_col[i] = PointerGetDatum(env.headers);
		hdr_nulls[i] = (env.headers == NULL);
		nbytes[i] = MessageBytes(payloads[i],
								 headers ? PointerGetDatum(headers) : (Datum) 0,
								 headers == NULL);
	}

	SPI_connect();
	BeginSend(queue_name, &queue);
	for (i = 0; i < n; i++)
		CheckMessageBytes(nbytes[i], &queue, queue_name);
	delay_usec = DelayArg(fcinfo, 3, &queue);
	now = CourierNow();

	dims[0] = n;
	values[0] = TimestampTzGetDatum(now + delay_usec);
	values[1] = TimestampTzGetDatum(now);
	values[2] = PointerGetDatum(queue_name);
	for (f = 0; f < ENV_NUM_TEXT; f++)
	{
		int			slot = (f == ENV_TYPE) ? 3 : 4 + f;

		values[slot] = PointerGetDatum(construct_md_array(text_cols[f], text_nulls[f],
														  1, dims, lbs, TEXTOID,
														  -1, false, TYPALIGN_INT));
	}
	values[4] = PointerGetDatum(construct_md_array(sv_col, sv_nulls, 1, dims, lbs,
												   INT4OID, 4, true, TYPALIGN_INT));
	values[9] = PointerGetDatum(construct_md_array(occ_col, occ_nulls, 1, dims, lbs,
												   TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL,
												   TYPALIGN_DOUBLE));
	values[10] = PointerGetDatum(construct_md_array(hdr_col, hdr_nulls, 1, dims, lbs,
													JSONBOID, -1, false, TYPALIGN_INT));
	values[11] = PointerGetDatum(PG_GETARG_ARRAYTYPE_P(1));

	plan = CourierPlan(&send_batch_plan,
					   "INSERT INTO courier.messages " SEND_COLUMNS
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

	/*
	 * Ids are drawn from the sequence in input order, so the ascending order
	 * of the returned ids is the input order.
	 */
	{
		int64	   *ids = palloc(n * sizeof(int64));
		bool		isnull;

		for (row = 0; row < SPI_processed; row++)
			ids[row] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[row],
												   SPI_tuptable->tupdesc, 1, &isnull));
		qsort(ids, n, sizeof(int64), CompareInt64);
		for (i = 0; i < n; i++)
		{
			Datum		id = Int64GetDatum(ids[i]);
			bool		null = false;

			tuplestore_putvalues(tupstore, tupdesc, &id, &null);
		}
	}
	SPI_finish();

	return (Datum) 0;
}
