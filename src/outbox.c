/*-------------------------------------------------------------------------
 *
 * outbox.c
 *	  The transactional outbox: emit_outbox().
 *
 * Vocabulary:
 *	  aggregate   the entity an event is about, named by (aggregate type,
 *	              aggregate id); events of one aggregate are ordered
 *	  version     the aggregate's event counter: 1, 2, 3 ... in the order
 *	              the emitting transactions commit
 *	  outbox row  one event in courier.outbox, in the column shape of
 *	              Debezium's outbox event router (id, aggregatetype,
 *	              aggregateid, type, payload) plus our envelope
 *	  relay       a process that claims rows (claim_outbox), publishes them
 *	              elsewhere and acknowledges them (ack_outbox); relays are
 *	              PL/pgSQL (sql/parts/89_outbox.sql)
 *
 * emit_outbox() runs in the caller's transaction, so the event exists if and
 * only if the caller's own changes commit.  It first bumps the aggregate's
 * row in courier.outbox_aggregates (an upsert), which hands out the version
 * and holds the row locked until the caller ends: a second emitter of the
 * same aggregate waits there, so versions are assigned in commit order and
 * a relay, which skips locked aggregate rows, never sees version n + 1
 * committed while n is not.
 *
 * courier.outbox_mode says where the event goes.  table: a row (the
 * default).  wal: a row inserted and deleted in the same call, so a CDC
 * connector reads the insert from the WAL and the table stays empty.
 * message: no row; a transactional logical decoding message with prefix
 * "courier.outbox" whose content is the row as JSON.  The aggregate's
 * version advances in every mode.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/jsonb.h"

#include "clock.h"
#include "context.h"
#include "envelope.h"
#include "outbox.h"
#include "pg_courier.h"
#include "plan.h"

PG_FUNCTION_INFO_V1(courier_emit_outbox);

#define COURIER_MAX_OUTBOX_BYTES 1048576

int			courier_outbox_mode = COURIER_OUTBOX_TABLE;
int			courier_outbox_retention = 86400;	/* seconds */

static const struct config_enum_entry outbox_mode_options[] = {
	{"table", COURIER_OUTBOX_TABLE, false},
	{"wal", COURIER_OUTBOX_WAL, false},
	{"message", COURIER_OUTBOX_MESSAGE, false},
	{NULL, 0, false}
};

static SPIPlanPtr version_plan = NULL;
static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr delete_plan = NULL;
static SPIPlanPtr message_plan = NULL;

void
CourierOutboxDefineSettings(void)
{
	DefineCustomEnumVariable("courier.outbox_mode",
							 "Where courier.emit_outbox() puts an event.",
							 "table: a row in courier.outbox, for polling relays and CDC; "
							 "wal: a row inserted and deleted at once, for CDC only; "
							 "message: a transactional logical decoding message "
							 "(prefix courier.outbox), no row.",
							 &courier_outbox_mode,
							 COURIER_OUTBOX_TABLE,
							 outbox_mode_options,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("courier.outbox_retention",
							"How long tick() keeps published outbox rows.",
							"Rows a relay acknowledged (or an administrator skipped) "
							"are removed by courier.tick() this long after.",
							&courier_outbox_retention,
							86400,
							0, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);
}

/* An aggregate type, aggregate id or event type: 1 to 256 characters. */
static text *
NameArg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	text	   *t;
	int			nchars;

	CourierArgNotNull(fcinfo, argno, name);
	t = PG_GETARG_TEXT_PP(argno);
	nchars = pg_mbstrlen_with_len(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
	if (nchars < 1 || nchars > COURIER_MAX_ENVELOPE_TEXT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must have 1 to %d characters", name, COURIER_MAX_ENVELOPE_TEXT),
				 errdetail("The value given has %d characters.", nchars)));
	return t;
}

