-- The transactional outbox, idempotency keys and the correlation context.
-- emit_outbox() and the context are C (src/outbox.c, src/context.c); relays,
-- idempotency and trace() are PL/pgSQL: each is one or two set-based
-- statements, where the interpreter costs little next to the writes.
-- See docs/outbox.md, docs/idempotency.md and docs/correlation.md.

---------------------------------------------------------------------------
-- Outbox
---------------------------------------------------------------------------

CREATE SEQUENCE courier.outbox_id_seq AS bigint;

-- Outbox events.  The first five columns are the shape Debezium's outbox
-- event router reads (id, aggregatetype, aggregateid, type, payload), so a
-- CDC connector can read the table unchanged; the rest is our envelope and
-- the relays' bookkeeping:
--   aggregate_version  1, 2, 3 ... per aggregate, in commit order
--   status             pending, published (a relay acknowledged it) or
--                      skipped (an administrator did, skip_outbox)
--   attempts           how often a relay claimed it
--   last_error         what the last fail_outbox() said
CREATE TABLE courier.outbox (
    id                  bigint NOT NULL,
    aggregatetype       text COLLATE "C" NOT NULL,
    aggregateid         text COLLATE "C" NOT NULL,
    type                text NOT NULL,
    payload             jsonb NOT NULL,
    aggregate_version   bigint NOT NULL,
    created_at          timestamptz NOT NULL,
    occurred_at         timestamptz,
    published_at        timestamptz,
    last_failed_at      timestamptz,
    attempts            integer NOT NULL DEFAULT 0,
    schema_version      integer,
    status              text NOT NULL DEFAULT 'pending',
    correlation_id      text,
    causation_id        text,
    idempotency_key     text,
    tenant_id           text,
    published_by        text,
    last_error          text,
    headers             jsonb,
    CONSTRAINT outbox_pkey PRIMARY KEY (aggregatetype, aggregateid, aggregate_version),
    CONSTRAINT outbox_id_key UNIQUE (id),
    CONSTRAINT outbox_status_check
        CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'published', 'skipped']))
);
COMMENT ON TABLE courier.outbox IS
    'pg_courier outbox events (Debezium outbox shape plus envelope); read it freely, change it only through the courier functions';
-- tick() removes published rows after courier.outbox_retention.
CREATE INDEX outbox_published_idx ON courier.outbox (published_at) WHERE published_at IS NOT NULL;
CREATE INDEX outbox_correlation_idx ON courier.outbox (correlation_id) WHERE correlation_id IS NOT NULL;

-- One row per aggregate that ever emitted.  The row is the lock that orders
-- emitters (they upsert it) and relays (they claim it FOR UPDATE SKIP
-- LOCKED), and it holds the relay lease:
--   last_version       the version of its last event
--   published_version  every version up to this one is published (or has
--                      no row: wal and message modes)
--   pending            rows with status pending
--   ready_at           when relays may claim it: since it has had pending
--                      rows, or the end of a backoff after fail_outbox()
--   relay, lease_until the relay that holds it, and until when the lease
--                      runs; it holds it until another relay claims it
--                      after that, or it acknowledges all pending rows or
--                      fails one
CREATE TABLE courier.outbox_aggregates (
    last_version        bigint NOT NULL,
    published_version   bigint NOT NULL DEFAULT 0,
    pending             integer NOT NULL DEFAULT 0,
    ready_at            timestamptz NOT NULL,
    lease_until         timestamptz,
    claimed_at          timestamptz,
    aggregatetype       text COLLATE "C" NOT NULL,
    aggregateid         text COLLATE "C" NOT NULL,
    relay               text COLLATE "C",
    CONSTRAINT outbox_aggregates_pkey PRIMARY KEY (aggregatetype, aggregateid)
);
COMMENT ON TABLE courier.outbox_aggregates IS
    'pg_courier outbox aggregates: version counter, pending rows and the relay lease';
-- claim_outbox() takes the aggregates that have waited longest.
CREATE INDEX outbox_aggregates_ready_idx ON courier.outbox_aggregates (ready_at)
    WHERE pending OPERATOR(pg_catalog.>) 0;

