-- 17_workflow_tasks: Task resources beyond SQL functions and task tokens:
-- the courier:send, courier:publish and courier:put_events integrations
-- (result shapes, the message in its queue, topic or bus target, committed
-- with the step, failures named, caught and rolled back), .waitForTaskToken
-- end to end with a consumer, send_task_success / send_task_failure /
-- send_task_heartbeat, heartbeat and task timeouts on the controllable
-- clock, the machine's TimeoutSeconds while a task waits, stale and unknown
-- tokens refused with a SQLSTATE and nothing changed, stop_execution, and a
-- function task's TimeoutSeconds cutting a slow function short.
--
-- Assumes CREATE EXTENSION pgtap; CREATE EXTENSION pg_courier; were run.
BEGIN;
SELECT no_plan();

CREATE FUNCTION pg_temp.run() RETURNS integer
LANGUAGE sql AS $$ SELECT courier.run_executions(1000) $$;

CREATE FUNCTION pg_temp.status(id bigint) RETURNS text
LANGUAGE sql AS $$ SELECT status || coalesce(':' || error, '') FROM courier.executions WHERE execution_id = id $$;

CREATE FUNCTION pg_temp.events(id bigint) RETURNS text
LANGUAGE sql AS $$
    SELECT string_agg(type, ' ' ORDER BY event_id) FROM courier.get_execution_history(id)
$$;

