#!/usr/bin/env -S node --max-semi-space-size=8
// oisp-sensor entry point: parse, configure, dispatch. Exit codes: 0 ok,
// 1 runtime failure, 2 bad configuration or usage.
import { ConfigError, loadConfig } from '../config.js';
import { PreflightError } from '../capture/preflight.js';
import { loadNativeBinding } from '../capture/native.js';
import { createLogger } from '../util/log.js';
import { FLAG_NAMES, parseCli, USAGE, UsageError } from './args.js';
import { formatChecks, runChecks } from './doctor.js';
import { runSensor } from './run.js';

async function main(argv: string[]): Promise<number> {
  let cli;
  let config;
  try {
    cli = parseCli(argv);
    if (cli.command === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    config = loadConfig(process.env, cli.overrides, FLAG_NAMES);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`oisp-sensor: ${err.message}\n${USAGE}\n`);
      return 2;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`oisp-sensor: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  if (cli.command === 'doctor') {
    const checks = await runChecks(config);
    process.stdout.write(`${formatChecks(checks)}\n`);
    return checks.every((c) => c.ok) ? 0 : 1;
  }
  try {
    return await runSensor({ config, exec: cli.exec, binding: loadNativeBinding(), log });
  } catch (err) {
    if (err instanceof PreflightError || (err instanceof Error && err.message.startsWith('the native addon'))) {
      process.stderr.write(`oisp-sensor: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`oisp-sensor: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
