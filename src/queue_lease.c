/*-------------------------------------------------------------------------
 *
 * queue_lease.c
 *	  The receive side: receive(), delete(), delete_batch(),
 *	  change_visibility() and release().
 *
 * receive() leases messages: it picks visible messages in (visible_at,
 * msg_id) order with FOR UPDATE SKIP LOCKED, so concurrent consumers never
 * wait on each other and never get the same message, and moves each picked
 * message's visible_at to the end of its lease.  A lease is named by
 * (msg_id, receive_count, receipt_nonce); the receipt carries all three.
 * Every later call that acts on a lease matches all three in its WHERE
 * clause, so once a message has been received again an older receipt matches
 * no row: it does nothing and the call returns false.  A lease whose time has
 * run out but that nobody took over is still the current lease, and its
 * receipt still works (as with SQS standard queues).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "clock.h"
#include "pg_courier.h"
#include "plan.h"
#include "queue.h"
#include "receipt.h"

PG_FUNCTION_INFO_V1(courier_receive);
PG_FUNCTION_INFO_V1(courier_delete);
PG_FUNCTION_INFO_V1(courier_delete_batch);
PG_FUNCTION_INFO_V1(courier_change_visibility);
PG_FUNCTION_INFO_V1(courier_release);

#define COURIER_MAX_RECEIVE 1000

static SPIPlanPtr receive_plan = NULL;
static SPIPlanPtr delete_plan = NULL;
static SPIPlanPtr delete_batch_plan = NULL;
static SPIPlanPtr extend_plan = NULL;
static SPIPlanPtr lease_probe_plan = NULL;

/* The WHERE clause that names one lease; $1 is always the queue. */
#define LEASE_MATCH \
	" m.queue_name OPERATOR(pg_catalog.=) $1" \
	" AND m.msg_id OPERATOR(pg_catalog.=) $2" \
	" AND m.receive_count OPERATOR(pg_catalog.=) $3" \
	" AND m.receipt_nonce OPERATOR(pg_catalog.=) $4"

/*
 * courier.receive(queue_name text, max_messages int = 1,
 *				   visibility_timeout interval = null) returns setof courier.received
 */