-- the consumer's side: receive the next message of a queue, delete it,
-- and return the token it carries
CREATE FUNCTION pg_temp.take_token(q text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    r courier.received;
BEGIN
    SELECT * INTO r FROM courier.receive(q, 1);
    PERFORM courier.delete(q, r.receipt);
    RETURN r.payload->>'token';
END
$$;

CREATE FUNCTION pg_temp.queued(q text) RETURNS bigint
LANGUAGE sql AS $$ SELECT count(*) FROM courier.messages AS m WHERE m.queue_name = q $$;

CREATE TEMP TABLE ids (name text PRIMARY KEY, id bigint);
CREATE TEMP TABLE tokens (name text PRIMARY KEY, token text);
CREATE FUNCTION pg_temp.id(n text) RETURNS bigint
LANGUAGE sql AS $$ SELECT id FROM ids WHERE name = n $$;
CREATE FUNCTION pg_temp.token(n text) RETURNS text
LANGUAGE sql AS $$ SELECT token FROM tokens WHERE name = n $$;

SELECT courier.create_queue('wt_out');
SELECT courier.create_queue('wt_jobs');
SELECT courier.create_queue('wt_fifo.fifo', fifo => true);
SELECT courier.create_queue('wt_news_q');
SELECT courier.create_topic('wt_news');
SELECT courier.subscribe('wt_news', 'wt_news_q');
SELECT courier.create_queue('wt_events_q');
SELECT courier.create_bus('wt_bus');
SELECT courier.put_rule('wt_bus', 'all', '{"source": ["wf"]}');
SELECT courier.put_target('wt_bus', 'all', 't1', 'queue:wt_events_q');

------------------------------------------------------------------------------
-- courier:send
SELECT is(courier.create_state_machine('wt_send', '{
    "StartAt": "Send",
    "States": {
        "Send": {"Type": "Task", "Resource": "courier:send",
                 "Parameters": {"QueueName.$": "$.queue", "MessageBody": {"order.$": "$.order"},
                                "DelaySeconds": 5,
                                "MessageAttributes": {"type": {"DataType": "String", "StringValue": "OrderPlaced"},
                                                      "plain": "kept"}},
                 "ResultPath": "$.sent",
                 "Catch": [{"ErrorEquals": ["courier.QueueDoesNotExist"], "ResultPath": "$.error", "Next": "NoQueue"}],
                 "End": true},
        "NoQueue": {"Type": "Pass", "End": true}
    }}'), 1, 'a machine with a courier:send task');
INSERT INTO ids SELECT 'send', courier.start_execution('wt_send', '{"queue": "wt_out", "order": 7}');

-- the step rolled back: no message, the execution where it was
SAVEPOINT step;
SELECT pg_temp.run();
SELECT is(pg_temp.queued('wt_out'), 1::bigint, 'the step sent the message');
ROLLBACK TO SAVEPOINT step;
SELECT is(pg_temp.queued('wt_out'), 0::bigint, 'a rolled-back step leaves no message');
SELECT is(pg_temp.status(pg_temp.id('send')), 'RUNNING', 'and the execution runs still');

SELECT pg_temp.run();
SELECT is(pg_temp.status(pg_temp.id('send')), 'SUCCEEDED', 'courier:send succeeded');
SELECT is((SELECT output->'sent' FROM courier.executions WHERE execution_id = pg_temp.id('send')),
          jsonb_build_object('MessageId', (SELECT max(msg_id)::text FROM courier.messages WHERE queue_name = 'wt_out')),
          'the result is {"MessageId": the message''s id}');
SELECT results_eq($$SELECT payload, headers->>'plain', type FROM courier.messages WHERE queue_name = 'wt_out'$$,
                  $$VALUES ('{"order": 7}'::jsonb, 'kept'::text, 'OrderPlaced'::text)$$,
                  'MessageBody is the payload; MessageAttributes the headers (StringValue taken)');
SELECT ok((SELECT visible_at - sent_at BETWEEN interval '4.9 s' AND interval '5.1 s'
             FROM courier.messages WHERE queue_name = 'wt_out'), 'DelaySeconds delays it');
SELECT is(pg_temp.events(pg_temp.id('send')),
          'ExecutionStarted TaskStateEntered TaskScheduled TaskStarted TaskSucceeded TaskStateExited ExecutionSucceeded',
          'the history of a task: TaskScheduled, TaskStarted, TaskSucceeded');
SELECT is((SELECT details->>'resource' FROM courier.get_execution_history(pg_temp.id('send')) WHERE type = 'TaskScheduled'),
          'courier:send', 'TaskScheduled names the resource');

-- a FIFO queue: MessageGroupId, MessageDeduplicationId
SELECT courier.create_state_machine('wt_send_fifo', '{
    "StartAt": "Send",
    "States": {
        "Send": {"Type": "Task", "Resource": "courier:send",
                 "Parameters": {"QueueName": "wt_fifo.fifo", "MessageBody.$": "$.body",
                                "MessageGroupId": "g1", "MessageDeduplicationId.$": "$.dedup"},
                 "End": true}
    }}');
INSERT INTO ids SELECT 'fifo1', courier.start_execution('wt_send_fifo', '{"body": "a", "dedup": "d1"}');
INSERT INTO ids SELECT 'fifo2', courier.start_execution('wt_send_fifo', '{"body": "b", "dedup": "d1"}');
SELECT pg_temp.run();
SELECT results_eq($$SELECT payload, group_id COLLATE "default", dedup_id COLLATE "default" FROM courier.messages WHERE queue_name = 'wt_fifo.fifo'$$,
                  $$VALUES ('"a"'::jsonb, 'g1'::text, 'd1'::text)$$,
                  'MessageGroupId and MessageDeduplicationId: the duplicate was dropped');
SELECT is((SELECT output FROM courier.executions WHERE execution_id = pg_temp.id('fifo2')),
          (SELECT output FROM courier.executions WHERE execution_id = pg_temp.id('fifo1')),
          'the duplicate''s MessageId is the original''s');

-- a missing queue: courier.QueueDoesNotExist, caught
INSERT INTO ids SELECT 'noqueue', courier.start_execution('wt_send', '{"queue": "wt_nope", "order": 8}');
SELECT pg_temp.run();
SELECT results_eq($$SELECT status, output->'error'->>'Error', output->'error'->>'Cause'
                      FROM courier.executions WHERE execution_id = pg_temp.id('noqueue')$$,
                  $$VALUES ('SUCCEEDED'::text, 'courier.QueueDoesNotExist'::text, 'queue "wt_nope" does not exist'::text)$$,
                  'a missing queue is courier.QueueDoesNotExist, and Catch caught it');

-- bad Parameters: courier.InvalidParameter
SELECT courier.create_state_machine('wt_send_bad', '{
    "StartAt": "Send",
    "States": {
        "Send": {"Type": "Task", "Resource": "courier:send", "End": true}
    }}');
INSERT INTO ids SELECT 'bad1', courier.start_execution('wt_send_bad', '{"QueueName": "wt_out"}');
INSERT INTO ids SELECT 'bad2', courier.start_execution('wt_send_bad', '{"QueueName": "wt_out", "MessageBody": 1, "Queue": 2}');
INSERT INTO ids SELECT 'bad3', courier.start_execution('wt_send_bad', '{"QueueName": "wt_out", "MessageBody": 1, "DelaySeconds": 901}');
INSERT INTO ids SELECT 'bad4', courier.start_execution('wt_send_bad', '{"QueueName": 5, "MessageBody": 1}');
SELECT pg_temp.run();
SELECT results_eq($$SELECT e.cause FROM courier.executions AS e JOIN ids ON ids.id = e.execution_id
                     WHERE ids.name LIKE 'bad_' AND e.error = 'courier.InvalidParameter' ORDER BY ids.name$$,
                  $$VALUES ('courier:send: "MessageBody" is required'::text),
                           ('courier:send: unknown field "Queue"'),
                           ('courier:send: "DelaySeconds" must be an integer from 0 to 900'),
                           ('courier:send: "QueueName" must be a string')$$,
                  'bad Parameters fail with courier.InvalidParameter, saying what is wrong');
SELECT is(pg_temp.queued('wt_out'), 1::bigint, 'and sent nothing');

-- the role that started the execution needs EXECUTE on courier.send
CREATE ROLE wt_nobody;
INSERT INTO ids SELECT 'norole', courier.start_execution('wt_send', '{"queue": "wt_out", "order": 9}');
UPDATE courier.executions SET started_by = 'wt_nobody' WHERE execution_id = pg_temp.id('norole');
SELECT pg_temp.run();
SELECT is(pg_temp.status(pg_temp.id('norole')), 'FAILED:courier.PermissionDenied',
          'courier:send runs as the role that started the execution');

------------------------------------------------------------------------------
-- courier:publish
SELECT courier.create_state_machine('wt_publish', '{
    "StartAt": "Publish",
    "States": {
        "Publish": {"Type": "Task", "Resource": "courier:publish",
                    "Parameters": {"TopicName.$": "$.topic", "Message.$": "$.news", "Subject": "daily",
                                   "MessageAttributes": {"lang": {"DataType": "String", "StringValue": "en"}}},
                    "ResultSelector": {"id.$": "$.MessageId"},
                    "ResultPath": "$.published",
                    "Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error", "Next": "Failed"}],
                    "End": true},
        "Failed": {"Type": "Pass", "End": true}
    }}');
