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

#endif							/* COURIER_BUS_H */
