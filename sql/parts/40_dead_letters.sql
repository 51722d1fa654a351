-- Dead letters: a view DBAs can query, and redrive.

CREATE VIEW courier.dead_letters AS
SELECT m.queue_name              AS dead_letter_queue,
       m.source_queue,
       m.msg_id,
       m.origin_msg_id,
       m.last_error              AS error,
       m.source_receive_count    AS receive_count,
       m.source_sent_at          AS sent_at,
       m.source_first_received_at AS first_received_at,
       m.source_last_received_at AS last_received_at,
       m.dead_lettered_at,
       m.group_id,
       m.type,
       m.schema_version,
       m.correlation_id,
       m.tenant_id,
       m.headers,
       m.payload
  FROM courier.messages AS m
 WHERE m.dead_lettered_at IS NOT NULL
   -- a role bound to tenants sees theirs only (docs/security.md#tenants)
   AND ((SELECT courier._tenant_unbound())
        OR m.tenant_id = ANY ((SELECT courier._bound_tenants())::text[]));
COMMENT ON VIEW courier.dead_letters IS
    'messages moved to a dead-letter queue, with the evidence of why: source queue, deliveries, last error';

CREATE FUNCTION courier._redrive(
    dead_letter_queue   text,
    destination         text DEFAULT NULL,
    max_messages        integer DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'courier_redrive'
LANGUAGE C VOLATILE;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.redrive(
    dead_letter_queue   text,
    destination         text DEFAULT NULL,
    max_messages        integer DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.redrive(text, text, integer) IS
    'move up to max_messages dead letters back to their source queue (or to destination) as new messages; returns how many moved';

-- Internal: the committed totals of a queue since the server started,
-- counted in shared memory (src/operations.c); nulls when pg_courier is not
-- preloaded.
CREATE FUNCTION courier._queue_counts(
    queue_name              text,
    OUT sent_total          bigint,
    OUT received_total      bigint,
    OUT deleted_total       bigint,
    OUT dead_lettered_total bigint,
    OUT expired_total       bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'courier_queue_counts'
LANGUAGE C STRICT VOLATILE;

-- What each queue holds right now, for DBAs and for alarms: counted from the
-- messages table when read, so reading it costs a scan of each queue's
-- messages, never anything on the hot paths.  The *_total columns are
-- counters of committed work since the server started, kept in shared
-- memory (docs/operations.md#statistics).
CREATE VIEW courier.queue_stats AS
SELECT q.queue_name,
       q.fifo,
       coalesce(s.visible, 0) AS visible,
       coalesce(s.in_flight, 0) AS in_flight,
       coalesce(s.delayed, 0) AS delayed,
       coalesce(s.expired, 0) AS expired,
       s.oldest_sent_at,
       c.now OPERATOR(pg_catalog.-) s.oldest_sent_at AS oldest_age,
       s.max_receive_count_seen,
       coalesce(s.dead_letters_held, 0) AS dead_letters_held,
       q.dead_letter_queue,
       coalesce(d.dead_lettered, 0) AS dead_lettered,
       t.sent_total,
       t.received_total,
       t.deleted_total,
       t.dead_lettered_total,
       t.expired_total
  FROM courier.queues AS q
 CROSS JOIN (SELECT courier.now() AS now) AS c
 CROSS JOIN LATERAL (SELECT c.now OPERATOR(pg_catalog.-) q.retention AS cutoff) AS k
  LEFT JOIN LATERAL (
       SELECT count(*) FILTER (WHERE m.sent_at OPERATOR(pg_catalog.>) k.cutoff
                                 AND m.visible_at OPERATOR(pg_catalog.<=) c.now) AS visible,
              count(*) FILTER (WHERE m.sent_at OPERATOR(pg_catalog.>) k.cutoff
                                 AND m.visible_at OPERATOR(pg_catalog.>) c.now
                                 AND m.receive_count OPERATOR(pg_catalog.>) 0
                                 AND m.returned_at IS NULL) AS in_flight,
              count(*) FILTER (WHERE m.sent_at OPERATOR(pg_catalog.>) k.cutoff
                                 AND m.visible_at OPERATOR(pg_catalog.>) c.now
                                 AND (m.receive_count OPERATOR(pg_catalog.=) 0
                                      OR m.returned_at IS NOT NULL)) AS delayed,
              count(*) FILTER (WHERE m.sent_at OPERATOR(pg_catalog.<=) k.cutoff) AS expired,
              min(m.sent_at) AS oldest_sent_at,
              max(m.receive_count) AS max_receive_count_seen,
              count(*) FILTER (WHERE m.dead_lettered_at IS NOT NULL) AS dead_letters_held
         FROM courier.messages AS m
        WHERE m.queue_name OPERATOR(pg_catalog.=) q.queue_name) AS s ON true
  LEFT JOIN LATERAL (
       SELECT count(*) AS dead_lettered
         FROM courier.messages AS dl
        WHERE dl.queue_name OPERATOR(pg_catalog.=) q.dead_letter_queue
          AND dl.source_queue OPERATOR(pg_catalog.=) q.queue_name) AS d ON true
 CROSS JOIN LATERAL courier._queue_counts(q.queue_name) AS t;
COMMENT ON VIEW courier.queue_stats IS
    'per queue: visible, in flight, delayed and expired messages, the oldest message''s age, dead letters, and totals since the server started';
