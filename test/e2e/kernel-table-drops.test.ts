// End to end, real kernel: every bounded kernel table counts what it cannot
// hold, in /metrics, and the sensor carries on. The sensor runs with tiny
// tables (OISP_MAX_INFLIGHT_CALLS=2, OISP_MAX_FOLLOWED_PIDS=2) and each path is
// forced by really having more in flight at once than fits:
//   syscall_args_table_full  threads of one process blocked in openat() of a FIFO
//   ssl_calls_table_full     threads blocked in SSL_read_ex on quiet TLS connections
//   go_calls_table_full      goroutines blocked in crypto/tls.(*Conn).Read
//   go_conn_unreadable       a *tls.Conn over a wrapped net.Conn (no *net.TCPConn itab)
//   tls_read_failed          a (*tls.Conn).Write whose buffer, a shared file mapping, is
//                            truncated away by the net.Conn under it before the call returns
//   target_pids_full         a traced parent with more live children than fit
// After each, the blocked calls are released and a later event of the same
// kind must still arrive (the entries of finished calls were given back). The
// in-flight tables are then overflowed again and the process SIGKILLed with
// calls inside: its entries must go with it (no return probe fires for an SSL
// or Go call; the kernel cleans them at thread or process exit), so two calls
// of the next process fit again, and nothing more is counted.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { closeSync, constants as fsConstants, openSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { buildGo, goMissing } from '../helpers/go-fixtures.js';
import { namedPrograms, startSensor } from '../helpers/sensor-process.js';
import type { JsonEvent, NamedPrograms, SensorProcess } from '../helpers/sensor-process.js';
import { readMetrics, until } from '../helpers/sensor-health.js';
import { freePort, makeSelfSignedCert } from '../helpers/tls-fixtures.js';

const T = { timeout: 60_000 };
/** More callers at once than the table of 2 holds. */
const CALLERS = 6;
const PYTHON = '/usr/bin/python3.11';

/** `fifo N marker`: N threads open FIFO for reading, each blocking in openat until the
 * test opens it (read-write, which never blocks); then the main thread opens `marker`. */
const FIFO_OPENERS = `import os, sys, threading
fifo, n, marker = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def opener():
    os.close(os.open(fifo, os.O_RDONLY))
threads = [threading.Thread(target=opener) for _ in range(n)]
for t in threads: t.start()
print('opening', flush=True)
for t in threads: t.join()
open(marker, 'w').close()
print('done', flush=True)
`;

/** \`cert key\`: a TLS server (not traced) that accepts connections; each stdin line T
 * waits until T connections were accepted in all, then answers those not answered yet
 * with "answer\\n". Prints its port. */
const QUIET_SERVER = `import socket, ssl, sys, threading
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
ls = socket.socket(); ls.bind(('127.0.0.1', 0)); ls.listen(64)
print(ls.getsockname()[1], flush=True)
conns, accepted, cv = [], [0], threading.Condition()
def accept():
    while True:
        c, _ = ls.accept()
        try:
            s = ctx.wrap_socket(c, server_side=True)
        except OSError:
            continue
        s.sendall(b'hello\\n')
        with cv:
            conns.append(s); accepted[0] += 1; cv.notify_all()
threading.Thread(target=accept, daemon=True).start()
for line in sys.stdin:
    with cv:
        cv.wait_for(lambda: accepted[0] >= int(line), timeout=15)
        for s in conns:
            try: s.sendall(b'answer\\n'); s.sendall(b'again\\n')
            except OSError: pass
        conns.clear()
`;

/** \`port N\`: N threads each block in SSL_read on their own TLS connection; once all
 * have their answer, one more SSL_write ("after-drops"). */
const SSL_READERS = `import socket, ssl, sys, threading
port, n = int(sys.argv[1]), int(sys.argv[2])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
conns = [ctx.wrap_socket(socket.create_connection(('127.0.0.1', port))) for _ in range(n)]
for c in conns: assert c.recv(64) == b'hello\\n' # one read at a time: each fits
got = [b''] * n
def reader(i):
    got[i] = conns[i].recv(64)
threads = [threading.Thread(target=reader, args=(i,)) for i in range(n)]
for t in threads: t.start()
print('reading', flush=True)
for t in threads: t.join()
assert all(g == b'answer\\n' for g in got), got
for c in conns: assert c.recv(64) == b'again\\n'
conns[0].sendall(b'after-drops')
print('done', flush=True)
`;

