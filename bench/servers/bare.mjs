/**
 * The ceiling: a bare grpc-js server with the same Check method (hopguard's protos, same
 * (de)serialization and server options) that answers OK at once, without looking at the request.
 * Prints {"ready":true,"address":...} when bound.
 */
import * as grpc from '@grpc/grpc-js';
import { hopguardProtos } from '../../dist/src/transport/proto.js';

const address = process.argv[2] ?? '127.0.0.1:0';
const protos = hopguardProtos();
const server = new grpc.Server({ 'grpc.max_receive_message_length': 1024 * 1024, 'grpc.keepalive_permit_without_calls': 1 });
const ok = { status: { code: 0 } };
server.addService(protos.authorizationService, {
  Check: (_call, callback) => callback(null, ok),
});
server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error) {
    console.error(error.message);
    process.exit(1);
  }
  console.log(JSON.stringify({ ready: true, address: `127.0.0.1:${port}`, pid: process.pid }));
});
process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
