/**
 * Loads hopguard's own ext_authz and health protos (proto/) and describes, as TypeScript, the
 * decoded CheckRequest and the CheckResponse object handed to the encoder. The objects follow the
 * loader options below: snake_case names, int64 as strings, enums as names, absent fields
 * undefined, and a virtual property naming the set member of each oneof.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { encodeCheckResponse } from './check-response-encoder.js';

const AUTHORIZATION_PROTO = 'envoy/service/auth/v3/external_auth.proto';
const HEALTH_PROTO = 'grpc/health/v1/health.proto';

export const AUTHORIZATION_SERVICE_NAME = 'envoy.service.auth.v3.Authorization';
export const HEALTH_SERVICE_NAME = 'grpc.health.v1.Health';
/** The gRPC path Envoy calls. */
export const CHECK_METHOD_PATH = `/${AUTHORIZATION_SERVICE_NAME}/Check`;

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
};

/**
 * The repository's proto/ folder, from src/transport (vitest, tsx) and from dist/src/transport
 * (compiled) alike: the nearest ancestor holding package.json and our protos.
 */
export function protoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'proto', AUTHORIZATION_PROTO))) return join(dir, 'proto');
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`hopguard protos not found above ${dirname(fileURLToPath(import.meta.url))}`);
    dir = parent;
  }
}

export interface HopguardProtos {
  readonly packageDefinition: protoLoader.PackageDefinition;
  /**
   * Pass to `server.addService`; its Check entry also (de)serializes exactly as the server does.
   * Check's responses are encoded by check-response-encoder.ts (the same bytes as proto-loader's
   * serializer, several times faster); `packageDefinition` keeps proto-loader's own.
   */
  readonly authorizationService: ServiceDefinition;
  readonly healthService: ServiceDefinition;
}

let loaded: HopguardProtos | undefined;

export function hopguardProtos(): HopguardProtos {
  if (loaded !== undefined) return loaded;
  const packageDefinition = protoLoader.loadSync([AUTHORIZATION_PROTO, HEALTH_PROTO], {
    ...LOADER_OPTIONS,
    includeDirs: [protoRoot()],
  });
  const authorization = packageDefinition[AUTHORIZATION_SERVICE_NAME] as ServiceDefinition;
  const check = authorization.Check;
  if (check === undefined) throw new Error(`${AUTHORIZATION_SERVICE_NAME} has no Check method in ${AUTHORIZATION_PROTO}`);
  loaded = {
    packageDefinition,
    authorizationService: { ...authorization, Check: { ...check, responseSerialize: encodeCheckResponse } },
    healthService: packageDefinition[HEALTH_SERVICE_NAME] as ServiceDefinition,
  };
  return loaded;
}

// ---- google.protobuf.Struct (protobufjs' bundled definition uses camelCase member names) ----

export type ProtoValue =
  | { readonly nullValue: 'NULL_VALUE' | 0; readonly kind?: 'nullValue' }
  | { readonly numberValue: number; readonly kind?: 'numberValue' }
  | { readonly stringValue: string; readonly kind?: 'stringValue' }
  | { readonly boolValue: boolean; readonly kind?: 'boolValue' }
  | { readonly structValue: ProtoStruct; readonly kind?: 'structValue' }
  | { readonly listValue: { readonly values?: readonly ProtoValue[] }; readonly kind?: 'listValue' };

export interface ProtoStruct {
  readonly fields?: Readonly<Record<string, ProtoValue>>;
}

// ---- decoded CheckRequest (only what hopguard may read; everything optional) ----

export interface DecodedAddress {
  readonly socket_address?: { readonly address?: string; readonly port_value?: number; readonly named_port?: string };
  readonly address?: string;
}

export interface DecodedPeer {
  readonly address?: DecodedAddress;
  readonly service?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly principal?: string;
  readonly certificate?: string;
}

export interface DecodedHeaderValue {
  readonly key?: string;
  readonly value?: string;
  readonly raw_value?: Uint8Array;
}

export interface DecodedHttpRequest {
  readonly id?: string;
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly header_map?: { readonly headers?: readonly DecodedHeaderValue[] };
  readonly path?: string;
  readonly host?: string;
  readonly scheme?: string;
  readonly size?: string;
  readonly protocol?: string;
}

export interface DecodedAttributeContext {
  readonly source?: DecodedPeer;
  readonly destination?: DecodedPeer;
  readonly request?: {
    readonly time?: { readonly seconds?: string; readonly nanos?: number };
    readonly http?: DecodedHttpRequest;
  };
  readonly context_extensions?: Readonly<Record<string, string>>;
  readonly metadata_context?: { readonly filter_metadata?: Readonly<Record<string, ProtoStruct>> };
  readonly route_metadata_context?: { readonly filter_metadata?: Readonly<Record<string, ProtoStruct>> };
  readonly tls_session?: { readonly sni?: string };
}

export interface DecodedCheckRequest {
  readonly attributes?: DecodedAttributeContext;
}

// ---- CheckResponse as handed to the encoder ----

export type HeaderAppendAction = 'APPEND_IF_EXISTS_OR_ADD' | 'ADD_IF_ABSENT' | 'OVERWRITE_IF_EXISTS_OR_ADD' | 'OVERWRITE_IF_EXISTS';

export interface HeaderValueOption {
  readonly header: { readonly key: string; readonly value: string };
  /** Deprecated by Envoy; never set together with append_action. */
  readonly append?: { readonly value: boolean };
  readonly append_action?: HeaderAppendAction;
  readonly keep_empty_value?: boolean;
}

export interface DeniedHttpResponse {
  /** An envoy.type.v3.StatusCode: the HTTP status number (401). */
  readonly status?: { readonly code: number };
  readonly headers?: readonly HeaderValueOption[];
  readonly body?: string;
}

export interface OkHttpResponse {
  readonly headers?: readonly HeaderValueOption[];
  readonly headers_to_remove?: readonly string[];
  readonly response_headers_to_add?: readonly HeaderValueOption[];
  readonly query_parameters_to_set?: readonly { readonly key: string; readonly value: string }[];
  readonly query_parameters_to_remove?: readonly string[];
}

export interface CheckResponse {
  readonly status: { readonly code: number; readonly message?: string };
  readonly denied_response?: DeniedHttpResponse;
  readonly ok_response?: OkHttpResponse;
  readonly error_response?: DeniedHttpResponse;
  readonly dynamic_metadata?: ProtoStruct;
}
