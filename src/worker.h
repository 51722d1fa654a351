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

/* Databases one server's workers can serve (courier.databases). */
#define COURIER_MAX_WORKERS 64

extern void CourierRegisterWorkers(void);
extern void CourierWorkerRequestShmem(void);
extern void CourierWakeWorker(void);
extern PGDLLEXPORT void courier_worker_main(Datum arg);

#endif							/* COURIER_WORKER_H */
