-- Exercise 4: a saga.  An order goes through five SQL tasks, each its own
-- Task state: validate it, reserve its stock, generate its invoice, notify
-- the customer (a message on a queue, through courier.send) and publish an
-- OrderPlaced event (courier.put_events).  Each step retries transient
-- errors; a permanent error is caught and runs the compensations of the
-- steps already done, in reverse (cancel the notification, void the
-- invoice, release the reservation, cancel the order), and the execution
-- then FAILS with the step's error.
--
--   psql -d DB -f examples/exercise4.sql      (CREATE EXTENSION pg_courier first; as a superuser)
--
-- Failures are injected from a table, ex4_failures: a step of an order
-- fails with a named error the first `times` attempts (a transient error,
-- Transient.<Step>, which its Retry absorbs), or always (times NULL: a
-- permanent one, for its Catch).  Each step does its writes first and only
-- then looks at the injected failures: a failed attempt leaves nothing
-- behind, because a task runs in a subtransaction and its writes commit
-- with the transition that follows it, or not at all.
--
-- Eleven orders: one with no failure, one with a transient failure at each
-- step, one with a permanent failure at each step (order 7 is invalid,
-- order 8 asks for more stock than there is, orders 9 to 11 have injected
-- failures).  The executions are advanced one transition per transaction,
-- the clock (courier.clock_offset) moved over each retry's backoff instead
-- of sleeping.  The script can be run again: it starts by dropping what it
-- made.  test/scenarios/exercise4.sh runs it and checks the outcome.
\set ON_ERROR_STOP on
SET client_min_messages = warning;

SELECT courier.stop_execution(execution_id) FROM courier.executions
 WHERE state_machine_name = 'ex4-order' AND status = 'RUNNING';
SELECT courier.delete_state_machine(state_machine_name)
  FROM courier.list_state_machines() WHERE state_machine_name = 'ex4-order';
SELECT courier.drop_bus('ex4-orders', if_exists => true);
SELECT courier.drop_queue(q, if_exists => true) FROM unnest(ARRAY['ex4-notifications', 'ex4-events']) AS q;
DROP TABLE IF EXISTS ex4_stock, ex4_orders, ex4_reservations, ex4_invoices, ex4_compensations, ex4_failures;
DROP FUNCTION IF EXISTS public.ex4_inject(jsonb, text), public.ex4_validate(jsonb), public.ex4_reserve(jsonb),
    public.ex4_generate(jsonb), public.ex4_notify(jsonb), public.ex4_publish(jsonb),
    public.ex4_unnotify(jsonb), public.ex4_void_invoice(jsonb), public.ex4_release(jsonb),
    public.ex4_cancel(jsonb);

CREATE TABLE ex4_stock (sku text PRIMARY KEY, price numeric NOT NULL, available integer NOT NULL CHECK (available >= 0));
INSERT INTO ex4_stock VALUES ('BOOK', 12.50, 100), ('LAMP', 40.00, 100);
CREATE TABLE ex4_orders (order_id integer PRIMARY KEY, status text NOT NULL);
CREATE TABLE ex4_reservations (order_id integer PRIMARY KEY, sku text NOT NULL, qty integer NOT NULL);
CREATE TABLE ex4_invoices (invoice_no serial PRIMARY KEY, order_id integer NOT NULL UNIQUE,
                           amount numeric NOT NULL, status text NOT NULL);
CREATE TABLE ex4_compensations (seq serial PRIMARY KEY, order_id integer NOT NULL, step text NOT NULL);
CREATE TABLE ex4_failures (order_id integer, step text, error text NOT NULL, times integer,
                           PRIMARY KEY (order_id, step));

SELECT courier.create_queue('ex4-notifications');
SELECT courier.create_queue('ex4-events');
SELECT courier.create_bus('ex4-orders');
SELECT courier.put_rule('ex4-orders', 'placed', '{"source": ["ex4.shop"], "detail-type": ["OrderPlaced"]}');
SELECT courier.put_target('ex4-orders', 'placed', 'to-events', 'queue:ex4-events', input_path => '$.detail');

-- The injected failure of a step, if any: called by each step after its
-- writes.  input->'attempt' is $$.State.RetryCount (0 on the first try).
CREATE FUNCTION public.ex4_inject(input jsonb, step text) RETURNS void
LANGUAGE plpgsql SET search_path = public AS $$
DECLARE
    f ex4_failures;
