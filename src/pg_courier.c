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
 * The library works with or without shared_preload_libraries; preloading it
 * only makes its settings known before the first call.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "utils/guc.h"

#include "compat.h"
#include "pg_courier.h"

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

	CourierReserveGUCPrefix("courier");
}
