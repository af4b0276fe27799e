import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HUFFMAN_CODES, HUFFMAN_LENGTHS, huffmanDecode } from '../../../src/protocols/hpack-huffman.js';
import { HpackDecoder, HpackError } from '../../../src/protocols/hpack.js';
import { HpackEncoder, hex, hpackInt, huffmanEncode } from './h2-builder.js';

const REQ1: [string, string][] = [
  [':method', 'GET'],
  [':scheme', 'http'],
  [':path', '/'],
  [':authority', 'www.example.com'],
];
const REQ2: [string, string][] = [...REQ1, ['cache-control', 'no-cache']];
const REQ3: [string, string][] = [
  [':method', 'GET'],
  [':scheme', 'https'],
  [':path', '/index.html'],
  [':authority', 'www.example.com'],
  ['custom-key', 'custom-value'],
];
const RES1: [string, string][] = [
  [':status', '302'],
  ['cache-control', 'private'],
  ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
  ['location', 'https://www.example.com'],
];
const RES2: [string, string][] = [[':status', '307'], ...RES1.slice(1)];
const RES3: [string, string][] = [
  [':status', '200'],
  ['cache-control', 'private'],
  ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'],
  ['location', 'https://www.example.com'],
  ['content-encoding', 'gzip'],
  ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
];

function run(dec: HpackDecoder, blocks: [string, [string, string][], number, number][]): void {
  for (const [h, want, entries, size] of blocks) {
    const out = dec.decode(hex(h));
    assert.deepEqual(out.headers, want);
    assert.equal(out.unknown, 0);
    assert.equal(dec.tableLength, entries);
    assert.equal(dec.tableBytes, size);
  }
}

describe('RFC 7541 Appendix C', () => {
  test('C.2.1 literal with indexing', () => {
    run(new HpackDecoder(), [['400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572', [['custom-key', 'custom-header']], 1, 55]]);
  });
  test('C.2.2 literal without indexing', () => {
    run(new HpackDecoder(), [['040c 2f73 616d 706c 652f 7061 7468', [[':path', '/sample/path']], 0, 0]]);
  });
  test('C.2.3 literal never indexed', () => {
    run(new HpackDecoder(), [['1008 7061 7373 776f 7264 0673 6563 7265 74', [['password', 'secret']], 0, 0]]);
  });
  test('C.2.4 indexed', () => {
    run(new HpackDecoder(), [['82', [[':method', 'GET']], 0, 0]]);
  });
  test('C.3 requests without Huffman', () => {
    run(new HpackDecoder(), [
      ['8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', REQ1, 1, 57],
      ['8286 84be 5808 6e6f 2d63 6163 6865', REQ2, 2, 110],
      ['8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65', REQ3, 3, 164],
    ]);
  });
  test('C.4 requests with Huffman', () => {
    run(new HpackDecoder(), [
      ['8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', REQ1, 1, 57],
      ['8286 84be 5886 a8eb 1064 9cbf', REQ2, 2, 110],
      ['8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf', REQ3, 3, 164],
    ]);
  });
  const sized = (): HpackDecoder => {
    const d = new HpackDecoder();
    d.setProtocolLimit(256);
    return d;
  };
  test('C.5 responses without Huffman, table 256, evictions', () => {
    run(sized(), [
      [
        '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
        RES1,
        4,
        222,
      ],
      ['4803 3330 37c1 c0bf', RES2, 4, 222],
      [
        '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31',
        RES3,
        3,
        215,
      ],
    ]);
  });
  test('C.6 responses with Huffman, table 256, evictions', () => {
    run(sized(), [
      [
        '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3',
        RES1,
        4,
        222,
      ],
      ['4883 640e ffc1 c0bf', RES2, 4, 222],
      [
        '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
        RES3,
        3,
        215,
      ],
    ]);
  });
});

