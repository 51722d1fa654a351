-- Event bus baseline (bench/bus.sh): courier.send() of the payload an entry
-- of bus_put1.sql carries, one message per transaction, to one queue.
\set k random(1, :nrules)
SELECT courier.send('bus-send', bench.entry(:k));
