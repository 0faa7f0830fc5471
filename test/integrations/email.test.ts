import {
  BadRequestException,
  InternalServiceErrorException,
  LimitExceededException,
  MessageRejected,
  NotFoundException,
  AccountSuspendedException,
  TooManyRequestsException,
} from '@aws-sdk/client-sesv2';
import { describe, expect, it } from 'vitest';
import { isPermanentEmailError } from '../../integrations/email/sender.js';
import { pickLocale, renderEmail, supportedLocales } from '../../integrations/email/templates.js';

describe('pickLocale', () => {
  it.each([
    [undefined, 'en'],
    ['', 'en'],
    ['fr', 'fr'],
    ['fr-FR', 'fr'],
    ['FR-ca', 'fr'],
    ['en-US,en;q=0.9', 'en'],
    ['fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7', 'fr'],
    // Highest q wins regardless of header order.
    ['en;q=0.5, fr;q=0.8', 'fr'],
    // Unsupported languages are skipped in favour of the next supported one.
    ['de-DE, es;q=0.9, fr;q=0.3, en;q=0.2', 'fr'],
    // q=0 means "not acceptable".
    ['fr;q=0, en;q=0.1', 'en'],
    ['fr;q=0', 'en'],
    ['de, *;q=0.5', 'en'],
    ['de-DE, ja', 'en'],
    ['fr;q=abc, en;q=0.5', 'en'],
    ['  fr-BE ; q=0.7 ,de', 'fr'],
  ] as const)('%j → %s', (header, expected) => {
    expect(pickLocale(header)).toBe(expected);
  });
});

describe('renderEmail', () => {
  const link = 'https://app.example.com/verify?token=abc&x=1';
  const vars = { name: 'Alice', link, expiresInMinutes: 30 };

  it('supports English and French', () => {
    expect(supportedLocales).toEqual(['en', 'fr']);
  });

  it.each([
    ['verify_email', 'en', 'Confirm your email address', 'This link expires in 30 minutes.'],
    ['verify_email', 'fr', 'Confirmez votre adresse e-mail', 'Ce lien expire dans 30 minutes.'],
    ['reset_password', 'en', 'Reset your password', 'This link expires in 30 minutes.'],
    ['reset_password', 'fr', 'Réinitialisez votre mot de passe', 'Ce lien expire dans 30 minutes.'],
  ] as const)('%s in %s carries subject, greeting, link and expiry', (template, locale, subject, expiry) => {
    const email = renderEmail(template, locale, vars);
    expect(email.subject).toBe(subject);
    expect(email.text).toContain(link);
    expect(email.text).toContain(expiry);
    expect(email.text).toContain(locale === 'fr' ? 'Bonjour Alice,' : 'Hi Alice,');
    // In HTML the link is attribute-escaped but must still be there, as href and as visible fallback.
    expect(email.html).toContain('href="https://app.example.com/verify?token=abc&amp;x=1"');
    expect(email.html).toContain(`<html lang="${locale}">`);
    expect(email.html).toContain(`<title>${subject}</title>`);
  });

  it('uses different wording per template and language', () => {
    const texts = new Set(
      (['verify_email', 'reset_password'] as const).flatMap((t) => (['en', 'fr'] as const).map((l) => renderEmail(t, l, vars).text)),
    );
    expect(texts.size).toBe(4);
  });

  it('falls back to English for unknown locales and maps regional tags', () => {
    expect(renderEmail('verify_email', 'de', vars)).toEqual(renderEmail('verify_email', 'en', vars));
    expect(renderEmail('verify_email', '', vars)).toEqual(renderEmail('verify_email', 'en', vars));
    expect(renderEmail('reset_password', 'fr-CA', vars)).toEqual(renderEmail('reset_password', 'fr', vars));
  });

  it('greets without a name when there is none', () => {
    expect(renderEmail('verify_email', 'en', { ...vars, name: null }).text).toMatch(/^Hi,\n/);
    expect(renderEmail('verify_email', 'fr', { ...vars, name: '  ' }).text).toMatch(/^Bonjour,\n/);
    expect(renderEmail('reset_password', 'en', { link, expiresInMinutes: 30 }).text).toMatch(/^Hi,\n/);
  });

  it('says hours when the expiry is a whole number of hours', () => {
    expect(renderEmail('reset_password', 'en', { ...vars, expiresInMinutes: 60 }).text).toContain('expires in 1 hour.');
    expect(renderEmail('reset_password', 'fr', { ...vars, expiresInMinutes: 120 }).text).toContain('expire dans 2 heures.');
    expect(renderEmail('reset_password', 'en', { ...vars, expiresInMinutes: 1 }).text).toContain('expires in 1 minute.');
    expect(renderEmail('reset_password', 'en', { ...vars, expiresInMinutes: 90 }).text).toContain('expires in 90 minutes.');
  });

  it('HTML-escapes interpolated values in html but not in text', () => {
    const evil = {
      name: '<script>alert("x")</script> & Bob\'s',
      link: 'https://example.com/"><img src=x onerror=alert(1)>',
      expiresInMinutes: 15,
    };
    for (const locale of ['en', 'fr']) {
      const email = renderEmail('verify_email', locale, evil);
      expect(email.html).not.toContain('<script>');
      expect(email.html).not.toContain('<img');
      expect(email.html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Bob&#39;s');
      expect(email.html).toContain('href="https://example.com/&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"');
      // The text part is plain text: values appear verbatim.
      expect(email.text).toContain(evil.name);
      expect(email.text).toContain(evil.link);
    }
  });
});

describe('isPermanentEmailError', () => {
  const opts = { message: 'x', $metadata: {} };

  it.each([
    ['MessageRejected', new MessageRejected(opts)],
    ['BadRequestException', new BadRequestException(opts)],
  ])('%s is permanent', (_name, err) => {
    expect(isPermanentEmailError(err)).toBe(true);
  });

  it.each([
    // Account-level: every mail fails until an operator fixes the account, then all go out.
    ['NotFoundException', new NotFoundException(opts)],
    ['AccountSuspendedException', new AccountSuspendedException(opts)],
    ['TooManyRequestsException', new TooManyRequestsException(opts)],
    ['LimitExceededException', new LimitExceededException(opts)],
    ['InternalServiceErrorException', new InternalServiceErrorException(opts)],
    ['a network error', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })],
    ['a plain Error named like an SES error but without a client fault', Object.assign(new Error('x'), { name: 'MessageRejected' })],
    ['a non-error value', 'MessageRejected'],
    ['undefined', undefined],
  ])('%s is not permanent', (_name, err) => {
    expect(isPermanentEmailError(err)).toBe(false);
  });
});
