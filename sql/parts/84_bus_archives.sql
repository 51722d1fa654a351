-- Bus archives and replays (EventBridge).  See docs/archives.md.
--
-- Vocabulary:
--   archive     a named store of the events entering one bus that match its
--               pattern (every event when it has none), courier.archives
--   partition   the archived events of one archive and one UTC day (days
--               since 1970-01-01 of archived_at), a table of its own named
--               courier.archived_events_<archive_id>_<day>, created on demand
--               by the first event of that day; retention drops partitions
--               whole, never rows
--   replay      the re-sending of an archive's events whose event time lies in
--               [event_start_time, event_end_time) to the rules of its bus,
--               in batches run by tick(), with "replay-name" added to each
--   cursor      (event_last_replayed_time, last_event_id): the last event a
--               replay re-sent; the next batch starts after it, in
--               (event_time, event_id) order
--
-- Partition DDL needs the ownership of courier.archived_events, which the
-- roles that put events, administer archives or run tick() do not have: three
-- small SECURITY DEFINER helpers (_create_archive_partition,
-- _drop_archive_partitions, _archive_partition_maintenance) do that DDL and
-- nothing else.  Everything else runs with the caller's privileges.

-- Replays: one row per replay, kept after it ended (the name stays taken
-- until delete_replay() forgets it).
-- archive_id, archive_name and bus_name are copies, not foreign keys: a
-- replay outlives its archive, and one whose archive is gone fails.
CREATE TABLE courier.bus_replays (
    archive_id                  bigint NOT NULL,
    event_start_time            timestamptz NOT NULL,
    event_end_time              timestamptz NOT NULL,
    created_at                  timestamptz NOT NULL,
    replay_start_time           timestamptz,
    replay_end_time             timestamptz,
    event_last_replayed_time    timestamptz,
    events_replayed             bigint NOT NULL DEFAULT 0,
    deliveries                  bigint NOT NULL DEFAULT 0,
    dry_run                     boolean NOT NULL,
    last_event_id               uuid,
    started_by                  name NOT NULL,
    replay_name                 text COLLATE "C" NOT NULL,
    archive_name                text COLLATE "C" NOT NULL,
    bus_name                    text COLLATE "C" NOT NULL,
    state                       text NOT NULL,
    state_reason                text,
    rules                       text[] COLLATE "C",
    CONSTRAINT bus_replays_pkey PRIMARY KEY (replay_name),
    CONSTRAINT bus_replays_name_check
        CHECK (replay_name OPERATOR(pg_catalog.~) '^[A-Za-z0-9._-]+$'
               AND pg_catalog.length(replay_name) OPERATOR(pg_catalog.<=) 64),
    CONSTRAINT bus_replays_state_check
        CHECK (state OPERATOR(pg_catalog.=) ANY (ARRAY['STARTING', 'RUNNING', 'CANCELLING',
                                                       'COMPLETED', 'CANCELLED', 'FAILED'])),
    CONSTRAINT bus_replays_time_check
        CHECK (event_start_time OPERATOR(pg_catalog.<) event_end_time)
);
COMMENT ON TABLE courier.bus_replays IS
    'pg_courier replays of archived events: state, range, rules, progress (see the view courier.replays)';
-- tick() looks for the replays that are not over; delete_archive() for those
-- of one archive.
CREATE INDEX bus_replays_active_idx ON courier.bus_replays (archive_id)
    WHERE state OPERATOR(pg_catalog.=) ANY (ARRAY['STARTING', 'RUNNING', 'CANCELLING']);

SELECT pg_catalog.pg_extension_config_dump('courier.bus_replays', '');

CREATE VIEW courier.replays AS
SELECT r.replay_name, r.archive_name, r.bus_name, r.state, r.state_reason,
       r.event_start_time, r.event_end_time, r.rules, r.dry_run,
       r.events_replayed, r.deliveries, r.event_last_replayed_time,
       r.started_by, r.created_at, r.replay_start_time, r.replay_end_time
  FROM courier.bus_replays AS r;
COMMENT ON VIEW courier.replays IS
    'replays of archived events: state (STARTING, RUNNING, CANCELLING, COMPLETED, CANCELLED, FAILED) and progress';

