#!/usr/bin/env bash
# bench/bus.sh: what courier.put_events() costs, and how soon a function
# target is called after the put commits.
#
#   bash bench/bus.sh                (about 1.5 minutes; starts its own cluster)
#   BENCH_ROUNDS=3 bash bench/bus.sh
#
# 1. Throughput (pgbench -M prepared, 4 clients, one call per transaction,
#    bench/pgbench/bus_*.sql): put_events of 1 and of 10 entries to a bus
#    with 10 rules and one with 1,000 rules (through the rule-set index from
#    8 rules on), and with 1,000 prefix rules (not indexable, matched one by
#    one); every rule targets the same standard queue and each event matches
#    exactly one rule.  Against courier.send() of the same payload to one
#    queue (one message per transaction) and send_batch() of 10, all in the
#    same cluster, every workload once per round, rounds interleaved; medians
#    of the rounds, in events (messages) per second.  After every run the
#    messages in the target queue are counted: deliveries per event must be 1.
#    The buses are vacuumed after their rules are created (autovacuum is off).
# 2. Time per event in one session: the same calls in a loop inside one
#    transaction (rolled back), no commit and no other client: what the call
#    itself costs, next to a bus without rules and to building the entries
#    alone.
# 3. WAL bytes per event: one client, BENCH_WAL_TX transactions of put_events
#    of 1 and of 10 entries (and of send for comparison), the difference of
#    pg_current_wal_insert_lsn() divided by the events (commit records
#    included).
# 4. Latency from a put's commit to the call of a function target by the
#    background worker: the cluster is restarted with the worker on
#    (courier.databases) and courier.tick_interval = 60s, so that what
#    delivers within milliseconds is the wake-up at commit, not the tick.
#    The target function records clock_timestamp() and the event id; the
#    producer (one psql session) records clock_timestamp() just before its
#    COMMIT and right after COMMIT returned, then waits until the call is
#    recorded before the next sample.  BENCH_SAMPLES samples (default 200)
#    after 5 not counted (the worker's first deliveries prepare its plans).
#
# The method and the numbers are in docs/performance.md ("Event bus").  The
# tables go to stdout and, as markdown, to bench/results/bus-latest.md (not
# committed).  Throughput figures on a shared machine move between runs;
# read the ratios, which are measured in the same run.
#
# Knobs (environment): BENCH_DURATION (s per throughput run, default 5),
# BENCH_ROUNDS (default 2), BENCH_WAL_TX (transactions per WAL measurement,
# default 1000), BENCH_SAMPLES (default 200), BENCH_KEEP=1 (keep the work
# directory and its logs), BENCH_NO_INSTALL=1 (use the installed extension
# as it is; by default this checkout is built and installed where
# $PG_CONFIG says, COURIER_PGBIN's installation or the system's, unless the
# installed files are this build already), BENCH_NO_VACUUM=1 (measure the
# buses as their rule changes left them, without VACUUM: see below).
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/lib.sh
source "$BENCH_DIR/../scripts/lib.sh"

DURATION=${BENCH_DURATION:-5}
ROUNDS=${BENCH_ROUNDS:-2}
WAL_TX=${BENCH_WAL_TX:-1000}
SAMPLES=${BENCH_SAMPLES:-200}
WARMUP_SAMPLES=5
CLIENTS=4
THREADS=2
[ "$ROUNDS" -ge 1 ] || die "BENCH_ROUNDS must be at least 1"

ensure_packages "${SERVER_PACKAGES[@]}"
command -v "$PGBIN/pgbench" >/dev/null || die "pgbench not found in $PGBIN"

bench_install

# No autovacuum and no checkpoint during a run: WAL counts only what the
# workload writes.  No background worker for parts 1 to 3 (courier.databases
# is set for part 4, which restarts the server).
bench_cluster bus 56440 "courier.databases = ''" "courier.tick_interval = '60s'" \
    "autovacuum = off" "checkpoint_timeout = 1h" "max_wal_size = 8GB" \
    "shared_buffers = 256MB" "log_min_messages = warning"
createdb bus_bench
export PGDATABASE=bus_bench
psql_bench() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

say "creating the buses: 10 rules, 1,000 rules, 1,000 prefix rules"
psql_bench >/dev/null <<'SQL'
CREATE EXTENSION pg_courier;
SET courier.max_rules_per_bus = 1000;
CREATE SCHEMA bench;

