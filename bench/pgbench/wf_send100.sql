-- Workflows baseline (bench/workflows.sh): 100 courier.send() calls in one
-- transaction (one statement).
\set n random(1, 1000000)
SELECT count(courier.send('wf-send', jsonb_build_object('n', :n::integer + i, 'order', jsonb_build_object('sku', 'BOOK', 'qty', 2))))
  FROM generate_series(1, 100) AS i;
