/**
 * Picks the gRPC server transport from `listen.transport`: `native` (node:http2, the default) or
 * `grpc-js` (@grpc/grpc-js, the fallback). Both serve the same services with the same answers;
 * the rest of hopguard sees only an address and a close.
 */
import type { GrpcTransport } from '../config/types.js';
import { startGrpcServer, type GrpcServerOptions } from './grpc-server.js';
import { startNativeGrpcServer } from './native-grpc-server.js';

export interface RunningGrpcTransport {
  /** host:port actually bound. */
  readonly address: string;
  /** Stop accepting; answer in-flight calls until `graceMs`, then drop what is left. */
  close(graceMs: number): Promise<void>;
}

export function startGrpcTransport(transport: GrpcTransport, options: GrpcServerOptions): Promise<RunningGrpcTransport> {
  return transport === 'grpc-js' ? startGrpcServer(options) : startNativeGrpcServer(options);
}
