import diagnostics from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { PEER_HEADER } from './domain/web-access';

const INSTALLED = Symbol.for('tandem.peerHook');

/**
 * Writes each request's socket peer address into the `x-tandem-peer` header (overwriting what a
 * client may have sent under that name), so that route handlers, which Next.js gives no socket,
 * know who is connected. Node publishes `http.server.request.start` synchronously before the
 * server's 'request' event, so Next's request handler always sees the header. Idempotent.
 */
export function recordPeerAddress(): void {
  const g = globalThis as unknown as Record<symbol, boolean>;
  if (g[INSTALLED]) return;
  g[INSTALLED] = true;
  diagnostics.subscribe('http.server.request.start', (msg) => {
    const { request, socket } = msg as { request: IncomingMessage; socket: Socket };
    request.headers[PEER_HEADER] = socket.remoteAddress ?? '';
  });
}
