-- Bad input: every error has its own SQLSTATE and leaves nothing behind.
-- try() runs a statement and shows "SQLSTATE: message" instead of failing.
\set VERBOSITY terse
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
CREATE FUNCTION pg_temp.state() RETURNS text LANGUAGE sql AS $$
    SELECT (SELECT count(*) FROM courier.queues) || ' queues, '
        || (SELECT count(*) FROM courier.messages) || ' messages, '
        || (SELECT coalesce(string_agg(queue_name || '/' || visibility_timeout || '/' || delay
                                       || '/' || retention || '/' || max_message_bytes, ', '
                                       ORDER BY queue_name), '')
              FROM courier.queues)
$$;

SELECT courier.create_queue('q', max_message_bytes => 1024);
SELECT courier.send('q', '{"keep": true}') > 0 AS sent;
SELECT pg_temp.state() AS before;

-- queue names
SELECT pg_temp.try($$SELECT courier.create_queue('has space')$$);
SELECT pg_temp.try($$SELECT courier.create_queue('')$$);
SELECT pg_temp.try($$SELECT courier.create_queue(repeat('x', 81))$$);
SELECT pg_temp.try($$SELECT courier.create_queue('a.b')$$);
SELECT pg_temp.try($$SELECT courier.create_queue('naïve')$$);
SELECT pg_temp.try($$SELECT courier.create_queue('q"; DROP TABLE courier.messages; --')$$);
SELECT pg_temp.try($$SELECT courier.create_queue(repeat('x', 75) || '.fifo')$$) AS eighty_with_suffix;
SELECT courier.drop_queue(repeat('x', 75) || '.fifo');
SELECT pg_temp.try($$SELECT courier.create_queue('q')$$);
SELECT pg_temp.try($$SELECT courier.create_queue(NULL)$$);

-- attribute ranges
SELECT pg_temp.try($$SELECT courier.create_queue('r', visibility_timeout => '12 hours 1 second')$$);
SELECT pg_temp.try($$SELECT courier.create_queue('r', visibility_timeout => '-1 second')$$);
SELECT pg_temp.try($$SELECT courier.create_queue('r', delay => '901 seconds')$$);
SELECT pg_temp.try($$SELECT courier.create_queue('r', retention => '59 seconds')$$);
SELECT pg_temp.try($$SELECT courier.create_queue('r', retention => '1 mon')$$);
SELECT pg_temp.try($$SELECT courier.create_queue('r', max_message_bytes => 1023)$$);
SELECT pg_temp.try($$SELECT courier.create_queue('r', max_message_bytes => 1048577)$$);
SELECT pg_temp.try($$SELECT courier.create_queue('r', delay => NULL)$$);
SELECT pg_temp.try($$SELECT courier.alter_queue('q', visibility_timeout => '13 hours')$$);
SELECT pg_temp.try($$SELECT courier.alter_queue('nope', delay => '1 second')$$);
SELECT pg_temp.try($$SELECT courier.alter_queue(NULL)$$);

-- unknown queues
SELECT pg_temp.try($$SELECT courier.drop_queue('nope')$$);
SELECT pg_temp.try($$SELECT courier.purge_queue('nope')$$);
SELECT pg_temp.try($$SELECT courier.send('nope', '{}')$$);
SELECT pg_temp.try($$SELECT courier.send_batch('nope', ARRAY['{}']::jsonb[])$$);
SELECT pg_temp.try($$SELECT courier.receive('nope')$$);
SELECT pg_temp.try($$SELECT courier.delete('nope', '1:1:0123456789abcdef')$$);
SELECT pg_temp.try($$SELECT courier.delete_batch('nope', ARRAY['1:1:0123456789abcdef'])$$);
SELECT pg_temp.try($$SELECT courier.change_visibility('nope', '1:1:0123456789abcdef', '1 s')$$);
SELECT pg_temp.try($$SELECT courier.release('nope', '1:1:0123456789abcdef')$$);
SELECT pg_temp.try($$SELECT courier.drop_queue('Q')$$) AS names_are_case_sensitive;

-- NULL arguments
SELECT pg_temp.try($$SELECT courier.send(NULL, '{}')$$);
SELECT pg_temp.try($$SELECT courier.send('q', NULL)$$);
SELECT pg_temp.try($$SELECT courier.send_batch('q', NULL)$$);
SELECT pg_temp.try($$SELECT courier.send_batch('q', ARRAY['{}', NULL]::jsonb[])$$);
SELECT pg_temp.try($$SELECT courier.receive('q', NULL)$$);
SELECT pg_temp.try($$SELECT courier.delete('q', NULL)$$);
SELECT pg_temp.try($$SELECT courier.delete_batch('q', ARRAY['1:1:0123456789abcdef', NULL])$$);
SELECT pg_temp.try($$SELECT courier.change_visibility('q', '1:1:0123456789abcdef', NULL)$$);
SELECT pg_temp.try($$SELECT courier.release('q', '1:1:0123456789abcdef', 'e', NULL)$$);