INSERT INTO ids SELECT 'publish', courier.start_execution('wt_publish', '{"topic": "wt_news", "news": {"headline": "x"}}');
INSERT INTO ids SELECT 'notopic', courier.start_execution('wt_publish', '{"topic": "wt_none", "news": 1}');
SELECT pg_temp.run();
SELECT is(pg_temp.status(pg_temp.id('publish')), 'SUCCEEDED', 'courier:publish succeeded');
SELECT ok((SELECT output->'published'->>'id' ~ '^[0-9]+$' FROM courier.executions WHERE execution_id = pg_temp.id('publish')),
          'its result is {"MessageId": the publish id}');
SELECT results_eq($$SELECT payload, headers FROM courier.messages WHERE queue_name = 'wt_news_q'$$,
                  $$VALUES ('{"headline": "x"}'::jsonb, '{"lang": "en", "Subject": "daily"}'::jsonb)$$,
                  'the subscribed queue got Message, with MessageAttributes and Subject as headers');
SELECT is((SELECT output->'error'->>'Error' FROM courier.executions WHERE execution_id = pg_temp.id('notopic')),
          'courier.TopicDoesNotExist', 'a missing topic is courier.TopicDoesNotExist (matched by States.TaskFailed)');

------------------------------------------------------------------------------
-- courier:put_events
SELECT courier.create_state_machine('wt_events', '{
    "StartAt": "Put",
    "States": {
        "Put": {"Type": "Task", "Resource": "courier:put_events",
                "Parameters": {"Entries.$": "$.entries"},
                "ResultPath": "$.put",
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}],
                "End": true},
        "Failed": {"Type": "Pass", "End": true}
    }}');
INSERT INTO ids SELECT 'put', courier.start_execution('wt_events', '{"entries": [
    {"EventBusName": "wt_bus", "Source": "wf", "DetailType": "A", "Detail": {"n": 1}, "Resources": ["r1"]},
    {"EventBusName": "wt_bus", "Source": "wf", "DetailType": "B", "Detail": "{\"n\": 2}"}]}');
SELECT pg_temp.run();
SELECT is(pg_temp.status(pg_temp.id('put')), 'SUCCEEDED', 'courier:put_events succeeded');
SELECT is((SELECT jsonb_build_object('n', jsonb_array_length(output->'put'->'Entries'),
                                     'failed', output->'put'->'FailedEntryCount',
                                     'ids', (SELECT bool_and(e ? 'EventId') FROM jsonb_array_elements(output->'put'->'Entries') AS e))
             FROM courier.executions WHERE execution_id = pg_temp.id('put')),
          '{"n": 2, "failed": 0, "ids": true}'::jsonb, 'its result: {"Entries": [{"EventId"}...], "FailedEntryCount": 0}');
SELECT results_eq($$SELECT payload->>'detail-type', payload->'detail', payload->'resources'
                      FROM courier.messages WHERE queue_name = 'wt_events_q' ORDER BY msg_id$$,
                  $$VALUES ('A'::text, '{"n": 1}'::jsonb, '["r1"]'::jsonb), ('B', '{"n": 2}', '[]')$$,
                  'the bus routed both events to its rule''s queue target (Detail as an object or JSON text)');

INSERT INTO ids SELECT 'put_bad', courier.start_execution('wt_events', '{"entries": [
    {"EventBusName": "wt_bus", "Source": "wf", "DetailType": "C", "Detail": {}},
    {"EventBusName": "wt_bus", "Source": "wf", "Detail": {}}]}');
INSERT INTO ids SELECT 'put_nobus', courier.start_execution('wt_events', '{"entries": [
    {"EventBusName": "wt_nobus", "Source": "wf", "DetailType": "C", "Detail": {}}]}');
SELECT pg_temp.run();
SELECT results_eq($$SELECT output->'error'->>'Error', (output->'error'->>'Cause')::jsonb->'FailedEntryCount'
                      FROM courier.executions WHERE execution_id = pg_temp.id('put_bad')$$,
                  $$VALUES ('courier.FailedEntry'::text, '1'::jsonb)$$,
                  'a failed entry fails the task with courier.FailedEntry, the PutEvents result as the cause');
SELECT is((SELECT count(*) FROM courier.messages WHERE queue_name = 'wt_events_q' AND payload->>'detail-type' = 'C'),
          0::bigint, 'and the good entry was rolled back with it');
SELECT is((SELECT output->'error'->>'Error' FROM courier.executions WHERE execution_id = pg_temp.id('put_nobus')),
          'courier.BusDoesNotExist', 'a missing bus is courier.BusDoesNotExist');

