import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BadRequestException, SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fetchMailbox } from '../../integrations/email/mailbox.js';
import { createSesEmailSender, isPermanentEmailError, type SesSenderConfig } from '../../integrations/email/sender.js';
import { startSesStandin, type SesStandin } from '../../standins/ses.js';

const FROM = 'OFM Social OS <no-reply@ofm.local>';

function senderConfig(url: string): SesSenderConfig {
  return {
    SES_REGION: 'us-east-1',
    SES_ENDPOINT: url,
    EMAIL_FROM: FROM,
    AWS_ACCESS_KEY_ID: undefined,
    AWS_SECRET_ACCESS_KEY: undefined,
    usesSesStandin: true,
  };
}

function sdkClient(url: string) {
  return new SESv2Client({
    region: 'us-east-1',
    endpoint: url,
    credentials: { accessKeyId: 'any', secretAccessKey: 'any' },
  });
}

const simpleContent = {
  Simple: { Subject: { Data: 'Hello' }, Body: { Text: { Data: 'text body' } } },
};

let dir: string;
const running: SesStandin[] = [];

async function start(storeFile?: string) {
  const standin = await startSesStandin({ port: 0, ...(storeFile ? { storeFile } : {}) });
  running.push(standin);
  return standin;
}

async function stop(standin: SesStandin) {
  running.splice(running.indexOf(standin), 1);
  await standin.close();
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ses-standin-'));
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('SES stand-in', () => {
  it('listens on the actual port when asked for port 0 and reports health', async () => {
    const standin = await start();
    const port = Number(new URL(standin.url).port);
    expect(standin.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(port).toBeGreaterThan(0);
    const res = await fetch(`${standin.url}/_standin/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', messages: 0 });
  });

  it('captures mail sent with the real SDK sender, newest first, per recipient', async () => {
    const standin = await start(path.join(dir, 'send.jsonl'));
    const sender = createSesEmailSender(senderConfig(standin.url));

    const first = await sender.send({ to: 'Alice@Example.com', subject: 'First', text: 'one', html: '<p>one</p>' });
    const second = await sender.send({ to: 'alice@example.com', subject: 'Deuxième', text: 'deux é', html: '<p>deux</p>' });
    await sender.send({ to: 'bob@example.com', subject: 'For Bob', text: 'bob', html: '<p>bob</p>' });
    expect(first.messageId).not.toBe(second.messageId);

    // Recipient matched case-insensitively, newest first, other recipients excluded.
    const mail = await fetchMailbox(standin.url, 'ALICE@example.COM');
    expect(mail.map((m) => m.subject)).toEqual(['Deuxième', 'First']);
    expect(mail[0]).toMatchObject({
      to: 'alice@example.com',
      from: FROM,
      subject: 'Deuxième',
      text: 'deux é',
      html: '<p>deux</p>',
      messageId: second.messageId,
    });
    expect(mail[1]?.messageId).toBe(first.messageId);
    expect(Date.parse(mail[0]!.sentAt)).toBeGreaterThanOrEqual(Date.parse(mail[1]!.sentAt));

    expect((await fetchMailbox(standin.url, 'bob@example.com')).map((m) => m.subject)).toEqual(['For Bob']);
    expect(await fetchMailbox(standin.url, 'nobody@example.com')).toEqual([]);
  });

  it('stores one mailbox entry per recipient (To, Cc and Bcc)', async () => {
    const standin = await start();
    const out = await sdkClient(standin.url).send(
      new SendEmailCommand({
        FromEmailAddress: FROM,
        Destination: {
          ToAddresses: ['Carol <carol@example.com>'],
          CcAddresses: ['dan@example.com'],
          BccAddresses: ['erin@example.com'],
        },
        Content: simpleContent,
      }),
    );
    for (const to of ['carol@example.com', 'dan@example.com', 'erin@example.com']) {
      const mail = await fetchMailbox(standin.url, to);
      expect(mail).toHaveLength(1);
      expect(mail[0]).toMatchObject({ to, subject: 'Hello', text: 'text body', html: '', messageId: out.MessageId });
    }
  });

  it('rejects a request without destination with a typed, permanent SDK error', async () => {
    const standin = await start();
    const err = await sdkClient(standin.url)
      .send(new SendEmailCommand({ FromEmailAddress: FROM, Content: simpleContent }))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(BadRequestException);
    expect((err as BadRequestException).message).toBe('Destination is required');
    expect((err as BadRequestException).$metadata.httpStatusCode).toBe(400);
    expect(isPermanentEmailError(err)).toBe(true);

    const health = (await (await fetch(`${standin.url}/_standin/health`)).json()) as { messages: number };
    expect(health.messages).toBe(0);
  });

  it.each([
    [
      'missing subject',
      { FromEmailAddress: FROM, Destination: { ToAddresses: ['a@b.c'] }, Content: { Simple: { Body: { Text: { Data: 'x' } } } } },
      'Content.Simple.Subject is required',
    ],
    [
      'invalid recipient',
      { FromEmailAddress: FROM, Destination: { ToAddresses: ['not-an-address'] }, Content: simpleContent },
      'Invalid address in Destination.ToAddresses: not-an-address',
    ],
    [
      'empty body',
      { FromEmailAddress: FROM, Destination: { ToAddresses: ['a@b.c'] }, Content: { Simple: { Subject: { Data: 's' }, Body: {} } } },
      'Content.Simple.Body needs Text or Html',
    ],
    ['missing sender', { Destination: { ToAddresses: ['a@b.c'] }, Content: simpleContent }, 'FromEmailAddress is required'],
  ])('answers %s in the AWS REST-JSON error shape', async (_name, body, message) => {
    const standin = await start();
    const res = await fetch(`${standin.url}/v2/email/outbound-emails`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('x-amzn-errortype')).toBe('BadRequestException');
    expect(await res.json()).toEqual({ message });
  });

  it('answers invalid JSON and unknown routes with AWS-shaped errors', async () => {
    const standin = await start();
    const bad = await fetch(`${standin.url}/v2/email/outbound-emails`, { method: 'POST', body: '{nope' });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('x-amzn-errortype')).toBe('BadRequestException');
    const unknown = await fetch(`${standin.url}/v2/email/identities`);
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('x-amzn-errortype')).toBe('NotFoundException');
  });

  it('keeps the mailbox across a restart with the same store file', async () => {
    const storeFile = path.join(dir, 'nested', 'mailbox.jsonl');
    const before = await start(storeFile);
    await createSesEmailSender(senderConfig(before.url)).send({ to: 'frank@example.com', subject: 'Before restart', text: 't', html: 'h' });
    await stop(before);

    // A crash mid-write leaves a truncated last line: it is skipped, and later appends stay readable.
    await appendFile(storeFile, '{"to":"frank@example.com","subj');

    const after = await start(storeFile);
    expect(after.url).not.toBe(before.url);
    expect((await fetchMailbox(after.url, 'frank@example.com')).map((m) => m.subject)).toEqual(['Before restart']);

    await createSesEmailSender(senderConfig(after.url)).send({ to: 'frank@example.com', subject: 'After restart', text: 't', html: 'h' });
    await stop(after);

    const again = await start(storeFile);
    expect((await fetchMailbox(again.url, 'frank@example.com')).map((m) => m.subject)).toEqual(['After restart', 'Before restart']);
    const lines = (await readFile(storeFile, 'utf8')).split('\n').filter(Boolean);
    expect(lines).toHaveLength(3); // two messages plus the skipped truncated line
  });

  it('classifies a network failure as transient', async () => {
    const standin = await start();
    const sender = createSesEmailSender(senderConfig(standin.url));
    await stop(standin);
    const err = await sender.send({ to: 'a@example.com', subject: 's', text: 't', html: 'h' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(isPermanentEmailError(err)).toBe(false);
  });
});
