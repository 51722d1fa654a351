/*-------------------------------------------------------------------------
 *
 * clock.c
 *	  The clock every pg_courier function uses, and duration arguments.
 *
 * Time is the wall clock (clock_timestamp(), not the transaction start) plus
 * courier.clock_offset.  The offset is a superuser-only setting so that tests
 * can move time forward by minutes or days without sleeping, and so that a
 * session without that right cannot skew leases for everybody else.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/int.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "clock.h"
#include "pg_courier.h"

PG_FUNCTION_INFO_V1(courier_now);

TimestampTz
CourierNow(void)
{
	return GetCurrentTimestamp() + (int64) courier_clock_offset * USECS_PER_SEC;
}

/*
 * An interval as microseconds, with a month counted as 30 days (as interval
 * comparison does).  Intervals too large to express are out of range.
 */
int64
CourierIntervalUsec(const Interval *span, const char *param)
{
	int64		days;
	int64		usec;

	if (pg_mul_s64_overflow((int64) span->month, DAYS_PER_MONTH, &days) ||
		pg_add_s64_overflow(days, (int64) span->day, &days) ||
		pg_mul_s64_overflow(days, USECS_PER_DAY, &usec) ||
		pg_add_s64_overflow(usec, span->time, &usec))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is out of range", param)));
	return usec;
}

/*
 * A duration argument in microseconds, rejected unless lo <= value <= hi.
 * The message matches the SQL-side check in courier._check_duration().
 */
int64
CourierDurationArg(const Interval *span, const char *param,
				   int64 lo, int64 hi, const char *range_text)
{
	int64		usec = CourierIntervalUsec(span, param);

	if (usec < lo || usec > hi)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between %s", param, range_text),
				 errdetail("The value given was %s.",
						   DatumGetCString(DirectFunctionCall1(interval_out,
															   IntervalPGetDatum(span))))));
	return usec;
}

Datum
courier_now(PG_FUNCTION_ARGS)
{
	PG_RETURN_TIMESTAMPTZ(CourierNow());
}
