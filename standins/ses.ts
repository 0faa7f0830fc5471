// Local stand-in for Amazon SES v2, for dev and tests. It speaks the SendEmail
// REST-JSON wire protocol exactly as @aws-sdk/client-sesv2 sends it, so the real
// sender (integrations/email/sender.ts) runs unchanged against it, and errors come back in
// the AWS shape so the SDK raises its typed exceptions. Mail is captured instead of
// delivered and can be read back with GET /_standin/mailbox?to=<email>.
import { randomUUID } from 'node:crypto';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import path from 'node:path';
import { mailboxMessageSchema, type MailboxMessage } from '../integrations/email/mailbox.js';
import type { Logger } from '../lib/logger.js';
import { listen, readBody, sendJson } from './http.js';

export interface SesStandinOptions {
  /** 0 picks a free port; the returned url has the actual one. */
  port: number;
  /** Defaults to 127.0.0.1. */
  host?: string;
  /** JSON-lines file the mailbox is appended to and reloaded from on start. */
  storeFile?: string;
  logger?: Logger;
}

export interface SesStandin {
  url: string;
  close(): Promise<void>;
}

const SEND_EMAIL_PATH = '/v2/email/outbound-emails';
const MAX_BODY_BYTES = 10 * 1024 * 1024;
const MAX_RECIPIENTS = 50; // SES limit per SendEmail call

