// doctor's line for a Go executable says where the *tls.Conn's fd comes from.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeSymbols } from '../../../src/cli/doctor.js';
import type { GoFdSource, GoTlsPlan } from '../../../src/discovery/go-binary.js';
import type { TlsTarget } from '../../../src/discovery/tls-libraries.js';

function goTarget(fdFrom: GoFdSource, dwarfNote?: string): TlsTarget {
  const go: GoTlsPlan = {
    version: 'go1.19.8',
    write: { name: 'crypto/tls.(*Conn).Write', fileOffset: 0x1000, returnFileOffsets: [0x1010, 0x1020] },
    read: { name: 'crypto/tls.(*Conn).Read', fileOffset: 0x2000, returnFileOffsets: [0x2030] },
    layout: fdFrom === 'syscalls' ? null : { tcpConnItab: 0n, connDataOff: 8, netconnFdOff: 0, netfdSysfdOff: 16 },
    fdFrom,
  };
  if (dwarfNote) go.dwarfNote = dwarfNote;
  return { path: '/bin/g', displayPath: '/bin/g', dev: 1, inode: 2, kind: 'executable', symbols: [go.write.name, go.read.name], go, foundVia: 'test' };
}

test('a Go target: offsets from DWARF, from the table (and why not DWARF), or the fd from syscalls', () => {
  const head = 'go1.19.8: crypto/tls.(*Conn).Write, crypto/tls.(*Conn).Read, 3 return sites; ';
  assert.equal(describeSymbols(goTarget('dwarf')), `${head}fd from the *tls.Conn (offsets: dwarf)`);
  assert.equal(describeSymbols(goTarget('table', 'no DWARF')), `${head}fd from the *tls.Conn (offsets: table; no DWARF)`);
  assert.equal(
    describeSymbols(goTarget('syscalls', 'DWARF lacks net.conn.fd')),
    `${head}fd from syscalls: no *tls.Conn layout for go1.19.8; DWARF lacks net.conn.fd`,
  );
});
