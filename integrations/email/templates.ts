// Transactional email templates, one entry per template and locale.
//
// Each localized template returns plain-text building blocks (an EmailContent);
// a single layout turns them into the text and HTML parts. Templates therefore
// never write HTML themselves, and every interpolated value is escaped in one place.

export type Locale = 'en' | 'fr';
export const supportedLocales: readonly Locale[] = ['en', 'fr'];
const defaultLocale: Locale = 'en';

/** Vars of the emails that carry a single-use link (verification, password reset). */
export interface TokenLinkVars {
  name?: string | null;
  link: string;
  expiresInMinutes: number;
}

/** Every template and the vars it needs. Add a template by adding a key here and an entry in `templates`. */
export interface TemplateVars {
  verify_email: TokenLinkVars;
  /** A stalled verification: a fresh link, worded as a reminder. */
  verify_email_reminder: TokenLinkVars;
  reset_password: TokenLinkVars;
  onboarding_reminder: { name?: string | null; step: 'accept_terms' | 'stripe_connect'; link: string };
  welcome: { name?: string | null; link: string };
  account_restricted: { name?: string | null; reason: string; link: string };
}

export type EmailTemplate = keyof TemplateVars;

export interface RenderedEmail {
  subject: string;
  text: string;
  html: string;
}

/** What a template produces: plain text only, the layout escapes it for HTML. */
interface EmailContent {
  subject: string;
  greeting: string;
  paragraphs: string[];
  action?: { label: string; url: string };
  /** Paragraphs after the action (expiry notice, "ignore this email", ...). */
  footer?: string[];
}

type TemplateDefinition<V> = Record<Locale, (vars: V) => EmailContent>;

function displayName(name: string | null | undefined): string | undefined {
  const trimmed = name?.trim();
  return trimmed ? trimmed : undefined;
}

const durationUnits = {
  en: { minute: ['minute', 'minutes'], hour: ['hour', 'hours'] },
  fr: { minute: ['minute', 'minutes'], hour: ['heure', 'heures'] },
} as const;

/** "30 minutes", "1 hour", "2 heures": whole hours read better when the TTL allows it. */
function duration(minutes: number, locale: Locale): string {
  const inHours = minutes >= 60 && minutes % 60 === 0;
  const value = inHours ? minutes / 60 : minutes;
  const [one, many] = durationUnits[locale][inHours ? 'hour' : 'minute'];
  return `${value} ${value === 1 ? one : many}`;
}

const greetEn = (v: { name?: string | null }) => {
  const name = displayName(v.name);
  return name ? `Hi ${name},` : 'Hi,';
};
const greetFr = (v: { name?: string | null }) => {
  const name = displayName(v.name);
  return name ? `Bonjour ${name},` : 'Bonjour,';
};

