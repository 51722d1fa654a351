#!/usr/bin/env bash
# bench/run.sh: pg_courier against a raw-SQL "ceiling" queue, side by side.
#
#   make bench            full run (3 rounds of 15 s per workload and system,
#                         5 min per churn run; about 40 min)
#   make bench QUICK=1    quick run (2 rounds of 4 s, 30 s churn; about 6 min)
#
# Every throughput workload runs the two systems interleaved (pg_courier,
# ceiling, pg_courier, ceiling, ...) in one throwaway cluster; the report
# gives the median over the rounds and the ratio pg_courier / ceiling.  The
# churn runs (W6, W7: one per system) sample throughput, relation size and
# dead tuples; W5 measures long-poll wake latency (bench/longpoll.sh).  The
# method is described in docs/performance.md.  The table goes to stdout and,
# as markdown, to bench/results/latest.md (not committed).
#
# Regression guard: the goals and floors in bench/floors.tsv are checked at
# the end; a ratio below its floor makes the run exit with status 3.
#
# Knobs (environment): QUICK=1, BENCH_DURATION (s per run), BENCH_ROUNDS,
# BENCH_CHURN (s per churn run), BENCH_SAMPLE (s between churn samples),
# BENCH_W2_BACKLOG / BENCH_W4_BACKLOG (messages prefilled before each
# receive run), BENCH_KEEP=1 (keep the work directory and its logs),
# BENCH_ONLY=W2,W4r (run only these workloads: W1c4 W1c1 W1c8 W2 W2f W3 W4s
# W4r W5 W6 W7), BENCH_NO_GUARD=1 (report only, never fail).
# Diagnostics (they change the timings; do not compare them with plain runs):
# BENCH_STATEMENTS=1 adds per-statement pg_stat_statements figures (nested
# statements included, with planning counts) to the report;
# BENCH_PLAN_CACHE_MODE=force_generic_plan (or another plan_cache_mode) is
# set in every pgbench session, and so for the statements pg_courier runs;
# BENCH_SESSION_OPTIONS="-c courier.scan_hints=off" passes settings to every
# pgbench session (PGOPTIONS).

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/lib.sh
source "$BENCH_DIR/../scripts/lib.sh"

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
    DURATION=${BENCH_DURATION:-4}
    ROUNDS=${BENCH_ROUNDS:-2}
    CHURN=${BENCH_CHURN:-30}
    SAMPLE=${BENCH_SAMPLE:-10}
    LP_SAMPLES=${BENCH_LP_SAMPLES:-50}
else
    DURATION=${BENCH_DURATION:-15}
    ROUNDS=${BENCH_ROUNDS:-3}
    CHURN=${BENCH_CHURN:-300}
    SAMPLE=${BENCH_SAMPLE:-30}
    LP_SAMPLES=${BENCH_LP_SAMPLES:-200}
fi
[ "$CHURN" -ge $((2 * SAMPLE)) ] || die "BENCH_CHURN must be at least twice BENCH_SAMPLE"
[ "$ROUNDS" -ge 2 ] || die "BENCH_ROUNDS must be at least 2"
# Backlogs are sized for about 1.5x what the faster system drains on the
# reference machine (2 vCPU).  A run that empties its queue makes pgbench
# abort; the workload then starts over with twice the backlog (at most twice).
W2_BACKLOG=${BENCH_W2_BACKLOG:-$((DURATION * 12000 + 20000))}
W4_BACKLOG=${BENCH_W4_BACKLOG:-$((DURATION * 110000 + 50000))}
W2F_BACKLOG=$W2_BACKLOG
W2F_INFLIGHT=100000     # W2f: leased (in flight) messages in front of the backlog
W3_BACKLOG=1000         # W3: backlog when producers and consumers start
CHURN_BACKLOG=10000     # W6/W7: steady backlog

# ~250-byte CloudEvents-like envelope, the payload of every message.
PAYLOAD='{"specversion":"1.0","id":"8d7e5c1a-3b2f-4e6a-9c0d-1f2e3a4b5c6d","source":"/shop/orders","type":"com.example.order.created","time":"2024-05-01T12:00:00Z","data":{"order_id":1234567,"customer_id":7654321,"total_cents":12999,"currency":"EUR","items":3}}'

# Throughput workloads:
# name|label|pgbench script suffix|clients|threads|messages per tx|prefill|in flight
# W3 runs two pgbench processes at once (half the clients produce with the
# send1 script, half consume with consume1); its msg/s is what was consumed.
WORKLOADS=(
    "W1c4|W1 send 1/tx, 4 clients|send1|4|2|1|0|0"
    "W1c1|W1 send 1/tx, 1 client|send1|1|1|1|0|0"
    "W1c8|W1 send 1/tx, 8 clients|send1|8|2|1|0|0"
    "W2|W2 receive 1 + delete, 4 clients|recv1|4|2|1|$W2_BACKLOG|0"
    "W2f|W2 with 100k messages in flight|recv1|4|2|1|$W2F_BACKLOG|$W2F_INFLIGHT"
    "W3|W3 produce 2 + consume 2 at once|consume1|4|2|1|$W3_BACKLOG|0"
    "W4s|W4 send 100/tx, 4 clients|send100|4|2|100|0|0"
    "W4r|W4 receive 100 + delete_batch, 4 clients|recv100|4|2|100|$W4_BACKLOG|0"
)
SYSTEMS=(courier ceiling)
ALL_NAMES="W1c4 W1c1 W1c8 W2 W2f W3 W4s W4r W5 W6 W7"
ONLY=${BENCH_ONLY:-${ALL_NAMES// /,}}
for n in ${ONLY//,/ }; do
    case " $ALL_NAMES " in *" $n "*) ;; *) die "BENCH_ONLY: unknown workload $n (known: $ALL_NAMES)" ;; esac
done
wanted() { case ",$ONLY," in *",$1,"*) return 0 ;; esac; return 1; }
selected=()
for wl in "${WORKLOADS[@]}"; do
    wanted "${wl%%|*}" && selected+=("$wl")
