-- pg_courier Exercise 1: commands, a consumer, and five kinds of failure.
--
-- A producer sends commands; a consumer applies each one (a status row keyed by
-- the command id, and a ledger line) and deletes the message in the same
-- transaction, committing only when the delete returned true.  We then inject:
--   1. a consumer killed after its side effect, before its delete
--   2. a visibility timeout that is too short for a slow consumer
--   3. a downstream that fails for a while (release with error and delay)
--   4. a message with a schema version the consumer cannot handle (dead letter)
--   5. a redrive after the consumer has been fixed
-- and check: one business effect per command, a dead-letter queue that says
-- why, and an empty queue at the end.
--
-- The whole story runs in ONE session and is deterministic: time is moved with
-- SET courier.clock_offset (superuser-only; the value is in seconds, as in
-- '31s'), never by sleeping.  Run it as a superuser in a database where
-- CREATE EXTENSION pg_courier has been run:
--     psql -v ON_ERROR_STOP=1 -f examples/exercise1.sql
-- It can be run again: it drops what it creates first.
-- test/scenarios/exercise1.sh runs it and checks the results, and does the
-- real kill of step 1 with two sessions and pg_terminate_backend.
\set ON_ERROR_STOP on
\pset footer off
\set QUIET on
SET client_min_messages = warning;
RESET courier.clock_offset;
-- 'commands' names 'commands-dlq' as its dead-letter queue: drop it first.
SELECT courier.drop_queue('commands', if_exists => true) AS dropped \gset
SELECT courier.drop_queue('commands-dlq', if_exists => true) AS dropped \gset
DROP TABLE IF EXISTS command_status, command_ledger;
DROP FUNCTION IF EXISTS apply_command(text, bigint, integer, text);
\set QUIET off

\echo
\echo '== 0. Setup (t = 0 s): a dead-letter queue, the commands queue, and the business tables'
\echo '      30-second leases; a message delivered 3 times without being deleted goes to commands-dlq'
SELECT courier.create_queue('commands-dlq');
SELECT courier.create_queue('commands', visibility_timeout => '30 seconds',
                            dead_letter_queue => 'commands-dlq', max_receive_count => 3);
SELECT queue_name, visibility_timeout, dead_letter_queue, max_receive_count
  FROM courier.list_queues() WHERE queue_name IN ('commands', 'commands-dlq');

-- The business effect.  command_status is keyed by the command id (the
-- producer's id, which survives redelivery and redrive; msg_id does not
-- survive a redrive), so writing it twice is impossible.  command_ledger has
-- no key on purpose: one line per committed application, so a duplicate
-- business effect would show up there.
CREATE TABLE command_status (
    command_id  text PRIMARY KEY,
    status      text NOT NULL,
    msg_id      bigint NOT NULL,        -- the message that did the work
    delivery    integer NOT NULL,       -- its receive_count then
    consumer    text NOT NULL
);
CREATE TABLE command_ledger (
    line_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    command_id  text NOT NULL,
    consumer    text NOT NULL
);

-- The consumer's side effect.  Idempotent by the command id: a second call
-- for the same command writes no status row (ON CONFLICT DO NOTHING) and
-- returns false.  The ledger line is written in any case; only the delete
-- check below keeps it from being committed twice.
CREATE FUNCTION apply_command(command_id text, msg_id bigint, delivery integer, consumer text)
RETURNS boolean
LANGUAGE sql
AS $$
    INSERT INTO command_ledger (command_id, consumer) VALUES (command_id, consumer);
    WITH written AS (
        INSERT INTO command_status (command_id, status, msg_id, delivery, consumer)
        VALUES (command_id, 'done', msg_id, delivery, consumer)
        ON CONFLICT DO NOTHING
        RETURNING 1)
    SELECT count(*) = 1 FROM written;
$$;

-- The schema versions the consumer knows how to handle.
\set known_versions '{1}'

-- The consumer, used for every command below:
--   a. receive one message in its own (autocommit) statement: the lease is
--      committed, so it is counted even if the work fails later;
--   b. in ONE transaction: apply_command(), then courier.delete() with the
--      receipt, and COMMIT only if delete returned true.  False means the
--      lease is no longer ours (someone received the message since): ROLLBACK,
--      and the side effect goes with it.

