-- Topics (SNS): fanout of one published message to the subscribed queues,
-- each subscription with its own filter policy.  publish() is C (src/topic.c);
-- administration is PL/pgSQL.  See docs/topics.md.

-- One row per topic.  version changes (to a fresh value of
-- subscription_id_seq) whenever the topic is created or its subscriptions
-- change; publish() compares it with the version its per-backend cache of
-- compiled filter policies was built from.
CREATE TABLE courier.topics (
    version             bigint NOT NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    fifo                boolean NOT NULL DEFAULT false,
    content_based_dedup boolean NOT NULL DEFAULT false,
    require_schema      boolean NOT NULL DEFAULT false,
    topic_name          text COLLATE "C" NOT NULL,
    CONSTRAINT topics_pkey PRIMARY KEY (topic_name),
    CONSTRAINT topics_name_check
        CHECK (topic_name OPERATOR(pg_catalog.~) '^[A-Za-z0-9_-]+(\.fifo)?$'
               AND pg_catalog.length(topic_name) OPERATOR(pg_catalog.<=) 256),
    CONSTRAINT topics_content_based_dedup_check
        CHECK (fifo OR NOT content_based_dedup)
);
COMMENT ON TABLE courier.topics IS 'pg_courier topic definitions (one row per topic)';

-- Subscription ids, and the values topics.version takes.
CREATE SEQUENCE courier.subscription_id_seq AS bigint;

-- Subscriptions: which queues receive a topic's messages.  Keyed by the topic
-- first.  A queue subscribes to a topic at most once.  The foreign key to
-- courier.queues keeps a subscribed queue from being dropped: drop_queue()
-- fails with 23503 until the queue is unsubscribed (the check runs as the
-- table owner, so it needs no privilege on this table from the caller).
-- Dropping a topic drops its subscriptions.
CREATE TABLE courier.subscriptions (
    subscription_id     bigint NOT NULL,
    created_at          timestamptz NOT NULL,
    raw_delivery        boolean NOT NULL,
    topic_name          text COLLATE "C" NOT NULL,
    queue_name          text COLLATE "C" NOT NULL,
    filter_scope        text NOT NULL,
    filter_policy       jsonb,
    CONSTRAINT subscriptions_pkey PRIMARY KEY (topic_name, subscription_id),
    CONSTRAINT subscriptions_queue_key UNIQUE (topic_name, queue_name),
    CONSTRAINT subscriptions_id_key UNIQUE (subscription_id),
    CONSTRAINT subscriptions_topic_fkey FOREIGN KEY (topic_name)
        REFERENCES courier.topics (topic_name) ON DELETE CASCADE,
    CONSTRAINT subscriptions_queue_fkey FOREIGN KEY (queue_name)
        REFERENCES courier.queues (queue_name),
    CONSTRAINT subscriptions_filter_scope_check
        CHECK (filter_scope OPERATOR(pg_catalog.=) ANY (ARRAY['headers', 'payload']))
);
COMMENT ON TABLE courier.subscriptions IS 'pg_courier topic subscriptions: queue, filter policy, delivery format';
-- The foreign key check of drop_queue() looks subscriptions up by queue.
CREATE INDEX subscriptions_queue_idx ON courier.subscriptions (queue_name);

SELECT pg_catalog.pg_extension_config_dump('courier.topics', '');
SELECT pg_catalog.pg_extension_config_dump('courier.subscriptions', '');
SELECT pg_catalog.pg_extension_config_dump('courier.subscription_id_seq', '');

-- Internal: object-level lock that orders publishers against subscription
-- changes.  exclusive = false is what publish takes; subscribe, unsubscribe
-- and drop_topic take it exclusively.
CREATE FUNCTION courier._lock_topic(topic_name text, exclusive boolean)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_lock_topic'
LANGUAGE C STRICT VOLATILE;

-- Internal: validate a filter policy for a scope; raises 22023 with the reason.
CREATE FUNCTION courier._check_filter_policy(filter_policy jsonb, filter_scope text)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_check_filter_policy'
LANGUAGE C VOLATILE;

