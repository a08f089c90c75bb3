/** Many ADS streams on few connections, as the fan-out tests open them. */
import type { Harness } from './xds-harness.js';
import { until } from './xds-harness.js';
import { XdsTestClient, testNode, type SotwResponse, type SotwTestStream } from './xds-client.js';
import { ENDPOINT_TYPE } from './xds-resources.js';

/**
 * Opens `n` SotW ADS streams subscribed to the EDS resource `name`, `perConnection` per HTTP/2
 * connection (pushed to `clients`, for the caller to close), and resolves once every stream has
 * received its first response and the server has seen it ACKed.
 */
export async function openAckedEdsStreams(h: Harness, n: number, perConnection: number, name: string, clients: XdsTestClient[]): Promise<{ streams: SotwTestStream[]; first: SotwResponse[] }> {
  const streams: SotwTestStream[] = [];
  for (let i = 0; i < n; i++) {
    if (i % perConnection === 0) clients.push(new XdsTestClient(h.address, { 'grpc.use_local_subchannel_pool': 1, 'grpc.channel_id': i } as never));
    const s = clients[clients.length - 1]!.sotw();
    s.send({ typeUrl: ENDPOINT_TYPE, names: [name], node: testNode(`c1/default/app-${i}`) });
    streams.push(s);
  }
  const first = await Promise.all(streams.map((s) => s.next(20_000)));
  for (let i = 0; i < n; i++) streams[i]!.ack(first[i]!, [name]);
  await until(() => h.server.proxies().filter((p) => p.types.eds?.ackedVersion === first[0]!.version_info).length === n, 20_000, 'all ACKs');
  return { streams, first };
}