-- The entry naming rule k: its source, detail-type "Event<k>" and the
-- detail fields the rule's conditions look at.  A one-expression SQL
-- function, so that the planner inlines it (a function it cannot inline
-- would be planned again at each transaction: tens of microseconds).
CREATE FUNCTION bench.entry(k int) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
               'source', 'svc-' || (k % 50),
               'detail-type', 'Event' || k,
               'detail', jsonb_build_object('id', 'x-' || (k % 10), 'ref', 'r' || k || '/1',
                                            'amount', 500 + k % 100, 'state', 'open',
                                            'items', jsonb_build_array(1, 2, 3)))
$$;

-- Rule i, as bench/patterns.sh: 7 in 10 exact source and detail-type; 1 in
-- 10 exact detail-type and a prefix on detail.id; 1 in 10 exact source and
-- detail-type and a numeric range on detail.amount; 1 in 10 exact
-- detail-type and anything-but on detail.state.  Every rule names its own
-- detail-type, so an entry matches exactly one rule.  The prefix rules name
-- only a prefix of detail.ref, which the index cannot use.
CREATE TABLE bench.rules AS
SELECT i, CASE i % 10
    WHEN 7 THEN jsonb_build_object(
        'detail-type', jsonb_build_array('Event' || i),
        'detail', jsonb_build_object('id', jsonb_build_array(jsonb_build_object('prefix', 'x-' || (i % 10)))))
    WHEN 8 THEN jsonb_build_object(
        'source', jsonb_build_array('svc-' || (i % 50)),
        'detail-type', jsonb_build_array('Event' || i),
        'detail', jsonb_build_object('amount', jsonb_build_array(jsonb_build_object('numeric', jsonb_build_array('>', i % 100, '<=', 100000)))))
    WHEN 9 THEN jsonb_build_object(
        'detail-type', jsonb_build_array('Event' || i),
        'detail', jsonb_build_object('state', jsonb_build_array(jsonb_build_object('anything-but', jsonb_build_array('closed', 'void')))))
    ELSE jsonb_build_object(
        'source', jsonb_build_array('svc-' || (i % 50)),
        'detail-type', jsonb_build_array('Event' || i))
    END AS pattern,
    jsonb_build_object('detail', jsonb_build_object('ref', jsonb_build_array(jsonb_build_object('prefix', 'r' || i || '/'))))
        AS prefix_pattern
  FROM generate_series(1, 1000) AS i;

SELECT courier.create_queue('bus-q');
SELECT courier.create_queue('bus-send');
-- b0: a bus without rules, for the cost of put_events without routing.
SELECT courier.create_bus(b) FROM unnest(ARRAY['b0', 'b10', 'b1000', 'b1000p']) AS b;
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM bench.rules ORDER BY i LOOP
        IF r.i <= 10 THEN
            PERFORM courier.put_rule('b10', 'r' || r.i, r.pattern);
            PERFORM courier.put_target('b10', 'r' || r.i, 'q', 'queue:bus-q');
        END IF;
        PERFORM courier.put_rule('b1000', 'r' || r.i, r.pattern);
        PERFORM courier.put_target('b1000', 'r' || r.i, 'q', 'queue:bus-q');
        PERFORM courier.put_rule('b1000p', 'r' || r.i, r.prefix_pattern);
        PERFORM courier.put_target('b1000p', 'r' || r.i, 'q', 'queue:bus-q');
    END LOOP;
END
$$;
SQL
# Every rule and target change wrote a new version of its bus's row
# (courier.buses.version), 2,000 for the 1,000-rule buses, and autovacuum is
# off: without this VACUUM, every put_events would walk the dead versions to
# find the bus's version (see docs/performance.md, "Event bus").
# BENCH_NO_VACUUM=1 measures that state.
if [ "${BENCH_NO_VACUUM:-0}" = 1 ]; then
    psql_bench -c "ANALYZE"
else
    psql_bench -c "VACUUM ANALYZE"
