/**
 * An ext_authz client that talks to hopguard the way Envoy does, built only from Envoy's official
 * protos (the data-plane-api copy shipped in @grpc/grpc-js-xds, with its googleapis, xds and
 * protoc-gen-validate neighbours). Nothing here imports hopguard's own proto/ folder, so a test
 * that passes through this client proves wire compatibility, not agreement with ourselves.
 *
 *   const client = createEnvoyClient(server.grpcAddress);
 *   const response = await client.check(envoyCheckRequest({ token, workload: 'spiffe://demo.local/ns/default/sa/api' }));
 *   const view = readCheckResponse(response);   // { allowed, reason, httpStatus, headers, body, metadata, ... }
 *   client.close();
 */
import { Buffer } from 'node:buffer';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { JsonValue } from '../../src/decision/types.js';

const DEPS = fileURLToPath(new URL('../../node_modules/@grpc/grpc-js-xds/deps/', import.meta.url));
/** validate.proto imports google/protobuf/descriptor.proto, which protobufjs ships as a file. */
const PROTOBUFJS = fileURLToPath(new URL('../../node_modules/protobufjs/', import.meta.url));

export const ENVOY_INCLUDE_DIRS = ['envoy-api', 'googleapis', 'xds', 'protoc-gen-validate'].map((dir) => DEPS + dir).concat(PROTOBUFJS);

/** The options hopguard's server decodes with; the official side uses the same for a like-for-like comparison. */
export const ENVOY_LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: false, oneofs: true };

export interface EnvoyProtos {
  readonly packageDefinition: protoLoader.PackageDefinition;
  /** Envoy's Authorization service: `Check.requestSerialize` / `responseDeserialize` are what a client runs. */
  readonly authorizationService: grpc.ServiceDefinition;
  /** envoy.type.v3.StatusCode name -> number ('Unauthorized' -> 401). */
  readonly httpStatusCodes: ReadonlyMap<string, number>;
}

let loaded: EnvoyProtos | undefined;

export function envoyProtos(): EnvoyProtos {
  if (loaded !== undefined) return loaded;
  const packageDefinition = protoLoader.loadSync('envoy/service/auth/v3/external_auth.proto', {
    ...ENVOY_LOADER_OPTIONS,
    includeDirs: ENVOY_INCLUDE_DIRS,
  });
  const statusEnum = packageDefinition['envoy.type.v3.StatusCode'] as protoLoader.EnumTypeDefinition;
  const values = (statusEnum.type as { value: { name: string; number: number }[] }).value;
  loaded = {
    packageDefinition,
    authorizationService: packageDefinition['envoy.service.auth.v3.Authorization'] as grpc.ServiceDefinition,
    httpStatusCodes: new Map(values.map(({ name, number }) => [name, number])),
  };
  return loaded;
}

/** A CheckResponse as the official protos decode it (snake_case, enums as names, oneof names). */
export type EnvoyCheckResponse = Record<string, unknown>;

export interface EnvoyClient {
  check(request: object, metadata?: grpc.Metadata, options?: grpc.CallOptions): Promise<EnvoyCheckResponse>;
  close(): void;
}

/** A plaintext client for `host:port`, calling `/envoy.service.auth.v3.Authorization/Check`. */
export function createEnvoyClient(address: string): EnvoyClient {
  const Client = grpc.makeGenericClientConstructor(envoyProtos().authorizationService, 'Authorization');
  const client = new Client(address, grpc.credentials.createInsecure());
  const call = client.Check as unknown as (
    request: object,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: (error: grpc.ServiceError | null, response?: EnvoyCheckResponse) => void,
  ) => void;
  return {
    check(request, metadata = new grpc.Metadata(), options = {}) {
      return new Promise((resolve, reject) => {
        call.call(client, request, metadata, options, (error, response) => {
          if (error !== null) reject(error);
          else resolve(response ?? {});
        });
      });
    },
    close() {
      client.close();
    },
  };
}

