/** Command-line parsing for `hopguard <command> [--flag value]...`, strict: unknown flags are errors. */
import { parseArgs } from 'node:util';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const USAGE = `usage:
  hopguard serve [--config FILE | --demo]   run the server (HOPGUARD_CONFIG works too; no config, or --demo: the demo)
  hopguard validate --config FILE           check a config; exit 0 when valid, else 1 with one line per error
  hopguard explain --config FILE --token T --workload ID [--source ID] [--method M] [--path P] [--host H] [--header K:V]... [--dpop PROOF]
                                            run the decision offline and print each step; exit 0 allow, 1 deny
  hopguard check --server HOST:PORT --token T --workload ID [--source ID] [--method M] [--path P] [--host H] [--header K:V]... [--dpop PROOF]
                                            send one CheckRequest as Envoy would; exit 0 allow, 1 deny, 2 error
  hopguard dpop-proof --key FILE --url URL [--method M] [--token T] [--nonce N]
                                            print a DPoP proof (--new-key FILE makes a key, --key FILE --jkt prints its thumbprint)
  (--method defaults to GET, --path to /; with --dpop the token is sent as authorization: DPoP)`;

const OPTIONS = {
  config: { type: 'string' },
  token: { type: 'string' },
  workload: { type: 'string' },
  source: { type: 'string' },
  server: { type: 'string' },
  header: { type: 'string', multiple: true },
  method: { type: 'string' },
  path: { type: 'string' },
  host: { type: 'string' },
  dpop: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  /** The embedded demo, whatever HOPGUARD_CONFIG says: the Helm chart's default values run it so. */
  demo: { type: 'boolean' },
} as const;

/** The request a check is about, as `--method`, `--path`, `--host` and `--header` give it. */
export interface RequestSpec {
  readonly method: string;
  readonly path: string;
  readonly host: string;
  readonly headers: readonly (readonly [string, string])[];
  /** A DPoP proof: sent as the `dpop` header, with the token as `authorization: DPoP`. */
  readonly dpop: string | null;
}

export type Command =
  | { readonly name: 'serve'; readonly configPath: string | null }
  | { readonly name: 'validate'; readonly configPath: string }
  | ({ readonly name: 'explain'; readonly configPath: string; readonly token: string; readonly workload: string; readonly source: string } & RequestSpec)
  | ({
      readonly name: 'check';
      readonly server: string;
      readonly token: string;
      readonly workload: string;
      readonly source: string;
    } & RequestSpec)
  | { readonly name: 'help' };

function required(values: Record<string, unknown>, name: string, command: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') throw new UsageError(`${command}: --${name} is required`);
  return value;
}

function headerPair(text: string): readonly [string, string] {
  const colon = text.indexOf(':');
  if (colon <= 0) throw new UsageError(`--header ${text}: expected NAME:VALUE`);
  return [text.slice(0, colon).trim().toLowerCase(), text.slice(colon + 1).trim()];
}

function requestSpec(values: { method?: string | undefined; path?: string | undefined; host?: string | undefined; header?: string[] | undefined; dpop?: string | undefined }): RequestSpec {
  return {
    method: values.method ?? 'GET',
    path: values.path ?? '/',
    host: values.host ?? '',
    headers: (values.header ?? []).map(headerPair),
    dpop: values.dpop ?? null,
  };
}

export function parseCommand(argv: readonly string[], env: NodeJS.ProcessEnv): Command {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  const name = positionals[0];
  if (values.help || name === undefined || name === 'help') return { name: 'help' };
  if (positionals.length > 1) throw new UsageError(`unexpected argument ${positionals[1]}`);
  switch (name) {
    case 'serve':
      if (values.demo) {
        if (values.config !== undefined) throw new UsageError('serve: --demo and --config exclude each other');
        return { name, configPath: null };
      }
      return { name, configPath: values.config ?? (env.HOPGUARD_CONFIG || null) };
    case 'validate':
      return { name, configPath: values.config ?? (env.HOPGUARD_CONFIG || required(values, 'config', name)) };
    case 'explain':
      return {
        name,
        configPath: values.config ?? (env.HOPGUARD_CONFIG || required(values, 'config', name)),
        token: required(values, 'token', name),
        workload: required(values, 'workload', name),
        source: values.source ?? '',
        ...requestSpec(values),
      };
    case 'check':
      return {
        name,
        server: required(values, 'server', name),
        token: required(values, 'token', name),
        workload: required(values, 'workload', name),
        source: values.source ?? '',
        ...requestSpec(values),
      };
    default:
      throw new UsageError(`unknown command ${name}`);
  }
}
