/*
 * bus.c: work in progress; see sql/parts/80_buses.sql.
 */
#include "postgres.h"
#include "fmgr.h"

#include "bus.h"

PG_FUNCTION_INFO_V1(courier_lock_bus);
PG_FUNCTION_INFO_V1(courier_check_event_pattern);
PG_FUNCTION_INFO_V1(courier_put_events);
PG_FUNCTION_INFO_V1(courier_route_event);
PG_FUNCTION_INFO_V1(courier_forget_bus_stats);
PG_FUNCTION_INFO_V1(courier_rule_counts);
PG_FUNCTION_INFO_V1(courier_target_counts);

#define STUB(fn) Datum fn(PG_FUNCTION_ARGS) { elog(ERROR, #fn " is not built yet"); PG_RETURN_NULL(); }
STUB(courier_lock_bus)
STUB(courier_check_event_pattern)
STUB(courier_put_events)
STUB(courier_route_event)
STUB(courier_forget_bus_stats)
STUB(courier_rule_counts)
STUB(courier_target_counts)
