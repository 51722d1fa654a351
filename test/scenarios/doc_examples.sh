#!/usr/bin/env bash
# Scenario: the SQL examples in the README and in docs/ run as written.
# Every ```sql block of a file runs, in order, in one fresh database with
# ON_ERROR_STOP.  Prints TAP lines.  Needs PGHOST/PGPORT/PGUSER.
set -euo pipefail
PROJECT=$(cd "$(dirname "$0")/../.." && pwd)
n=0
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"; dropdb --if-exists doc_examples 2>/dev/null || true' EXIT

for doc in README.md docs/queues.md docs/fifo.md docs/dead-letters.md docs/operations.md docs/security.md docs/patterns.md docs/topics.md docs/input-shaping.md docs/buses.md docs/archives.md docs/asl-validation.md docs/asl-data-flow.md docs/workflows.md docs/schemas.md docs/outbox.md docs/idempotency.md docs/correlation.md; do
    [ -f "$PROJECT/$doc" ] || continue
    # the fenced sql blocks, in order
    awk '/^```sql[[:space:]]*$/ {on = 1; next} /^```/ {on = 0} on' "$PROJECT/$doc" >"$WORK/doc.sql"
    [ -s "$WORK/doc.sql" ] || continue
    dropdb --if-exists doc_examples 2>/dev/null || true
    createdb doc_examples
    # a document that does not create the extension itself gets it created
    grep -q 'CREATE EXTENSION pg_courier' "$WORK/doc.sql" ||
        psql -X -q -d doc_examples -c 'CREATE EXTENSION pg_courier' >/dev/null
    roles_before=$(psql -X -q -A -t -d doc_examples -c "SELECT string_agg(rolname, ' ') FROM pg_roles")
    n=$((n + 1))
    if psql -X -q -d doc_examples -v ON_ERROR_STOP=1 -f "$WORK/doc.sql" >"$WORK/out.txt" 2>&1; then
        echo "ok $n - the SQL examples of $doc run as written"
    else
        echo "not ok $n - the SQL examples of $doc fail"
        tail -n 15 "$WORK/out.txt" | sed 's/^/#   /'
    fi
    # roles are cluster-wide: remove the ones the examples created
    for role in $(psql -X -q -A -t -d doc_examples -c "SELECT rolname FROM pg_roles"); do
        case " $roles_before " in *" $role "*) continue ;; esac
        psql -X -q -d doc_examples -c "DROP OWNED BY \"$role\"" -c "DROP ROLE \"$role\"" >/dev/null
    done
done
