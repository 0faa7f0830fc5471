// Sends mail through Amazon SES v2, or through the local stand-in (standins/ses.ts)
// which speaks the same wire protocol, so one code path serves dev, tests and production.
import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import type { Config } from '../../lib/config.js';

export interface EmailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface EmailSender {
  send(msg: EmailMessage): Promise<{ messageId: string }>;
}

export type SesSenderConfig = Pick<
  Config,
  'SES_REGION' | 'SES_ENDPOINT' | 'EMAIL_FROM' | 'AWS_ACCESS_KEY_ID' | 'AWS_SECRET_ACCESS_KEY' | 'usesSesStandin'
>;

// The stand-in accepts any SigV4 signature, but the SDK still needs something to sign with.
const STANDIN_CREDENTIALS = { accessKeyId: 'standin', secretAccessKey: 'standin' };

function credentialsFor(config: SesSenderConfig) {
  if (config.usesSesStandin) return STANDIN_CREDENTIALS;
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey } = config;
  if (accessKeyId && secretAccessKey) return { accessKeyId, secretAccessKey };
  if (accessKeyId || secretAccessKey) throw new Error('AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together');
  return undefined; // default AWS credential chain (instance role, SSO, ~/.aws, ...)
}

export function createSesEmailSender(config: SesSenderConfig): EmailSender {
  const client = new SESv2Client({
    region: config.SES_REGION,
    ...(config.SES_ENDPOINT ? { endpoint: config.SES_ENDPOINT } : {}),
    credentials: credentialsFor(config),
  });
  const utf8 = (Data: string) => ({ Data, Charset: 'UTF-8' });

  return {
    async send(msg) {
      const out = await client.send(
        new SendEmailCommand({
          FromEmailAddress: config.EMAIL_FROM,
          Destination: { ToAddresses: [msg.to] },
          Content: {
            Simple: {
              Subject: utf8(msg.subject),
              Body: { Text: utf8(msg.text), Html: utf8(msg.html) },
            },
          },
        }),
      );
      if (!out.MessageId) throw new Error('SES accepted the email but returned no MessageId');
      return { messageId: out.MessageId };
    },
  };
}

// SES answers these when this one message is wrong: sending it again cannot succeed.
// Account-level refusals (AccountSuspended, SendingPaused, MailFromDomainNotVerified,
// NotFound for a configuration set) stop every mail until an operator fixes the account, so
// they stay retryable: the mail goes out once the account works again, instead of every
// onboarding in flight losing it. Throttling, the daily quota, 5xx and network errors are
// transient too.
const PERMANENT_SES_ERRORS = new Set(['MessageRejected', 'BadRequestException']);

/**
 * True when retrying cannot help (a Temporal activity should throw a non-retryable
 * failure). Matches on the SDK error's name and client fault rather than `instanceof`,
 * so it also works across duplicated copies of the SDK.
 */
export function isPermanentEmailError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const fault = (err as { $fault?: unknown }).$fault;
  return fault === 'client' && PERMANENT_SES_ERRORS.has(err.name);
}
