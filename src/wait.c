/*-------------------------------------------------------------------------
 *
 * wait.c
 *	  Long polling: wake receivers when a sender commits.
 *
 * Shared memory holds a fixed array of wait slots; a queue maps to a slot by
 * a hash of its name (two queues may share a slot: their waiters then wake
 * for each other's messages, look, and sleep again).  Each slot has a
 * condition variable and a generation counter.
 *
 * A sender only notes, in backend-local memory, which slots its transaction
 * touched.  One transaction callback per backend bumps those slots'
 * generations and broadcasts their condition variables at XACT_EVENT_COMMIT,
 * that is after the commit record is durable and the messages are visible:
 * a waiter woken before the commit would find nothing and sleep again.
 *
 * A waiter reads the generation before it looks for messages, and sleeps
 * only if the generation is unchanged when it goes to sleep, so a commit
 * that lands between the look and the sleep is never missed.
 *
 * Without shared_preload_libraries there is no shared memory; receive()
 * then polls with a growing interval (see queue_lease.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "port/pg_bitutils.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "compat.h"
#include "wait.h"

#define COURIER_WAIT_SLOTS 1024

typedef struct CourierWaitSlotData
{
	ConditionVariable cv;
	pg_atomic_uint64 generation;
} CourierWaitSlotData;

typedef struct CourierWaitShared
{
	CourierWaitSlotData slots[COURIER_WAIT_SLOTS];
} CourierWaitShared;

static CourierWaitShared *wait_shared = NULL;

/* Slots this backend's current transaction sent to. */
static uint64 pending_slots[COURIER_WAIT_SLOTS / 64];
static bool pending_any = false;
static bool callback_registered = false;

#ifdef COURIER_HAS_SHMEM_REQUEST_HOOK
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
CourierWaitShmemStartup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	wait_shared = ShmemInitStruct("pg_courier wait slots",
								  sizeof(CourierWaitShared), &found);
	if (!found)
	{
		int			i;

		for (i = 0; i < COURIER_WAIT_SLOTS; i++)
		{
			ConditionVariableInit(&wait_shared->slots[i].cv);
			pg_atomic_init_u64(&wait_shared->slots[i].generation, 0);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

#ifdef COURIER_HAS_SHMEM_REQUEST_HOOK
static void
CourierWaitShmemRequest(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(CourierWaitShared)));
}
#endif

/* Called from _PG_init while shared_preload_libraries is being processed. */
void
CourierWaitRequestShmem(void)
{
#ifdef COURIER_HAS_SHMEM_REQUEST_HOOK
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = CourierWaitShmemRequest;
#else
	RequestAddinShmemSpace(MAXALIGN(sizeof(CourierWaitShared)));
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = CourierWaitShmemStartup;
}

bool
CourierWaitAvailable(void)
{
	return wait_shared != NULL;
}

uint32
CourierWaitSlot(text *queue_name)
{
	return DatumGetUInt32(hash_any((const unsigned char *) VARDATA_ANY(queue_name),
								   VARSIZE_ANY_EXHDR(queue_name))) % COURIER_WAIT_SLOTS;
}

uint64
CourierWaitGeneration(uint32 slot)
{
	Assert(wait_shared != NULL);
	return pg_atomic_read_u64(&wait_shared->slots[slot].generation);
}

static void
CourierWaitXactCallback(XactEvent event, void *arg pg_attribute_unused())
{
	int			w;

	if (!pending_any)
		return;

	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			for (w = 0; w < COURIER_WAIT_SLOTS / 64; w++)
			{
				uint64		bits = pending_slots[w];

				while (bits != 0)
				{
					int			b = pg_rightmost_one_pos64(bits);
					CourierWaitSlotData *slot = &wait_shared->slots[w * 64 + b];

					pg_atomic_fetch_add_u64(&slot->generation, 1);
					ConditionVariableBroadcast(&slot->cv);
					bits &= bits - 1;
				}
			}
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/* a prepared transaction's waiters wake by their poll timeout */
			break;
		default:
			return;
	}
	memset(pending_slots, 0, sizeof(pending_slots));
	pending_any = false;
}

/* Remember that this transaction sent to queue_name; wake its waiters at commit. */
void
CourierWaitNoteSend(text *queue_name)
{
	uint32		slot;

	if (wait_shared == NULL)
		return;
	if (!callback_registered)
	{
		RegisterXactCallback(CourierWaitXactCallback, NULL);
		callback_registered = true;
	}
	slot = CourierWaitSlot(queue_name);
	pending_slots[slot / 64] |= UINT64CONST(1) << (slot % 64);
	pending_any = true;
}

/*
 * Sleep until a sender commits to this slot after generation `seen`, or
 * timeout_ms passes.  Interrupts (cancel, statement_timeout, termination)
 * are served while sleeping.
 */
void
CourierWaitSleep(uint32 slot, uint64 seen, long timeout_ms)
{
	CourierWaitSlotData *s = &wait_shared->slots[slot];

	ConditionVariablePrepareToSleep(&s->cv);
	if (pg_atomic_read_u64(&s->generation) == seen)
		(void) ConditionVariableTimedSleep(&s->cv, timeout_ms, CourierWaitEventReceive());
	ConditionVariableCancelSleep();
}