\echo
\echo '== 1. A consumer is killed after its side effect, before its delete (t = 0 s)'
SELECT courier.send('commands', '{"command_id": "cmd-1", "action": "ship", "order_id": 101}',
                    '{"type": "command.ship", "schema_version": 1}') AS msg_id;
\echo '-- consumer A receives cmd-1 (a 30-second lease) ...'
SELECT msg_id, receipt, receive_count, schema_version, payload->>'command_id' AS command_id
  FROM courier.receive('commands') \gset a_
SELECT :'a_command_id' AS command_id, :a_receive_count AS receive_count;
\echo '-- ... and writes the status row, then dies before its delete.'
BEGIN;
SELECT apply_command(:'a_command_id', :a_msg_id, :a_receive_count, 'consumer-A') AS status_row_written;
SELECT count(*) AS status_rows_inside_the_transaction FROM command_status WHERE command_id = 'cmd-1';
-- Here the backend is killed (pg_terminate_backend, a crash, an OOM kill).
-- PostgreSQL rolls back a dead backend's open transaction exactly as ROLLBACK
-- does; test/scenarios/exercise1.sh does the real kill from a second session.
ROLLBACK;
\echo '-- the side effect died with the transaction; the lease did not (it was committed):'
SELECT count(*) AS status_rows FROM command_status WHERE command_id = 'cmd-1';
SELECT payload->>'command_id' AS command_id, receive_count,
       visible_at > courier.now() AS leased,
       ceil(extract(epoch FROM visible_at - courier.now())) AS lease_seconds_left
  FROM courier.messages WHERE queue_name = 'commands';
\echo '-- so nobody gets it before the lease runs out:'
SELECT count(*) AS received FROM courier.receive('commands');

SET courier.clock_offset = '31s';
\echo '-- t = 31 s: the lease has run out; consumer B gets cmd-1 again and finishes it'
SELECT msg_id, receipt, receive_count, payload->>'command_id' AS command_id
  FROM courier.receive('commands') \gset b_
SELECT :'b_command_id' AS command_id, :b_msg_id = :a_msg_id AS same_message,
       :b_receive_count AS receive_count;
BEGIN;
SELECT apply_command(:'b_command_id', :b_msg_id, :b_receive_count, 'consumer-B') AS status_row_written;
SELECT courier.delete('commands', :'b_receipt') AS deleted \gset
\echo 'delete returned' :deleted
\if :deleted
COMMIT;
\else
ROLLBACK;
\endif
SELECT command_id, status, delivery, consumer FROM command_status WHERE command_id = 'cmd-1';

\echo
\echo '== 2. The visibility timeout is too short for a slow consumer (t = 31 s)'
SELECT courier.send('commands', '{"command_id": "cmd-2", "action": "refund", "order_id": 102}',
                    '{"type": "command.refund", "schema_version": 1}') AS msg_id;
\echo '-- slow consumer A receives cmd-2 (lease until t = 61 s) and starts a long call'
SELECT msg_id, receipt, receive_count, payload->>'command_id' AS command_id
  FROM courier.receive('commands') \gset a_
SELECT :'a_command_id' AS command_id, :a_receive_count AS receive_count;
-- (A consumer that knows it is slow extends its lease with
-- courier.change_visibility('commands', receipt, '2 minutes'); this one does not.)

SET courier.clock_offset = '62s';
\echo '-- t = 62 s: A is still busy, its lease has run out; consumer B receives cmd-2 and finishes it'
SELECT msg_id, receipt, receive_count, payload->>'command_id' AS command_id
  FROM courier.receive('commands') \gset b_
SELECT :'b_command_id' AS command_id, :b_receive_count AS receive_count;
BEGIN;
SELECT apply_command(:'b_command_id', :b_msg_id, :b_receive_count, 'consumer-B') AS status_row_written;
SELECT courier.delete('commands', :'b_receipt') AS deleted \gset
\echo 'delete returned' :deleted
\if :deleted
COMMIT;
\else
ROLLBACK;
\endif

