/*-------------------------------------------------------------------------
 *
 * queue_head.c
 *	  Where the ready messages of a standard queue begin.
 *
 * receive() finds messages through messages_visible_idx (queue_name,
 * visible_at, msg_id), oldest first.  Every consumed message leaves dead
 * entries at the head of that range (the version it was sent as, and the
 * leased version), and until VACUUM removes them every receive walks over
 * them and visits their heap tuples.  While any session holds an old
 * snapshot, VACUUM can remove none of them, and the walk grows with every
 * message consumed: receive slows down without bound.
 *
 * The head hint removes that walk from the hot path.  Each backend keeps,
 * per queue, a key (visible_at, msg_id) before which every index entry
 * belongs to a row version whose deleting transaction has committed
 * (HEAPTUPLE_DEAD or HEAPTUPLE_RECENTLY_DEAD): no transaction can lease such
 * a version any more.  Before each lease statement the backend advances its
 * key over the entries that died since its last receive, so each dead entry
 * is walked once per backend instead of once per receive, and the lease
 * statement starts its scan at the key.  The walk stops at the first entry
 * whose tuple is live, being inserted, or being updated or deleted by a
 * transaction still running (a lease that may roll back).
 *
 * What the key must never pass is an entry that does not exist yet: a
 * message whose visible_at lies before the key, inserted (or updated) after
 * the walk went by.  Writers therefore mark themselves in shared memory
 * before they read the clock they compute visible_at from
 * (CourierWriteBegin), and the walk never goes past the earliest mark (nor
 * past the present).  Two orderings remain, for a writer whose clock reads
 * earlier than the walk's (courier.clock_offset < 0, or a clock stepped
 * back): the walker publishes the key it reached in shared memory and then
 * reads the marks again; the writer publishes its mark and then reads the
 * published key.  One of them sees the other (both use full barriers): the
 * walker then keeps its key below the writer's mark, or the writer bumps a
 * shared epoch, which makes every backend forget its keys.  A receive that
 * races with such a writer may not see that writer's message, as if the
 * message had committed a moment later; the next receive does.
 *
 * Writes that bypass the courier functions (an UPDATE or COPY on
 * courier.messages by hand, a data-only restore into a running server) set
 * no mark.  courier.reset_scan_hints(), which tick() calls, bumps the epoch,
 * so such a message is found again within one tick interval at worst; that
 * also bounds the cost of any mistake in the reasoning above to a delay.
 *
 * Without shared memory (pg_courier not in shared_preload_libraries) or
 * with courier.scan_hints off there are no keys and receive scans from the
 * start, as before.  FIFO queues take their messages group by group and do
 * not use keys.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/bufmgr.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "fmgr.h"

#include "clock.h"
#include "compat.h"
#include "queue_head.h"

/* Most dead entries one receive walks over before it uses what it has. */
#define COURIER_HEAD_MAX_WALK	10000

/*
 * A walk that finds fewer dead entries than this was hardly worth its fixed
 * cost (opening the relations, starting an index scan): the lease scans are
 * keeping the head clean themselves (they mark dead entries killed when no
 * snapshot needs them).  The backend then walks only every 2nd, 4th, ... up
 * to every COURIER_HEAD_MAX_SKIP-th receive of the queue, and every receive
 * again as soon as a walk finds a longer dead head.  Between walks the key
 * stays a valid start: the lease scans walk what died since.
 */
#define COURIER_HEAD_WORTH_WALK	16
#define COURIER_HEAD_MAX_SKIP	64

/* A queue name is at most 80 bytes (queues_name_check). */
#define COURIER_HEAD_KEYLEN		96

/* A write mark's value when the backend is not writing. */
#define COURIER_NOT_WRITING		((uint64) DT_NOEND)

bool		courier_scan_hints = true;

PG_FUNCTION_INFO_V1(courier_reset_scan_hints);

typedef struct CourierHeadShared
{
	pg_atomic_uint64 epoch;		/* bumped when every key must be forgotten */
	pg_atomic_uint64 max_key;	/* highest key visible_at published (int64) */
	int			nslots;
	pg_atomic_uint64 marks[FLEXIBLE_ARRAY_MEMBER];	/* per PGPROC, a TimestampTz */
} CourierHeadShared;

/* This backend's key for one queue. */
typedef struct CourierHeadKey
{
	char		queue_name[COURIER_HEAD_KEYLEN];	/* hash key */
	bool		valid;
	uint64		epoch;			/* the epoch the key was reached in */
	TimestampTz visible_at;
	int64		msg_id;
	int			every;			/* walk on every every-th receive ... */
	int			skip;			/* ... and this many receives until the next */
} CourierHeadKey;

