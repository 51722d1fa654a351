/*-------------------------------------------------------------------------
 *
 * pg_courier.c
 *	  Module entry point: settings and the module magic.
 *
 * Vocabulary used across the sources:
 *	  queue     a named buffer of messages with attributes (courier.queues)
 *	  message   one payload + envelope in a queue (courier.messages)
 *	  lease     the exclusive right to process a message, taken by receive()
 *	            and ending at the message's visible_at
 *	  receipt   the text naming one lease; delete/change_visibility/release
 *	            act only through the receipt of the current lease
 *	  envelope  the typed fields every message carries (type, schema_version,
 *	            correlation_id, ...), filled from reserved header keys
 *
 * The library works with or without shared_preload_libraries.  Preloaded, it
 * also sets up the shared memory long polling wakes receivers through
 * (wait.c) and that holds statistics (stats.c), and starts the
 * background workers that run courier.tick() (worker.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "bus.h"
#include "compat.h"
#include "outbox.h"
#include "pg_courier.h"
#include "queue_defer.h"
#include "queue_head.h"
#include "stats.h"
#include "wait.h"
#include "worker.h"

PG_MODULE_MAGIC;

int			courier_clock_offset = 0;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomIntVariable("courier.clock_offset",
							"Shifts the clock pg_courier uses, for tests.",
							"Visibility timeouts, delays and retention are measured "
							"with clock_timestamp() plus this offset.  Only superusers "
							"may change it; leave it at 0 in production.",
							&courier_clock_offset,
							0,
							-INT_MAX, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("courier.max_wait",
							"Longest wait a receive() may ask for.",
							"A waiting receive holds its statement's snapshot, which "
							"keeps vacuum from removing rows deleted after it began.",
							&courier_max_wait,
							20000,
							0, 3600 * 1000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("courier.defer_leases",
							 "Lets receive() inside a transaction block write its leases at commit.",
							 "A message the transaction deletes before it commits then costs no "
							 "lease write at all (see docs/design.md).  Off: every receive "
							 "writes its leases at once.",
							 &courier_defer_leases,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("courier.scan_hints",
							 "Lets receive() start past the dead entries at the head of a queue.",
							 "Each backend remembers, per standard queue, where the entries "
							 "that can still be leased begin (see docs/design.md); needs "
							 "shared_preload_libraries = 'pg_courier'.  Off: every receive "
							 "scans from the oldest entry.",
							 &courier_scan_hints,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("courier.region",
							   "The region events put on a bus carry.",
							   "EventBridge fills an event's region field with the AWS region; "
							   "pg_courier with this setting.",
							   &courier_region,
							   "local",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("courier.max_rules_per_bus",
							"How many rules put_rule() lets a bus have.",
							"EventBridge's default quota is 300 rules per bus.",
							&courier_max_rules_per_bus,
							300, 1, 100000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("courier.tick_interval",
							"Time between two courier.tick() calls of the background worker.",
							NULL,
							&courier_tick_interval,
							10000,
							100, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	CourierOutboxDefineSettings();

	/*
	 * The rest needs the postmaster: shared memory for long polling, and the
	 * workers, whose databases a server-start setting names (defining such a
	 * setting later is an error, so it exists only when preloaded).
	 */
	if (!process_shared_preload_libraries_in_progress)
	{
		CourierReserveGUCPrefix("courier");
		return;
	}

	DefineCustomStringVariable("courier.databases",
							   "Databases whose courier.tick() the background worker runs.",
							   "A comma-separated list; one worker per database.  Needs "
							   "shared_preload_libraries = 'pg_courier'; empty: no worker.",
							   &courier_databases,
							   "postgres",
							   PGC_POSTMASTER,
							   0,
							   NULL, NULL, NULL);

	/* after every definition: reserving drops placeholders still undefined */
	CourierReserveGUCPrefix("courier");

	CourierWaitRequestShmem();
	CourierStatsRequestShmem();
	CourierWorkerRequestShmem();
	CourierHeadRequestShmem();
	if (!IsBinaryUpgrade)
		CourierRegisterWorkers();
}
