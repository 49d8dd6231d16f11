/**
 * Proves that envoy/*.yaml are Envoy bootstrap configs that Envoy itself would accept, as far as
 * the schema goes: each YAML is read as an `envoy.config.bootstrap.v3.Bootstrap` with Envoy's
 * official protos (from @grpc/grpc-js-xds), strictly, the way Envoy's own loader reads it (the
 * proto3 JSON mapping). An unknown field, a wrong type, a deprecated field, two members of a
 * oneof, an `@type` that names no loaded message, or a broken protoc-gen-validate rule anywhere,
 * including inside `typed_config` Any messages, fails.
 *
 * protobufjs's own `Type.fromObject` ignores unknown keys, so the walk over the fields is done
 * here; protobufjs only supplies the descriptors and, at the end, encodes the result to bytes.
 */
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const depsDir = path.join(repoRoot, 'node_modules/@grpc/grpc-js-xds/deps');
const includeDirs = [
  path.join(depsDir, 'envoy-api'),
  path.join(depsDir, 'googleapis'),
  path.join(depsDir, 'xds'),
  path.join(depsDir, 'protoc-gen-validate'),
  path.join(repoRoot, 'node_modules/protobufjs'), // google/protobuf/descriptor.proto
];

/** Every proto whose messages the configs name by `@type`, loaded explicitly. */
const ENVOY_PROTOS = [
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
];

const ENVOY_CONFIGS = ['envoy/sidecar.yaml', 'envoy/front-proxy.yaml'];

function loadEnvoyProtos(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    if (path.isAbsolute(target)) return target;
    for (const dir of includeDirs) {
      const candidate = path.join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    return target; // google/protobuf/{any,duration,struct,...}.proto are built into protobufjs
  };
  root.loadSync(ENVOY_PROTOS, { keepCase: true });
  root.resolveAll();
  return root;
}

// ---------------------------------------------------------------------------------------------
// Strict proto3-JSON reader
// ---------------------------------------------------------------------------------------------