/* Where courier.messages and its visibility index are; looked up once. */
typedef struct CourierHeadRels
{
	bool		valid;
	Oid			relid;
	Oid			indexid;
	AttrNumber	va_att;
	AttrNumber	id_att;
} CourierHeadRels;

static CourierHeadShared *head_shared = NULL;
static HTAB *head_keys = NULL;
static CourierHeadRels head_rels;
static bool relcache_callback_registered = false;
static int	write_depth = 0;
static bool write_marked = false;
static bool callback_registered = false;

#ifdef COURIER_HAS_SHMEM_REQUEST_HOOK
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static Size
CourierHeadShmemSize(void)
{
	return add_size(offsetof(CourierHeadShared, marks),
					mul_size(CourierTotalProcs(), sizeof(pg_atomic_uint64)));
}

static void
CourierHeadShmemStartup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	head_shared = ShmemInitStruct("pg_courier queue heads", CourierHeadShmemSize(), &found);
	if (!found)
	{
		int			i;

		pg_atomic_init_u64(&head_shared->epoch, 0);
		pg_atomic_init_u64(&head_shared->max_key, (uint64) DT_NOBEGIN);
		head_shared->nslots = CourierTotalProcs();
		for (i = 0; i < head_shared->nslots; i++)
			pg_atomic_init_u64(&head_shared->marks[i], COURIER_NOT_WRITING);
	}
	LWLockRelease(AddinShmemInitLock);
}

#ifdef COURIER_HAS_SHMEM_REQUEST_HOOK
static void
CourierHeadShmemRequest(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(CourierHeadShmemSize()));
}
#endif

/* Called from _PG_init while shared_preload_libraries is being processed. */
void
CourierHeadRequestShmem(void)
{
#ifdef COURIER_HAS_SHMEM_REQUEST_HOOK
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = CourierHeadShmemRequest;
#else
	RequestAddinShmemSpace(MAXALIGN(CourierHeadShmemSize()));
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = CourierHeadShmemStartup;
}

/* This backend's mark, or NULL when it has none (no shared memory). */
static pg_atomic_uint64 *
MyMark(void)
{
	int			procno;

	if (head_shared == NULL || MyProc == NULL)
		return NULL;
	procno = CourierMyProcNumber();
	if (procno < 0 || procno >= head_shared->nslots)
		return NULL;
	return &head_shared->marks[procno];
}

static void
ClearMark(void)
{
	pg_atomic_uint64 *mark = MyMark();

	if (write_marked && mark != NULL)
		pg_atomic_write_u64(mark, COURIER_NOT_WRITING);
	write_marked = false;
	write_depth = 0;
}

static void
CourierHeadXactCallback(XactEvent event, void *arg pg_attribute_unused())
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			if (write_depth > 0 || write_marked)
				ClearMark();
			break;
		default:
			break;
	}
}

TimestampTz
CourierWriteBegin(void)
{
	pg_atomic_uint64 *mark;
	TimestampTz now;

	if (write_depth++ > 0)
		return CourierNow();
	if (!callback_registered)
	{
		RegisterXactCallback(CourierHeadXactCallback, NULL);
		callback_registered = true;
	}
	mark = MyMark();
	if (mark == NULL)
	{
		/* a backend without a mark must make every key unusable */
		if (head_shared != NULL)
			pg_atomic_fetch_add_u64(&head_shared->epoch, 1);
		return CourierNow();
	}

	now = CourierNow();
	pg_atomic_write_u64(mark, (uint64) now);
	write_marked = true;
	pg_memory_barrier();
	if ((int64) pg_atomic_read_u64(&head_shared->max_key) >= now)
		pg_atomic_fetch_add_u64(&head_shared->epoch, 1);
	return now;
}

void
CourierWriteEnd(void)
{
	Assert(write_depth > 0);
	if (write_depth > 0 && --write_depth == 0)
		ClearMark();
}

/*
 * For the functions that insert messages: they must run inside a marked
 * write, or a concurrent receive could skip what they insert.
 */
void
CourierWriteCheck(void)
{
	if (write_depth <= 0)
		elog(ERROR, "pg_courier: message written outside CourierWriteBegin()");
}

/* The earliest mark of a backend writing now, or DT_NOEND. */
static TimestampTz
EarliestMark(void)
{
	TimestampTz earliest = DT_NOEND;
	int			i;

	for (i = 0; i < head_shared->nslots; i++)
	{
		TimestampTz m = (TimestampTz) pg_atomic_read_u64(&head_shared->marks[i]);

		if (m < earliest)
			earliest = m;
	}
	return earliest;
}

