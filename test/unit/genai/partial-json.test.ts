import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePartialJson } from '../../../src/genai/partial-json.js';

test('complete JSON parses normally', () => {
  assert.deepEqual(parsePartialJson('{"a":[1,2]}'), { value: { a: [1, 2] }, truncated: false, invalid: false });
});

test('truncated JSON keeps what is certain', () => {
  assert.deepEqual(parsePartialJson('{"id":"x","model":"gpt-4o-mi'), { value: { id: 'x' }, truncated: true, invalid: false });
  assert.deepEqual(parsePartialJson('{"id":"x","n":12'), { value: { id: 'x' }, truncated: true, invalid: false });
  assert.deepEqual(parsePartialJson('[{"a":1},{"b":"\\u00e9"},{"c":'), { value: [{ a: 1 }, { b: 'é' }, {}], truncated: true, invalid: false });
  assert.deepEqual(parsePartialJson('{"a":{"b":[true,'), { value: { a: { b: [true] } }, truncated: true, invalid: false });
  assert.deepEqual(parsePartialJson('  '), { value: undefined, truncated: true, invalid: false });
});

test('invalid JSON is flagged', () => {
  assert.equal(parsePartialJson('<html>').invalid, true);
  const r = parsePartialJson('{"id":"x",oops}');
  assert.equal(r.invalid, true);
  assert.deepEqual(r.value, { id: 'x' });
});

test('a number with leading zeros is invalid, not a thrown SyntaxError (found by the fuzzer)', () => {
  assert.deepEqual(parsePartialJson('{"":[00031e+41,null]}'), { value: { '': [] }, truncated: false, invalid: true });
  assert.deepEqual(parsePartialJson('[1, -012, 1]'), { value: [1], truncated: false, invalid: true });
  assert.deepEqual(parsePartialJson('{"usage":{"prompt_tokens":007'), { value: { usage: {} }, truncated: false, invalid: true });
  assert.deepEqual(parsePartialJson('{"n":12x}'), { value: {}, truncated: false, invalid: true });
});