export interface EnvoyRequestOptions {
  /** Becomes `authorization: Bearer <token>`. */
  readonly token?: string;
  /** Joined headers (Envoy's default): lower-cased, sent in `attributes.request.http.headers`. */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * Raw header lines (Envoy's `encode_raw_headers: true`): sent in `header_map` as key + raw_value
   * bytes, duplicates kept apart. When given, the joined `headers` map is not sent, as in Envoy.
   */
  readonly rawHeaders?: readonly (readonly [name: string, value: string | Uint8Array])[];
  /** Sets context_extensions["hopguard.workload"]. */
  readonly workload?: string;
  /** The request line (default GET /orders?id=1 on api.demo.local over http). */
  readonly method?: string;
  readonly path?: string;
  readonly host?: string;
  readonly scheme?: string;
  readonly contextExtensions?: Readonly<Record<string, string>>;
  readonly destinationPrincipal?: string;
  readonly sourcePrincipal?: string;
  /** URL-encoded PEM, as Envoy sends with include_peer_certificate. */
  readonly sourceCertificate?: string;
}

/**
 * A CheckRequest shaped as Envoy builds it for an inbound HTTP/1.1 GET (check_request_utils.cc):
 * peer addresses, request time, pseudo-headers in the header map, the stream id as `id`.
 */
export function envoyCheckRequest(options: EnvoyRequestOptions = {}): object {
  const method = options.method ?? 'GET';
  const path = options.path ?? '/orders?id=1';
  const host = options.host ?? 'api.demo.local';
  const scheme = options.scheme ?? 'http';
  const joined: Record<string, string> = { ':authority': host, ':method': method, ':path': path, ':scheme': scheme, 'x-request-id': 'c0ffee00-0000-4000-8000-000000000001' };
  if (options.token !== undefined) joined.authorization = `Bearer ${options.token}`;
  for (const [name, value] of Object.entries(options.headers ?? {})) joined[name.toLowerCase()] = value;

  const http: Record<string, unknown> = {
    id: '1234567890',
    method,
    path,
    host,
    scheme,
    size: '0',
    protocol: 'HTTP/1.1',
  };
  if (options.rawHeaders === undefined) {
    http.headers = joined;
  } else {
    const lines = [...Object.entries(joined), ...options.rawHeaders];
    http.header_map = {
      headers: lines.map(([key, value]) => ({ key: key.toLowerCase(), raw_value: typeof value === 'string' ? Buffer.from(value, 'latin1') : value })),
    };
  }

  const contextExtensions: Record<string, string> = { ...options.contextExtensions };
  if (options.workload !== undefined) contextExtensions['hopguard.workload'] = options.workload;
  const source: Record<string, unknown> = { address: { socket_address: { address: '10.0.0.7', port_value: 43210 } } };
  if (options.sourcePrincipal !== undefined) source.principal = options.sourcePrincipal;
  if (options.sourceCertificate !== undefined) source.certificate = options.sourceCertificate;
  const destination: Record<string, unknown> = { address: { socket_address: { address: '10.0.0.9', port_value: 8080 } } };
  if (options.destinationPrincipal !== undefined) destination.principal = options.destinationPrincipal;

  return {
    attributes: {
      source,
      destination,
      request: { time: { seconds: '1767225600', nanos: 0 }, http },
      context_extensions: contextExtensions,
    },
  };
}

export interface CheckResponseView {
  /** As Envoy reads it: status.code 0 (or no status) allows. */
  readonly allowed: boolean;
  readonly grpcCode: number;
  /** status.message: hopguard's reason code on a denial, '' on an allow. */
  readonly reason: string;
  /** denied_response.status as a number; 200 for an allow; 403 when a denial sets none (Envoy's default). */
  readonly httpStatus: number;
  /** ok_response.headers or denied_response.headers, names lower-cased. */
  readonly headers: Readonly<Record<string, string>>;
  /** append_action per header name (undefined = APPEND_IF_EXISTS_OR_ADD, Envoy's default). */
  readonly appendActions: Readonly<Record<string, string | undefined>>;
  /** Whether any header option set the deprecated `append` field. */
  readonly appendFieldSet: boolean;
  readonly headersToRemove: readonly string[];
  /** denied_response.body parsed as JSON, or null when absent or not JSON. */
  readonly body: JsonValue;
  readonly metadata: { [key: string]: JsonValue };
}

type Loose = Record<string, unknown> | undefined;

function structToJson(struct: unknown): { [key: string]: JsonValue } {
  const fields = (struct as Loose)?.fields as Record<string, unknown> | undefined;
  return Object.fromEntries(Object.entries(fields ?? {}).map(([key, value]) => [key, valueToJson(value)]));
}

function valueToJson(value: unknown): JsonValue {
  const v = (value ?? {}) as Record<string, unknown>;
  if ('stringValue' in v) return v.stringValue as string;
  if ('numberValue' in v) return v.numberValue as number;
  if ('boolValue' in v) return v.boolValue as boolean;
  if ('structValue' in v) return structToJson(v.structValue);
  if ('listValue' in v) return (((v.listValue as Loose)?.values as unknown[] | undefined) ?? []).map(valueToJson);
  return null;
}

/** Reads a decoded CheckResponse into plain facts a test asserts on. */
export function readCheckResponse(response: EnvoyCheckResponse): CheckResponseView {
  const status = response.status as Loose;
  const grpcCode = typeof status?.code === 'number' ? status.code : 0;
  const ok = response.ok_response as Loose;
  const denied = response.denied_response as Loose;
  const options = ((ok ?? denied)?.headers as Record<string, unknown>[] | undefined) ?? [];
  const headers: Record<string, string> = {};
  const appendActions: Record<string, string | undefined> = {};
  for (const option of options) {
    const header = option.header as Loose;
    const key = String(header?.key ?? '').toLowerCase();
    headers[key] = String(header?.value ?? '');
    appendActions[key] = option.append_action as string | undefined;
  }
  let httpStatus = 200;
  if (grpcCode !== 0) {
    const code = (denied?.status as Loose)?.code;
    httpStatus = typeof code === 'number' ? code : (envoyProtos().httpStatusCodes.get(String(code)) ?? 0) || 403;
  }
  let body: JsonValue = null;
  if (typeof denied?.body === 'string') {
    try {
      body = JSON.parse(denied.body) as JsonValue;
    } catch {
      body = null;
    }
  }
  return {
    allowed: grpcCode === 0,
    grpcCode,
    reason: typeof status?.message === 'string' ? status.message : '',
    httpStatus,
    headers,
    appendActions,
    appendFieldSet: options.some((option) => option.append !== undefined && option.append !== null),
    headersToRemove: (ok?.headers_to_remove as string[] | undefined) ?? [],
    body,
    metadata: structToJson(response.dynamic_metadata),
  };
}
