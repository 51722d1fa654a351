/*-------------------------------------------------------------------------
 *
 * workflow_store.h
 *	  Saving an execution (its courier.executions row and the history row
 *	  of courier.execution_events) by direct heap access instead of an
 *	  UPDATE and an INSERT statement.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_WORKFLOW_STORE_H
#define COURIER_WORKFLOW_STORE_H

#include "postgres.h"

#include "storage/itemptr.h"

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
extern bool CourierSaveExecutionDirect(int64 id, ItemPointer tid, const Datum *values,
									   const bool *nulls, const Datum *events);

#endif							/* COURIER_WORKFLOW_STORE_H */