------------------------------------------------------------------------------
-- task tokens: the callback pattern, end to end
SELECT courier.create_state_machine('wt_token', '{
    "StartAt": "Ask",
    "States": {
        "Ask": {"Type": "Task", "Resource": "courier:send.waitForTaskToken",
                "Parameters": {"QueueName": "wt_jobs",
                               "MessageBody": {"order.$": "$.order", "token.$": "$$.Task.Token"}},
                "HeartbeatSeconds": 60,
                "TimeoutSeconds": 300,
                "ResultSelector": {"approved.$": "$.approved"},
                "ResultPath": "$.answer",
                "Retry": [{"ErrorEquals": ["Transient"], "IntervalSeconds": 1, "MaxAttempts": 1}],
                "Catch": [{"ErrorEquals": ["Rejected", "States.Timeout", "States.HeartbeatTimeout"],
                           "ResultPath": "$.error", "Next": "NotApproved"}],
                "Next": "Done"},
        "NotApproved": {"Type": "Pass", "End": true},
        "Done": {"Type": "Succeed"}
    }}');
INSERT INTO ids SELECT 'tok', courier.start_execution('wt_token', '{"order": 1}');
SELECT pg_temp.run();
SELECT results_eq($$SELECT status, current_state, state_phase FROM courier.executions WHERE execution_id = pg_temp.id('tok')$$,
                  $$VALUES ('RUNNING'::text, 'Ask'::text, 3::smallint)$$,
                  'a token task sent its message and waits for its token');
SELECT ok((SELECT next_step_at - courier.now() BETWEEN interval '59 s' AND interval '60 s'
             FROM courier.executions WHERE execution_id = pg_temp.id('tok')),
          'until its heartbeat deadline');
SELECT is(pg_temp.events(pg_temp.id('tok')),
          'ExecutionStarted TaskStateEntered TaskScheduled TaskStarted TaskSubmitted',
          'TaskSubmitted: the message went out');
SELECT is((SELECT details->'output' ? 'MessageId' FROM courier.get_execution_history(pg_temp.id('tok')) WHERE type = 'TaskSubmitted'),
          true, 'TaskSubmitted has the integration''s result');
SELECT is((SELECT details->'heartbeatInSeconds' FROM courier.get_execution_history(pg_temp.id('tok')) WHERE type = 'TaskScheduled'),
          '60'::jsonb, 'TaskScheduled has heartbeatInSeconds');
SELECT is(pg_temp.run(), 0, 'nothing to run while it waits');

-- the consumer: receives the message, reads the token from it
INSERT INTO tokens SELECT 'tok', pg_temp.take_token('wt_jobs');
SELECT ok(pg_temp.token('tok') ~ '^[A-Za-z0-9_-]{43}$', 'the message carries $$.Task.Token: 43 characters of base64url');
SELECT is((SELECT count(*) FROM courier.task_tokens WHERE token_hash = sha256(convert_to(pg_temp.token('tok'), 'UTF8'))),
          1::bigint, 'only its SHA-256 is stored');
SELECT is((SELECT count(*) FROM courier.task_tokens AS t, courier.execution_history AS h
            WHERE t.execution_id = pg_temp.id('tok') AND h.execution_id = t.execution_id
              AND h.details::text LIKE '%' || pg_temp.token('tok') || '%' AND h.type <> 'TaskScheduled'),
          0::bigint, 'and the token is in no history event but TaskScheduled''s parameters');

-- a heartbeat moves the deadline
SET LOCAL courier.clock_offset = 50;
SELECT lives_ok(format('SELECT courier.send_task_heartbeat(%L)', pg_temp.token('tok')), 'send_task_heartbeat');
SELECT ok((SELECT next_step_at - courier.now() BETWEEN interval '59 s' AND interval '60 s'
             FROM courier.executions WHERE execution_id = pg_temp.id('tok')),
          'the heartbeat deadline is 60 s from the heartbeat');
SET LOCAL courier.clock_offset = 100;
SELECT is(pg_temp.run(), 0, 'past the first heartbeat deadline, within the new one: still waiting');

-- send_task_success
SELECT lives_ok(format('SELECT courier.send_task_success(%L, %L)', pg_temp.token('tok'), '{"approved": true, "by": "ann"}'),
                'send_task_success');
SELECT ok((SELECT next_step_at <= courier.now() FROM courier.executions WHERE execution_id = pg_temp.id('tok')),
          'makes the execution due');
SELECT pg_temp.run();
SELECT results_eq($$SELECT status, output FROM courier.executions WHERE execution_id = pg_temp.id('tok')$$,
                  $$VALUES ('SUCCEEDED'::text, '{"order": 1, "answer": {"approved": true}}'::jsonb)$$,
                  'the output went through ResultSelector and ResultPath');
SELECT is(pg_temp.events(pg_temp.id('tok')),
          'ExecutionStarted TaskStateEntered TaskScheduled TaskStarted TaskSubmitted TaskSucceeded TaskStateExited SucceedStateEntered SucceedStateExited ExecutionSucceeded',
          'the history of a token task');

