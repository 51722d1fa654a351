/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The background worker that runs courier.tick().
 *
 * With shared_preload_libraries = 'pg_courier', one worker per database
 * named in courier.databases calls courier.tick() every
 * courier.tick_interval, each call in its own transaction.  A database
 * without the extension (or with a version older than tick()) is simply
 * checked again next time, so the worker
 * never crash-loops and never holds a lock between ticks (DROP EXTENSION
 * waits at most for one tick).  An error is logged, the transaction is
 * rolled back, and the worker waits twice as long before the next try (up
 * to a minute) until a tick succeeds again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/snapmgr.h"
#include "utils/varlena.h"

#include "compat.h"
#include "worker.h"

char	   *courier_databases = NULL;
int			courier_tick_interval = 10000;	/* ms */

#define COURIER_MAX_BACKOFF_MS 60000

/* Deliveries one wake-up makes at most before it looks again. */
#define COURIER_WAKE_DELIVERIES 1000

/* One per worker: the database it serves and how to wake it. */
typedef struct CourierWorkerSlot
{
	Oid			dbid;			/* InvalidOid: no worker running */
	Latch	   *latch;
	pg_atomic_uint32 deliveries_pending;
} CourierWorkerSlot;

typedef struct CourierWorkerShared
{
	slock_t		mutex;			/* protects dbid and latch of every slot */
	CourierWorkerSlot slots[COURIER_MAX_WORKERS];
} CourierWorkerShared;

static CourierWorkerShared *worker_shared = NULL;
static int	my_slot = -1;

#ifdef COURIER_HAS_SHMEM_REQUEST_HOOK
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

#ifdef COURIER_HAS_SHMEM_REQUEST_HOOK
static void
WorkerShmemRequest(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(sizeof(CourierWorkerShared));
}
#endif

static void
WorkerShmemStartup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	worker_shared = ShmemInitStruct("pg_courier workers", sizeof(CourierWorkerShared), &found);
	if (!found)
	{
		int			i;

		SpinLockInit(&worker_shared->mutex);
		for (i = 0; i < COURIER_MAX_WORKERS; i++)
		{
			worker_shared->slots[i].dbid = InvalidOid;
			worker_shared->slots[i].latch = NULL;
			pg_atomic_init_u32(&worker_shared->slots[i].deliveries_pending, 0);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

void
CourierWorkerRequestShmem(void)
{
#ifdef COURIER_HAS_SHMEM_REQUEST_HOOK
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = WorkerShmemRequest;
#else
	RequestAddinShmemSpace(sizeof(CourierWorkerShared));
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = WorkerShmemStartup;
}

/*
 * Tell this database's worker that deliveries were committed.  Called at
 * commit: raises nothing, and does nothing without a worker.
 */
void
CourierWakeWorker(void)
{
	int			i;

	if (worker_shared == NULL)
		return;
	for (i = 0; i < COURIER_MAX_WORKERS; i++)
	{
		CourierWorkerSlot *slot = &worker_shared->slots[i];
		Latch	   *latch = NULL;

		SpinLockAcquire(&worker_shared->mutex);
		if (slot->dbid == MyDatabaseId)
			latch = slot->latch;
		SpinLockRelease(&worker_shared->mutex);
		if (latch != NULL)
		{
			pg_atomic_write_u32(&slot->deliveries_pending, 1);
			SetLatch(latch);
		}
	}
}

static void
LeaveSlot(int code pg_attribute_unused(), Datum arg pg_attribute_unused())
{
	if (worker_shared == NULL || my_slot < 0)
		return;
	SpinLockAcquire(&worker_shared->mutex);
	worker_shared->slots[my_slot].dbid = InvalidOid;
	worker_shared->slots[my_slot].latch = NULL;
	SpinLockRelease(&worker_shared->mutex);
}

/* Register one worker per database in courier.databases (postmaster only). */
void
CourierRegisterWorkers(void)
{
	char	   *raw;
	List	   *names;
	ListCell   *lc;

	if (courier_databases == NULL || courier_databases[0] == '\0')
		return;

	raw = pstrdup(courier_databases);
	if (!SplitIdentifierString(raw, ',', &names))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid list syntax in \"courier.databases\"")));

	if (list_length(names) > COURIER_MAX_WORKERS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("courier.databases names more than %d databases", COURIER_MAX_WORKERS)));
	foreach(lc, names)
	{
		const char *dbname = (const char *) lfirst(lc);
		BackgroundWorker worker;

		if (strlen(dbname) >= BGW_EXTRALEN)
			ereport(ERROR,
					(errcode(ERRCODE_NAME_TOO_LONG),
					 errmsg("database name \"%s\" in courier.databases is too long", dbname)));

		memset(&worker, 0, sizeof(worker));
		worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
		worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
		worker.bgw_restart_time = 10;
		strlcpy(worker.bgw_library_name, "pg_courier", BGW_MAXLEN);
		strlcpy(worker.bgw_function_name, "courier_worker_main", BGW_MAXLEN);
		snprintf(worker.bgw_name, BGW_MAXLEN, "pg_courier worker for %s", dbname);
		strlcpy(worker.bgw_type, "pg_courier worker", BGW_MAXLEN);
		strlcpy(worker.bgw_extra, dbname, BGW_EXTRALEN);
		worker.bgw_main_arg = Int32GetDatum(foreach_current_index(lc));
		RegisterBackgroundWorker(&worker);
	}
}

