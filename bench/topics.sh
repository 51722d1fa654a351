#!/usr/bin/env bash
# bench/topics.sh: topic fanout cost.
#
#   bash bench/topics.sh             (about 1 minute; starts its own cluster)
#
# 1. Throughput: courier.publish() to a topic with 1 and with 10 subscribed
#    queues (raw delivery, no filter policy), and the store-once emulation
#    below, against courier.send() to one queue, interleaved in rounds in one throwaway cluster (4 clients, one
#    message per transaction); medians and the ratio publish / send.
# 2. WAL bytes per publish (one publish per transaction, commit record
#    included), for a ~250-byte and a ~4 KB payload, with 1 and 10
#    subscribers, and for comparison a "store the payload once" layout
#    emulated with the same code paths: the payload inserted once into a side
#    table plus 10 small reference messages (what a shared-payload design
#    would write at least).  docs/performance.md ("Topics") has the numbers.
# 3. Filtered fanout: publish to topics with 10 and 1,000 exact-value
#    policies (through the rule-set index from 8 on) and 1,000 prefix
#    policies (one by one), one subscription passing each message.
#
# Knobs: BENCH_DURATION (s per throughput run, default 5), BENCH_ROUNDS
# (default 2), BENCH_WAL_TX (publishes per WAL measurement, default 2000),
# BENCH_KEEP=1 (keep the work directory).
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/lib.sh
source "$BENCH_DIR/../scripts/lib.sh"

DURATION=${BENCH_DURATION:-5}
ROUNDS=${BENCH_ROUNDS:-2}
WAL_TX=${BENCH_WAL_TX:-2000}
CLIENTS=4
THREADS=2

ensure_packages "${SERVER_PACKAGES[@]}"
[ -f "/usr/share/postgresql/$PG_MAJOR/extension/pg_courier.control" ] || build_and_install
command -v "$PGBIN/pgbench" >/dev/null || die "pgbench not found in $PGBIN"

