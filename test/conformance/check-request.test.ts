/**
 * CheckRequest wire compatibility: bytes encoded with Envoy's official protos decode, through
 * hopguard's hand-written protos, into exactly what the official protos themselves decode.
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { hopguardProtos } from '../../src/transport/proto.js';
import { checkInputFrom } from '../../src/transport/envoy-request.js';
import { envoyCheckRequest, envoyProtos } from '../helpers/envoy-client.js';

const official = envoyProtos().authorizationService.Check!;
const ours = hopguardProtos().authorizationService.Check!;

const CERTIFICATE = '-----BEGIN%20CERTIFICATE-----%0AMIIBszCCAVmgAwIBAgIU%0A-----END%20CERTIFICATE-----%0A';
/** Not valid UTF-8 on purpose: raw_value must come through byte for byte. */
const RAW_BYTES = Buffer.from([0x42, 0x65, 0x61, 0x72, 0x65, 0x72, 0x20, 0xff, 0x00, 0xc3, 0x28, 0x7f]);

/** Every field of AttributeContext that Envoy fills, with awkward values where it matters. */
const RICH_REQUEST = {
  attributes: {
    source: {
      address: { socket_address: { protocol: 'TCP', address: '10.1.2.3', port_value: 51234, resolver_name: 'r', ipv4_compat: true } },
      service: 'frontend.shop',
      labels: { app: 'frontend', version: 'v1' },
      principal: 'spiffe://cluster.local/ns/shop/sa/frontend',
      certificate: CERTIFICATE,
    },
    destination: {
      address: { socket_address: { address: '10.1.2.4', named_port: 'http' } },
      labels: { app: 'orders' },
      principal: 'spiffe://cluster.local/ns/shop/sa/orders',
    },
    request: {
      time: { seconds: '1767225600', nanos: 123456789 },
      http: {
        id: '18446744073709551615',
        method: 'POST',
        headers: {
          ':authority': 'orders.shop.svc',
          authorization: 'Bearer a.b.c,Bearer d.e.f',
          'x-forwarded-client-cert': 'By=spiffe://cluster.local/ns/shop/sa/orders;URI=spiffe://cluster.local/ns/shop/sa/frontend',
          traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
          'x-unicode': 'grüße ✓',
        },
        header_map: {
          headers: [
            { key: 'authorization', raw_value: Buffer.from('Bearer x.y.z') },
            { key: 'authorization', raw_value: RAW_BYTES },
            { key: 'x-empty', raw_value: Buffer.alloc(0) },
            { key: 'x-value-form', value: 'set by value, not raw_value' },
          ],
        },
        path: '/orders/42?expand=items#frag',
        host: 'orders.shop.svc',
        scheme: 'https',
        query: '',
        fragment: '',
        size: '-1',
        protocol: 'HTTP/2',
        body: '{"k":"v"}',
        raw_body: Buffer.from([0, 1, 2, 254, 255]),
      },
    },
    context_extensions: { 'hopguard.workload': 'spiffe://cluster.local/ns/shop/sa/orders', other: 'x' },
    metadata_context: {
      filter_metadata: {
        'envoy.filters.http.jwt_authn': {
          fields: {
            payload: { structValue: { fields: { sub: { stringValue: 'user-1' }, n: { numberValue: 3.5 }, ok: { boolValue: true } } } },
            list: { listValue: { values: [{ stringValue: 'a' }, { nullValue: 'NULL_VALUE' }] } },
          },
        },
      },
    },
    route_metadata_context: { filter_metadata: { 'hopguard.route': { fields: { tier: { stringValue: 'gold' } } } } },
    tls_session: { sni: 'orders.shop.svc' },
  },
};