-- a used token is stale, and changes nothing
SELECT throws_like(format('SELECT courier.send_task_success(%L, %L)', pg_temp.token('tok'), '{}'),
                   'TaskDoesNotExist:%', 'a completed task''s token: TaskDoesNotExist');
SELECT throws_ok(format('SELECT courier.send_task_failure(%L)', pg_temp.token('tok')), '55000', NULL,
                 'with SQLSTATE 55000');
SELECT throws_ok(format('SELECT courier.send_task_heartbeat(%L)', pg_temp.token('tok')), '55000', NULL,
                 'a heartbeat too');
SELECT is((SELECT status || ' ' || (output->>'by') FROM courier.task_tokens WHERE execution_id = pg_temp.id('tok')),
          'SUCCEEDED ann', 'the token kept its first outcome');

-- unknown and malformed tokens
SELECT throws_ok($$SELECT courier.send_task_success('AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', '{}')$$, '42704',
                 'TaskDoesNotExist: no task has this task token', 'an unknown token: TaskDoesNotExist, 42704');
SELECT throws_ok($$SELECT courier.send_task_success('not a token', '{}')$$, '22023',
                 'InvalidToken: the task token is malformed', 'a malformed token: InvalidToken, 22023');
SELECT throws_ok($$SELECT courier.send_task_success(NULL, '{}')$$, '22004', NULL, 'a NULL token');

-- send_task_failure: Catch; Retry runs the task again with a new token
INSERT INTO ids SELECT 'rej', courier.start_execution('wt_token', '{"order": 2}');
SELECT pg_temp.run();
INSERT INTO tokens SELECT 'rej1', pg_temp.take_token('wt_jobs');
SELECT throws_ok(format('SELECT courier.send_task_success(%L, NULL)', pg_temp.token('rej1')), '22004', NULL,
                 'send_task_success needs an output');
SELECT throws_ok(format('SELECT courier.send_task_failure(%L, %L)', pg_temp.token('rej1'), repeat('x', 257)), '22001', NULL,
                 'an error name of more than 256 characters');
SELECT lives_ok(format('SELECT courier.send_task_failure(%L, %L, %L)', pg_temp.token('rej1'), 'Transient', 'try again'),
                'send_task_failure');
SELECT pg_temp.run();
SELECT results_eq($$SELECT status, current_state, retry_counts FROM courier.executions WHERE execution_id = pg_temp.id('rej')$$,
                  $$VALUES ('RUNNING'::text, 'Ask'::text, '{1}'::integer[])$$,
                  'a failure Retry matches waits for the retry');
SET LOCAL courier.clock_offset = 102;
SELECT pg_temp.run();
INSERT INTO tokens SELECT 'rej2', pg_temp.take_token('wt_jobs');
SELECT isnt(pg_temp.token('rej2'), pg_temp.token('rej1'), 'the retry sent a new message with a new token');
SELECT throws_like(format('SELECT courier.send_task_success(%L, %L)', pg_temp.token('rej1'), '{}'),
                   'TaskDoesNotExist:%', 'the first attempt''s token is stale');
SELECT lives_ok(format('SELECT courier.send_task_failure(%L, %L, %L)', pg_temp.token('rej2'), 'Rejected', 'out of stock'),
                'send_task_failure again');
SELECT pg_temp.run();
SELECT results_eq($$SELECT status, output->'error' FROM courier.executions WHERE execution_id = pg_temp.id('rej')$$,
                  $$VALUES ('SUCCEEDED'::text, '{"Error": "Rejected", "Cause": "out of stock"}'::jsonb)$$,
                  'the failure''s error and cause, caught');
SELECT is((SELECT count(*) FROM courier.get_execution_history(pg_temp.id('rej')) WHERE type = 'TaskFailed'),
          2::bigint, 'TaskFailed for each failure');

-- send_task_failure without an error: States.TaskFailed
SELECT courier.create_state_machine('wt_token_plain', '{
    "StartAt": "Ask",
    "States": {
        "Ask": {"Type": "Task", "Resource": "courier:send.waitForTaskToken",
                "Parameters": {"QueueName": "wt_jobs", "MessageBody": {"token.$": "$$.Task.Token"}},
                "End": true}
    }}');
INSERT INTO ids SELECT 'plain', courier.start_execution('wt_token_plain', '{}');
SELECT pg_temp.run();
SELECT is((SELECT next_step_at FROM courier.executions WHERE execution_id = pg_temp.id('plain')), NULL,
          'a token task without deadlines waits with next_step_at NULL');
INSERT INTO tokens SELECT 'plain', pg_temp.take_token('wt_jobs');
SELECT lives_ok(format('SELECT courier.send_task_heartbeat(%L)', pg_temp.token('plain')),
                'a heartbeat on a task without HeartbeatSeconds succeeds');
SELECT is((SELECT next_step_at FROM courier.executions WHERE execution_id = pg_temp.id('plain')), NULL,
          'and changes nothing');
SELECT courier.send_task_failure(pg_temp.token('plain'));
SELECT pg_temp.run();
SELECT is(pg_temp.status(pg_temp.id('plain')), 'FAILED:States.TaskFailed', 'a failure without an error name is States.TaskFailed');

