// Real local HTTPS servers and a process runner for end-to-end tests.
//
// Everything a server needs (config, certificate, logs, temp files, pid file) lives in its own
// mkdtemp directory, so several tests can run side by side and stop() leaves nothing behind.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

export const NGINX_BIN = '/usr/sbin/nginx';
export const OPENSSL_BIN = 'openssl';

/** Sizes served by nginx under `/bytes/<N>`. */
export const NGINX_BYTES_SIZES = [1024, 65536, 1048576] as const;

/** Largest body `POST /echo` accepts (and echoes back). */
export const NGINX_ECHO_MAX_BYTES = 4 * 1024 * 1024;

const BYTE_PATTERN = 'abcdefghijklmnopqrstuvwxyz0123456789';
const READY_TIMEOUT_MS = 5000;
const CONNECT_RETRY_MS = 25;
const GRACEFUL_STOP_MS = 5000;
const FORCED_STOP_MS = 2000;
const STDERR_CAP = 16 * 1024;
const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;

// ---------------------------------------------------------------------------------------------
// Types

export interface CertFiles {
  certPath: string;
  keyPath: string;
}

export interface RunCommandOptions {
  /** Written to the child's stdin, which is then closed. Without it stdin is /dev/null. */
  input?: Buffer | string;
  /** The child is SIGKILLed and the promise rejects after this long. Default 30 s. */
  timeoutMs?: number;
  /** Extra variables, laid over the current environment. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface CommandResult {
  code: number | null;
  signal: string | null;
  stdout: Buffer;
  stderr: string;
  pid: number;
}

export interface NginxOptions {
  /** Offer h2 through ALPN as well as http/1.1. Default false: HTTP/1.1 only. */
  http2?: boolean;
}

export interface NginxServer {
  port: number;
  /** `https://127.0.0.1:PORT` (no trailing slash). */
  url: string;
  masterPid: number;
  /** Worker processes: the live children of the master, read from /proc. */
  workerPids(): Promise<number[]>;
  /** The private directory holding config, certificate, content and logs. */
  dir: string;
  certPath: string;
  errorLogPath: string;
  /** Graceful shutdown, forced if it takes too long; then the directory is removed. Idempotent. */
  stop(): Promise<void>;
}

export interface OpenSslServer {
  port: number;
  pid: number;
  dir: string;
  certPath: string;
  /** Idempotent. */
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Content served by nginx, exported so tests can compare what a client (or the sensor) saw.

/** `n` bytes of the repeating a–z0–9 pattern, as served by `/bytes/<n>`. */
export function patternBytes(n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i += BYTE_PATTERN.length) out.write(BYTE_PATTERN, i, 'latin1');
  return out;
}

// The SSI directives split the body into separately flushed pieces, so the response really
// carries several chunks (29, 1024 and 5 bytes) rather than one.
const CHUNKED_TEMPLATE =
  'line one\n<!--# echo var="chunked_middle" -->\nline three\n' +
  '<!--# include virtual="/bytes/1024" -->\nend\n';

/** The decoded body of `GET /chunked`. */
export const NGINX_CHUNKED_BODY: string =
  'line one\nline two\nline three\n' + patternBytes(1024).toString('latin1') + '\nend\n';

// ---------------------------------------------------------------------------------------------
// Processes

/** Runs a command to completion, collecting its output. Rejects on spawn failure or timeout. */
export function runCommand(cmd: string, args: readonly string[], opts: RunCommandOptions = {}): Promise<CommandResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: opts.env === undefined ? process.env : { ...process.env, ...opts.env },
      cwd: opts.cwd,
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    const stderrText = (): string => Buffer.concat(stderr).toString('utf8');

    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${describe(cmd, args)} timed out after ${timeoutMs} ms (pid ${child.pid}); stderr: ${stderrText()}`));
    }, timeoutMs);

    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${describe(cmd, args)}: ${err.message}`));
    });
    // 'close' (not 'exit') so that all output has been read.
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(stdout), stderr: stderrText(), pid: child.pid ?? -1 });
    });

    if (opts.input !== undefined && child.stdin) {
      // A child that exits without reading its input makes the write fail with EPIPE; its exit
      // status is what the caller wants to see, not that.
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input);
    }
  });
}

