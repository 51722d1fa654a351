-- Workflows (bench/workflows.sh): one start_execution per transaction, of
-- the 10-state Pass/Choice machine.
\set n random(1, 1000000)
SELECT courier.start_execution('wf-p10', jsonb_build_object('n', :n::integer, 'order', jsonb_build_object('sku', 'BOOK', 'qty', 2)));
