#!/usr/bin/env bash
# bench/run.sh: pg_courier against a raw-SQL "ceiling" queue, side by side.
#
#   make bench            full run (3 rounds of 20 s per workload and system, ~13 min)
#   make bench QUICK=1    quick run (2 rounds of 4 s, ~2 min)
#
# Every workload runs the two systems interleaved (pg_courier, ceiling,
# pg_courier, ceiling, ...) in one throwaway cluster; the report gives the
# median over the rounds and the ratio pg_courier / ceiling.  The method is
# described in docs/performance.md.  The table goes to stdout and, as
# markdown, to bench/results/latest.md (not committed).
#
# Knobs (environment): QUICK=1, BENCH_DURATION (s per run), BENCH_ROUNDS,
# BENCH_W2_BACKLOG / BENCH_W4_BACKLOG (messages prefilled before each
# receive run), BENCH_KEEP=1 (keep the work directory and its logs),
# BENCH_ONLY=W2,W4r (run only these workloads: W1c4 W1c1 W2 W4s W4r).
# Diagnostics (they change the timings; do not compare them with plain runs):
# BENCH_STATEMENTS=1 adds per-statement pg_stat_statements figures (nested
# statements included, with planning counts) to the report;
# BENCH_PLAN_CACHE_MODE=force_generic_plan (or another plan_cache_mode) is
# set in every pgbench session, and so for the statements pg_courier runs.

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/lib.sh
source "$BENCH_DIR/../scripts/lib.sh"

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
    DURATION=${BENCH_DURATION:-4}
    ROUNDS=${BENCH_ROUNDS:-2}
else
    DURATION=${BENCH_DURATION:-20}
    ROUNDS=${BENCH_ROUNDS:-3}
fi
[ "$ROUNDS" -ge 2 ] || die "BENCH_ROUNDS must be at least 2"
# Backlogs are sized for about 1.5x what the faster system drains on the
# reference machine (2 vCPU).  A run that empties its queue makes pgbench
# abort; the workload then starts over with twice the backlog (at most twice).
W2_BACKLOG=${BENCH_W2_BACKLOG:-$((DURATION * 12000 + 20000))}
W4_BACKLOG=${BENCH_W4_BACKLOG:-$((DURATION * 110000 + 50000))}

# ~250-byte CloudEvents-like envelope, the payload of every message.
PAYLOAD='{"specversion":"1.0","id":"8d7e5c1a-3b2f-4e6a-9c0d-1f2e3a4b5c6d","source":"/shop/orders","type":"com.example.order.created","time":"2024-05-01T12:00:00Z","data":{"order_id":1234567,"customer_id":7654321,"total_cents":12999,"currency":"EUR","items":3}}'