/** Like runCommand, but rejects unless the command exits with status 0. */
async function runChecked(cmd: string, args: readonly string[], opts?: RunCommandOptions): Promise<CommandResult> {
  const result = await runCommand(cmd, args, opts);
  if (result.code !== 0) {
    throw new Error(`${describe(cmd, args)} failed (code ${result.code}, signal ${result.signal}): ${result.stderr}`);
  }
  return result;
}

function describe(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].join(' ');
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves true once the child has exited, false if it is still running after `ms`. */
async function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (hasExited(child)) return true;
  try {
    await once(child, 'exit', { signal: AbortSignal.timeout(ms) });
    return true;
  } catch {
    return hasExited(child);
  }
}

/** Asks politely, then insists, then kills; `orphans` are killed too if the child had to be. */
async function stopChild(child: ChildProcess, polite: NodeJS.Signals, orphans: readonly number[] = []): Promise<void> {
  child.kill(polite);
  if (await waitForExit(child, GRACEFUL_STOP_MS)) return;
  child.kill('SIGTERM');
  if (await waitForExit(child, FORCED_STOP_MS)) return;
  child.kill('SIGKILL');
  for (const pid of orphans) killQuietly(pid);
  await waitForExit(child, FORCED_STOP_MS);
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** Keeps the last `cap` characters of a stream, enough to explain a failure. */
function tailOf(stream: NodeJS.ReadableStream | null, cap = STDERR_CAP): () => string {
  let text = '';
  stream?.on('data', (chunk: Buffer) => {
    text = (text + chunk.toString('utf8')).slice(-cap);
  });
  return () => text;
}

/** Live processes whose parent is `ppid`, from /proc/PID/stat (no /proc/PID/task/TID/children here). */
export async function childPids(ppid: number): Promise<number[]> {
  const entries = await readdir('/proc');
  const found: number[] = [];
  await Promise.all(
    entries.filter((name) => /^\d+$/.test(name)).map(async (name) => {
      const parent = await parentOf(Number(name));
      if (parent === ppid) found.push(Number(name));
    }),
  );
  return found.sort((a, b) => a - b);
}

async function parentOf(pid: number): Promise<number | undefined> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // exited while we were looking
  }
  // comm may contain spaces and parentheses: fields are counted after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  if (state === 'Z' || state === 'X') return undefined;
  return Number(fields[1]);
}

/** Whether a process with this pid exists (and is not a zombie). */
export async function isAlive(pid: number): Promise<boolean> {
  return (await parentOf(pid)) !== undefined;
}

// ---------------------------------------------------------------------------------------------
// Network

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error(`unexpected listen address ${String(address)}`));
      });
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Retries a TCP connect until the port accepts, the child dies, or the deadline passes.
 * `explain` is called only on failure, to build the message.
 */
async function waitForPort(port: number, child: ChildProcess, explain: () => Promise<string>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (hasExited(child)) {
      throw new Error(`server exited (code ${child.exitCode}, signal ${child.signalCode}) before listening on ${port}: ${await explain()}`);
    }
    if (await canConnect(port)) return;
    if (Date.now() > deadline) {
      throw new Error(`server did not accept connections on 127.0.0.1:${port} within ${READY_TIMEOUT_MS} ms: ${await explain()}`);
    }
    await delay(CONNECT_RETRY_MS);
  }
}

// ---------------------------------------------------------------------------------------------
// Certificates

/** A throwaway EC P-256 certificate for localhost / 127.0.0.1, valid for one day. */
export async function makeSelfSignedCert(dir: string): Promise<CertFiles> {
  const certPath = path.join(dir, 'cert.pem');
  const keyPath = path.join(dir, 'key.pem');
  await runChecked(OPENSSL_BIN, [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', keyPath, '-out', certPath, '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ]);
  return { certPath, keyPath };
}

// ---------------------------------------------------------------------------------------------
// nginx

type Version = readonly [number, number, number];