-- Internal: the partitions of archived_events (of one archive, or of all
-- when archive_id is null), read from their names.
CREATE FUNCTION courier._archive_partitions(archive_id bigint)
RETURNS TABLE (archive_id bigint, archived_day integer, partition_name text, relid oid)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p.parts[1]::bigint, p.parts[2]::integer, p.relname::text, p.oid
      FROM (SELECT c.oid, c.relname,
                   regexp_match(c.relname::text, '^archived_events_([0-9]+)_([0-9]+)$') AS parts
              FROM pg_catalog.pg_inherits AS i
              JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'courier.archived_events'::regclass) AS p
     WHERE p.parts IS NOT NULL
       AND (_archive_partitions.archive_id IS NULL
            OR p.parts[1]::bigint = _archive_partitions.archive_id)
$$;

-- Internal: the UTC day (days since 1970-01-01) of a timestamp.
CREATE FUNCTION courier._archive_day(ts timestamptz)
RETURNS integer
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$ SELECT floor(extract(epoch FROM ts) / 86400)::integer $$;

-- Internal: create the partition of an archive for a day, unless it exists.
-- false when the archive does not exist (it was deleted meanwhile): nothing
-- is then archived.  SECURITY DEFINER: the caller (put_events) need not own
-- courier.archived_events.  The archive row is locked FOR KEY SHARE, so a
-- concurrent delete_archive() waits for this transaction.
CREATE FUNCTION courier._create_archive_partition(archive_id bigint, day integer)
RETURNS boolean
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    part text := format('archived_events_%s_%s', archive_id, day);
BEGIN
    PERFORM 1 FROM courier.archives AS a
     WHERE a.archive_id = _create_archive_partition.archive_id FOR KEY SHARE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF to_regclass(format('courier.%I', part)) IS NOT NULL THEN
        RETURN true;
    END IF;
    BEGIN
        -- Locks courier.archived_events in ACCESS EXCLUSIVE mode until commit.
        EXECUTE format('CREATE TABLE courier.%I PARTITION OF courier.archived_events '
                       'FOR VALUES FROM (%s, %s) TO (%s, %s)',
                       part, archive_id, day, archive_id, day::bigint + 1);
        -- The replay order, within one archive (see 80_buses.sql for why the
        -- index is not inherited from the parent).
        EXECUTE format('CREATE INDEX %I ON courier.%I (event_time, event_id)', part || '_time_idx', part);
        EXECUTE format('COMMENT ON TABLE courier.%I IS %L', part,
                       format('pg_courier archived events of archive %s on day %s (%s UTC)',
                              archive_id, day, to_char(date '1970-01-01' + day, 'YYYY-MM-DD')));
    EXCEPTION WHEN duplicate_table OR unique_violation THEN
        NULL;   -- another transaction created it while this one waited for the lock
    END;
    RETURN true;
END
$$;