done
WORKLOADS=(${selected[@]+"${selected[@]}"})

RESULTS_DIR=$BENCH_DIR/results
mkdir -p "$RESULTS_DIR"

ensure_packages "${SERVER_PACKAGES[@]}"
if [ ! -f "$("$PG_CONFIG" --sharedir)/extension/pg_courier.control" ]; then
    build_and_install
fi
command -v "$PGBIN/pgbench" >/dev/null || die "pgbench not found in $PGBIN"

# Which build is measured: the installed library and the checkout it may have
# come from.  The check at the end catches a reinstall during the run.
ext_fingerprint() {
    local lib; lib="$("$PG_CONFIG" --pkglibdir)/pg_courier.so"
    printf 'pg_courier %s, installed library md5 %s' \
        "$(sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\(.*\)'/\1/p" \
            "$("$PG_CONFIG" --sharedir)/extension/pg_courier.control")" \
        "$(md5sum "$lib" | cut -c1-12)"
}
EXT_BEFORE=$(ext_fingerprint)
GIT_DESC=$(git -C "$BENCH_DIR/.." log -1 --format='%h %s' 2>/dev/null || echo unknown)
if [ -n "$(git -C "$BENCH_DIR/.." status --porcelain -- src sql Makefile pg_courier.control 2>/dev/null)" ]; then
    GIT_DESC="$GIT_DESC (src/, sql/ have uncommitted changes)"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pg_courier_bench.XXXXXX")
