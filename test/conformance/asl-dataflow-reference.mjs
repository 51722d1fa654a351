// Records test/conformance/asl-dataflow-reference.json: Pass-state data-flow
// cases run through aws-local-stepfunctions (an independent Node.js
// implementation of ASL, MIT licence), for test/sql/asl_differential.sql to
// compare with courier.test_asl_state_io.  Not run by the test suite; to
// re-record, copy this file into a scratch directory outside the repository
// and there:
//     npm install aws-local-stepfunctions@3.0.0
//     node asl-dataflow-reference.mjs > asl-dataflow-reference.json
// Cases avoid what the two implementations are known to do differently
// (docs/asl-data-flow.md, "Differences"): object key order in serialised
// text, backslashes in intrinsic results, and errors (that library raises
// States.Runtime where AWS raises States.IntrinsicFailure).
import { StateMachine } from 'aws-local-stepfunctions';

const context = { Execution: { Id: 'arn:exec:1', Name: 'e1', Input: { order: 7 } },
                  State: { Name: 'P', RetryCount: 0 } };
const cases = [
  ['defaults', {}, { a: 1 }],
  ['InputPath', { InputPath: '$.a' }, { a: { b: 1 }, c: 2 }],
  ['InputPath null', { InputPath: null }, { a: 1 }],
  ['OutputPath', { OutputPath: '$.a.b' }, { a: { b: [1, 2] } }],
  ['OutputPath null', { OutputPath: null }, { a: 1 }],
  ['Result', { Result: { x: 'y' } }, { a: 1 }],
  ['Result into ResultPath', { Result: [1, 2], ResultPath: '$.r' }, { a: 1 }],
  ['ResultPath creates objects', { Result: 'v', ResultPath: '$.x.y.z' }, { a: 1 }],
  ['ResultPath replaces', { Result: 'v', ResultPath: '$.a.b' }, { a: { b: 1, c: 2 } }],
  ['ResultPath null', { Result: 'v', ResultPath: null }, { a: 1 }],
  ['ResultPath into the raw input', { InputPath: '$.a', Result: 'v', ResultPath: '$.r' }, { a: { b: 1 }, c: 2 }],
  ['InputPath null, ResultPath', { InputPath: null, ResultPath: '$.r' }, { a: 1 }],
  ['whole chain', { InputPath: '$.in', Parameters: { 'v.$': '$.v', lit: 'x' }, ResultPath: '$.out', OutputPath: '$.out' },
    { in: { v: 3 }, other: true }],
  ['Parameters nested', { Parameters: { outer: { 'inner.$': '$.a', keep: [1, 2] }, 'all.$': '$' } }, { a: 'x' }],
  ['Parameters context', { Parameters: { 'id.$': '$$.Execution.Id', 'name.$': '$$.State.Name' } }, {}],
  ['wildcard', { Parameters: { 'ids.$': '$.items[*].id' } }, { items: [{ id: 1 }, { id: 2 }] }],
  ['filter', { Parameters: { 'big.$': '$.items[?(@.n > 1)].n' } }, { items: [{ n: 1 }, { n: 2 }, { n: 3 }] }],
  ['deep scan', { Parameters: { 'ids.$': '$..id' } }, { a: { id: 1 }, b: [{ id: 2 }] }],
  ['slice', { Parameters: { 's.$': '$.a[1:3]' } }, { a: [0, 1, 2, 3] }],
  ['negative index', { Parameters: { 'last.$': '$.a[-1]' } }, { a: [0, 1, 2, 3] }],
  ['bracket key', { Parameters: { 'v.$': "$['a b']" } }, { 'a b': 1 }],
  ['Format', { Parameters: { 'g.$': "States.Format('Hello, my name is {}.', $.name)" } }, { name: 'Arnav' }],
  ['Format from a path', { Parameters: { 'g.$': 'States.Format($.t, $.n, $.b)' } }, { t: '{} and {}', n: 1.5, b: true }],
  ['StringToJson', { Parameters: { 'j.$': 'States.StringToJson($.s)' } }, { s: '{"a":[1,2,null]}' }],
  ['JsonToString', { Parameters: { 's.$': 'States.JsonToString($.o)' } }, { o: { a: 1, bb: [1, 'x'] } }],
  ['Array', { Parameters: { 'a.$': "States.Array($.n, 'two', States.Array())" } }, { n: 1 }],
  ['ArrayPartition', { Parameters: { 'p.$': 'States.ArrayPartition($.a, 2)' } }, { a: [1, 2, 3, 4, 5] }],
  ['ArrayContains', { Parameters: { 'c.$': 'States.ArrayContains($.a, $.v)' } }, { a: [1, { x: [2] }], v: { x: [2] } }],
  ['ArrayRange', { Parameters: { 'r.$': 'States.ArrayRange(1, 9, 2)' } }, {}],
  ['ArrayRange down', { Parameters: { 'r.$': 'States.ArrayRange(9, 1, -3)' } }, {}],
  ['ArrayGetItem', { Parameters: { 'i.$': 'States.ArrayGetItem($.a, 2)' } }, { a: ['x', 'y', 'z'] }],
  ['ArrayLength', { Parameters: { 'l.$': 'States.ArrayLength($.a)' } }, { a: [1, 2, 3] }],
  ['ArrayUnique', { Parameters: { 'u.$': 'States.ArrayUnique($.a)' } }, { a: [1, 2, 1, 'a', 'a', [1], [1], null] }],
  ['Base64Encode', { Parameters: { 'e.$': "States.Base64Encode('Data to encode')" } }, {}],
  ['Base64Decode', { Parameters: { 'd.$': "States.Base64Decode('RGF0YSB0byBlbmNvZGU=')" } }, {}],
  ['Hash MD5', { Parameters: { 'h.$': "States.Hash($.d, 'MD5')" } }, { d: 'input data' }],
  ['Hash SHA-1', { Parameters: { 'h.$': "States.Hash($.d, 'SHA-1')" } }, { d: 'input data' }],
  ['Hash SHA-256', { Parameters: { 'h.$': "States.Hash($.d, 'SHA-256')" } }, { d: 'input data' }],
  ['Hash SHA-384', { Parameters: { 'h.$': "States.Hash($.d, 'SHA-384')" } }, { d: 'input data' }],
  ['Hash SHA-512', { Parameters: { 'h.$': "States.Hash($.d, 'SHA-512')" } }, { d: 'input data' }],
  ['JsonMerge', { Parameters: { 'm.$': 'States.JsonMerge($.a, $.b, false)' } },
    { a: { a: { a1: 1 }, b: 2 }, b: { a: { a3: 1 }, c: 3 } }],
  ['MathAdd', { Parameters: { 's.$': 'States.MathAdd($.v, -1)' } }, { v: 111 }],
  ['StringSplit', { Parameters: { 's.$': "States.StringSplit($.s, '.+,=')" } }, { s: 'This.is+a,test=string' }],
  ['nested calls', { Parameters: { 'v.$': "States.ArrayGetItem(States.StringSplit(States.Format('{}-{}', $.a, $.b), '-'), 1)" } },
    { a: 'x', b: 'y' }],
];

const out = [];
for (const [name, fields, input] of cases) {
  const state = { Type: 'Pass', ...fields, End: true };
  const record = { name, state, input, context };
  try {
    const sm = new StateMachine({ StartAt: 'P', States: { P: state } });
    record.output = await sm.run(input, { context }).result;
  } catch (e) {
    record.error = `${e.name}: ${e.message}`;
  }
  out.push(record);
}
console.log(JSON.stringify(out, null, 1));
