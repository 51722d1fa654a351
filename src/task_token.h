/*-------------------------------------------------------------------------
 *
 * task_token.h
 *	  Task tokens: a Task state with a ".waitForTaskToken" resource waits
 *	  until send_task_success, send_task_failure or a timeout ends it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_TASK_TOKEN_H
#define COURIER_TASK_TOKEN_H

#include "workflow_task.h"

extern char *WorkflowNewTaskToken(void);
extern void WorkflowRegisterTaskToken(Execution *x, const AslState *s, const char *token,
									  TimestampTz now, int64 timeout_seconds,
									  int64 heartbeat_seconds);
extern TaskOutcome WorkflowTaskResume(Execution *x, const AslState *s, TimestampTz now,
									  Jsonb **result, StateFailure *fail);

#endif							/* COURIER_TASK_TOKEN_H */