/* Bump the aggregate's version (locking its row); returns the new version. */
static int64
NextVersion(text *aggregate_type, text *aggregate_id, TimestampTz now, bool stores_row)
{
	static Oid	argtypes[4] = {TEXTOID, TEXTOID, TIMESTAMPTZOID, BOOLOID};
	Datum		values[4];
	SPIPlanPtr	plan;
	bool		isnull;

	plan = CourierPlan(&version_plan,
					   "INSERT INTO courier.outbox_aggregates AS a"
					   " (last_version, published_version, pending, ready_at,"
					   "  aggregatetype, aggregateid)"
					   " VALUES (1, CASE WHEN $4 THEN 0 ELSE 1 END, CASE WHEN $4 THEN 1 ELSE 0 END,"
					   "         $3, $1, $2)"
					   " ON CONFLICT ON CONSTRAINT outbox_aggregates_pkey DO UPDATE"
					   " SET last_version = a.last_version OPERATOR(pg_catalog.+) 1,"
	/* with nothing pending, a version without a row is published at once */
					   "     published_version = CASE WHEN $4 OR a.pending OPERATOR(pg_catalog.>) 0"
					   "                              THEN a.published_version"
					   "                              ELSE a.last_version OPERATOR(pg_catalog.+) 1 END,"
					   "     pending = a.pending OPERATOR(pg_catalog.+) CASE WHEN $4 THEN 1 ELSE 0 END,"
					   "     ready_at = CASE WHEN $4 AND a.pending OPERATOR(pg_catalog.=) 0"
					   "                     THEN $3 ELSE a.ready_at END"
					   " RETURNING a.last_version",
					   4, argtypes);
	values[0] = PointerGetDatum(aggregate_type);
	values[1] = PointerGetDatum(aggregate_id);
	values[2] = TimestampTzGetDatum(now);
	values[3] = BoolGetDatum(stores_row);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_INSERT_RETURNING ||
		SPI_processed != 1)
		elog(ERROR, "courier.emit_outbox: aggregate update failed");
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
									   &isnull));
}

/*
 * The parameters both the row and the message statement take:
 *	 $1 aggregatetype, $2 aggregateid, $3 type, $4 payload, $5 version,
 *	 $6 created_at, $7 occurred_at, $8 schema_version, $9 correlation_id,
 *	 $10 causation_id, $11 idempotency_key, $12 tenant_id, $13 headers
 */
#define EVENT_NARGS 13

static void
EventParams(Datum *values, char *nulls, text *aggregate_type, text *aggregate_id,
			text *event_type, Jsonb *payload, int64 version, TimestampTz now,
			const CourierEnvelope *env)
{
	memset(nulls, ' ', EVENT_NARGS);
	values[0] = PointerGetDatum(aggregate_type);
	values[1] = PointerGetDatum(aggregate_id);
	values[2] = PointerGetDatum(event_type);
	values[3] = JsonbPGetDatum(payload);
	values[4] = Int64GetDatum(version);
	values[5] = TimestampTzGetDatum(now);
	values[6] = TimestampTzGetDatum(env->occurred_at);
	if (!env->has_occurred_at)
		nulls[6] = 'n';
	values[7] = Int32GetDatum(env->schema_version);
	if (!env->has_schema_version)
		nulls[7] = 'n';
	values[8] = PointerGetDatum(env->text_fields[ENV_CORRELATION_ID]);
	values[9] = PointerGetDatum(env->text_fields[ENV_CAUSATION_ID]);
	values[10] = PointerGetDatum(env->text_fields[ENV_IDEMPOTENCY_KEY]);
	values[11] = PointerGetDatum(env->text_fields[ENV_TENANT_ID]);
	for (int i = 8; i <= 11; i++)
		if (DatumGetPointer(values[i]) == NULL)
			nulls[i] = 'n';
	values[12] = PointerGetDatum(env->headers);
	if (env->headers == NULL)
		nulls[12] = 'n';
}

static Oid	event_argtypes[EVENT_NARGS] = {
	TEXTOID, TEXTOID, TEXTOID, JSONBOID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID,
	INT4OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID
};

static int64
InsertRow(Datum *values, char *nulls)
{
	SPIPlanPtr	plan;
	bool		isnull;

	plan = CourierPlan(&insert_plan,
					   "INSERT INTO courier.outbox"
					   " (id, aggregatetype, aggregateid, type, payload, aggregate_version,"
					   "  created_at, occurred_at, schema_version, correlation_id, causation_id,"
					   "  idempotency_key, tenant_id, headers)"
					   " VALUES (pg_catalog.nextval('courier.outbox_id_seq'::pg_catalog.regclass),"
					   "         $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
					   " RETURNING id",
					   EVENT_NARGS, event_argtypes);
	if (SPI_execute_plan(plan, values, nulls, false, 0) != SPI_OK_INSERT_RETURNING ||
		SPI_processed != 1)
		elog(ERROR, "courier.emit_outbox: insert failed");
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
									   &isnull));
}