-- a rolled-back send_task_success changes nothing
INSERT INTO ids SELECT 'rb', courier.start_execution('wt_token_plain', '{}');
SELECT pg_temp.run();
INSERT INTO tokens SELECT 'rb', pg_temp.take_token('wt_jobs');
SAVEPOINT cb;
SELECT courier.send_task_success(pg_temp.token('rb'), '"yes"');
ROLLBACK TO SAVEPOINT cb;
SELECT results_eq($$SELECT t.status, e.next_step_at IS NULL FROM courier.task_tokens AS t
                      JOIN courier.executions AS e USING (execution_id) WHERE t.execution_id = pg_temp.id('rb')$$,
                  $$VALUES ('WAITING'::text, true)$$,
                  'send_task_success is transactional with its caller');
SELECT courier.send_task_success(pg_temp.token('rb'), '"yes"');
SELECT pg_temp.run();
SELECT results_eq($$SELECT status, output FROM courier.executions WHERE execution_id = pg_temp.id('rb')$$,
                  $$VALUES ('SUCCEEDED'::text, '"yes"'::jsonb)$$, 'then it completes');

------------------------------------------------------------------------------
-- timeouts of token tasks, on the controllable clock
SET LOCAL courier.clock_offset = 1000;
INSERT INTO ids SELECT 'hb', courier.start_execution('wt_token', '{"order": 3}');
SELECT pg_temp.run();
INSERT INTO tokens SELECT 'hb', pg_temp.take_token('wt_jobs');
SET LOCAL courier.clock_offset = 1061;
SELECT throws_like(format('SELECT courier.send_task_success(%L, %L)', pg_temp.token('hb'), '{}'),
                   'TaskTimedOut:%', 'past its heartbeat deadline the token is TaskTimedOut, before the engine ran');
SELECT pg_temp.run();
SELECT results_eq($$SELECT status, output->'error'->>'Error' FROM courier.executions WHERE execution_id = pg_temp.id('hb')$$,
                  $$VALUES ('SUCCEEDED'::text, 'States.HeartbeatTimeout'::text)$$,
                  'no heartbeat: States.HeartbeatTimeout, caught by name');
SELECT ok(pg_temp.events(pg_temp.id('hb')) LIKE '%TaskSubmitted TaskTimedOut TaskStateExited%', 'TaskTimedOut in the history');
SELECT throws_ok(format('SELECT courier.send_task_success(%L, %L)', pg_temp.token('hb'), '{}'), '55000',
                 'TaskTimedOut: the task of this task token timed out', 'after it: TaskTimedOut, 55000');
SELECT is((SELECT status FROM courier.task_tokens WHERE execution_id = pg_temp.id('hb')), 'TIMED_OUT',
          'the token timed out');

-- heartbeats keep it alive until TimeoutSeconds
SET LOCAL courier.clock_offset = 2000;
INSERT INTO ids SELECT 'to', courier.start_execution('wt_token', '{"order": 4}');
SELECT pg_temp.run();
INSERT INTO tokens SELECT 'to', pg_temp.take_token('wt_jobs');
SET LOCAL courier.clock_offset = 2050;
SELECT courier.send_task_heartbeat(pg_temp.token('to'));
SET LOCAL courier.clock_offset = 2100;
SELECT courier.send_task_heartbeat(pg_temp.token('to'));
SET LOCAL courier.clock_offset = 2150;
SELECT courier.send_task_heartbeat(pg_temp.token('to'));
SET LOCAL courier.clock_offset = 2200;
SELECT courier.send_task_heartbeat(pg_temp.token('to'));
SET LOCAL courier.clock_offset = 2250;
SELECT courier.send_task_heartbeat(pg_temp.token('to'));
SELECT pg_temp.run();
SELECT is(pg_temp.status(pg_temp.id('to')), 'RUNNING', 'heartbeats keep the task waiting');
SELECT ok((SELECT next_step_at - courier.now() BETWEEN interval '49 s' AND interval '50 s'
             FROM courier.executions WHERE execution_id = pg_temp.id('to')),
          'the deadline is now TimeoutSeconds, sooner than the next heartbeat''s');
SET LOCAL courier.clock_offset = 2301;
SELECT pg_temp.run();
SELECT results_eq($$SELECT status, output->'error'->>'Error' FROM courier.executions WHERE execution_id = pg_temp.id('to')$$,
                  $$VALUES ('SUCCEEDED'::text, 'States.Timeout'::text)$$,
                  'past TimeoutSeconds: States.Timeout, caught by name');

-- TimeoutSecondsPath, HeartbeatSecondsPath; States.TaskFailed does not match timeouts
SELECT courier.create_state_machine('wt_token_path', '{
    "StartAt": "Ask",
    "States": {
        "Ask": {"Type": "Task", "Resource": "courier:send.waitForTaskToken",
                "Parameters": {"QueueName": "wt_jobs", "MessageBody": {"token.$": "$$.Task.Token"}},
                "TimeoutSecondsPath": "$.timeout",
                "HeartbeatSecondsPath": "$.heartbeat",
                "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "Caught"}],
                "End": true},
        "Caught": {"Type": "Pass", "End": true}
    }}');
