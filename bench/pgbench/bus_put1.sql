-- Event bus (bench/bus.sh): one put_events call of 1 entry per transaction.
-- The entry names rule :k of the bus's :nrules (bench.entry, defined by
-- bench/bus.sh); :bus and :nrules come from pgbench -D.
\set k random(1, :nrules)
SELECT count(*) FROM courier.put_events(:bus, jsonb_build_array(bench.entry(:k)));
