// The bits of HTTP every stand-in needs (node:http, no framework).
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The whole body as text; `tooLarge` builds the protocol's own error past `maxBytes`. */
export async function readBody(req: IncomingMessage, maxBytes: number, tooLarge: (message: string) => Error): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw tooLarge(`Request body exceeds ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...headers });
  res.end(payload);
}