const templates: { [T in EmailTemplate]: TemplateDefinition<TemplateVars[T]> } = {
  verify_email: {
    en: (v) => ({
      subject: 'Confirm your email address',
      greeting: greetEn(v),
      paragraphs: ['Welcome to OFM Social OS! Please confirm your email address to activate your account.'],
      action: { label: 'Confirm my email', url: v.link },
      footer: [
        `This link expires in ${duration(v.expiresInMinutes, 'en')}.`,
        "If you didn't create an account, you can ignore this email.",
      ],
    }),
    fr: (v) => ({
      subject: 'Confirmez votre adresse e-mail',
      greeting: greetFr(v),
      paragraphs: ['Bienvenue sur OFM Social OS ! Merci de confirmer votre adresse e-mail pour activer votre compte.'],
      action: { label: 'Confirmer mon adresse e-mail', url: v.link },
      footer: [
        `Ce lien expire dans ${duration(v.expiresInMinutes, 'fr')}.`,
        "Si vous n'avez pas créé de compte, vous pouvez ignorer cet e-mail.",
      ],
    }),
  },
  verify_email_reminder: {
    en: (v) => ({
      subject: 'Reminder: confirm your email address',
      greeting: greetEn(v),
      paragraphs: ['Your OFM Social OS account is waiting for you. Confirm your email address to continue setting it up.'],
      action: { label: 'Confirm my email', url: v.link },
      footer: [`This link expires in ${duration(v.expiresInMinutes, 'en')}; earlier links no longer work.`],
    }),
    fr: (v) => ({
      subject: 'Rappel : confirmez votre adresse e-mail',
      greeting: greetFr(v),
      paragraphs: ['Votre compte OFM Social OS vous attend. Confirmez votre adresse e-mail pour poursuivre sa configuration.'],
      action: { label: 'Confirmer mon adresse e-mail', url: v.link },
      footer: [`Ce lien expire dans ${duration(v.expiresInMinutes, 'fr')} ; les liens précédents ne fonctionnent plus.`],
    }),
  },
  onboarding_reminder: {
    en: (v) => ({
      subject: v.step === 'accept_terms' ? 'One step left: accept the terms' : 'Finish setting up your payouts',
      greeting: greetEn(v),
      paragraphs: [
        v.step === 'accept_terms'
          ? 'You are almost there: accept the terms of service to continue setting up your creator account.'
          : 'Complete the Stripe verification so that you can receive payments and payouts.',
      ],
      action: { label: 'Continue', url: v.link },
    }),
    fr: (v) => ({
      subject: v.step === 'accept_terms' ? 'Plus qu’une étape : acceptez les conditions' : 'Terminez la configuration de vos paiements',
      greeting: greetFr(v),
      paragraphs: [
        v.step === 'accept_terms'
          ? 'Vous y êtes presque : acceptez les conditions d’utilisation pour poursuivre la configuration de votre compte créateur.'
          : 'Terminez la vérification Stripe pour pouvoir recevoir paiements et versements.',
      ],
      action: { label: 'Continuer', url: v.link },
    }),
  },
  welcome: {
    en: (v) => ({
      subject: 'Your creator account is active',
      greeting: greetEn(v),
      paragraphs: ['Your identity is verified and payouts are enabled: your OFM Social OS account is ready.'],
      action: { label: 'Open my dashboard', url: v.link },
    }),
    fr: (v) => ({
      subject: 'Votre compte créateur est actif',
      greeting: greetFr(v),
      paragraphs: ['Votre identité est vérifiée et les versements sont activés : votre compte OFM Social OS est prêt.'],
      action: { label: 'Ouvrir mon tableau de bord', url: v.link },
    }),
  },
  account_restricted: {
    en: (v) => ({
      subject: 'Action needed: your payouts are restricted',
      greeting: greetEn(v),
      paragraphs: [`Stripe restricted your account (${v.reason}). Payments and payouts are paused until it is resolved.`],
      action: { label: 'Resolve it', url: v.link },
    }),
    fr: (v) => ({
      subject: 'Action requise : vos versements sont restreints',
      greeting: greetFr(v),
      paragraphs: [`Stripe a restreint votre compte (${v.reason}). Paiements et versements sont suspendus jusqu’à résolution.`],
      action: { label: 'Résoudre', url: v.link },
    }),
  },
  reset_password: {
    en: (v) => ({
      subject: 'Reset your password',
      greeting: greetEn(v),
      paragraphs: ['We received a request to reset the password of your OFM Social OS account.'],
      action: { label: 'Choose a new password', url: v.link },
      footer: [
        `This link expires in ${duration(v.expiresInMinutes, 'en')}.`,
        "If you didn't ask for this, you can ignore this email: your password stays unchanged.",
      ],
    }),
    fr: (v) => ({
      subject: 'Réinitialisez votre mot de passe',
      greeting: greetFr(v),
      paragraphs: ['Nous avons reçu une demande de réinitialisation du mot de passe de votre compte OFM Social OS.'],
      action: { label: 'Choisir un nouveau mot de passe', url: v.link },
      footer: [
        `Ce lien expire dans ${duration(v.expiresInMinutes, 'fr')}.`,
        "Si vous n'êtes pas à l'origine de cette demande, ignorez cet e-mail : votre mot de passe reste inchangé.",
      ],
    }),
  },
};