-- out-of-range arguments
SELECT pg_temp.try($$SELECT courier.send('q', '{}', NULL, '15 minutes 1 second')$$);
SELECT pg_temp.try($$SELECT courier.send('q', '{}', NULL, '-1 second')$$);
SELECT pg_temp.try($$SELECT courier.send('q', '{}', NULL, '1000000000 years')$$);
SELECT pg_temp.try($$SELECT courier.receive('q', 0)$$);
SELECT pg_temp.try($$SELECT courier.receive('q', 1001)$$);
SELECT pg_temp.try($$SELECT courier.receive('q', 1, '12 hours 1 second')$$);
SELECT pg_temp.try($$SELECT courier.change_visibility('q', '1:1:0123456789abcdef', '-1 second')$$);
SELECT pg_temp.try($$SELECT courier.release('q', '1:1:0123456789abcdef', NULL, '13 hours')$$);

-- oversized messages: payload and headers both count
SELECT pg_temp.try(format($$SELECT courier.send('q', %L)$$,
                          jsonb_build_object('blob', repeat('x', 1100))));
SELECT pg_temp.try(format($$SELECT courier.send('q', '{}', %L)$$,
                          jsonb_build_object('h', repeat('x', 1100))));
SELECT pg_temp.try(format($$SELECT courier.send_batch('q', ARRAY['{}', %L]::jsonb[])$$,
                          jsonb_build_object('blob', repeat('x', 1100))));

-- malformed headers
SELECT pg_temp.try($$SELECT courier.send('q', '{}', '[1, 2]')$$);
SELECT pg_temp.try($$SELECT courier.send('q', '{}', '"text"')$$);
SELECT pg_temp.try($$SELECT courier.send('q', '{}', '{"flag": true}')$$);
SELECT pg_temp.try($$SELECT courier.send('q', '{}', '{"n": null}')$$);
SELECT pg_temp.try($$SELECT courier.send('q', '{}', '{"o": {"a": 1}}')$$);
SELECT pg_temp.try($$SELECT courier.send('q', '{}', '{"a": [1, [2]]}')$$);
SELECT pg_temp.try($$SELECT courier.send('q', '{}', '{"bad key": "x"}')$$);
SELECT pg_temp.try($$SELECT courier.send('q', '{}', '{"": "x"}')$$);
SELECT pg_temp.try($$SELECT courier.send('q', '{}', '{"type": 7}')$$);
SELECT pg_temp.try($$SELECT courier.send('q', '{}', '{"type": ""}')$$);
SELECT pg_temp.try(format($$SELECT courier.send('q', '{}', %L)$$,
                          jsonb_build_object('tenant_id', repeat('t', 257))));
SELECT pg_temp.try($$SELECT courier.send('q', '{}', '{"schema_version": 0}')$$);
SELECT pg_temp.try($$SELECT courier.send('q', '{}', '{"schema_version": 1.5}')$$);
SELECT pg_temp.try($$SELECT courier.send('q', '{}', '{"schema_version": "v2"}')$$);
SELECT pg_temp.try($$SELECT courier.send('q', '{}', '{"schema_version": 3000000000}')$$);
SELECT pg_temp.try($$SELECT courier.send('q', '{}', '{"occurred_at": "not a time"}')$$);
SELECT pg_temp.try($$SELECT courier.send('q', '{}', '{"occurred_at": "infinity"}')$$);
SELECT pg_temp.try($$SELECT courier.send('q', '{}', '{"occurred_at": 1700000000}')$$);
SELECT pg_temp.try($$SELECT courier.send_batch('q', ARRAY['{}', '{}']::jsonb[], ARRAY[NULL]::jsonb[])$$);
SELECT pg_temp.try($$SELECT courier.send_batch('q', ARRAY['{}', '{}']::jsonb[], ARRAY[NULL, '{"x": false}']::jsonb[])$$);
SELECT pg_temp.try($$SELECT courier.send_batch('q', ARRAY[['{}'], ['{}']]::jsonb[])$$);

-- malformed receipts
SELECT pg_temp.try($$SELECT courier.delete('q', 'garbage')$$);
SELECT pg_temp.try($$SELECT courier.delete('q', '1:1:0123456789abcde')$$);
SELECT pg_temp.try($$SELECT courier.delete('q', '1:1:0123456789ABCDEF')$$);
SELECT pg_temp.try($$SELECT courier.delete('q', '1:0:0123456789abcdef')$$);
SELECT pg_temp.try($$SELECT courier.delete('q', '-1:1:0123456789abcdef')$$);
SELECT pg_temp.try($$SELECT courier.delete('q', '99999999999999999999:1:0123456789abcdef')$$);
SELECT pg_temp.try($$SELECT courier.delete('q', '1:1:0123456789abcdef ')$$);
SELECT pg_temp.try($$SELECT courier.delete_batch('q', ARRAY['1:1:0123456789abcdef', 'x'])$$);
SELECT pg_temp.try($$SELECT courier.change_visibility('q', 'x', '1 s')$$);
SELECT pg_temp.try($$SELECT courier.release('q', 'x')$$);

