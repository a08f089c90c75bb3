/**
 * The demo's stand-in for an east-west gateway on another network: a TCP listener that reads the
 * TLS ClientHello's SNI and passes the connection, untouched (mTLS stays end to end), to a backend
 * of that name. grpc-js clients send the target host as SNI (`reviews.default.svc.cluster.local`),
 * not Envoy's `outbound_.<port>_.<subset>_.<host>`, so the demo routes on the host: both forms are
 * understood.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

/** The SNI of a TLS ClientHello in `buf`, '' if it has none, undefined if more bytes are needed. */
export function parseSni(buf: Buffer): string | undefined {
  if (buf.length < 5) return undefined;
  if (buf[0] !== 0x16) return '';
  const recordLen = buf.readUInt16BE(3);
  if (buf.length < 5 + recordLen) return undefined;
  let p = 5;
  if (buf[p] !== 0x01) return '';
  p += 4 + 2 + 32; // handshake header, client version, random
  const skip = (lenBytes: 1 | 2): boolean => {
    if (p + lenBytes > buf.length) return false;
    const n = lenBytes === 1 ? buf[p]! : buf.readUInt16BE(p);
    p += lenBytes + n;
    return p <= buf.length;
  };
  if (!skip(1) || !skip(2) || !skip(1)) return ''; // session id, cipher suites, compression
  if (p + 2 > buf.length) return '';
  const end = p + 2 + buf.readUInt16BE(p);
  p += 2;
  while (p + 4 <= end) {
    const type = buf.readUInt16BE(p);
    const len = buf.readUInt16BE(p + 2);
    p += 4;
    if (type === 0 && p + 5 <= end) {
      const nameLen = buf.readUInt16BE(p + 3);
      return buf.subarray(p + 5, p + 5 + nameLen).toString('ascii');
    }
    p += len;
  }
  return '';
}

/** The service host an SNI names: `outbound_.9080_.v3_.reviews.default.svc.cluster.local` or the host itself. */
export function hostOfSni(sni: string): string {
  const m = /^outbound_\.\d+_\.[^_]*_\.(.+)$/.exec(sni);
  return m ? m[1]! : sni;
}

/** A running gateway. */
export interface SniGateway {
  readonly connections: number;
  close(): Promise<void>;
}

/** Listens on `address:port`; `route(host)` picks a backend `{address, port}` or undefined (connection closed). */
export async function startSniGateway(address: string, port: number, route: (host: string) => { address: string; port: number } | undefined): Promise<SniGateway> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const sni = parseSni(buf);
      if (sni === undefined && buf.length < 16_384) return;
      client.off('data', onData);
      const target = sni ? route(hostOfSni(sni)) : undefined;
      if (!target) {
        client.destroy();
        return;
      }
      connections++;
      const upstream = connect(target.port, target.address);
      sockets.add(upstream);
      upstream.on('close', () => sockets.delete(upstream));
      upstream.write(buf);
      client.pipe(upstream).pipe(client);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    };
    client.on('data', onData);
    client.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => resolve());
  });
  return {
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