class ProtoJsonError extends Error {
  constructor(
    readonly at: string,
    readonly problem: string,
  ) {
    super(`${at || '<root>'}: ${problem}`);
  }
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Plain = Record<string, unknown>;

const isObject = (value: unknown): value is Record<string, Json> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const describeJson = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`;

/** protoc's ToJsonName: `foo_bar_baz` -> `fooBarBaz`. */
function jsonNameOf(protoName: string): string {
  return protoName.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

const INT_RANGES: Record<string, [bigint, bigint]> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  sint32: [-(2n ** 31n), 2n ** 31n - 1n],
  sfixed32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  fixed32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  sint64: [-(2n ** 63n), 2n ** 63n - 1n],
  sfixed64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  fixed64: [0n, 2n ** 64n - 1n],
};

const WRAPPERS: Record<string, string> = {
  'google.protobuf.DoubleValue': 'double',
  'google.protobuf.FloatValue': 'float',
  'google.protobuf.Int64Value': 'int64',
  'google.protobuf.UInt64Value': 'uint64',
  'google.protobuf.Int32Value': 'int32',
  'google.protobuf.UInt32Value': 'uint32',
  'google.protobuf.BoolValue': 'bool',
  'google.protobuf.StringValue': 'string',
  'google.protobuf.BytesValue': 'bytes',
};

/** TypedStruct carries an untyped Struct: nothing inside it could be checked, so it is refused. */
const UNCHECKABLE_TYPES = new Set(['xds.type.v3.TypedStruct', 'udpa.type.v1.TypedStruct']);

const DURATION_TEXT = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/;
const MAX_DURATION_SECONDS = 315_576_000_000n;
const TIMESTAMP_TEXT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

class StrictProtoJson {
  constructor(private readonly root: protobuf.Root) {}

  /** Reads `json` as message `typeName`; returns an object for protobufjs's `fromObject`. */
  read(typeName: string, json: unknown): Plain {
    return this.message(this.root.lookupType(typeName), json, '') as Plain;
  }

  private message(type: protobuf.Type, json: unknown, at: string): unknown {
    const special = this.wellKnown(type, json, at);
    if (special !== undefined) return special;
    if (!isObject(json)) throw new ProtoJsonError(at, `${type.name} must be an object, got ${describeJson(json)}`);

    const byJsonKey = new Map<string, protobuf.Field>();
    for (const field of type.fieldsArray) {
      byJsonKey.set(field.name, field);
      byJsonKey.set(jsonNameOf(field.name), field);
    }
    const out: Plain = {};
    const seen = new Map<string, string>(); // field name -> key used
    const oneofMember = new Map<string, string>();
    for (const [key, value] of Object.entries(json)) {
      const here = at ? `${at}.${key}` : key;
      const field = byJsonKey.get(key);
      if (!field) throw new ProtoJsonError(here, `unknown field of ${type.fullName.slice(1)}`);
      const earlier = seen.get(field.name);
      if (earlier !== undefined) throw new ProtoJsonError(here, `field given twice (also as ${earlier})`);
      seen.set(field.name, key);
      if (field.options?.['deprecated'] === true) throw new ProtoJsonError(here, 'deprecated field');
      if (value === null && field.resolvedType?.fullName !== '.google.protobuf.Value') continue; // null = unset
      const oneof = field.partOf;
      if (oneof) {
        const other = oneofMember.get(oneof.name);
        if (other !== undefined) throw new ProtoJsonError(here, `oneof ${oneof.name} already has ${other}`);
        oneofMember.set(oneof.name, field.name);
      }
      out[field.name] = this.fieldValue(field, value, here);
      checkValidateRules(field, value, here);
    }
    for (const field of type.fieldsArray) {
      // In a oneof, `required` binds only the member that is chosen (protoc-gen-validate).
      if (field.partOf) continue;
      const present = out[field.name] !== undefined;
      const opts = field.options ?? {};
      if (!present && (opts['(validate.rules).message.required'] || opts['(validate.rules).duration.required'] || opts['(validate.rules).any.required'])) {
        throw new ProtoJsonError(at ? `${at}.${field.name}` : field.name, 'required by protoc-gen-validate');
      }
    }
    for (const oneof of type.oneofsArray) {
      if (oneof.options?.['(validate.required)'] && !oneofMember.has(oneof.name)) {
        throw new ProtoJsonError(at, `${type.name} needs one of ${oneof.oneof.join(', ')}`);
      }
    }
    return out;
  }

  private fieldValue(field: protobuf.Field, value: Json, at: string): unknown {
    if (field.map) {
      if (!isObject(value)) throw new ProtoJsonError(at, `map must be an object, got ${describeJson(value)}`);
      const out: Plain = {};
      for (const [key, entry] of Object.entries(value)) {
        const mapField = field as protobuf.MapField;
        if (mapField.keyType === 'bool' && key !== 'true' && key !== 'false') throw new ProtoJsonError(`${at}.${key}`, 'bool map key');
        if (mapField.keyType !== 'string' && mapField.keyType !== 'bool') this.scalar(mapField.keyType, key, `${at}.${key}`);
        out[key] = this.single(field, entry, `${at}.${key}`);
      }
      return out;
    }
    if (field.repeated) {
      if (!Array.isArray(value)) throw new ProtoJsonError(at, `repeated field must be an array, got ${describeJson(value)}`);
      return value.map((item, index) => {
        if (item === null) throw new ProtoJsonError(`${at}[${index}]`, 'null in a repeated field');
        return this.single(field, item, `${at}[${index}]`);
      });
    }
    return this.single(field, value, at);
  }

  private single(field: protobuf.Field, value: Json, at: string): unknown {
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Type) return this.message(resolved, value, at);
    if (resolved instanceof protobuf.Enum) return this.enumValue(resolved, value, at);
    return this.scalar(field.type, value, at);
  }

  private enumValue(enumType: protobuf.Enum, value: Json, at: string): number {
    if (enumType.fullName === '.google.protobuf.NullValue') {
      if (value !== null && value !== 'NULL_VALUE') throw new ProtoJsonError(at, 'NullValue must be null');
      return 0;
    }
    let name: string | undefined;
    if (typeof value === 'string') name = Object.hasOwn(enumType.values, value) ? value : undefined;
    else if (typeof value === 'number') name = enumType.valuesById[value];
    if (name === undefined) {
      throw new ProtoJsonError(at, `${describeJson(value)} is not a value of ${enumType.fullName.slice(1)} (${Object.keys(enumType.values).join(', ')})`);
    }
    if (enumType.valuesOptions?.[name]?.['deprecated'] === true) throw new ProtoJsonError(at, `deprecated enum value ${name}`);
    return enumType.values[name] as number;
  }

  private scalar(type: string, value: Json, at: string): unknown {
    const range = INT_RANGES[type];
    if (range) {
      const text = typeof value === 'number' ? (Number.isInteger(value) ? String(value) : '') : typeof value === 'string' ? value : '';
      if (!/^-?\d+$/.test(text)) throw new ProtoJsonError(at, `${type} must be an integer, got ${describeJson(value)}`);
      const big = BigInt(text);
      if (big < range[0] || big > range[1]) throw new ProtoJsonError(at, `${text} is out of range for ${type}`);
      return type.endsWith('64') ? text : Number(text);
    }
    switch (type) {
      case 'string':
        if (typeof value !== 'string') throw new ProtoJsonError(at, `string expected, got ${describeJson(value)}`);
        return value;
      case 'bool':
        if (typeof value !== 'boolean') throw new ProtoJsonError(at, `bool expected, got ${describeJson(value)}`);
        return value;
      case 'double':
      case 'float':
        if (typeof value === 'number') return value;
        if (typeof value === 'string' && (['NaN', 'Infinity', '-Infinity'].includes(value) || /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(value))) return Number(value);
        throw new ProtoJsonError(at, `${type} expected, got ${describeJson(value)}`);
      case 'bytes':
        if (typeof value !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(value)) throw new ProtoJsonError(at, `base64 bytes expected, got ${describeJson(value)}`);
        return value;
      default:
        throw new ProtoJsonError(at, `unsupported scalar type ${type}`);
    }
  }

  /** The well-known types with their own JSON forms; undefined for ordinary messages. */
  private wellKnown(type: protobuf.Type, json: unknown, at: string): unknown {
    const name = type.fullName.slice(1);
    const wrapped = WRAPPERS[name];
    if (wrapped) return { value: this.scalar(wrapped, json as Json, at) };
    switch (name) {
      case 'google.protobuf.Duration': {
        const match = typeof json === 'string' ? DURATION_TEXT.exec(json) : null;
        if (!match) throw new ProtoJsonError(at, `Duration must be a string such as "0.25s", got ${describeJson(json)}`);
        const seconds = BigInt(match[2] as string);
        if (seconds > MAX_DURATION_SECONDS) throw new ProtoJsonError(at, 'Duration out of range');
        const nanos = Number((match[3] ?? '').padEnd(9, '0'));
        const sign = match[1] ? -1 : 1;
        return { seconds: String(sign * Number(seconds)), nanos: sign * nanos };
      }
      case 'google.protobuf.Timestamp': {
        if (typeof json !== 'string' || !TIMESTAMP_TEXT.test(json) || Number.isNaN(Date.parse(json))) {
          throw new ProtoJsonError(at, `Timestamp must be RFC 3339, got ${describeJson(json)}`);
        }
        const ms = Date.parse(json);
        return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 };
      }
      case 'google.protobuf.FieldMask':
        if (typeof json !== 'string') throw new ProtoJsonError(at, `FieldMask must be a string, got ${describeJson(json)}`);
        return { paths: json === '' ? [] : json.split(',') };
      case 'google.protobuf.Empty':
        if (!isObject(json) || Object.keys(json).length > 0) throw new ProtoJsonError(at, 'Empty must be {}');
        return {};
      case 'google.protobuf.Struct':
        if (!isObject(json)) throw new ProtoJsonError(at, `Struct must be an object, got ${describeJson(json)}`);
        return structOf(json);
      case 'google.protobuf.ListValue':
        if (!Array.isArray(json)) throw new ProtoJsonError(at, `ListValue must be an array, got ${describeJson(json)}`);
        return { values: json.map(valueOf) };
      case 'google.protobuf.Value':
        return valueOf(json as Json);
      case 'google.protobuf.Any':
        return this.any(json, at);
      default:
        return undefined;
    }
  }

  private any(json: unknown, at: string): Plain {
    if (!isObject(json)) throw new ProtoJsonError(at, `Any must be an object, got ${describeJson(json)}`);
    const typeUrl = json['@type'];
    if (typeof typeUrl !== 'string' || !typeUrl.includes('/')) throw new ProtoJsonError(`${at}.@type`, 'Any needs "@type": "type.googleapis.com/<message>"');
    const typeName = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
    const here = `${at}<${typeName}>`;
    if (UNCHECKABLE_TYPES.has(typeName)) throw new ProtoJsonError(here, 'TypedStruct cannot be checked; use the typed message');
    let inner: protobuf.Type;
    try {
      inner = this.root.lookupType(typeName);
    } catch {
      throw new ProtoJsonError(`${at}.@type`, `unknown message type ${typeName} (not among the loaded Envoy protos)`);
    }
    const { ['@type']: _dropped, ...rest } = json;
    const innerJson = this.hasSpecialJson(inner) ? rest['value'] : rest;
    if (this.hasSpecialJson(inner) && Object.keys(rest).some((k) => k !== 'value')) throw new ProtoJsonError(here, 'only "value" may sit beside "@type" here');
    const object = this.message(inner, innerJson, here) as Plain;
    const bytes = inner.encode(inner.fromObject(object)).finish();
    return { type_url: typeUrl, value: bytes };
  }

  private hasSpecialJson(type: protobuf.Type): boolean {
    const name = type.fullName.slice(1);
    return name in WRAPPERS || ['google.protobuf.Duration', 'google.protobuf.Timestamp', 'google.protobuf.FieldMask', 'google.protobuf.Struct', 'google.protobuf.ListValue', 'google.protobuf.Value', 'google.protobuf.Any', 'google.protobuf.Empty'].includes(name);
  }
}

function valueOf(json: Json): Plain {
  if (json === null) return { null_value: 0 };
  if (typeof json === 'number') return { number_value: json };
  if (typeof json === 'string') return { string_value: json };
  if (typeof json === 'boolean') return { bool_value: json };
  if (Array.isArray(json)) return { list_value: { values: json.map(valueOf) } };
  return { struct_value: structOf(json) };
}

function structOf(json: Record<string, Json>): Plain {
  return { fields: Object.fromEntries(Object.entries(json).map(([k, v]) => [k, valueOf(v)])) };
}

/**
 * The protoc-gen-validate rules Envoy enforces at load time, for the kinds of rule these configs
 * meet: lengths, item counts, numeric and duration bounds, constants, excluded enum values.
 * Regex-based rules (`pattern`, `well_known_regex`) are not evaluated, and protobufjs drops rules
 * written as an empty message (`duration = {gt {}}` on Cluster.connect_timeout), so those are not either.
 */
function checkValidateRules(field: protobuf.Field, value: Json, at: string): void {
  const rules = new Map<string, unknown>();
  for (const [key, ruleValue] of Object.entries(field.options ?? {})) {
    if (key.startsWith('(validate.rules).')) rules.set(key.slice('(validate.rules).'.length), ruleValue);
  }
  if (rules.size === 0) return;
  const fail = (message: string): never => {
    throw new ProtoJsonError(at, `violates protoc-gen-validate: ${message}`);
  };
  const num = (name: string) => rules.get(name) as number | undefined;

  if (Array.isArray(value)) {
    const min = num('repeated.min_items');
    const max = num('repeated.max_items');
    if (min !== undefined && value.length < min) fail(`at least ${min} item(s)`);
    if (max !== undefined && value.length > max) fail(`at most ${max} item(s)`);
    const itemMin = num('repeated.items.string.min_len');
    if (itemMin !== undefined && value.some((item) => typeof item === 'string' && [...item].length < itemMin)) fail(`items of at least ${itemMin} character(s)`);
    return;
  }
  if (field.map && isObject(value)) {
    const minPairs = num('map.min_pairs');
    if (minPairs !== undefined && Object.keys(value).length < minPairs) fail(`at least ${minPairs} entries`);
    return;
  }
  if (typeof value === 'string' && (field.type === 'string' || field.resolvedType?.fullName === '.google.protobuf.StringValue')) {
    const minLen = num('string.min_len');
    const maxBytes = num('string.max_bytes');
    if (minLen !== undefined && [...value].length < minLen) fail(`at least ${minLen} character(s)`);
    if (maxBytes !== undefined && Buffer.byteLength(value) > maxBytes) fail(`at most ${maxBytes} bytes`);
    return;
  }
  if (typeof value === 'boolean') {
    const expected = rules.get('bool.const');
    if (expected !== undefined && value !== expected) fail(`must be ${String(expected)}`);
    return;
  }
  for (const kind of ['uint32', 'uint64', 'int32', 'int64', 'double']) {
    if (typeof value !== 'number' && typeof value !== 'string') break;
    const n = Number(value);
    const gt = num(`${kind}.gt`);
    const gte = num(`${kind}.gte`);
    const lt = num(`${kind}.lt`);
    const lte = num(`${kind}.lte`);
    if (gt !== undefined && !(n > gt)) fail(`must be > ${gt}`);
    if (gte !== undefined && !(n >= gte)) fail(`must be >= ${gte}`);
    if (lt !== undefined && !(n < lt)) fail(`must be < ${lt}`);
    if (lte !== undefined && !(n <= lte)) fail(`must be <= ${lte}`);
  }
  if (field.resolvedType instanceof protobuf.Enum) {
    const notIn = rules.get('enum.not_in');
    const numeric = typeof value === 'string' ? field.resolvedType.values[value] : value;
    if (notIn !== undefined && ([] as unknown[]).concat(notIn).includes(numeric)) fail(`value ${String(value)} is excluded`);
    return;
  }
  if (typeof value === 'string' && field.resolvedType?.fullName === '.google.protobuf.Duration') {
    const match = DURATION_TEXT.exec(value);
    if (!match) return;
    const nanos = (match[1] ? -1 : 1) * (Number(match[2]) * 1e9 + Number((match[3] ?? '').padEnd(9, '0')));
    const bound = (name: string): number | undefined => {
      const seconds = num(`duration.${name}.seconds`);
      const n = num(`duration.${name}.nanos`);
      return seconds === undefined && n === undefined ? undefined : (seconds ?? 0) * 1e9 + (n ?? 0);
    };
    const [gt, gte, lt, lte] = [bound('gt'), bound('gte'), bound('lt'), bound('lte')];
    if (gt !== undefined && !(nanos > gt)) fail(`must be > ${gt}ns`);
    if (gte !== undefined && !(nanos >= gte)) fail(`must be >= ${gte}ns`);
    if (lt !== undefined && !(nanos < lt)) fail(`must be < ${lt}ns`);
    if (lte !== undefined && !(nanos <= lte)) fail(`must be <= ${lte}ns`);
  }
}

// ---------------------------------------------------------------------------------------------
// The configs
// ---------------------------------------------------------------------------------------------

const root = loadEnvoyProtos();
const reader = new StrictProtoJson(root);
const Bootstrap = root.lookupType('envoy.config.bootstrap.v3.Bootstrap');

function readYaml(relativePath: string): Record<string, Json> {
  return parseYaml(readFileSync(path.join(repoRoot, relativePath), 'utf8')) as Record<string, Json>;
}

/** Reads a bootstrap strictly and round-trips it through Envoy's wire format. */
function readBootstrap(json: unknown): Plain {
  const object = reader.read('envoy.config.bootstrap.v3.Bootstrap', json);
  const bytes = Bootstrap.encode(Bootstrap.fromObject(object)).finish();
  return Bootstrap.toObject(Bootstrap.decode(bytes), { longs: String, enums: String, defaults: false }) as Plain;
}

function errorOf(run: () => unknown): ProtoJsonError {
  try {
    run();
  } catch (error) {
    if (error instanceof ProtoJsonError) return error;
    throw error;
  }
  throw new Error('expected a ProtoJsonError, but the config was accepted');
}

// Path helpers over the parsed YAML: the tests below poke at the real documents.
type Node = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const clone = <T>(value: T): T => structuredClone(value);
const hcmOf = (config: Node): Node => config.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
const extAuthzOf = (config: Node): Node =>
  hcmOf(config).http_filters.find((f: Node) => f.name === 'envoy.filters.http.ext_authz').typed_config;
const clusterOf = (config: Node, name: string): Node => config.static_resources.clusters.find((c: Node) => c.name === name);

describe('Envoy configs are strict envoy.config.bootstrap.v3.Bootstrap documents', () => {
  it.each(ENVOY_CONFIGS)('%s reads strictly and survives a wire round trip', (file) => {
    const decoded = readBootstrap(readYaml(file));
    const listeners = (decoded['static_resources'] as Node).listeners as Node[];
    expect(listeners.length).toBe(1);
  });

  it.each(ENVOY_CONFIGS)('%s: ext_authz runs before the router, and every named cluster exists', (file) => {
    const config = readYaml(file) as Node;
    const clusters = new Set(config.static_resources.clusters.map((c: Node) => c.name));
    const filters = hcmOf(config).http_filters.map((f: Node) => f.name);
    expect(filters).toEqual(['envoy.filters.http.ext_authz', 'envoy.filters.http.router']);
    const extAuthz = extAuthzOf(config);
    const authzCluster = extAuthz.grpc_service?.envoy_grpc.cluster_name ?? extAuthz.http_service.server_uri.cluster;
    expect(clusters.has(authzCluster)).toBe(true);
    for (const vhost of hcmOf(config).route_config.virtual_hosts) {
      for (const route of vhost.routes) expect(clusters.has(route.route.cluster)).toBe(true);
    }
  });

  it.each(ENVOY_CONFIGS)('%s: ext_authz fails closed with a real timeout and a health-checked hopguard cluster', (file) => {
    const config = readYaml(file) as Node;
    const extAuthz = extAuthzOf(config);
    const timeout = extAuthz.grpc_service?.timeout ?? extAuthz.http_service.server_uri.timeout;
    expect(timeout).toBe('0.5s');
    expect(extAuthz.failure_mode_allow).toBe(false);
    expect(extAuthz.status_on_error).toEqual({ code: 'ServiceUnavailable' });
    expect(extAuthz.transport_api_version).toBe('V3');
    const authzCluster = clusterOf(config, extAuthz.grpc_service?.envoy_grpc.cluster_name ?? extAuthz.http_service.server_uri.cluster);
    expect(authzCluster.health_checks).toHaveLength(1);
  });

  it('sidecar: mTLS inbound, peer certificate to hopguard, the workload named per route, gRPC over HTTP/2', () => {
    const config = readYaml('envoy/sidecar.yaml') as Node;
    const tls = config.static_resources.listeners[0].filter_chains[0].transport_socket.typed_config;
    expect(tls['@type']).toBe('type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext');
    expect(tls.require_client_certificate).toBe(true);
    expect(extAuthzOf(config).include_peer_certificate).toBe(true);
    const route = hcmOf(config).route_config.virtual_hosts[0].routes[0];
    const perRoute = route.typed_per_filter_config['envoy.filters.http.ext_authz'];
    expect(perRoute.check_settings.context_extensions).toEqual({
      'hopguard.workload': 'spiffe://cluster.local/ns/shop/sa/orders',
    });
    const hopguard = clusterOf(config, 'hopguard');
    expect(hopguard.health_checks[0].grpc_health_check).toEqual({});
    expect(hopguard.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'].explicit_http_config)
      .toEqual({ http2_protocol_options: {} });
    expect(hopguard.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value).toBe(9191);
  });

  it('front proxy: HTTP mode names the workload in x-hopguard-workload and forwards only what the decision reads', () => {
    const config = readYaml('envoy/front-proxy.yaml') as Node;
    const extAuthz = extAuthzOf(config);
    expect(extAuthz.grpc_service).toBeUndefined();
    expect(extAuthz.http_service.server_uri.uri).toBe('http://hopguard:9192');
    expect(extAuthz.http_service.authorization_request.headers_to_add).toEqual([
      { key: 'x-hopguard-workload', value: 'spiffe://cluster.local/ns/shop/sa/orders' },
    ]);
    expect(extAuthz.allowed_headers).toEqual({
      patterns: [{ exact: 'authorization' }, { exact: 'dpop' }, { exact: 'txn-token' }, { exact: 'x-forwarded-proto' }],
    });
    expect(extAuthz.http_service.authorization_response.allowed_client_headers.patterns).toContainEqual({ exact: 'dpop-nonce' });
    expect(extAuthz.http_service.authorization_response.allowed_upstream_headers).toEqual({ patterns: [{ prefix: 'x-hopguard-' }] });
    expect(clusterOf(config, 'hopguard_http').health_checks[0].http_health_check).toEqual({ path: '/readyz' });
  });
});

describe('the Istio EnvoyFilter patch is a strict ExtAuthz too', () => {
  it('k8s/istio/peer-certificate-envoyfilter.yaml merges a well-formed ExtAuthz typed_config', () => {
    const filter = readYaml('k8s/istio/peer-certificate-envoyfilter.yaml') as Node;
    const typedConfig = filter.spec.configPatches[0].patch.value.typed_config;
    const Any = root.lookupType('google.protobuf.Any');
    const any = reader.read('google.protobuf.Any', typedConfig);
    const ExtAuthz = root.lookupType('envoy.extensions.filters.http.ext_authz.v3.ExtAuthz');
    const decoded = ExtAuthz.toObject(ExtAuthz.decode((Any.fromObject(any) as unknown as { value: Uint8Array }).value));
    expect(decoded).toEqual({ include_peer_certificate: true });
  });
});

describe('the strict reader refuses what Envoy would refuse', () => {
  const sidecar = readYaml('envoy/sidecar.yaml') as Node;

  it('refuses a misspelt field', () => {
    const config = clone(sidecar);
    config.static_resources.listeners[0].adress = config.static_resources.listeners[0].address;
    delete config.static_resources.listeners[0].address;
    const error = errorOf(() => readBootstrap(config));
    expect(error.at).toBe('static_resources.listeners[0].adress');
    expect(error.problem).toContain('unknown field of envoy.config.listener.v3.Listener');
  });

  it('refuses a wrong type: a number where a Duration string belongs', () => {
    const config = clone(sidecar);
    clusterOf(config, 'local_app').connect_timeout = 1;
    expect(errorOf(() => readBootstrap(config)).at).toBe('static_resources.clusters[0].connect_timeout');
  });

  it('refuses a wrong type: a word where a port number belongs', () => {
    const config = clone(sidecar);
    config.admin.address.socket_address.port_value = 'admin';
    expect(errorOf(() => readBootstrap(config)).problem).toContain('uint32 must be an integer');
  });

  it('refuses an unknown field inside a typed_config', () => {
    const config = clone(sidecar);
    extAuthzOf(config).include_peer_certificat = true;
    const error = errorOf(() => readBootstrap(config));
    expect(error.at).toMatch(/<envoy\.extensions\.filters\.http\.ext_authz\.v3\.ExtAuthz>\.include_peer_certificat$/);
    expect(error.problem).toContain('unknown field of envoy.extensions.filters.http.ext_authz.v3.ExtAuthz');
  });

  it('refuses a wrong type inside a typed_config, two Anys deep', () => {
    const config = clone(sidecar);
    extAuthzOf(config).grpc_service.timeout = 'half a second';
    const error = errorOf(() => readBootstrap(config));
    expect(error.at).toMatch(/HttpConnectionManager>\.http_filters\[0\]\.typed_config<.*ExtAuthz>\.grpc_service\.timeout$/);
  });

  it('refuses an unknown @type', () => {
    const config = clone(sidecar);
    extAuthzOf(config)['@type'] = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuth';
    expect(errorOf(() => readBootstrap(config)).problem).toContain('unknown message type envoy.extensions.filters.http.ext_authz.v3.ExtAuth');
  });

  it('refuses an Any without @type and an untyped TypedStruct', () => {
    const withoutType = clone(sidecar);
    delete extAuthzOf(withoutType)['@type'];
    expect(errorOf(() => readBootstrap(withoutType)).problem).toContain('Any needs "@type"');
    const typedStruct = clone(sidecar);
    hcmOf(typedStruct).http_filters[1].typed_config = { '@type': 'type.googleapis.com/xds.type.v3.TypedStruct', type_url: 'x', value: {} };
    expect(() => readBootstrap(typedStruct)).toThrow(ProtoJsonError);
  });

  it('refuses an enum name that does not exist', () => {
    const config = clone(sidecar);
    extAuthzOf(config).status_on_error.code = 'TeaPot';
    expect(errorOf(() => readBootstrap(config)).problem).toContain('is not a value of envoy.type.v3.StatusCode');
  });

  it('refuses two members of one oneof', () => {
    const config = clone(sidecar);
    extAuthzOf(config).http_service = { server_uri: { uri: 'http://x', cluster: 'hopguard', timeout: '1s' } };
    expect(errorOf(() => readBootstrap(config)).problem).toContain('oneof services already has grpc_service');
  });

  it('refuses a deprecated field (AuthorizationRequest.allowed_headers moved to ExtAuthz.allowed_headers)', () => {
    const config = readYaml('envoy/front-proxy.yaml') as Node;
    extAuthzOf(config).http_service.authorization_request.allowed_headers = { patterns: [{ exact: 'authorization' }] };
    expect(errorOf(() => readBootstrap(config)).problem).toBe('deprecated field');
  });

  it('refuses a protoc-gen-validate violation: a cluster without a name, a route with no override', () => {
    const unnamed = clone(sidecar);
    clusterOf(unnamed, 'hopguard').name = '';
    expect(errorOf(() => readBootstrap(unnamed)).problem).toContain('protoc-gen-validate');
    const emptyPerRoute = clone(sidecar);
    hcmOf(emptyPerRoute).route_config.virtual_hosts[0].routes[0].typed_per_filter_config['envoy.filters.http.ext_authz'] = {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute',
    };
    expect(errorOf(() => readBootstrap(emptyPerRoute)).problem).toContain('needs one of disabled, check_settings');
  });

  it('refuses the same field given in both spellings, and accepts lowerCamelCase alone', () => {
    const both = clone(sidecar);
    both.admin.address.socket_address.portValue = 9901;
    expect(errorOf(() => readBootstrap(both)).problem).toContain('field given twice');
    const camel = clone(sidecar);
    camel.admin.address.socket_address = { address: '127.0.0.1', portValue: 9901 };
    extAuthzOf(camel).includePeerCertificate = extAuthzOf(camel).include_peer_certificate;
    delete extAuthzOf(camel).include_peer_certificate;
    expect(() => readBootstrap(camel)).not.toThrow();
  });
});
