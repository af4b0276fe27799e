// Go executables through the finder, as the sensor and doctor see them: a Go
// program using crypto/tls is a target with its probe plan; a stripped one is
// reported as not capturable (once); a Go program without TLS is neither.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { goMinor, GO_READ, GO_WRITE } from '../../../src/discovery/go-binary.js';
import { TlsLibraryFinder } from '../../../src/discovery/tls-libraries.js';
import type { UnusableTlsBinary } from '../../../src/discovery/tls-libraries.js';
import { buildGo, GO_CLIENT, goMissing } from '../../helpers/go-fixtures.js';

test('goMinor reads release and devel versions, null otherwise', () => {
  assert.equal(goMinor('go1.19.8'), 19);
  assert.equal(goMinor('devel go1.23-abcdef'), 23);
  assert.equal(goMinor('unknown Go version'), null);
});

describe('Go executables in the TLS finder', { skip: goMissing() ?? false }, () => {
  let dir: string;
  let client: string;
  let stripped: string;
  let hello: string;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'oisp-gobin-'));
    client = await buildGo(dir, 'client', GO_CLIENT);
    stripped = await buildGo(dir, 'stripped', GO_CLIENT, { ldflags: '-s -w' });
    hello = await buildGo(dir, 'hello', 'package main\n\nimport "os"\n\nfunc main() { os.Stdout.WriteString("hi\\n") }\n');
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('an unstripped Go TLS client is a target: both methods, their RETs, the Go 1.19 fd layout from its DWARF', async () => {
    const { targets, errors } = await new TlsLibraryFinder({ extraPaths: [client] }).scanConfigured();
    assert.deepEqual(errors, []);
    const [t] = targets;
    assert.ok(t?.go, 'no Go plan');
    assert.deepEqual(t.symbols, [GO_WRITE, GO_READ]);
    assert.ok(t.go.write.returnFileOffsets.length > 0 && t.go.read.returnFileOffsets.length > 0);
    assert.ok(t.go.write.returnFileOffsets.every((o) => o > t.go!.write.fileOffset));
    assert.equal(t.go.fdFrom, 'dwarf');
    const minor = goMinor(t.go.version);
    if (minor !== null && minor >= 17 && minor <= 23) {
      assert.deepEqual({ ...t.go.layout, tcpConnItab: undefined }, { connDataOff: 8, netconnFdOff: 0, netfdSysfdOff: 16, tcpConnItab: undefined });
      assert.ok(t.go.layout!.tcpConnItab > 0n, 'the *net.TCPConn itab of a non-PIE build is known');
    }
  });

  test('a stripped Go TLS client is reported once, by path, with the reason', async () => {
    const seen: UnusableTlsBinary[] = [];
    const finder = new TlsLibraryFinder({ extraPaths: [stripped, stripped], onUnusable: (b) => seen.push(b) });
    const { targets, errors } = await finder.scanConfigured();
    assert.deepEqual(targets, []);
    assert.match(errors[0]!, /it is a Go binary that is stripped: no crypto\/tls symbols/);
    assert.deepEqual(seen.map((b) => b.message), [`Go binary ${stripped} is stripped: no crypto/tls symbols`]);
    assert.deepEqual(finder.unusableBinaries.map((b) => b.displayPath), [stripped]);
  });

  test('a Go program without crypto/tls is neither a target nor reported', async () => {
    const finder = new TlsLibraryFinder({ extraPaths: [hello] });
    const { targets, errors } = await finder.scanConfigured();
    assert.deepEqual(targets, []);
    assert.match(errors[0]!, /lacks SSL_write and SSL_read/);
    assert.deepEqual(finder.unusableBinaries, []);
  });
});
