#!/usr/bin/env bash
# Scenario: the Amazon States Language conformance definitions
# (test/conformance/asl-definitions, see its README) through
# courier.validate_state_machine_definition.  One TAP line per file: valid
# JSONPath definitions are accepted, invalid ones rejected with 22023 and an
# error that contains the words the table below expects (so a file rejected
# for the wrong reason fails), JSONata ones (valid or not) rejected with
# 0A000.  The text form is used (it also sees duplicate keys); a last line
# checks that the jsonb form gives every file the same SQLSTATE.
# Needs PGHOST/PGPORT/PGUSER of a running cluster.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DIR=$ROOT/test/conformance/asl-definitions
DB=asl_conformance
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
n=0
check() { # check DESCRIPTION EXPECTED ACTUAL
    n=$((n + 1))
    if [ "$2" = "$3" ]; then echo "ok $n - $1"; else
        echo "not ok $n - $1"; echo "#   expected: $2"; echo "#   got:      $3"; fi
}
cleanup() { dropdb --force --if-exists "$DB" 2>/dev/null || true; }
trap cleanup EXIT
cleanup
createdb "$DB"
q -d "$DB" -c 'CREATE EXTENSION pg_courier'
# outcome(): "accepted", or "SQLSTATE: message (detail)" of the error.
q -d "$DB" <<'SQL'
CREATE FUNCTION outcome(definition text, as_jsonb boolean) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    detail text;
BEGIN
    IF as_jsonb THEN
        PERFORM courier.validate_state_machine_definition(definition::jsonb);
    ELSE
        PERFORM courier.validate_state_machine_definition(definition);
    END IF;
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || SQLERRM || ' (' || detail || ')';
END
$$;
SQL

