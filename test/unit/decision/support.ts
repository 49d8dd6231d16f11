/** Fakes of the pipeline's ports and builders of tokens, configs and inputs, shared by the decision tests. */
import { loadConfigObject } from '../../../src/config/load.js';
import type { HopguardConfig } from '../../../src/config/types.js';
import { createPipeline } from '../../../src/decision/pipeline.js';
import type { CheckInput, Decision, ReplayRecord, ReplayStore, SignatureOutcome, SignatureVerifier } from '../../../src/decision/types.js';

export const ISS = 'https://idp.example.com';
export const ORDERS = 'spiffe://cluster.local/ns/shop/sa/orders';
export const FRONTEND = 'spiffe://cluster.local/ns/shop/sa/frontend';
export const NOW_S = 1_800_000_000;

export function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export function token(claims: Record<string, unknown>, header: Record<string, unknown> = { alg: 'ES256', kid: 'k1' }): string {
  return `${b64(header)}.${b64(claims)}.c2lnbmF0dXJl`;
}

export function goodClaims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { iss: ISS, sub: FRONTEND, aud: ORDERS, jti: `jti-${Math.random()}`, iat: NOW_S - 10, exp: NOW_S + 300, ...extra };
}

export function config(overrides: Record<string, unknown> = {}, workload: Record<string, unknown> = {}): HopguardConfig {
  const loaded = loadConfigObject({
    issuers: [{ issuer: ISS, jwks: { keys: [] }, algorithms: ['ES256', 'RS256'] }, { issuer: 'https://other.example.com', jwks: { keys: [] }, algorithms: ['ES256'] }],
    workloads: [{ id: ORDERS, ...workload }],
    ...overrides,
  });
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  return loaded.config;
}

/** Trusts the payload; `failWith` simulates the key/signature outcomes of the real verifier. */
export function fakeVerifier(failWith?: Extract<SignatureOutcome, { ok: false }>): SignatureVerifier & { calls: number } {
  const verifier = {
    calls: 0,
    async verify(tokenText: string): Promise<SignatureOutcome> {
      verifier.calls += 1;
      if (failWith) return failWith;
      const payload = JSON.parse(Buffer.from(tokenText.split('.')[1] as string, 'base64url').toString());
      return { ok: true, claims: payload, keyId: 'k1' };
    },
  };
  return verifier;
}

export class FakeReplayStore implements ReplayStore {
  readonly records: ReplayRecord[] = [];
  private readonly seen = new Map<string, string>();
  failure: 'throw' | 'full' | null = null;

  async record(entry: ReplayRecord) {
    if (this.failure === 'throw') throw new Error('store down');
    if (this.failure === 'full') return 'store_full' as const;
    this.records.push(entry);
    const key = `${entry.workload}|${entry.issuer}|${entry.jti}`;
    const first = this.seen.get(key);
    if (first === undefined) {
      this.seen.set(key, entry.source);
      return 'fresh' as const;
    }
    return entry.mode === 'source-bound' && first === entry.source ? ('fresh' as const) : ('replayed' as const);
  }

  async close() {}
}

export function input(overrides: Partial<CheckInput> & { token?: string; authorization?: string[]; method?: string; path?: string } = {}): CheckInput {
  const authorization = overrides.authorization ?? (overrides.token === undefined ? [] : [`Bearer ${overrides.token}`]);
  const headers = new Map<string, string[]>();
  if (authorization.length > 0) headers.set('authorization', authorization);
  for (const [name, values] of overrides.headers ?? []) headers.set(name, [...values]);
  return {
    request: overrides.request ?? { method: overrides.method ?? 'GET', path: overrides.path ?? '/', host: 'orders.shop', scheme: 'https' },
    headers,
    contextExtensions: overrides.contextExtensions ?? {},
    destinationPrincipal: overrides.destinationPrincipal ?? ORDERS,
    sourcePrincipal: overrides.sourcePrincipal ?? FRONTEND,
    sourceCertificate: overrides.sourceCertificate ?? '',
  };
}

export function setup(cfg: HopguardConfig = config(), verifier: SignatureVerifier = fakeVerifier()) {
  const replay = new FakeReplayStore();
  const pipeline = createPipeline({ config: cfg, verifier, replay, clock: { nowMs: () => NOW_S * 1000 }, recordSteps: true });
  return { pipeline, replay };
}

export function reasonOf(decision: Decision): string {
  return decision.allowed ? 'allow' : decision.reason;
}
