-- Event bus (bench/bus.sh): one put_events call of 10 entries per transaction,
-- each naming one of the bus's :nrules rules at random (bench.entry).
\set k1 random(1, :nrules)
\set k2 random(1, :nrules)
\set k3 random(1, :nrules)
\set k4 random(1, :nrules)
\set k5 random(1, :nrules)
\set k6 random(1, :nrules)
\set k7 random(1, :nrules)
\set k8 random(1, :nrules)
\set k9 random(1, :nrules)
\set k10 random(1, :nrules)
SELECT count(*) FROM courier.put_events(:bus, jsonb_build_array(
    bench.entry(:k1), bench.entry(:k2), bench.entry(:k3), bench.entry(:k4), bench.entry(:k5),
    bench.entry(:k6), bench.entry(:k7), bench.entry(:k8), bench.entry(:k9), bench.entry(:k10)));
