// Reads the mail captured by the local SES stand-in (standins/ses.ts). Dev/test only:
// the API's GET /dev/mailbox route proxies through this, and tests use it directly.
import { z } from 'zod';

/** Shape of one captured email; the stand-in also validates its store file with it. */
export const mailboxMessageSchema = z.object({
  to: z.string(),
  from: z.string(),
  subject: z.string(),
  text: z.string(),
  html: z.string(),
  sentAt: z.string(),
  messageId: z.string(),
});

/** One captured email, as seen by one recipient. */
export type MailboxMessage = z.infer<typeof mailboxMessageSchema>;

const mailboxResponse = z.object({ messages: z.array(mailboxMessageSchema) });

/** Messages sent to `to` (matched case-insensitively), newest first. */
export async function fetchMailbox(sesEndpoint: string, to: string): Promise<MailboxMessage[]> {
  const url = new URL('/_standin/mailbox', sesEndpoint);
  url.searchParams.set('to', to);
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  if (!res.ok) throw new Error(`SES stand-in mailbox returned HTTP ${res.status} (${url.origin})`);
  return mailboxResponse.parse(await res.json()).messages;
}
