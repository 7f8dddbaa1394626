import http from 'node:http';
import type { Socket } from 'node:net';

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The connection it went over (a kept-alive one is reused by the next request of its agent). */
  socket: Socket;
}

/**
 * One HTTP request to 127.0.0.1 with exactly the headers given, from a chosen local address (the
 * server sees 127.0.0.2, 127.0.0.3… as different clients). Without `agent`, a connection of its own.
 */
export function request(
  port: number,
  opts: {
    path: string;
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    from?: string;
    agent?: http.Agent;
  },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let socket!: Socket;
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: opts.path,
        method: opts.method ?? 'GET',
        headers: opts.headers,
        localAddress: opts.from ?? '127.0.0.1',
        agent: opts.agent ?? false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, socket }));
        res.on('error', reject);
      },
    );
    req.on('socket', (s) => (socket = s));
    req.on('error', reject);
    if (opts.body) req.write(opts.body);
    req.end();
  });
}

/** The headers of a tRPC call from the console's own origin on `port`, plus `extra`. */
export function trpcHeaders(port: number, extra: Record<string, string> = {}): Record<string, string> {
  return {
    host: `127.0.0.1:${port}`,
    origin: `http://127.0.0.1:${port}`,
    'content-type': 'application/json',
    ...extra,
  };
}
