-- pg_courier demo: a producer, a consumer, a failure and a retry.
-- Run by `make run` against a fresh database with the extension created;
-- you can run it again yourself: psql -f examples/demo.sql
\set ON_ERROR_STOP on
\pset footer off
\set QUIET on
SET client_min_messages = warning;
\set QUIET off
SELECT courier.drop_queue('demo-orders', if_exists => true) \gset

\echo
\echo '== 1. A queue: leases last 30 seconds unless the consumer asks otherwise'
SELECT courier.create_queue('demo-orders', visibility_timeout => '30 seconds');

\echo
\echo '== 2. Producer: the order row and its message commit together'
DROP TABLE IF EXISTS demo_orders;
CREATE TABLE demo_orders (id int PRIMARY KEY, sku text, status text);
BEGIN;
INSERT INTO demo_orders VALUES (1, 'KB-101', 'placed'), (2, 'MS-202', 'placed');
SELECT courier.send('demo-orders', jsonb_build_object('order_id', id, 'sku', sku),
                    '{"type": "order.placed", "schema_version": 1, "correlation_id": "checkout-42"}')
       AS msg_id
  FROM demo_orders WHERE status = 'placed' ORDER BY id;
COMMIT;

\echo
\echo '== 3. A message sent in a rolled-back transaction never exists'
BEGIN;
SELECT courier.send('demo-orders', '{"order_id": 99}') AS msg_id_rolled_back;
ROLLBACK;
SELECT count(*) AS messages_in_queue FROM courier.messages WHERE queue_name = 'demo-orders';

\echo
\echo '== 4. Consumer: receive, do the work, delete -- in one transaction'
BEGIN;
SELECT msg_id, receipt, payload->>'order_id' AS order_id, type, receive_count
  FROM courier.receive('demo-orders', 1) \gset first_
UPDATE demo_orders SET status = 'shipped' WHERE id = :'first_order_id';
SELECT courier.delete('demo-orders', :'first_receipt') AS deleted;
COMMIT;
SELECT id, status FROM demo_orders ORDER BY id;

\echo
\echo '== 5. Failure: the next consumer cannot reach the warehouse, so it releases'
\echo '      the message with the error and asks for it back in 0 seconds'
SELECT msg_id, receipt, payload->>'order_id' AS order_id, receive_count
  FROM courier.receive('demo-orders', 1) \gset second_
SELECT :'second_order_id' AS order_id, :'second_receive_count' AS receive_count;
SELECT courier.release('demo-orders', :'second_receipt',
                       error => 'warehouse API timed out') AS released;
SELECT msg_id, receive_count, last_error
  FROM courier.messages WHERE queue_name = 'demo-orders';

\echo
\echo '== 6. The old receipt is dead: it can no longer delete the message'
SELECT msg_id, receipt, receive_count FROM courier.receive('demo-orders', 1) \gset retry_
SELECT courier.delete('demo-orders', :'second_receipt') AS stale_receipt_deleted;

\echo
\echo '== 7. Retry: the second delivery succeeds and is deleted with its own receipt'
BEGIN;
UPDATE demo_orders SET status = 'shipped' WHERE id = :'second_order_id';
SELECT :'retry_receive_count' AS receive_count,
       courier.delete('demo-orders', :'retry_receipt') AS deleted;
COMMIT;
SELECT id, status FROM demo_orders ORDER BY id;
SELECT count(*) AS messages_left FROM courier.messages WHERE queue_name = 'demo-orders';
