#!/usr/bin/env bash
# Scenario: Exercise 4 -- a saga of SQL tasks (validate, reserve, generate,
# notify, publish) with a failure injected at each step in turn.  Runs
# examples/exercise4.sql in a fresh database, twice (it cleans up after
# itself), and checks, for each order: transient errors were retried and
# the order succeeded; a permanent error was caught, the compensations of
# the steps done ran in reverse, and the execution FAILED with the step's
# error; the database effects (no reservation left after a compensation,
# stock given back, invoices voided, one notification and one event per
# order that got that far: a retried step never leaves a duplicate row);
# and that get_execution_history explains each outcome.  Then, outside the
# example: a transition rolled back with its transaction takes its task's
# writes with it, and a failed saga execution redriven after the fault is
# fixed resumes where it failed.
# Prints TAP lines.  Needs PGHOST/PGPORT/PGUSER of a running cluster (a superuser).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
n=0
check() { # check DESCRIPTION EXPECTED ACTUAL
    n=$((n + 1))
    if [ "$2" = "$3" ]; then echo "ok $n - $1"; else
        echo "not ok $n - $1"; echo "#   expected: $2"; echo "#   got:      $3"; fi
}
WORK=$(mktemp -d)
DB=ex4_example
cleanup() { rm -rf "$WORK"; dropdb --force --if-exists "$DB" 2>/dev/null || true; }
trap cleanup EXIT
dropdb --force --if-exists "$DB" 2>/dev/null || true
createdb "$DB"
q -d "$DB" -c 'CREATE EXTENSION pg_courier'

# The events of order N's execution, without the ones every task state has
# (TaskScheduled, TaskSucceeded, TaskStateExited): type(state:error).
events() {
    q -d "$DB" -c "SELECT string_agg(h.type || coalesce('(' || (h.details->>'name')
                                     || coalesce(':' || (h.details->>'error'), '') || ')', ''), ' ' ORDER BY h.event_id)
                     FROM courier.executions AS e
                     JOIN courier.execution_history AS h USING (execution_id)
                    WHERE e.state_machine_name = 'ex4-order' AND e.execution_name = 'order-$1'
                      AND h.type NOT IN ('TaskScheduled', 'TaskStarted', 'TaskSucceeded', 'TaskStateExited', 'ExecutionStarted',
                                         'SucceedStateExited')"
}
# The full history of one state of order N: type:error.
state_events() {
    q -d "$DB" -c "SELECT string_agg(h.type || coalesce(':' || (h.details->>'error'), ''), ' ' ORDER BY h.event_id)
                     FROM courier.executions AS e
                     JOIN courier.execution_history AS h USING (execution_id)
                    WHERE e.state_machine_name = 'ex4-order' AND e.execution_name = 'order-$1'
                      AND h.details->>'name' = '$2'"
}
OK5="TaskStateEntered(Validate) TaskStateEntered(Reserve) TaskStateEntered(Generate) TaskStateEntered(Notify) TaskStateEntered(Publish) SucceedStateEntered(Placed) ExecutionSucceeded"

