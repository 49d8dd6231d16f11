/** The pipeline's token extractor with only the default location: `authorization: Bearer` (and `DPoP` where accepted). */
import { extractToken } from '../../src/decision/token-locations.js';
import { NO_REQUEST, type CheckInput } from '../../src/decision/types.js';

export type AuthorizationResult =
  | { readonly ok: true; readonly token: string; readonly scheme: string }
  | { readonly ok: false; readonly reason: 'token_missing' | 'token_malformed' | 'token_too_large'; readonly detail: string };

export function extractAuthorization(values: readonly string[] | undefined, maxTokenBytes: number, dpopScheme = false): AuthorizationResult {
  const input: CheckInput = {
    request: NO_REQUEST,
    headers: new Map(values === undefined ? [] : [['authorization', values]]),
    contextExtensions: {},
    destinationPrincipal: '',
    sourcePrincipal: '',
    sourceCertificate: '',
  };
  const extracted = extractToken(input, [{ kind: 'header', header: 'authorization', scheme: 'bearer' }], maxTokenBytes, dpopScheme);
  return extracted.ok ? { ok: true, token: extracted.found.token, scheme: extracted.found.scheme } : extracted;
}