chmod 755 "$WORK"          # the server account must reach the cluster below
CLUSTER=$WORK/cluster
cleanup() {
    stop_cluster "$CLUSTER"
    if [ "${BENCH_KEEP:-0}" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=$(free_port 56300)
say "starting a throwaway cluster in $CLUSTER (port $PORT)"
STATEMENTS=${BENCH_STATEMENTS:-0}
PLAN_CACHE_MODE=${BENCH_PLAN_CACHE_MODE:-}
EXTRA_CONF=()
if [ "$STATEMENTS" = 1 ]; then
    EXTRA_CONF=("shared_preload_libraries = 'pg_courier,pg_stat_statements'"
                "pg_stat_statements.track = all" "pg_stat_statements.track_planning = on")
fi
start_cluster "$CLUSTER" "$PORT" \
    "shared_buffers = 256MB" \
    "max_wal_size = 4GB" \
    "min_wal_size = 3GB" \
    "checkpoint_timeout = 30min" \
    "fsync = on" \
    "synchronous_commit = on" \
    "max_connections = 50" \
    "log_min_messages = warning" \
    ${EXTRA_CONF[@]+"${EXTRA_CONF[@]}"}
export PGDATABASE=bench PGCONNECT_TIMEOUT=10
as_server_user "$PGBIN/createdb" -h "$PGHOST" -p "$PGPORT" -U postgres bench

# q SQL: one value (or rows) back, unaligned; statements are time-bounded.
q() {
    PGOPTIONS='-c statement_timeout=600s' \
        "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -c "$1"
}
q_file() {
    PGOPTIONS='-c statement_timeout=600s' \
        "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -f "$1" >/dev/null
}

q_file "$BENCH_DIR/setup.sql"
[ "$STATEMENTS" = 1 ] && q "CREATE EXTENSION pg_stat_statements" >/dev/null
PGBENCH_OPTIONS=${BENCH_SESSION_OPTIONS:-}
[ -n "$PLAN_CACHE_MODE" ] && PGBENCH_OPTIONS="$PGBENCH_OPTIONS -c plan_cache_mode=$PLAN_CACHE_MODE"

# Wait until no other client session is left (pgbench's backends have
# exited and flushed their statistics).
wait_idle() {
    local i n
    for i in $(seq 1 200); do
        n=$(q "SELECT count(*) FROM pg_stat_activity
                WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
        [ "$n" = 0 ] && { sleep 0.3; return 0; }
        sleep 0.1
    done
    die "pgbench sessions did not go away"
}

table_of() { if [ "$1" = courier ]; then echo courier.messages; else echo public.ceiling_q; fi; }

prefill() {
    local sys=$1 n=$2
    if [ "$sys" = courier ]; then
        q "DO \$\$
           DECLARE done bigint := 0; k int;
           BEGIN
             WHILE done < $n LOOP
               k := least(5000, $n - done);
               PERFORM courier.send_batch('bench', array_fill('$PAYLOAD'::jsonb, ARRAY[k]));
               done := done + k;
             END LOOP;
           END \$\$;"
    else
        q "INSERT INTO public.ceiling_q (vt, message)
           SELECT now(), '$PAYLOAD'::jsonb FROM generate_series(1, $n);"
    fi
}

# percentiles FILE...: p50 p95 p99 latency in ms of pgbench per-transaction logs
percentiles() {
    awk '$3 ~ /^[0-9]+$/ { print $3 }' "$@" | sort -n |
        awk '{ a[NR] = $1 }
             function p(q,   i) { i = int(q * NR); if (i < q * NR) i++; if (i < 1) i = 1; return a[i] / 1000 }
             END { if (NR == 0) { print "nan nan nan"; exit }
                   printf "%.3f %.3f %.3f\n", p(0.50), p(0.95), p(0.99) }'
}

# Warm-up (not measured): a fresh cluster has few WAL segments, and creating
# (zero-filling) a new 16 MB segment stalls the inserting backend for ~13 ms
# on this kind of machine.  Whichever run first writes WAL fast would pay for
# it, and pg_courier always runs first.  One run's worth of the heaviest WAL
# writer, then a checkpoint, leaves enough recycled segments (kept by
# min_wal_size) for every later run.
say "warm-up: ${DURATION}s of 100-message INSERTs to pre-create WAL segments (not measured)"
(cd "$WORK" && timeout $((DURATION + 120)) "$PGBIN/pgbench" -n -M prepared -T "$DURATION" -c 4 -j 2 \
    -D "payload=$PAYLOAD" -f "$BENCH_DIR/pgbench/ceiling_send100.sql" >"$WORK/warmup.out" 2>&1) \
    || { cat "$WORK/warmup.out" >&2; die "warm-up failed"; }
q "TRUNCATE public.ceiling_q"
q "CHECKPOINT"

RUNS=$WORK/runs.tsv
printf 'workload\tsystem\tround\ttx\ttps\tmsgs_s\tp50\tp95\tp99\twal_bytes\twal_b_msg\tmsgs\trows_after\tsize_before\tsize_after\tsize_vacuum\tupd\thot_upd\tproduced_s\n' >"$RUNS"

# lease N: put the N oldest messages in flight for an hour (W2f).
lease() {
    local sys=$1 n=$2
    if [ "$sys" = courier ]; then
        q "DO \$\$
           DECLARE done bigint := 0;
           BEGIN
             WHILE done < $n LOOP
               done := done + (SELECT count(*) FROM courier.receive('bench', least(1000, $n - done)::int,
                                                                   visibility_timeout => '1 hour'));
             END LOOP;
           END \$\$;"
    else
        q "UPDATE public.ceiling_q SET vt = now() + interval '1 hour', read_ct = read_ct + 1
            WHERE id IN (SELECT id FROM public.ceiling_q ORDER BY vt, id LIMIT $n)"
    fi
}

# pgbench_run LOGDIR CLIENTS THREADS SCRIPT [extra pgbench options...]
pgbench_run() {
    local logdir=$1 clients=$2 threads=$3 script=$4
    shift 4
    (cd "$logdir" && PGOPTIONS=$PGBENCH_OPTIONS timeout $((DURATION + CHURN + 120)) "$PGBIN/pgbench" -n -M prepared \
        -c "$clients" -j "$threads" -D "payload=$PAYLOAD" \
        -f "$BENCH_DIR/pgbench/$script.sql" "$@" >"$logdir/pgbench.out" 2>&1)
}

run_one() {
    local wl=$1 sys=$2 round=$3
    local name _label script clients threads batch backlog inflight
    IFS='|' read -r name _label script clients threads batch backlog inflight <<<"$wl"
    local table; table=$(table_of "$sys")
    local tag="${name}_${sys}_${round}"
    local logdir=$WORK/logs/$tag
    mkdir -p "$logdir"

    # Same starting state for every run: empty table, checkpoint, then the
    # backlog (if any) and the messages in flight (if any), then VACUUM
    # ANALYZE.  The checkpoint comes before the prefill so that the run itself
    # writes no full-page images.
    q "TRUNCATE $table"
    q "CHECKPOINT"
    local size_before=0 stored=$((backlog + inflight))
    if [ "$stored" -gt 0 ]; then
        prefill "$sys" "$stored"
        [ "$inflight" -gt 0 ] && lease "$sys" "$inflight"
        q "VACUUM (ANALYZE) $table"
        size_before=$(q "SELECT pg_total_relation_size('$table')")
    fi
    wait_idle
    local stats0 lsn0
    stats0=$(q "SELECT n_tup_upd || ' ' || n_tup_hot_upd FROM pg_stat_user_tables WHERE relid = '$table'::regclass")
    lsn0=$(q "SELECT pg_current_wal_lsn()")
    [ "$STATEMENTS" = 1 ] && q "SELECT pg_stat_statements_reset()" >/dev/null

    local rc=0 produced=0
    if [ "$name" = W3 ]; then
        # Producers and consumers at once: two pgbench processes.
        mkdir -p "$logdir/producer"
        pgbench_run "$logdir/producer" $((clients / 2)) $((threads / 2)) "${sys}_send1" \
            -T "$DURATION" &
        local producer=$!
        pgbench_run "$logdir" $((clients / 2)) $((threads / 2)) "${sys}_${script}" \
            -T "$DURATION" --log --log-prefix="$logdir/tx" || rc=$?
        wait "$producer" || rc=$?
        produced=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' \
            "$logdir/producer/pgbench.out")
    else
        pgbench_run "$logdir" "$clients" "$threads" "${sys}_${script}" \
            -T "$DURATION" --log --log-prefix="$logdir/tx" || rc=$?
    fi
    wait_idle
    local lsn1 stats1
    lsn1=$(q "SELECT pg_current_wal_lsn()")
    stats1=$(q "SELECT n_tup_upd || ' ' || n_tup_hot_upd FROM pg_stat_user_tables WHERE relid = '$table'::regclass")
    if [ "$rc" -ne 0 ]; then
        local left; left=$(q "SELECT count(*) - $inflight FROM $table")
        if [ "$backlog" -gt 0 ] && [ "$left" -lt $((clients * batch)) ]; then
            say "$tag drained its backlog of $backlog messages"
            touch "$WORK/drained"
            return 0
        fi
        tail -n 20 "$logdir/pgbench.out" >&2
        die "pgbench failed for $tag (exit $rc)"
    fi

    local tx tps failed
    tx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$logdir/pgbench.out")
    tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$logdir/pgbench.out")
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$logdir/pgbench.out")
    if [ -z "$tx" ] || [ -z "$tps" ]; then
        cat "$logdir/pgbench.out" >&2
        die "cannot parse pgbench output for $tag"
    fi
    [ "${failed:-0}" = 0 ] || die "$tag: $failed failed transactions"

    local rows_after size_after size_vacuum msgs
    rows_after=$(q "SELECT count(*) FROM $table")
    size_after=$(q "SELECT pg_total_relation_size('$table')")
    if [ "$name" = W3 ]; then
        # msg/s is what the consumers took: the start backlog plus what was
        # produced, less what is left.
        msgs=$((stored + produced - rows_after))
        tps=$(awk -v m="$msgs" -v d="$DURATION" 'BEGIN { printf "%.1f", m / d }')
        size_vacuum=$size_after
    elif [ "$stored" -gt 0 ]; then
        msgs=$((stored - rows_after))
        if [ $((rows_after - inflight)) -lt $((backlog / 10)) ]; then
            say "WARNING: $tag left only $((rows_after - inflight)) of $backlog messages: raise the backlog"
        fi
        q "VACUUM $table"
        size_vacuum=$(q "SELECT pg_total_relation_size('$table')")
    else
        msgs=$rows_after
        size_vacuum=$size_after
    fi
    # Every transaction moves exactly $batch messages; check it against the table.
    if [ "$name" != W3 ] && [ "$msgs" -ne $((tx * batch)) ]; then
        say "WARNING: $tag: table says $msgs messages, pgbench $tx tx x $batch"
    fi

    local wal lat u0 h0 u1 h1
    wal=$(q "SELECT pg_wal_lsn_diff('$lsn1', '$lsn0')::bigint")
    if [ "$STATEMENTS" = 1 ] && [ "$round" = "$ROUNDS" ]; then
        {
            echo
            echo "### $name, $sys (round $round)"
            echo
            echo "| calls | plans | plan ms/call | exec ms/call | statement |"
            echo "|---:|---:|---:|---:|---|"
            q "SELECT '| ' || calls || ' | ' || plans || ' | '
                      || round((total_plan_time / greatest(calls, 1))::numeric, 4) || ' | '
                      || round((total_exec_time / greatest(calls, 1))::numeric, 4) || ' | '
                      || replace(left(regexp_replace(query, '\s+', ' ', 'g'), 110), '|', '\|') || ' |'
                 FROM pg_stat_statements
                WHERE calls >= 100 AND query !~* '^(BEGIN|COMMIT)'
                ORDER BY total_exec_time + total_plan_time DESC LIMIT 6"
        } >>"$WORK/statements.md"
    fi
    lat=$(percentiles "$logdir"/tx.*)
    read -r u0 h0 <<<"$stats0"
    read -r u1 h1 <<<"$stats1"
    awk -v OFS='\t' -v w="$name" -v s="$sys" -v r="$round" -v tx="$tx" -v tps="$tps" \
        -v b="$batch" -v lat="$lat" -v wal="$wal" -v msgs="$msgs" -v rows="$rows_after" \
        -v sb="$size_before" -v sa="$size_after" -v sv="$size_vacuum" \
        -v upd=$((u1 - u0)) -v hot=$((h1 - h0)) -v pr="$produced" -v d="$DURATION" 'BEGIN {
            split(lat, l, " ")
            print w, s, r, tx, tps, sprintf("%.0f", tps * b), l[1], l[2], l[3], wal,
                  (msgs > 0 ? sprintf("%.0f", wal / msgs) : "nan"), msgs, rows, sb, sa, sv, upd, hot,
                  (w == "W3" ? sprintf("%.0f", pr / d) : "nan")
        }' >>"$RUNS"
    say "$(printf '%-5s %-8s round %d: %8.0f msg/s  p50 %s ms  p99 %s ms  WAL %s B/msg' \
        "$name" "$sys" "$round" "$(awk -v t="$tps" -v b="$batch" 'BEGIN{print t*b}')" \
        "$(echo "$lat" | cut -d' ' -f1)" "$(echo "$lat" | cut -d' ' -f3)" \
        "$(tail -n 1 "$RUNS" | cut -f11)")"
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
START_TS=$(date +%s)
for i in "${!WORKLOADS[@]}"; do
    for attempt in 1 2 3; do
        rm -f "$WORK/drained"
        for round in $(seq 1 "$ROUNDS"); do
            for sys in "${SYSTEMS[@]}"; do
                run_one "${WORKLOADS[$i]}" "$sys" "$round"
                if [ -e "$WORK/drained" ]; then break 2; fi
            done
        done
        [ -e "$WORK/drained" ] || break
        [ "$attempt" -lt 3 ] || die "the backlog still drains; set BENCH_W2_BACKLOG / BENCH_W4_BACKLOG"
        # Start the workload over with twice the backlog, for both systems.
        name=${WORKLOADS[$i]%%|*}
        awk -F'\t' -v w="$name" '$1 != w' "$RUNS" >"$RUNS.tmp" && mv "$RUNS.tmp" "$RUNS"
        IFS='|' read -r f1 f2 f3 f4 f5 f6 backlog inflight <<<"${WORKLOADS[$i]}"
        WORKLOADS[i]="$f1|$f2|$f3|$f4|$f5|$f6|$((backlog * 2))|$inflight"
        case "$name" in
            W2) W2_BACKLOG=$((backlog * 2)) ;;
            W2f) W2F_BACKLOG=$((backlog * 2)) ;;
            *) W4_BACKLOG=$((backlog * 2)) ;;
        esac
        say "restarting $name with a backlog of $((backlog * 2))"
    done
