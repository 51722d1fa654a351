#!/usr/bin/env bash
# make test: install what is missing, build with warnings as errors, run every
# suite (pg_regress, isolation, pgTAP) against a throwaway cluster, and end with
# one line "N passed, N failed".  Exit status 0 only when nothing failed.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_packages "${SERVER_PACKAGES[@]}" \
    "postgresql-$PG_MAJOR-pgtap" libtap-parser-sourcehandler-pgtap-perl \
    "postgresql-$PG_MAJOR-cron" libipc-run-perl python3-psycopg2 procps

# PostgreSQL's own headers trip -Wextra (unused parameters in inline
# functions); -isystem makes them system headers so only our code is judged.
build_and_install PG_CFLAGS="-Wall -Wextra -Werror" \
    PG_CPPFLAGS="-isystem $("$PG_CONFIG" --includedir-server)"

WORK=$(mktemp -d /tmp/pg_courier-test.XXXXXX)
chmod 755 "$WORK"
cleanup() { stop_cluster "$WORK/cluster"; rm -rf "$WORK"; }
trap cleanup EXIT
say "starting a throwaway cluster"
start_cluster "$WORK/cluster" "$(free_port 55440)" "fsync = off" "log_min_messages = warning"

PASSED=0
FAILED=0

# count_lines LOG: add the ok / failed test lines of a pg_regress-style log.
# PostgreSQL 15 prints "test NAME ... ok"; 16 and later print TAP lines.
count_regress() {
    local log=$1 ok bad
    ok=$(grep -cE '(\.\.\. ok|^ok [0-9]+ )' "$log" || true)
    bad=$(grep -cE '(\.\.\. FAILED|\.\.\. failed|^not ok [0-9]+ )' "$log" || true)
    echo "$ok $bad"
}

run_regress_suite() {
    local name=$1 log=$WORK/$1.log status=0 ok bad
    shift
    say "suite: $name"
    make -C "$PROJECT_DIR" --no-print-directory PG_CONFIG="$PG_CONFIG" installcheck "$@" \
        >"$log" 2>&1 || status=$?
    grep -E '(\.\.\. |^(not )?ok [0-9]+ )' "$log" >&2 || true
    read -r ok bad < <(count_regress "$log")
    if [ "$status" -ne 0 ] && [ "$bad" -eq 0 ]; then
        # The runner itself failed (could not connect, missing input, ...).
        cat "$log" >&2
        bad=1
    fi
    if [ "$bad" -gt 0 ]; then
        for diffs in "$PROJECT_DIR/regression.diffs" "$PROJECT_DIR/output_iso/regression.diffs"; do
            [ -f "$diffs" ] && head -n 300 "$diffs" >&2
        done
    fi
    PASSED=$((PASSED + ok))
    FAILED=$((FAILED + bad))
}

cd "$PROJECT_DIR"
rm -rf results output_iso regression.diffs regression.out

run_regress_suite pg_regress ISOLATION=
run_regress_suite isolation REGRESS=

# Packaging: the version in META.json is the one in the control file.
say "suite: packaging"
control_version=$(sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\(.*\)'/\1/p" pg_courier.control)
if grep -q "\"version\": \"$control_version\.0\"" META.json; then
    echo "ok - META.json version matches pg_courier.control ($control_version)" >&2
    PASSED=$((PASSED + 1))
else
    echo "not ok - META.json version does not match pg_courier.control ($control_version)" >&2
    FAILED=$((FAILED + 1))
fi

# pgTAP: every file in test/pgtap, counted per assertion.  Twice: with the
# defaults, where a receive inside a transaction block (every pgTAP file is
# one) writes its leases at commit, and with courier.defer_leases = off, the
# path of receives in their own transaction.
say "suite: pgTAP"
createdb courier_tap
psql -X -q -v ON_ERROR_STOP=1 -d courier_tap \
    -c 'CREATE EXTENSION pgtap' -c 'CREATE EXTENSION pg_courier'
shopt -s nullglob
TAP_FILES=(test/pgtap/*.sql)
run_pgtap() { # run_pgtap NAME DESCRIPTION [PGOPTIONS]
    local log=$WORK/pgtap-$1.log options=${3:-} status=0 ok bad
    say "pgTAP, $2"
    if [ ${#TAP_FILES[@]} -eq 0 ]; then
        echo "not ok - no pgTAP suites found in test/pgtap" >"$log"
        status=1
    else
        PGOPTIONS="$options" pg_prove -v -d courier_tap "${TAP_FILES[@]}" >"$log" 2>&1 || status=$?
    fi
    grep -E '^(not )?ok [0-9]+|^test/|Result:' "$log" >&2 || true
    ok=$(grep -cE '^ok [0-9]+' "$log" || true)
    bad=$(grep -cE '^not ok [0-9]+' "$log" || true)
    if [ "$status" -ne 0 ] && [ "$bad" -eq 0 ]; then
        # A file died or planned more tests than it ran.
        grep -vE '^ok [0-9]+' "$log" >&2 || true
        bad=1
    fi
    [ "$bad" -gt 0 ] && grep -B2 -A8 '^not ok' "$log" >&2 || true
    PASSED=$((PASSED + ok))
    FAILED=$((FAILED + bad))
}
run_pgtap deferred "leases deferred to commit (the default)"
run_pgtap eager "courier.defer_leases = off" "-c courier.defer_leases=off"

# End-to-end scenarios: shell scripts printing TAP lines.  crash_recovery
# crashes and restarts the cluster, so scenarios run last.
export CLUSTER_DIR=$WORK/cluster
for scenario in test/scenarios/*.sh; do
    say "scenario: $scenario"
    log=$WORK/$(basename "$scenario").log
    status=0
    bash "$scenario" >"$log" 2>&1 || status=$?
    cat "$log" >&2
    ok=$(grep -cE '^ok [0-9]+' "$log" || true)
    bad=$(grep -cE '^not ok [0-9]+' "$log" || true)
    if [ "$status" -ne 0 ] && [ "$bad" -eq 0 ]; then bad=1; fi
    PASSED=$((PASSED + ok))
    FAILED=$((FAILED + bad))
done

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