# file | expected outcome (accept, 22023 or 0A000) | words the error must
# contain, "|"-separated, each found in the message or the detail
EXPECT=$(cat <<'TABLE'
invalid-assign.asl.json|0A000|JSONata|State "ProvideTestData", field "QueryLanguage"
invalid-cfn-definition-substitutions.json|22023|unclosed definition substitution "${lambdaArn"|field "Resource"
invalid-choice-state.json|22023|unknown field "End" in a choice rule|field "Choices[0].End"
invalid-dupe-fields.asl.json|22023|"conflict" and "conflict.$" cannot both be set|field "Parameters.dynamic"
invalid-duplicate-fields.json|22023|"channel" and "channel.$" cannot both be set|field "Parameters.slackMessage"
invalid-error-equals-type.json|22023|error names must be strings|field "Catch[0].ErrorEquals[0]"
invalid-exercise-ajv-additional-properties.asl.json|22023|unknown field "bugInputPath"
invalid-exercise-ajv.asl.json|22023|"InputPath" must be a path starting with "$", not "bug$.library.movies"
invalid-fail-dupe-error.json|22023|"Error" and "ErrorPath" cannot both be set
invalid-inexistant-state.json|22023|state "Finished" does not exist|State "Start State", field "Next"
invalid-json-surround-syntax-extra-spaces.json|0A000|JSONata|field "QueryLanguage"
invalid-jsonata-fields.json|0A000|JSONata|Top-level field "QueryLanguage"
invalid-jsonata-surround-syntax-no-close.json|0A000|JSONata|field "QueryLanguage"
invalid-jsonata-surround-syntax-no-open.json|0A000|JSONata|field "QueryLanguage"
invalid-jsonata-syntax-arithmetic.json|0A000|JSONata|field "QueryLanguage"
invalid-jsonata-syntax-jsonpath-in-jsonata-surround.json|0A000|JSONata|field "QueryLanguage"
invalid-map-distributed.asl.json|22023|"MaxItems" and "MaxItemsPath" cannot both be set|field "ItemReader.ReaderConfig.MaxItemsPath"
invalid-map-dupe-state.json|22023|state name "Final State" is used twice|State "Map" iterator state "Final State"
invalid-map-items.asl.json|0A000|JSONata|Top-level field "QueryLanguage"
invalid-map-missing-iterator.json|22023|Map state has no "ItemProcessor"
invalid-map-tolerated-value.json|22023|"ToleratedFailurePercentage" must be a number from 0 to 100, not 105
invalid-map-tolerated.json|22023|"ToleratedFailureCount" and "ToleratedFailureCountPath" cannot both be set
invalid-missing-terminal-map.json|22023|neither "Next" nor "End"|State "Map" iterator state "Wait 20s"
invalid-missing-terminal-parallel.json|22023|neither "Next" nor "End"|State "Parallel" branch 1 state "Wait 20s"
invalid-next-with-end.json|22023|"Next" and "End" cannot both be set|State "Send SNS Message"
invalid-parallel-branch-type.json|22023|a branch must be a JSON object, not an array|field "Branches[0]"
invalid-parallel-ob-link.json|22023|state "Final State" is outside this branch|State "Parallel" branch 2 state "ChoiceState", field "Choices[1].Next"
invalid-payload-template.asl.json|22023|"lorem.$" must be a path or an intrinsic function call, not "ipsum"
invalid-task-alias-function.json|22023|invalid Lambda function qualifier "$*#$7485"|State "InvalidAlias", field "Resource"
invalid-task-credentials-null.json|22023|"Credentials" must be a JSON object, not null
invalid-task-heartbeat.json|22023|"HeartbeatSeconds" and "HeartbeatSecondsPath" cannot both be set
invalid-task-timout.json|22023|"TimeoutSeconds" and "TimeoutSecondsPath" cannot both be set
invalid-variable-result-path.json|22023|"ResultPath" must be a reference path, not "$foo"|State "Fin"
invalid-wait-duration.json|22023|"Seconds" and "SecondsPath" cannot both be set|State "wait_using_seconds"
valid-comments-are-not-parsed.asl.json|0A000|JSONata|field "QueryLanguage"
valid-jsonata-syntax-function-call.json|0A000|JSONata|field "QueryLanguage"
valid-jsonata-syntax-path-expression.json|0A000|JSONata|field "QueryLanguage"
valid-jsonata.asl.json|0A000|JSONata|field "QueryLanguage"
valid-map-items.asl.json|0A000|JSONata|Top-level field "QueryLanguage"
valid-map-with-item-batcher-jsonata.json|0A000|JSONata|Top-level field "QueryLanguage"
valid-task-timeout-jsonata.json|0A000|JSONata|Top-level field "QueryLanguage"
TABLE
)

same=0
files=0
for path in "$DIR"/*.json; do
    f=$(basename "$path")
    files=$((files + 1))
    line=$(grep -F -- "$f|" <<<"$EXPECT" | grep "^$f|" || true)
    if [ -n "$line" ]; then
        IFS='|' read -r -a want <<<"$line"
        expect=${want[1]}
        words=("${want[@]:2}")
    elif [[ $f == valid-* ]]; then
        expect=accept
        words=()
    else
        check "$f: listed in the table of expected errors" "listed" "not listed"
        continue
    fi
    got=$(q -d "$DB" -v def="$(cat "$path")" <<<"SELECT outcome(:'def', false)")
    got_jsonb=$(q -d "$DB" -v def="$(cat "$path")" <<<"SELECT outcome(:'def', true)")
    [ "${got:0:5}" = "${got_jsonb:0:5}" ] && same=$((same + 1))
    if [ "$expect" = accept ]; then
        check "$f: accepted" "accepted" "$got"
        continue
    fi
    missing=""
    for w in "${words[@]}"; do
        [[ $got == *"$w"* ]] || missing+=" [$w]"
    done
    if [ "${got:0:5}" = "$expect" ] && [ -z "$missing" ]; then
        check "$f: rejected with $expect (${words[*]})" x x
    else
        check "$f: rejected with $expect (${words[*]})" "$expect: ...${words[*]}..." "$got${missing:+ -- missing:$missing}"
    fi
done
check "the jsonb form gives the same SQLSTATE as the text form for all $files files" "$files" "$same"
check "all 75 conformance definitions were run" 75 "$files"
