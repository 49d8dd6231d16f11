/**
 * Every message and enum in hopguard's proto/ subset declares exactly what Envoy's official
 * protos declare for the same fields: name, number, label, scalar type and referenced type. This
 * covers fields the wire tests never set (Pipe, EnvoyInternalAddress, enum values...).
 */
import * as protoLoader from '@grpc/proto-loader';
import { describe, expect, it } from 'vitest';
import { hopguardProtos } from '../../src/transport/proto.js';
import { ENVOY_INCLUDE_DIRS } from '../helpers/envoy-client.js';

interface FieldDescriptor {
  name: string;
  number: number;
  label: string;
  type: string;
  typeName: string;
}
interface EnumDescriptor {
  name: string;
  value: { name: string; number: number }[];
}
interface MessageDescriptor {
  name: string;
  field: FieldDescriptor[];
  nestedType: MessageDescriptor[];
  enumType: EnumDescriptor[];
  options?: { mapEntry?: boolean } | null;
}

/** Loads every type the Check service reaches, plus address.proto (only reached through Peer). */
function load(includeDirs: string[]): protoLoader.PackageDefinition {
  return protoLoader.loadSync(['envoy/service/auth/v3/external_auth.proto', 'envoy/config/core/v3/address.proto'], { keepCase: true, includeDirs });
}

const ours = hopguardProtos().packageDefinition;
const official = load(ENVOY_INCLUDE_DIRS);

/** Type names appear as written in each file (relative or qualified); the last segment is comparable. */
function shortType(typeName: string): string {
  return typeName.split('.').pop() ?? '';
}

function projectFields(message: MessageDescriptor): Record<string, unknown>[] {
  return message.field.map(({ name, number, label, type, typeName }) => ({ name, number, label, type, typeName: shortType(typeName) }));
}

function projectEnum(enumType: EnumDescriptor): Record<string, number> {
  return Object.fromEntries(enumType.value.map(({ name, number }) => [name, number]));
}

/**
 * Fields hopguard declares that the data-plane-api copy vendored in @grpc/grpc-js-xds predates,
 * with their upstream definition (research notes, section 1.3).
 */
const NEWER_THAN_VENDORED: Record<string, Record<string, unknown>> = {
  // envoyproxy/envoy PR #42099 (2025-12): oneof http_response gains error_response = 5.
  'envoy.service.auth.v3.CheckResponse.error_response': {
    name: 'error_response',
    number: 5,
    label: 'LABEL_OPTIONAL',
    type: 'TYPE_MESSAGE',
    typeName: 'DeniedHttpResponse',
  },
};

/** Checks a hopguard message against Envoy's, recursing into nested messages and enums. */
function compareMessage(path: string, mine: MessageDescriptor, theirs: MessageDescriptor, omitted: string[]): void {
  const theirFields = new Map(projectFields(theirs).map((field) => [field.name as string, field]));
  for (const field of projectFields(mine)) {
    const upstream = theirFields.get(field.name as string) ?? NEWER_THAN_VENDORED[`${path}.${field.name as string}`];
    expect({ path, ...field }).toEqual({ path, ...upstream });
    theirFields.delete(field.name as string);
  }
  omitted.push(...[...theirFields.keys()].map((name) => `${path}.${name}`));
  for (const nested of mine.nestedType) {
    const match = theirs.nestedType.find((candidate) => candidate.name === nested.name);
    expect(match, `${path}.${nested.name} exists in Envoy's protos`).toBeDefined();
    compareMessage(`${path}.${nested.name}`, nested, match as MessageDescriptor, omitted);
  }
  for (const enumType of mine.enumType) {
    const match = theirs.enumType.find((candidate) => candidate.name === enumType.name);
    expect(projectEnum(enumType), `${path}.${enumType.name}`).toEqual(projectEnum(match as EnumDescriptor));
  }
}

describe("hopguard's proto subset against Envoy's official protos", () => {
  /** Message and enum types (services carry no `format`). */
  const names = Object.keys(ours).filter((name) => (name.startsWith('envoy.') || name.startsWith('google.rpc.')) && 'format' in (ours[name] as object));

  it('covers the types the brief names', () => {
    expect(names).toEqual(
      expect.arrayContaining([
        'envoy.service.auth.v3.CheckRequest',
        'envoy.service.auth.v3.CheckResponse',
        'envoy.service.auth.v3.OkHttpResponse',
        'envoy.service.auth.v3.DeniedHttpResponse',
        'envoy.service.auth.v3.AttributeContext',
        'envoy.config.core.v3.HeaderValue',
        'envoy.config.core.v3.HeaderValueOption',
        'envoy.config.core.v3.HeaderMap',
        'envoy.config.core.v3.Metadata',
        'envoy.config.core.v3.QueryParameter',
        'envoy.config.core.v3.Address',
        'envoy.config.core.v3.SocketAddress',
        'envoy.type.v3.HttpStatus',
        'envoy.type.v3.StatusCode',
        'google.rpc.Status',
      ]),
    );
  });

  it('declares every field with the official number, label and type, and omits only fields newer than Envoy v3 vendored here', () => {
    const omitted: string[] = [];
    for (const name of names) {
      const mine = ours[name] as protoLoader.MessageTypeDefinition | protoLoader.EnumTypeDefinition;
      const theirs = official[name] as protoLoader.MessageTypeDefinition | protoLoader.EnumTypeDefinition | undefined;
      expect(theirs, `${name} exists in Envoy's protos`).toBeDefined();
      if (mine.format.includes('EnumDescriptorProto')) {
        expect(projectEnum(mine.type as EnumDescriptor), name).toEqual(projectEnum((theirs as protoLoader.EnumTypeDefinition).type as EnumDescriptor));
      } else {
        compareMessage(name, mine.type as MessageDescriptor, (theirs as protoLoader.MessageTypeDefinition).type as MessageDescriptor, omitted);
      }
    }
    // Nothing left out today; a field dropped by mistake shows up here.
    expect(omitted).toEqual([]);
  });

  it('uses the service and method names Envoy calls', () => {
    const mine = ours['envoy.service.auth.v3.Authorization'] as protoLoader.ServiceDefinition;
    const theirs = official['envoy.service.auth.v3.Authorization'] as protoLoader.ServiceDefinition;
    expect(Object.keys(mine)).toEqual(Object.keys(theirs));
    expect(mine.Check?.path).toBe(theirs.Check?.path);
    expect([mine.Check?.requestStream, mine.Check?.responseStream]).toEqual([false, false]);
  });
});