for round in first second; do
    rc=0
    psql -X -v ON_ERROR_STOP=1 -d "$DB" -f "$ROOT/examples/exercise4.sql" \
        >"$WORK/$round.out" 2>"$WORK/$round.err" || rc=$?
    check "examples/exercise4.sql runs without errors ($round run)" "0 " "$rc $(cat "$WORK/$round.err")"

    check "orders 1-6 succeeded (2-6 after transient errors); 7-11 failed with their step's error ($round)" \
          "1:SUCCEEDED 2:SUCCEEDED 3:SUCCEEDED 4:SUCCEEDED 5:SUCCEEDED 6:SUCCEEDED 7:FAILED:Order.Invalid 8:FAILED:Stock.Insufficient 9:FAILED:Invoice.Rejected 10:FAILED:Notify.Undeliverable 11:FAILED:Publish.Refused" \
          "$(q -d "$DB" -c "SELECT string_agg((input->'order'->>'id') || ':' || status || coalesce(':' || error, ''), ' '
                                               ORDER BY (input->'order'->>'id')::int)
                              FROM courier.executions WHERE state_machine_name = 'ex4-order'")"

    # transient: retried and succeeded, the history says so
    for pair in 2:Validate:validate 3:Reserve:reserve 4:Generate:generate 5:Notify:notify 6:Publish:publish; do
        IFS=: read -r order state step <<<"$pair"
        check "order $order: $state failed twice with Transient.$step, was retried, and succeeded ($round)" \
              "TaskStateEntered TaskScheduled TaskStarted TaskFailed:Transient.$step TaskScheduled TaskStarted TaskFailed:Transient.$step TaskScheduled TaskStarted TaskSucceeded TaskStateExited" \
              "$(state_events "$order" "$state")"
    done
    check "order 1 and the retried orders went through the five steps ($round)" \
          "$OK5|$OK5|$OK5|$OK5|$OK5|$OK5" \
          "$(for o in 1 2 3 4 5 6; do events "$o" | sed 's/ TaskFailed([A-Za-z]*:Transient\.[a-z]*)//g'; done | paste -sd '|')"

    # permanent: caught, compensations in reverse, FAILED with the error
    check "order 7 (invalid): Validate failed, nothing to undo ($round)" \
          "TaskStateEntered(Validate) TaskFailed(Validate:Order.Invalid) FailStateEntered(OrderFailed) ExecutionFailed" \
          "$(events 7)"
    check "order 8 (no stock): Reserve failed; the order is cancelled ($round)" \
          "TaskStateEntered(Validate) TaskStateEntered(Reserve) TaskFailed(Reserve:Stock.Insufficient) TaskStateEntered(CancelOrder) FailStateEntered(OrderFailed) ExecutionFailed" \
          "$(events 8)"
    check "order 9: Generate failed; release, cancel ($round)" \
          "TaskStateEntered(Validate) TaskStateEntered(Reserve) TaskStateEntered(Generate) TaskFailed(Generate:Invoice.Rejected) TaskStateEntered(ReleaseReservation) TaskStateEntered(CancelOrder) FailStateEntered(OrderFailed) ExecutionFailed" \
          "$(events 9)"
    check "order 10: Notify failed; void, release, cancel ($round)" \
          "TaskStateEntered(Validate) TaskStateEntered(Reserve) TaskStateEntered(Generate) TaskStateEntered(Notify) TaskFailed(Notify:Notify.Undeliverable) TaskStateEntered(VoidInvoice) TaskStateEntered(ReleaseReservation) TaskStateEntered(CancelOrder) FailStateEntered(OrderFailed) ExecutionFailed" \
          "$(events 10)"
    check "order 11: Publish failed; unnotify, void, release, cancel ($round)" \
          "TaskStateEntered(Validate) TaskStateEntered(Reserve) TaskStateEntered(Generate) TaskStateEntered(Notify) TaskStateEntered(Publish) TaskFailed(Publish:Publish.Refused) TaskStateEntered(CancelNotification) TaskStateEntered(VoidInvoice) TaskStateEntered(ReleaseReservation) TaskStateEntered(CancelOrder) FailStateEntered(OrderFailed) ExecutionFailed" \
          "$(events 11)"
    check "the compensations ran in reverse order of the steps, once each ($round)" \
          "8:cancel 9:release>cancel 10:void_invoice>release>cancel 11:unnotify>void_invoice>release>cancel" \
          "$(q -d "$DB" -c "SELECT string_agg(order_id || ':' || steps, ' ' ORDER BY order_id)
                              FROM (SELECT order_id, string_agg(step, '>' ORDER BY seq) AS steps
                                      FROM ex4_compensations GROUP BY order_id) AS c")"
    check "the cause of a failed execution is the step's ($round)" \
          "injected: notify of order 10, attempt 1" \
          "$(q -d "$DB" -c "SELECT cause FROM courier.executions WHERE execution_name = 'order-10'")"

    # database effects
    check "one reservation per placed order, none left after a compensation ($round)" \
          "1:1 2:2 3:3 4:4 5:5 6:6" \
          "$(q -d "$DB" -c "SELECT string_agg(order_id || ':' || qty, ' ' ORDER BY order_id) FROM ex4_reservations")"
    check "stock: taken by the placed orders only, given back by the compensations ($round)" \
          "BOOK:88 LAMP:91" \
          "$(q -d "$DB" -c "SELECT string_agg(sku || ':' || available, ' ' ORDER BY sku) FROM ex4_stock")"
    check "one invoice per order that got past Generate; voided by compensation ($round)" \
          "1:issued 2:issued 3:issued 4:issued 5:issued 6:issued 10:void 11:void" \
          "$(q -d "$DB" -c "SELECT string_agg(order_id || ':' || status, ' ' ORDER BY order_id) FROM ex4_invoices")"
    check "orders: placed, or cancelled by the compensation; the invalid one never recorded ($round)" \
          "1:placed 2:placed 3:placed 4:placed 5:placed 6:placed 8:cancelled 9:cancelled 10:cancelled 11:cancelled" \
          "$(q -d "$DB" -c "SELECT string_agg(order_id || ':' || status, ' ' ORDER BY order_id) FROM ex4_orders")"
    check "notifications: one confirmation per order that got past Notify, one cancellation for order 11 ($round)" \
          "1:confirmed 2:confirmed 3:confirmed 4:confirmed 5:confirmed 6:confirmed 11:confirmed 11:cancelled" \
          "$(q -d "$DB" -c "SELECT string_agg((payload->>'order') || ':' || (payload->>'kind'), ' '
                                               ORDER BY (payload->>'order')::int, msg_id)
                              FROM courier.messages WHERE queue_name = 'ex4-notifications'")"
    check "events: one OrderPlaced per placed order, none for the failed publish ($round)" \
          "1 2 3 4 5 6" \
          "$(q -d "$DB" -c "SELECT string_agg(payload->>'order', ' ' ORDER BY (payload->>'order')::int)
                              FROM courier.messages WHERE queue_name = 'ex4-events'")"
    check "nothing left running ($round)" "0" \
          "$(q -d "$DB" -c "SELECT count(*) FROM courier.executions WHERE status = 'RUNNING'")"
