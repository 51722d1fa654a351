/*-------------------------------------------------------------------------
 *
 * stats.c
 *	  Counters of committed work per object, in shared memory.
 *
 * Vocabulary:
 *	  object    what is counted: a queue, a topic subscription, a bus rule, a
 *	            rule's target or a state machine, named by its kind and the
 *	            id of its row (for queues and state machines, which are keyed
 *	            by name, a 64-bit hash of the name: two names that collide
 *	            would share counters, which at 20,000 objects has a chance
 *	            of about 1 in 10^10)
 *	  counter   one of COURIER_STATS_NCOUNTERS numbers per object; the kind
 *	            says what each means (stats.h)
 *	  pending   what the current transaction counted, per object and
 *	            subtransaction level, in backend-local memory
 *
 * A call that does counted work only adds to its transaction's pending
 * counts; at commit they are added to a shared-memory hash with atomic adds
 * (under a shared LWLock, exclusive only to create or remove an entry), so
 * concurrent callers never wait on a row lock or write WAL for statistics.
 * Counts cover committed work since the server started; savepoints rolled
 * back discard their share, and a prepared transaction's work is not counted.
 * Without shared_preload_libraries there is no shared memory and no counts.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "common/hashfn.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/hsearch.h"

#include "compat.h"
#include "stats.h"

/* Ids are per database; shared memory serves all of them. */
typedef struct CourierStatsKey
{
	Oid			dbid;
	int32		kind;
	int64		id;
} CourierStatsKey;

typedef struct CourierSharedStats
{
	CourierStatsKey key;
	pg_atomic_uint64 counters[COURIER_STATS_NCOUNTERS];
} CourierSharedStats;

typedef struct CourierPendingKey
{
	int32		kind;
	int			nest_level;
	int64		id;
} CourierPendingKey;

typedef struct CourierPendingStats
{
	CourierPendingKey key;
	uint64		counters[COURIER_STATS_NCOUNTERS];
	bool		forget;			/* the object was removed */
} CourierPendingStats;

static HTAB *shared_stats = NULL;
static LWLock *shared_stats_lock = NULL;
static HTAB *pending_stats = NULL;
static bool pending_any = false;
/*
 * No pending entry is of a deeper subtransaction than this: the
 * subtransaction callback has nothing to do above it (a workflow's Task
 * state runs in a subtransaction of its own, and scanning the pending
 * counts at every one of them was a percent or two of a Task state).
 */
static int	pending_top_level = 0;
static bool callbacks_registered = false;

#ifdef COURIER_HAS_SHMEM_REQUEST_HOOK
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static Size
StatsShmemSize(void)
{
	return hash_estimate_size(COURIER_MAX_TRACKED_OBJECTS, sizeof(CourierSharedStats));
}

#ifdef COURIER_HAS_SHMEM_REQUEST_HOOK
static void
StatsShmemRequest(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(StatsShmemSize());
	RequestNamedLWLockTranche("pg_courier stats", 1);
}
#endif

static void
StatsShmemStartup(void)
{
	HASHCTL		info;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(CourierStatsKey);
	info.entrysize = sizeof(CourierSharedStats);
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared_stats_lock = &(GetNamedLWLockTranche("pg_courier stats"))->lock;
	shared_stats = ShmemInitHash("pg_courier object stats",
								 COURIER_MAX_TRACKED_OBJECTS,
								 COURIER_MAX_TRACKED_OBJECTS,
								 &info, HASH_ELEM | HASH_BLOBS);
	LWLockRelease(AddinShmemInitLock);
}

void
CourierStatsRequestShmem(void)
{
#ifdef COURIER_HAS_SHMEM_REQUEST_HOOK
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = StatsShmemRequest;
#else
	RequestAddinShmemSpace(StatsShmemSize());
	RequestNamedLWLockTranche("pg_courier stats", 1);
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = StatsShmemStartup;
}

static void
SharedKey(CourierStatsKey *key, int32 kind, int64 id)
{
	memset(key, 0, sizeof(*key));
	key->dbid = MyDatabaseId;
	key->kind = kind;
	key->id = id;
}

/*
 * Add a committed transaction's counts to shared memory, and forget the
 * objects it removed.  Runs in the commit callback: nothing here may raise
 * an error, so a full table just leaves new entries uncounted.
 */
static void
FlushPendingStats(void)
{
	HASH_SEQ_STATUS seq;
	CourierPendingStats *p;
	CourierStatsKey key;
	int			i;

	hash_seq_init(&seq, pending_stats);
	while ((p = hash_seq_search(&seq)) != NULL)
	{
		CourierSharedStats *s;
		bool		found;
		bool		any = false;

		for (i = 0; i < COURIER_STATS_NCOUNTERS; i++)
			any |= p->counters[i] != 0;
		if (p->forget || !any)
			continue;
		SharedKey(&key, p->key.kind, p->key.id);
		LWLockAcquire(shared_stats_lock, LW_SHARED);
		s = hash_search(shared_stats, &key, HASH_FIND, NULL);
		if (s == NULL)
		{
			LWLockRelease(shared_stats_lock);
			LWLockAcquire(shared_stats_lock, LW_EXCLUSIVE);
			s = hash_search(shared_stats, &key, HASH_ENTER_NULL, &found);
			if (s != NULL && !found)
				for (i = 0; i < COURIER_STATS_NCOUNTERS; i++)
					pg_atomic_init_u64(&s->counters[i], 0);
		}
		if (s != NULL)
			for (i = 0; i < COURIER_STATS_NCOUNTERS; i++)
				if (p->counters[i] != 0)
					pg_atomic_fetch_add_u64(&s->counters[i], p->counters[i]);
		LWLockRelease(shared_stats_lock);
	}

	hash_seq_init(&seq, pending_stats);
	while ((p = hash_seq_search(&seq)) != NULL)
	{
		if (!p->forget)
			continue;
		SharedKey(&key, p->key.kind, p->key.id);
		LWLockAcquire(shared_stats_lock, LW_EXCLUSIVE);
		hash_search(shared_stats, &key, HASH_REMOVE, NULL);
		LWLockRelease(shared_stats_lock);
	}
}

