/*-------------------------------------------------------------------------
 *
 * bus.h
 *	  Event buses: put_events() routes events by rule to targets.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_BUS_H
#define COURIER_BUS_H

/* courier.region: the region events carry */
extern char *courier_region;

/* courier.max_rules_per_bus */
extern int	courier_max_rules_per_bus;

#endif							/* COURIER_BUS_H */
