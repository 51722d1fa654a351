/*-------------------------------------------------------------------------
 *
 * clock.h
 *	  The clock pg_courier measures leases, delays and retention with.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_CLOCK_H
#define COURIER_CLOCK_H

#include "datatype/timestamp.h"

/* Limits shared with the SQL-side checks (microseconds). */
#define COURIER_MAX_VISIBILITY	(INT64CONST(12) * USECS_PER_HOUR)
#define COURIER_MAX_DELAY		(INT64CONST(15) * USECS_PER_MINUTE)

extern TimestampTz CourierNow(void);
extern int64 CourierIntervalUsec(const Interval *span, const char *param);
extern int64 CourierDurationArg(const Interval *span, const char *param,
								int64 lo, int64 hi, const char *range_text);

#endif							/* COURIER_CLOCK_H */
