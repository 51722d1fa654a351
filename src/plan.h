/*-------------------------------------------------------------------------
 *
 * plan.h
 *	  Plans prepared once per backend, and set-returning plumbing.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_PLAN_H
#define COURIER_PLAN_H

#include "executor/spi.h"
#include "fmgr.h"
#include "utils/tuplestore.h"

extern SPIPlanPtr CourierPlan(SPIPlanPtr *cache, const char *sql,
							  int nargs, Oid *argtypes);
extern Tuplestorestate *CourierMaterialize(FunctionCallInfo fcinfo,
										   TupleDesc *tupdesc);

#endif							/* COURIER_PLAN_H */
