// One SensorEvent as one readable line, for a person watching the sensor.
import { formatAddress } from '../capture/address.js';
import type { SensorEvent } from '../capture/sensor.js';
import type { MonotonicClock } from '../util/clock.js';

const PREVIEW = 120;

/** Printable ASCII kept, CR/LF/TAB escaped, other bytes as '.'. */
export function previewBytes(data: Uint8Array, max = PREVIEW): string {
  let out = '';
  const n = Math.min(data.length, max);
  for (let i = 0; i < n; i++) {
    const c = data[i] ?? 0;
    if (c === 0x0d) out += '\\r';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x09) out += '\\t';
    else if (c >= 0x20 && c < 0x7f) out += String.fromCharCode(c);
    else out += '.';
  }
  return data.length > max ? `${out}…` : out;
}

export function eventToLine(e: SensorEvent, clock: MonotonicClock): string {
  const who = `${e.comm}[${e.pid}]`;
  const time = clock.toIso(e.tsNs).slice(11, 23);
  switch (e.type) {
    case 'tls.data': {
      const flags = `${e.truncated ? ' truncated' : ''}${e.incomplete ? ' incomplete' : ''}`;
      const peer = e.socket ? ` ${formatAddress(e.socket.remote)}` : '';
      return `${time} ${who} tls.${e.direction} ${e.totalLen}B${peer}${flags} "${previewBytes(e.data)}"`;
    }
    case 'tls.bind':
      return `${time} ${who} tls.bind fd=${e.fd} ${formatAddress(e.local)} -> ${formatAddress(e.remote)} (${e.how})`;
    case 'process.exec':
      return `${time} ${who} exec ${e.filename} ${JSON.stringify(e.argv)} ppid=${e.ppid}`;
    case 'process.exit':
      return `${time} ${who} exit code=${e.exitCode}${e.signal ? ` signal=${e.signal}` : ''}`;
    case 'file.open':
      return `${time} ${who} open ${e.path} ${e.result >= 0 ? `fd=${e.result}` : `error=${-e.result}`}`;
    case 'network.connect':
      return `${time} ${who} connect fd=${e.fd} -> ${formatAddress(e.remote)} result=${e.result}`;
    case 'network.accept':
      return `${time} ${who} accept fd=${e.fd} <- ${formatAddress(e.remote)}`;
    case 'network.close':
      return `${time} ${who} close fd=${e.fd}`;
    default: {
      const never: never = e;
      return never;
    }
  }
}