\echo '-- A finally finishes: its side effect, then its delete with the old receipt'
BEGIN;
SELECT apply_command(:'a_command_id', :a_msg_id, :a_receive_count, 'consumer-A') AS status_row_written;
SELECT courier.delete('commands', :'a_receipt') AS deleted \gset
\echo 'delete returned' :deleted
\if :deleted
COMMIT;
\else
\echo '-- false: the receipt names a lease that is over (B has received cmd-2 since), so roll back'
ROLLBACK;
\endif
\echo '-- one status row and one ledger line for cmd-2, both from B:'
SELECT s.command_id, s.delivery, s.consumer AS status_by,
       (SELECT count(*) FROM command_ledger AS l WHERE l.command_id = s.command_id) AS ledger_lines
  FROM command_status AS s WHERE s.command_id = 'cmd-2';

\echo
\echo '== 3. A downstream fails for a while (t = 62 s)'
SELECT courier.send('commands', '{"command_id": "cmd-3", "action": "notify", "order_id": 103}',
                    '{"type": "command.notify", "schema_version": 1}') AS msg_id;
\echo '-- delivery 1: the downstream answers 503; release with the error, retry in 5 seconds'
SELECT receipt, receive_count, payload->>'command_id' AS command_id
  FROM courier.receive('commands') \gset c_
SELECT :'c_command_id' AS command_id, :c_receive_count AS receive_count,
       courier.release('commands', :'c_receipt', error => 'downstream 503',
                       delay => '5 seconds') AS released;
\echo '-- the failure is on the message; it comes back in 5 seconds, not before:'
SELECT payload->>'command_id' AS command_id, receive_count, last_error,
       ceil(extract(epoch FROM visible_at - courier.now())) AS visible_in_seconds
  FROM courier.messages WHERE queue_name = 'commands';
SELECT count(*) AS received FROM courier.receive('commands');

SET courier.clock_offset = '68s';
\echo '-- t = 68 s: delivery 2, still 503'
SELECT receipt, receive_count, payload->>'command_id' AS command_id
  FROM courier.receive('commands') \gset c_
SELECT :'c_command_id' AS command_id, :c_receive_count AS receive_count,
       courier.release('commands', :'c_receipt', error => 'downstream 503',
                       delay => '5 seconds') AS released;
SELECT payload->>'command_id' AS command_id, receive_count, last_error
  FROM courier.messages WHERE queue_name = 'commands';

SET courier.clock_offset = '74s';
\echo '-- t = 74 s: delivery 3 (the last one before the dead-letter queue): the downstream is back'
SELECT msg_id, receipt, receive_count, payload->>'command_id' AS command_id
  FROM courier.receive('commands') \gset c_
SELECT :'c_command_id' AS command_id, :c_receive_count AS receive_count;
BEGIN;
SELECT apply_command(:'c_command_id', :c_msg_id, :c_receive_count, 'consumer-A') AS status_row_written;
SELECT courier.delete('commands', :'c_receipt') AS deleted \gset
\echo 'delete returned' :deleted
\if :deleted
COMMIT;
\else
ROLLBACK;
\endif
SELECT command_id, status, delivery FROM command_status WHERE command_id = 'cmd-3';

\echo
\echo '== 4. A message with a schema version the consumer does not know (t = 74 s)'
SELECT courier.send('commands', '{"command_id": "cmd-4", "action": "ship", "order_id": 104}',
                    '{"type": "command.ship", "schema_version": 99}') AS msg_id;
\echo '-- the consumer knows schema versions' :known_versions
\echo '-- each delivery: receive, see schema_version 99, release with the error (3 times)'
SELECT r.payload->>'command_id' AS command_id, r.receive_count, r.schema_version,
       courier.release('commands', r.receipt,
                       error => format('unsupported schema_version %s (consumer knows %s)',
                                       r.schema_version, :'known_versions')) AS released
  FROM courier.receive('commands') AS r;
SELECT r.payload->>'command_id' AS command_id, r.receive_count, r.schema_version,
       courier.release('commands', r.receipt,
                       error => format('unsupported schema_version %s (consumer knows %s)',
                                       r.schema_version, :'known_versions')) AS released
  FROM courier.receive('commands') AS r;