-- a well-formed receipt that names no lease is not an error
SELECT courier.delete('q', '1:1:0123456789abcdef') AS deleted,
       courier.delete_batch('q', ARRAY['1:1:0123456789abcdef']) AS deleted_n,
       courier.change_visibility('q', '1:1:0123456789abcdef', '1 s') AS changed,
       courier.release('q', '1:1:0123456789abcdef') AS released;

-- FIFO and redrive rules
SELECT pg_temp.try($$SELECT courier.send('q', '{}', group_id => 'g')$$);
SELECT pg_temp.try($$SELECT courier.send('q', '{}', dedup_id => 'd')$$);
SELECT pg_temp.try($$SELECT courier.create_queue('r', content_based_dedup => true)$$);
SELECT pg_temp.try($$SELECT courier.create_queue('r', fifo => true, dedup_window => '2 days')$$);
SELECT pg_temp.try($$SELECT courier.create_queue('r', dead_letter_queue => 'q')$$);
SELECT pg_temp.try($$SELECT courier.create_queue('r', dead_letter_queue => 'q', max_receive_count => 0)$$);
SELECT pg_temp.try($$SELECT courier.create_queue('r', dead_letter_queue => 'nope', max_receive_count => 3)$$);
SELECT pg_temp.try($$SELECT courier.create_queue('r', fifo => true, dead_letter_queue => 'q', max_receive_count => 3)$$);
SELECT pg_temp.try($$SELECT courier.alter_queue('q', dead_letter_queue => 'q', max_receive_count => 3)$$);
SELECT pg_temp.try($$SELECT courier.create_queue('r', fifo => NULL)$$);
SELECT pg_temp.try($$SELECT courier.redrive('nope')$$);
SELECT pg_temp.try($$SELECT courier.redrive(NULL)$$);
SELECT pg_temp.try($$SELECT courier.redrive('q', 'q')$$);
SELECT pg_temp.try($$SELECT courier.redrive('q', 'nope')$$);
SELECT pg_temp.try($$SELECT courier.redrive('q', max_messages => 0)$$);
SELECT pg_temp.try($$SELECT courier.receive('q', wait => '1 hour')$$);
SELECT pg_temp.try($$SELECT courier.receive('q', wait => NULL)$$);
SELECT pg_temp.try($$SELECT courier.receive('q', wait => '-1 s')$$);
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT pg_temp.try($$SELECT courier.receive('q', wait => '1 s')$$);
ROLLBACK;
SELECT courier.create_queue('f.fifo', fifo => true);
SELECT pg_temp.try($$SELECT courier.send('f.fifo', '{}')$$);
SELECT pg_temp.try($$SELECT courier.send('f.fifo', '{}', group_id => 'g')$$);
SELECT pg_temp.try($$SELECT courier.send('f.fifo', '{}', group_id => 'g', dedup_id => 'd', delay => '1 s')$$);
SELECT pg_temp.try($$SELECT courier.send('f.fifo', '{}', group_id => 'has space', dedup_id => 'd')$$);
SELECT pg_temp.try(format($$SELECT courier.send('f.fifo', '{}', group_id => 'g', dedup_id => %L)$$, repeat('d', 129)));
SELECT pg_temp.try($$SELECT courier.send('f.fifo', '{}', group_id => '', dedup_id => 'd')$$);
SELECT pg_temp.try($$SELECT courier.send_batch('f.fifo', ARRAY['{}', '{}']::jsonb[], group_ids => ARRAY['g'])$$);
SELECT pg_temp.try($$SELECT courier.create_queue('q2', dead_letter_queue => 'f.fifo', max_receive_count => 1)$$);
SELECT courier.create_queue('uses-q', dead_letter_queue => 'q', max_receive_count => 2);
SELECT pg_temp.try($$SELECT courier.drop_queue('q')$$);
SELECT courier.drop_queue('uses-q');
SELECT courier.drop_queue('f.fifo');
-- the audit trail records the drops, not the failed attempts
SELECT action, object_name FROM courier.audit_log
 WHERE object_name IN ('q', 'uses-q', 'f.fifo') ORDER BY audit_id;

-- drop_queue needs READ COMMITTED
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT pg_temp.try($$SELECT courier.drop_queue('q')$$);
ROLLBACK;

-- nothing above changed anything
SELECT pg_temp.state() AS after;
SELECT payload FROM courier.messages;
SELECT courier.drop_queue('q');
