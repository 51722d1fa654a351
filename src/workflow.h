/*-------------------------------------------------------------------------
 *
 * workflow.h
 *	  The workflow engine: executions of ASL state machines.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_WORKFLOW_H
#define COURIER_WORKFLOW_H

#endif							/* COURIER_WORKFLOW_H */
