import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ABI, LAYOUT, layoutMismatches } from '../../../src/capture/layout.js';
import { loadNativeBinding } from '../../../src/capture/native.js';

test('the TS mirror of bpf/events.h equals what the C compiler reports', () => {
  const binding = loadNativeBinding();
  const layout = binding.abiLayout();
  assert.deepEqual(layoutMismatches(layout, binding.abiConstants()), []);
  // and the check itself notices a difference
  const shifted = structuredClone(layout);
  const tls = shifted.oisp_tls_data;
  assert.ok(tls);
  tls.fields.fd = 52;
  assert.deepEqual(layoutMismatches(shifted, binding.abiConstants()), ['offsetof(oisp_tls_data, fd) is 52 in C, 48 in TS']);
});

test('every record starts with the header and is 8-byte aligned', () => {
  for (const [name, s] of Object.entries(LAYOUT)) {
    if (name === 'oisp_sockaddr' || name === 'oisp_go_layout') continue; // parts and map values, not ring records
    assert.equal(s.size % 8, 0, `${name} size ${s.size}`);
    for (const off of Object.values(s.fields)) assert.ok(name === 'oisp_header' || off >= LAYOUT.oisp_header.size, `${name} field at ${off}`);
  }
  assert.equal(ABI.OISP_TLS_CHUNK_MAX & (ABI.OISP_TLS_CHUNK_MAX - 1), 0);
});
