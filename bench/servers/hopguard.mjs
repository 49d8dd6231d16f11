/**
 * hopguard as it runs in production (startHopguard from dist/), with a config document read from
 * the JSON file given as argv[2]. Prints {"ready":true,"address":...} when serving.
 */
import { readFileSync } from 'node:fs';
import { loadConfigObject } from '../../dist/src/config/load.js';
import { startHopguard } from '../../dist/src/server.js';

const loaded = loadConfigObject(JSON.parse(readFileSync(process.argv[2], 'utf8')));
if (!loaded.ok) {
  console.error(loaded.errors.join('\n'));
  process.exit(1);
}
const running = await startHopguard(loaded.config);
console.log(JSON.stringify({ ready: true, address: running.grpcAddress, pid: process.pid }));
process.on('SIGTERM', () => {
  running.close().then(() => process.exit(0), () => process.exit(1));
});