/* wal mode: the row goes as soon as it was written; its insert stays in the WAL. */
static void
DeleteRow(int64 id)
{
	static Oid	argtypes[1] = {INT8OID};
	Datum		values[1];
	SPIPlanPtr	plan;

	plan = CourierPlan(&delete_plan,
					   "DELETE FROM courier.outbox AS o WHERE o.id OPERATOR(pg_catalog.=) $1",
					   1, argtypes);
	values[0] = Int64GetDatum(id);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_DELETE || SPI_processed != 1)
		elog(ERROR, "courier.emit_outbox: delete failed");
}

/* message mode: the row as JSON in a transactional logical decoding message. */
static int64
EmitMessage(Datum *values, char *nulls)
{
	SPIPlanPtr	plan;
	bool		isnull;

	plan = CourierPlan(&message_plan,
					   "SELECT i.id, pg_catalog.pg_logical_emit_message(true, 'courier.outbox',"
					   "   pg_catalog.jsonb_build_object('id', i.id, 'aggregatetype', $1,"
					   "     'aggregateid', $2, 'type', $3, 'payload', $4, 'aggregate_version', $5,"
					   "     'created_at', $6, 'occurred_at', $7, 'schema_version', $8,"
					   "     'correlation_id', $9, 'causation_id', $10, 'idempotency_key', $11,"
					   "     'tenant_id', $12, 'headers', $13)::pg_catalog.text)"
					   "  FROM (SELECT pg_catalog.nextval('courier.outbox_id_seq'::pg_catalog.regclass)"
					   "          AS id) AS i",
					   EVENT_NARGS, event_argtypes);
	if (SPI_execute_plan(plan, values, nulls, false, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "courier.emit_outbox: logical message failed");
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
									   &isnull));
}

/*
 * courier.emit_outbox(aggregate_type text, aggregate_id text, event_type text,
 *					   payload jsonb, headers jsonb = null) returns bigint
 *
 * Returns the event's id.  Reserved headers fill the envelope columns, as
 * for send(); correlation and causation ids not given are inherited from
 * the transaction's context (context.c).
 */
Datum
courier_emit_outbox(PG_FUNCTION_ARGS)
{
	text	   *aggregate_type = NameArg(fcinfo, 0, "aggregate_type");
	text	   *aggregate_id = NameArg(fcinfo, 1, "aggregate_id");
	text	   *event_type = NameArg(fcinfo, 2, "event_type");
	Jsonb	   *payload;
	Jsonb	   *headers = NULL;
	CourierEnvelope env;
	Datum		values[EVENT_NARGS];
	char		nulls[EVENT_NARGS];
	int64		nbytes;
	int64		version;
	int64		id;
	TimestampTz now;
	int			mode = courier_outbox_mode;

	CourierArgNotNull(fcinfo, 3, "payload");
	payload = PG_GETARG_JSONB_P(3);
	if (!PG_ARGISNULL(4))
		headers = PG_GETARG_JSONB_P(4);
	CourierReadEnvelope(headers, &env);
	if (env.text_fields[ENV_TYPE] != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid header \"type\""),
				 errdetail("The type of an outbox event is its event_type argument."),
				 errhint("Leave \"type\" out of the headers.")));
	nbytes = VARSIZE_ANY_EXHDR(payload) + (headers ? VARSIZE_ANY_EXHDR(headers) : 0);
	if (nbytes > COURIER_MAX_OUTBOX_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("outbox event is too large"),
				 errdetail("The event has %lld bytes of payload and headers; at most %d are accepted.",
						   (long long) nbytes, COURIER_MAX_OUTBOX_BYTES),
				 errhint("Emit a reference to large data instead.")));
	CourierContextApply(&env);

	SPI_connect();
	now = CourierNow();
	version = NextVersion(aggregate_type, aggregate_id, now, mode == COURIER_OUTBOX_TABLE);
	EventParams(values, nulls, aggregate_type, aggregate_id, event_type, payload, version,
				now, &env);
	if (mode == COURIER_OUTBOX_MESSAGE)
		id = EmitMessage(values, nulls);
	else
	{
		id = InsertRow(values, nulls);
		if (mode == COURIER_OUTBOX_WAL)
			DeleteRow(id);
	}
	SPI_finish();

	PG_RETURN_INT64(id);
}