/*
 * Run one statement of pg_courier in its own transaction, when the function
 * it calls exists (not installed here, or an older version without it:
 * nothing to do).  false when it failed; *more (if given) is set when the
 * statement returned true.
 */
static bool
RunStatement(MemoryContext loop_context, const char *function, const char *sql, bool *more)
{
	volatile bool ok = true;
	char		probe[200];

	snprintf(probe, sizeof(probe),
			 "SELECT 1 WHERE pg_catalog.to_regprocedure('%s') IS NOT NULL", function);
	if (more)
		*more = false;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, sql);

	PG_TRY();
	{
		SPI_connect();
		if (SPI_execute(probe, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not look for %s", function);
		if (SPI_processed == 1)
		{
			if (SPI_execute(sql, false, 0) != SPI_OK_SELECT)
				elog(ERROR, "%s failed", sql);
			if (more && SPI_processed == 1 && SPI_tuptable->tupdesc->natts == 1 &&
				SPI_tuptable->tupdesc->attrs[0].atttypid == BOOLOID)
			{
				bool		isnull;
				Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

				*more = !isnull && DatumGetBool(d);
			}
		}
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		/* as an idle backend would: autovacuum must see the rows tick() removed */
		(void) pgstat_report_stat(true);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(loop_context);
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		ok = false;
	}
	PG_END_TRY();

	pgstat_report_activity(STATE_IDLE, NULL);
	return ok;
}

/* One tick; false when it failed. */
static bool
RunTick(MemoryContext loop_context)
{
	return RunStatement(loop_context, "courier.tick()", "SELECT courier.tick()", NULL);
}

/* The work that woke us; true when there may be more due. */
static bool
RunDeliveries(MemoryContext loop_context)
{
	bool		more;

	if (!RunStatement(loop_context, "courier._run_woken()", "SELECT courier._run_woken()", &more))
		return false;
	return more;
}

void
courier_worker_main(Datum arg)
{
	char		dbname[BGW_EXTRALEN];
	MemoryContext loop_context;
	long		backoff_ms = 0;
	TimestampTz last_tick;

	strlcpy(dbname, MyBgworkerEntry->bgw_extra, BGW_EXTRALEN);
	my_slot = DatumGetInt32(arg);

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(dbname, NULL, 0);
	pgstat_report_appname("pg_courier worker");
	if (worker_shared != NULL && my_slot >= 0 && my_slot < COURIER_MAX_WORKERS)
	{
		before_shmem_exit(LeaveSlot, (Datum) 0);
		SpinLockAcquire(&worker_shared->mutex);
		worker_shared->slots[my_slot].dbid = MyDatabaseId;
		worker_shared->slots[my_slot].latch = MyLatch;
		SpinLockRelease(&worker_shared->mutex);
	}
	else
		my_slot = -1;
	ereport(LOG, (errmsg("pg_courier worker started for database \"%s\"", dbname)));

	loop_context = AllocSetContextCreate(TopMemoryContext, "pg_courier worker",
										 ALLOCSET_DEFAULT_SIZES);

	/*
	 * The next tick is due an interval (or the backoff) after the last one
	 * ended, computed afresh on every pass so that a reload of
	 * courier.tick_interval applies at once.
	 */
	last_tick = GetCurrentTimestamp();
	for (;;)
	{
		long		sleep_ms;
		TimestampTz now = GetCurrentTimestamp();
		TimestampTz next_tick = TimestampTzPlusMilliseconds(last_tick,
															backoff_ms > 0 ? backoff_ms : courier_tick_interval);

		sleep_ms = now >= next_tick ? 0 :
			(long) ((next_tick - now + 999) / 1000);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sleep_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		MemoryContextSwitchTo(loop_context);
		if (my_slot >= 0 && backoff_ms == 0 &&
			pg_atomic_exchange_u32(&worker_shared->slots[my_slot].deliveries_pending, 0) != 0)
		{
			/* deliveries left over: look again at once */
			if (RunDeliveries(loop_context))
			{
				pg_atomic_write_u32(&worker_shared->slots[my_slot].deliveries_pending, 1);
				SetLatch(MyLatch);
			}
			MemoryContextReset(loop_context);
		}
		if (GetCurrentTimestamp() >=
			TimestampTzPlusMilliseconds(last_tick,
										backoff_ms > 0 ? backoff_ms : courier_tick_interval))
		{
			if (RunTick(loop_context))
				backoff_ms = 0;
			else
				backoff_ms = Min(Max(backoff_ms * 2, (long) courier_tick_interval),
								 COURIER_MAX_BACKOFF_MS);
			last_tick = GetCurrentTimestamp();
			MemoryContextReset(loop_context);
		}
	}
}