static void
ClearPendingStats(void)
{
	HASH_SEQ_STATUS seq;
	CourierPendingStats *p;

	hash_seq_init(&seq, pending_stats);
	while ((p = hash_seq_search(&seq)) != NULL)
		hash_search(pending_stats, &p->key, HASH_REMOVE, NULL);
	pending_any = false;
	pending_top_level = 0;
}

static void
StatsXactCallback(XactEvent event, void *arg pg_attribute_unused())
{
	if (!pending_any)
		return;
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (shared_stats != NULL)
				FlushPendingStats();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			break;
		default:
			return;
	}
	ClearPendingStats();
}

/*
 * A subtransaction that aborts takes its counts with it; one that commits
 * hands them to its parent.
 */
static void
StatsSubXactCallback(SubXactEvent event, SubTransactionId mySubid pg_attribute_unused(),
					 SubTransactionId parentSubid pg_attribute_unused(),
					 void *arg pg_attribute_unused())
{
	int			level = GetCurrentTransactionNestLevel();
	HASH_SEQ_STATUS seq;
	CourierPendingStats *p;

	if (!pending_any || level > pending_top_level ||
		(event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB))
		return;
	pending_top_level = level - 1;	/* what is at this level goes, or moves up */

	hash_seq_init(&seq, pending_stats);
	while ((p = hash_seq_search(&seq)) != NULL)
	{
		CourierPendingStats saved;
		CourierPendingStats *parent;
		bool		found;
		int			i;

		if (p->key.nest_level < level)
			continue;
		saved = *p;
		/* removing the entry just returned is allowed during a scan */
		hash_search(pending_stats, &p->key, HASH_REMOVE, NULL);
		if (event == SUBXACT_EVENT_ABORT_SUB)
			continue;
		saved.key.nest_level = level - 1;
		parent = hash_search(pending_stats, &saved.key, HASH_ENTER, &found);
		if (!found)
		{
			memset(parent->counters, 0, sizeof(parent->counters));
			parent->forget = false;
		}
		for (i = 0; i < COURIER_STATS_NCOUNTERS; i++)
			parent->counters[i] += saved.counters[i];
		parent->forget |= saved.forget;
	}
}

static CourierPendingStats *
PendingStats(CourierStatsKind kind, int64 id)
{
	CourierPendingKey key;
	CourierPendingStats *p;
	bool		found;

	if (pending_stats == NULL)
	{
		HASHCTL		info;

		memset(&info, 0, sizeof(info));
		info.keysize = sizeof(CourierPendingKey);
		info.entrysize = sizeof(CourierPendingStats);
		pending_stats = hash_create("pg_courier pending stats", 64,
									&info, HASH_ELEM | HASH_BLOBS);
	}
	if (!callbacks_registered)
	{
		RegisterXactCallback(StatsXactCallback, NULL);
		RegisterSubXactCallback(StatsSubXactCallback, NULL);
		callbacks_registered = true;
	}
	memset(&key, 0, sizeof(key));
	key.kind = kind;
	key.id = id;
	key.nest_level = GetCurrentTransactionNestLevel();
	p = hash_search(pending_stats, &key, HASH_ENTER, &found);
	if (!found)
	{
		memset(p->counters, 0, sizeof(p->counters));
		p->forget = false;
	}
	pending_any = true;
	pending_top_level = Max(pending_top_level, key.nest_level);
	return p;
}

void
CourierStatsAdd(CourierStatsKind kind, int64 id, int counter, uint64 n)
{
	Assert(counter >= 0 && counter < COURIER_STATS_NCOUNTERS);
	PendingStats(kind, id)->counters[counter] += n;
}

void
CourierStatsForget(CourierStatsKind kind, int64 id)
{
	PendingStats(kind, id)->forget = true;
}

bool
CourierStatsRead(CourierStatsKind kind, int64 id, uint64 *counters)
{
	CourierStatsKey key;
	CourierSharedStats *s;
	int			i;

	memset(counters, 0, sizeof(uint64) * COURIER_STATS_NCOUNTERS);
	if (shared_stats == NULL)
		return false;
	SharedKey(&key, kind, id);
	LWLockAcquire(shared_stats_lock, LW_SHARED);
	s = hash_search(shared_stats, &key, HASH_FIND, NULL);
	if (s != NULL)
		for (i = 0; i < COURIER_STATS_NCOUNTERS; i++)
			counters[i] = pg_atomic_read_u64(&s->counters[i]);
	LWLockRelease(shared_stats_lock);
	return true;
}

int64
CourierStatsNameId(const char *name, int len)
{
	return (int64) hash_bytes_extended((const unsigned char *) name, len, 0);
}

int
CourierStatsExecutionCounter(const char *status)
{
	if (strcmp(status, "SUCCEEDED") == 0)
		return COURIER_EXEC_SUCCEEDED;
	if (strcmp(status, "TIMED_OUT") == 0)
		return COURIER_EXEC_TIMED_OUT;
	if (strcmp(status, "ABORTED") == 0)
		return COURIER_EXEC_ABORTED;
	return COURIER_EXEC_FAILED;
}