WORK=$(mktemp -d /tmp/pg_courier-topics.XXXXXX)
chmod 755 "$WORK"
cleanup() {
    stop_cluster "$WORK/cluster"
    if [ "${BENCH_KEEP:-0}" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
say "starting a throwaway cluster"
# No autovacuum and no checkpoint during a run: WAL counts only what the
# workload writes.  No background worker (courier.databases = '').
start_cluster "$WORK/cluster" "$(free_port 56420)" "courier.databases = ''" \
    "autovacuum = off" "checkpoint_timeout = 1h" "max_wal_size = 8GB" \
    "shared_buffers = 256MB" "log_min_messages = warning"
createdb topics_bench
export PGDATABASE=topics_bench
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION pg_courier;
SELECT courier.create_queue('send-q');
SELECT courier.create_queue('one-q');
SELECT courier.create_queue('fan-' || i) FROM generate_series(1, 10) AS i;
SELECT courier.create_queue('ref-' || i) FROM generate_series(1, 10) AS i;
SELECT courier.create_topic('t1');
SELECT courier.create_topic('t10');
SELECT courier.subscribe('t1', 'one-q');
SELECT courier.subscribe('t10', 'fan-' || i) FROM generate_series(1, 10) AS i;
-- Filtered fanout: 10 and 1,000 subscriptions whose exact-value policies
-- (type = T<i>) a message of type T1 passes once, indexed (tf10, tf1000),
-- and 1,000 prefix policies the index cannot use (tf1000p), matched one by one.
SELECT courier.create_queue('tf-' || i) FROM generate_series(1, 1000) AS i;
SELECT courier.create_topic(t) FROM unnest(ARRAY['tf10', 'tf1000', 'tf1000p']) AS t;
SELECT courier.subscribe('tf10', 'tf-' || i, jsonb_build_object('type', jsonb_build_array('T' || i)))
  FROM generate_series(1, 10) AS i;
SELECT courier.subscribe('tf1000', 'tf-' || i, jsonb_build_object('type', jsonb_build_array('T' || i)))
  FROM generate_series(1, 1000) AS i;
SELECT courier.subscribe('tf1000p', 'tf-' || i,
                         jsonb_build_object('type', jsonb_build_array(jsonb_build_object('prefix', 'T' || i || '-'))))
  FROM generate_series(1, 1000) AS i;
-- The "store once" emulation: the payload in a side table, messages carry a reference.
CREATE TABLE bench_payloads (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, payload jsonb NOT NULL);
SQL

# ~250-byte CloudEvents-like payload (as bench/run.sh), and a ~4 KB one whose
# text does not compress much (hex digits), so TOAST cannot shrink it away.
SMALL='{"specversion":"1.0","id":"8d7e5c1a-3b2f-4e6a-9c0d-1f2e3a4b5c6d","source":"/shop/orders","type":"com.example.order.created","time":"2024-05-01T12:00:00Z","data":{"order_id":1234567,"customer_id":7654321,"total_cents":12999,"currency":"EUR","items":3}}'
LARGE=$(psql -X -q -A -t -c "SELECT jsonb_build_object('type', 'com.example.order.created',
           'data', (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 120) AS i))::text")
HEADERS='{"type": "order.created", "correlation_id": "c-1"}'

script() { # script NAME SQL
    printf '%s\n' "$2" >"$WORK/$1.sql"
}
make_scripts() { # make_scripts PAYLOAD SUFFIX
    script "send$2" "SELECT courier.send('send-q', '$1', '$HEADERS');"
    script "pub1$2" "SELECT courier.publish('t1', '$1', '$HEADERS');"
    script "pub10$2" "SELECT courier.publish('t10', '$1', '$HEADERS');"
    script "once10$2" "WITH p AS (INSERT INTO bench_payloads (payload) VALUES ('$1') RETURNING id)
SELECT count(courier.send('ref-' || i, jsonb_build_object('ref', p.id), '$HEADERS'))
  FROM p, generate_series(1, 10) AS i;"
}
make_scripts "$SMALL" ""
script tf10 "SELECT courier.publish('tf10', '$SMALL', '{\"type\": \"T1\"}');"
script tf1000 "SELECT courier.publish('tf1000', '$SMALL', '{\"type\": \"T1\"}');"
script tf1000p "SELECT courier.publish('tf1000p', '$SMALL', '{\"type\": \"T1-\"}');"
make_scripts "$LARGE" "_4k"

empty_queues() {
    psql -X -q -c "TRUNCATE courier.messages, bench_payloads" >/dev/null
}

# tps SCRIPT: transactions per second of one pgbench run
tps() {
    "$PGBIN/pgbench" -n -c "$CLIENTS" -j "$THREADS" -T "$DURATION" -f "$WORK/$1.sql" 2>&1 \
        | sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

say "throughput: $ROUNDS rounds of ${DURATION}s per workload, interleaved"
: >"$WORK/tps.txt"
for round in $(seq 1 "$ROUNDS"); do
    for w in send pub1 pub10 once10 tf10 tf1000 tf1000p; do
        empty_queues
        psql -X -q -c "CHECKPOINT" >/dev/null
        echo "$w $(tps "$w")" >>"$WORK/tps.txt"
    done
done

# wal SCRIPT: WAL bytes per transaction over WAL_TX transactions of one client
wal() {
    local before after
    empty_queues
    "$PGBIN/pgbench" -n -c 1 -j 1 -t 200 -f "$WORK/$1.sql" >/dev/null 2>&1   # warm up: plans, pages
    before=$(psql -X -q -A -t -c "SELECT pg_current_wal_insert_lsn()")
    "$PGBIN/pgbench" -n -c 1 -j 1 -t "$WAL_TX" -f "$WORK/$1.sql" >/dev/null 2>&1
    after=$(psql -X -q -A -t -c "SELECT pg_current_wal_insert_lsn()")
    psql -X -q -A -t -c "SELECT round(pg_wal_lsn_diff('$after', '$before') / $WAL_TX)"
}

say "WAL bytes per publish: $WAL_TX transactions per measurement"
declare -A W
for w in send pub1 pub10 once10 send_4k pub1_4k pub10_4k once10_4k; do
    W[$w]=$(wal "$w")
done

med() { awk -v w="$1" '$1 == w { print $2 }' "$WORK/tps.txt" | median; }
SEND=$(med send)
PUB1=$(med pub1)
PUB10=$(med pub10)
ONCE10=$(med once10)
TF10=$(med tf10)
TF1000=$(med tf1000)
TF1000P=$(med tf1000p)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

cat <<EOF

Topics benchmark ($(nproc) CPUs, $CLIENTS clients, one message per transaction,
median of $ROUNDS x ${DURATION}s; payload ~250 bytes, headers with a correlation id)

| workload                          | tx/s     | ratio to send |
|-----------------------------------|---------:|--------------:|
| send to 1 queue                   | $(printf '%8.0f' "$SEND") |          1.00 |
| publish, 1 subscriber             | $(printf '%8.0f' "$PUB1") | $(printf '%13s' "$(ratio "$PUB1" "$SEND")") |
| publish, 10 subscribers           | $(printf '%8.0f' "$PUB10") | $(printf '%13s' "$(ratio "$PUB10" "$SEND")") |
| store-once emulation, 10 refs     | $(printf '%8.0f' "$ONCE10") | $(printf '%13s' "$(ratio "$ONCE10" "$SEND")") |

Filtered fanout: one delivery per publish, the other subscriptions filtered out

| workload                                        | tx/s     | ratio to 10 policies |
|-------------------------------------------------|---------:|---------------------:|
| 10 exact-value policies (one by one)            | $(printf '%8.0f' "$TF10") |                 1.00 |
| 1,000 exact-value policies (indexed)            | $(printf '%8.0f' "$TF1000") | $(printf '%20s' "$(ratio "$TF1000" "$TF10")") |
| 1,000 prefix policies (not indexable, one by one) | $(printf '%8.0f' "$TF1000P") | $(printf '%20s' "$(ratio "$TF1000P" "$TF10")") |

WAL bytes per transaction (one client, $WAL_TX transactions, commit record included)

| workload                                   | ~250 B payload | ~4 KB payload |
|--------------------------------------------|---------------:|--------------:|
| send to 1 queue                            | $(printf '%14s' "${W[send]}") | $(printf '%13s' "${W[send_4k]}") |
| publish, 1 subscriber                      | $(printf '%14s' "${W[pub1]}") | $(printf '%13s' "${W[pub1_4k]}") |
| publish, 10 subscribers (payload 10 times) | $(printf '%14s' "${W[pub10]}") | $(printf '%13s' "${W[pub10_4k]}") |
| store once: payload row + 10 references    | $(printf '%14s' "${W[once10]}") | $(printf '%13s' "${W[once10_4k]}") |
EOF
