/**
 * `hopguard serve` with the standard OTEL_* environment exports one span per check over
 * OTLP/HTTP, parented on the request's traceparent; without it nothing is exported.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { traceExportRequested } from '../../../src/telemetry/trace-export.js';
import { createEnvoyClient, envoyCheckRequest, readCheckResponse } from '../../helpers/envoy-client.js';
import { BUILD_TIMEOUT_MS, ensureBuilt, startServe, type ServeProcess } from './cli-process.js';
import { configDocument, eventually, ORDERS, startHeldIdp, type HeldIdp } from './fixture.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN = '00f067aa0ba902b7';

let dir: string;
let idp: HeldIdp;
let collector: Server;
const exports: { path: string; contentType: string; body: Buffer }[] = [];
let hopguard: ServeProcess | undefined;

beforeAll(async () => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'hopguard-otlp-'));
  collector = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      exports.push({ path: request.url ?? '', contentType: String(request.headers['content-type']), body: Buffer.concat(chunks) });
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((done) => collector.listen(0, '127.0.0.1', done));
}, BUILD_TIMEOUT_MS);

afterAll(async () => {
  if (hopguard && hopguard.child.exitCode === null) hopguard.kill('SIGKILL');
  await idp?.close();
  await new Promise((done) => collector?.close(done));
  rmSync(dir, { recursive: true, force: true });
});

describe('trace export', () => {
  it('is requested only by the standard OTEL_* variables', () => {
    expect(traceExportRequested({})).toBe(false);
    expect(traceExportRequested({ OTEL_TRACES_EXPORTER: 'otlp' })).toBe(true);
    expect(traceExportRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
    expect(traceExportRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c/v1/traces', OTEL_TRACES_EXPORTER: 'none' })).toBe(false);
    expect(traceExportRequested({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'true' })).toBe(false);
  });

  it('exports the check span with the caller trace id to the OTLP endpoint', async () => {
    idp = await startHeldIdp();
    const path = join(dir, 'config.json');
    writeFileSync(path, JSON.stringify(configDocument(idp)));
    const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}/v1/traces`;
    const running = await startServe(path, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: endpoint, OTEL_BSP_SCHEDULE_DELAY: '100', OTEL_SERVICE_NAME: 'hopguard-test' });
    hopguard = running;
    const client = createEnvoyClient(running.grpc);
    const token = await idp.mint({});
    const view = readCheckResponse(
      await client.check(envoyCheckRequest({ token, workload: ORDERS, headers: { traceparent: `00-${TRACE_ID}-${PARENT_SPAN}-01` } })),
    );
    expect(view.allowed).toBe(true);
    const exported = await eventually(() => exports.find((entry) => entry.body.includes('hopguard.check')), 'a span export', 15_000);
    expect(exported.path).toBe('/v1/traces');
    // OTLP/JSON carries ids as hex, OTLP/protobuf as raw bytes: either way the caller's trace id.
    const body = exported.body;
    expect(body.includes(TRACE_ID) || body.includes(Buffer.from(TRACE_ID, 'hex'))).toBe(true);
    expect(body.includes('hopguard-test')).toBe(true);
    client.close();
    running.kill('SIGTERM');
    expect(await running.exited).toBe(0);
  });
});