fi
BUS_ROW_PAGES=$(psql_bench -At -c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT version FROM courier.buses WHERE bus_name = 'b1000'" \
    | sed -n 's/.*shared hit=\([0-9]*\).*/\1/p' | head -1)

# Check the buses route as intended before measuring them.
for b in b10:10 b1000:1000 b1000p:1000; do
    bus=${b%%:*} n=${b##*:}
    got=$(psql_bench -At -c "TRUNCATE courier.messages" \
        -c "SELECT count(*) FROM courier.put_events('$bus', (SELECT jsonb_agg(bench.entry(1 + floor(random() * $n)::int)) FROM generate_series(1, 10))) WHERE error IS NULL" \
        -c "SELECT count(*) FROM courier.messages WHERE queue_name = 'bus-q'" | paste -sd' ')
    [ "$got" = "10 10" ] || die "bus $bus: accepted and delivered '$got' of 10 entries, not '10 10'"
done

# workload name -> "script bus nrules entries-per-transaction queue"
declare -A WL=(
    [send1]="bus_send1 - 1000 1 bus-send"
    [send10]="bus_send10 - 1000 10 bus-send"
    [put1_10]="bus_put1 b10 10 1 bus-q"
    [put1_1000]="bus_put1 b1000 1000 1 bus-q"
    [put1_1000p]="bus_put1 b1000p 1000 1 bus-q"
    [put10_10]="bus_put10 b10 10 10 bus-q"
    [put10_1000]="bus_put10 b1000 1000 10 bus-q"
    [put10_1000p]="bus_put10 b1000p 1000 10 bus-q"
)
ORDER=(send1 put1_10 put1_1000 put1_1000p send10 put10_10 put10_1000 put10_1000p)

# run_pgbench NAME PGBENCH-OPTIONS...: prints the pgbench output
run_pgbench() {
    local name=$1 script bus nrules per queue
    shift
    read -r script bus nrules per queue <<<"${WL[$name]}"
    "$PGBIN/pgbench" -n -M prepared "$@" -D "bus=$bus" -D "nrules=$nrules" \
        -f "$BENCH_DIR/pgbench/$script.sql" 2>&1
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) print "-"; else printf "%.2f", a / b }'; }

say "throughput: $ROUNDS rounds of ${DURATION}s per workload, interleaved"
: >"$WORK/tps.txt"
for round in $(seq 1 "$ROUNDS"); do
    for w in "${ORDER[@]}"; do
        read -r _ _ _ per queue <<<"${WL[$w]}"
        psql_bench -c "TRUNCATE courier.messages" -c "CHECKPOINT"
        out=$(run_pgbench "$w" -c "$CLIENTS" -j "$THREADS" -T "$DURATION")
        echo "$out" >"$WORK/pgbench-$w-$round.out"
        tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out")
        tx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
        if [ -z "$tps" ] || [ -z "$tx" ]; then
            echo "$out" >&2
            die "pgbench failed for $w"
        fi
        msgs=$(psql_bench -At -c "SELECT count(*) FROM courier.messages WHERE queue_name = '$queue'")
        # events/s, and messages delivered per event put
        echo "$w $(awk -v t="$tps" -v p="$per" 'BEGIN { printf "%.1f", t * p }') $(awk -v m="$msgs" -v x="$tx" -v p="$per" 'BEGIN { printf "%.3f", m / (x * p) }')" \
            >>"$WORK/tps.txt"
        say "round $round $w: $(tail -1 "$WORK/tps.txt" | cut -d' ' -f2) events/s"
    done
done
med() { awk -v w="$1" '$1 == w { print $2 }' "$WORK/tps.txt" | median; }
dpe() { awk -v w="$1" '$1 == w { print $3 }' "$WORK/tps.txt" | sort -u | paste -sd/; }
rounds() { awk -v w="$1" '$1 == w { printf "%s%.0f", (n++ ? ", " : ""), $2 }' "$WORK/tps.txt"; }

# Time per event in one session: put_events (or send) called N times in a
# loop of one transaction, rolled back; no commit, no concurrency.  What the
# call itself costs, without the commit that dominates parts 1 and 2.
# "entry" is the loop and building the entries alone, the part of every
# other row that is not pg_courier.
psql_bench >/dev/null <<'SQL'
CREATE FUNCTION bench.loop(what text, bus text, nrules int, per int, n int) RETURNS float8
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    k int[];
    entries jsonb;
BEGIN
    t0 := clock_timestamp();
    FOR i IN 1..n LOOP
        k := ARRAY(SELECT 1 + floor(random() * nrules)::int FROM generate_series(1, 10));
        IF what = 'send' AND per = 1 THEN
            PERFORM courier.send('bus-send', bench.entry(k[1]));
        ELSIF what = 'send' THEN
            PERFORM count(*) FROM courier.send_batch('bus-send', ARRAY[
                bench.entry(k[1]), bench.entry(k[2]), bench.entry(k[3]), bench.entry(k[4]), bench.entry(k[5]),
                bench.entry(k[6]), bench.entry(k[7]), bench.entry(k[8]), bench.entry(k[9]), bench.entry(k[10])]);
        ELSE
            IF per = 1 THEN
                entries := jsonb_build_array(bench.entry(k[1]));
            ELSE
                entries := jsonb_build_array(
                    bench.entry(k[1]), bench.entry(k[2]), bench.entry(k[3]), bench.entry(k[4]), bench.entry(k[5]),
                    bench.entry(k[6]), bench.entry(k[7]), bench.entry(k[8]), bench.entry(k[9]), bench.entry(k[10]));
            END IF;
            IF what = 'put' THEN
                PERFORM count(*) FROM courier.put_events(bus, entries);
            END IF;
        END IF;
    END LOOP;
    RETURN extract(epoch FROM clock_timestamp() - t0) * 1e6 / (n * per);
END
$$;
SQL
# name -> "what bus nrules entries-per-call events"
declare -A CPU=(
    [entry1]="entry - 1000 1 20000"
    [send1]="send - 1000 1 10000"
    [put1_0]="put b0 1000 1 10000"
    [put1_10]="put b10 10 1 10000"
    [put1_1000]="put b1000 1000 1 10000"
    [put1_1000p]="put b1000p 1000 1 2000"
    [entry10]="entry - 1000 10 20000"
    [send10]="send - 1000 10 20000"
    [put10_0]="put b0 1000 10 10000"
    [put10_10]="put b10 10 10 10000"
    [put10_1000]="put b1000 1000 10 10000"
    [put10_1000p]="put b1000p 1000 10 2000"
)
CPU_ORDER=(entry1 send1 put1_0 put1_10 put1_1000 put1_1000p entry10 send10 put10_0 put10_10 put10_1000 put10_1000p)
say "time per event in one session: $ROUNDS rounds"
psql_bench -c "SELECT bench.loop('put', b, 1000, 10, 20) FROM unnest(ARRAY['b0', 'b10', 'b1000', 'b1000p']) AS b" >/dev/null
: >"$WORK/cpu.txt"
for round in $(seq 1 "$ROUNDS"); do
    for w in "${CPU_ORDER[@]}"; do
        read -r what bus nrules per events <<<"${CPU[$w]}"
        us=$(psql_bench -At -c "BEGIN" \
            -c "SELECT round(bench.loop('$what', '$bus', $nrules, $per, $events / $per)::numeric, 2)" -c "ROLLBACK")
        echo "$w $us" >>"$WORK/cpu.txt"
    done
done
# the best of the rounds: other work on the machine only ever adds time
us() { awk -v w="$1" '$1 == w { print $2 }' "$WORK/cpu.txt" | sort -g | head -1; }
usrounds() { awk -v w="$1" '$1 == w { printf "%s%s", (n++ ? ", " : ""), $2 }' "$WORK/cpu.txt"; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a - b }'; }

# wal NAME: WAL bytes per event over WAL_TX transactions of one client
wal() {
    local name=$1 per before after
    read -r _ _ _ per _ <<<"${WL[$name]}"
    psql_bench -c "TRUNCATE courier.messages" -c "CHECKPOINT"
    run_pgbench "$name" -c 1 -j 1 -t 200 >/dev/null   # warm up: plans, caches, pages
    before=$(psql_bench -At -c "SELECT pg_current_wal_insert_lsn()")
    run_pgbench "$name" -c 1 -j 1 -t "$WAL_TX" >/dev/null
    after=$(psql_bench -At -c "SELECT pg_current_wal_insert_lsn()")
    psql_bench -At -c "SELECT round(pg_wal_lsn_diff('$after', '$before') / ($WAL_TX * $per))"
}
say "WAL bytes per event: $WAL_TX transactions per measurement"
declare -A W
for w in send1 send10 put1_1000 put10_1000; do
    W[$w]=$(wal "$w")
done

LOAD_MID=$(cut -d' ' -f1-3 /proc/loadavg)

say "restarting the cluster with the background worker (tick every 60 s)"
psql_bench >/dev/null <<'SQL'
TRUNCATE courier.messages;
CREATE TABLE bench.invocations (event_id uuid PRIMARY KEY, called_at timestamptz NOT NULL);
CREATE TABLE bench.samples (event_id uuid PRIMARY KEY, before_commit timestamptz, after_commit timestamptz);
-- The function target: called by the worker with the event.
CREATE FUNCTION bench.record(event jsonb) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO bench.invocations VALUES ((event ->> 'id')::uuid, clock_timestamp())
$$;
-- Has the worker called the target for this event yet?  Waits up to 2 s.
CREATE FUNCTION bench.wait_invoked(id uuid) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..2000 LOOP
        PERFORM 1 FROM bench.invocations WHERE event_id = id;
        IF FOUND THEN
            RETURN true;
        END IF;
        PERFORM pg_sleep(0.001);
    END LOOP;
    RETURN false;
END
$$;
SELECT courier.create_bus('lat');
SELECT courier.put_rule('lat', 'ping', '{"source": ["bench.latency"]}');
SELECT courier.put_target('lat', 'ping', 'record', 'function:bench.record');
SQL
stop_cluster "$CLUSTER"
echo "courier.databases = 'bus_bench'" | as_server_user tee -a "$CLUSTER/data/postgresql.conf" >/dev/null
as_server_user "$PGBIN/pg_ctl" -D "$CLUSTER/data" -l "$CLUSTER/server.log" -w start >/dev/null \
    || { cat "$CLUSTER/server.log" >&2; die "the server did not restart"; }
for _ in $(seq 1 100); do
    [ "$(psql_bench -At -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_courier worker'")" = 1 ] && break
    sleep 0.1
done
[ "$(psql_bench -At -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_courier worker'")" = 1 ] \
    || die "the pg_courier worker did not start (see $CLUSTER/server.log)"

say "latency: $SAMPLES samples (and $WARMUP_SAMPLES not counted)"
for i in $(seq 1 $((SAMPLES + WARMUP_SAMPLES))); do
    cat <<SQL
BEGIN;
SELECT event_id AS ev FROM courier.put_events('lat', '[{"source": "bench.latency", "detail-type": "Ping", "detail": {"sample": $i}}]') \gset
SELECT clock_timestamp() AS before_commit \gset
COMMIT;
SELECT clock_timestamp() AS after_commit \gset
SELECT bench.wait_invoked(:'ev') AS invoked \gset
\if :invoked
\else
\echo 'sample $i: the worker did not call the target within 2 s of the commit'
\quit
\endif
INSERT INTO bench.samples VALUES (:'ev', :'before_commit', :'after_commit');
SQL
done >"$WORK/latency.sql"
psql_bench -f "$WORK/latency.sql" >"$WORK/latency.out" 2>&1 || { cat "$WORK/latency.out" >&2; die "the latency run failed"; }
[ -s "$WORK/latency.out" ] && { cat "$WORK/latency.out" >&2; die "the latency run stopped"; }
WORKER_ALIVE=$(psql_bench -At -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_courier worker'")
# percentiles in ms, over the samples after the warm-up ones
LAT=$(psql_bench -At -F ' ' <<SQL
WITH s AS (
    SELECT extract(epoch FROM i.called_at - s.before_commit) * 1000 AS from_start,
           extract(epoch FROM i.called_at - s.after_commit) * 1000 AS from_end
      FROM bench.samples AS s JOIN bench.invocations AS i USING (event_id)
     ORDER BY s.before_commit OFFSET $WARMUP_SAMPLES)
SELECT count(*),
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY from_start)::numeric, 3),
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY from_start)::numeric, 3),
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY from_start)::numeric, 3),
       round(max(from_start)::numeric, 3),
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY from_end)::numeric, 3),
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY from_end)::numeric, 3),
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY from_end)::numeric, 3),
       round(max(from_end)::numeric, 3),
       count(*) FILTER (WHERE from_end < 0)
  FROM s
