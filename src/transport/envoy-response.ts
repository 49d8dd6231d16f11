/**
 * Decision -> Envoy CheckResponse object (encoded by the Authorization service in proto.ts).
 *
 * Header mutations carry `append_action: OVERWRITE_IF_EXISTS_OR_ADD` and leave the deprecated
 * `append` unset. Envoy's gRPC client (through 1.37) reads only `append` for
 * OkHttpResponse.headers, where unset means false, which overwrites; newer code paths honour
 * `append_action` but let an explicitly set `append` win, and Envoy's header parser rejects the
 * two set together. Unset `append` plus the overwrite action therefore overwrites everywhere, so
 * a caller can never smuggle its own value of a header hopguard sets.
 */
import { deniedHttpResponse, GRPC_OK } from '../decision/reasons.js';
import type { Decision, JsonValue } from '../decision/types.js';
import type { CheckResponse, HeaderValueOption, ProtoStruct, ProtoValue } from './proto.js';

export function overwriteHeader(key: string, value: string): HeaderValueOption {
  return { header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' };
}

export function checkResponseFrom(decision: Decision): CheckResponse {
  if (decision.allowed) {
    const { metadata } = decision;
    const dynamicMetadata: Record<string, JsonValue> = {
      iss: metadata.iss,
      sub: metadata.sub,
      aud: [...metadata.aud],
      jti: metadata.jti,
      exp: metadata.exp,
      workload: metadata.workload,
      source: metadata.source,
    };
    if (decision.operation !== '') dynamicMetadata.operation = decision.operation;
    if (metadata.dpopJkt !== '') dynamicMetadata.dpop_jkt = metadata.dpopJkt;
    if (metadata.txn !== '') dynamicMetadata.txn = metadata.txn;
    if (decision.shadowReason !== null) dynamicMetadata.shadowReason = decision.shadowReason;
    if (decision.audit.storeError) dynamicMetadata.storeError = true;
    return {
      status: { code: GRPC_OK },
      ok_response: {
        headers: decision.headersToSet.map(([name, value]) => overwriteHeader(name, value)),
        headers_to_remove: [...decision.headersToRemove],
        ...(decision.queryParametersToRemove.length > 0 ? { query_parameters_to_remove: [...decision.queryParametersToRemove] } : {}),
      },
      dynamic_metadata: structFrom(dynamicMetadata),
    };
  }
  const denied = deniedHttpResponse(decision.reason, decision.workload, decision.denialHeaders);
  return {
    // A non-OK status inside a successful RPC is a denial; a failed RPC would be an Envoy error.
    status: { code: denied.grpcCode, message: decision.reason },
    denied_response: {
      status: { code: denied.httpStatus },
      headers: Object.entries(denied.headers).map(([name, value]) => overwriteHeader(name, value)),
      body: denied.body,
    },
    dynamic_metadata: structFrom({ reason: decision.reason, workload: decision.workload }),
  };
}

// ---- google.protobuf.Struct <-> plain JSON ----

function protoValueFrom(value: JsonValue | undefined): ProtoValue {
  if (value === null || value === undefined) return { nullValue: 'NULL_VALUE' };
  switch (typeof value) {
    case 'string':
      return { stringValue: value };
    case 'number':
      return { numberValue: value };
    case 'boolean':
      return { boolValue: value };
    default:
      return Array.isArray(value) ? { listValue: { values: value.map(protoValueFrom) } } : { structValue: structFrom(value) };
  }
}

/** A plain JSON object as a google.protobuf.Struct object; undefined members are left out. */
export function structFrom(object: Readonly<Record<string, JsonValue | undefined>>): ProtoStruct {
  const entries = Object.entries(object).filter((entry): entry is [string, JsonValue] => entry[1] !== undefined);
  // fromEntries defines own properties, so even a `__proto__` key stays a plain field.
  return { fields: Object.fromEntries(entries.map(([key, value]) => [key, protoValueFrom(value)])) };
}

/** Nesting deeper than this is returned as null: a decoded Struct is caller data too. */
const MAX_STRUCT_DEPTH = 64;

function jsonFromProtoValue(value: unknown, depth: number): JsonValue {
  if (typeof value !== 'object' || value === null || depth > MAX_STRUCT_DEPTH) return null;
  const v = value as Record<string, unknown>;
  if (typeof v.stringValue === 'string') return v.stringValue;
  if (typeof v.numberValue === 'number') return v.numberValue;
  if (typeof v.boolValue === 'boolean') return v.boolValue;
  if (typeof v.structValue === 'object' && v.structValue !== null) return jsonFromStruct(v.structValue, depth + 1);
  if (typeof v.listValue === 'object' && v.listValue !== null) {
    const values = (v.listValue as Record<string, unknown>).values;
    return Array.isArray(values) ? values.map((item: unknown) => jsonFromProtoValue(item, depth + 1)) : [];
  }
  return null;
}

function jsonFromStruct(struct: unknown, depth: number): { [key: string]: JsonValue } {
  const result: { [key: string]: JsonValue } = {};
  if (typeof struct !== 'object' || struct === null) return result;
  const fields = (struct as Record<string, unknown>).fields;
  if (typeof fields !== 'object' || fields === null) return result;
  for (const [key, value] of Object.entries(fields)) {
    Object.defineProperty(result, key, { value: jsonFromProtoValue(value, depth), enumerable: true, writable: true, configurable: true });
  }
  return result;
}

/** A decoded (or built) google.protobuf.Struct object back to plain JSON; never throws on shape. */
export function jsonFromProtoStruct(struct: unknown): { [key: string]: JsonValue } {
  return jsonFromStruct(struct, 0);
}