let nginxVersionPromise: Promise<Version> | undefined;

/** The installed nginx's version, from `nginx -v` (which prints on stderr). */
export function nginxVersion(): Promise<Version> {
  nginxVersionPromise ??= runChecked(NGINX_BIN, ['-v']).then((result) => {
    const match = /nginx\/(\d+)\.(\d+)\.(\d+)/.exec(result.stderr);
    if (!match) throw new Error(`cannot read the version from '${NGINX_BIN} -v': ${result.stderr}`);
    return [Number(match[1]), Number(match[2]), Number(match[3])] as const;
  });
  return nginxVersionPromise;
}

function atLeast(version: Version, wanted: Version): boolean {
  for (let i = 0; i < 3; i++) {
    const a = version[i] ?? 0;
    const b = wanted[i] ?? 0;
    if (a !== b) return a > b;
  }
  return true;
}

interface NginxConfParams {
  dir: string;
  port: number;
  cert: CertFiles;
  http2: boolean;
  /** nginx ≥ 1.25.1 has the `http2 on;` directive; older ones only `listen ... http2`. */
  http2Directive: boolean;
}

/**
 * The whole config. `/echo` needs the request body fully read before answering, which `return`
 * never does; so it is proxied to a second server on a unix socket that answers 599, and that
 * answer is intercepted and replaced by the body, which the proxy has by then buffered in memory.
 */
export function renderNginxConf(p: NginxConfParams): string {
  const d = p.dir;
  const listenFlags = p.http2 && !p.http2Directive ? 'ssl http2' : 'ssl';
  const http2Line = p.http2 && p.http2Directive ? '    http2 on;\n' : '';
  const echoMax = `${NGINX_ECHO_MAX_BYTES / (1024 * 1024)}m`;
  return `daemon off;
master_process on;
worker_processes 1;
user root;
pid ${d}/nginx.pid;
lock_file ${d}/nginx.lock;
error_log ${d}/error.log notice;

events { worker_connections 256; }

http {
  access_log ${d}/access.log;
  client_body_temp_path ${d}/tmp/body;
  proxy_temp_path ${d}/tmp/proxy;
  fastcgi_temp_path ${d}/tmp/fastcgi;
  uwsgi_temp_path ${d}/tmp/uwsgi;
  scgi_temp_path ${d}/tmp/scgi;
  default_type application/octet-stream;
  keepalive_timeout 60s;
  keepalive_requests 10000;

  server {
    listen unix:${d}/echo-sink.sock;
    client_max_body_size 0;
    location / { return 599; }
  }

  server {
    listen 127.0.0.1:${p.port} ${listenFlags};
${http2Line}    ssl_certificate ${p.cert.certPath};
    ssl_certificate_key ${p.cert.keyPath};
    ssl_protocols TLSv1.2 TLSv1.3;
    root ${d}/www;

    location = / { default_type text/plain; return 200 "hello\\n"; }
    location = /status/404 { return 404; }
    location = /status/500 { return 500; }
    location /bytes/ { }

    location = /chunked {
      default_type text/plain;
      ssi on;
      ssi_types text/plain;
      set $chunked_middle "line two";
      try_files /chunked.txt =404;
    }

    location = /echo {
      client_max_body_size ${echoMax};
      client_body_buffer_size ${echoMax};
      client_body_in_single_buffer on;
      proxy_pass http://unix:${d}/echo-sink.sock:/;
      proxy_intercept_errors on;
      error_page 599 = @echo;
    }
    location @echo { default_type application/octet-stream; return 200 $request_body; }
  }
}
`;
}

async function writeNginxContent(dir: string): Promise<void> {
  await mkdir(path.join(dir, 'www', 'bytes'), { recursive: true });
  await mkdir(path.join(dir, 'tmp'), { recursive: true });
  await writeFile(path.join(dir, 'www', 'chunked.txt'), CHUNKED_TEMPLATE);
  await Promise.all(
    NGINX_BYTES_SIZES.map((n) => writeFile(path.join(dir, 'www', 'bytes', String(n)), patternBytes(n))),
  );
}