SQL
)
read -r NLAT S50 S95 S99 SMAX E50 E95 E99 EMAX NEG <<<"$LAT"
[ "$WORKER_ALIVE" = 1 ] || say "warning: the worker is gone after the latency run"
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

fmt() { printf '%.0f' "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }
SEND1=$(med send1)
REPORT=$BENCH_DIR/results/bus-latest.md
mkdir -p "$BENCH_DIR/results"
{
    echo "# Event bus: put_events throughput, WAL, delivery latency"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, PostgreSQL $("$PG_CONFIG" --version | awk '{print $2}'), $FINGERPRINT, checkout $GIT_DESC."
    echo "Load average (1, 5, 15 min): $LOAD_START at the start, $LOAD_MID before the latency part, $LOAD_END at the end."
    echo
    echo "Bus row of b1000 read in $BUS_ROW_PAGES buffers$([ "${BENCH_NO_VACUUM:-0}" = 1 ] && echo ' (BENCH_NO_VACUUM=1: the dead versions its rule changes left are still there)' || echo ' (after VACUUM)')."
    echo
    echo "Throughput: $CLIENTS clients, one call per transaction, median of $ROUNDS rounds of ${DURATION}s; every event matches one rule, whose target is one standard queue."
    echo
    echo "| workload | events/s | ratio to send | deliveries/event | rounds (events/s) |"
    echo "|---|---:|---:|---:|---:|"
    row() { # row LABEL WORKLOAD
        printf '| %s | %s | %s | %s | %s |\n' "$1" "$(fmt "$(med "$2")")" "$(ratio "$(med "$2")" "$SEND1")" \
            "$(dpe "$2")" "$(rounds "$2")"
    }
    row "send, 1 message per transaction" send1
    row "send_batch, 10 messages per transaction" send10
    row "put_events, 1 entry, 10 rules (indexed)" put1_10
    row "put_events, 1 entry, 1,000 rules (indexed)" put1_1000
    row "put_events, 1 entry, 1,000 prefix rules (one by one)" put1_1000p
    row "put_events, 10 entries, 10 rules (indexed)" put10_10
    row "put_events, 10 entries, 1,000 rules (indexed)" put10_1000
    row "put_events, 10 entries, 1,000 prefix rules (one by one)" put10_1000p
    echo
    echo "1,000 rules / 10 rules, indexed: $(ratio "$(med put1_1000)" "$(med put1_10)") (1 entry), $(ratio "$(med put10_1000)" "$(med put10_10)") (10 entries)." \
         "1,000 prefix rules / 1,000 indexed: $(ratio "$(med put1_1000p)" "$(med put1_1000)") (1 entry), $(ratio "$(med put10_1000p)" "$(med put10_1000)") (10 entries)." \
         "10 entries / 1 entry per call, 10 rules: $(ratio "$(med put10_10)" "$(med put1_10)") times the events/s;" \
         "put_events of 10 / send_batch of 10: $(ratio "$(med put10_10)" "$(med send10)") (10 rules), $(ratio "$(med put10_1000)" "$(med send10)") (1,000 rules)."
    echo
    echo "Time per event in one session (µs; one transaction of put_events calls in a loop, no commit; best of $ROUNDS rounds):"
    echo
    echo "| workload | 1 entry per call | net of entry | 10 entries per call | net of entry | rounds, 1 entry | rounds, 10 entries |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    cpurow() { # cpurow LABEL SUFFIX
        printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$(us "${2/\#/1}")" "$(minus "$(us "${2/\#/1}")" "$(us entry1)")" \
            "$(us "${2/\#/10}")" "$(minus "$(us "${2/\#/10}")" "$(us entry10)")" "$(usrounds "${2/\#/1}")" "$(usrounds "${2/\#/10}")"
    }
    cpurow "building the entries only (the loop)" "entry#"
    cpurow "send (1) / send_batch (10)" "send#"
    cpurow "put_events, bus without rules" "put#_0"
    cpurow "put_events, 10 rules (indexed)" "put#_10"
    cpurow "put_events, 1,000 rules (indexed)" "put#_1000"
    cpurow "put_events, 1,000 prefix rules (one by one)" "put#_1000p"
    echo
    echo "WAL bytes per event (message), one client, $WAL_TX transactions, commit records included:"
    echo
    echo "| workload | WAL bytes per event |"
    echo "|---|---:|"
    echo "| send, 1 message per transaction | ${W[send1]} |"
    echo "| send_batch, 10 messages per transaction | ${W[send10]} |"
    echo "| put_events, 1 entry (1,000 rules) | ${W[put1_1000]} |"
    echo "| put_events, 10 entries (1,000 rules) | ${W[put10_1000]} |"
    echo
    echo "Latency from put_events to the function target's call by the worker (courier.tick_interval = 60s), $NLAT samples:"
    echo
    echo "| from | median | p95 | p99 | max |"
    echo "|---|---:|---:|---:|---:|"
    echo "| just before the producer's COMMIT | $S50 ms | $S95 ms | $S99 ms | $SMAX ms |"
    echo "| right after COMMIT returned | $E50 ms | $E95 ms | $E99 ms | $EMAX ms |"
    echo
    echo "Calls made before the producer's next statement ran (negative in the second row): $NEG of $NLAT."
} | tee "$REPORT"
say "report written to $REPORT"

[ "$(md5sum "$LIB" | cut -c1-12)" = "${FINGERPRINT##* }" ] \
    || say "warning: the installed library changed during the run; the numbers mix two builds"
