/** `hopguard check`: one CheckRequest, shaped as an Envoy sidecar would send it, and its decision. */
import * as grpc from '@grpc/grpc-js';
import { WORKLOAD_EXTENSION } from '../decision/pipeline.js';
import { hopguardProtos, type CheckResponse, type ProtoStruct, type ProtoValue } from '../transport/proto.js';

export interface CheckRequestSpec {
  readonly server: string;
  readonly token: string;
  readonly workload: string;
  readonly source: string;
  readonly headers: readonly (readonly [string, string])[];
  readonly method?: string;
  readonly path?: string;
  readonly host?: string;
  readonly dpop?: string | null;
  readonly timeoutMs?: number;
}

export interface CheckSummary {
  readonly allowed: boolean;
  readonly grpcStatus: number;
  readonly reason: string | null;
  readonly httpStatus: number;
  readonly headers: Record<string, string>;
  readonly headersToRemove: string[];
  readonly queryParametersToRemove: string[];
  readonly body: unknown;
  readonly metadata: Record<string, unknown>;
}

type AuthorizationClient = grpc.Client & {
  Check(request: unknown, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response?: CheckResponse) => void): void;
};

function valueOf(value: ProtoValue): unknown {
  if ('stringValue' in value) return value.stringValue;
  if ('numberValue' in value) return value.numberValue;
  if ('boolValue' in value) return value.boolValue;
  if ('structValue' in value) return structToObject(value.structValue);
  if ('listValue' in value) return (value.listValue.values ?? []).map(valueOf);
  return null;
}

function structToObject(struct: ProtoStruct | undefined): Record<string, unknown> {
  return Object.fromEntries(Object.entries(struct?.fields ?? {}).map(([key, value]) => [key, valueOf(value)]));
}

/** The loader decodes enums as names ('Unauthorized'); the summary shows the HTTP number. */
function httpStatusNumber(code: number | string | undefined): number {
  if (typeof code === 'number') return code;
  if (code === undefined) return 403;
  const statusEnum = hopguardProtos().packageDefinition['envoy.type.v3.StatusCode'] as
    | { type?: { value?: { name: string; number: number }[] } }
    | undefined;
  return statusEnum?.type?.value?.find((entry) => entry.name === code)?.number ?? 403;
}

export function summarise(response: CheckResponse): CheckSummary {
  const allowed = response.status?.code === 0 || response.status?.code === undefined;
  const denied = response.denied_response;
  const headerOptions = allowed ? (response.ok_response?.headers ?? []) : (denied?.headers ?? []);
  let body: unknown = denied?.body ?? null;
  try {
    body = typeof body === 'string' && body !== '' ? JSON.parse(body) : body;
  } catch {
    // keep the raw body
  }
  return {
    allowed,
    grpcStatus: response.status?.code ?? 0,
    reason: allowed ? null : (response.status?.message ?? null),
    httpStatus: allowed ? 200 : httpStatusNumber(denied?.status?.code),
    headers: Object.fromEntries(headerOptions.map((option) => [option.header.key, option.header.value])),
    headersToRemove: [...(response.ok_response?.headers_to_remove ?? [])],
    queryParametersToRemove: [...(response.ok_response?.query_parameters_to_remove ?? [])],
    body,
    metadata: structToObject(response.dynamic_metadata),
  };
}

export async function sendCheck(spec: CheckRequestSpec): Promise<CheckSummary> {
  const { packageDefinition } = hopguardProtos();
  const loaded = grpc.loadPackageDefinition(packageDefinition) as unknown as {
    envoy: { service: { auth: { v3: { Authorization: new (address: string, credentials: grpc.ChannelCredentials) => AuthorizationClient } } } };
  };
  const client = new loaded.envoy.service.auth.v3.Authorization(spec.server, grpc.credentials.createInsecure());
  // Repeated --header names are joined with a comma, as Envoy joins repeated headers.
  const dpop = spec.dpop ?? null;
  const joined = new Map<string, string>([['authorization', `${dpop === null ? 'Bearer' : 'DPoP'} ${spec.token}`]]);
  if (dpop !== null) joined.set('dpop', dpop);
  for (const [name, value] of spec.headers) {
    const previous = joined.get(name);
    joined.set(name, previous === undefined || name === 'authorization' ? value : `${previous},${value}`);
  }
  const headers = Object.fromEntries(joined);
  const request = {
    attributes: {
      source: spec.source === '' ? undefined : { principal: spec.source },
      destination: { principal: spec.workload },
      request: {
        http: { method: spec.method ?? 'GET', path: spec.path ?? '/', host: spec.host || 'hopguard-check', scheme: 'https', protocol: 'HTTP/2', headers },
      },
      context_extensions: { [WORKLOAD_EXTENSION]: spec.workload },
    },
  };
  try {
    const response = await new Promise<CheckResponse>((resolve, reject) => {
      client.Check(request, { deadline: Date.now() + (spec.timeoutMs ?? 5000) }, (error, reply) =>
        error || reply === undefined ? reject(error ?? new Error('empty response')) : resolve(reply),
      );
    });
    return summarise(response);
  } finally {
    client.close();
  }
}