/** \`cert key N [wrapped]\`: after a stdin line (the sensor attached), a TLS listener in
 * the same process and N client goroutines blocked in (*tls.Conn).Read; the next stdin
 * line makes the server answer them; then one more client Write ("after-drops") and, with
 * \`wrapped\`, one Write over a *tls.Conn whose net.Conn is wrapped (no fd from the conn). */
const GO_READERS = `package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
)

type wrapped struct{ net.Conn }

// vanishing sends each record, then (once armed) truncates the file whose
// shared mapping holds the plaintext: when (*tls.Conn).Write returns, the
// pages of its buffer are gone and the return probe cannot read them.
type vanishing struct {
	net.Conn
	file  *os.File
	armed bool
}

func (v *vanishing) Write(b []byte) (int, error) {
	n, err := v.Conn.Write(b)
	if v.armed {
		must(v.file.Truncate(0))
		v.armed = false
	}
	return n, err
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func main() {
	cert, err := tls.LoadX509KeyPair(os.Args[1], os.Args[2])
	must(err)
	n, _ := strconv.Atoi(os.Args[3])
	in := bufio.NewReader(os.Stdin)
	in.ReadString('\\n')
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	must(err)
	release := make(chan struct{})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c *tls.Conn) {
				if c.Handshake() != nil {
					return
				}
				<-release
				c.Write([]byte("answer\\n"))
			}(c.(*tls.Conn))
		}
	}()
	cfg := &tls.Config{InsecureSkipVerify: true}
	conns := make([]*tls.Conn, n)
	for i := range conns {
		conns[i], err = tls.Dial("tcp", ln.Addr().String(), cfg)
		must(err)
	}
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func(c *tls.Conn) {
			defer wg.Done()
			buf := make([]byte, 64)
			k, err := c.Read(buf)
			must(err)
			if string(buf[:k]) != "answer\\n" {
				must(fmt.Errorf("read %q", buf[:k]))
			}
		}(c)
	}
	fmt.Println("reading")
	in.ReadString('\\n')
	close(release)
	wg.Wait()
	_, err = conns[0].Write([]byte("after-drops"))
	must(err)
	if len(os.Args) > 4 && os.Args[4] == "wrapped" {
		raw, err := net.Dial("tcp", ln.Addr().String())
		must(err)
		_, err = tls.Client(wrapped{raw}, cfg).Write([]byte("wrapped"))
		must(err)
	}
	if len(os.Args) > 4 && os.Args[4] == "vanishing" {
		f, err := os.CreateTemp("", "oisp-vanishing-")
		must(err)
		must(os.Remove(f.Name()))
		must(f.Truncate(4096))
		buf, err := syscall.Mmap(int(f.Fd()), 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
		must(err)
		k := copy(buf, "vanishing")
		raw, err := net.Dial("tcp", ln.Addr().String())
		must(err)
		v := &vanishing{Conn: raw, file: f}
		c := tls.Client(v, cfg)
		must(c.Handshake())
		v.armed = true
		_, err = c.Write(buf[:k]) // buf must not be touched after this: it is gone
		must(err)
		_, err = c.Write([]byte("after-vanishing"))
		must(err)
	}
	fmt.Println("done")
}
`;

/** \`K\`: on a stdin line, forks K children that live until the next line, then (once they
 * are gone) one more that exits with code 3 (its exit must be reported: it was followed). */
const FORKER = `import os, sys
k = int(sys.argv[1])
sys.stdin.readline()
r, w = os.pipe()
kids = []
for _ in range(k):
    pid = os.fork()
    if pid == 0:
        os.close(w); os.read(r, 1); os._exit(0)
    kids.append(pid)
os.close(r)
print('forked', flush=True)
sys.stdin.readline()
os.close(w)
for pid in kids: os.waitpid(pid, 0)
pid = os.fork()
if pid == 0: os._exit(3)
os.waitpid(pid, 0)
print(pid, flush=True)
`;

/** A child driven line by line: waits for what it prints, feeds its stdin. */
interface Staged {
  child: ChildProcess;
  pid: number;
  /** The next stdout line (already printed or to come). */
  line(what: string, timeoutMs?: number): Promise<string>;
  send(line: string): void;
  /** Exit code, once it exits. */
  exited: Promise<number | null>;
}

