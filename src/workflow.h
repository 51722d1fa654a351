/*-------------------------------------------------------------------------
 *
 * workflow.h
 *	  The workflow engine: executions of ASL state machines, and what the
 *	  engine's files (workflow.c, workflow_task.c) share.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_WORKFLOW_H
#define COURIER_WORKFLOW_H

#include "storage/itemptr.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "asl_machine.h"

/* Phases of an execution inside its current state. */
#define PHASE_ENTER		0
#define PHASE_WAITING	1
#define PHASE_RETRY		2
#define PHASE_TOKEN		3		/* a task waits for its task token (task_token.c) */
#define PHASE_CHILDREN	4		/* a Parallel or Map state waits for its children
								 * (courier._resume_execution writes it too) */

/* One execution, as the engine works on it. */
typedef struct Execution
{
	int64		id;
	ItemPointerData tid;		/* its row's version as read (SaveExecution) */
	char	   *machine_name;
	char	   *name;
	int32		version;
	char	   *status;
	TimestampTz started_at;
	TimestampTz timeout_at;		/* 0: none */
	TimestampTz next_step_at;	/* 0: NULL */
	char	   *state;
	TimestampTz entered_at;
	int			phase;
	int			nretry_counts;
	int		   *retry_counts;
	int32		redrive_count;
	char	   *started_by;
	Oid			role;			/* started_by's oid, InvalidOid: not looked up */
	char	   *correlation_id; /* NULL when it has none */
	Jsonb	   *input;
	Jsonb	   *state_input;
	Jsonb	   *output;
	char	   *error;
	char	   *cause;
	int32		last_event;		/* highest history event id, written or not */
	char	   *task_token;		/* $$.Task.Token while a token task starts */
	bool		finished;
	TimestampTz redriven_at;	/* 0: never redriven */
	/* history events not written yet: SaveExecution writes them at once */
	int32		saved_event;	/* last_event when the execution was loaded */
	int			nevents;
	int			maxevents;
	TimestampTz *event_times;
	char	  **event_types;
	Jsonb	  **event_details;
	/* a branch or iteration (workflow_map.c) */
	int64		parent_id;		/* 0: a top-level execution */
	int			nbranch_path;
	char	  **branch_path;	/* {state, branch index, ...} of its sub-machine */
	int32		item_index;
	bool		map_iteration;	/* of a Map state (else of a Parallel state) */
	int64		children_from;	/* first child of the current Parallel/Map attempt */
} Execution;

/* How one step ended. */
typedef enum StepResult
{
	STEP_NEXT,					/* moved to another state: go on */
	STEP_WAIT,					/* waits until x->next_step_at */
	STEP_DONE					/* the execution ended */
} StepResult;

/* A failure inside a state, before Retry and Catch. */
typedef struct StateFailure
{
	char	   *error;
	char	   *cause;
} StateFailure;


extern void WorkflowHistory(Execution *x, const char *type, Jsonb *details);
extern Jsonb *WorkflowStateDetails(const char *state, const char *key, Jsonb *value);
extern Jsonb *WorkflowErrorDetails(const char *state, const char *error, const char *cause);

#endif							/* COURIER_WORKFLOW_H */
