#!/usr/bin/env node
/** hopguard's command line: serve | validate | explain | check (see SPEC.md "Commands"). */
// Commands import what they need when they run: `validate` should not pay for gRPC or Redis.
import { fileURLToPath } from 'node:url';
import { loadConfigFile } from './config/load.js';
import type { HopguardConfig } from './config/types.js';
import { parseCommand, USAGE, UsageError, type Command } from './cli/args.js';

const EXIT_ALLOW = 0;
const EXIT_DENY = 1;
const EXIT_ERROR = 2;

async function configOrExit(path: string): Promise<HopguardConfig> {
  const loaded = await loadConfigFile(path);
  if (!loaded.ok) {
    for (const error of loaded.errors) process.stderr.write(`${error}\n`);
    process.exit(EXIT_DENY);
  }
  return loaded.config;
}

async function serve(configPath: string | null): Promise<void> {
  const workers = await import('./workers.js');
  if (workers.isClusterWorker()) {
    workers.runClusterWorker();
    return;
  }
  const { readFile } = await import('node:fs/promises');
  const { createDemo, demoBanner } = await import('./demo/demo.js');
  const demo =
    configPath === null
      ? await createDemo({
          ...(process.env.HOPGUARD_DEMO_GRPC ? { grpc: process.env.HOPGUARD_DEMO_GRPC } : {}),
          ...(process.env.HOPGUARD_DEMO_ADMIN ? { admin: process.env.HOPGUARD_DEMO_ADMIN } : {}),
        })
      : null;
  const config = demo?.config ?? (await configOrExit(configPath as string));
  // The text the config came from: reloads compare against it, workers receive it.
  const configText = configPath === null ? null : await readFile(configPath, 'utf8').catch(() => '');
  const announce = (at: { grpc: string; http: string | null; admin: string | null; workers: number }) => {
    const parts = [`grpc ${at.grpc}`, at.http ? `http ${at.http}` : null, at.admin ? `admin ${at.admin}` : null, at.workers > 1 ? `workers ${at.workers}` : null];
    process.stdout.write(`hopguard listening: ${parts.filter(Boolean).join(' ')}\n`);
    if (demo) process.stdout.write(`${demoBanner(demo, fileURLToPath(import.meta.url), at.grpc)}\n`);
  };
  try {
    if (workers.workerCount(config) > 1 && configPath !== null && configText !== null) {
      await workers.serveCluster({ configPath, config, configText, announce });
      return;
    }
    await workers.serveSingleProcess({ configPath, config, configText, announce, ...(demo ? { onStopped: () => demo.close() } : {}) });
  } catch (error) {
    await demo?.close();
    const { ListenError } = await import('./transport/listen-error.js');
    if (demo && error instanceof ListenError && error.listener !== 'http') {
      const variable = error.listener === 'grpc' ? 'HOPGUARD_DEMO_GRPC' : 'HOPGUARD_DEMO_ADMIN';
      throw error.withHint(`the demo listens there unless ${variable} names another address, such as ${variable}=127.0.0.1:0`);
    }
    throw error;
  }
}

async function run(command: Command): Promise<number | null> {
  switch (command.name) {
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return EXIT_ALLOW;
    case 'serve':
      await serve(command.configPath);
      return null;
    case 'validate': {
      const loaded = await loadConfigFile(command.configPath);
      if (loaded.ok) {
        process.stdout.write(`${command.configPath}: valid (${loaded.config.issuers.size} issuer(s), ${loaded.config.workloads.size} workload(s))\n`);
        return EXIT_ALLOW;
      }
      for (const error of loaded.errors) process.stdout.write(`${error}\n`);
      return EXIT_DENY;
    }
    case 'explain': {
      const config = await configOrExit(command.configPath);
      const { explainDecision, formatExplanation } = await import('./cli/explain.js');
      const decision = await explainDecision(config, command);
      process.stdout.write(`${formatExplanation(decision)}\n`);
      return decision.allowed ? EXIT_ALLOW : EXIT_DENY;
    }
    case 'check': {
      try {
        const { sendCheck } = await import('./cli/check.js');
        const summary = await sendCheck(command);
        process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
        return summary.allowed ? EXIT_ALLOW : EXIT_DENY;
      } catch (error) {
        process.stderr.write(`hopguard check: ${(error as Error).message}\n`);
        return EXIT_ERROR;
      }
    }
  }
}

async function main(): Promise<void> {
  // dpop-proof has flags of its own (src/cli/dpop-proof.ts), so it is dispatched before parseCommand.
  if (process.argv[2] === 'dpop-proof') {
    const { runDpopProofCommand } = await import('./cli/dpop-proof.js');
    process.exit(await runDpopProofCommand(process.argv.slice(3)));
  }
  let command: Command;
  try {
    command = parseCommand(process.argv.slice(2), process.env);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`hopguard: ${error.message}\n${USAGE}\n`);
      process.exit(EXIT_ERROR);
    }
    throw error;
  }
  const code = await run(command);
  if (code !== null) process.exit(code);
}

main().catch((error: unknown) => {
  // What a user can fix (a busy port) is one line; anything else is a bug, and its stack helps.
  const oneLine = (error as Error)?.name === 'ListenError';
  process.stderr.write(`hopguard: ${oneLine ? (error as Error).message : ((error as Error)?.stack ?? String(error))}\n`);
  process.exit(EXIT_ERROR);
});
