/**
 * Envoy CheckRequest (as decoded by proto.ts, or any caller-built object) -> CheckInput.
 *
 * The request is untrusted data of unknown shape: nothing here throws, whatever it is given.
 * Only the headers the decision reads are kept, so memory stays bounded by the limits, not by
 * what the caller sent. Envoy sends headers one of two ways and both are read:
 * - `attributes.request.http.headers`: a map, lower-case names, repeated headers joined by ',';
 * - `attributes.request.http.header_map.headers[]`: key + raw_value bytes, one entry per header
 *   line, duplicates kept apart (Envoy's `encode_raw_headers: true`).
 * Values from both are concatenated in that order, so a header present in both counts twice
 * (two authorization values are two tokens, which the pipeline refuses).
 */
import { Buffer } from 'node:buffer';
import { BASE_DECISION_HEADERS } from '../decision/request-headers.js';
import { NO_REQUEST, OVERSIZE_PATH, type CheckInput, type RequestAttributes } from '../decision/types.js';
import { OVERSIZE_HEADER_VALUE } from '../jwt/compact.js';

/** The headers every config reads; `RequestLimits.decisionHeaders` adds the configured token locations. */
export const DECISION_HEADERS = BASE_DECISION_HEADERS;

/**
 * OVERSIZE_HEADER_VALUE stands in for a kept header whose value exceeded `maxHeaderBytes`, or for
 * `authorization` when more than `maxHeaders` decision headers arrived. Dropping such a value
 * could turn a denial into an allow (a second token silently gone), so the marker stays in its
 * place; the token guards report it as `token_too_large`.
 */
export { OVERSIZE_HEADER_VALUE };

export interface RequestLimits {
  /** At most this many decision-header values are kept. */
  readonly maxHeaders: number;
  /** A single header value longer than this (in bytes) is replaced by OVERSIZE_HEADER_VALUE. */
  readonly maxHeaderBytes: number;
  /** A path longer than this (in UTF-16 units, which bounds its bytes from below) becomes OVERSIZE_PATH. */
  readonly maxPathBytes?: number;
  /** The header names kept (lower case); default DECISION_HEADERS. */
  readonly decisionHeaders?: ReadonlySet<string>;
}

const DEFAULT_MAX_PATH_BYTES = 8192;

type UnknownRecord = Readonly<Record<string, unknown>>;

function recordAt(value: unknown, key: string): UnknownRecord | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const child = (value as UnknownRecord)[key];
  return typeof child === 'object' && child !== null && !Array.isArray(child) ? (child as UnknownRecord) : undefined;
}

function stringAt(value: UnknownRecord | undefined, key: string): string {
  const child = value?.[key];
  return typeof child === 'string' ? child : '';
}

/** Collects kept header values under the two limits (shared with check-request-decoder.ts). */
export class HeaderCollector {
  readonly headers = new Map<string, string[]>();
  private kept = 0;
  private overflowed = false;
  private readonly names: ReadonlySet<string>;

  constructor(private readonly limits: RequestLimits) {
    this.names = limits.decisionHeaders ?? DECISION_HEADERS;
  }

  /** `value` is a string, or raw bytes (read as latin1 so every byte maps to one character). */
  add(name: unknown, value: unknown): void {
    if (this.overflowed || typeof name !== 'string') return;
    // Names are short; anything long cannot be one of ours and is not worth lower-casing.
    if (name.length > 64) return;
    const lowerName = name.toLowerCase();
    if (!this.names.has(lowerName)) return;
    let text: string;
    if (typeof value === 'string') {
      text = Buffer.byteLength(value, 'utf8') > this.limits.maxHeaderBytes ? OVERSIZE_HEADER_VALUE : value;
    } else if (value instanceof Uint8Array) {
      text = value.byteLength > this.limits.maxHeaderBytes ? OVERSIZE_HEADER_VALUE : Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('latin1');
    } else {
      return;
    }
    if (this.kept >= this.limits.maxHeaders) {
      // More decision headers than any honest request carries: make sure the check denies.
      this.overflowed = true;
      this.headers.set('authorization', [OVERSIZE_HEADER_VALUE]);
      return;
    }
    this.kept += 1;
    const values = this.headers.get(lowerName);
    if (values === undefined) this.headers.set(lowerName, [text]);
    else values.push(text);
  }
}

/**
 * Envoy fills raw_value only, and proto3 does not send empty bytes, so an entry with neither is
 * an empty header line. A hand-built request may use value instead. Anything else is unreadable.
 */
function headerLineValue(value: unknown, rawValue: unknown): string | Uint8Array | undefined {
  if (rawValue instanceof Uint8Array && (rawValue.byteLength > 0 || typeof value !== 'string')) return rawValue;
  if (typeof value === 'string') return value;
  return rawValue === undefined || rawValue === null ? '' : undefined;
}

function collectHeaders(http: UnknownRecord | undefined, limits: RequestLimits): Map<string, string[]> {
  const collector = new HeaderCollector(limits);
  const joined = recordAt(http, 'headers');
  if (joined !== undefined) {
    for (const name of Object.keys(joined)) collector.add(name, joined[name]);
  }
  const entries = recordAt(http, 'header_map')?.headers;
  if (Array.isArray(entries)) {
    for (const entry of entries as unknown[]) {
      if (typeof entry !== 'object' || entry === null) continue;
      const { key, value, raw_value: rawValue } = entry as UnknownRecord;
      collector.add(key, headerLineValue(value, rawValue));
    }
  }
  return collector.headers;
}

/**
 * Context extensions come from Envoy's route configuration (operator data, not the caller's),
 * so every string entry is kept; `Object.fromEntries` makes even `__proto__` a plain key.
 */
function collectContextExtensions(attributes: UnknownRecord | undefined): Record<string, string> {
  const extensions = recordAt(attributes, 'context_extensions');
  if (extensions === undefined) return {};
  return Object.fromEntries(Object.entries(extensions).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
}

/** Method, path (bounded), host and scheme of the request; '' for anything missing or not a string. */
export function requestAttributesFrom(http: UnknownRecord | undefined, limits: RequestLimits): RequestAttributes {
  if (http === undefined) return NO_REQUEST;
  const path = stringAt(http, 'path');
  return {
    method: stringAt(http, 'method'),
    path: path.length > (limits.maxPathBytes ?? DEFAULT_MAX_PATH_BYTES) ? OVERSIZE_PATH : path,
    host: stringAt(http, 'host'),
    scheme: stringAt(http, 'scheme'),
  };
}

/** A request that nothing allows: no workload, no headers. */
function unreadable(): CheckInput {
  return { request: NO_REQUEST, headers: new Map(), contextExtensions: {}, destinationPrincipal: '', sourcePrincipal: '', sourceCertificate: '' };
}

export function checkInputFrom(request: unknown, limits: RequestLimits): CheckInput {
  try {
    const attributes = recordAt(request, 'attributes');
    const source = recordAt(attributes, 'source');
    const destination = recordAt(attributes, 'destination');
    const http = recordAt(recordAt(attributes, 'request'), 'http');
    return {
      request: requestAttributesFrom(http, limits),
      headers: collectHeaders(http, limits),
      contextExtensions: collectContextExtensions(attributes),
      destinationPrincipal: stringAt(destination, 'principal'),
      sourcePrincipal: stringAt(source, 'principal'),
      sourceCertificate: stringAt(source, 'certificate'),
    };
  } catch {
    // Only a hostile object (throwing getter, revoked proxy) gets here; half-read input could
    // have lost a second token, so fall back to one that is denied workload_unknown.
    return unreadable();
  }
}
