/**
 * Loads an issuer's JWK Set over HTTP: straight from `jwksUri`, or through OIDC discovery
 * (`{issuer}/.well-known/openid-configuration`, whose `issuer` must equal the configured one).
 * The discovered jwks_uri is remembered and re-discovered once its own TTL ran out; a failed
 * re-discovery keeps the last known jwks_uri.
 */
import type { IssuerConfig } from '../../config/types.js';
import type { Clock } from '../../decision/types.js';
import { httpGet, KeySetFetchError, parseJsonBody } from './http-fetch.js';
import { TTL_WITHOUT_MAX_AGE_MS } from './defaults.js';

export type RemoteLoad =
  | { readonly kind: 'document'; readonly document: unknown; readonly etag: string | null; readonly maxAgeMs: number | null }
  | { readonly kind: 'not_modified'; readonly maxAgeMs: number | null };

export interface RemoteLoader {
  /** One attempt bounded by `timeoutMs` in total; `etag` is sent as If-None-Match. */
  load(etag: string | null): Promise<RemoteLoad>;
}

export function discoveryUrl(issuer: string): string {
  return `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
}

function originOf(url: string): string | null {
  try {
    return new URL(url).origin;
  } catch {
    return null;
  }
}

export function createRemoteLoader(issuer: IssuerConfig, clock: Clock, signal: AbortSignal): RemoteLoader {
  const settings = issuer.jwksCache;
  const fixedUri = issuer.source.kind === 'uri' ? issuer.source.uri : null;
  let discovered: { uri: string; expiresAtMs: number } | null = null;
  let etagUri: string | null = null;

  // The bearer token (a service-account token) is for the configured endpoint only: a discovered
  // jwks_uri on another origin (Kubernetes often publishes an external one) never receives it.
  const credentialOrigin = originOf(fixedUri ?? issuer.issuer);
  const get = (url: string, etag: string | null, deadline: number, accept: string) =>
    httpGet({
      url,
      etag,
      accept,
      signal,
      timeoutMs: Math.max(1, Math.ceil(deadline - performance.now())),
      maxBytes: settings.maxBytes,
      caFile: issuer.caFile,
      tokenFile: credentialOrigin !== null && originOf(url) === credentialOrigin ? issuer.tokenFile : null,
    });

  async function discover(deadline: number): Promise<string> {
    const result = await get(discoveryUrl(issuer.issuer), null, deadline, 'application/json');
    if (result.kind !== 'ok') throw new KeySetFetchError('error', 'unexpected 304 for discovery');
    const document = parseJsonBody(result.body) as Record<string, unknown> | null;
    if (typeof document !== 'object' || document === null || Array.isArray(document)) {
      throw new KeySetFetchError('invalid', 'the discovery document is not a JSON object');
    }
    if (document.issuer !== issuer.issuer) throw new KeySetFetchError('invalid', 'the discovery document names another issuer');
    const jwksUri = document.jwks_uri;
    if (typeof jwksUri !== 'string' || !/^https?:\/\/\S+$/.test(jwksUri) || !URL.canParse(jwksUri)) {
      throw new KeySetFetchError('invalid', 'the discovery document has no valid jwks_uri');
    }
    if (issuer.issuer.startsWith('https://') && !jwksUri.startsWith('https://')) {
      throw new KeySetFetchError('invalid', 'the discovered jwks_uri downgrades to http');
    }
    const ttl = Math.min(settings.maxTtlMs, Math.max(settings.minTtlMs, result.maxAgeMs ?? TTL_WITHOUT_MAX_AGE_MS));
    discovered = { uri: jwksUri, expiresAtMs: clock.nowMs() + ttl };
    return jwksUri;
  }

  async function jwksUri(deadline: number): Promise<string> {
    if (fixedUri !== null) return fixedUri;
    if (discovered !== null && clock.nowMs() < discovered.expiresAtMs) return discovered.uri;
    try {
      return await discover(deadline);
    } catch (error) {
      if (discovered !== null) return discovered.uri;
      throw error;
    }
  }

  return {
    async load(etag) {
      const deadline = performance.now() + settings.timeoutMs;
      const uri = await jwksUri(deadline);
      // An ETag belongs to the URL that issued it.
      const result = await get(uri, uri === etagUri ? etag : null, deadline, 'application/jwk-set+json, application/json');
      if (result.kind === 'not_modified') return { kind: 'not_modified', maxAgeMs: result.maxAgeMs };
      etagUri = uri;
      return { kind: 'document', document: parseJsonBody(result.body), etag: result.etag, maxAgeMs: result.maxAgeMs };
    },
  };
}
