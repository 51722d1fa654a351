/*-------------------------------------------------------------------------
 *
 * bus.h
 *	  Event buses: put_events() routes events by rule to targets.
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_BUS_H
#define COURIER_BUS_H

#endif							/* COURIER_BUS_H */
