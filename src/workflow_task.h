/*-------------------------------------------------------------------------
 *
 * workflow_task.h
 *	  Running a Task state's resource.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_WORKFLOW_TASK_H
#define COURIER_WORKFLOW_TASK_H

#include "workflow.h"

extern bool WorkflowRunTask(const Execution *x, const AslState *s, Jsonb *input,
							Jsonb **result, StateFailure *fail);

#endif							/* COURIER_WORKFLOW_TASK_H */
