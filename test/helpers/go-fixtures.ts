// Go programs built by the tests with the local toolchain (Debian golang-go,
// installed by scripts/setup.mjs --test): an HTTPS client and an HTTPS server,
// stdlib only. GOPATH is the test's own directory; the build cache is one temp
// directory shared by all test runs, because a PIE build recompiles the standard
// library (over a minute on a loaded two-core machine). Go's cache is safe for
// concurrent builds and keyed by content, so sharing it cannot mix results.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export const GO_BIN = '/usr/bin/go';

/** Null when go is installed, else why the Go tests cannot run. */
export function goMissing(): string | null {
  const r = spawnSync(GO_BIN, ['version'], { encoding: 'utf8' });
  return r.status === 0 ? null : 'go is not installed (scripts/setup.mjs --test installs golang-go)';
}

/**
 * `client URL [h1|h2|wrapped|slow1|slow2] [wait]`: GETs URL (h1 forces HTTP/1.1 by emptying TLSNextProto;
 * wrapped also hides the *net.TCPConn inside another net.Conn type, as middleware does; slow1
 * (HTTP/1.1) and slow2 (h2) wrap it in a net.Conn whose Write returns 50 ms after the bytes
 * left, so every (*tls.Conn).Write returns after the response to it has been read),
 * prints "<proto> <status> <body>". With `wait` it first blocks until stdin closes, so a
 * test can let the sensor attach to the running executable before any TLS happens.
 */
export const GO_CLIENT = `package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

type wrapped struct{ net.Conn }

type slowWrite struct{ net.Conn }

func (s slowWrite) Write(b []byte) (int, error) {
	n, err := s.Conn.Write(b)
	time.Sleep(50 * time.Millisecond)
	return n, err
}

func main() {
	if len(os.Args) > 3 && os.Args[3] == "wait" {
		io.Copy(io.Discard, os.Stdin)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
	mode := ""
	if len(os.Args) > 2 {
		mode = os.Args[2]
	}
	if mode == "h1" || mode == "wrapped" || mode == "slow1" {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		tr.ForceAttemptHTTP2 = false
	}
	if mode == "wrapped" || mode == "slow1" || mode == "slow2" {
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if mode != "wrapped" {
				return slowWrite{c}, nil
			}
			return wrapped{c}, nil
		}
	}
	r, err := (&http.Client{Transport: tr}).Get(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	b, _ := io.ReadAll(r.Body)
	fmt.Printf("%s %d %s", r.Proto, r.StatusCode, b)
	if mode == "slow1" || mode == "slow2" {
		// the request's Write is still asleep: exiting now would end it before it returns,
		// and a call that never returns is never recorded
		time.Sleep(300 * time.Millisecond)
	}
}
`;

/** \`server ADDR CERT KEY\`: HTTPS (HTTP/1.1 and h2) on ADDR; prints "ready" once listening. */
export const GO_SERVER = `package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
)

func main() {
	cert, err := tls.LoadX509KeyPair(os.Args[2], os.Args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "hello from go %s\\n", r.Proto)
	})
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}}
	fmt.Println("ready")
	srv.ServeTLS(ln, "", "")
}
`;

/**
 * An oracle for the *tls.Conn → fd path, independent of DWARF: prints, from the
 * compiler's own layout through reflection, the offsets of tls.Conn.conn,
 * net.conn.fd, netFD.pfd and poll.FD.Sysfd (space-separated), then the kind of
 * tls.Conn.conn (an interface: two words, itab then data).
 */
export const GO_CONN_OFFSETS = `package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"reflect"
)

func field(t reflect.Type, name string) reflect.StructField {
	f, ok := t.FieldByName(name)
	if !ok {
		panic(t.String() + " has no field " + name)
	}
	return f
}

func main() {
	conn := field(reflect.TypeOf(tls.Conn{}), "conn")
	fd := field(field(reflect.TypeOf(net.TCPConn{}), "conn").Type, "fd")
	pfd := field(fd.Type.Elem(), "pfd")
	sysfd := field(pfd.Type, "Sysfd")
	fmt.Println(conn.Offset, fd.Offset, pfd.Offset, sysfd.Offset, conn.Type.Kind())
}
`;

export interface GoBuildOptions {
  /** e.g. "-s -w" to strip the symbol table. */
  ldflags?: string;
  /** e.g. "pie". */
  buildmode?: string;
}

/** Builds `source` as main package into dir/name. */
export async function buildGo(dir: string, name: string, source: string, opts: GoBuildOptions = {}): Promise<string> {
  const src = path.join(dir, `${name}-src`);
  await mkdir(src, { recursive: true });
  await writeFile(path.join(src, 'main.go'), source);
  await writeFile(path.join(src, 'go.mod'), `module ${name.replace(/[^a-z0-9]/gi, '')}\n\ngo 1.17\n`);
  const out = path.join(dir, name);
  const flags = [...(opts.ldflags ? [`-ldflags=${opts.ldflags}`] : []), ...(opts.buildmode ? [`-buildmode=${opts.buildmode}`] : [])];
  execFileSync(GO_BIN, ['build', '-o', out, ...flags, '.'], {
    cwd: src,
    env: {
      ...process.env,
      GOCACHE: path.join(os.tmpdir(), 'oisp-test-gocache'),
      GOPATH: path.join(dir, 'gopath'),
      GOTOOLCHAIN: 'local',
      GOFLAGS: '',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return out;
}
