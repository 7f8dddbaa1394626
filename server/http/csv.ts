/** A CSV download streamed from a generator of lines (history's export, on the page and in the API). */
export function csvResponse(lines: Generator<string>, filename: string): Response {
  const enc = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      const n = lines.next();
      if (n.done) controller.close();
      else controller.enqueue(enc.encode(n.value));
    },
  });
  return new Response(body, {
    headers: {
      'content-type': 'text/csv; charset=utf-8',
      'content-disposition': `attachment; filename="${filename}"`,
      'cache-control': 'no-store',
    },
  });
}
