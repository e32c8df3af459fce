// Reading an HTTP answer of bounded size (webhook answers, Prometheus's query answers): a server meshd asks must not
// make it hold more than it chose.

/** The body, or 'too long' once more than `max` bytes have come (the request is then cut off). */
export async function readCapped(res: Response, max: number, cut: AbortController): Promise<Uint8Array | 'too long'> {
  const length = Number(res.headers.get('content-length'));
  if (Number.isFinite(length) && length > max) {
    cut.abort();
    return 'too long';
  }
  const reader = res.body?.getReader();
  if (!reader) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      cut.abort();
      void reader.cancel().catch(() => undefined);
      return 'too long';
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}