done

# W6 / W7 churn: CHURN seconds of the churn script (a send, then a receive +
# delete, per pgbench transaction) by 4 clients on a steady backlog.  Every
# SAMPLE seconds: throughput (pgbench --progress), relation size, live and
# dead tuples.  W7 does the same while another session holds a REPEATABLE
# READ snapshot open for the whole run, so VACUUM can remove nothing that
# became dead after it started.
CHURN_TSV=$WORK/churn.tsv
printf 'workload\tsystem\tt\tmsgs_s\tsize\tlive\tdead\n' >"$CHURN_TSV"
run_churn() {
    local name=$1 sys=$2
    local table; table=$(table_of "$sys")
    local logdir=$WORK/logs/${name}_${sys}
    mkdir -p "$logdir"
    q "TRUNCATE $table"
    q "CHECKPOINT"
    prefill "$sys" "$CHURN_BACKLOG"
    q "VACUUM (ANALYZE) $table"
    wait_idle
    if [ "$name" = W7 ]; then
        coproc HOLDER { "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 2>&1; }
        echo "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM pg_class;" >&"${HOLDER[1]}"
        local _n; read -r _n <&"${HOLDER[0]}"
    fi
    local rc=0
    pgbench_run "$logdir" 4 2 "${sys}_churn" -T "$CHURN" -P "$SAMPLE" &
    local bench=$!
    local t=0 size live dead
    while :; do
        for _ in $(seq 1 "$SAMPLE"); do
            kill -0 "$bench" 2>/dev/null || break 2
            sleep 1
        done
        t=$((t + SAMPLE))
        read -r size live dead <<<"$(q "SELECT pg_total_relation_size('$table'), n_live_tup, n_dead_tup
                                           FROM pg_stat_user_tables WHERE relid = '$table'::regclass" | tr '|' ' ')"
        printf '%s\t%s\t%s\t\t%s\t%s\t%s\n' "$name" "$sys" "$t" "$size" "$live" "$dead" >>"$logdir/samples.tsv"
    done
    wait "$bench" || rc=$?
    if [ "$name" = W7 ]; then
        echo "COMMIT;" >&"${HOLDER[1]}"
        echo '\q' >&"${HOLDER[1]}"
        wait "$HOLDER_PID" 2>/dev/null || true
    fi
    [ "$rc" -eq 0 ] || { tail -n 20 "$logdir/pgbench.out" >&2; die "pgbench failed for ${name}_${sys} (exit $rc)"; }
    # pgbench prints "progress: 30.0 s, 1234.5 tps, lat ..." per interval;
    # join them to the samples by interval number.
    sed -n 's/^progress: \([0-9.]*\) s, \([0-9.]*\) tps.*/\2/p' "$logdir/pgbench.out" >"$logdir/tps.txt"
    awk -F'\t' -v OFS='\t' 'NR == FNR { tps[FNR] = $1; next }
                            { $4 = (FNR in tps) ? tps[FNR] : "nan"; print }' \
        "$logdir/tps.txt" "$logdir/samples.tsv" >>"$CHURN_TSV"
    say "$(printf '%-3s %-8s churn: %s' "$name" "$sys" \
        "$(awk -F'\t' -v w="$name" -v s="$sys" '$1 == w && $2 == s { printf "%s ", $4 }' "$CHURN_TSV") msg/s per interval")"
}
for name in W6 W7; do
    wanted "$name" || continue
    for sys in "${SYSTEMS[@]}"; do
        run_churn "$name" "$sys"
    done
done

# W5: long-poll wake latency, on the same cluster.
LP_OUT=$WORK/longpoll.txt
if wanted W5; then
    say "W5: long-poll wake latency, $LP_SAMPLES samples"
    SAMPLES=$LP_SAMPLES bash "$BENCH_DIR/longpoll.sh" --use-running >"$LP_OUT" 2>&1 \
        || { cat "$LP_OUT" >&2; die "bench/longpoll.sh failed"; }
fi

ELAPSED=$(( $(date +%s) - START_TS ))
EXT_AFTER=$(ext_fingerprint)
EXT_NOTE=$EXT_BEFORE
if [ "$EXT_AFTER" != "$EXT_BEFORE" ]; then
    # The cluster preloads the library (shared_preload_libraries), so every
    # backend inherited the build loaded at start; only the note changes.
    EXT_NOTE="$EXT_BEFORE (loaded at cluster start; the files on disk were replaced during the run by: $EXT_AFTER, which this run did not use)"
    say "note: pg_courier was reinstalled during the run; the cluster kept the preloaded build"
fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report ---

# med WORKLOAD SYSTEM COLUMN: median over the rounds
med() {
    awk -F'\t' -v w="$1" -v s="$2" -v c="$3" '
        NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        $1 == w && $2 == s { print $col[c] }' "$RUNS" | sort -g |
        awk '{ a[NR] = $1 }
             END { if (NR == 0) print "nan"
                   else if (NR % 2) print a[(NR + 1) / 2]
                   else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
# sum WORKLOAD SYSTEM COLUMN: total over the rounds
sum() {
    awk -F'\t' -v w="$1" -v s="$2" -v c="$3" '
        NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        $1 == w && $2 == s { t += $col[c] } END { print t + 0 }' "$RUNS"
}
fmt() { awk -v x="$1" -v f="$2" 'BEGIN { if (x == "nan") print "n/a"; else printf f, x }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan" || b == 0) print "n/a"; else printf "%.2f", a / b }'; }
mb() { awk -v x="$1" 'BEGIN { printf "%.1f", x / 1048576 }'; }

PG_VERSION=$(q "SHOW server_version")
MEM_GB=$(awk '/^MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
label_of() { local wl; for wl in "${WORKLOADS[@]}"; do [ "${wl%%|*}" = "$1" ] && { echo "$wl" | cut -d'|' -f2; return; }; done; }
NAMES=()
for wl in "${WORKLOADS[@]}"; do NAMES+=("${wl%%|*}"); done
has() { case " ${NAMES[*]} " in *" $1 "*) return 0 ;; esac; return 1; }

# ---------------------------------------------------------------- goals ---

# metric VALUE helpers: per-round courier/ceiling ratios of a workload's msg/s
round_ratios() {
    awk -F'\t' -v w="$1" '
        NR == 1 { next }
        $1 == w && $2 == "courier" { c[$3] = $6 }
        $1 == w && $2 == "ceiling" { e[$3] = $6 }
        END { for (r in c) if (r in e && e[r] > 0) printf "%.2f\n", c[r] / e[r] }' "$RUNS" | sort -g
}
spread_of() { round_ratios "$1" | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR) printf "%s-%s", lo, hi; else print "n/a" }'; }
churn_stat() {  # churn_stat RUN SYSTEM first|last|mean
    awk -F'\t' -v w="$1" -v sys="$2" -v what="$3" '
        $1 == w && $2 == sys && $4 != "nan" { k++; t[k] = $4; sum += $4 }
        END { if (k == 0) { print "nan"; exit }
              if (what == "first") print t[1]; else if (what == "last") print t[k]; else print sum / k }' "$CHURN_TSV"
}
metric_value() {
    case "$1" in
        W1c4|W1c1|W1c8|W2|W2f|W3|W4s|W4r)
            has "$1" && ratio "$(med "$1" courier msgs_s)" "$(med "$1" ceiling msgs_s)" || echo n/a ;;
        wal_W1_W2)
            if has W1c4 && has W2; then
                ratio "$(awk -v a="$(med W1c4 courier wal_b_msg)" -v b="$(med W2 courier wal_b_msg)" 'BEGIN { print a + b }')" \
                      "$(awk -v a="$(med W1c4 ceiling wal_b_msg)" -v b="$(med W2 ceiling wal_b_msg)" 'BEGIN { print a + b }')"
            else echo n/a; fi ;;
        inflight_W2f_W2)
            if has W2 && has W2f; then ratio "$(med W2f courier msgs_s)" "$(med W2 courier msgs_s)"; else echo n/a; fi ;;
        churn_last_first)
            if wanted W6; then ratio "$(churn_stat W6 courier last)" "$(churn_stat W6 courier first)"; else echo n/a; fi ;;
        churn_ceiling_last_first)
            if wanted W6; then ratio "$(churn_stat W6 ceiling last)" "$(churn_stat W6 ceiling first)"; else echo n/a; fi ;;
        snapshot_W7_W6)
            if wanted W6 && wanted W7; then ratio "$(churn_stat W7 courier mean)" "$(churn_stat W6 courier mean)"; else echo n/a; fi ;;
        snapshot_ceiling_W7_W6)
            if wanted W6 && wanted W7; then ratio "$(churn_stat W7 ceiling mean)" "$(churn_stat W6 ceiling mean)"; else echo n/a; fi ;;
        *) echo n/a ;;
    esac
}
GUARD_FAILED=0
: >"$WORK/goals.md"
while IFS=$'\t' read -r metric dir goal floor label; do
    case "$metric" in ''|'#'*) continue ;; esac
    value=$(metric_value "$metric")
    case "$metric" in W*) spread=$(spread_of "$metric") ;; *) spread= ;; esac
    if [ "$value" = n/a ]; then
        met=n/a; guard="not run"
    else
        met=$(awk -v v="$value" -v g="$goal" -v d="$dir" 'BEGIN { print ((d == ">=" ? v >= g : v <= g) ? "yes" : "no") }')
        if awk -v v="$value" -v f="$floor" -v d="$dir" 'BEGIN { exit !((d == ">=") ? v < f : v > f) }'; then
            guard="**FAILED**"; GUARD_FAILED=1
            say "GUARD: $metric = $value is past its floor $floor ($label)"
        else
            guard=ok
        fi
    fi
    echo "| $label | $value | $spread | $dir $goal | $met | $floor | $guard |" >>"$WORK/goals.md"