export function escapeHtml(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

function isLocale(value: string): value is Locale {
  return (supportedLocales as readonly string[]).includes(value);
}

/** "fr", "FR", "fr-CA", "fr_FR" → "fr"; anything unsupported → undefined. */
function toLocale(tag: string): Locale | undefined {
  const primary = tag.trim().toLowerCase().split(/[-_]/)[0] ?? '';
  return isLocale(primary) ? primary : undefined;
}

/**
 * Best supported locale for an Accept-Language header, e.g.
 * "de-DE,fr-FR;q=0.8,en;q=0.5" → "fr". Ranges with q=0 are refused; "*" and
 * anything unparseable fall back to English.
 */
export function pickLocale(acceptLanguage: string | undefined): Locale {
  if (!acceptLanguage) return defaultLocale;
  const ranges = acceptLanguage
    .split(',')
    .map((part, index) => {
      const [tag = '', ...params] = part.split(';').map((s) => s.trim());
      const qParam = params.find((p) => /^q\s*=/i.test(p));
      const q = qParam === undefined ? 1 : Number(qParam.replace(/^q\s*=\s*/i, ''));
      return { tag, q, index };
    })
    .filter((r) => r.tag !== '' && Number.isFinite(r.q) && r.q > 0 && r.q <= 1)
    // Highest q first; equal q keeps header order (Array.prototype.sort is stable).
    .sort((a, b) => b.q - a.q || a.index - b.index);
  for (const range of ranges) {
    if (range.tag === '*') return defaultLocale;
    const locale = toLocale(range.tag);
    if (locale) return locale;
  }
  return defaultLocale;
}

function renderText(c: EmailContent): string {
  const blocks = [c.greeting, ...c.paragraphs];
  if (c.action) blocks.push(`${c.action.label}:\n${c.action.url}`);
  blocks.push(...(c.footer ?? []));
  return `${blocks.join('\n\n')}\n`;
}

function renderHtml(c: EmailContent, locale: Locale): string {
  const p = (s: string, style = '') => `<p${style ? ` style="${style}"` : ''}>${escapeHtml(s)}</p>`;
  const parts = [p(c.greeting), ...c.paragraphs.map((s) => p(s))];
  if (c.action) {
    const url = escapeHtml(c.action.url);
    parts.push(
      `<p><a href="${url}" style="display:inline-block;padding:10px 18px;background:#111827;color:#ffffff;text-decoration:none;border-radius:6px">${escapeHtml(c.action.label)}</a></p>`,
      // Fallback for clients that strip buttons.
      `<p style="font-size:13px;color:#6b7280;word-break:break-all"><a href="${url}">${url}</a></p>`,
    );
  }
  parts.push(...(c.footer ?? []).map((s) => p(s, 'font-size:13px;color:#6b7280')));
  return [
    '<!doctype html>',
    `<html lang="${locale}">`,
    `<head><meta charset="utf-8"><title>${escapeHtml(c.subject)}</title></head>`,
    '<body style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;line-height:1.5;color:#111827">',
    ...parts,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/** Render a template; `locale` may be any tag ("fr-FR"), unsupported ones fall back to English. */
export function renderEmail<T extends EmailTemplate>(template: T, locale: string, vars: TemplateVars[T]): RenderedEmail {
  const resolved = toLocale(locale) ?? defaultLocale;
  // The mapped table type guarantees templates[T][locale] accepts TemplateVars[T].
  const build = templates[template][resolved] as (v: TemplateVars[T]) => EmailContent;
  const content = build(vars);
  return { subject: content.subject, text: renderText(content), html: renderHtml(content, resolved) };
}
