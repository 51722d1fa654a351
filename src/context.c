/*-------------------------------------------------------------------------
 *
 * context.c
 *	  The correlation context of a transaction: which correlation and
 *	  causation ids what it sends inherits.
 *
 * Vocabulary:
 *	  correlation id  names a flow: every message, event, execution and
 *	                  outbox row that belongs to one business transaction
 *	                  carries the same one (courier.trace() lists them)
 *	  causation id    names what caused this one: the id of the message
 *	                  whose processing sent it
 *	  context         the two ids a transaction's sends inherit when their
 *	                  headers do not set them
 *
 * A transaction gets a context in two ways.  courier.set_context() sets one
 * explicitly.  And a transaction that has received exactly one message
 * (receive() handed it out, queue_lease.c notes it) is processing that
 * message: what it sends inherits the message's correlation id (or, when it
 * has none, its id: the flow is rooted there) and gets the message's id as
 * causation id.  A transaction that received two or more messages has no
 * inherited context: there is no telling which of them caused a send.
 * Explicit values win, field by field: a reserved header over set_context(),
 * set_context() over inheritance.
 *
 * The context lives in backend-local variables reset when the transaction
 * ends (an xact callback), so the send path pays one test of a flag when
 * there is none.  Receives in a subtransaction that is rolled back still
 * count (documented in docs/correlation.md).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "context.h"
#include "envelope.h"

PG_FUNCTION_INFO_V1(courier_set_context);
PG_FUNCTION_INFO_V1(courier_current_context);

bool		courier_context_active = false;

static bool callback_registered = false;

/* messages received in this transaction: 0, 1, or 2 for "more than one" */
static int	received_count = 0;
static text *received_id_text = NULL;
static text *received_correlation = NULL;

/* set by courier.set_context() in this transaction; NULL when not */
static text *set_correlation = NULL;
static text *set_causation = NULL;

static void
Recompute(void)
{
	courier_context_active = set_correlation != NULL || set_causation != NULL ||
		received_count == 1;
}

static void
ContextXactCallback(XactEvent event, void *arg pg_attribute_unused())
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/* the values lived in TopTransactionContext, which goes now */
			received_count = 0;
			received_id_text = NULL;
			received_correlation = NULL;
			set_correlation = NULL;
			set_causation = NULL;
			courier_context_active = false;
			break;
		default:
			break;
	}
}

static void
EnsureCallback(void)
{
	if (!callback_registered)
	{
		RegisterXactCallback(ContextXactCallback, NULL);
		callback_registered = true;
	}
}

static text *
CopyText(text *t)
{
	/* a text, perhaps with a short header, copied for the transaction */
	int			len = VARSIZE_ANY_EXHDR(t);
	text	   *copy = (text *) MemoryContextAlloc(TopTransactionContext, VARHDRSZ + len);

	SET_VARSIZE(copy, VARHDRSZ + len);
	memcpy(VARDATA(copy), VARDATA_ANY(t), len);
	return copy;
}

/*
 * receive() handed out a message: note it.  correlation_id may be NULL.
 * Called once per message returned, from the lease paths (queue_lease.c).
 */
void
CourierContextNoteReceived(int64 msg_id, text *correlation_id)
{
	char		buf[32];

	EnsureCallback();
	if (received_count >= 2)
		return;
	if (++received_count == 1)
	{
		snprintf(buf, sizeof(buf), INT64_FORMAT, msg_id);
		received_id_text = CopyText(cstring_to_text(buf));
		received_correlation = correlation_id ? CopyText(correlation_id) : NULL;
	}
	else
	{
		received_id_text = NULL;
		received_correlation = NULL;
	}
	Recompute();
}

/* The correlation id a send now inherits, or NULL. */
text *
CourierContextCorrelation(void)
{
	if (set_correlation != NULL)
		return set_correlation;
	if (received_count == 1)
		return received_correlation != NULL ? received_correlation : received_id_text;
	return NULL;
}

/* The causation id a send now inherits, or NULL. */
text *
CourierContextCausation(void)
{
	if (set_causation != NULL)
		return set_causation;
	if (received_count == 1)
		return received_id_text;
	return NULL;
}

void
CourierContextFill(CourierEnvelope *env)
{
	if (env->text_fields[ENV_CORRELATION_ID] == NULL)
		env->text_fields[ENV_CORRELATION_ID] = CourierContextCorrelation();
	if (env->text_fields[ENV_CAUSATION_ID] == NULL)
		env->text_fields[ENV_CAUSATION_ID] = CourierContextCausation();
}

/*
 * Make correlation and causation (either may be NULL: inherit) the explicit
 * context until CourierContextRestore(saved).  The workflow engine runs each
 * task under its execution's context.
 */
void
CourierContextOverride(const char *correlation, const char *causation,
					   CourierContextSaved *saved)
{
	EnsureCallback();
	saved->correlation = set_correlation;
	saved->causation = set_causation;
	set_correlation = correlation ? CopyText(cstring_to_text(correlation)) : NULL;
	set_causation = causation ? CopyText(cstring_to_text(causation)) : NULL;
	Recompute();
}

void
CourierContextRestore(const CourierContextSaved *saved)
{
	set_correlation = saved->correlation;
	set_causation = saved->causation;
	Recompute();
}

static text *
ContextArg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	text	   *t;
	int			nchars;

	if (PG_ARGISNULL(argno))
		return NULL;
	t = PG_GETARG_TEXT_PP(argno);
	nchars = pg_mbstrlen_with_len(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
	if (nchars < 1 || nchars > COURIER_MAX_ENVELOPE_TEXT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must have 1 to %d characters", name, COURIER_MAX_ENVELOPE_TEXT),
				 errdetail("The value given has %d characters.", nchars),
				 errhint("Pass NULL to inherit it instead.")));
	return CopyText(t);
}

/*
 * courier.set_context(correlation_id text, causation_id text = null)
 *
 * Replaces the explicit context of the transaction; a NULL field is not set
 * (inheritance applies to it again).  Outside a transaction block the
 * context would end with the statement: warn.
 */
Datum
courier_set_context(PG_FUNCTION_ARGS)
{
	text	   *correlation = ContextArg(fcinfo, 0, "correlation_id");
	text	   *causation = ContextArg(fcinfo, 1, "causation_id");

	if (!IsTransactionBlock())
		ereport(WARNING,
				(errcode(ERRCODE_NO_ACTIVE_SQL_TRANSACTION),
				 errmsg("courier.set_context() has no effect outside a transaction block"),
				 errdetail("The context ends with the transaction, here with this statement."),
				 errhint("Call it after BEGIN, in the transaction that sends.")));
	EnsureCallback();
	set_correlation = correlation;
	set_causation = causation;
	Recompute();
	PG_RETURN_VOID();
}

/*
 * courier.current_context(OUT correlation_id text, OUT causation_id text)
 *
 * What a message sent now without those headers would carry.
 */
Datum
courier_current_context(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	text	   *c = CourierContextCorrelation();
	text	   *k = CourierContextCausation();

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "courier.current_context: return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = PointerGetDatum(c);
	nulls[0] = (c == NULL);
	values[1] = PointerGetDatum(k);
	nulls[1] = (k == NULL);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