done <"$BENCH_DIR/floors.tsv"

REPORT=$WORK/report.md
{
    echo "# pg_courier vs raw-SQL ceiling queue"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); mode: $([ "$QUICK" = 1 ] && echo QUICK || echo full)," \
         "$ROUNDS rounds x $DURATION s per workload and system, interleaved; medians reported"
    echo "- machine: $(nproc) CPU ($CPU_MODEL), ${MEM_GB} GiB RAM; PostgreSQL $PG_VERSION;" \
         "load average before/after: $LOAD_START / $LOAD_END; bench took ${ELAPSED}s"
    echo "- extension: $EXT_NOTE; checkout: $GIT_DESC"
    [ "$STATEMENTS" = 1 ] && echo "- DIAGNOSTIC RUN: pg_stat_statements tracking every statement (slower; not comparable)"
    [ -n "$PLAN_CACHE_MODE" ] && echo "- DIAGNOSTIC RUN: plan_cache_mode = $PLAN_CACHE_MODE in every pgbench session"
    [ -n "${BENCH_SESSION_OPTIONS:-}" ] && echo "- DIAGNOSTIC RUN: pgbench sessions started with options: $BENCH_SESSION_OPTIONS"
    echo "- server: shared_buffers 256MB, max_wal_size 4GB, min_wal_size 3GB, checkpoint_timeout 30min, fsync on," \
         "synchronous_commit on, autovacuum on; pgbench -M prepared over the unix socket"
    echo "- backlog before each receive run: W2 $W2_BACKLOG, W2f $W2F_BACKLOG (+ $W2F_INFLIGHT in flight)," \
         "W3 $W3_BACKLOG, W4 $W4_BACKLOG, W6/W7 $CHURN_BACKLOG messages; payload ${#PAYLOAD} bytes of JSON"
    echo "- churn runs (W6, W7): $CHURN s each, sampled every $SAMPLE s; W5: $LP_SAMPLES samples"
    echo
    echo "## Throughput, latency, WAL"
    echo
    echo "| workload | system | msg/s | p50 ms | p95 ms | p99 ms | WAL B/msg |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    for n in "${NAMES[@]}"; do
        for s in "${SYSTEMS[@]}"; do
            echo "| $(label_of "$n") | $s | $(fmt "$(med "$n" "$s" msgs_s)" '%.0f') |" \
                 "$(fmt "$(med "$n" "$s" p50)" '%.2f') | $(fmt "$(med "$n" "$s" p95)" '%.2f') |" \
                 "$(fmt "$(med "$n" "$s" p99)" '%.2f') | $(fmt "$(med "$n" "$s" wal_b_msg)" '%.0f') |"
        done
    done
    echo
    echo "## Ratios pg_courier / ceiling"
    echo
    echo "msg/s below 1 means pg_courier is slower; latency and WAL above 1 mean pg_courier costs more."
    echo
    echo "| workload | msg/s | p50 | p95 | p99 | WAL/msg |"
    echo "|---|---:|---:|---:|---:|---:|"
    for n in "${NAMES[@]}"; do
        echo "| $(label_of "$n") | $(ratio "$(med "$n" courier msgs_s)" "$(med "$n" ceiling msgs_s)") |" \
             "$(ratio "$(med "$n" courier p50)" "$(med "$n" ceiling p50)") |" \
             "$(ratio "$(med "$n" courier p95)" "$(med "$n" ceiling p95)") |" \
             "$(ratio "$(med "$n" courier p99)" "$(med "$n" ceiling p99)") |" \
             "$(ratio "$(med "$n" courier wal_b_msg)" "$(med "$n" ceiling wal_b_msg)") |"
    done
    echo
    echo "## Storage"
    echo
    echo "Send runs start from an empty table: bytes per stored message = table + indexes / rows."
    echo
    echo "| workload | system | rows | MB | bytes/msg | ratio |"
    echo "|---|---|---:|---:|---:|---:|"
    for n in W1c4 W4s; do
        has "$n" || continue
        for s in "${SYSTEMS[@]}"; do
            bpm=$(awk -v a="$(med "$n" "$s" size_after)" -v r="$(med "$n" "$s" rows_after)" 'BEGIN { printf "%.0f", a / r }')
            [ "$s" = courier ] && cbpm=$bpm
            echo "| $(label_of "$n") | $s | $(fmt "$(med "$n" "$s" rows_after)" '%.0f') |" \
                 "$(mb "$(med "$n" "$s" size_after)") | $bpm | $([ "$s" = ceiling ] && ratio "$cbpm" "$bpm" || echo) |"
        done
    done
    echo
    echo "Receive runs: table + indexes after the prefill, after the run (churn), and after a plain VACUUM."
    echo
    echo "| workload | system | backlog | consumed | MB before | MB after run | MB after VACUUM | after-run ratio |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|"
    for n in W2 W4r; do
        has "$n" || continue
        for s in "${SYSTEMS[@]}"; do
            echo "| $(label_of "$n") | $s | $( [ "$n" = W2 ] && echo "$W2_BACKLOG" || echo "$W4_BACKLOG") |" \
                 "$(fmt "$(med "$n" "$s" msgs)" '%.0f') | $(mb "$(med "$n" "$s" size_before)") |" \
                 "$(mb "$(med "$n" "$s" size_after)") | $(mb "$(med "$n" "$s" size_vacuum)") |" \
                 "$([ "$s" = ceiling ] && ratio "$(med "$n" courier size_after)" "$(med "$n" ceiling size_after)" || echo) |"
        done
    done
    echo
    echo "## HOT share of lease updates (pg_stat_user_tables, summed over the rounds)"
    echo
    echo "| workload | system | n_tup_upd | n_tup_hot_upd | HOT share |"
    echo "|---|---|---:|---:|---:|"
    for n in W2 W4r; do
        has "$n" || continue
        for s in "${SYSTEMS[@]}"; do
            u=$(sum "$n" "$s" upd); h=$(sum "$n" "$s" hot_upd)
            echo "| $(label_of "$n") | $s | $u | $h | $(awk -v u="$u" -v h="$h" 'BEGIN { if (u > 0) printf "%.1f%%", 100 * h / u; else print "n/a" }') |"
        done
    done
    echo
    if has W3; then
        echo "## W3: producers and consumers at once"
        echo
        echo "Two pgbench processes of 2 clients each on one queue: what was produced and what was consumed."
        echo
        echo "| system | produced msg/s | consumed msg/s | backlog at the end |"
        echo "|---|---:|---:|---:|"
        for s in "${SYSTEMS[@]}"; do
            echo "| $s | $(fmt "$(med W3 "$s" produced_s)" '%.0f') | $(fmt "$(med W3 "$s" msgs_s)" '%.0f') |" \
                 "$(fmt "$(med W3 "$s" rows_after)" '%.0f') |"
        done
        echo
    fi
    if [ -s "$CHURN_TSV" ] && [ "$(wc -l <"$CHURN_TSV")" -gt 1 ]; then
        echo "## W6 / W7: churn"
        echo
        echo "4 clients, each transaction pair sends one message and consumes one, on a steady backlog of" \
             "$CHURN_BACKLOG; W7 with a REPEATABLE READ snapshot held open the whole time. Default autovacuum."
        echo
        echo "| run | system | msg/s first | msg/s last | last / first | mean msg/s | MB first | MB last | dead tuples last |"
        echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
        for n in W6 W7; do
            for s in "${SYSTEMS[@]}"; do
                awk -F'\t' -v w="$n" -v sys="$s" '
                    $1 == w && $2 == sys { k++; t[k] = $4; sz[k] = $5; d[k] = $7; if ($4 != "nan") { sum += $4; c++ } }
                    END { if (k == 0) exit
                          printf "| %s | %s | %.0f | %.0f | %.2f | %.0f | %.1f | %.1f | %s |\n",
                                 w, sys, t[1], t[k], (t[1] > 0 ? t[k] / t[1] : 0), (c ? sum / c : 0),
                                 sz[1] / 1048576, sz[k] / 1048576, d[k] }' "$CHURN_TSV"
            done
        done
        echo
        echo "Every sample (msg/s over the interval ending at t; size of table + indexes; tuples from pg_stat_user_tables):"
        echo
        echo "| run | system | t s | msg/s | MB | live | dead |"
        echo "|---|---|---:|---:|---:|---:|---:|"
        awk -F'\t' 'NR > 1 { printf "| %s | %s | %s | %s | %.1f | %s | %s |\n", $1, $2, $3, $4, $5 / 1048576, $6, $7 }' "$CHURN_TSV"
        echo
    fi
    if [ -s "$LP_OUT" ]; then
        echo "## W5: long-poll wake latency"
        echo
        echo "A consumer blocked in courier.receive(wait => '10 s'); a producer sends and commits (bench/longpoll.sh)."
        echo
        echo '```'
        cat "$LP_OUT"
        echo '```'
        echo
    fi
    echo "## Goals (bench/floors.tsv)"
    echo
    echo "The guard fails the run when a value is on the wrong side of its floor. Spread: the lowest and" \
         "highest per-round value, a measure of this run's noise."
    echo
    echo "| metric | value | spread | goal | goal met | floor | guard |"
    echo "|---|---:|---|---:|---|---:|---|"
    cat "$WORK/goals.md"
    echo
    if [ "$STATEMENTS" = 1 ]; then
        echo "## Statements (pg_stat_statements, track = all, last round; timings inflated by tracking)"
        cat "$WORK/statements.md"
        echo
    fi
    echo "## Every run"
    echo
    echo "| workload | system | round | tx | msg/s | p50 ms | p95 ms | p99 ms | WAL B/msg | messages |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    awk -F'\t' 'NR > 1 { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
                         $1, $2, $3, $4, $6, $7, $8, $9, $11, $12 }' "$RUNS"
} >"$REPORT"

cp "$REPORT" "$RESULTS_DIR/latest.md"
cp "$RUNS" "$RESULTS_DIR/latest-runs.tsv"
cp "$CHURN_TSV" "$RESULTS_DIR/latest-churn.tsv"
cat "$REPORT"
say "written to bench/results/latest.md (per-run data: bench/results/latest-runs.tsv, latest-churn.tsv)"
if [ "$GUARD_FAILED" = 1 ] && [ "${BENCH_NO_GUARD:-0}" != 1 ]; then
    say "REGRESSION GUARD FAILED: a value is past its floor in bench/floors.tsv (see the Goals table)"
    exit 3
fi