describe('CheckRequest from Envoy official protos to hopguard protos', () => {
  const wire = official.requestSerialize(RICH_REQUEST);

  it('decodes every field identically to the official protos', () => {
    const byEnvoy = official.requestDeserialize(wire);
    const byHopguard = ours.requestDeserialize(wire);
    expect(byHopguard).toEqual(byEnvoy);
    // The official decoding is the request we built: it encodes back to the same bytes.
    expect(Buffer.from(official.requestSerialize(byEnvoy)).equals(Buffer.from(wire))).toBe(true);
  });

  it('re-encodes to the very same bytes with hopguard protos', () => {
    expect(Buffer.from(ours.requestSerialize(RICH_REQUEST)).equals(Buffer.from(wire))).toBe(true);
  });

  it('carries each field hopguard reads unchanged, raw header bytes included', () => {
    const decoded = ours.requestDeserialize(wire) as typeof RICH_REQUEST;
    const { attributes } = decoded;
    expect(attributes.source.principal).toBe('spiffe://cluster.local/ns/shop/sa/frontend');
    expect(attributes.source.certificate).toBe(CERTIFICATE);
    expect(attributes.destination.principal).toBe('spiffe://cluster.local/ns/shop/sa/orders');
    expect(attributes.context_extensions).toEqual({ 'hopguard.workload': 'spiffe://cluster.local/ns/shop/sa/orders', other: 'x' });
    expect(attributes.request.http.headers['x-unicode']).toBe('grüße ✓');
    const raw = attributes.request.http.header_map.headers[1]?.raw_value;
    expect(Buffer.isBuffer(raw) && raw.equals(RAW_BYTES)).toBe(true);
    expect(attributes.request.http.size).toBe('-1');
    expect(attributes.request.http.id).toBe('18446744073709551615');
  });

  it('maps the decoded request to the CheckInput the pipeline gets', () => {
    const input = checkInputFrom(ours.requestDeserialize(wire), { maxHeaders: 100, maxHeaderBytes: 65536 });
    const http = RICH_REQUEST.attributes.request.http as unknown as { method: string; path: string; host: string; scheme: string };
    expect(input).toEqual({
      request: { method: http.method, path: http.path, host: http.host, scheme: http.scheme },
      headers: new Map([
        ['authorization', ['Bearer a.b.c,Bearer d.e.f', 'Bearer x.y.z', RAW_BYTES.toString('latin1')]],
        ['x-forwarded-client-cert', ['By=spiffe://cluster.local/ns/shop/sa/orders;URI=spiffe://cluster.local/ns/shop/sa/frontend']],
        ['traceparent', ['00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01']],
      ]),
      contextExtensions: { 'hopguard.workload': 'spiffe://cluster.local/ns/shop/sa/orders', other: 'x' },
      destinationPrincipal: 'spiffe://cluster.local/ns/shop/sa/orders',
      sourcePrincipal: 'spiffe://cluster.local/ns/shop/sa/frontend',
      sourceCertificate: CERTIFICATE,
    });
  });

  it('reads the raw header_map that Envoy sends with encode_raw_headers', () => {
    const request = envoyCheckRequest({
      rawHeaders: [
        ['Authorization', 'Bearer one'],
        ['authorization', 'Bearer two'],
        ['X-Request-Id', 'r-1'],
        ['traceparent', ''],
      ],
      workload: 'w',
    });
    const input = checkInputFrom(ours.requestDeserialize(official.requestSerialize(request)), { maxHeaders: 100, maxHeaderBytes: 65536 });
    // The helper's default x-request-id comes first, then the raw lines in order, never merged.
    expect(input.headers.get('authorization')).toEqual(['Bearer one', 'Bearer two']);
    expect(input.headers.get('x-request-id')).toEqual(['c0ffee00-0000-4000-8000-000000000001', 'r-1']);
    // An empty line survives the trip although proto3 leaves its empty raw_value off the wire.
    expect(input.headers.get('traceparent')).toEqual(['']);
    expect(input.contextExtensions).toEqual({ 'hopguard.workload': 'w' });
  });

  it('skips fields its subset leaves out, as any proto3 decoder does', () => {
    // Field 99 of CheckRequest (length-delimited "hi") is unknown to both sides.
    const withUnknown = Buffer.concat([Buffer.from(wire), Buffer.from([0x9a, 0x06, 0x02, 0x68, 0x69])]);
    const byEnvoy = official.requestDeserialize(withUnknown);
    expect(ours.requestDeserialize(withUnknown)).toEqual(byEnvoy);
    expect((byEnvoy as typeof RICH_REQUEST).attributes.source.principal).toBe('spiffe://cluster.local/ns/shop/sa/frontend');
  });
});
