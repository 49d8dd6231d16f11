/**
 * `hopguard explain`: the server's own pipeline, run once offline. Keys come from the configured
 * sources (a jwksUri is fetched); replay uses a throw-away memory store so nothing is burned.
 */
import type { HopguardConfig } from '../config/types.js';
import { createPipeline } from '../decision/pipeline.js';
import type { CheckInput, Clock, Decision } from '../decision/types.js';
import { reasonSpec } from '../decision/reasons.js';
import { createKeySetRegistry } from '../jwt/keysets/index.js';
import { createJoseSignatureVerifier } from '../jwt/signature.js';
import { createReplayStore } from '../replay/index.js';

const systemClock: Clock = { nowMs: () => Date.now() };

export async function explainDecision(
  config: HopguardConfig,
  request: {
    token: string;
    workload: string;
    source: string;
    method?: string;
    path?: string;
    host?: string;
    headers?: readonly (readonly [string, string])[];
    dpop?: string | null;
  },
): Promise<Decision> {
  const keySets = createKeySetRegistry(config.issuers.values(), { clock: systemClock });
  await keySets.start();
  const replay = createReplayStore({ ...config.replay, store: 'memory' }, { clock: systemClock });
  try {
    const pipeline = createPipeline({
      config,
      verifier: createJoseSignatureVerifier((issuer) => keySets.get(issuer)),
      replay,
      clock: systemClock,
      recordSteps: true,
    });
    const dpop = request.dpop ?? null;
    const headers = new Map<string, string[]>([['authorization', [`${dpop === null ? 'Bearer' : 'DPoP'} ${request.token}`]]]);
    if (dpop !== null) headers.set('dpop', [dpop]);
    for (const [name, value] of request.headers ?? []) {
      const values = headers.get(name);
      if (values === undefined || name === 'authorization') headers.set(name, [value]);
      else values.push(value);
    }
    const input: CheckInput = {
      request: { method: request.method ?? 'GET', path: request.path ?? '/', host: request.host || 'localhost', scheme: 'https' },
      headers,
      contextExtensions: { 'hopguard.workload': request.workload },
      destinationPrincipal: request.workload,
      sourcePrincipal: request.source,
      sourceCertificate: '',
    };
    return await pipeline.check(input);
  } finally {
    keySets.close();
    await replay.close();
  }
}

export function formatExplanation(decision: Decision): string {
  const lines = decision.steps.map(
    (step, index) => `${String(index + 1).padStart(2)}. ${step.step.padEnd(9)} ${step.passed ? 'pass' : 'FAIL'}  ${step.detail}`,
  );
  if (decision.allowed) {
    lines.push(decision.shadowReason ? `ALLOW (shadow mode; enforce would deny: ${decision.shadowReason})` : 'ALLOW');
  } else {
    const spec = reasonSpec(decision.reason);
    lines.push(`DENY ${decision.reason} (HTTP ${spec.http}${spec.error === null ? '' : `, ${spec.error}`}): ${decision.detail}`);
  }
  return lines.join('\n');
}