describe('Huffman', () => {
  test('the code is a complete prefix code (Kraft sum 1, 257 symbols)', () => {
    assert.equal(HUFFMAN_CODES.length, 257);
    let sum = 0n;
    for (const l of HUFFMAN_LENGTHS) sum += 1n << BigInt(30 - l);
    assert.equal(sum, 1n << 30n);
  });
  test('every byte value round-trips, alone and in runs', () => {
    for (let b = 0; b < 256; b++) {
      for (const n of [1, 2, 3, 7]) {
        const s = Buffer.alloc(n, b);
        assert.equal(huffmanDecode(huffmanEncode(s), 0, huffmanEncode(s).length), s.toString('latin1'), `byte ${b} x${n}`);
      }
    }
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const enc = huffmanEncode(all);
    assert.equal(huffmanDecode(enc, 0, enc.length), all.toString('latin1'));
  });
  test('padding longer than 7 bits, zero padding and EOS are errors', () => {
    const enc = huffmanEncode(Buffer.from('a')); // 00011 + 111
    assert.equal(huffmanDecode(enc, 0, enc.length), 'a');
    assert.equal(typeof huffmanDecode(Buffer.from([0xff]), 0, 1), 'object'); // 8 bits of padding
    assert.equal(typeof huffmanDecode(Buffer.from([0x18]), 0, 1), 'object'); // 'a' + 000 padding
    assert.equal(typeof huffmanDecode(Buffer.from([0xff, 0xff, 0xff, 0xff]), 0, 4), 'object'); // EOS
  });
});

