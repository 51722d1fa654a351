/*-------------------------------------------------------------------------
 *
 * outbox.h
 *	  The transactional outbox: events for systems outside the database.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_OUTBOX_H
#define COURIER_OUTBOX_H

/* courier.outbox_mode: where emit_outbox() puts an event */
typedef enum CourierOutboxMode
{
	COURIER_OUTBOX_TABLE,		/* a row in courier.outbox, for relays and CDC */
	COURIER_OUTBOX_WAL,			/* a row inserted and deleted at once: CDC only */
	COURIER_OUTBOX_MESSAGE		/* a transactional logical decoding message */
} CourierOutboxMode;

extern int	courier_outbox_mode;
extern int	courier_outbox_retention;

extern void CourierOutboxDefineSettings(void);

#endif							/* COURIER_OUTBOX_H */