done

# A transition and its task's writes commit together: run Validate and
# Reserve of a new order in a transaction that rolls back.
q -d "$DB" -c "SELECT courier.start_execution('ex4-order', '{\"order\": {\"id\": 12, \"sku\": \"BOOK\", \"qty\": 1}}', 'order-12')" >/dev/null
check "a rolled-back transaction ran two transitions of order 12" "2" \
      "$(q -d "$DB" -c "BEGIN; SELECT courier.run_executions(2); ROLLBACK;" | head -1)"
check "... and left neither their writes nor the transitions" "0:0:Validate:1" \
      "$(q -d "$DB" -c "SELECT (SELECT count(*) FROM ex4_orders WHERE order_id = 12) || ':' ||
                               (SELECT count(*) FROM ex4_reservations WHERE order_id = 12) || ':' ||
                               current_state || ':' || last_event_id
                          FROM courier.executions WHERE execution_name = 'order-12'")"
q -d "$DB" -c "SELECT courier.run_executions(100)" >/dev/null
check "run again and committed: order 12 placed, one row each" "SUCCEEDED:1:1:1" \
      "$(q -d "$DB" -c "SELECT status || ':' || (SELECT count(*) FROM ex4_orders WHERE order_id = 12) || ':' ||
                               (SELECT count(*) FROM ex4_reservations WHERE order_id = 12) || ':' ||
                               (SELECT count(*) FROM ex4_invoices WHERE order_id = 12)
                          FROM courier.executions WHERE execution_name = 'order-12'")"

# Redrive: in version 2 Publish catches only Publish.Fatal, so that a
# refused publish fails the execution at Publish, without compensation; once the fault is fixed, redrive_execution resumes it at
# Publish, and the steps before it are not run again.
q -d "$DB" >/dev/null <<'SQL'
SELECT courier.update_state_machine('ex4-order',
    jsonb_set(definition, '{States,Publish,Catch,0,ErrorEquals}', '["Publish.Fatal"]'))
  FROM courier.state_machine_versions WHERE state_machine_name = 'ex4-order' AND version = 1;
INSERT INTO ex4_failures VALUES (13, 'publish', 'Publish.Refused', NULL);
SELECT courier.start_execution('ex4-order', '{"order": {"id": 13, "sku": "LAMP", "qty": 1}}', 'order-13');
SELECT courier.run_executions(100);
SQL
check "order 13 (Publish.Refused not caught in version 2) failed at Publish, nothing compensated" "FAILED:Publish.Refused:Publish:1" \
      "$(q -d "$DB" -c "SELECT status || ':' || error || ':' || current_state || ':' ||
                               (SELECT count(*) FROM ex4_reservations WHERE order_id = 13)
                          FROM courier.executions WHERE execution_name = 'order-13'")"
q -d "$DB" >/dev/null <<'SQL'
DELETE FROM ex4_failures WHERE order_id = 13;
SELECT courier.redrive_execution(execution_id) FROM courier.executions WHERE execution_name = 'order-13';
SELECT courier.run_executions(100);
SQL
check "redriven after the fix: placed, on its version, each step's effect once" "SUCCEEDED:2:1:1:1:1:1" \
      "$(q -d "$DB" -c "SELECT status || ':' || version || ':' || redrive_count || ':' ||
                               (SELECT count(*) FROM ex4_reservations WHERE order_id = 13) || ':' ||
                               (SELECT count(*) FROM ex4_invoices WHERE order_id = 13) || ':' ||
                               (SELECT count(*) FROM courier.messages WHERE queue_name = 'ex4-notifications'
                                   AND payload->>'order' = '13') || ':' ||
                               (SELECT count(*) FROM courier.messages WHERE queue_name = 'ex4-events'
                                   AND payload->>'order' = '13')
                          FROM courier.executions WHERE execution_name = 'order-13'")"
check "its history: the failure, ExecutionRedriven, then only Publish again" \
      "TaskStateEntered(Validate) TaskStateEntered(Reserve) TaskStateEntered(Generate) TaskStateEntered(Notify) TaskStateEntered(Publish) TaskFailed(Publish:Publish.Refused) ExecutionFailed ExecutionRedriven(Publish:Publish.Refused) TaskStateEntered(Publish) SucceedStateEntered(Placed) ExecutionSucceeded" \
      "$(events 13)"
echo "1..$n"
