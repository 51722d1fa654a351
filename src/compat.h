/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  Every PostgreSQL-version difference pg_courier cares about, in one place.
 *
 * Supported: PostgreSQL 14 to 18.  Code elsewhere calls the names defined
 * here and never tests PG_VERSION_NUM itself.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_COMPAT_H
#define COURIER_COMPAT_H

#include "postgres.h"
#include "utils/guc.h"

#if PG_VERSION_NUM < 140000
#error "pg_courier requires PostgreSQL 14 or later"
#endif

/* PostgreSQL 15 reserves a GUC prefix; 14 can only warn about placeholders. */
#if PG_VERSION_NUM >= 150000
#define CourierReserveGUCPrefix(prefix) MarkGUCPrefixReserved(prefix)
#else
#define CourierReserveGUCPrefix(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

/* varatt.h was split out of postgres.h in 16; postgres.h still includes it. */

#endif							/* COURIER_COMPAT_H */
