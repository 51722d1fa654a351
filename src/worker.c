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
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/varlena.h"

#include "compat.h"
#include "worker.h"

char	   *courier_databases = NULL;
int			courier_tick_interval = 10000;	/* ms */

#define COURIER_MAX_BACKOFF_MS 60000

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
		RegisterBackgroundWorker(&worker);
	}
}

/* One tick in its own transaction; false when it failed. */
static bool
RunTick(MemoryContext loop_context)
{
	volatile bool ok = true;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "SELECT courier.tick()");

	PG_TRY();
	{
		SPI_connect();
		/* Not installed here, or an old version without tick(): nothing to do. */
		if (SPI_execute("SELECT 1 WHERE pg_catalog.to_regprocedure('courier.tick()') IS NOT NULL",
						true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not look for courier.tick()");
		if (SPI_processed == 1 &&
			SPI_execute("SELECT courier.tick()", false, 0) != SPI_OK_SELECT)
			elog(ERROR, "courier.tick() failed");
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

void
courier_worker_main(Datum arg pg_attribute_unused())
{
	char		dbname[BGW_EXTRALEN];
	MemoryContext loop_context;
	long		backoff_ms = 0;

	strlcpy(dbname, MyBgworkerEntry->bgw_extra, BGW_EXTRALEN);

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(dbname, NULL, 0);
	pgstat_report_appname("pg_courier worker");
	ereport(LOG, (errmsg("pg_courier worker started for database \"%s\"", dbname)));

	loop_context = AllocSetContextCreate(TopMemoryContext, "pg_courier worker",
										 ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		long		sleep_ms = backoff_ms > 0 ? backoff_ms : courier_tick_interval;

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
		if (RunTick(loop_context))
			backoff_ms = 0;
		else
			backoff_ms = Min(Max(backoff_ms * 2, (long) courier_tick_interval),
							 COURIER_MAX_BACKOFF_MS);
		MemoryContextReset(loop_context);
	}
}
