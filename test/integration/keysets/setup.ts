/** Per-test wiring for key-set integration tests: a JWKS server, a manual clock, a recorder. */
import { afterEach, beforeEach } from 'vitest';
import type { IssuerConfig } from '../../../src/config/types.js';
import { createIssuerKeySet, type ManagedKeySet } from '../../../src/jwt/keysets/index.js';
import { generateTestKey, jwksOf, type TestKey } from '../../helpers/keys.js';
import { startJwksServer, type JwksServer } from '../../helpers/jwks-server.js';
import { createManualTime, fetchRecorder, issuerConfig, type ManualTime } from '../../unit/keysets/fixtures.js';

export interface Harness {
  server: JwksServer;
  time: ManualTime;
  keyA: TestKey;
  keyB: TestKey;
  /** A key set on the server's /jwks (or `config`), with random() = 0.5 so delays are exact. */
  make(overrides?: Parameters<typeof issuerConfig>[1], config?: IssuerConfig): { keySet: ManagedKeySet; recorder: ReturnType<typeof fetchRecorder> };
}

export function useHarness(): Harness {
  const harness = {} as Harness;
  const opened: ManagedKeySet[] = [];
  beforeEach(async () => {
    harness.server = await startJwksServer();
    harness.time = createManualTime();
    harness.keyA = await generateTestKey('ES256', { kid: 'a' });
    harness.keyB = await generateTestKey('ES256', { kid: 'b' });
    harness.server.setKeys(jwksOf(harness.keyA));
    harness.make = (overrides = {}, config) => {
      const recorder = fetchRecorder();
      const keySet = createIssuerKeySet(config ?? issuerConfig({ kind: 'uri', uri: harness.server.jwksUrl }, overrides), {
        clock: harness.time.clock,
        scheduler: harness.time.scheduler,
        onFetch: recorder.onFetch,
        random: () => 0.5,
      });
      opened.push(keySet);
      return { keySet, recorder };
    };
  });
  afterEach(async () => {
    for (const keySet of opened.splice(0)) keySet.close();
    await harness.server.close();
  });
  return harness;
}
