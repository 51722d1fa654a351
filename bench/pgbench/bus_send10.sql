-- Event bus baseline (bench/bus.sh): courier.send_batch() of the 10 payloads
-- the entries of bus_put10.sql carry, one call per transaction, to one queue.
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
SELECT count(*) FROM courier.send_batch('bus-send', ARRAY[
    bench.entry(:k1), bench.entry(:k2), bench.entry(:k3), bench.entry(:k4), bench.entry(:k5),
    bench.entry(:k6), bench.entry(:k7), bench.entry(:k8), bench.entry(:k9), bench.entry(:k10)]);