static void
PublishKey(TimestampTz visible_at)
{
	uint64		old = pg_atomic_read_u64(&head_shared->max_key);

	while ((int64) old < visible_at)
	{
		CHECK_FOR_INTERRUPTS();
		if (pg_atomic_compare_exchange_u64(&head_shared->max_key, &old, (uint64) visible_at))
			break;
	}
}

static CourierHeadKey *
KeyFor(text *queue_name)
{
	char		name[COURIER_HEAD_KEYLEN];
	int			len = VARSIZE_ANY_EXHDR(queue_name);
	bool		found;
	CourierHeadKey *key;

	if (len >= COURIER_HEAD_KEYLEN)
		return NULL;
	if (head_keys == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = COURIER_HEAD_KEYLEN;
		ctl.entrysize = sizeof(CourierHeadKey);
		ctl.hcxt = TopMemoryContext;
		head_keys = hash_create("pg_courier queue heads", 16, &ctl,
								HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	memset(name, 0, sizeof(name));
	memcpy(name, VARDATA_ANY(queue_name), len);
	key = hash_search(head_keys, name, HASH_ENTER, &found);
	if (!found)
	{
		key->valid = false;
		key->every = 1;
		key->skip = 0;
	}
	return key;
}

/* Forget the cached OIDs when courier.messages or its index changes. */
static void
HeadRelcacheCallback(Datum arg pg_attribute_unused(), Oid relid)
{
	if (!head_rels.valid || relid == InvalidOid ||
		relid == head_rels.relid || relid == head_rels.indexid)
		head_rels.valid = false;
}

/* courier.messages and messages_visible_idx, or false when not installed. */
static bool
LookupHeadRels(void)
{
	Oid			nsp;

	if (head_rels.valid)
		return true;
	if (!relcache_callback_registered)
	{
		CacheRegisterRelcacheCallback(HeadRelcacheCallback, (Datum) 0);
		relcache_callback_registered = true;
	}
	nsp = get_namespace_oid("courier", true);
	if (!OidIsValid(nsp))
		return false;
	head_rels.relid = get_relname_relid("messages", nsp);
	head_rels.indexid = get_relname_relid("messages_visible_idx", nsp);
	if (!OidIsValid(head_rels.relid) || !OidIsValid(head_rels.indexid))
		return false;
	head_rels.va_att = get_attnum(head_rels.relid, "visible_at");
	head_rels.id_att = get_attnum(head_rels.relid, "msg_id");
	if (head_rels.va_att == InvalidAttrNumber || head_rels.id_att == InvalidAttrNumber)
		return false;
	head_rels.valid = true;
	return true;
}

/*
 * Walk the entries of the queue from the key on, over those whose tuples
 * are dead, and leave the key at the first that is not (or on the last
 * one walked, when the walk stops at COURIER_HEAD_MAX_WALK or at the bound).
 */
static void
AdvanceKey(CourierHeadKey *key, text *queue_name)
{
	uint64		epoch = pg_atomic_read_u64(&head_shared->epoch);
	TimestampTz bound;
	AttrNumber	va_att;
	AttrNumber	id_att;
	Relation	heap;
	Relation	index;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	ScanKeyData skeys[3];
	int			nkeys = 0;
	int			walked = 0;
	bool		moved = false;
	bool		stopped = false;
	TimestampTz new_va = key->visible_at;
	int64		new_id = key->msg_id;
	TimestampTz earliest;

	if (key->valid && key->epoch != epoch)
		key->valid = false;
	if (!key->valid)
	{
		new_va = DT_NOBEGIN;
		new_id = PG_INT64_MIN;
		key->every = 1;
		key->skip = 0;
	}
	else if (key->skip > 0)
	{
		key->skip--;
		return;
	}

	/* never past the present, nor past a write in progress */
	bound = GetCurrentTimestamp();
	pg_memory_barrier();
	earliest = EarliestMark();
	if (earliest < bound)
		bound = earliest;
	if (new_va >= bound)
		return;

	if (!LookupHeadRels())
		return;
	va_att = head_rels.va_att;
	id_att = head_rels.id_att;
	heap = table_open(head_rels.relid, AccessShareLock);
	index = index_open(head_rels.indexid, AccessShareLock);

	ScanKeyEntryInitialize(&skeys[nkeys++], 0, 1, BTEqualStrategyNumber, InvalidOid,
						   C_COLLATION_OID, F_TEXTEQ, PointerGetDatum(queue_name));
	if (new_va != DT_NOBEGIN)
		ScanKeyEntryInitialize(&skeys[nkeys++], 0, 2, BTGreaterEqualStrategyNumber,
							   InvalidOid, InvalidOid, F_TIMESTAMPTZ_GE,
							   TimestampTzGetDatum(new_va));
	ScanKeyEntryInitialize(&skeys[nkeys++], 0, 2, BTLessStrategyNumber, InvalidOid,
						   InvalidOid, F_TIMESTAMPTZ_LT, TimestampTzGetDatum(bound));

	scan = CourierIndexBeginScan(heap, index, SnapshotAny, nkeys);
	index_rescan(scan, skeys, nkeys, NULL, 0);
	slot = table_slot_create(heap, NULL);

	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		BufferHeapTupleTableSlot *bslot = (BufferHeapTupleTableSlot *) slot;
		TimestampTz va;
		int64		id;
		bool		isnull;
		HTSV_Result state;
		TransactionId dead_after;

		CHECK_FOR_INTERRUPTS();
		va = DatumGetTimestampTz(slot_getattr(slot, va_att, &isnull));
		id = DatumGetInt64(slot_getattr(slot, id_att, &isnull));
		if (va == new_va && id < new_id)
			continue;			/* before the key: walked already */

		LockBuffer(bslot->buffer, BUFFER_LOCK_SHARE);
		state = HeapTupleSatisfiesVacuumHorizon(bslot->base.tuple, bslot->buffer, &dead_after);
		LockBuffer(bslot->buffer, BUFFER_LOCK_UNLOCK);

		if (state != HEAPTUPLE_DEAD && state != HEAPTUPLE_RECENTLY_DEAD)
		{
			new_va = va;
			new_id = id;
			stopped = true;
			break;
		}
		/*
		 * Dead for good: the key may move up to it, but not past it.  Another
		 * version of the same message can sit under the same key (a HOT
		 * successor of this tuple, or an update that kept visible_at), and
		 * the walk may only pass entries it has seen to be dead; the lease
		 * statement scans from the key inclusive and looks at this one entry
		 * again, which costs one tuple visit.
		 */
		new_va = va;
		new_id = id;
		moved = true;
		if (++walked >= COURIER_HEAD_MAX_WALK)
			break;
	}

	ExecDropSingleTupleTableSlot(slot);
	index_endscan(scan);
	index_close(index, AccessShareLock);
	table_close(heap, AccessShareLock);

	/* how soon to walk again (COURIER_HEAD_WORTH_WALK) */
	if (walked >= COURIER_HEAD_WORTH_WALK)
		key->every = 1;
	else if (key->every < COURIER_HEAD_MAX_SKIP)
		key->every *= 2;
	key->skip = key->every - 1;

	if (!moved && (key->valid || !stopped))
		return;					/* the key stays where it is */

	/* publish, then look again for writers the walk may have raced with */
	PublishKey(new_va);
	pg_memory_barrier();
	if (pg_atomic_read_u64(&head_shared->epoch) != epoch)
	{
		key->valid = false;
		return;
	}
	earliest = EarliestMark();
	if (earliest <= new_va)
	{
		new_va = earliest;
		new_id = PG_INT64_MIN;
	}
	key->valid = true;
	key->epoch = epoch;
	key->visible_at = new_va;
	key->msg_id = new_id;
}

bool
CourierHeadGet(text *queue_name, TimestampTz *visible_at, int64 *msg_id)
{
	CourierHeadKey *key;

	*visible_at = DT_NOBEGIN;
	*msg_id = PG_INT64_MIN;
	if (!courier_scan_hints || head_shared == NULL)
		return false;
	key = KeyFor(queue_name);
	if (key == NULL)
		return false;
	AdvanceKey(key, queue_name);
	if (!key->valid || key->epoch != pg_atomic_read_u64(&head_shared->epoch))
		return false;
	*visible_at = key->visible_at;
	*msg_id = key->msg_id;
	return true;
}

/*
 * courier.reset_scan_hints(): every backend forgets its keys (they are
 * checked against the epoch before each use).  Harmless at any time: the
 * next receive of each backend walks its queue from the oldest entry again.
 */
Datum
courier_reset_scan_hints(PG_FUNCTION_ARGS)
{
	if (head_shared != NULL)
		pg_atomic_fetch_add_u64(&head_shared->epoch, 1);
	PG_RETURN_VOID();
}