-- Internal: archive one event (called by put_events() in C, through SPI, for
-- each archive of the bus whose pattern matches).  On the put_events path,
-- so kept cheap: a catalog lookup of the day's partition by name, creating
-- it only for the first event of the day, and one insert through the parent.
CREATE FUNCTION courier._archive_event(archive_id bigint, archived_at timestamptz,
                                       event_time timestamptz, event_id uuid, event jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- courier._archive_day(), written out: this runs for every archived event.
    day integer := floor(extract(epoch FROM archived_at) / 86400)::integer;
BEGIN
    -- A replayed event is never archived again.
    IF event ? 'replay-name' THEN
        RETURN;
    END IF;
    IF to_regclass(format('courier.archived_events_%s_%s', archive_id, day)) IS NULL
       AND NOT courier._create_archive_partition(archive_id, day) THEN
        RETURN;
    END IF;
    INSERT INTO courier.archived_events AS e
           (archive_id, archived_day, archived_at, event_time, event_id, event)
    VALUES (_archive_event.archive_id, day, _archive_event.archived_at,
            _archive_event.event_time, _archive_event.event_id, _archive_event.event);
END
$$;

-- Internal: drop every partition of an archive that no longer exists (the
-- caller deleted its row in this transaction); returns how many.  Refusing
-- archives that still exist keeps this SECURITY DEFINER function from
-- destroying the events of a live archive.
CREATE FUNCTION courier._drop_archive_partitions(archive_id bigint)
RETURNS integer
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p record;
    n integer := 0;
BEGIN
    IF EXISTS (SELECT 1 FROM courier.archives AS a
                WHERE a.archive_id = _drop_archive_partitions.archive_id) THEN
        RAISE EXCEPTION 'archive % still exists', archive_id
            USING ERRCODE = 'object_in_use',
                  DETAIL = 'Only the partitions of a deleted archive are dropped this way.',
                  HINT = 'Delete it with courier.delete_archive().';
    END IF;
    FOR p IN SELECT * FROM courier._archive_partitions(archive_id) AS ap
              ORDER BY ap.archived_day LOOP
        EXECUTE format('DROP TABLE courier.%I', p.partition_name);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;

-- Internal: the partition work of tick(), as of now: drop the partitions
-- whose whole day is older than now - retention, and those of archives that
-- no longer exist; create tomorrow's partition of every archive that has one for
-- today, so that the first events after midnight do not wait for DDL.  The
-- DDL locks courier.archived_events in ACCESS EXCLUSIVE mode, which stops
-- put_events() from archiving until this transaction ends: the lock is
-- waited for 100 ms at most (a long transaction that archived events holds
-- it off), and the work is left for a later tick when it cannot be had.
-- (No time argument: this SECURITY DEFINER function applies retention as of
-- courier.now() only, so a caller cannot make it drop what is not due.)
CREATE FUNCTION courier._archive_partition_maintenance()
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ts timestamptz := courier.now();
    today integer := courier._archive_day(ts);
    doomed text[];
    growing bigint[];
    p text;
    id bigint;
    dropped integer := 0;
    created integer := 0;
    old_timeout text;
BEGIN
    -- What is due, found without any lock on archived_events.
    SELECT array_agg(ap.partition_name ORDER BY ap.archive_id, ap.archived_day) INTO doomed
      FROM courier._archive_partitions(NULL) AS ap
      LEFT JOIN courier.archives AS a ON a.archive_id = ap.archive_id
     WHERE a.archive_id IS NULL
        OR (a.retention IS NOT NULL
            AND ap.archived_day < courier._archive_day(
                    ((ts AT TIME ZONE 'UTC') OPERATOR(pg_catalog.-) a.retention) AT TIME ZONE 'UTC'));
    SELECT array_agg(a.archive_id ORDER BY a.archive_id) INTO growing
      FROM courier.archives AS a
     WHERE to_regclass(format('courier.archived_events_%s_%s', a.archive_id, today)) IS NOT NULL
       AND to_regclass(format('courier.archived_events_%s_%s', a.archive_id, today + 1)) IS NULL;
    IF doomed IS NULL AND growing IS NULL THEN
        RETURN jsonb_build_object('archive_partitions_created', 0,
                                  'archive_partitions_dropped', 0,
                                  'archive_partitions_deferred', 0);
    END IF;

    BEGIN
        old_timeout := current_setting('lock_timeout');
        PERFORM set_config('lock_timeout', '100ms', true);
        LOCK TABLE courier.archived_events IN ACCESS EXCLUSIVE MODE;
        PERFORM set_config('lock_timeout', old_timeout, true);
    EXCEPTION WHEN lock_not_available OR deadlock_detected THEN
        -- (The setting reverted with the block.)
        RETURN jsonb_build_object('archive_partitions_created', 0,
                                  'archive_partitions_dropped', 0,
                                  'archive_partitions_deferred',
                                  coalesce(cardinality(doomed), 0) + coalesce(cardinality(growing), 0));
    END;

    -- Under the lock nothing else changes partitions; a concurrent tick that
    -- did this work first has committed, so look again before each step.
    FOREACH p IN ARRAY coalesce(doomed, '{}') LOOP
        IF to_regclass(format('courier.%I', p)) IS NOT NULL THEN
            EXECUTE format('DROP TABLE courier.%I', p);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    FOREACH id IN ARRAY coalesce(growing, '{}') LOOP
        IF to_regclass(format('courier.archived_events_%s_%s', id, today + 1)) IS NULL
           AND courier._create_archive_partition(id, today + 1) THEN
            created := created + 1;
        END IF;
    END LOOP;
    RETURN jsonb_build_object('archive_partitions_created', created,
                              'archive_partitions_dropped', dropped,
                              'archive_partitions_deferred', 0);
END
$$;

CREATE FUNCTION courier.create_archive(
    archive_name    text,
    bus_name        text,
    event_pattern   jsonb DEFAULT NULL,
    retention       interval DEFAULT NULL,
    description     text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
BEGIN
    PERFORM courier._require('archive_name', archive_name IS NULL);
    PERFORM courier._require('bus_name', bus_name IS NULL);
    IF archive_name !~ '^[A-Za-z0-9._-]+$' OR length(archive_name) > 48 THEN
        RAISE EXCEPTION 'invalid archive name "%"', archive_name
            USING ERRCODE = 'invalid_name',
                  DETAIL = 'An archive name has 1 to 48 characters: letters, digits, ".", "_" and "-".';
    END IF;
    IF event_pattern IS NOT NULL THEN
        PERFORM courier._check_event_pattern(event_pattern);
    END IF;
    IF retention <= interval '0' THEN
        RAISE EXCEPTION 'retention must be positive'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The value given was %s.', retention),
                  HINT = 'Leave retention out (null) to keep the events forever.';
    END IF;
    PERFORM courier._bus_for_change(bus_name);
    id := nextval('courier.bus_object_id_seq');
    INSERT INTO courier.archives AS a
           (archive_id, created_at, bus_name, archive_name, event_pattern, retention, description)
    VALUES (id, courier.now(), create_archive.bus_name, create_archive.archive_name,
            create_archive.event_pattern, create_archive.retention, create_archive.description)
        ON CONFLICT ON CONSTRAINT archives_pkey DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'archive "%" already exists', archive_name
            USING ERRCODE = 'duplicate_object',
                  DETAIL = format('It archives bus "%s"; archive names are unique across buses.',
                                  (SELECT a.bus_name FROM courier.archives AS a
                                    WHERE a.archive_name = create_archive.archive_name));
    END IF;
    -- put_events() sees the new archive from its next call on.
    PERFORM courier._bump_bus(bus_name);
    PERFORM courier._audit('create_archive', 'archive', archive_name,
                           jsonb_build_object('bus', bus_name, 'archive_id', id,
                                              'event_pattern', event_pattern,
                                              'retention', retention::text));
    RETURN id;
END
$$;
COMMENT ON FUNCTION courier.create_archive(text, text, jsonb, interval, text) IS
    'archive the events of a bus that match a pattern (all when null), for retention (forever when null); returns the archive id';

CREATE FUNCTION courier.delete_archive(archive_name text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a courier.archives;
    busy courier.bus_replays;
    parts integer;
BEGIN
    PERFORM courier._require('archive_name', archive_name IS NULL);
    SELECT * INTO a FROM courier.archives AS c WHERE c.archive_name = delete_archive.archive_name;
    IF FOUND THEN
        -- Waits for put_events() in progress on the bus, which may be
        -- archiving into this archive; later ones no longer see it.
        PERFORM courier._lock_bus(a.bus_name, true);
        PERFORM courier._bus_for_change(a.bus_name);
        SELECT * INTO a FROM courier.archives AS c
         WHERE c.archive_name = delete_archive.archive_name FOR UPDATE;
    END IF;
    IF a.archive_id IS NULL THEN
        RAISE EXCEPTION 'archive "%" does not exist', archive_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'courier.list_archives() shows the archives there are.';
    END IF;
    SELECT * INTO busy FROM courier.bus_replays AS r
     WHERE r.archive_id = a.archive_id AND r.state IN ('STARTING', 'RUNNING', 'CANCELLING')
     ORDER BY r.created_at LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'archive "%" is being replayed', archive_name
            USING ERRCODE = 'object_in_use',
                  DETAIL = format('Replay "%s" is %s.', busy.replay_name, busy.state),
                  HINT = 'Wait for the replay to end, or cancel it with courier.cancel_replay() and let the next tick finish cancelling it.';
    END IF;
    DELETE FROM courier.archives AS c WHERE c.archive_id = a.archive_id;
    parts := courier._drop_archive_partitions(a.archive_id);
    PERFORM courier._bump_bus(a.bus_name);
    PERFORM courier._audit('delete_archive', 'archive', archive_name,
                           jsonb_build_object('bus', a.bus_name, 'archive_id', a.archive_id,
                                              'partitions_dropped', parts));
END
$$;
COMMENT ON FUNCTION courier.delete_archive(text) IS
    'delete an archive and its archived events (not while a replay of it is under way)';

-- Internal: drop_bus() deletes the bus's archives with it, whatever their
-- replays are doing (those fail at their next batch).  drop_bus() holds the
-- bus's lock.
CREATE FUNCTION courier._drop_bus_archives(bus_name text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a courier.archives;
    parts integer;
BEGIN
    FOR a IN DELETE FROM courier.archives AS c WHERE c.bus_name = _drop_bus_archives.bus_name
             RETURNING * LOOP
        parts := courier._drop_archive_partitions(a.archive_id);
        PERFORM courier._audit('delete_archive', 'archive', a.archive_name,
                               jsonb_build_object('bus', a.bus_name, 'archive_id', a.archive_id,
                                                  'partitions_dropped', parts, 'with_bus', true));
    END LOOP;
END
$$;

-- Internal: list_archives() of a bus that does not exist raises 42704.
CREATE FUNCTION courier._bus_listed(bus_name text)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF bus_name IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM courier.buses AS b WHERE b.bus_name = _bus_listed.bus_name) THEN
        RAISE EXCEPTION 'bus "%" does not exist', bus_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'courier.list_buses() shows the buses there are.';
    END IF;
    RETURN true;
END
$$;

-- event_count (see docs/archives.md): the partitions of today (and later)
-- still fill, so their rows are counted; those of past days no longer change,
-- and count as their reltuples once autovacuum has analyzed them (an
-- estimate; exact for small tables), counted too until then.
-- (LANGUAGE sql: in PL/pgSQL the parameter bus_name and the result column
-- bus_name would clash.  The check is a one-time filter, run first.)
CREATE FUNCTION courier.list_archives(bus_name text DEFAULT NULL)
RETURNS TABLE (archive_name text, archive_id bigint, bus_name text, event_pattern jsonb,
               retention interval, description text, event_count bigint, size_bytes bigint,
               partitions integer, created_at timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT a.archive_name COLLATE "default", a.archive_id, a.bus_name COLLATE "default",
           a.event_pattern, a.retention, a.description,
           coalesce(sum(CASE WHEN c.reltuples >= 0 AND p.archived_day < courier._archive_day(courier.now())
                             THEN c.reltuples::bigint
                             ELSE (SELECT count(*) FROM courier.archived_events AS e
                                    WHERE e.archive_id = p.archive_id
                                      AND e.archived_day = p.archived_day) END), 0)::bigint,
           coalesce(sum(pg_total_relation_size(p.relid)), 0)::bigint,
           count(p.relid)::integer,
           a.created_at
      FROM courier.archives AS a
      LEFT JOIN courier._archive_partitions(NULL) AS p ON p.archive_id = a.archive_id
      LEFT JOIN pg_catalog.pg_class AS c ON c.oid = p.relid
     WHERE courier._bus_listed(list_archives.bus_name)
       AND (list_archives.bus_name IS NULL OR a.bus_name = list_archives.bus_name)
     GROUP BY a.archive_name, a.archive_id, a.bus_name, a.event_pattern, a.retention,
              a.description, a.created_at
     ORDER BY a.archive_name
$$;
COMMENT ON FUNCTION courier.list_archives(text) IS
    'the archives (of one bus, or all), with their approximate event count, size and partitions';

CREATE FUNCTION courier.start_replay(
    replay_name         text,
    archive_name        text,
    event_start_time    timestamptz,
    event_end_time      timestamptz,
    rules               text[] DEFAULT NULL,
    dry_run             boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a courier.archives;
    ts timestamptz := courier.now();
    missing text;
    wanted text[];
BEGIN
    PERFORM courier._require('replay_name', replay_name IS NULL);
    PERFORM courier._require('archive_name', archive_name IS NULL);
    PERFORM courier._require('event_start_time', event_start_time IS NULL);
    PERFORM courier._require('event_end_time', event_end_time IS NULL);
    PERFORM courier._require('dry_run', dry_run IS NULL);
    IF replay_name !~ '^[A-Za-z0-9._-]+$' OR length(replay_name) > 64 THEN
        RAISE EXCEPTION 'invalid replay name "%"', replay_name
            USING ERRCODE = 'invalid_name',
                  DETAIL = 'A replay name has 1 to 64 characters: letters, digits, ".", "_" and "-".';
    END IF;
    IF NOT isfinite(event_start_time) OR NOT isfinite(event_end_time) THEN
        RAISE EXCEPTION 'event_start_time and event_end_time must be finite'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF event_start_time >= event_end_time THEN
        RAISE EXCEPTION 'event_start_time must be before event_end_time'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The range given was [%s, %s).', event_start_time, event_end_time);
    END IF;
    IF event_end_time > ts THEN
        RAISE EXCEPTION 'event_end_time must not be in the future'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('event_end_time is %s; it is now %s.', event_end_time, ts);
    END IF;
    IF rules IS NOT NULL THEN
        IF array_ndims(rules) > 1 THEN
            RAISE EXCEPTION 'rules must be a one-dimensional array'
                USING ERRCODE = 'array_subscript_error';
        END IF;
        IF cardinality(rules) = 0 THEN
            RAISE EXCEPTION 'rules must name at least one rule'
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Leave rules out (null) to replay to every enabled rule of the bus.';
        END IF;
        IF array_position(rules, NULL) IS NOT NULL THEN
            RAISE EXCEPTION 'rules must not contain nulls'
                USING ERRCODE = 'null_value_not_allowed',
                      DETAIL = format('Element %s is null.', array_position(rules, NULL));
        END IF;
        SELECT array_agg(DISTINCT x ORDER BY x) INTO wanted FROM unnest(rules) AS x;
    END IF;
    -- FOR SHARE: delete_archive() waits for this transaction, and then sees
    -- the replay.
    SELECT * INTO a FROM courier.archives AS c
     WHERE c.archive_name = start_replay.archive_name FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'archive "%" does not exist', archive_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'courier.list_archives() shows the archives there are.';
    END IF;
    SELECT x INTO missing FROM unnest(wanted) AS x
     WHERE NOT EXISTS (SELECT 1 FROM courier.rules AS r
                        WHERE r.bus_name = a.bus_name AND r.rule_name = x)
     ORDER BY x LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'rule "%" does not exist on bus "%"', missing, a.bus_name
            USING ERRCODE = 'undefined_object',
                  DETAIL = format('A replay of archive "%s" goes to the rules of its bus.', a.archive_name),
                  HINT = 'courier.list_rules(bus_name) shows the rules there are.';
    END IF;
    INSERT INTO courier.bus_replays AS r
           (archive_id, event_start_time, event_end_time, created_at, dry_run, started_by,
            replay_name, archive_name, bus_name, state, rules)
    VALUES (a.archive_id, start_replay.event_start_time, start_replay.event_end_time, ts,
            start_replay.dry_run, courier._acting_role(), start_replay.replay_name, a.archive_name,
            a.bus_name, 'STARTING', wanted)
        ON CONFLICT ON CONSTRAINT bus_replays_pkey DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'replay "%" already exists', replay_name
            USING ERRCODE = 'duplicate_object',
                  DETAIL = format('It is %s.', (SELECT r.state FROM courier.bus_replays AS r
                                                 WHERE r.replay_name = start_replay.replay_name)),
                  HINT = 'A replay name stays taken until courier.delete_replay() forgets the replay.';
    END IF;
    PERFORM courier._audit('start_replay', 'replay', replay_name,
                           jsonb_build_object('archive', a.archive_name, 'bus', a.bus_name,
                                              'event_start_time', event_start_time,
                                              'event_end_time', event_end_time,
                                              'rules', to_jsonb(wanted), 'dry_run', dry_run));
    RETURN 'STARTING';
END
$$;
COMMENT ON FUNCTION courier.start_replay(text, text, timestamptz, timestamptz, text[], boolean) IS
    'replay the archived events with an event time in [event_start_time, event_end_time) to the rules of the archive''s bus (all enabled ones, or those named); tick() advances it';

CREATE FUNCTION courier.cancel_replay(replay_name text)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r courier.bus_replays;
BEGIN
    PERFORM courier._require('replay_name', replay_name IS NULL);
    -- Waits for a batch of the replay in progress.
    SELECT * INTO r FROM courier.bus_replays AS c
     WHERE c.replay_name = cancel_replay.replay_name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'replay "%" does not exist', replay_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'SELECT * FROM courier.replays shows the replays there are.';
    END IF;
    IF r.state IN ('COMPLETED', 'CANCELLED', 'FAILED') THEN
        RAISE EXCEPTION 'replay "%" has already ended', replay_name
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It is %s.', r.state);
    END IF;
    IF r.state = 'CANCELLING' THEN
        RETURN r.state;
    END IF;
    UPDATE courier.bus_replays AS c SET state = 'CANCELLING'
     WHERE c.replay_name = cancel_replay.replay_name;
    PERFORM courier._audit('cancel_replay', 'replay', replay_name,
                           jsonb_build_object('archive', r.archive_name, 'state', r.state,
                                              'events_replayed', r.events_replayed));
    RETURN 'CANCELLING';
END
$$;
COMMENT ON FUNCTION courier.cancel_replay(text) IS
    'cancel a replay: CANCELLING now, CANCELLED at its next batch (events already replayed stay delivered)';

CREATE FUNCTION courier.delete_replay(replay_name text, if_exists boolean DEFAULT false)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r courier.bus_replays;
BEGIN
    PERFORM courier._require('replay_name', replay_name IS NULL);
    PERFORM courier._require('if_exists', if_exists IS NULL);
    SELECT * INTO r FROM courier.bus_replays AS c
     WHERE c.replay_name = delete_replay.replay_name FOR UPDATE;
    IF NOT FOUND THEN
        IF if_exists THEN
            RETURN false;
        END IF;
        RAISE EXCEPTION 'replay "%" does not exist', replay_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'SELECT * FROM courier.replays shows the replays there are.';
    END IF;
    IF r.state IN ('STARTING', 'RUNNING', 'CANCELLING') THEN
        RAISE EXCEPTION 'replay "%" is under way', replay_name
            USING ERRCODE = 'object_in_use',
                  DETAIL = format('It is %s.', r.state),
                  HINT = 'Cancel it with courier.cancel_replay() and let the next tick finish cancelling it.';
    END IF;
    DELETE FROM courier.bus_replays AS c WHERE c.replay_name = delete_replay.replay_name;
    PERFORM courier._audit('delete_replay', 'replay', replay_name,
                           jsonb_build_object('archive', r.archive_name, 'state', r.state,
                                              'events_replayed', r.events_replayed));
    RETURN true;
END
$$;
COMMENT ON FUNCTION courier.delete_replay(text, boolean) IS
    'forget a replay that has ended (its name can then be used again)';

-- Internal: end a replay in state (COMPLETED, CANCELLED or FAILED).
CREATE FUNCTION courier._end_replay(replay_name text, state text, reason text, ts timestamptz)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r courier.bus_replays;
BEGIN
    UPDATE courier.bus_replays AS c
       SET state = _end_replay.state, state_reason = reason, replay_end_time = ts
     WHERE c.replay_name = _end_replay.replay_name
    RETURNING * INTO r;
    PERFORM courier._audit('end_replay', 'replay', replay_name,
                           jsonb_build_object('archive', r.archive_name, 'state', r.state,
                                              'state_reason', r.state_reason,
                                              'events_replayed', r.events_replayed,
                                              'deliveries', r.deliveries, 'dry_run', r.dry_run));
END
$$;

-- Internal: advance every replay that is not over and that no other
-- transaction is advancing, by at most max_events events each, as of ts.
-- Returns how many events were replayed.
CREATE FUNCTION courier._run_replays(ts timestamptz, max_events integer)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    names text[];
    n text;
    bus text;
    r courier.bus_replays;
    e record;
    reason text;
    batch integer;
    delivered bigint;
    last_time timestamptz;
    last_id uuid;
    current_id uuid;
    total bigint := 0;
BEGIN
    -- Most ticks find none; then tick() needs no more than SELECT here.
    IF NOT EXISTS (SELECT 1 FROM courier.bus_replays AS c
                    WHERE c.state IN ('STARTING', 'RUNNING', 'CANCELLING')) THEN
        RETURN 0;
    END IF;
    -- Claim the replays: a replay another transaction is advancing is
    -- skipped, so concurrent ticks never replay the same events.
    SELECT array_agg(x.replay_name ORDER BY x.created_at, x.replay_name) INTO names
      FROM (SELECT c.replay_name, c.created_at FROM courier.bus_replays AS c
             WHERE c.state IN ('STARTING', 'RUNNING', 'CANCELLING')
               FOR UPDATE SKIP LOCKED) AS x;
    IF names IS NULL THEN
        RETURN 0;
    END IF;
    -- Take the bus locks put_events() takes (shared), in name order, before
    -- reading any archived event: put_events() takes its bus lock first and
    -- then archives, and so do the DDL of delete_archive() and drop_bus(), so
    -- this order cannot deadlock with them.
    FOR bus IN SELECT DISTINCT c.bus_name FROM courier.bus_replays AS c
                WHERE c.replay_name = ANY (names) AND c.state <> 'CANCELLING'
                ORDER BY c.bus_name LOOP
        PERFORM courier._lock_bus(bus, false);
    END LOOP;

    FOREACH n IN ARRAY names LOOP
        SELECT * INTO r FROM courier.bus_replays AS c WHERE c.replay_name = n;
        IF r.state = 'CANCELLING' THEN
            PERFORM courier._end_replay(n, 'CANCELLED', NULL, ts);
            CONTINUE;
        END IF;
        reason := NULL;
        IF NOT EXISTS (SELECT 1 FROM courier.buses AS b WHERE b.bus_name = r.bus_name) THEN
            reason := format('bus "%s" was dropped', r.bus_name);
        ELSIF NOT EXISTS (SELECT 1 FROM courier.archives AS a WHERE a.archive_id = r.archive_id) THEN
            reason := format('archive "%s" was deleted', r.archive_name);
        ELSE
            SELECT format('rule "%s" was deleted from bus "%s"', x, r.bus_name) INTO reason
              FROM unnest(r.rules) AS x
             WHERE NOT EXISTS (SELECT 1 FROM courier.rules AS ru
                                WHERE ru.bus_name = r.bus_name AND ru.rule_name = x)
             ORDER BY x LIMIT 1;
        END IF;
        IF reason IS NOT NULL THEN
            PERFORM courier._end_replay(n, 'FAILED', reason, ts);
            CONTINUE;
        END IF;

        batch := 0;
        delivered := 0;
        current_id := NULL;
        -- Before the first batch the cursor is just before event_start_time
        -- (timestamps have microsecond resolution).
        last_time := coalesce(r.event_last_replayed_time, r.event_start_time - interval '1 microsecond');
        last_id := coalesce(r.last_event_id, '00000000-0000-0000-0000-000000000000');
        BEGIN
            FOR e IN SELECT ae.event_time, ae.event_id, ae.event
                       FROM courier.archived_events AS ae
                      WHERE ae.archive_id = r.archive_id
                        AND (ae.event_time, ae.event_id) > (last_time, last_id)
                        AND ae.event_time < r.event_end_time
                      ORDER BY ae.event_time, ae.event_id
                      LIMIT max_events LOOP
                current_id := e.event_id;
                delivered := delivered
                             + courier._route_event(r.bus_name, e.event, r.replay_name, r.rules, r.dry_run);
                batch := batch + 1;
                last_time := e.event_time;
                last_id := e.event_id;
            END LOOP;
        EXCEPTION
            WHEN serialization_failure OR deadlock_detected OR lock_not_available THEN
                -- Transient: the batch is undone and tried again next time.
                CONTINUE;
            WHEN OTHERS THEN
                -- The batch is undone; the replay stops after the last batch
                -- that went through.
                PERFORM courier._end_replay(
                    n, 'FAILED',
                    CASE WHEN current_id IS NULL
                         THEN format('the archive could not be read: %s (SQLSTATE %s)', SQLERRM, SQLSTATE)
                         ELSE format('event %s could not be replayed: %s (SQLSTATE %s)',
                                     current_id, SQLERRM, SQLSTATE) END,
                    ts);
                CONTINUE;
        END;
        UPDATE courier.bus_replays AS c
           SET state = 'RUNNING',
               replay_start_time = coalesce(c.replay_start_time, ts),
               events_replayed = c.events_replayed + batch,
               deliveries = c.deliveries + delivered,
               event_last_replayed_time = CASE WHEN batch > 0 THEN last_time
                                               ELSE c.event_last_replayed_time END,
               last_event_id = CASE WHEN batch > 0 THEN last_id ELSE c.last_event_id END
         WHERE c.replay_name = n;
        IF batch < max_events THEN
            PERFORM courier._end_replay(n, 'COMPLETED', NULL, ts);
        END IF;
        total := total + batch;
    END LOOP;
    RETURN total;
END
$$;

CREATE FUNCTION courier.run_replays(max_events integer DEFAULT 1000)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM courier._require('max_events', max_events IS NULL);
    IF max_events < 1 OR max_events > 100000 THEN
        RAISE EXCEPTION 'max_events must be between 1 and 100000'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The value given was %s.', max_events);
    END IF;
    RETURN courier._run_replays(courier.now(), max_events);
END
$$;
COMMENT ON FUNCTION courier.run_replays(integer) IS
    'advance every replay under way by a batch of at most max_events events now, as tick() does; returns how many events were replayed';

-- Internal: the archive part of tick(): a batch of each replay, then the
-- partition work (retention).
CREATE FUNCTION courier._archive_tick(ts timestamptz)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    replayed bigint := courier._run_replays(ts, 1000);
BEGIN
    RETURN jsonb_build_object('replayed_events', replayed)
           || courier._archive_partition_maintenance();
END
$$;
