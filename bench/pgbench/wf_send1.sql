-- Workflows baseline (bench/workflows.sh): courier.send() of the input a
-- start of wf_start1.sql carries, one message per transaction.
\set n random(1, 1000000)
SELECT courier.send('wf-send', jsonb_build_object('n', :n::integer, 'order', jsonb_build_object('sku', 'BOOK', 'qty', 2)));
