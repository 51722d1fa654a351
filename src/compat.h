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
#include "utils/wait_event.h"

#if PG_VERSION_NUM < 140000
#error "pg_courier requires PostgreSQL 14 or later"
#endif

/* PostgreSQL 15 reserves a GUC prefix; 14 can only warn about placeholders. */
#if PG_VERSION_NUM >= 150000
#define CourierReserveGUCPrefix(prefix) MarkGUCPrefixReserved(prefix)
#else
#define CourierReserveGUCPrefix(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

/*
 * Shared memory is requested from shmem_request_hook since 15; before, from
 * _PG_init directly.
 */
#if PG_VERSION_NUM >= 150000
#define COURIER_HAS_SHMEM_REQUEST_HOOK 1
#endif

/*
 * The wait event a long-polling receive shows in pg_stat_activity: a named
 * one ("CourierReceive") from 17 on, the generic "Extension" before.
 */
#if PG_VERSION_NUM >= 170000
static inline uint32
CourierWaitEventReceive(void)
{
	static uint32 info = 0;

	if (info == 0)
		info = WaitEventExtensionNew("CourierReceive");
	return info;
}
#else
#define CourierWaitEventReceive() PG_WAIT_EXTENSION
#endif

/*
 * PGPROC slots a library may size per-process shared memory by, computed
 * from the settings (MaxBackends is not set yet when 14 loads libraries):
 * every backend and worker, the auxiliary processes, prepared transactions.
 * And this process's slot: MyProcNumber from 17 on, pgprocno before.
 */
#include "access/twophase.h"
#include "postmaster/autovacuum.h"
#include "replication/walsender.h"
#include "storage/proc.h"
#define CourierTotalProcs() \
	(MaxConnections + autovacuum_max_workers + 1 + max_worker_processes + \
	 max_wal_senders + NUM_AUXILIARY_PROCS + max_prepared_xacts)
#if PG_VERSION_NUM >= 170000
#define CourierMyProcNumber() ((int) MyProcNumber)
#else
#define CourierMyProcNumber() (MyProc->pgprocno)
#endif

/* This backend's local transaction id moved into PGPROC.vxid in 17. */
#if PG_VERSION_NUM >= 170000
#define CourierMyLocalXid() (MyProc->vxid.lxid)
#else
#define CourierMyLocalXid() (MyProc->lxid)
#endif

/* index_beginscan takes instrumentation from 18 on. */
#if PG_VERSION_NUM >= 180000
#define CourierIndexBeginScan(heap, index, snapshot, nkeys) \
	index_beginscan((heap), (index), (snapshot), NULL, (nkeys), 0)
#else
#define CourierIndexBeginScan(heap, index, snapshot, nkeys) \
	index_beginscan((heap), (index), (snapshot), (nkeys), 0)
#endif

/* ExecInsertIndexTuples takes onlySummarizing from 16 on. */
#include "executor/executor.h"
#if PG_VERSION_NUM >= 160000
#define CourierInsertIndexTuples(rri, slot, estate) \
	ExecInsertIndexTuples((rri), (slot), (estate), false, false, NULL, NIL, false)
#else
#define CourierInsertIndexTuples(rri, slot, estate) \
	ExecInsertIndexTuples((rri), (slot), (estate), false, false, NULL, NIL)
#endif

/*
 * table_tuple_update says which index entries the new row version needs:
 * all or none (a HOT update) before 16, and from 16 on also "only the
 * summarizing indexes' (BRIN's)", which ExecInsertIndexTuples takes as
 * onlySummarizing.
 */
#include "access/tableam.h"
#if PG_VERSION_NUM >= 160000
typedef TU_UpdateIndexes CourierUpdateIndexes;
#define CourierUpdateNeedsIndexes(u) ((u) != TU_None)
#define CourierUpdateIndexTuples(rri, slot, estate, u) \
	ExecInsertIndexTuples((rri), (slot), (estate), false, false, NULL, NIL, (u) == TU_Summarizing)
#else
typedef bool CourierUpdateIndexes;
#define CourierUpdateNeedsIndexes(u) (u)
#define CourierUpdateIndexTuples(rri, slot, estate, u) \
	ExecInsertIndexTuples((rri), (slot), (estate), false, false, NULL, NIL)
#endif

/* pg_proc_aclcheck became object_aclcheck in 16. */
#include "utils/acl.h"
#if PG_VERSION_NUM >= 160000
#include "catalog/pg_proc.h"
#define CourierProcAclCheck(fnoid, role, mode) \
	object_aclcheck(ProcedureRelationId, (fnoid), (role), (mode))
#else
#define CourierProcAclCheck(fnoid, role, mode) \
	pg_proc_aclcheck((fnoid), (role), (mode))
#endif

/* A uniform random double in [0, 1): pg_prng from 15 on. */
#if PG_VERSION_NUM >= 150000
#include "common/pg_prng.h"
#define CourierRandomDouble() pg_prng_double(&pg_global_prng_state)
#else
#define CourierRandomDouble() ((double) random() / ((double) MAX_RANDOM_VALUE + 1))
#endif

/*
 * DecodeDateTime reports the details of bad input through an extra argument
 * from 16 on; callers that only need to know whether it parsed ignore them.
 */
#include "utils/datetime.h"
#if PG_VERSION_NUM >= 160000
static inline int
CourierDecodeDateTime(char **field, int *ftype, int nf, int *dtype,
					  struct pg_tm *tm, fsec_t *fsec, int *tzp)
{
	DateTimeErrorExtra extra;

	return DecodeDateTime(field, ftype, nf, dtype, tm, fsec, tzp, &extra);
}
#else
#define CourierDecodeDateTime(field, ftype, nf, dtype, tm, fsec, tzp) \
	DecodeDateTime((field), (ftype), (nf), (dtype), (tm), (fsec), (tzp))
#endif

/*
 * pg_cryptohash_final takes the digest buffer's length from 15 on, and
 * SHA-1 is a cryptohash type from 15 on (States.Hash, asl_intrinsics.c).
 */
#include "common/cryptohash.h"
#if PG_VERSION_NUM >= 150000
#define CourierCryptohashFinal(ctx, dest, len) pg_cryptohash_final((ctx), (dest), (len))
#define COURIER_HAS_CRYPTOHASH_SHA1 1
#else
#define CourierCryptohashFinal(ctx, dest, len) pg_cryptohash_final((ctx), (dest))
#endif

/*
 * The JSON parser's semantic actions return an error code from 16 on (void
 * before); its lexer context is made from a caller's struct (or NULL) from
 * 17 on.  Actions are declared COURIER_JSON_ACTION and end with
 * COURIER_JSON_ACTION_DONE.
 */
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#if PG_VERSION_NUM >= 160000
#define COURIER_JSON_ACTION JsonParseErrorType
#define COURIER_JSON_ACTION_DONE return JSON_SUCCESS
#else
#define COURIER_JSON_ACTION void
#define COURIER_JSON_ACTION_DONE return
#endif
#if PG_VERSION_NUM >= 170000
#define CourierJsonLexContext(json, len) \
	makeJsonLexContextCstringLen(NULL, (json), (len), GetDatabaseEncoding(), true)
#else
#define CourierJsonLexContext(json, len) \
	makeJsonLexContextCstringLen((json), (len), GetDatabaseEncoding(), true)
#endif

#endif							/* COURIER_COMPAT_H */