Datum
courier_receive(PG_FUNCTION_ARGS)
{
	static Oid	argtypes[7] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID,
							   TIMESTAMPTZOID, INT8OID, TEXTOID};
	Datum		values[7];
	text	   *queue_name;
	int32		max_messages;
	int64		vt_usec = -1;
	CourierQueue queue;
	TimestampTz now;
	int64		nonce;
	char		nonce_text[COURIER_NONCE_TEXT_LEN + 1];
	Tuplestorestate *tupstore;
	TupleDesc	tupdesc;
	SPIPlanPtr	plan;
	uint64		row;

	CourierArgNotNull(fcinfo, 0, "queue_name");
	CourierArgNotNull(fcinfo, 1, "max_messages");
	queue_name = PG_GETARG_TEXT_PP(0);
	max_messages = PG_GETARG_INT32(1);
	if (max_messages < 1 || max_messages > COURIER_MAX_RECEIVE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_messages must be between 1 and %d", COURIER_MAX_RECEIVE),
				 errdetail("The value given was %d.", max_messages)));
	if (!PG_ARGISNULL(2))
		vt_usec = CourierDurationArg(PG_GETARG_INTERVAL_P(2), "visibility_timeout",
									 0, COURIER_MAX_VISIBILITY, "0 and 12 hours");

	tupstore = CourierMaterialize(fcinfo, &tupdesc);

	SPI_connect();
	CourierLookupQueue(queue_name, &queue, false);
	if (vt_usec < 0)
		vt_usec = queue.visibility_usec;
	now = CourierNow();
	nonce = CourierNewNonce();
	CourierNonceText(nonce, nonce_text);

	values[0] = PointerGetDatum(queue_name);
	values[1] = TimestampTzGetDatum(now);
	values[2] = TimestampTzGetDatum(now - queue.retention_usec);
	values[3] = Int64GetDatum((int64) max_messages);
	values[4] = TimestampTzGetDatum(now + vt_usec);
	values[5] = Int64GetDatum(nonce);
	values[6] = CStringGetTextDatum(nonce_text);

	/*
	 * The index on (queue_name, visible_at, msg_id) yields visible messages
	 * oldest first and stops at now: messages in flight or delayed are never
	 * visited.  Expired messages (sent before now - retention) are skipped.
	 */
	plan = CourierPlan(&receive_plan,
					   "WITH picked AS ("
					   "    SELECT m.msg_id FROM courier.messages AS m"
					   "     WHERE m.queue_name OPERATOR(pg_catalog.=) $1"
					   "       AND m.visible_at OPERATOR(pg_catalog.<=) $2"
					   "       AND m.sent_at OPERATOR(pg_catalog.>) $3"
					   "     ORDER BY m.visible_at, m.msg_id"
					   "     LIMIT $4"
					   "       FOR UPDATE SKIP LOCKED"
					   "), leased AS ("
					   "    UPDATE courier.messages AS m"
					   "       SET visible_at = $5,"
					   "           receive_count = m.receive_count OPERATOR(pg_catalog.+) 1,"
					   "           first_received_at = COALESCE(m.first_received_at, $2),"
					   "           last_received_at = $2,"
					   "           receipt_nonce = $6"
					   "      FROM picked"
					   "     WHERE m.queue_name OPERATOR(pg_catalog.=) $1"
					   "       AND m.msg_id OPERATOR(pg_catalog.=) picked.msg_id"
					   "    RETURNING m.*"
					   ")"
					   " SELECT l.msg_id,"
					   "        l.msg_id::pg_catalog.text OPERATOR(pg_catalog.||) ':'"
					   "          OPERATOR(pg_catalog.||) l.receive_count::pg_catalog.text"
					   "          OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) $7,"
					   "        l.payload, l.headers, l.type, l.schema_version,"
					   "        l.correlation_id, l.causation_id, l.idempotency_key,"
					   "        l.tenant_id, l.occurred_at, l.receive_count, l.sent_at,"
					   "        l.first_received_at, l.visible_at"
					   "   FROM leased AS l"
					   "  ORDER BY l.msg_id",
					   7, argtypes);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "courier.receive: lease statement failed");

	for (row = 0; row < SPI_processed; row++)
	{
		Datum		rvalues[15];
		bool		rnulls[15];

		CHECK_FOR_INTERRUPTS();
		heap_deform_tuple(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, rvalues, rnulls);
		tuplestore_putvalues(tupstore, tupdesc, rvalues, rnulls);
	}
	SPI_finish();

	return (Datum) 0;
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

/* courier.delete(queue_name text, receipt text) returns boolean */
Datum
courier_delete(PG_FUNCTION_ARGS)
{
	static Oid	argtypes[4] = {TEXTOID, INT8OID, INT4OID, INT8OID};
	Datum		values[4];
	text	   *queue_name;
	CourierReceipt receipt;
	SPIPlanPtr	plan;
	bool		deleted;

	CourierArgNotNull(fcinfo, 0, "queue_name");
	queue_name = PG_GETARG_TEXT_PP(0);
	ReceiptArg(fcinfo, 1, &receipt);

	values[0] = PointerGetDatum(queue_name);
	values[1] = Int64GetDatum(receipt.msg_id);
	values[2] = Int32GetDatum(receipt.receive_count);
	values[3] = Int64GetDatum(receipt.nonce);

	SPI_connect();
	plan = CourierPlan(&delete_plan,
					   "DELETE FROM courier.messages AS m WHERE" LEASE_MATCH,
					   4, argtypes);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "courier.delete: delete failed");
	deleted = (SPI_processed == 1);
	if (!deleted)
		deleted = NothingMatched(queue_name);
	SPI_finish();

	PG_RETURN_BOOL(deleted);
}