BEGIN
    SELECT * INTO f FROM ex4_failures
     WHERE order_id = (input->'order'->>'id')::integer AND ex4_failures.step = ex4_inject.step;
    IF FOUND AND (f.times IS NULL OR (input->>'attempt')::integer < f.times) THEN
        PERFORM courier.task_error(f.error, format('injected: %s of order %s, attempt %s',
                                                   step, input->'order'->>'id', (input->>'attempt')::integer + 1));
    END IF;
END
$$;

CREATE FUNCTION public.ex4_validate(input jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = public AS $$
DECLARE
    o jsonb := input->'order';
    price numeric;
BEGIN
    SELECT s.price INTO price FROM ex4_stock AS s WHERE s.sku = o->>'sku';
    IF price IS NULL OR coalesce((o->>'qty')::integer, 0) <= 0 THEN
        PERFORM courier.task_error('Order.Invalid', format('order %s: unknown sku or no quantity', o->>'id'));
    END IF;
    INSERT INTO ex4_orders VALUES ((o->>'id')::integer, 'validated');
    PERFORM ex4_inject(input, 'validate');
    RETURN jsonb_build_object('amount', price * (o->>'qty')::integer);
END
$$;

CREATE FUNCTION public.ex4_reserve(input jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = public AS $$
DECLARE
    o jsonb := input->'order';
BEGIN
    UPDATE ex4_stock SET available = available - (o->>'qty')::integer
     WHERE sku = o->>'sku' AND available >= (o->>'qty')::integer;
    IF NOT FOUND THEN
        PERFORM courier.task_error('Stock.Insufficient', format('order %s: not %s of %s in stock',
                                                                o->>'id', o->>'qty', o->>'sku'));
    END IF;
    INSERT INTO ex4_reservations VALUES ((o->>'id')::integer, o->>'sku', (o->>'qty')::integer);
    UPDATE ex4_orders SET status = 'reserved' WHERE order_id = (o->>'id')::integer;
    PERFORM ex4_inject(input, 'reserve');
    RETURN jsonb_build_object('sku', o->>'sku', 'qty', (o->>'qty')::integer);
END
$$;

CREATE FUNCTION public.ex4_generate(input jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = public AS $$
DECLARE
    n integer;
BEGIN
    INSERT INTO ex4_invoices (order_id, amount, status)
    VALUES ((input->'order'->>'id')::integer, (input->>'amount')::numeric, 'issued')
    RETURNING invoice_no INTO n;
    PERFORM ex4_inject(input, 'generate');
    RETURN jsonb_build_object('invoice_no', n);
END
$$;

CREATE FUNCTION public.ex4_notify(input jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = public AS $$
DECLARE
    id bigint;
BEGIN
    id := courier.send('ex4-notifications',
                       jsonb_build_object('order', input->'order'->'id', 'kind', 'confirmed',
                                          'invoice_no', input->'invoice_no'));
    PERFORM ex4_inject(input, 'notify');
    RETURN jsonb_build_object('message_id', id);
END
$$;

CREATE FUNCTION public.ex4_publish(input jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = public AS $$
DECLARE
    r record;
BEGIN
    SELECT * INTO r FROM courier.put_events('ex4-orders', jsonb_build_array(jsonb_build_object(
        'source', 'ex4.shop', 'detail-type', 'OrderPlaced',
        'detail', jsonb_build_object('order', input->'order'->'id', 'invoice_no', input->'invoice_no'))));
    IF r.error IS NOT NULL THEN
        PERFORM courier.task_error('Publish.Refused', r.error);
    END IF;
    UPDATE ex4_orders SET status = 'placed' WHERE order_id = (input->'order'->>'id')::integer;
    PERFORM ex4_inject(input, 'publish');
    RETURN jsonb_build_object('event_id', r.event_id);
END
$$;

-- Compensations: each undoes one step, and records that it ran.
CREATE FUNCTION public.ex4_unnotify(input jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = public AS $$
BEGIN
    PERFORM courier.send('ex4-notifications',
                         jsonb_build_object('order', input->'order'->'id', 'kind', 'cancelled'));
    INSERT INTO ex4_compensations (order_id, step) VALUES ((input->'order'->>'id')::integer, 'unnotify');
    RETURN NULL;
END
$$;

CREATE FUNCTION public.ex4_void_invoice(input jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = public AS $$
BEGIN
    UPDATE ex4_invoices SET status = 'void' WHERE order_id = (input->'order'->>'id')::integer;
    INSERT INTO ex4_compensations (order_id, step) VALUES ((input->'order'->>'id')::integer, 'void_invoice');
    RETURN NULL;
END
$$;

CREATE FUNCTION public.ex4_release(input jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = public AS $$
DECLARE
    r ex4_reservations;
BEGIN
    DELETE FROM ex4_reservations WHERE order_id = (input->'order'->>'id')::integer RETURNING * INTO r;
    IF FOUND THEN
        UPDATE ex4_stock SET available = available + r.qty WHERE sku = r.sku;
    END IF;
    INSERT INTO ex4_compensations (order_id, step) VALUES ((input->'order'->>'id')::integer, 'release');
    RETURN NULL;
END
$$;

CREATE FUNCTION public.ex4_cancel(input jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = public AS $$
BEGIN
    UPDATE ex4_orders SET status = 'cancelled' WHERE order_id = (input->'order'->>'id')::integer;
    INSERT INTO ex4_compensations (order_id, step) VALUES ((input->'order'->>'id')::integer, 'cancel');
    RETURN NULL;
END
$$;

-- The saga.  Each step passes the order and $$.State.RetryCount to its
-- function; Retry absorbs its Transient.<Step> errors (1 s, 2 s, 4 s);
-- Catch sends any other error, with {"Error", "Cause"} at $.error, to the
-- compensation of the step before it (Validate, which has nothing to undo
-- when it fails, to OrderFailed).  A compensation retries whatever
-- fails (it must not be skipped), and the last one leads to OrderFailed,
-- which fails the execution with the step's error.
SELECT courier.create_state_machine('ex4-order', '{
  "Comment": "Exercise 4: an order saga with compensations",
  "StartAt": "Validate",
  "States": {
    "Validate": {"Type": "Task", "Resource": "function:public.ex4_validate",
      "Parameters": {"order.$": "$.order", "attempt.$": "$$.State.RetryCount"},
      "ResultSelector": {"amount.$": "$.amount"}, "ResultPath": "$.validated",
      "Retry": [{"ErrorEquals": ["Transient.validate"], "IntervalSeconds": 1, "BackoffRate": 2, "MaxAttempts": 3}],
      "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "OrderFailed"}],
      "Next": "Reserve"},
    "Reserve": {"Type": "Task", "Resource": "function:public.ex4_reserve",
      "Parameters": {"order.$": "$.order", "attempt.$": "$$.State.RetryCount"},
      "ResultPath": "$.reservation",
      "Retry": [{"ErrorEquals": ["Transient.reserve"], "IntervalSeconds": 1, "BackoffRate": 2, "MaxAttempts": 3}],
      "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "CancelOrder"}],
      "Next": "Generate"},
    "Generate": {"Type": "Task", "Resource": "function:public.ex4_generate",
      "Parameters": {"order.$": "$.order", "amount.$": "$.validated.amount", "attempt.$": "$$.State.RetryCount"},
      "ResultPath": "$.invoice",
      "Retry": [{"ErrorEquals": ["Transient.generate"], "IntervalSeconds": 1, "BackoffRate": 2, "MaxAttempts": 3}],
      "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "ReleaseReservation"}],
      "Next": "Notify"},
    "Notify": {"Type": "Task", "Resource": "function:public.ex4_notify",
      "Parameters": {"order.$": "$.order", "invoice_no.$": "$.invoice.invoice_no", "attempt.$": "$$.State.RetryCount"},
      "ResultPath": "$.notification",
      "Retry": [{"ErrorEquals": ["Transient.notify"], "IntervalSeconds": 1, "BackoffRate": 2, "MaxAttempts": 3}],
      "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "VoidInvoice"}],
      "Next": "Publish"},
    "Publish": {"Type": "Task", "Resource": "function:public.ex4_publish",
      "Parameters": {"order.$": "$.order", "invoice_no.$": "$.invoice.invoice_no", "attempt.$": "$$.State.RetryCount"},
      "ResultPath": "$.event",
      "Retry": [{"ErrorEquals": ["Transient.publish"], "IntervalSeconds": 1, "BackoffRate": 2, "MaxAttempts": 3}],
      "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "CancelNotification"}],
      "Next": "Placed"},
    "Placed": {"Type": "Succeed"},

    "CancelNotification": {"Type": "Task", "Resource": "function:public.ex4_unnotify",
      "Parameters": {"order.$": "$.order"}, "ResultPath": null,
      "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 10}],
      "Next": "VoidInvoice"},
    "VoidInvoice": {"Type": "Task", "Resource": "function:public.ex4_void_invoice",
      "Parameters": {"order.$": "$.order"}, "ResultPath": null,
      "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 10}],
      "Next": "ReleaseReservation"},
    "ReleaseReservation": {"Type": "Task", "Resource": "function:public.ex4_release",
      "Parameters": {"order.$": "$.order"}, "ResultPath": null,
      "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 10}],
      "Next": "CancelOrder"},
    "CancelOrder": {"Type": "Task", "Resource": "function:public.ex4_cancel",
      "Parameters": {"order.$": "$.order"}, "ResultPath": null,
      "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 10}],
      "Next": "OrderFailed"},
    "OrderFailed": {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}
  }}');

-- The orders, and the failures injected into them.
INSERT INTO ex4_failures VALUES
    (2, 'validate', 'Transient.validate', 2),
    (3, 'reserve',  'Transient.reserve',  2),
    (4, 'generate', 'Transient.generate', 2),
    (5, 'notify',   'Transient.notify',   2),
    (6, 'publish',  'Transient.publish',  2),
    (9, 'generate', 'Invoice.Rejected',     NULL),
    (10, 'notify',  'Notify.Undeliverable', NULL),
    (11, 'publish', 'Publish.Refused',      NULL);
SELECT count(courier.start_execution('ex4-order',
                                     jsonb_build_object('order', jsonb_build_object(
                                         'id', i,
                                         'sku', CASE WHEN i % 2 = 0 THEN 'BOOK' ELSE 'LAMP' END,
                                         'qty', CASE i WHEN 7 THEN 0 WHEN 8 THEN 1000 ELSE i END)),
                                     'order-' || i)) AS started
  FROM generate_series(1, 11) AS i;

-- Advance the executions one transition per transaction (as the worker
-- would, one at a time); when all that are left wait for a retry, move the
-- clock to the first of them.
CREATE PROCEDURE pg_temp.ex4_drive()
LANGUAGE plpgsql AS $$
DECLARE
    due timestamptz;
BEGIN
    LOOP
        IF courier.run_executions(1) = 0 THEN
            SELECT min(next_step_at) INTO due FROM courier.executions
             WHERE state_machine_name = 'ex4-order' AND status = 'RUNNING';
            EXIT WHEN due IS NULL;
            PERFORM set_config('courier.clock_offset',
                               (extract(epoch FROM current_setting('courier.clock_offset')::interval)::integer
                                + greatest(1, ceil(extract(epoch FROM due - courier.now())))::integer)::text,
                               false);
        END IF;
        COMMIT;
    END LOOP;
END
$$;
CALL pg_temp.ex4_drive();

-- What happened to each order.
SELECT e.execution_name, e.status, e.error, o.status AS order_status,
       (SELECT count(*) FROM ex4_reservations AS r WHERE r.order_id = o.order_id) AS reservations,
       (SELECT string_agg(i.status, ',') FROM ex4_invoices AS i WHERE i.order_id = o.order_id) AS invoice,
       (SELECT string_agg(c.step, ' > ' ORDER BY c.seq) FROM ex4_compensations AS c
         WHERE c.order_id = (e.input->'order'->>'id')::integer) AS compensations
  FROM courier.executions AS e
  LEFT JOIN ex4_orders AS o ON o.order_id = (e.input->'order'->>'id')::integer
 WHERE e.state_machine_name = 'ex4-order'
 ORDER BY (e.input->'order'->>'id')::integer;

-- The history explains each outcome, e.g. order 3 (retried) and order 10
-- (caught and compensated):
SELECT h.event_id, h.type, h.details->>'name' AS state, h.details->>'error' AS error
  FROM courier.get_execution_history(
           (SELECT execution_id FROM courier.executions
             WHERE state_machine_name = 'ex4-order' AND execution_name = 'order-10')) AS h;