# Workloads: name|label|pgbench script suffix|clients|threads|messages per tx|prefill
WORKLOADS=(
    "W1c4|W1 send 1/tx, 4 clients|send1|4|2|1|0"
    "W1c1|W1 send 1/tx, 1 client|send1|1|1|1|0"
    "W2|W2 receive 1 + delete, 4 clients|recv1|4|2|1|$W2_BACKLOG"
    "W4s|W4 send 100/tx, 4 clients|send100|4|2|100|0"
    "W4r|W4 receive 100 + delete_batch, 4 clients|recv100|4|2|100|$W4_BACKLOG"
)
SYSTEMS=(courier ceiling)
if [ -n "${BENCH_ONLY:-}" ]; then
    selected=()
    for wl in "${WORKLOADS[@]}"; do
        case ",$BENCH_ONLY," in *",${wl%%|*},"*) selected+=("$wl") ;; esac
    done
    [ ${#selected[@]} -gt 0 ] || die "BENCH_ONLY=$BENCH_ONLY names no workload (W1c4 W1c1 W2 W4s W4r)"
    WORKLOADS=("${selected[@]}")
fi

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
PGBENCH_OPTIONS=
[ -n "$PLAN_CACHE_MODE" ] && PGBENCH_OPTIONS="-c plan_cache_mode=$PLAN_CACHE_MODE"

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
printf 'workload\tsystem\tround\ttx\ttps\tmsgs_s\tp50\tp95\tp99\twal_bytes\twal_b_msg\tmsgs\trows_after\tsize_before\tsize_after\tsize_vacuum\tupd\thot_upd\n' >"$RUNS"

run_one() {
    local wl=$1 sys=$2 round=$3
    local name _label script clients threads batch backlog
    IFS='|' read -r name _label script clients threads batch backlog <<<"$wl"
    local table; table=$(table_of "$sys")
    local tag="${name}_${sys}_${round}"
    local logdir=$WORK/logs/$tag
    mkdir -p "$logdir"

    # Same starting state for every run: empty table, checkpoint, then the
    # backlog (if any), then VACUUM ANALYZE.  The checkpoint comes before the
    # prefill so that the run itself writes no full-page images.
    q "TRUNCATE $table"
    q "CHECKPOINT"
    local size_before=0
    if [ "$backlog" -gt 0 ]; then
        prefill "$sys" "$backlog"
        q "VACUUM (ANALYZE) $table"
        size_before=$(q "SELECT pg_total_relation_size('$table')")
    fi
    wait_idle
    local stats0 lsn0
    stats0=$(q "SELECT n_tup_upd || ' ' || n_tup_hot_upd FROM pg_stat_user_tables WHERE relid = '$table'::regclass")
    lsn0=$(q "SELECT pg_current_wal_lsn()")
    [ "$STATEMENTS" = 1 ] && q "SELECT pg_stat_statements_reset()" >/dev/null

    local rc=0
    (cd "$logdir" && PGOPTIONS=$PGBENCH_OPTIONS timeout $((DURATION + 120)) "$PGBIN/pgbench" -n -M prepared \
        -T "$DURATION" -c "$clients" -j "$threads" \
        -D "payload=$PAYLOAD" \
        --log --log-prefix="$logdir/tx" \
        -f "$BENCH_DIR/pgbench/${sys}_${script}.sql" >"$logdir/pgbench.out" 2>&1) || rc=$?
    wait_idle
    local lsn1 stats1
    lsn1=$(q "SELECT pg_current_wal_lsn()")
    stats1=$(q "SELECT n_tup_upd || ' ' || n_tup_hot_upd FROM pg_stat_user_tables WHERE relid = '$table'::regclass")
    if [ "$rc" -ne 0 ]; then
        local left; left=$(q "SELECT count(*) FROM $table")
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
    if [ "$backlog" -gt 0 ]; then
        msgs=$((backlog - rows_after))
        if [ "$rows_after" -lt $((backlog / 10)) ]; then
            say "WARNING: $tag left only $rows_after of $backlog messages: raise the backlog"
        fi
        q "VACUUM $table"
        size_vacuum=$(q "SELECT pg_total_relation_size('$table')")
    else
        msgs=$rows_after
        size_vacuum=$size_after
    fi
    # Every transaction moves exactly $batch messages; check it against the table.
    if [ "$msgs" -ne $((tx * batch)) ]; then
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
        -v upd=$((u1 - u0)) -v hot=$((h1 - h0)) 'BEGIN {
            split(lat, l, " ")
            print w, s, r, tx, tps, sprintf("%.0f", tps * b), l[1], l[2], l[3], wal,
                  (msgs > 0 ? sprintf("%.0f", wal / msgs) : "nan"), msgs, rows, sb, sa, sv, upd, hot
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
        backlog=${WORKLOADS[$i]##*|}
        WORKLOADS[i]="${WORKLOADS[$i]%|*}|$((backlog * 2))"
        if [ "$name" = W2 ]; then W2_BACKLOG=$((backlog * 2)); else W4_BACKLOG=$((backlog * 2)); fi
        say "restarting $name with a backlog of $((backlog * 2))"
    done
done
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
    echo "- server: shared_buffers 256MB, max_wal_size 4GB, min_wal_size 3GB, checkpoint_timeout 30min, fsync on," \
         "synchronous_commit on, autovacuum on; pgbench -M prepared over the unix socket"
    echo "- backlog before each receive run: W2 $W2_BACKLOG, W4 $W4_BACKLOG messages; payload ${#PAYLOAD} bytes of JSON"
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
cat "$REPORT"
say "written to bench/results/latest.md (per-run data: bench/results/latest-runs.tsv)"
