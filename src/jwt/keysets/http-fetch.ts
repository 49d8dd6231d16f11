/**
 * One bounded HTTP GET with node:http/https: an overall deadline (connect, headers and body),
 * a streaming size cap, no redirects, an optional private CA and bearer token file, and
 * conditional requests. Everything a remote server controls is bounded here.
 */
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { MAX_CA_FILE_BYTES, MAX_TOKEN_FILE_BYTES } from './defaults.js';
import type { FetchOutcome } from '../keyset-types.js';

export interface HttpGetOptions {
  readonly url: string;
  readonly timeoutMs: number;
  readonly maxBytes: number;
  readonly etag: string | null;
  readonly caFile: string | null;
  readonly tokenFile: string | null;
  readonly accept: string;
  /** Aborts the request (the key set was closed). */
  readonly signal?: AbortSignal;
}

export type HttpGetResult =
  | { readonly kind: 'ok'; readonly body: Buffer; readonly etag: string | null; readonly maxAgeMs: number | null }
  | { readonly kind: 'not_modified'; readonly etag: string | null; readonly maxAgeMs: number | null };

/** A failed fetch: `outcome` is `error` (unreachable, HTTP status) or `invalid` (hostile or broken content). */
export class KeySetFetchError extends Error {
  readonly reason = 'jwks_unavailable' as const;
  constructor(
    readonly outcome: Extract<FetchOutcome, 'error' | 'invalid'>,
    readonly detail: string,
  ) {
    super(detail);
    this.name = 'KeySetFetchError';
  }
}

async function readSmallFile(path: string, limit: number, what: string): Promise<Buffer> {
  let content: Buffer;
  try {
    content = await readFile(path);
  } catch (error) {
    throw new KeySetFetchError('error', `cannot read ${what}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  if (content.length > limit) throw new KeySetFetchError('error', `${what} exceeds ${limit} bytes`);
  return content;
}

/** Seconds of `Cache-Control: max-age` minus `Age`, in ms; 0 for no-store/no-cache; null when absent. */
export function freshnessFromHeaders(headers: http.IncomingHttpHeaders): number | null {
  const cacheControl = String(headers['cache-control'] ?? '').toLowerCase();
  if (/(^|[\s,])(no-store|no-cache)([\s,=]|$)/.test(cacheControl)) return 0;
  const match = /(?:^|[\s,])max-age\s*=\s*"?(\d{1,10})"?/.exec(cacheControl);
  if (!match) return null;
  const age = /^\d{1,10}$/.test(String(headers.age ?? '')) ? Number(headers.age) : 0;
  return Math.max(0, Number(match[1]) - age) * 1000;
}

export async function httpGet(options: HttpGetOptions): Promise<HttpGetResult> {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new KeySetFetchError('error', 'not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new KeySetFetchError('error', `unsupported scheme ${url.protocol}`);
  const headers: Record<string, string> = { accept: options.accept, 'user-agent': 'hopguard' };
  if (options.etag !== null) headers['if-none-match'] = options.etag;
  if (options.tokenFile !== null) {
    // A bearer credential never travels in clear text.
    if (url.protocol !== 'https:') throw new KeySetFetchError('error', 'tokenFile needs an https:// URL');
    const token = (await readSmallFile(options.tokenFile, MAX_TOKEN_FILE_BYTES, 'tokenFile')).toString('utf8').trim();
    if (!/^[\x21-\x7e]+$/.test(token)) throw new KeySetFetchError('error', 'tokenFile does not hold a token');
    headers.authorization = `Bearer ${token}`;
  }
  const ca = options.caFile !== null && url.protocol === 'https:' ? await readSmallFile(options.caFile, MAX_CA_FILE_BYTES, 'caFile') : undefined;

  return new Promise<HttpGetResult>((resolve, reject) => {
    let settled = false;
    const finish = (error: KeySetFetchError | null, result?: HttpGetResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      if (error) {
        request.destroy();
        reject(error);
      } else resolve(result as HttpGetResult);
    };
    const requestOptions: https.RequestOptions = { method: 'GET', headers, agent: false, ...(ca ? { ca } : {}) };
    if (options.signal?.aborted) {
      reject(new KeySetFetchError('error', 'key set closed'));
      return;
    }
    const request = (url.protocol === 'https:' ? https : http).request(url, requestOptions, (response) => {
      const status = response.statusCode ?? 0;
      const etag = typeof response.headers.etag === 'string' ? response.headers.etag : null;
      const maxAgeMs = freshnessFromHeaders(response.headers);
      if (status === 304 && options.etag !== null) {
        response.resume();
        finish(null, { kind: 'not_modified', etag: etag ?? options.etag, maxAgeMs });
        return;
      }
      if (status !== 200) {
        response.resume();
        const hint = status >= 300 && status < 400 ? ' (redirects are not followed)' : '';
        finish(new KeySetFetchError('error', `HTTP ${status}${hint}`));
        return;
      }
      const declared = Number(response.headers['content-length']);
      if (Number.isFinite(declared) && declared > options.maxBytes) {
        finish(new KeySetFetchError('invalid', `response of ${declared} bytes exceeds ${options.maxBytes}`));
        return;
      }
      const chunks: Buffer[] = [];
      let received = 0;
      response.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > options.maxBytes) {
          finish(new KeySetFetchError('invalid', `response exceeds ${options.maxBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      response.on('end', () => finish(null, { kind: 'ok', body: Buffer.concat(chunks), etag, maxAgeMs }));
      response.on('error', () => finish(new KeySetFetchError('error', 'response aborted')));
      response.on('close', () => {
        if (!response.complete) finish(new KeySetFetchError('error', 'response aborted'));
      });
    });
    const deadline = setTimeout(() => finish(new KeySetFetchError('error', `timed out after ${options.timeoutMs} ms`)), options.timeoutMs);
    deadline.unref();
    const onAbort = (): void => finish(new KeySetFetchError('error', 'key set closed'));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    request.on('close', () => options.signal?.removeEventListener('abort', onAbort));
    request.on('error', (error: NodeJS.ErrnoException) => finish(new KeySetFetchError('error', `request failed: ${error.code ?? error.message}`)));
    request.end();
  });
}

/** Parses a fetched body as JSON; broken JSON is an `invalid` outcome. */
export function parseJsonBody(body: Buffer, what = 'the response'): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    throw new KeySetFetchError('invalid', `${what} is not JSON`);
  }
}
