/*-------------------------------------------------------------------------
 *
 * wait.h
 *	  Long polling: wake receivers when a sender commits.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_WAIT_H
#define COURIER_WAIT_H

#include "postgres.h"

extern void CourierWaitRequestShmem(void);
extern bool CourierWaitAvailable(void);
extern uint32 CourierWaitSlot(text *queue_name);
extern uint64 CourierWaitGeneration(uint32 slot);
extern void CourierWaitNoteSend(text *queue_name);
extern void CourierWaitSleep(uint32 slot, uint64 seen, long timeout_ms);

#endif							/* COURIER_WAIT_H */