SET LOCAL courier.clock_offset = 3000;
INSERT INTO ids SELECT 'path', courier.start_execution('wt_token_path', '{"timeout": 20, "heartbeat": 10}');
INSERT INTO ids SELECT 'path_bad', courier.start_execution('wt_token_path', '{"timeout": "soon", "heartbeat": 10}');
SELECT pg_temp.run();
SELECT ok((SELECT next_step_at - courier.now() BETWEEN interval '9 s' AND interval '10 s'
             FROM courier.executions WHERE execution_id = pg_temp.id('path')), 'HeartbeatSecondsPath');
SELECT is(pg_temp.status(pg_temp.id('path_bad')), 'FAILED:States.Runtime', 'a TimeoutSecondsPath that is not a positive integer');
SELECT is((SELECT count(*) FROM courier.messages WHERE queue_name = 'wt_jobs' AND visible_at <= courier.now()), 1::bigint,
          'and it sent nothing');
SELECT pg_temp.take_token('wt_jobs');
SET LOCAL courier.clock_offset = 3011;
SELECT pg_temp.run();
SELECT is(pg_temp.status(pg_temp.id('path')), 'FAILED:States.HeartbeatTimeout',
          'States.TaskFailed does not catch States.HeartbeatTimeout');

-- the machine's TimeoutSeconds fires while a task waits
SELECT courier.create_state_machine('wt_token_machine', '{
    "StartAt": "Ask", "TimeoutSeconds": 30,
    "States": {
        "Ask": {"Type": "Task", "Resource": "courier:send.waitForTaskToken",
                "Parameters": {"QueueName": "wt_jobs", "MessageBody": {"token.$": "$$.Task.Token"}},
                "End": true}
    }}');
SET LOCAL courier.clock_offset = 4000;
INSERT INTO ids SELECT 'machine', courier.start_execution('wt_token_machine', '{}');
SELECT pg_temp.run();
INSERT INTO tokens SELECT 'machine', pg_temp.take_token('wt_jobs');
SELECT ok((SELECT next_step_at - courier.now() BETWEEN interval '29 s' AND interval '30 s'
             FROM courier.executions WHERE execution_id = pg_temp.id('machine')),
          'a task without deadlines waits until the machine''s TimeoutSeconds');
SET LOCAL courier.clock_offset = 4031;
SELECT pg_temp.run();
SELECT is(pg_temp.status(pg_temp.id('machine')), 'TIMED_OUT:States.Timeout', 'the execution timed out');
SELECT throws_like(format('SELECT courier.send_task_success(%L, %L)', pg_temp.token('machine'), '{}'),
                   'TaskTimedOut:%', 'and its token is TaskTimedOut');

-- stop_execution makes the token stale
INSERT INTO ids SELECT 'stop', courier.start_execution('wt_token_plain', '{}');
SELECT pg_temp.run();
INSERT INTO tokens SELECT 'stop', pg_temp.take_token('wt_jobs');
SELECT courier.stop_execution(pg_temp.id('stop'));
SELECT ok(pg_temp.events(pg_temp.id('stop')) LIKE '%TaskSubmitted TaskStateAborted ExecutionAborted',
          'stopped while its task waits for the token: TaskStateAborted before ExecutionAborted');
SELECT throws_ok(format('SELECT courier.send_task_success(%L, %L)', pg_temp.token('stop'), '{}'), '55000', NULL,
                 'a stopped execution''s token is stale');
SELECT throws_like(format('SELECT courier.send_task_heartbeat(%L)', pg_temp.token('stop')),
                   'TaskDoesNotExist:%', 'TaskDoesNotExist');
SELECT results_eq($$SELECT e.status, t.status FROM courier.executions AS e JOIN courier.task_tokens AS t USING (execution_id)
                     WHERE e.execution_id = pg_temp.id('stop')$$,
                  $$VALUES ('ABORTED'::text, 'WAITING'::text)$$, 'and nothing changed');

