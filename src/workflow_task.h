/*-------------------------------------------------------------------------
 *
 * workflow_task.h
 *	  Running a Task state's resource: SQL functions, the courier:send,
 *	  courier:publish and courier:put_events integrations, task timeouts,
 *	  and (task_token.c) tasks that wait for a task token.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_WORKFLOW_TASK_H
#define COURIER_WORKFLOW_TASK_H

#include "workflow.h"

/* How a Task state's step ended. */
typedef enum TaskOutcome
{
	TASK_SUCCEEDED,				/* *result is the task's result */
	TASK_FAILED,				/* *fail says why: Retry and Catch decide */
	TASK_WAITING,				/* waits for its token: x->phase, x->next_step_at set */
	TASK_RUNTIME				/* *err: a States.Runtime failure of the data flow */
} TaskOutcome;

extern bool WorkflowRunTask(const Execution *x, const AslState *s, Jsonb *input,
							Jsonb **result, StateFailure *fail);
extern bool WorkflowTaskWaitsForToken(const AslState *s);
extern TaskOutcome WorkflowTaskStart(Execution *x, const AslState *s, Jsonb *effective,
									 Jsonb *context, TimestampTz now, Jsonb **result,
									 StateFailure *fail, AslError *err);
extern Jsonb *WorkflowTaskDetails(const AslState *s, const char *key, Jsonb *value,
								  const char *error, const char *cause);

#endif							/* COURIER_WORKFLOW_TASK_H */
