import net from 'node:net';
import { freePort } from './services.js';

/**
 * A TCP relay in front of a service, to cut it off and bring it back on the
 * same address without touching the service itself: `stop()` refuses new
 * connections and drops the open ones (what a crashed or unreachable S3 looks
 * like to its clients), `start()` listens again on the same port.
 */
export interface TcpProxy {
  /** `127.0.0.1:<port>` clients connect to. */
  readonly port: number;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const port = await freePort();
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;

  const relay = (client: net.Socket): void => {
    const upstream = net.connect(targetPort, targetHost);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  };

  const proxy: TcpProxy = {
    port,
    start: async () => {
      if (server) return;
      const s = net.createServer(relay);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, '127.0.0.1', () => resolve());
      });
      server = s;
    },
    stop: async () => {
      const s = server;
      server = undefined;
      for (const sock of sockets) sock.destroy();
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    },
  };
  await proxy.start();
  return proxy;
}
