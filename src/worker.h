/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The background worker that runs courier.tick().
 *
 *-------------------------------------------------------------------------
 */
#ifndef COURIER_WORKER_H
#define COURIER_WORKER_H

extern char *courier_databases;
extern int	courier_tick_interval;

extern void CourierRegisterWorkers(void);
extern PGDLLEXPORT void courier_worker_main(Datum arg);

#endif							/* COURIER_WORKER_H */