async function readTail(file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).slice(-STDERR_CAP);
  } catch {
    return '(no file)';
  }
}

/** nginx on 127.0.0.1 with a private config; resolves once it accepts TCP connections. */
export async function startNginx(opts: NginxOptions = {}): Promise<NginxServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'oisp-nginx-'));
  try {
    return await launchNginx(dir, opts);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function launchNginx(dir: string, opts: NginxOptions): Promise<NginxServer> {
  const [cert, port, version] = await Promise.all([makeSelfSignedCert(dir), freePort(), nginxVersion(), writeNginxContent(dir)]);
  const confPath = path.join(dir, 'nginx.conf');
  const errorLogPath = path.join(dir, 'error.log');
  const conf = renderNginxConf({ dir, port, cert, http2: opts.http2 ?? false, http2Directive: atLeast(version, [1, 25, 1]) });
  await writeFile(confPath, conf);

  const child = spawn(NGINX_BIN, ['-p', dir, '-c', confPath, '-e', errorLogPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr = tailOf(child.stderr);
  try {
    await once(child, 'spawn'); // rejects with the 'error' event, e.g. ENOENT
  } catch (err) {
    throw new Error(`cannot run ${NGINX_BIN}: ${(err as Error).message}`);
  }
  const masterPid = child.pid ?? -1;
  const explain = async (): Promise<string> => `stderr: ${stderr()}\nerror log: ${await readTail(errorLogPath)}\nconfig:\n${conf}`;
  try {
    await waitForPort(port, child, explain);
  } catch (err) {
    await stopChild(child, 'SIGTERM', await childPids(masterPid));
    throw err;
  }

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      // SIGQUIT: workers finish in-flight requests and close idle keep-alive connections.
      await stopChild(child, 'SIGQUIT', await childPids(masterPid));
      await rm(dir, { recursive: true, force: true });
    })();
    return stopping;
  };

  return {
    port,
    url: `https://127.0.0.1:${port}`,
    masterPid,
    workerPids: () => childPids(masterPid),
    dir,
    certPath: cert.certPath,
    errorLogPath,
    stop,
  };
}

// ---------------------------------------------------------------------------------------------
// openssl s_server

/**
 * `openssl s_server -www`: answers any GET with an HTTP/1.0 status page and closes. Resolves once
 * it prints ACCEPT (it is listening); no probe connection, since it serves one client at a time.
 */
export async function startOpenSslServer(): Promise<OpenSslServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'oisp-s_server-'));
  try {
    return await launchOpenSslServer(dir);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function launchOpenSslServer(dir: string): Promise<OpenSslServer> {
  const [cert, port] = await Promise.all([makeSelfSignedCert(dir), freePort()]);
  const args = ['s_server', '-www', '-accept', `127.0.0.1:${port}`, '-cert', cert.certPath, '-key', cert.keyPath];
  const child = spawn(OPENSSL_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr = tailOf(child.stderr);
  try {
    await waitForAcceptLine(child, () => `${describe(OPENSSL_BIN, args)}: stderr: ${stderr()}`);
  } catch (err) {
    await stopChild(child, 'SIGTERM');
    throw err;
  }
  child.stdout?.resume(); // keep draining so a full pipe never blocks it

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await stopChild(child, 'SIGTERM');
      await rm(dir, { recursive: true, force: true });
    })();
    return stopping;
  };
  return { port, pid: child.pid ?? -1, dir, certPath: cert.certPath, stop };
}

function waitForAcceptLine(child: ChildProcess, explain: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => finish(new Error(`no ACCEPT within ${READY_TIMEOUT_MS} ms from ${explain()}`)), READY_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      seen += chunk.toString('utf8');
      if (/^ACCEPT$/m.test(seen)) finish();
    };
    const onExit = (code: number | null, signal: string | null): void =>
      finish(new Error(`exited (code ${code}, signal ${signal}) before listening: ${explain()}`));
    const onError = (err: Error): void => finish(new Error(`cannot start: ${err.message}; ${explain()}`));
    function finish(err?: Error): void {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
      if (err) reject(err);
      else resolve();
    }
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}
