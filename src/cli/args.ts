// Command-line parsing: `oisp-sensor [run|doctor] [flags] [-- command args…]`.
import { parseArgs } from 'node:util';

export interface CliArgs {
  command: 'run' | 'doctor' | 'help';
  /** Config overrides from flags, as convict keys. */
  overrides: Record<string, unknown>;
  /** The program to start and trace, after `--`. */
  exec: string[];
}

export const USAGE = `usage: oisp-sensor [run] [--format otlp|console|jsonl|events] [--pid PID]... [--comm NAME]... [-- COMMAND ARGS...]
       oisp-sensor doctor

  run      capture TLS plaintext, process, file and network events (default)
  doctor   check that this machine can run the sensor, and list the TLS libraries it would attach to

  --format F     otlp, console (readable spans and logs), jsonl (spans and logs as JSON)
                 or events (raw capture events as JSON); comma list; env OISP_EXPORTER
  --pid PID      trace only this process (repeatable); env OISP_FILTER_PIDS
  --comm NAME    trace only processes with this name (repeatable); env OISP_FILTER_COMMS
  -- COMMAND     start COMMAND, trace it and its children, exit with its exit code

Every option is also an environment variable: see the README's configuration table.`;

/** How each override is spelled on the command line, for error messages. */
export const FLAG_NAMES: Record<string, string> = { exporter: '--format', 'filter.pids': '--pid', 'filter.comms': '--comm' };

export class UsageError extends Error {
  override name = 'UsageError';
}

export function parseCli(argv: string[]): CliArgs {
  const dashdash = argv.indexOf('--');
  const own = dashdash >= 0 ? argv.slice(0, dashdash) : argv;
  const exec = dashdash >= 0 ? argv.slice(dashdash + 1) : [];
  let parsed;
  try {
    parsed = parseArgs({
      args: own,
      allowPositionals: true,
      options: {
        format: { type: 'string' },
        pid: { type: 'string', multiple: true },
        comm: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { command: 'help', overrides: {}, exec: [] };
  const sub = positionals[0] ?? 'run';
  if (sub !== 'run' && sub !== 'doctor') throw new UsageError(`unknown command "${sub}"`);
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
  if (dashdash >= 0 && exec.length === 0) throw new UsageError('nothing to run after "--"');
  const overrides: Record<string, unknown> = {};
  if (values.format !== undefined) overrides.exporter = values.format;
  if (values.pid) overrides['filter.pids'] = values.pid.join(',');
  if (values.comm) overrides['filter.comms'] = values.comm.join(',');
  return { command: sub, overrides, exec };
}
