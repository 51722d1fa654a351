// Records test/conformance/asl-machines-reference.json: whole state machines
// with Map and Parallel states (and Choice and Pass around and inside them)
// run through aws-local-stepfunctions (an independent Node.js implementation
// of ASL, MIT licence), for test/sql/asl_machines_differential.sql to run in
// pg_courier and compare.  Not run by the test suite; to re-record, copy
// this file into a scratch directory outside the repository and there:
//     npm install aws-local-stepfunctions@3.0.0
//     node asl-machines-reference.mjs > asl-machines-reference.json
// A machine that fails is recorded with the name of its error (what a
// Catch would match), not the library's message.
import { StateMachine } from 'aws-local-stepfunctions';

const pass = (fields = {}) => ({ Type: 'Pass', ...fields, End: true });
// State names are unique in a whole machine, branches included (as AWS
// requires): each one() names its state anew.
let names = 0;
const one = (state) => { const n = `S${++names}`; return { StartAt: n, States: { [n]: state } }; };

const cases = [
  ['Map: items in order', one({ Type: 'Map', ItemsPath: '$.items', End: true,
      ItemProcessor: one(pass({ Parameters: { 'twice.$': 'States.MathAdd($, $)' } })) }),
    { items: [1, 2, 3, 4] }],
  ['Map: ItemSelector with the item, its index and the input', one({ Type: 'Map', ItemsPath: '$.items', End: true,
      ItemSelector: { 'v.$': '$$.Map.Item.Value', 'i.$': '$$.Map.Item.Index', 'k.$': '$.key' },
      ItemProcessor: { ProcessorConfig: { Mode: 'INLINE' }, StartAt: 'P', States: { P: pass() } } }),
    { key: 'K', items: ['a', 'b'] }],
  ['Map: Iterator and Parameters (the older names)', one({ Type: 'Map', End: true,
      Parameters: { 'item.$': '$$.Map.Item.Value', 'n.$': '$$.Map.Item.Index' },
      Iterator: one(pass({ InputPath: '$.item' })) }),
    [{ x: 1 }, { x: 2 }]],
  ['Map: InputPath, ItemsPath, ResultSelector, ResultPath, OutputPath', one({ Type: 'Map', End: true,
      InputPath: '$.order', ItemsPath: '$.lines',
      ItemProcessor: one(pass({ InputPath: '$.sku' })),
      ResultSelector: { 'skus.$': '$', 'count.$': 'States.ArrayLength($)' },
      ResultPath: '$.summary', OutputPath: '$.summary' }),
    { order: { id: 7, lines: [{ sku: 'A' }, { sku: 'B' }, { sku: 'C' }] } }],
  ['Map: ResultPath into the raw input', one({ Type: 'Map', ItemsPath: '$.xs', ResultPath: '$.ys', End: true,
      ItemProcessor: one(pass({ Result: 'seen' })) }),
    { xs: [null, true], keep: 1 }],
  ['Map: Choice inside the iterations', one({ Type: 'Map', End: true,
      ItemProcessor: { StartAt: 'Odd?', States: {
        'Odd?': { Type: 'Choice', Choices: [{ Variable: '$.n', NumericGreaterThan: 10, Next: 'Big' }], Default: 'Small' },
        Big: pass({ Result: 'big' }),
        Small: pass({ Parameters: { 'small.$': '$.n' } }) } } }),
    [{ n: 5 }, { n: 50 }, { n: 10 }]],
  ['Map: empty array', one({ Type: 'Map', End: true, ItemProcessor: one(pass()) }), []],
  ['Map: MaxConcurrency 1', one({ Type: 'Map', MaxConcurrency: 1, End: true,
      ItemProcessor: one(pass({ Parameters: { 'v.$': '$' } })) }),
    [3, 2, 1]],
  ['Map: a Wait of 0 seconds inside', one({ Type: 'Map', End: true,
      ItemProcessor: { StartAt: 'W', States: { W: { Type: 'Wait', Seconds: 0, Next: 'P' }, P: pass() } } }),
    ['x', 'y']],
  ['Map in Map', one({ Type: 'Map', ItemsPath: '$.rows', End: true,
      ItemProcessor: one({ Type: 'Map', End: true,
        ItemProcessor: one(pass({ Parameters: { 'cell.$': 'States.Format(\'<{}>\', $)' } })) }) }),
    { rows: [[1, 2], [], [3]] }],
  ['Parallel: branch order, each with the same input', one({ Type: 'Parallel', End: true, Branches: [
      one(pass({ InputPath: '$.a' })),
      one(pass({ Result: 'constant' })),
      { StartAt: 'C', States: {
        C: { Type: 'Choice', Choices: [{ Variable: '$.a', StringEquals: 'A', Next: 'Yes' }], Default: 'No' },
        Yes: pass({ Result: true }), No: pass({ Result: false }) } }] }),
    { a: 'A' }],
  ['Parallel: Parameters, ResultSelector and ResultPath', one({ Type: 'Parallel', End: true,
      Parameters: { 'n.$': '$.n' },
      Branches: [one(pass({ Parameters: { 'plus.$': 'States.MathAdd($.n, 1)' } })),
                 one(pass({ Parameters: { 'minus.$': 'States.MathAdd($.n, -1)' } }))],
      ResultSelector: { 'up.$': '$[0].plus', 'down.$': '$[1].minus' }, ResultPath: '$.range' }),
    { n: 10, other: 'kept' }],
  ['Parallel: ResultPath null keeps the input', one({ Type: 'Parallel', ResultPath: null, End: true,
      Branches: [one(pass({ Result: 1 }))] }),
    { same: true }],
  ['Parallel in Map', one({ Type: 'Map', End: true,
      ItemProcessor: one({ Type: 'Parallel', End: true, Branches: [
        one(pass({ Parameters: { 'id.$': '$.id' } })), one(pass({ InputPath: '$.tags' }))] }) }),
    [{ id: 1, tags: ['a'] }, { id: 2, tags: [] }]],
  ['Map in Parallel, then a Choice on the results', { StartAt: 'Both', States: {
      Both: { Type: 'Parallel', Next: 'Check', ResultPath: '$.r', Branches: [
        one({ Type: 'Map', ItemsPath: '$.xs', End: true, ItemProcessor: one(pass({ Result: 1 })) }),
        one(pass({ Result: 'side' }))] },
      Check: { Type: 'Choice', Choices: [{ Variable: '$.r[1]', StringEquals: 'side', Next: 'Good' }], Default: 'Bad' },
      Good: { Type: 'Pass', Parameters: { 'ones.$': '$.r[0]', 'len.$': 'States.ArrayLength($.r[0])' }, End: true },
      Bad: { Type: 'Fail', Error: 'Wrong' } } },
    { xs: [7, 8, 9] }],
  ['Pass, Map, Pass', { StartAt: 'Before', States: {
      Before: { Type: 'Pass', Parameters: { 'items.$': 'States.ArrayRange(1, 3, 1)' }, Next: 'Each' },
      Each: { Type: 'Map', ItemsPath: '$.items', ResultPath: '$.squares', Next: 'After',
              ItemProcessor: one(pass({ Parameters: { 'v.$': '$' } })) },
      After: { Type: 'Pass', InputPath: '$.squares', End: true } } },
    {}],
  ['Parallel: a failing branch is caught', { StartAt: 'Both', States: {
      Both: { Type: 'Parallel', Next: 'Done', Branches: [
        one(pass()), one({ Type: 'Fail', Error: 'Branch.Broke', Cause: 'by design' })],
        Catch: [{ ErrorEquals: ['Branch.Broke'], ResultPath: '$.error', Next: 'Handled' }] },
      Handled: { Type: 'Pass', Result: 'handled', ResultPath: '$.outcome', End: true },
      Done: { Type: 'Succeed' } } },
    { start: 1 }],
  ['Map: a failing iteration is caught', { StartAt: 'Each', States: {
      Each: { Type: 'Map', End: true,
        ItemProcessor: { StartAt: 'C', States: {
          C: { Type: 'Choice', Choices: [{ Variable: '$', NumericEquals: 2, Next: 'F' }], Default: 'P' },
          F: { Type: 'Fail', Error: 'Item.Two', Cause: 'two' }, P: pass() } },
        Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Caught' }] },
      Caught: { Type: 'Pass', End: true } } },
    [1, 2, 3]],
  ['Parallel: a failing branch fails the execution', one({ Type: 'Parallel', End: true, Branches: [
      one(pass()), one({ Type: 'Fail', Error: 'Branch.Broke' })] }),
    {}],
  ['Map: a failing iteration fails the execution', one({ Type: 'Map', End: true,
      ItemProcessor: one({ Type: 'Fail', Error: 'Item.Failed' }) }),
    [1]],
  ['Map: $$.Execution.Input inside an iteration', one({ Type: 'Map', ItemsPath: '$.xs', End: true,
      ItemProcessor: one(pass({ Parameters: { 'v.$': '$', 'all.$': '$$.Execution.Input.tag' } })) }),
    { tag: 'T', xs: [1, 2] }],
  ['Map: ToleratedFailureCount', one({ Type: 'Map', ToleratedFailureCount: 1, End: true,
      ItemProcessor: { StartAt: 'Bad?', States: {
        'Bad?': { Type: 'Choice', Choices: [{ Variable: '$.bad', BooleanEquals: true, Next: 'Bad' }], Default: 'Good' },
        Bad: { Type: 'Fail', Error: 'Item.Bad', Cause: 'bad' }, Good: pass() } } }),
    [{ bad: false }, { bad: true }]],
  ['Map: ItemsPath that selects no array', one({ Type: 'Map', ItemsPath: '$.x', End: true,
      ItemProcessor: one(pass()) }),
    { x: 'not an array' }],
];

const out = [];
for (const [name, definition, input] of cases) {
  const record = { name, definition, input };
  try {
    const sm = new StateMachine(definition);
    // the library's context object has only what it is given
    record.output = await sm.run(input, { context: { Execution: { Input: input } } }).result;
  } catch (e) {
    const cause = e.cause ?? e;
    record.error = cause.name ?? e.name;
  }
  out.push(record);
}
console.log(JSON.stringify(out, null, 1));