-- stopped while a task waits for its retry: TaskStateAborted too
CREATE FUNCTION public.wt_busy(input jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = public AS $$
BEGIN
    RAISE EXCEPTION 'busy' USING ERRCODE = 'lock_not_available';
END
$$;
SELECT courier.create_state_machine('wt_stop_retry', '{
    "StartAt": "Busy",
    "States": {
        "Busy": {"Type": "Task", "Resource": "function:public.wt_busy",
                 "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 60, "MaxAttempts": 3}],
                 "End": true}
    }}');
INSERT INTO ids SELECT 'stop_retry', courier.start_execution('wt_stop_retry', '{}');
SELECT pg_temp.run();
SELECT is((SELECT state_phase FROM courier.executions WHERE execution_id = pg_temp.id('stop_retry')), 2::smallint,
          'the task waits for its retry');
SELECT courier.stop_execution(pg_temp.id('stop_retry'));
SELECT ok(pg_temp.events(pg_temp.id('stop_retry')) LIKE '%TaskFailed TaskStateAborted ExecutionAborted',
          'stopped while its task waits for a retry: TaskStateAborted before ExecutionAborted');

-- courier:publish and function tasks wait for tokens too
CREATE TABLE public.wt_pending (token text);
CREATE FUNCTION public.wt_park(input jsonb) RETURNS jsonb
LANGUAGE sql SET search_path = public AS $$
    INSERT INTO wt_pending VALUES (input->>'token');
    SELECT '{"parked": true}'::jsonb
$$;
SELECT courier.create_state_machine('wt_token_more', '{
    "StartAt": "Publish",
    "States": {
        "Publish": {"Type": "Task", "Resource": "courier:publish.waitForTaskToken",
                    "Parameters": {"TopicName": "wt_news", "Message": {"token.$": "$$.Task.Token"}},
                    "ResultPath": "$.a", "Next": "Park"},
        "Park": {"Type": "Task", "Resource": "function:public.wt_park.waitForTaskToken",
                 "Parameters": {"token.$": "$$.Task.Token"}, "ResultPath": "$.b", "End": true}
    }}');
DELETE FROM courier.messages WHERE queue_name = 'wt_news_q';
INSERT INTO ids SELECT 'more', courier.start_execution('wt_token_more', '{}');
SELECT pg_temp.run();
SELECT courier.send_task_success(pg_temp.take_token('wt_news_q'), '1');
SELECT pg_temp.run();
SELECT is((SELECT current_state FROM courier.executions WHERE execution_id = pg_temp.id('more')), 'Park',
          'courier:publish.waitForTaskToken');
SELECT courier.send_task_success((SELECT token FROM public.wt_pending), '2');
SELECT pg_temp.run();
SELECT results_eq($$SELECT status, output FROM courier.executions WHERE execution_id = pg_temp.id('more')$$,
                  $$VALUES ('SUCCEEDED'::text, '{"a": 1, "b": 2}'::jsonb)$$,
                  'function:SCHEMA.NAME.waitForTaskToken');

------------------------------------------------------------------------------
-- a function task's TimeoutSeconds (real time: 1 second)
CREATE TABLE public.wt_slow_log (n int);
CREATE FUNCTION public.wt_slow(input jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = public AS $$
BEGIN
    INSERT INTO wt_slow_log VALUES (1);
    PERFORM pg_sleep((input->>'sleep')::float8);
    RETURN '{"slept": true}';
END
$$;
SELECT courier.create_state_machine('wt_slow', '{
    "StartAt": "Slow",
    "States": {
        "Slow": {"Type": "Task", "Resource": "function:public.wt_slow", "TimeoutSeconds": 1,
                 "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "Wrong"},
                           {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "TimedOut"}],
                 "End": true},
        "Wrong": {"Type": "Fail", "Error": "Wrong"},
        "TimedOut": {"Type": "Pass", "End": true}
    }}');
INSERT INTO ids SELECT 'slow', courier.start_execution('wt_slow', '{"sleep": 30}');
INSERT INTO ids SELECT 'quick', courier.start_execution('wt_slow', '{"sleep": 0}');
CREATE TEMP TABLE t0 AS SELECT clock_timestamp() AS t;
SELECT pg_temp.run();
SELECT ok(clock_timestamp() - (SELECT t FROM t0) < interval '5 s', 'a 30 s function with TimeoutSeconds 1 was stopped');
SELECT results_eq($$SELECT status, output->'error'->>'Error' FROM courier.executions WHERE execution_id = pg_temp.id('slow')$$,
                  $$VALUES ('SUCCEEDED'::text, 'States.Timeout'::text)$$,
                  'with States.Timeout, not matched by States.TaskFailed');
SELECT is((SELECT count(*) FROM public.wt_slow_log), 1::bigint, 'its write was rolled back; the quick one''s is there');
SELECT is(pg_temp.status(pg_temp.id('quick')), 'SUCCEEDED', 'a function within its TimeoutSeconds succeeds');
SELECT ok(pg_temp.events(pg_temp.id('slow')) LIKE '%TaskStarted TaskTimedOut%', 'TaskTimedOut in the history');
SELECT lives_ok($$SELECT pg_sleep(1.2)$$, 'the timer is off once the task ended');

-- a cancel that is not the task's own (statement_timeout) cancels the run
CREATE FUNCTION pg_temp.run_cancelled() RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM courier.run_executions(1000);
    RETURN 'ran';
EXCEPTION WHEN query_canceled THEN
    RETURN 'cancelled';
END
$$;
SELECT courier.create_state_machine('wt_slow_untimed', '{
    "StartAt": "Slow",
    "States": {
        "Slow": {"Type": "Task", "Resource": "function:public.wt_slow",
                 "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "End": true},
        "Caught": {"Type": "Pass", "End": true}
    }}');
INSERT INTO ids SELECT 'cancel', courier.start_execution('wt_slow_untimed', '{"sleep": 30}');
SET LOCAL statement_timeout = '1s';
SELECT is(pg_temp.run_cancelled(), 'cancelled', 'statement_timeout is not a task timeout: it cancels the run');
RESET statement_timeout;
SELECT results_eq($$SELECT status, current_state, state_phase FROM courier.executions WHERE execution_id = pg_temp.id('cancel')$$,
                  $$VALUES ('RUNNING'::text, 'Slow'::text, 0::smallint)$$,
                  'and the execution is where it was, to run again');

SELECT * FROM finish();
ROLLBACK;