SELECT r.payload->>'command_id' AS command_id, r.receive_count, r.schema_version,
       courier.release('commands', r.receipt,
                       error => format('unsupported schema_version %s (consumer knows %s)',
                                       r.schema_version, :'known_versions')) AS released
  FROM courier.receive('commands') AS r;
\echo '-- before the next receive: delivered 3 times, with the last error kept'
SELECT payload->>'command_id' AS command_id, receive_count, last_error
  FROM courier.messages WHERE queue_name = 'commands';
\echo '-- the 4th receive moves it to commands-dlq instead of delivering it'
SELECT count(*) AS received FROM courier.receive('commands');
SELECT count(*) AS messages_in_commands FROM courier.messages WHERE queue_name = 'commands';
\echo '-- the dead-letter queue says why:'
SELECT dead_letter_queue, source_queue, payload->>'command_id' AS command_id,
       error, receive_count, schema_version, type
  FROM courier.dead_letters WHERE dead_letter_queue = 'commands-dlq';
SELECT msg_id AS dead_msg_id FROM courier.dead_letters WHERE dead_letter_queue = 'commands-dlq' \gset
\echo '-- and the statistics show the failure: one dead letter from commands, held in commands-dlq'
SELECT queue_name, visible, in_flight, delayed, dead_letters_held, dead_letter_queue, dead_lettered
  FROM courier.queue_stats WHERE queue_name IN ('commands', 'commands-dlq') ORDER BY queue_name;

\echo
\echo '== 5. The consumer learns schema version 99; redrive (t = 80 s)'
SET courier.clock_offset = '80s';
\set known_versions '{1,99}'
\echo '-- the consumer now knows schema versions' :known_versions
SELECT courier.redrive('commands-dlq') AS redriven;
\echo '-- the redrive is in the audit log:'
SELECT action, object_name, details->>'moved' AS moved, details->>'destination' AS destination
  FROM courier.audit_log WHERE action = 'redrive' ORDER BY audit_id DESC LIMIT 1;
\echo '-- cmd-4 is back in commands as a new message that names the dead letter it replays:'
SELECT payload->>'command_id' AS command_id, origin_msg_id = :dead_msg_id AS replays_the_dead_letter,
       receive_count, schema_version
  FROM courier.messages WHERE queue_name = 'commands';
SELECT msg_id, receipt, receive_count, schema_version, payload->>'command_id' AS command_id
  FROM courier.receive('commands') \gset d_
SELECT :d_schema_version = ANY (:'known_versions'::int[]) AS can_handle \gset
\echo '-- received' :d_command_id 'schema_version' :d_schema_version 'can_handle' :can_handle
\if :can_handle
BEGIN;
SELECT apply_command(:'d_command_id', :d_msg_id, :d_receive_count, 'consumer-A') AS status_row_written;
SELECT courier.delete('commands', :'d_receipt') AS deleted \gset
\echo 'delete returned' :deleted
\if :deleted
COMMIT;
\else
ROLLBACK;
\endif
\else
SELECT courier.release('commands', :'d_receipt', error => 'still unsupported') AS released;
\endif

\echo
\echo '== 6. Success criteria'
\echo '-- one business effect per command: 1 status row and 1 ledger line each'
SELECT c.command_id,
       (SELECT count(*) FROM command_status AS s WHERE s.command_id = c.command_id) AS status_rows,
       (SELECT count(*) FROM command_ledger AS l WHERE l.command_id = c.command_id) AS ledger_lines,
       (SELECT s.delivery FROM command_status AS s WHERE s.command_id = c.command_id) AS done_on_delivery
  FROM (VALUES ('cmd-1'), ('cmd-2'), ('cmd-3'), ('cmd-4')) AS c(command_id)
 ORDER BY c.command_id;
\echo '-- the queues have drained'
SELECT q.queue_name, count(m.msg_id) AS messages
  FROM courier.queues AS q LEFT JOIN courier.messages AS m ON m.queue_name = q.queue_name
 WHERE q.queue_name IN ('commands', 'commands-dlq')
 GROUP BY q.queue_name ORDER BY q.queue_name;
\echo '-- no dead letters are left (their evidence was shown in step 4; a redrive does not copy it)'
SELECT count(*) AS dead_letters FROM courier.dead_letters WHERE dead_letter_queue = 'commands-dlq';

RESET courier.clock_offset;
