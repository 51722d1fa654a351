/*-------------------------------------------------------------------------
 *
 * workflow_map.h
 *	  Parallel and Map states: branches and iterations as child executions.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_WORKFLOW_MAP_H
#define COURIER_WORKFLOW_MAP_H

#include "workflow.h"

/* Where a Parallel or Map state is after one step. */
typedef enum BranchesResult
{
	BRANCHES_WAIT,				/* children run: the parent waits for them */
	BRANCHES_DONE,				/* all finished: *result is the array of outputs */
	BRANCHES_FAILED				/* the state failed with *fail (before Retry/Catch) */
} BranchesResult;

extern BranchesResult WorkflowRunBranches(Execution *x, const AslState *s, Jsonb *context,
										  TimestampTz now, Jsonb **result, StateFailure *fail);
extern const AslMachine *WorkflowBranchMachine(Execution *x, const AslMachine *root,
												TimestampTz now);
extern void WorkflowBranchFinished(Execution *x);
extern void WorkflowStopChildren(Execution *x);

#endif							/* COURIER_WORKFLOW_MAP_H */
