// Which socket each SSL connection uses, and that socket's addresses:
// filled from connect/accept/bind events (the kernel reads the addresses from
// the socket itself, so connections older than the sensor are covered too).
import { connKey } from '../capture/events.js';
import type { CaptureEvent, SocketAddress, SocketCorrelation } from '../capture/events.js';
import { BoundedLru } from '../util/lru.js';

export interface SocketInfo extends SocketCorrelation {
  local: SocketAddress | null;
  remote: SocketAddress | null;
  /** Which event told us. */
  source: 'connect' | 'accept' | 'tls.bind';
}

export type Correlation = SocketCorrelation;

/** One number for (pid, fd): pids are below 2^22 and fds below 2^31, so the product stays exact. */
function socketKey(pid: number, fd: number): number {
  return pid * 0x8000_0000 + fd;
}

export class ConnectionTable {
  /** By socketKey(pid, fd). */
  private readonly sockets: BoundedLru<number, SocketInfo>;
  private readonly fdByConn: BoundedLru<string, number>;

  constructor(capacity = 65536) {
    this.sockets = new BoundedLru(capacity);
    this.fdByConn = new BoundedLru(capacity);
  }

  get evictions(): number {
    return this.sockets.evictions + this.fdByConn.evictions;
  }

  get size(): number {
    return this.sockets.size;
  }

  /** Learns from an event; call for every event, in order. */
  observe(e: CaptureEvent): void {
    switch (e.type) {
      case 'network.connect':
        if (e.result === 0 || e.result === -115) {
          this.sockets.set(socketKey(e.pid, e.fd), { fd: e.fd, local: e.local, remote: e.remote, source: 'connect' });
        }
        return;
      case 'network.accept':
        this.sockets.set(socketKey(e.pid, e.fd), { fd: e.fd, local: e.local, remote: e.remote, source: 'accept' });
        return;
      case 'tls.bind':
        this.fdByConn.set(connKey(e.pid, e.connId), e.fd);
        this.sockets.set(socketKey(e.pid, e.fd), { fd: e.fd, local: e.local, remote: e.remote, source: 'tls.bind' });
        return;
      case 'network.close':
        // Kept: the connection's last TLS bytes travel on the other ring and
        // may be read after this close. A reused fd is announced again by its
        // own connect/accept/bind, which overwrites the entry; the LRU bounds the rest.
        return;
      case 'process.exit':
        // Entries of a dead process age out of the LRU; nothing to walk here.
        return;
      default:
        return;
    }
  }

  /**
   * The socket of an SSL connection (key: connKey(pid, connId)), when known.
   * The result is shared with the table: read it, never change it.
   */
  lookup(pid: number, key: string, fd: number): Correlation | null {
    let useFd = fd;
    if (useFd < 0) useFd = this.fdByConn.get(key) ?? -1;
    else if (this.fdByConn.get(key) !== useFd) this.fdByConn.set(key, useFd);
    if (useFd < 0) return null;
    return this.sockets.get(socketKey(pid, useFd)) ?? { fd: useFd, local: null, remote: null };
  }
}
