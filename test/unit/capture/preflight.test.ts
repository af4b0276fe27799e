import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkBtf, effectiveCapabilities, explainLoadError, missingCapabilities, PreflightError } from '../../../src/capture/preflight.js';

test('capabilities from /proc/self/status text', () => {
  assert.equal(effectiveCapabilities('Name:\tx\nCapEff:\t000001ffffffffff\n'), 0x1ffffffffffn);
  assert.deepEqual(missingCapabilities(0x1ffffffffffn), []);
  assert.deepEqual(missingCapabilities((1n << 21n) | (1n << 2n) | (1n << 19n)), ['CAP_PERFMON', 'CAP_BPF']);
  assert.deepEqual(missingCapabilities(0n), ['CAP_SYS_ADMIN', 'CAP_PERFMON', 'CAP_BPF', 'CAP_DAC_READ_SEARCH', 'CAP_SYS_PTRACE']);
});

test('load errors become one actionable sentence', () => {
  assert.match(explainLoadError(Object.assign(new Error('cannot load: Operation not permitted'), { errno: 1 }), ['CAP_BPF']), /lacks CAP_BPF; run as root, or grant CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN, CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE/);
  assert.match(explainLoadError(new Error("libbpf: prog 'uprobe_x': -- BEGIN PROG LOAD LOG --\nR2 min value")), /verifier rejected uprobe_x/);
});

test('no BTF is a PreflightError that says what is needed', () => {
  assert.throws(() => checkBtf('/nonexistent/vmlinux'), (e: unknown) => e instanceof PreflightError && /CONFIG_DEBUG_INFO_BTF/.test(e.message));
});
