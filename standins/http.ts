// The bits of HTTP every stand-in needs (node:http, no framework).
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

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

/** Listens (port 0 picks a free one) and returns the server's base URL. */
export async function listen(server: Server, port: number, host: string): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port: actual } = server.address() as AddressInfo;
  return `http://${host.includes(':') ? `[${host}]` : host}:${actual}`;
}

/** An entry point's last step: log where the stand-in listens, and close it on SIGINT or SIGTERM. */
export function serveUntilSignalled(
  name: string,
  standin: { url: string; close(): Promise<void> },
  logger: { info(o: object, m: string): void; error(o: object, m: string): void },
): void {
  logger.info({ url: standin.url }, `${name} listening`);
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, `${name} stopping`);
      standin.close().then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error({ err }, `${name} failed to close`);
          process.exit(1);
        },
      );
    });
  }
}
