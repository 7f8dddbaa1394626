import { describe, expect, it } from 'vitest';
import { limitRequest, MAX_BATCH_CALLS, MAX_BODY_BYTES } from '@/server/trpc/limits';

const URL_BASE = 'http://tandem.test/api/trpc/';

function post(path: string, body: BodyInit, headers: Record<string, string> = {}): Request {
  return new Request(URL_BASE + path, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', ...headers },
    duplex: 'half',
  } as RequestInit);
}

/** A body sent in chunks without a Content-Length, as a client streaming it would. */
function chunked(bytes: number): ReadableStream<Uint8Array> {
  let left = bytes;
  return new ReadableStream({
    pull(c) {
      if (left <= 0) return c.close();
      const n = Math.min(left, 64 * 1024);
      left -= n;
      c.enqueue(new Uint8Array(n).fill(0x20));
    },
  });
}

async function errorOf(r: Request | Response): Promise<{ status: number; message: string; code: string }> {
  expect(r).toBeInstanceOf(Response);
  const res = r as Response;
  const body = (await res.json()) as { error: { json: { message: string; data: { code: string } } } };
  return { status: res.status, message: body.error.json.message, code: body.error.json.data.code };
}

describe('request limits before tRPC parses a request', () => {
  it('passes an ordinary call through with its body intact', async () => {
    const r = await limitRequest(post('sites.remove', JSON.stringify({ json: { id: 1 } })));
    expect(r).toBeInstanceOf(Request);
    expect(await (r as Request).json()).toEqual({ json: { id: 1 } });
  });

  it(`refuses a body over ${MAX_BODY_BYTES} bytes by its Content-Length, with 413 and a message`, async () => {
    const big = 'x'.repeat(MAX_BODY_BYTES + 1);
    const e = await errorOf(await limitRequest(post('users.remove', big)));
    expect(e).toMatchObject({ status: 413, code: 'PAYLOAD_TOO_LARGE' });
    expect(e.message).toMatch(/at most 1 MiB/);
  });

  it('refuses a streamed body once it passes the limit', async () => {
    const e = await errorOf(await limitRequest(post('users.remove', chunked(50 * 1024 * 1024))));
    expect(e.status).toBe(413);
  });

  it(`refuses a batch of more than ${MAX_BATCH_CALLS} calls with 400`, async () => {
    const paths = Array.from({ length: MAX_BATCH_CALLS + 1 }, () => 'overview.get').join(',');
    const req = new Request(`${URL_BASE}${paths}?batch=1&input=%7B%7D`);
    const e = await errorOf(await limitRequest(req));
    expect(e).toMatchObject({ status: 400, code: 'BAD_REQUEST' });
    expect(e.message).toMatch(/at most 10 calls/);
    const ok = Array.from({ length: MAX_BATCH_CALLS }, () => 'overview.get').join(',');
    expect(await limitRequest(new Request(`${URL_BASE}${ok}?batch=1&input=%7B%7D`))).toBeInstanceOf(Request);
  });
});
