/*-------------------------------------------------------------------------
 *
 * grants.h
 *	  Per-object privileges (courier.grant) and tenant binding.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_GRANTS_H
#define COURIER_GRANTS_H

#include "postgres.h"
#include "nodes/pg_list.h"

#include "envelope.h"

/*
 * How a call acts on one object.  Without a matching courier grant it acts
 * as its caller, whose PostgreSQL privileges on the tables decide
 * (elevated = false).  With one, it acts as the extension's owner for the
 * duration of the call, and tenants (when not NIL) lists the tenant ids it
 * is restricted to.
 */
typedef struct CourierAccess
{
	bool		elevated;
	Oid			caller;
	List	   *tenants;		/* of char *; NIL: every tenant */
	bool		switched;
	Oid			saved_userid;
	int			saved_sec_context;
} CourierAccess;

extern void CourierAuthorize(const char *privilege, const char *kind,
							 const char *name, CourierAccess *acc);
extern void CourierAuthorizeText(const char *privilege, const char *kind,
								 text *name, CourierAccess *acc);
extern void CourierAccessBegin(CourierAccess *acc);
extern void CourierAccessEnd(CourierAccess *acc);

/* tenant-bound calls */
#define CourierTenantBound(acc) ((acc)->tenants != NIL)
extern bool CourierTenantAllowed(const CourierAccess *acc, text *tenant);
extern void CourierTenantApply(const CourierAccess *acc, CourierEnvelope *env,
							   const char *verb, const char *kind, text *name);
extern void CourierTenantNoFifo(const CourierAccess *acc, const char *verb,
								const char *kind, text *name);

/* whether the calling role is bound to tenants (row-level security) */
extern bool CourierRoleUnbound(Oid roleid);

#endif							/* COURIER_GRANTS_H */
