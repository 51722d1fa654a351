-- Periodic work: courier.tick(), called by the background worker or pg_cron.

-- Internal: remove up to max_rows expired messages of a standard queue, oldest
-- first.  Only the oldest max_rows messages (by id) are examined: one bounded
-- index scan per queue and tick.  (Not just the oldest one: send times are not
-- strictly in id order, for example after a clock step.)
CREATE FUNCTION courier._expire_standard(q courier.queues, now timestamptz, max_rows integer)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM courier.messages AS m
     WHERE m.queue_name = q.queue_name
       AND m.msg_id IN (SELECT o.msg_id
                          FROM (SELECT c.msg_id, c.sent_at
                                  FROM courier.messages AS c
                                 WHERE c.queue_name = q.queue_name
                                 ORDER BY c.msg_id
                                 LIMIT max_rows) AS o
                         WHERE o.sent_at <= now - q.retention)
       AND m.sent_at <= now - q.retention;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM courier._count_stats('queue', q.queue_name, 'expired', n);
    RETURN n;
END
$$;

-- Internal: remove expired messages of a FIFO queue group by group (each group
-- locked first, as every FIFO writer does); _collect_groups then removes the
-- groups this leaves empty.
CREATE FUNCTION courier._expire_fifo(q courier.queues, now timestamptz, max_rows integer)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    g record;
    n bigint := 0;
    k bigint;
BEGIN
    FOR g IN
        SELECT DISTINCT o.group_id
          FROM (SELECT c.group_id, c.sent_at
                  FROM courier.messages AS c
                 WHERE c.queue_name = q.queue_name
                 ORDER BY c.msg_id
                 LIMIT max_rows) AS o
         WHERE o.sent_at <= now - q.retention
    LOOP
        PERFORM 1 FROM courier.message_groups AS mg
         WHERE mg.queue_name = q.queue_name AND mg.group_id = g.group_id
           FOR UPDATE SKIP LOCKED;
        CONTINUE WHEN NOT FOUND;
        DELETE FROM courier.messages AS m
         WHERE m.queue_name = q.queue_name AND m.group_id = g.group_id
           AND m.sent_at <= now - q.retention;
        GET DIAGNOSTICS k = ROW_COUNT;
        n := n + k;
    END LOOP;
    PERFORM courier._count_stats('queue', q.queue_name, 'expired', n);
    RETURN n;
END
$$;

-- Internal: remove FIFO groups that hold no message: those a receive found
-- empty ('infinity') and ready ones (emptied by deletes or expiry), the
-- longest waiting first.  A group row is locked before the check, and the
-- check is a new statement, so it sees every message committed by a sender
-- that held the lock before us; a sender that comes after us waits and then
-- creates the group again.
CREATE FUNCTION courier._collect_groups(q courier.queues, now timestamptz, max_rows integer)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    g record;
    n bigint := 0;
BEGIN
    FOR g IN
        -- Only groups that look empty are locked: a group that holds
        -- messages is never kept from its receivers and senders.
        SELECT mg.group_id
          FROM courier.message_groups AS mg
         WHERE mg.queue_name = q.queue_name
           AND mg.group_id IN (
               SELECT c.group_id
                 FROM (SELECT g2.group_id
                         FROM courier.message_groups AS g2
                        WHERE g2.queue_name = q.queue_name
                          AND (g2.visible_at <= now OR g2.visible_at = 'infinity')
                        ORDER BY g2.visible_at
                        LIMIT max_rows) AS c
                WHERE NOT EXISTS (SELECT 1 FROM courier.messages AS m
                                   WHERE m.queue_name = q.queue_name
                                     AND m.group_id = c.group_id))
           FOR UPDATE SKIP LOCKED
    LOOP
        PERFORM 1 FROM courier.messages AS m
         WHERE m.queue_name = q.queue_name AND m.group_id = g.group_id
         LIMIT 1;
        IF NOT FOUND THEN
            DELETE FROM courier.message_groups AS mg
             WHERE mg.queue_name = q.queue_name AND mg.group_id = g.group_id;
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END
$$;

-- Make every backend forget where it last found the head of each queue
-- (courier.scan_hints, src/queue_head.c): the next receive of each backend
-- scans its queue from the oldest entry again.  tick() calls it, so a message
-- written to courier.messages outside the courier functions (which the hints
-- cannot see) is found again within one tick interval; call it after such a
-- write to have it found at once.
CREATE FUNCTION courier.reset_scan_hints()
RETURNS void
AS 'MODULE_PATHNAME', 'courier_reset_scan_hints'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.reset_scan_hints() IS
    'make every session forget its receive scan hints (see docs/design.md); tick() calls it';

CREATE FUNCTION courier.tick()
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    q courier.queues;
    ts timestamptz := courier.now();
    batch constant integer := 10000;
    expired bigint := 0;
    dedup_expired bigint := 0;
    groups_removed bigint := 0;
    k bigint;
BEGIN
    PERFORM courier.reset_scan_hints();
    FOR q IN SELECT * FROM courier.queues ORDER BY queue_name LOOP
        IF q.fifo THEN
            expired := expired + courier._expire_fifo(q, ts, batch);
            groups_removed := groups_removed + courier._collect_groups(q, ts, 1000);
            DELETE FROM courier.dedup AS d
             WHERE d.queue_name = q.queue_name AND d.expires_at <= ts;
            GET DIAGNOSTICS k = ROW_COUNT;
            dedup_expired := dedup_expired + k;
        ELSE
            expired := expired + courier._expire_standard(q, ts, batch);
        END IF;
    END LOOP;
    RETURN jsonb_build_object('expired_messages', expired,
                              'expired_dedup_ids', dedup_expired,
                              'empty_groups_removed', groups_removed)
           || courier._bus_tick(ts) || courier._workflow_tick(ts)
           || courier._outbox_tick(ts);
END
$$;
COMMENT ON FUNCTION courier.tick() IS
    'periodic maintenance (retention, dedup history, empty FIFO groups, bus deliveries, archives, replays, workflow executions, published outbox rows, expired idempotency keys); idempotent, safe to run concurrently';
