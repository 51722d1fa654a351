/*-------------------------------------------------------------------------
 *
 * pg_courier.h
 *	  Settings and helpers shared by every pg_courier source file.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_COURIER_H
#define PG_COURIER_H

#include "postgres.h"
#include "fmgr.h"

/* courier.clock_offset, in seconds (see clock.c) */
extern int	courier_clock_offset;

/* courier.max_wait, in milliseconds (see queue_lease.c) */
extern int	courier_max_wait;

/*
 * Raise 22004 when argument argno is NULL.  Our SQL functions are not STRICT
 * on purpose: a NULL queue name or payload is a caller bug that must be
 * reported, not silently turned into a NULL result.
 */
#define CourierArgNotNull(fcinfo, argno, name) \
	do { \
		if (PG_ARGISNULL(argno)) \
			ereport(ERROR, \
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), \
					 errmsg("%s must not be null", (name)))); \
	} while (0)

#endif							/* PG_COURIER_H */
