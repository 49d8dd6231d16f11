/**
 * grpc.health.v1.Health: what Envoy's health checks and Kubernetes' grpc probes ask. The overall
 * status ('') and each named service share one state, flipped to NOT_SERVING when draining.
 */
import * as grpc from '@grpc/grpc-js';

type ServingStatus = 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

export class HealthState {
  private serving = false;
  private readonly watchers = new Set<(serving: boolean) => void>();

  isServing(): boolean {
    return this.serving;
  }

  set(serving: boolean): void {
    if (serving === this.serving) return;
    this.serving = serving;
    for (const watcher of this.watchers) watcher(serving);
  }

  watch(listener: (serving: boolean) => void): () => void {
    this.watchers.add(listener);
    return () => this.watchers.delete(listener);
  }

  /**
   * Draining: NOT_SERVING, then every Watch stream is ended, since an open stream would hold the
   * gRPC server's graceful shutdown until the drain timeout.
   */
  drain(): void {
    this.set(false);
    for (const end of this.enders) end();
    this.enders.clear();
  }

  /** Registers how to end one Watch stream; returns its deregistration. */
  onDrain(end: () => void): () => void {
    this.enders.add(end);
    return () => this.enders.delete(end);
  }

  private readonly enders = new Set<() => void>();
}

export function createHealthService(state: HealthState, services: readonly string[]): grpc.UntypedServiceImplementation {
  const known = new Set(['', ...services]);
  const statusOf = (service: string): ServingStatus => {
    if (!known.has(service)) return 'SERVICE_UNKNOWN';
    return state.isServing() ? 'SERVING' : 'NOT_SERVING';
  };
  return {
    Check(call: grpc.ServerUnaryCall<{ service?: string }, unknown>, callback: grpc.sendUnaryData<unknown>) {
      const service = call.request.service ?? '';
      if (!known.has(service)) {
        callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${service}` });
        return;
      }
      callback(null, { status: statusOf(service) });
    },
    Watch(call: grpc.ServerWritableStream<{ service?: string }, unknown>) {
      const service = call.request.service ?? '';
      call.write({ status: statusOf(service) });
      const stopWatching = state.watch(() => call.write({ status: statusOf(service) }));
      const stopDrainHook = state.onDrain(() => call.end());
      const stop = () => {
        stopWatching();
        stopDrainHook();
      };
      call.on('cancelled', stop);
      call.on('close', stop);
    },
  };
}
