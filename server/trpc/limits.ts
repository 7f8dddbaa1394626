/**
 * Bounds on a tRPC request, checked before tRPC reads or parses it: a body of at most 1 MiB (the
 * largest real input, a keyring or private key, is 64 KiB) and at most 10 calls per batch.
 */
export const MAX_BODY_BYTES = 1024 * 1024;
export const MAX_BATCH_CALLS = 10;

const JSON_RPC = { BAD_REQUEST: -32600, PAYLOAD_TOO_LARGE: -32013 } as const;

/** An error answer in the shape the tRPC client reads (superjson-wrapped), for every call of a batch. */
function refuse(
  status: 400 | 413,
  code: keyof typeof JSON_RPC,
  message: string,
  headers?: HeadersInit,
): Response {
  const body = {
    error: {
      json: {
        message,
        code: JSON_RPC[code],
        data: { code, httpStatus: status, appCode: 'INVALID_INPUT', fields: [] },
      },
    },
  };
  const res = Response.json(body, { status, headers });
  res.headers.set('cache-control', 'no-store');
  return res;
}

/** The procedure paths a request names (`a.b,c.d` when batched). */
function callCount(req: Request): number {
  const url = new URL(req.url);
  const i = url.pathname.indexOf('/api/trpc/');
  const path = i >= 0 ? url.pathname.slice(i + '/api/trpc/'.length) : url.pathname;
  return url.searchParams.get('batch') === '1' ? decodeURIComponent(path).split(',').length : 1;
}

/**
 * Returns the request to handle (its body read into memory, at most MAX_BODY_BYTES), or the
 * response refusing it: 413 for a bigger body (by its Content-Length, or once a streamed body
 * passes the limit), 400 for a batch of more than MAX_BATCH_CALLS calls.
 */
export async function limitRequest(req: Request): Promise<Request | Response> {
  const calls = callCount(req);
  if (calls > MAX_BATCH_CALLS)
    return refuse(
      400,
      'BAD_REQUEST',
      `a batch may hold at most ${MAX_BATCH_CALLS} calls; this one has ${calls}`,
    );
  if (req.method === 'GET' || req.method === 'HEAD' || !req.body) return req;
  const tooLarge = () =>
    refuse(
      413,
      'PAYLOAD_TOO_LARGE',
      `the request body is too large: at most 1 MiB (${MAX_BODY_BYTES} bytes) is accepted`,
      { connection: 'close' },
    );
  const declared = Number(req.headers.get('content-length') ?? NaN);
  if (declared > MAX_BODY_BYTES) return tooLarge();
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel().catch(() => undefined);
      return tooLarge();
    }
    chunks.push(value);
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    body.set(c, at);
    at += c.byteLength;
  }
  return new Request(req.url, { method: req.method, headers: req.headers, body, signal: req.signal });
}
