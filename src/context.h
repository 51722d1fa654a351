/*-------------------------------------------------------------------------
 *
 * context.h
 *	  The correlation context of a transaction: which correlation and
 *	  causation ids what it sends inherits.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_CONTEXT_H
#define COURIER_CONTEXT_H

#include "envelope.h"

/* true while the transaction has a context; see context.c */
extern bool courier_context_active;

extern void CourierContextNoteReceived(int64 msg_id, text *correlation_id);
extern void CourierContextFill(CourierEnvelope *env);
extern text *CourierContextCorrelation(void);
extern text *CourierContextCausation(void);

/* An explicit context for a while (a workflow task), then the one before. */
typedef struct CourierContextSaved
{
	text	   *correlation;
	text	   *causation;
} CourierContextSaved;

extern void CourierContextOverride(const char *correlation, const char *causation,
								   CourierContextSaved *saved);
extern void CourierContextRestore(const CourierContextSaved *saved);

/*
 * Fill the correlation and causation ids an envelope lacks from the
 * transaction's context.  Costs one test of a backend-local flag when there
 * is no context, which is what the send path sees almost always.
 */
#define CourierContextApply(env) \
	do { \
		if (courier_context_active) \
			CourierContextFill(env); \
	} while (0)

#endif							/* COURIER_CONTEXT_H */