SELECT pg_catalog.pg_extension_config_dump('courier.outbox', '');
SELECT pg_catalog.pg_extension_config_dump('courier.outbox_aggregates', '');
SELECT pg_catalog.pg_extension_config_dump('courier.outbox_id_seq', '');

CREATE FUNCTION courier.emit_outbox(
    aggregate_type  text,
    aggregate_id    text,
    event_type      text,
    payload         jsonb,
    headers         jsonb DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'courier_emit_outbox'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.emit_outbox(text, text, text, jsonb, jsonb) IS
    'emit an outbox event in the caller''s transaction (courier.outbox_mode: table, wal or message); returns its id';

-- Internal: a relay name is 1 to 128 printable ASCII characters (22004 / 22023).
CREATE FUNCTION courier._check_relay(relay text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM courier._require('relay', relay IS NULL);
    IF relay !~ '^[!-~]{1,128}$' THEN
        RAISE EXCEPTION 'invalid relay name "%"', relay
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A relay name has 1 to 128 letters, digits or ASCII punctuation, without spaces.';
    END IF;
END
$$;

-- Internal: the ids argument of ack_outbox, fail_outbox and skip_outbox.
CREATE FUNCTION courier._check_outbox_ids(ids bigint[])
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    missing bigint;
BEGIN
    PERFORM courier._require('ids', ids IS NULL);
    IF array_ndims(ids) > 1 THEN
        RAISE EXCEPTION 'ids must be a one-dimensional array' USING ERRCODE = 'array_subscript_error';
    END IF;
    IF array_position(ids, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'ids must not contain nulls'
            USING ERRCODE = 'null_value_not_allowed',
                  DETAIL = format('Element %s is null.', array_position(ids, NULL));
    END IF;
    SELECT u.id INTO missing
      FROM unnest(ids) AS u(id)
     WHERE NOT EXISTS (SELECT 1 FROM courier.outbox AS o WHERE o.id = u.id)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'outbox row % does not exist', missing
            USING ERRCODE = 'undefined_object',
                  HINT = 'Published rows are removed after courier.outbox_retention; wal and message modes keep none.';
    END IF;
END
$$;

-- Internal: lock the aggregates of the given outbox rows, in key order (two
-- calls over the same aggregates never deadlock), and check that relay holds
-- every one that still has one of the rows pending (55000 otherwise).  With
-- relay NULL (skip_outbox) only the locks are taken.
CREATE FUNCTION courier._lock_outbox_aggregates(relay text, ids bigint[], what text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bad record;
BEGIN
    PERFORM 1 FROM courier.outbox_aggregates AS a
     WHERE (a.aggregatetype, a.aggregateid) IN
           (SELECT o.aggregatetype, o.aggregateid FROM courier.outbox AS o WHERE o.id = ANY (ids))
     ORDER BY a.aggregatetype, a.aggregateid
       FOR UPDATE;
    IF relay IS NULL THEN
        RETURN;
    END IF;
    -- a new statement: sees what committed while we waited for the locks
    SELECT o.id, o.aggregatetype, o.aggregateid, a.relay AS holder, a.lease_until INTO bad
      FROM courier.outbox AS o
      JOIN courier.outbox_aggregates AS a
        ON a.aggregatetype = o.aggregatetype AND a.aggregateid = o.aggregateid
     WHERE o.id = ANY (ids) AND o.status = 'pending'
       AND a.relay IS DISTINCT FROM _lock_outbox_aggregates.relay
     ORDER BY o.id
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'relay "%" does not hold the lease of outbox row %', relay, bad.id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = CASE WHEN bad.holder IS NULL
                                THEN format('No relay holds aggregate %s/%s.', bad.aggregatetype, bad.aggregateid)
                                ELSE format('Relay "%s" holds aggregate %s/%s (lease until %s).',
                                            bad.holder, bad.aggregatetype, bad.aggregateid, bad.lease_until)
                           END,
                  HINT = format('Nothing was %s. Claim the rows again with courier.claim_outbox(); another relay may have published them.', what);
    END IF;
END
$$;

-- Internal: after rows of these aggregates stopped being pending, bring the
-- aggregates' counters up to date and release those with nothing pending.
CREATE FUNCTION courier._settle_outbox_aggregates(ids bigint[])
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE courier.outbox_aggregates AS a
       SET pending = s.pending,
           published_version = coalesce(s.first_pending - 1, a.last_version),
           relay = CASE WHEN s.pending = 0 THEN NULL ELSE a.relay END,
           lease_until = CASE WHEN s.pending = 0 THEN NULL ELSE a.lease_until END
      FROM (SELECT g.aggregatetype, g.aggregateid,
                   (SELECT count(*) FROM courier.outbox AS p
                     WHERE p.aggregatetype = g.aggregatetype AND p.aggregateid = g.aggregateid
                       AND p.aggregate_version > g.published_version AND p.status = 'pending') AS pending,
                   (SELECT min(p.aggregate_version) FROM courier.outbox AS p
                     WHERE p.aggregatetype = g.aggregatetype AND p.aggregateid = g.aggregateid
                       AND p.aggregate_version > g.published_version AND p.status = 'pending') AS first_pending
              FROM courier.outbox_aggregates AS g
             WHERE (g.aggregatetype, g.aggregateid) IN
                   (SELECT o.aggregatetype, o.aggregateid FROM courier.outbox AS o WHERE o.id = ANY (ids))) AS s
     WHERE a.aggregatetype = s.aggregatetype AND a.aggregateid = s.aggregateid
$$;

CREATE FUNCTION courier.claim_outbox(
    relay       text,
    max_rows    integer DEFAULT 100,
    lease       interval DEFAULT '30 seconds')
RETURNS SETOF courier.outbox
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ts timestamptz := courier.now();
BEGIN
    PERFORM courier._check_relay(relay);
    PERFORM courier._require('max_rows', max_rows IS NULL);
    PERFORM courier._require('lease', lease IS NULL);
    IF max_rows < 1 OR max_rows > 10000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 10000'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The value given was %s.', max_rows);
    END IF;
    PERFORM courier._check_duration('lease', lease, '1 second', '12 hours', '1 second and 12 hours');

    -- Aggregates with pending rows that nobody else holds (or whose lease
    -- ran out), longest waiting first; an aggregate another transaction has
    -- locked (an emitter, another relay claiming) is skipped, never waited
    -- for.  Of each, its first pending rows in version order.
    RETURN QUERY
    WITH candidates AS (
        SELECT a.aggregatetype, a.aggregateid, a.published_version, a.ready_at
          FROM courier.outbox_aggregates AS a
         WHERE a.pending > 0 AND a.ready_at <= ts
           AND (a.relay IS NULL OR a.relay = claim_outbox.relay OR a.lease_until <= ts)
         ORDER BY a.ready_at, a.aggregatetype, a.aggregateid
         LIMIT max_rows
           FOR UPDATE SKIP LOCKED
    ), picked AS (
        SELECT r.id, c.aggregatetype, c.aggregateid, r.aggregate_version,
               row_number() OVER (ORDER BY c.ready_at, c.aggregatetype, c.aggregateid,
                                           r.aggregate_version) AS ord
          FROM candidates AS c
         CROSS JOIN LATERAL (
               SELECT o.id, o.aggregate_version
                 FROM courier.outbox AS o
                WHERE o.aggregatetype = c.aggregatetype AND o.aggregateid = c.aggregateid
                  AND o.aggregate_version > c.published_version AND o.status = 'pending'
                ORDER BY o.aggregate_version
                LIMIT max_rows) AS r
         ORDER BY ord
         LIMIT max_rows
    ), leased AS (
        UPDATE courier.outbox_aggregates AS a
           SET relay = claim_outbox.relay, lease_until = ts + lease, claimed_at = ts
         WHERE (a.aggregatetype, a.aggregateid) IN (SELECT p.aggregatetype, p.aggregateid FROM picked AS p)
        RETURNING 1
    ), handed AS (
        UPDATE courier.outbox AS o
           SET attempts = o.attempts + 1
         WHERE o.id IN (SELECT p.id FROM picked AS p)
        RETURNING o.*
    )
    SELECT h.* FROM handed AS h JOIN picked AS p ON p.id = h.id ORDER BY p.ord;
END
$$;
COMMENT ON FUNCTION courier.claim_outbox(text, integer, interval) IS
    'lease aggregates with pending outbox rows to a relay and return their rows in per-aggregate order; an aggregate is held by one relay at a time';

CREATE FUNCTION courier.ack_outbox(relay text, ids bigint[])
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ts timestamptz := courier.now();
    bad record;
    n integer;
BEGIN
    PERFORM courier._check_relay(relay);
    PERFORM courier._check_outbox_ids(ids);
    PERFORM courier._lock_outbox_aggregates(relay, ids, 'acknowledged');
    -- Order: a row is published only after every earlier row of its aggregate.
    SELECT o.id, p.id AS before_id, p.aggregate_version INTO bad
      FROM courier.outbox AS o
      JOIN courier.outbox AS p
        ON p.aggregatetype = o.aggregatetype AND p.aggregateid = o.aggregateid
       AND p.aggregate_version < o.aggregate_version AND p.status = 'pending'
       AND p.id <> ALL (ids)
     WHERE o.id = ANY (ids) AND o.status = 'pending'
     ORDER BY o.id, p.aggregate_version
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'outbox row % cannot be acknowledged before row %', bad.id, bad.before_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('Row %s (version %s of the same aggregate) is still pending.',
                                  bad.before_id, bad.aggregate_version),
                  HINT = 'Publish and acknowledge an aggregate''s rows in aggregate_version order. Nothing was acknowledged.';
    END IF;
    -- Rows already published (a repeated ack) are left as they are.
    UPDATE courier.outbox AS o
       SET status = 'published', published_at = ts, published_by = ack_outbox.relay
     WHERE o.id = ANY (ids) AND o.status = 'pending';
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM courier._settle_outbox_aggregates(ids);
    END IF;
    RETURN n;
END
$$;
COMMENT ON FUNCTION courier.ack_outbox(text, bigint[]) IS
    'mark outbox rows the relay published; refused (55000) unless the relay holds their aggregates and they come in order; returns how many were pending';

CREATE FUNCTION courier.fail_outbox(relay text, ids bigint[], error text DEFAULT NULL)
RETURNS TABLE (id bigint, attempts integer, retry_at timestamptz)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ts timestamptz := courier.now();
    done bigint;
BEGIN
    PERFORM courier._check_relay(relay);
    PERFORM courier._check_outbox_ids(ids);
    PERFORM courier._lock_outbox_aggregates(relay, ids, 'failed');
    SELECT o.id INTO done FROM courier.outbox AS o
     WHERE o.id = ANY (ids) AND o.status <> 'pending' ORDER BY o.id LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'outbox row % is already published', done
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Nothing was failed.';
    END IF;
    UPDATE courier.outbox AS o
       SET last_error = fail_outbox.error, last_failed_at = ts
     WHERE o.id = ANY (ids);
    -- The aggregate waits before a relay may claim it again: 1 s after the
    -- first attempt, doubling up to 5 minutes, from its most tried row.
    UPDATE courier.outbox_aggregates AS a
       SET relay = NULL, lease_until = NULL,
           ready_at = ts + least(power(2, greatest(f.attempts, 1) - 1), 300) * interval '1 second'
      FROM (SELECT o.aggregatetype, o.aggregateid, max(o.attempts) AS attempts
              FROM courier.outbox AS o WHERE o.id = ANY (ids)
             GROUP BY o.aggregatetype, o.aggregateid) AS f
     WHERE a.aggregatetype = f.aggregatetype AND a.aggregateid = f.aggregateid;
    RETURN QUERY
    SELECT o.id, o.attempts, a.ready_at
      FROM courier.outbox AS o
      JOIN courier.outbox_aggregates AS a
        ON a.aggregatetype = o.aggregatetype AND a.aggregateid = o.aggregateid
     WHERE o.id = ANY (ids)
     ORDER BY o.id;
END
$$;
COMMENT ON FUNCTION courier.fail_outbox(text, bigint[], text) IS
    'record that the relay could not publish outbox rows: releases their aggregates for a retry after a backoff; returns each row''s attempts and when it may be claimed again';

CREATE FUNCTION courier.skip_outbox(ids bigint[], reason text)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ts timestamptz := courier.now();
    g record;
    n integer := 0;
BEGIN
    PERFORM courier._check_outbox_ids(ids);
    PERFORM courier._require('reason', reason IS NULL);
    PERFORM courier._lock_outbox_aggregates(NULL, ids, 'skipped');
    FOR g IN
        WITH s AS (
            UPDATE courier.outbox AS o
               SET status = 'skipped', published_at = ts, published_by = NULL,
                   last_error = coalesce(o.last_error, skip_outbox.reason)
             WHERE o.id = ANY (ids) AND o.status = 'pending'
            RETURNING o.aggregatetype, o.aggregateid, o.id, o.aggregate_version
        )
        SELECT s.aggregatetype, s.aggregateid, array_agg(s.id ORDER BY s.aggregate_version) AS skipped,
               array_agg(s.aggregate_version ORDER BY s.aggregate_version) AS versions
          FROM s GROUP BY s.aggregatetype, s.aggregateid ORDER BY 1, 2
    LOOP
        PERFORM courier._audit('skip_outbox', 'outbox_aggregate', g.aggregatetype || '/' || g.aggregateid,
                               jsonb_build_object('ids', to_jsonb(g.skipped), 'versions', to_jsonb(g.versions),
                                                  'reason', reason));
        n := n + cardinality(g.skipped);
    END LOOP;
    IF n > 0 THEN
        PERFORM courier._settle_outbox_aggregates(ids);
    END IF;
    RETURN n;
END
$$;
COMMENT ON FUNCTION courier.skip_outbox(bigint[], text) IS
    'administrator: give up on pending outbox rows (status skipped, audited) whatever relay holds them, so their aggregates move on; returns how many';

CREATE FUNCTION courier.purge_outbox(older_than interval DEFAULT '0')
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM courier._require('older_than', older_than IS NULL);
    IF older_than < interval '0' THEN
        RAISE EXCEPTION 'older_than must not be negative'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The value given was %s.', older_than);
    END IF;
    DELETE FROM courier.outbox AS o
     WHERE o.published_at IS NOT NULL AND o.published_at <= courier.now() - older_than;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM courier._audit('purge_outbox', 'outbox', 'courier.outbox',
                           jsonb_build_object('rows', n, 'older_than', older_than::text));
    RETURN n;
END
$$;
COMMENT ON FUNCTION courier.purge_outbox(interval) IS
    'administrator: delete published and skipped outbox rows older than older_than now (audited); pending rows are never touched; returns how many';

---------------------------------------------------------------------------
-- Idempotency keys
---------------------------------------------------------------------------

-- A key claimed in a scope, until it expires; result is what the first
-- processing stored for retries to return (idempotency_store).  Keys are
-- per tenant ('' for none): the same key of two tenants is two claims, and
-- no call of one tenant learns anything of the other's (docs/security.md).
CREATE TABLE courier.idempotency_keys (
    claimed_at          timestamptz NOT NULL,
    expires_at          timestamptz NOT NULL,
    stored_at           timestamptz,
    scope               text COLLATE "C" NOT NULL,
    tenant_id           text COLLATE "C" NOT NULL DEFAULT '',
    key                 text COLLATE "C" NOT NULL,
    result              jsonb,
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (scope, tenant_id, key)
);
COMMENT ON TABLE courier.idempotency_keys IS
    'pg_courier idempotency keys: claimed per scope until they expire, with the stored result';
CREATE INDEX idempotency_keys_expiry_idx ON courier.idempotency_keys (expires_at);
SELECT pg_catalog.pg_extension_config_dump('courier.idempotency_keys', '');

-- Internal: check a scope, key and ttl (22004 / 22023).
CREATE FUNCTION courier._check_idempotency_key(scope text, key text, ttl interval)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM courier._require('scope', scope IS NULL);
    PERFORM courier._require('key', key IS NULL);
    IF length(scope) NOT BETWEEN 1 AND 256 THEN
        RAISE EXCEPTION 'scope must have 1 to 256 characters'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The value given has %s characters.', length(scope));
    END IF;
    IF length(key) NOT BETWEEN 1 AND 1024 THEN
        RAISE EXCEPTION 'key must have 1 to 1024 characters'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The value given has %s characters.', length(key)),
                  HINT = 'Hash a longer key, for example with sha256().';
    END IF;
    IF ttl IS NOT NULL THEN
        PERFORM courier._check_duration('ttl', ttl, '1 second', '3650 days', '1 second and 3650 days');
    END IF;
END
$$;

-- Internal: the tenant a role's idempotency keys belong to: the one given,
-- which must be one of the role's tenants when it is bound to tenants
-- (src/grants.c), else its only tenant, else '' (none).
CREATE FUNCTION courier._tenant_for(tenant_id text)
RETURNS text
AS 'MODULE_PATHNAME', 'courier_tenant_for'
LANGUAGE C VOLATILE;

CREATE FUNCTION courier.idempotency_claim(scope text, key text, ttl interval DEFAULT '7 days',
                                          tenant_id text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ts timestamptz := courier.now();
    t text := courier._tenant_for(tenant_id);
BEGIN
    -- A hot path: the checks are plain expressions (no PERFORM of the
    -- shared checks, each of which would run a statement); the same rules
    -- and messages as courier._check_idempotency_key.
    IF scope IS NULL OR key IS NULL OR ttl IS NULL
       OR length(scope) NOT BETWEEN 1 AND 256 OR length(key) NOT BETWEEN 1 AND 1024
       OR ttl < interval '1 second' OR ttl > interval '3650 days' THEN
        PERFORM courier._require('ttl', ttl IS NULL);
        PERFORM courier._check_idempotency_key(scope, key, ttl);
    END IF;
    -- A concurrent claim of the same key waits here for the first one's
    -- transaction: false once it commits, true if it rolls back.  A claim
    -- that finds the key taken locks nothing, so duplicates never queue up
    -- behind each other.
    FOR attempt IN 1 .. 3 LOOP
        INSERT INTO courier.idempotency_keys AS k (claimed_at, expires_at, scope, tenant_id, key)
        VALUES (ts, ts + ttl, idempotency_claim.scope, t, idempotency_claim.key)
            ON CONFLICT ON CONSTRAINT idempotency_keys_pkey DO NOTHING;
        IF FOUND THEN
            RETURN true;
        END IF;
        -- taken: unless it expired and tick() has not removed it yet
        UPDATE courier.idempotency_keys AS k
           SET claimed_at = ts, expires_at = ts + ttl, stored_at = NULL, result = NULL
         WHERE k.scope = idempotency_claim.scope AND k.tenant_id = t
           AND k.key = idempotency_claim.key AND k.expires_at <= ts;
        IF FOUND THEN
            RETURN true;
        END IF;
        -- still there (and live): taken.  Gone: tick() removed it meanwhile.
        PERFORM 1 FROM courier.idempotency_keys AS k
         WHERE k.scope = idempotency_claim.scope AND k.tenant_id = t
           AND k.key = idempotency_claim.key;
        IF FOUND THEN
            RETURN false;
        END IF;
    END LOOP;
    RETURN false;
END
$$;
COMMENT ON FUNCTION courier.idempotency_claim(text, text, interval, text) IS
    'claim a key in a scope (and tenant) in the caller''s transaction: true the first time (released again if the transaction rolls back), false while it is claimed; expires after ttl';

CREATE FUNCTION courier.idempotency_store(scope text, key text, result jsonb,
                                          tenant_id text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ts timestamptz := courier.now();
    t text := courier._tenant_for(tenant_id);
BEGIN
    PERFORM courier._check_idempotency_key(scope, key, NULL);
    PERFORM courier._require('result', result IS NULL);
    UPDATE courier.idempotency_keys AS k
       SET result = idempotency_store.result, stored_at = ts
     WHERE k.scope = idempotency_store.scope AND k.tenant_id = t
       AND k.key = idempotency_store.key AND k.expires_at > ts;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'idempotency key "%" is not claimed in scope "%"', key, scope
            USING ERRCODE = 'undefined_object',
                  HINT = 'Claim it with courier.idempotency_claim() first, in the same transaction.';
    END IF;
END
$$;
COMMENT ON FUNCTION courier.idempotency_store(text, text, jsonb, text) IS
    'store the result of the processing a claimed key guards, for retries to read with idempotency_result()';

CREATE FUNCTION courier.idempotency_result(scope text, key text, tenant_id text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r jsonb;
    t text := courier._tenant_for(tenant_id);
BEGIN
    PERFORM courier._check_idempotency_key(scope, key, NULL);
    SELECT k.result INTO r FROM courier.idempotency_keys AS k
     WHERE k.scope = idempotency_result.scope AND k.tenant_id = t
       AND k.key = idempotency_result.key AND k.expires_at > courier.now();
    RETURN r;
END
$$;
COMMENT ON FUNCTION courier.idempotency_result(text, text, text) IS
    'the result stored for a claimed key, or NULL (not claimed, expired, or nothing stored)';

CREATE FUNCTION courier._delete_once(
    queue_name  text,
    receipt     text,
    scope       text DEFAULT NULL,
    ttl         interval DEFAULT '7 days')
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k text;
    t text;
BEGIN
    PERFORM courier._require('queue_name', queue_name IS NULL);
    PERFORM courier._require('receipt', receipt IS NULL);
    PERFORM courier._require('ttl', ttl IS NULL);
    IF scope IS NOT NULL THEN
        PERFORM courier._check_idempotency_key(scope, 'k', ttl);
    ELSE
        PERFORM courier._check_duration('ttl', ttl, '1 second', '3650 days', '1 second and 3650 days');
    END IF;
    -- the message's key, read before the delete takes the row away
    SELECT m.idempotency_key, m.tenant_id INTO k, t FROM courier.messages AS m
     WHERE m.queue_name = _delete_once.queue_name
       AND m.msg_id = CASE WHEN receipt ~ '^[0-9]{1,18}:' THEN split_part(receipt, ':', 1)::bigint END;
    IF NOT courier.delete(queue_name, receipt) THEN
        RETURN false;
    END IF;
    IF k IS NULL THEN
        RETURN true;
    END IF;
    -- the key is the message's, in the message's tenant
    RETURN courier.idempotency_claim(coalesce(scope, _delete_once.queue_name), k, ttl, t);
END
$$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.delete_once(
    queue_name  text,
    receipt     text,
    scope       text DEFAULT NULL,
    ttl         interval DEFAULT '7 days')
RETURNS boolean
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.delete_once(text, text, text, interval) IS
    'delete a received message and claim its idempotency key (scope: the queue) in one call: true when this transaction should apply the message''s effects, false for a duplicate or a receipt that no longer holds the message';

---------------------------------------------------------------------------
-- Correlation
---------------------------------------------------------------------------

CREATE FUNCTION courier.set_context(correlation_id text, causation_id text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_set_context'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.set_context(text, text) IS
    'set the correlation and causation ids what this transaction sends, publishes, puts, starts and emits inherits (NULL: inherit from the one received message)';

CREATE FUNCTION courier.current_context(OUT correlation_id text, OUT causation_id text)
RETURNS record
AS 'MODULE_PATHNAME', 'courier_current_context'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.current_context() IS
    'the correlation and causation ids a message sent now without those headers would carry';

CREATE FUNCTION courier.trace(correlation_id text)
RETURNS TABLE (at timestamptz, kind text, id text, object text, type text,
               causation_id text, details jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM courier._require('correlation_id', correlation_id IS NULL);
    RETURN QUERY
    WITH msgs AS (
        SELECT m.* FROM courier.messages AS m WHERE m.correlation_id = trace.correlation_id
    ), execs AS (
        SELECT e.* FROM courier.executions AS e WHERE e.correlation_id = trace.correlation_id
    ), items AS (
        -- messages; those a bus delivered name their event
        SELECT m.sent_at AS at,
               CASE WHEN m.source_queue IS NOT NULL THEN 'dead_letter'
                    WHEN m.headers ? 'bus' THEN 'delivery' ELSE 'message' END AS kind,
               m.msg_id::text AS id, m.queue_name::text AS object, m.type, m.causation_id,
               jsonb_strip_nulls(jsonb_build_object(
                   'receive_count', m.receive_count, 'group_id', m.group_id,
                   'idempotency_key', m.idempotency_key, 'source_queue', m.source_queue,
                   'last_error', m.last_error,
                   'event_id', CASE WHEN m.headers ? 'bus' THEN m.idempotency_key END)) AS details,
               1 AS rank
          FROM msgs AS m
        UNION ALL
        -- events, as the deliveries that are still there show them
        SELECT min(x.at), 'event', x.event_id, x.bus, min(x.type), min(x.causation_id), '{}'::jsonb, 0
          FROM (SELECT coalesce(m.occurred_at, m.sent_at) AS at, m.idempotency_key AS event_id,
                       m.headers->>'bus' AS bus, m.type, m.causation_id
                  FROM msgs AS m WHERE m.headers ? 'bus' AND m.idempotency_key IS NOT NULL
                UNION ALL
                SELECT d.ingested_at, d.event->>'id', d.bus_name::text, d.event->>'detail-type', d.causation_id
                  FROM courier.bus_deliveries AS d WHERE d.correlation_id = trace.correlation_id) AS x
         GROUP BY x.event_id, x.bus
        UNION ALL
        SELECT d.ingested_at, 'delivery', d.delivery_id::text,
               d.bus_name || '/' || d.rule_name || '/' || d.target_id, d.event->>'detail-type',
               d.causation_id,
               jsonb_build_object('event_id', d.event->>'id', 'attempts', d.attempts,
                                  'next_attempt_at', d.next_attempt_at), 1
          FROM courier.bus_deliveries AS d WHERE d.correlation_id = trace.correlation_id
        UNION ALL
        SELECT e.started_at, 'execution', e.execution_id::text, e.state_machine_name::text,
               e.status, e.causation_id,
               jsonb_strip_nulls(jsonb_build_object('execution_name', e.execution_name,
                                                    'current_state', e.current_state,
                                                    'stopped_at', e.stopped_at)), 2
          FROM execs AS e
        UNION ALL
        SELECT h."timestamp", 'execution_step', e.execution_id || ':' || h.event_id,
               e.state_machine_name::text, h.type, NULL::text, h.details, 3
          FROM execs AS e JOIN courier.execution_history AS h ON h.execution_id = e.execution_id
        UNION ALL
        SELECT o.created_at, 'outbox', o.id::text, o.aggregatetype || '/' || o.aggregateid,
               o.type, o.causation_id,
               jsonb_strip_nulls(jsonb_build_object('aggregate_version', o.aggregate_version,
                                                    'status', o.status, 'attempts', o.attempts,
                                                    'published_at', o.published_at)), 4
          FROM courier.outbox AS o WHERE o.correlation_id = trace.correlation_id
    )
    SELECT i.at, i.kind, i.id, i.object, i.type, i.causation_id, i.details
      FROM items AS i
     ORDER BY i.at, i.rank, i.kind, length(i.id), i.id;
END
$$;
COMMENT ON FUNCTION courier.trace(text) IS
    'everything of one flow still stored, in time order: messages, dead letters, events and deliveries, executions and their steps, outbox rows';

---------------------------------------------------------------------------
-- tick()
---------------------------------------------------------------------------

-- Internal: the outbox and idempotency part of tick(): published outbox
-- rows past courier.outbox_retention and expired idempotency keys, at most
-- 10000 of each per tick, oldest first; rows another transaction holds are
-- left for the next tick.
CREATE FUNCTION courier._outbox_tick(ts timestamptz)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    retention interval := coalesce(current_setting('courier.outbox_retention', true), '1 day')::interval;
    rows_removed bigint;
    keys_expired bigint;
BEGIN
    DELETE FROM courier.outbox AS o
     WHERE o.id IN (SELECT c.id FROM courier.outbox AS c
                     WHERE c.published_at IS NOT NULL AND c.published_at <= ts - retention
                     ORDER BY c.published_at
                     LIMIT 10000
                       FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS rows_removed = ROW_COUNT;
    DELETE FROM courier.idempotency_keys AS k
     WHERE (k.scope, k.tenant_id, k.key) IN (SELECT c.scope, c.tenant_id, c.key
                                   FROM courier.idempotency_keys AS c
                                 WHERE c.expires_at <= ts
                                 ORDER BY c.expires_at
                                 LIMIT 10000
                                   FOR UPDATE SKIP LOCKED)
       AND k.expires_at <= ts;
    GET DIAGNOSTICS keys_expired = ROW_COUNT;
    RETURN jsonb_build_object('outbox_rows_removed', rows_removed,
                              'expired_idempotency_keys', keys_expired);
END
$$;

-- courier.trace() finds a flow's messages by their correlation id.  Partial:
-- a message without one costs its insert only the predicate test.
CREATE INDEX messages_correlation_idx ON courier.messages (correlation_id)
    WHERE correlation_id IS NOT NULL;
