// Attaches the SSL uprobes/uretprobes to each TLS library or executable found,
// once per file (device + inode), and remembers the links for detach. Go
// executables get plain uprobes by offset: at the entry and at every RET of
// crypto/tls.(*Conn).Write/Read.
import type { GoTlsPlan } from '../discovery/go-binary.js';
import type { TlsTarget } from '../discovery/tls-libraries.js';
import { ABI } from './layout.js';
import type { NativeSensor } from './native.js';

const PROGRAMS: Record<string, { entry: string; exit: string }> = {
  SSL_write: { entry: 'uprobe_ssl_write', exit: 'uretprobe_ssl_write' },
  SSL_read: { entry: 'uprobe_ssl_read', exit: 'uretprobe_ssl_read' },
  SSL_write_ex: { entry: 'uprobe_ssl_write_ex', exit: 'uretprobe_ssl_write_ex' },
  SSL_read_ex: { entry: 'uprobe_ssl_read_ex', exit: 'uretprobe_ssl_read_ex' },
  gnutls_record_send: { entry: 'uprobe_gnutls_send', exit: 'uretprobe_gnutls_send' },
  gnutls_record_recv: { entry: 'uprobe_gnutls_recv', exit: 'uretprobe_gnutls_recv' },
};

export interface AttachedTarget {
  target: TlsTarget;
  symbols: string[];
  links: number[];
}

export interface AttachFailure {
  target: TlsTarget;
  error: string;
}

export class TlsProbes {
  private readonly attached = new Map<string, AttachedTarget>();
  private nextGoLayout = 1;
  readonly failures: AttachFailure[] = [];

  constructor(
    private readonly sensor: NativeSensor,
    private readonly maxTargets = 1024,
  ) {}

  get targets(): AttachedTarget[] {
    return [...this.attached.values()];
  }

  /** Attaches every symbol the target has; all or nothing per target. */
  attach(target: TlsTarget): AttachedTarget | AttachFailure {
    const key = `${target.dev}:${target.inode}`;
    const existing = this.attached.get(key);
    if (existing) return existing;
    if (this.attached.size >= this.maxTargets) {
      const failure = { target, error: `not attached: already ${this.maxTargets} TLS targets (the cap)` };
      this.recordFailure(failure);
      return failure;
    }
    const links: number[] = [];
    const symbols: string[] = [];
    try {
      if (target.go) {
        this.attachGo(target.path, target.go, links);
        symbols.push(...target.symbols);
      } else {
        for (const symbol of target.symbols) {
          const progs = PROGRAMS[symbol];
          if (!progs) continue;
          links.push(this.sensor.attachUprobe(progs.entry, target.path, symbol, false));
          links.push(this.sensor.attachUprobe(progs.exit, target.path, symbol, true));
          symbols.push(symbol);
        }
      }
    } catch (err) {
      for (const id of links) this.sensor.detach(id);
      const failure = { target, error: err instanceof Error ? err.message : String(err) };
      this.recordFailure(failure);
      return failure;
    }
    const done = { target, symbols, links };
    this.attached.set(key, done);
    return done;
  }

  /**
   * Entry probes carry a cookie: the go_layouts slot of this executable's
   * *tls.Conn layout (0 = unknown, the kernel then binds through syscalls).
   * Slots are not reused: there are as many as attached targets can be.
   */
  private attachGo(path: string, plan: GoTlsPlan, links: number[]): void {
    let slot = 0;
    if (plan.layout && this.nextGoLayout < ABI.OISP_GO_LAYOUTS_MAX) {
      slot = this.nextGoLayout++;
      this.sensor.setGoLayout(slot, plan.layout);
    }
    links.push(this.sensor.attachUprobeAt('uprobe_go_write', path, plan.write.fileOffset, slot));
    links.push(this.sensor.attachUprobeAt('uprobe_go_read', path, plan.read.fileOffset, slot));
    for (const offset of [...plan.write.returnFileOffsets, ...plan.read.returnFileOffsets]) {
      links.push(this.sensor.attachUprobeAt('uprobe_go_ret', path, offset, slot));
    }
  }

  detachAll(): void {
    for (const a of this.attached.values()) for (const id of a.links) this.sensor.detach(id);
    this.attached.clear();
  }

  private recordFailure(f: AttachFailure): void {
    this.failures.push(f);
    if (this.failures.length > 100) this.failures.shift();
  }
}
