import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatAddress, formatIpv6 } from '../../../src/capture/address.js';

const v6 = (hex: string): string => formatIpv6(Buffer.from(hex.replace(/\s/g, ''), 'hex'), 0);

test('IPv6 text form follows RFC 5952', () => {
  assert.equal(v6('20010db8 00000000 00000000 00000001'), '2001:db8::1');
  assert.equal(v6('00000000 00000000 00000000 00000000'), '::');
  assert.equal(v6('00000000 00000000 00000000 00000001'), '::1');
  assert.equal(v6('00000000 00000000 0000ffff 7f000001'), '::ffff:127.0.0.1');
  assert.equal(v6('20010db8 00000001 00010001 00010001'), '2001:db8:0:1:1:1:1:1');
  assert.equal(v6('20010db8 00000000 00010000 00000001'), '2001:db8::1:0:0:1');
  assert.equal(v6('fe800000 00000000 02000000 00000000'), 'fe80::200:0:0:0');
});

test('addresses print with their port', () => {
  assert.equal(formatAddress({ family: 4, address: '10.0.0.1', port: 443 }), '10.0.0.1:443');
  assert.equal(formatAddress({ family: 6, address: '::1', port: 8443 }), '[::1]:8443');
  assert.equal(formatAddress(null), '?');
});