function staged(cmd: string, args: string[]): Staged {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines: string[] = [];
  const waiting: ((l: string) => void)[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => {
    const w = waiting.shift();
    if (w) w(l);
    else lines.push(l);
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return {
    child,
    pid: child.pid!,
    exited,
    send: (l) => child.stdin!.write(`${l}\n`),
    line(what, timeoutMs = 20_000) {
      const ready = lines.shift();
      if (ready !== undefined) return Promise.resolve(ready);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${cmd}: no "${what}" line within ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
        void exited.then((code) => reject(new Error(`${cmd} exited (${code}) before "${what}"; stderr: ${stderr}`)));
        waiting.push((l) => {
          clearTimeout(timer);
          resolve(l);
        });
      });
    },
  };
}

const text = (e: JsonEvent): string => Buffer.from(String(e.data ?? ''), 'base64').toString('latin1');

/** Every call beyond the two that fit. */
const OVERFLOW = CALLERS - 2;

describe('full in-flight tables (OISP_MAX_INFLIGHT_CALLS=2) are counted, and capture goes on', () => {
  let dir: string;
  let progs: NamedPrograms;
  let goBinary: string | null = null;
  let cert: { certPath: string; keyPath: string };
  let sensor: SensorProcess;
  let port: number;
  const children: ChildProcess[] = [];
  const run = (cmd: string, args: string[]): Staged => {
    const s = staged(cmd, args);
    children.push(s.child);
    return s;
  };
  const kernel = async (name: string): Promise<number> => (await readMetrics(port))[`kernel_${name}`] ?? 0;
  /** Waits until kernel_<name> reached `atLeast`; returns the value seen. */
  const counted = async (name: string, atLeast: number): Promise<number> => {
    let v = 0;
    await until(`kernel_${name} >= ${atLeast}`, async () => (v = await kernel(name)) >= atLeast, 10_000);
    return v;
  };
  /** The readers got their answers, and the write made after them ("after-drops", by `func`) was captured. */
  const wroteAfterReads = async (p: Staged, func: string): Promise<void> => {
    assert.equal(await p.line('done'), 'done');
    assert.equal(await p.exited, 0);
    const w = await sensor.waitFor('the write made after the reads', (e) => e.type === 'tls.data' && e.pid === p.pid && e.direction === 'write' && text(e) === 'after-drops');
    assert.equal(w.func, func);
  };
  /** GO_READERS with n readers blocked in Read, once the sensor attached to it. */
  const goReaders = async (n: number, ...extra: string[]): Promise<Staged> => {
    const binary = goBinary!;
    const p = run(binary, [cert.certPath, cert.keyPath, String(n), ...extra]);
    await until(`the sensor attached to ${binary}`, () => sensor.stderr().includes(`attached TLS probes to ${binary}`), 30_000, 100);
    p.send('go');
    await p.line('reading');
    return p;
  };
  /** SIGKILLs a process whose threads are inside calls: their return probes never fire. */
  const kill = async (p: Staged): Promise<void> => {
    p.child.kill('SIGKILL');
    await p.exited;
  };

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'oisp-tables-'));
    progs = await namedPrograms({ fifo: PYTHON, ssl: PYTHON });
    cert = await makeSelfSignedCert(dir);
    const comms = [progs.comm('fifo'), progs.comm('ssl')];
    if (!goMissing()) {
      const name = `og${Math.random().toString(36).slice(2, 6)}-rd`;
      goBinary = await buildGo(dir, name, GO_READERS);
      comms.push(name);
    }
    port = await freePort();
    sensor = await startSensor(['--comm', comms.join(',')], {
      env: { OISP_MAX_INFLIGHT_CALLS: '2', OISP_HEALTH_ADDR: `127.0.0.1:${port}`, OISP_NETWORK_EVENTS: 'false' },
    });
    for (const name of ['syscall_args_table_full', 'ssl_calls_table_full', 'go_calls_table_full', 'go_conn_unreadable', 'tls_read_failed']) {
      assert.equal(await kernel(name), 0, `${name} before anything was forced`);
    }
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await sensor?.stop();
    await progs?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test(`syscall_args_table_full: ${CALLERS} threads blocked in openat() at once; a process killed there gives its entries back`, T, async (t) => {
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    /** N openers of the FIFO; `release` opens it (read-write never blocks), which lets them all through. */
    const openers = async (n: number, marker: string): Promise<Staged> => {
      const p = run(progs.path('fifo'), ['-c', FIFO_OPENERS, fifo, String(n), marker]);
      await p.line('opening');
      return p;
    };
    const release = async (p: Staged): Promise<void> => {
      const fd = openSync(fifo, fsConstants.O_RDWR);
      try {
        assert.equal(await p.line('done'), 'done');
        assert.equal(await p.exited, 0);
      } finally {
        closeSync(fd);
      }
    };
    const opened = (p: Staged, file: string) => (e: JsonEvent) => e.type === 'file.open' && e.pid === p.pid && e.path === file;

    // Overflow, then release: the opens that did not fit are counted; a later open is reported.
    const a = await openers(CALLERS, path.join(dir, 'after-a'));
    const seen = await counted('syscall_args_table_full', OVERFLOW);
    await release(a);
    await sensor.waitFor('the open made after the drops', opened(a, path.join(dir, 'after-a')));

    // Overflow, then SIGKILL with two threads still in openat: their entries go with the threads
    // (a killed openat still passes sys_exit; the exit of the thread is the backstop)…
    const b = await openers(CALLERS, path.join(dir, 'after-b'));
    const killedAt = await counted('syscall_args_table_full', seen + OVERFLOW);
    await kill(b);
    // …so two openers fit again: both reported, nothing more counted.
    const c = await openers(2, path.join(dir, 'after-c'));
    await release(c);
    await sensor.waitFor('the open made after the kill', opened(c, path.join(dir, 'after-c')));
    await until('both FIFO opens of the process started after the kill reported', () => sensor.events.filter(opened(c, fifo)).length === 2, 10_000);
    assert.equal(await kernel('syscall_args_table_full'), killedAt, 'nothing dropped once the killed threads were gone');
    t.diagnostic(`syscall_args_table_full: ${seen} after the release, ${killedAt} after the kill`);
  });

  test(`ssl_calls_table_full: ${CALLERS} threads blocked in SSL_read at once; a process killed there gives its entries back`, T, async (t) => {
    const server = run(PYTHON, ['-c', QUIET_SERVER, cert.certPath, cert.keyPath]);
    const serverPort = await server.line('port');
    let connections = 0;
    const readers = async (n: number): Promise<Staged> => {
      const p = run(progs.path('ssl'), ['-c', SSL_READERS, serverPort, String(n)]);
      connections += n;
      await p.line('reading');
      return p;
    };
    const answer = async (p: Staged): Promise<void> => {
      server.send(String(connections)); // once the server has them all
      await wroteAfterReads(p, 'SSL_write_ex');
    };
    const answered = (p: Staged) => (e: JsonEvent) => e.type === 'tls.data' && e.pid === p.pid && e.direction === 'read' && text(e) === 'answer\n';

    const a = await readers(CALLERS);
    const seen = await counted('ssl_calls_table_full', OVERFLOW);
    await answer(a);
    await sensor.waitFor('an SSL_read that fitted', answered(a));
    // Each connection read hello (call 0), answer (1), again (2): a refused answer still took its
    // number, so the hole tells the HTTP tracker that bytes are missing.
    const again = sensor.events.filter((e) => e.type === 'tls.data' && e.pid === a.pid && e.direction === 'read' && text(e) === 'again\n');
    assert.equal(again.length, CALLERS);
    assert.deepEqual(again.map((e) => e.call_seq), again.map(() => 2));
    const answeredConns = new Set(sensor.events.filter(answered(a)).map((e) => e.conn_id));
    assert.ok(answeredConns.size < CALLERS, 'some answers were refused');

    const b = await readers(CALLERS);
    const killedAt = await counted('ssl_calls_table_full', seen + OVERFLOW);
    await kill(b);
    const c = await readers(2);
    await answer(c);
    await until('both SSL_reads of the process started after the kill captured', () => sensor.events.filter(answered(c)).length === 2, 10_000);
    assert.equal(await kernel('ssl_calls_table_full'), killedAt, 'nothing dropped once the killed threads were gone');
    t.diagnostic(`ssl_calls_table_full: ${seen} after the answer, ${killedAt} after the kill`);
  });

  test(`go_calls_table_full: ${CALLERS} goroutines blocked in (*tls.Conn).Read; a killed process gives its entries back; go_conn_unreadable: a wrapped net.Conn`, { ...T, skip: goMissing() ?? false }, async (t) => {
    const readers = goReaders;
    const answer = async (p: Staged): Promise<void> => {
      p.send('answer');
      await wroteAfterReads(p, 'crypto/tls.(*Conn).Write');
    };

    const a = await readers(CALLERS, 'wrapped');
    const seen = await counted('go_calls_table_full', OVERFLOW);
    await answer(a);
    const unreadable = await counted('go_conn_unreadable', 1);
    await sensor.waitFor('the Write over the wrapped conn', (e) => e.type === 'tls.data' && e.pid === a.pid && text(e) === 'wrapped');

    const b = await readers(CALLERS);
    const killedAt = await counted('go_calls_table_full', seen + OVERFLOW);
    await kill(b);
    // One reader: its Read and the server's Write to it are the two calls in flight at once.
    const c = await readers(1);
    await answer(c);
    await sensor.waitFor('the Read of the process started after the kill', (e) => e.type === 'tls.data' && e.pid === c.pid && e.direction === 'read' && text(e) === 'answer\n');
    assert.equal(await kernel('go_calls_table_full'), killedAt, 'nothing dropped once the killed process was gone');
    t.diagnostic(`go_calls_table_full: ${seen} after the answer, ${killedAt} after the kill; go_conn_unreadable: ${unreadable}`);
  });

  test('tls_read_failed: a Write whose buffer is unmapped before the call returns is counted, flagged, and the next Write is captured', { ...T, skip: goMissing() ?? false }, async () => {
    const p = await goReaders(1, 'vanishing');
    p.send('answer');
    assert.equal(await p.line('done'), 'done');
    assert.equal(await p.exited, 0);
    await counted('tls_read_failed', 1);
    const after = await sensor.waitFor('the Write after the unreadable one', (e) => e.type === 'tls.data' && e.pid === p.pid && text(e) === 'after-vanishing');
    const lost = sensor.events.find((e) => e.type === 'tls.data' && e.pid === p.pid && e.conn_id === after.conn_id && e.direction === 'write' && e !== after);
    assert.ok(lost, 'the unreadable call is still reported');
    assert.equal(lost.incomplete, true);
    assert.equal(lost.len, 'vanishing'.length);
    assert.notEqual(text(lost), 'vanishing');
  });
});