-- Internal: a committed unsubscribe forgets the subscription's statistics.
CREATE FUNCTION courier._forget_subscription_stats(subscription_id bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_forget_subscription_stats'
LANGUAGE C STRICT VOLATILE;

-- Internal: delivered and filtered-out counts of a subscription (shared
-- memory; nulls when pg_courier is not preloaded).
CREATE FUNCTION courier._subscription_counts(
    subscription_id bigint, OUT delivered bigint, OUT filtered_out bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'courier_subscription_counts'
LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION courier._create_topic(
    topic_name          text,
    fifo                boolean DEFAULT false,
    content_based_dedup boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ts timestamptz := courier.now();
BEGIN
    PERFORM courier._require('topic_name', topic_name IS NULL);
    PERFORM courier._require('fifo', fifo IS NULL);
    PERFORM courier._require('content_based_dedup', content_based_dedup IS NULL);
    IF topic_name !~ '^[A-Za-z0-9_-]+(\.fifo)?$' OR length(topic_name) > 256 THEN
        RAISE EXCEPTION 'invalid topic name "%"', topic_name
            USING ERRCODE = 'invalid_name',
                  DETAIL = 'A topic name has 1 to 256 characters: letters, digits, "_" and "-", optionally ending in ".fifo".';
    END IF;
    IF content_based_dedup AND NOT fifo THEN
        RAISE EXCEPTION 'content_based_dedup is only for FIFO topics'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Create the topic with fifo => true.';
    END IF;
    INSERT INTO courier.topics AS t
           (version, created_at, updated_at, fifo, content_based_dedup, topic_name)
    VALUES (nextval('courier.subscription_id_seq'), ts, ts,
            _create_topic.fifo, _create_topic.content_based_dedup, _create_topic.topic_name)
        ON CONFLICT ON CONSTRAINT topics_pkey DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'topic "%" already exists', topic_name
            USING ERRCODE = 'duplicate_object';
    END IF;
END
$$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.create_topic(
    topic_name          text,
    fifo                boolean DEFAULT false,
    content_based_dedup boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.create_topic(text, boolean, boolean) IS
    'create a standard or FIFO topic';

CREATE FUNCTION courier._drop_topic(topic_name text, if_exists boolean DEFAULT false)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ids bigint[];
BEGIN
    PERFORM courier._require('topic_name', topic_name IS NULL);
    PERFORM courier._require('if_exists', if_exists IS NULL);
    -- Waits for publishers in progress; later ones find no topic.
    PERFORM courier._lock_topic(topic_name, true);
    SELECT array_agg(s.subscription_id ORDER BY s.subscription_id) INTO ids
      FROM courier.subscriptions AS s WHERE s.topic_name = _drop_topic.topic_name;
    DELETE FROM courier.topics AS t WHERE t.topic_name = _drop_topic.topic_name;
    IF NOT FOUND THEN
        IF if_exists THEN
            RETURN false;
        END IF;
        RAISE EXCEPTION 'topic "%" does not exist', topic_name
            USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM courier._forget_subscription_stats(i) FROM unnest(ids) AS i;
    PERFORM courier._audit('drop_topic', 'topic', topic_name,
                           jsonb_build_object('subscriptions', coalesce(to_jsonb(ids), '[]')));
    RETURN true;
END
$$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.drop_topic(topic_name text, if_exists boolean DEFAULT false)
RETURNS boolean
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.drop_topic(text, boolean) IS
    'drop a topic and its subscriptions (messages already delivered stay in their queues)';

CREATE FUNCTION courier._subscribe(
    topic_name      text,
    queue_name      text,
    filter_policy   jsonb   DEFAULT NULL,
    filter_scope    text    DEFAULT 'headers',
    raw_delivery    boolean DEFAULT true)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t courier.topics;
    s courier.subscriptions;
    queue_fifo boolean;
    id bigint;
BEGIN
    PERFORM courier._require('topic_name', topic_name IS NULL);
    PERFORM courier._require('queue_name', queue_name IS NULL);
    PERFORM courier._require('filter_scope', filter_scope IS NULL);
    PERFORM courier._require('raw_delivery', raw_delivery IS NULL);
    PERFORM courier._check_filter_policy(filter_policy, filter_scope);

    PERFORM courier._lock_topic(topic_name, true);
    SELECT * INTO t FROM courier.topics AS c
     WHERE c.topic_name = _subscribe.topic_name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'topic "%" does not exist', topic_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'Create it first with courier.create_topic().';
    END IF;
    SELECT q.fifo INTO queue_fifo FROM courier.queues AS q
     WHERE q.queue_name = _subscribe.queue_name FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'queue "%" does not exist', queue_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'Create it first with courier.create_queue().';
    END IF;
    IF t.fifo AND NOT queue_fifo THEN
        RAISE EXCEPTION 'only FIFO queues can subscribe to FIFO topic "%"', topic_name
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = format('Queue "%s" is a standard queue.', queue_name),
                  HINT = 'Subscribe a queue created with fifo => true.';
    END IF;
    IF queue_fifo AND NOT t.fifo THEN
        RAISE EXCEPTION 'FIFO queue "%" can subscribe only to FIFO topics', queue_name
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = format('Topic "%s" is a standard topic; its messages have no group.', topic_name),
                  HINT = 'Subscribe a standard queue, or use a topic created with fifo => true.';
    END IF;

    -- As in SNS, subscribing again with the same attributes returns the
    -- existing subscription.
    SELECT * INTO s FROM courier.subscriptions AS c
     WHERE c.topic_name = _subscribe.topic_name AND c.queue_name = _subscribe.queue_name;
    IF FOUND THEN
        IF s.filter_policy IS NOT DISTINCT FROM _subscribe.filter_policy
           AND s.filter_scope = _subscribe.filter_scope
           AND s.raw_delivery = _subscribe.raw_delivery THEN
            RETURN s.subscription_id;
        END IF;
        RAISE EXCEPTION 'queue "%" is already subscribed to topic "%" with different attributes',
                        queue_name, topic_name
            USING ERRCODE = 'duplicate_object',
                  DETAIL = format('Subscription %s has filter_policy %s, filter_scope %s, raw_delivery %s.',
                                  s.subscription_id, coalesce(s.filter_policy::text, 'null'),
                                  s.filter_scope, s.raw_delivery),
                  HINT = 'Unsubscribe it first with courier.unsubscribe(subscription_id).';
    END IF;

    id := nextval('courier.subscription_id_seq');
    INSERT INTO courier.subscriptions AS c
           (subscription_id, created_at, raw_delivery, topic_name, queue_name,
            filter_scope, filter_policy)
    VALUES (id, courier.now(), _subscribe.raw_delivery, _subscribe.topic_name,
            _subscribe.queue_name, _subscribe.filter_scope, _subscribe.filter_policy);
    UPDATE courier.topics AS c
       SET version = nextval('courier.subscription_id_seq'), updated_at = courier.now()
     WHERE c.topic_name = _subscribe.topic_name;
    PERFORM courier._audit('subscribe', 'topic', topic_name,
                           jsonb_build_object('subscription_id', id, 'queue', queue_name,
                                              'filter_policy', filter_policy,
                                              'filter_scope', filter_scope,
                                              'raw_delivery', raw_delivery));
    RETURN id;
END
$$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.subscribe(
    topic_name      text,
    queue_name      text,
    filter_policy   jsonb   DEFAULT NULL,
    filter_scope    text    DEFAULT 'headers',
    raw_delivery    boolean DEFAULT true)
RETURNS bigint
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.subscribe(text, text, jsonb, text, boolean) IS
    'subscribe a queue to a topic, with an optional SNS filter policy on headers or payload; returns the subscription id';

CREATE FUNCTION courier._unsubscribe(subscription_id bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s courier.subscriptions;
BEGIN
    PERFORM courier._require('subscription_id', subscription_id IS NULL);
    SELECT * INTO s FROM courier.subscriptions AS c
     WHERE c.subscription_id = _unsubscribe.subscription_id;
    IF FOUND THEN
        PERFORM courier._lock_topic(s.topic_name, true);
        DELETE FROM courier.subscriptions AS c
         WHERE c.topic_name = s.topic_name AND c.subscription_id = _unsubscribe.subscription_id;
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'subscription % does not exist', subscription_id
            USING ERRCODE = 'undefined_object',
                  HINT = 'courier.topic_stats lists the subscriptions there are.';
    END IF;
    UPDATE courier.topics AS c
       SET version = nextval('courier.subscription_id_seq'), updated_at = courier.now()
     WHERE c.topic_name = s.topic_name;
    PERFORM courier._forget_subscription_stats(subscription_id);
    PERFORM courier._audit('unsubscribe', 'topic', s.topic_name,
                           jsonb_build_object('subscription_id', subscription_id,
                                              'queue', s.queue_name));
END
$$;
-- the entry point: courier grants (src/grants.c), then the body above
CREATE FUNCTION courier.unsubscribe(subscription_id bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'courier_guarded'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.unsubscribe(bigint) IS
    'remove a subscription; messages already delivered stay in the queue';

CREATE FUNCTION courier.publish(
    topic_name  text,
    payload     jsonb,
    headers     jsonb DEFAULT NULL,
    group_id    text DEFAULT NULL,
    dedup_id    text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'courier_publish'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION courier.publish(text, jsonb, jsonb, text, text) IS
    'publish a message to every subscription whose filter policy it passes, in the caller''s transaction; returns the publish id';

-- Per subscription: how many published messages it delivered and how many
-- its filter policy filtered out, counted in shared memory at commit since
-- the server started (null without shared_preload_libraries).
CREATE VIEW courier.topic_stats AS
SELECT s.topic_name, s.subscription_id, s.queue_name, s.raw_delivery,
       s.filter_scope, s.filter_policy, c.delivered, c.filtered_out
  FROM courier.subscriptions AS s
 CROSS JOIN LATERAL courier._subscription_counts(s.subscription_id) AS c;
COMMENT ON VIEW courier.topic_stats IS
    'per subscription: messages delivered and filtered out since the server started (committed publishes)';