/** An error answered in the AWS REST-JSON shape; `type` becomes the SDK exception name. */
class SesError extends Error {
  constructor(
    readonly type: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const badRequest = (message: string) => new SesError('BadRequestException', 400, message);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** "Name <a@b.c>" or "a@b.c" → "a@b.c"; undefined when it is not an address. */
function bareAddress(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const address = (/<([^<>]*)>\s*$/.exec(value)?.[1] ?? value).trim();
  return /^[^\s@<>]+@[^\s@<>]+$/.test(address) ? address : undefined;
}

function optionalData(value: unknown, field: string): string | undefined {
  if (value === undefined) return undefined;
  if (!isRecord(value) || typeof value.Data !== 'string') throw badRequest(`${field}.Data must be a string`);
  return value.Data;
}

interface ParsedEmail {
  from: string;
  recipients: string[];
  subject: string;
  text: string;
  html: string;
}

/** Validates a SendEmail request body the way SES would for Simple content. */
function parseSendEmail(body: unknown): ParsedEmail {
  if (!isRecord(body)) throw badRequest('Request body must be a JSON object');

  const content = body.Content;
  if (!isRecord(content)) throw badRequest('Content is required');
  if (content.Raw !== undefined || content.Template !== undefined) throw badRequest('The SES stand-in only supports Simple content');
  const simple = content.Simple;
  if (!isRecord(simple)) throw badRequest('Content.Simple is required');
  const subject = optionalData(simple.Subject, 'Content.Simple.Subject');
  if (subject === undefined) throw badRequest('Content.Simple.Subject is required');
  const bodyParts = simple.Body;
  if (!isRecord(bodyParts)) throw badRequest('Content.Simple.Body is required');
  const text = optionalData(bodyParts.Text, 'Content.Simple.Body.Text');
  const html = optionalData(bodyParts.Html, 'Content.Simple.Body.Html');
  if (text === undefined && html === undefined) throw badRequest('Content.Simple.Body needs Text or Html');

  if (body.FromEmailAddress === undefined) throw badRequest('FromEmailAddress is required');
  if (!bareAddress(body.FromEmailAddress)) throw badRequest(`Invalid FromEmailAddress: ${String(body.FromEmailAddress)}`);

  const destination = body.Destination;
  if (!isRecord(destination)) throw badRequest('Destination is required');
  const recipients: string[] = [];
  for (const field of ['ToAddresses', 'CcAddresses', 'BccAddresses'] as const) {
    const list = destination[field];
    if (list === undefined) continue;
    if (!Array.isArray(list)) throw badRequest(`Destination.${field} must be a list`);
    for (const entry of list) {
      const address = bareAddress(entry);
      if (!address) throw badRequest(`Invalid address in Destination.${field}: ${String(entry)}`);
      recipients.push(address);
    }
  }
  if (recipients.length === 0) throw badRequest('Destination needs at least one recipient');
  if (recipients.length > MAX_RECIPIENTS) throw badRequest(`Destination has more than ${MAX_RECIPIENTS} recipients`);

  return { from: body.FromEmailAddress as string, recipients, subject, text: text ?? '', html: html ?? '' };
}

/** Every SES answer carries a request id, as AWS's do. */
const sendSes = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) =>
  sendJson(res, status, body, { 'x-amzn-requestid': randomUUID(), ...headers });

/** Loads the JSON-lines store, skipping lines a crash may have left half-written. */
async function loadStore(file: string, logger?: Logger): Promise<MailboxMessage[]> {
  let raw: string;
  try {
    raw = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  // Terminate a truncated last line so the next append starts on a line of its own.
  if (raw !== '' && !raw.endsWith('\n')) await appendFile(file, '\n');
  const messages: MailboxMessage[] = [];
  for (const line of raw.split('\n')) {
    if (line.trim() === '') continue;
    try {
      messages.push(mailboxMessageSchema.parse(JSON.parse(line)));
    } catch {
      logger?.warn({ file }, 'skipping unreadable line in SES stand-in mailbox');
    }
  }
  return messages;
}

export async function startSesStandin(opts: SesStandinOptions): Promise<SesStandin> {
  const { storeFile, logger } = opts;
  const host = opts.host ?? '127.0.0.1';
  if (storeFile) await mkdir(path.dirname(storeFile), { recursive: true });
  // Oldest first, so "newest first" is a reversal (sentAt can tie within a millisecond).
  const messages: MailboxMessage[] = storeFile ? await loadStore(storeFile, logger) : [];

  // Appends are chained so concurrent requests never interleave their lines.
  let writes: Promise<void> = Promise.resolve();
  function persist(entries: MailboxMessage[]): Promise<void> {
    if (!storeFile) return Promise.resolve();
    const lines = entries.map((e) => `${JSON.stringify(e)}\n`).join('');
    const write = writes.then(() => appendFile(storeFile, lines));
    writes = write.catch(() => undefined);
    return write;
  }

  async function sendEmail(req: IncomingMessage, res: ServerResponse) {
    const raw = await readBody(req, MAX_BODY_BYTES, badRequest);
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      throw badRequest('Request body is not valid JSON');
    }
    const email = parseSendEmail(body);
    const messageId = `${Date.now().toString(16).padStart(16, '0')}-${randomUUID()}-000000`;
    const sentAt = new Date().toISOString();
    // One mailbox entry per recipient, as each of them would receive it.
    const entries = email.recipients.map((to) => ({
      to,
      from: email.from,
      subject: email.subject,
      text: email.text,
      html: email.html,
      sentAt,
      messageId,
    }));
    // Persist before answering: a 200 means the mail survives a restart.
    await persist(entries);
    messages.push(...entries);
    logger?.info({ messageId, to: email.recipients, subject: email.subject }, 'captured email');
    sendSes(res, 200, { MessageId: messageId });
  }

  function mailbox(url: URL, res: ServerResponse) {
    const to = url.searchParams.get('to')?.trim().toLowerCase();
    const found = messages.filter((m) => !to || m.to.toLowerCase() === to).reverse();
    sendSes(res, 200, { messages: found });
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://standin');
    const route = `${req.method} ${url.pathname}`;
    const handle = async () => {
      if (route === `POST ${SEND_EMAIL_PATH}`) return sendEmail(req, res);
      if (route === 'GET /_standin/mailbox') return mailbox(url, res);
      if (route === 'GET /_standin/health') return sendSes(res, 200, { status: 'ok', messages: messages.length });
      throw new SesError('NotFoundException', 404, `The SES stand-in has no route for ${route}`);
    };
    handle().catch((err: unknown) => {
      const error = err instanceof SesError ? err : new SesError('InternalServiceErrorException', 500, String(err));
      if (error.status >= 500) logger?.error({ err }, 'SES stand-in failed');
      else logger?.warn({ route, type: error.type, message: error.message }, 'SES stand-in rejected request');
      if (res.headersSent) return res.destroy();
      // AWS REST-JSON error shape: the SDK maps x-amzn-ErrorType to its exception class.
      sendSes(res, error.status, { message: error.message }, { 'x-amzn-errortype': error.type });
    });
  });

  const url = await listen(server, opts.port, host);

  return {
    url,
    async close() {
      await new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // The SDK keeps connections alive; drop the idle ones so close() doesn't wait on them.
        server.closeIdleConnections();
      });
      await writes;
    },
  };
}