describe('a full target_pids (OISP_MAX_FOLLOWED_PIDS=2) is counted, and following goes on', () => {
  test(`target_pids_full: a traced parent with ${CALLERS} live children; once they are gone a new child is followed`, T, async (t) => {
    const parent = staged(PYTHON, ['-c', FORKER, String(CALLERS)]);
    t.after(() => parent.child.kill('SIGKILL'));
    const port = await freePort();
    const sensor = await startSensor(['--pid', String(parent.pid)], {
      env: { OISP_MAX_FOLLOWED_PIDS: '2', OISP_HEALTH_ADDR: `127.0.0.1:${port}`, OISP_FILE_EVENTS: 'false', OISP_NETWORK_EVENTS: 'false' },
    });
    t.after(() => sensor.stop());
    const full = async (): Promise<number> => (await readMetrics(port)).kernel_target_pids_full ?? 0;
    assert.equal(await full(), 0);
    parent.send('fork');
    await parent.line('forked');
    // The parent holds one entry, its first child the other: the rest do not fit.
    await until(`kernel_target_pids_full >= ${OVERFLOW + 1}`, async () => (await full()) >= CALLERS - 1, 10_000);
    const seen = await full();
    assert.equal(seen, CALLERS - 1);
    parent.send('exit');
    const last = Number(await parent.line('last child'));
    assert.equal(await parent.exited, 0);
    const exit = await sensor.waitFor('exit of the child forked once the others were gone', (e) => e.type === 'process.exit' && e.pid === last, 15_000);
    assert.equal(exit.exit_code, 3);
    t.diagnostic(`target_pids_full: ${seen}`);
  });
});
