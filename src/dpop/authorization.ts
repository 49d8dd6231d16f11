/**
 * `authorization: DPoP <token>` (RFC 9449 §7.1) next to `Bearer`: the same rules as extractBearer
 * (one credential, a comma means two, a size cap), with the DPoP scheme recognised only where the
 * workload accepts DPoP; elsewhere it is an unknown scheme, token_missing, as SPEC says for mode off.
 */
import { Buffer } from 'node:buffer';
import { OVERSIZE_HEADER_VALUE, type Rejection } from '../jwt/compact.js';
import type { PresentedScheme } from './binding.js';

const SCHEME: Readonly<Record<string, PresentedScheme>> = { bearer: 'bearer', dpop: 'dpop' };

export type AuthorizationResult =
  | { readonly ok: true; readonly token: string; readonly scheme: PresentedScheme }
  | Rejection<'token_missing' | 'token_malformed' | 'token_too_large'>;

export function extractAuthorization(values: readonly string[] | undefined, maxTokenBytes: number, acceptDpop: boolean): AuthorizationResult {
  if (values === undefined || values.length === 0) return { ok: false, reason: 'token_missing', detail: 'no authorization header' };
  if (values.includes(OVERSIZE_HEADER_VALUE)) {
    return { ok: false, reason: 'token_too_large', detail: 'authorization header over maxHeaderBytes, or too many headers' };
  }
  const credentials = values.flatMap((value) => value.split(',')).map((part) => part.trim()).filter((part) => part !== '');
  const known = credentials.flatMap((credential) => {
    const scheme = SCHEME[(credential.split(/[ \t]/, 1)[0] ?? '').toLowerCase()];
    return scheme === undefined || (scheme === 'dpop' && !acceptDpop) ? [] : [{ scheme, credential }];
  });
  if (known.length === 0) return { ok: false, reason: 'token_missing', detail: acceptDpop ? 'no Bearer or DPoP credential' : 'no Bearer credential' };
  // Bearer and DPoP together is RFC 9449 §7.2's "multiple methods"; two of either is two tokens.
  if (credentials.length > 1) return { ok: false, reason: 'token_malformed', detail: `${credentials.length} credentials in authorization` };
  const { scheme, credential } = known[0] as { scheme: PresentedScheme; credential: string };
  const token = credential.slice(scheme.length).trim();
  if (token === '') return { ok: false, reason: 'token_malformed', detail: `empty ${scheme === 'dpop' ? 'DPoP' : 'Bearer'} credential` };
  const bytes = Buffer.byteLength(token, 'utf8');
  if (bytes > maxTokenBytes) return { ok: false, reason: 'token_too_large', detail: `${bytes} bytes, limit ${maxTokenBytes}` };
  return { ok: true, token, scheme };
}