describe('HpackDecoder errors and limits', () => {
  const throws = (d: HpackDecoder, bytes: number[]): void => {
    assert.throws(() => d.decode(Buffer.from(bytes)), HpackError);
  };
  test('index 0, index beyond the table, truncated input', () => {
    throws(new HpackDecoder(), [0x80]);
    throws(new HpackDecoder(), [0xbe]); // 62 with an empty table
    throws(new HpackDecoder(), [0x40, 0x05, 0x61]); // string beyond block
    throws(new HpackDecoder(), [0xff]); // truncated integer
  });
  test('integer overflow', () => {
    throws(new HpackDecoder(), [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
  });
  test('string above the cap', () => {
    const d = new HpackDecoder({ maxStringLength: 10 });
    throws(d, [0x00, ...hpackInt(3, 7, 0), 0x61, 0x62, 0x63, ...hpackInt(11, 7, 0), ...Buffer.alloc(11, 0x61)]);
  });
  test('bad Huffman padding', () => {
    throws(new HpackDecoder(), [0x00, 0x81, 0x18, 0x00]);
  });
  test('size update above the SETTINGS limit, or after a field', () => {
    throws(new HpackDecoder(), hpackInt(5000, 5, 0x20));
    throws(new HpackDecoder(), [0x82, ...hpackInt(100, 5, 0x20)]);
  });
  test('size update evicts; size 0 empties', () => {
    const enc = new HpackEncoder();
    const d = new HpackDecoder();
    d.decode(enc.encode([['a', '1'], ['b', '2']]));
    assert.equal(d.tableLength, 2);
    d.decode(enc.encode([], { sizeUpdate: 40 }));
    assert.equal(d.tableLength, 1);
    d.decode(enc.encode([], { sizeUpdate: 0 }));
    assert.equal(d.tableLength, 0);
  });
  test('memory cap drops old entries and makes their references unknown', () => {
    const enc = new HpackEncoder(4096);
    const d = new HpackDecoder({ maxTableSize: 100 });
    d.decode(enc.encode([['x-one', 'a'.repeat(40)]]));
    d.decode(enc.encode([['x-two', 'b'.repeat(40)]]));
    assert.equal(d.tableLength, 1);
    assert.equal(d.stats.capEvictions, 1);
    const out = d.decode(enc.encode([['x-one', 'a'.repeat(40)], ['x-two', 'b'.repeat(40)]]));
    assert.deepEqual(out.headers, [['x-two', 'b'.repeat(40)]]);
    assert.equal(out.unknown, 1);
  });
  test('header list cap: fields left out, table kept in step', () => {
    const enc = new HpackEncoder();
    const d = new HpackDecoder();
    const out = d.decode(enc.encode([['a', '1'], ['b', 'x'.repeat(100)], ['c', '3']]), 80);
    assert.equal(out.truncated, true);
    assert.deepEqual(out.headers, [['a', '1']]);
    assert.deepEqual(d.decode(enc.encode([['c', '3']])).headers, [['c', '3']]);
  });
});

describe('state unknown (mid-stream)', () => {
  test('static and literal fields decode; dynamic references are unknown, never guessed', () => {
    const enc = new HpackEncoder();
    enc.encode([['user-agent', 'curl'], [':authority', 'a.example']]); // missed
    const d = new HpackDecoder({ stateUnknown: true });
    assert.equal(d.stateKnown, false);
    const out = d.decode(enc.encode([[':method', 'GET'], [':authority', 'a.example'], ['x-new', 'v'], ['user-agent', 'curl']]));
    assert.deepEqual(out.headers, [[':method', 'GET'], ['x-new', 'v']]);
    assert.equal(out.unknown, 2);
    // The entry inserted after joining is known.
    assert.deepEqual(d.decode(enc.encode([['x-new', 'v']])).headers, [['x-new', 'v']]);
  });
  test('a literal with an unknown indexed name, indexed, makes the table forgotten', () => {
    const enc = new HpackEncoder();
    enc.encode([['x-a', '1']]);
    const d = new HpackDecoder({ stateUnknown: true });
    const out = d.decode(enc.encode([['x-a', '2']])); // name refers to dynamic entry 62
    assert.deepEqual(out.headers, []);
    assert.equal(out.unknown, 1);
    assert.equal(d.decode(enc.encode([['x-a', '2']])).unknown, 1);
  });
  test('a size update to 0 makes the state known again', () => {
    const enc = new HpackEncoder();
    enc.encode([['x-a', '1']]);
    const d = new HpackDecoder({ stateUnknown: true });
    d.decode(enc.encode([], { sizeUpdate: 0 }));
    assert.equal(d.stateKnown, true);
    d.decode(enc.encode([], { sizeUpdate: 4096 }));
    assert.deepEqual(d.decode(enc.encode([['x-b', '1']])).headers, [['x-b', '1']]);
    assert.deepEqual(d.decode(enc.encode([['x-b', '1']])).headers, [['x-b', '1']]);
    assert.throws(() => d.decode(Buffer.from([0xc0])), HpackError); // 64: beyond, and the state is known
  });
  test('random encoder streams: a decoder joining late never yields a wrong field', () => {
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let round = 0; round < 20; round++) {
      const enc = new HpackEncoder(rnd(2) === 0 ? 4096 : 300, rnd(2) === 0);
      const late = new HpackDecoder({ stateUnknown: true });
      const full = new HpackDecoder();
      full.setProtocolLimit(4096);
      for (let i = 0; i < 60; i++) {
        const hs: [string, string][] = [];
        for (let k = 0; k < 1 + rnd(5); k++) hs.push([`x-h${rnd(12)}`, 'v'.repeat(rnd(40)) + rnd(5)]);
        const block = enc.encode(hs, i === 30 && rnd(2) === 0 ? { sizeUpdate: 200 } : {});
        assert.deepEqual(full.decode(block).headers, hs);
        if (i < 10) continue;
        const got = late.decode(block);
        let j = 0;
        for (const h of got.headers) {
          while (j < hs.length && (hs[j]![0] !== h[0] || hs[j]![1] !== h[1])) j++;
          assert.ok(j < hs.length, `wrong field ${h[0]}: ${h[1]}`);
          j++;
        }
        assert.equal(got.headers.length + got.unknown, hs.length);
      }
    }
  });
});
