/*-------------------------------------------------------------------------
 *
 * workflow_store.h
 *	  Reading an execution's courier.executions row, and saving it (the
 *	  row and the history row of courier.execution_events), by direct heap
 *	  access instead of a SELECT, an UPDATE and an INSERT statement.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_WORKFLOW_STORE_H
#define COURIER_WORKFLOW_STORE_H

#include "postgres.h"

#include "storage/itemptr.h"
#include "utils/timestamp.h"

/*
 * The columns of courier.executions the engine reads when it takes an
 * execution, in this order (and in this order in its SELECT, workflow.c).
 */
typedef enum ReadColumn
{
	READ_EXECUTION_ID,
	READ_STATE_MACHINE_NAME,
	READ_EXECUTION_NAME,
	READ_VERSION,
	READ_STARTED_AT,
	READ_TIMEOUT_AT,
	READ_CURRENT_STATE,
	READ_STATE_ENTERED_AT,
	READ_STATE_PHASE,
	READ_RETRY_COUNTS,
	READ_REDRIVE_COUNT,
	READ_STARTED_BY,
	READ_INPUT,
	READ_STATE_INPUT,
	READ_PARENT_EXECUTION_ID,
	READ_BRANCH_PATH,
	READ_ITEM_INDEX,
	READ_CHILDREN_FROM,
	READ_CORRELATION_ID,
	READ_LAST_EVENT_ID,
	READ_REDRIVEN_AT,
	NUM_READ_COLUMNS
} ReadColumn;

/* The columns of courier.executions a save writes, in this order. */
typedef enum SaveColumn
{
	SAVE_STATUS,
	SAVE_NEXT_STEP_AT,
	SAVE_CURRENT_STATE,
	SAVE_STATE_ENTERED_AT,
	SAVE_STATE_PHASE,
	SAVE_RETRY_COUNTS,
	SAVE_ERROR,
	SAVE_CAUSE,
	SAVE_STATE_INPUT,
	SAVE_OUTPUT,
	SAVE_STOPPED_AT,
	SAVE_LAST_EVENT_ID,
	NUM_SAVE_COLUMNS
} SaveColumn;

/* The columns of courier.execution_events, in this order. */
typedef enum EventColumn
{
	EVENT_EXECUTION_ID,
	EVENT_FIRST_EVENT_ID,
	EVENT_LAST_EVENT_ID,
	EVENT_TIMESTAMPS,
	EVENT_TYPES,
	EVENT_DETAILS,
	NUM_EVENT_COLUMNS
} EventColumn;

/*
 * Update execution id's row, the version at tid (as the engine read it), to
 * values/nulls (SaveColumn order), and insert the history row events
 * (EventColumn order, none null) unless events is NULL.  Returns false,
 * having written nothing, when the direct path cannot be used (a privilege
 * not granted at table level, row-level security, triggers other than the
 * foreign keys' on columns a save does not change, columns it does not
 * know, a row that violates a constraint, tid no longer the row's current
 * version): the caller then saves through SQL, which applies or reports
 * all of those.
 */
/*
 * Read execution id's row from its version at tid (where the statement that
 * locked it found it) into values/nulls (ReadColumn order; started_by as
 * text, the rest as the columns' types; in the current memory context), if
 * that version is still the row's current one, is RUNNING and is due at
 * now.  Returns false, having read nothing, otherwise or when the direct
 * path cannot be used (SELECT not granted at table level, row-level
 * security, columns it does not know): the caller then reads it with its
 * SELECT, which also finds a version this transaction wrote since.
 */
extern bool CourierReadExecutionDirect(int64 id, ItemPointer tid, TimestampTz now,
									   Datum *values, bool *nulls);

extern bool CourierSaveExecutionDirect(int64 id, ItemPointer tid, const Datum *values,
									   const bool *nulls, const Datum *events);

#endif							/* COURIER_WORKFLOW_STORE_H */