/* courier.delete_batch(queue_name text, receipts text[]) returns integer */
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
	Datum	   *ids;
	Datum	   *counts;
	Datum	   *nonces;
	int			dims[1];
	int			lbs[1] = {1};
	SPIPlanPtr	plan;
	int32		ndeleted;

	CourierArgNotNull(fcinfo, 0, "queue_name");
	CourierArgNotNull(fcinfo, 1, "receipts");
	queue_name = PG_GETARG_TEXT_PP(0);
	arr = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("receipts must be a one-dimensional array")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &elem_nulls, &n);

	ids = palloc((n + 1) * sizeof(Datum));
	counts = palloc((n + 1) * sizeof(Datum));
	nonces = palloc((n + 1) * sizeof(Datum));
	for (i = 0; i < n; i++)
	{
		CourierReceipt receipt;
		char	   *str;

		CHECK_FOR_INTERRUPTS();
		if (elem_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("receipts must not contain nulls"),
					 errdetail("Element %d is null.", i + 1)));
		str = TextDatumGetCString(elems[i]);
		CourierParseReceipt(str, &receipt);
		pfree(str);
		ids[i] = Int64GetDatum(receipt.msg_id);
		counts[i] = Int32GetDatum(receipt.receive_count);
		nonces[i] = Int64GetDatum(receipt.nonce);
	}

	dims[0] = n;
	values[0] = PointerGetDatum(queue_name);
	values[1] = PointerGetDatum(construct_md_array(ids, NULL, 1, dims, lbs, INT8OID,
												   8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[2] = PointerGetDatum(construct_md_array(counts, NULL, 1, dims, lbs, INT4OID,
												   4, true, TYPALIGN_INT));
	values[3] = PointerGetDatum(construct_md_array(nonces, NULL, 1, dims, lbs, INT8OID,
												   8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));

	SPI_connect();
	plan = CourierPlan(&delete_batch_plan,
					   "DELETE FROM courier.messages AS m"
					   " USING ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3),"
					   "                  pg_catalog.unnest($4)) AS r(msg_id, receive_count, nonce)"
					   " WHERE m.queue_name OPERATOR(pg_catalog.=) $1"
					   "   AND m.msg_id OPERATOR(pg_catalog.=) r.msg_id"
					   "   AND m.receive_count OPERATOR(pg_catalog.=) r.receive_count"
					   "   AND m.receipt_nonce OPERATOR(pg_catalog.=) r.nonce",
					   4, argtypes);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "courier.delete_batch: delete failed");
	ndeleted = (int32) SPI_processed;
	if (ndeleted == 0)
		(void) NothingMatched(queue_name);
	SPI_finish();

	PG_RETURN_INT32(ndeleted);
}

/*
 * Move the end of a lease to now + usec, keeping it within 12 hours of the
 * receive (the SQS rule: rejected, not clamped).  error, when not NULL,
 * is recorded as the message's last_error.
 */
static bool
ExtendLease(text *queue_name, const CourierReceipt *receipt, int64 usec, text *error)
{
	static Oid	argtypes[7] = {TEXTOID, INT8OID, INT4OID, INT8OID,
							   TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID};
	Datum		values[7];
	char		nulls[7];
	TimestampTz new_visible;
	SPIPlanPtr	plan;
	bool		done;

	new_visible = CourierNow() + usec;
	memset(nulls, ' ', sizeof(nulls));
	values[0] = PointerGetDatum(queue_name);
	values[1] = Int64GetDatum(receipt->msg_id);
	values[2] = Int32GetDatum(receipt->receive_count);
	values[3] = Int64GetDatum(receipt->nonce);
	values[4] = TimestampTzGetDatum(new_visible);
	values[5] = TimestampTzGetDatum(new_visible - COURIER_MAX_VISIBILITY);
	values[6] = PointerGetDatum(error);
	if (error == NULL)
		nulls[6] = 'n';

	SPI_connect();
	plan = CourierPlan(&extend_plan,
					   "UPDATE courier.messages AS m"
					   "   SET visible_at = $5, last_error = COALESCE($7, m.last_error)"
					   " WHERE" LEASE_MATCH
					   "   AND m.last_received_at OPERATOR(pg_catalog.>=) $6",
					   7, argtypes);
	if (SPI_execute_plan(plan, values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "courier: lease update failed");
	done = (SPI_processed == 1);

	if (!done)
	{
		/* Over the 12-hour cap, or no such lease? */
		plan = CourierPlan(&lease_probe_plan,
						   "SELECT m.last_received_at FROM courier.messages AS m"
						   " WHERE" LEASE_MATCH,
						   4, argtypes);
		/*
		 * Not read_only: the probe needs a snapshot taken now.  The UPDATE may
		 * have waited for a concurrent re-lease or delete; the statement's
		 * own snapshot would still show the old lease.
		 */
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
					 errhint("Receive the message again to start a new lease.")));
		}
		done = NothingMatched(queue_name);
	}
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

	PG_RETURN_BOOL(ExtendLease(PG_GETARG_TEXT_PP(0), &receipt, usec, NULL));
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
							   PG_ARGISNULL(2) ? NULL : PG_GETARG_TEXT_PP(2)));
}
