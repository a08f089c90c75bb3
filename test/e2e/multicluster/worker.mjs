// A proxyless gRPC client in its own process, configured the production way: grpc-js-xds reads
// GRPC_XDS_BOOTSTRAP (written by `crossmesh bootstrap --role proxyless`), certificates come from the
// files `crossmesh agent` wrote. Usage: node worker.mjs <target> <calls>; prints {"<workload>": n, ...}.
import * as grpc from '@grpc/grpc-js';
import { XdsChannelCredentials, register } from '@grpc/grpc-js-xds';
import { callWho } from '../../../dist/src/demo/echo.js';

register();
const [target, n] = process.argv.slice(2);
const client = new grpc.Client(`xds:///${target}`, new XdsChannelCredentials(grpc.credentials.createInsecure()));
const tally = {};
const deadline = Date.now() + 10_000;
let done = 0;
while (done < Number(n) && Date.now() < deadline) {
  try {
    const a = await callWho(client, 2000);
    tally[a.workload] = (tally[a.workload] ?? 0) + 1;
    done++;
  } catch (e) {
    // Not yet configured: retry until the deadline.
    tally[`error:${e.code}`] = (tally[`error:${e.code}`] ?? 0) + 1;
    await new Promise((r) => setTimeout(r, 100));
  }
}
client.close();
process.stdout.write(`${JSON.stringify(tally)}\n`);
process.exit(done === Number(n) ? 0 : 1);
