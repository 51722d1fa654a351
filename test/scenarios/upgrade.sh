#!/usr/bin/env bash
# Scenario: upgrading from every earlier version keeps the data and ends with
# exactly the catalog of a fresh install (compared from the catalogs, and
# from pg_dump's schema dump); then the whole pgTAP suite runs on the
# upgraded database.  Prints TAP lines.  Needs PGHOST/PGPORT/PGUSER.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PROJECT=$(cd "$HERE/../.." && pwd)
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
n=0
check() {
    n=$((n + 1))
    if [ "$2" = "$3" ]; then echo "ok $n - $1"; else
        echo "not ok $n - $1"; echo "#   expected: $2"; echo "#   got:      $3"; fi
}
WORK=$(mktemp -d)
cleanup() {
    rm -rf "$WORK"
    for db in upgrade_fresh upgrade_old; do dropdb --if-exists "$db" 2>/dev/null || true; done
}
trap cleanup EXIT
cleanup; WORK=$(mktemp -d)

current=$(sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\(.*\)'/\1/p" "$PROJECT/pg_courier.control")

createdb upgrade_fresh
q -d upgrade_fresh -c 'CREATE EXTENSION pg_courier'
q -d upgrade_fresh -f "$HERE/../upgrade/catalog.sql" >"$WORK/fresh.txt"

# Every released version that has an install script of its own.
for script in "$PROJECT"/sql/pg_courier--*.sql; do
    base=$(basename "$script" .sql)
    old=${base#pg_courier--}
    case "$old" in *--*|"$current") continue ;; esac

    dropdb --if-exists upgrade_old 2>/dev/null || true
    createdb upgrade_old
    q -d upgrade_old -c "CREATE EXTENSION pg_courier VERSION '$old'"
    # Data as the old version left it: a queue, messages, one live lease.
    # Only the current library is installed, and it refuses to run against
    # an older schema, so the rows are written the way 0.1 wrote them.
    q -d upgrade_old >/dev/null <<'SQL'
INSERT INTO courier.queues (queue_name, visibility_timeout, delay, retention,
                            max_message_bytes, created_at, updated_at)
VALUES ('kept', '10 minutes', '0', '4 days', 262144, now(), now());
INSERT INTO courier.messages (msg_id, visible_at, sent_at, queue_name, type, headers, payload)
SELECT nextval('courier.message_id_seq'), now(), now(), 'kept', 't', '{"x": "1"}',
       jsonb_build_object('n', g)
  FROM generate_series(1, 3) g;
-- the first message is leased: receipt "<id>:1:00000000000000ab"
UPDATE courier.messages SET receive_count = 1, receipt_nonce = 171,
       visible_at = now() + interval '10 minutes', first_received_at = now(),
       last_received_at = now()
 WHERE msg_id = (SELECT min(msg_id) FROM courier.messages);
CREATE TABLE upgrade_lease AS
SELECT min(msg_id) || ':1:00000000000000ab' AS receipt FROM courier.messages;
SQL
    before=$(q -d upgrade_old -c "SELECT string_agg(format('%s|%s|%s|%s', msg_id, receive_count, headers, payload), ';' ORDER BY msg_id) FROM courier.messages")

    q -d upgrade_old -c "ALTER EXTENSION pg_courier UPDATE TO '$current'"
    check "$old -> $current: extension version" "$current" \
          "$(q -d upgrade_old -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_courier'")"
    check "$old -> $current: messages survive" "$before" \
          "$(q -d upgrade_old -c "SELECT string_agg(format('%s|%s|%s|%s', msg_id, receive_count, headers, payload), ';' ORDER BY msg_id) FROM courier.messages")"
    check "$old -> $current: a lease taken before the upgrade can be acknowledged" "t" \
          "$(q -d upgrade_old -c "SELECT courier.delete('kept', receipt) FROM upgrade_lease")"
    check "$old -> $current: the old queue keeps working" "2" \
          "$(q -d upgrade_old -c "SELECT count(*) FROM courier.receive('kept', 10)")"

    q -d upgrade_old -f "$HERE/../upgrade/catalog.sql" >"$WORK/upgraded.txt"
    if diff -u "$WORK/fresh.txt" "$WORK/upgraded.txt" >"$WORK/catalog.diff"; then
        echo "ok $((n += 1)) - $old -> $current: catalog identical to a fresh install"
    else
        echo "not ok $((n += 1)) - $old -> $current: catalog differs from a fresh install"
        sed 's/^/#   /' "$WORK/catalog.diff"
    fi

    q -d upgrade_old -c "DROP TABLE upgrade_lease" -c "SELECT courier.drop_queue('kept')" >/dev/null

    # The same question asked of pg_dump: its --binary-upgrade mode dumps
    # every member of the extension (a plain --schema-only dump shows only
    # CREATE EXTENSION).  What may differ is physical, not schema: oids,
    # frozen xids, sequence positions, the psql \restrict key, and the
    # stored default ("missing value") of a column an upgrade added with
    # ALTER TABLE.
    dump_schema() {
        pg_dump --binary-upgrade --schema-only -d "$1" |
            grep -v -e '^\\restrict' -e '^\\unrestrict' -e 'relfrozenxid' -e "WHERE oid = '" \
                    -e 'binary_upgrade_set_missing_value' -e 'binary_upgrade_set_next_' -e '^--' -e '^$' -e 'pg_catalog.setval(' |
            sed -E "s/(binary_upgrade_create_empty_extension\('pg_courier', 'courier', false, '[^']*', )'[^']*'/\1'(oids)'/"
    }
    dump_schema upgrade_fresh >"$WORK/fresh.dump"
    dump_schema upgrade_old >"$WORK/upgraded.dump"
    if [ "$(grep -c 'CREATE TABLE courier\.' "$WORK/fresh.dump")" -gt 10 ] &&
       diff -u "$WORK/fresh.dump" "$WORK/upgraded.dump" >"$WORK/dump.diff"; then
        echo "ok $((n += 1)) - $old -> $current: pg_dump --schema-only (binary-upgrade mode) identical to a fresh install's"
    else
        echo "not ok $((n += 1)) - $old -> $current: pg_dump --schema-only differs from a fresh install's"
        sed 's/^/#   /' "$WORK/dump.diff" | head -60
    fi

    # The whole behaviour suite on the upgraded database.
    q -d upgrade_old -c 'CREATE EXTENSION pgtap'
    if pg_prove -d upgrade_old "$PROJECT"/test/pgtap/*.sql >"$WORK/prove.log" 2>&1; then
        echo "ok $((n += 1)) - $old -> $current: every pgTAP suite passes on the upgraded database"
    else
        echo "not ok $((n += 1)) - $old -> $current: pgTAP suites fail on the upgraded database"
        grep -E 'not ok|Failed|Parse errors|ERROR' "$WORK/prove.log" | sed 's/^/#   /' | head -40
    fi
done

# Dropping the extension and creating it again in one session: what a
# backend keeps of it (cached courier grants, plans) follows the new objects.
q -d upgrade_fresh -c "DO \$\$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'upgrade_granted') THEN
            CREATE ROLE upgrade_granted;
        END IF;
    END \$\$" >/dev/null
lifecycle=$(q -d upgrade_fresh 2>&1 <<'SQL'
SELECT courier.create_queue('again');
SELECT courier.grant('send', 'queue', 'again', 'upgrade_granted');
SET ROLE upgrade_granted;
SELECT courier.send('again', '{}') > 0;
RESET ROLE;
DROP OWNED BY upgrade_granted;
DROP EXTENSION pg_courier;
CREATE EXTENSION pg_courier;
SELECT courier.create_queue('again');
SELECT courier.grant('send', 'queue', 'again', 'upgrade_granted');
SET ROLE upgrade_granted;
SELECT courier.send('again', '{}') > 0;
RESET ROLE;
SQL
) || true
q -d upgrade_fresh -c 'DROP OWNED BY upgrade_granted' -c 'DROP ROLE upgrade_granted' >/dev/null
check "dropped and created again in one session, the extension's grants work at once" \
      "$(printf '\nt\nt\n\nt\nt')" "$lifecycle"
