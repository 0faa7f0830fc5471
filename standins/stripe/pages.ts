// Stripe's hosted pages as the stand-in plays them: the single-use onboarding page an account link
// opens, and the Express dashboard a login link opens.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody } from '../http.js';
import { MAX_BODY_BYTES } from './api.js';
import { invalidRequest } from './protocol.js';
import { now, randomId, type Store } from './state.js';
import type { Transitions } from './transitions.js';

export function redirect(res: ServerResponse, status: 302 | 303, location: string) {
  res.writeHead(status, { location, 'content-length': 0 });
  res.end();
}

export const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export function sendHtml(res: ServerResponse, status: number, title: string, body: string) {
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1a1f36}
button{font-size:1rem;padding:.6rem 1.2rem;margin:.3rem .3rem 0 0;border-radius:6px;border:1px solid #635bff;cursor:pointer}
button.primary{background:#635bff;color:#fff}.note{color:#697386;font-size:.9rem}</style></head>
<body><p class="note">Stripe stand-in (test mode)</p><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html) });
  res.end(html);
}

export function createPages({ store, transitions }: { store: Store; transitions: Transitions }) {
  const { state, persist } = store;
  const { complete } = transitions;

  async function onboardingPage(req: IncomingMessage, res: ServerResponse, linkId: string) {
    const link = state.links[linkId];
    if (!link) return sendHtml(res, 404, 'Link not found', '<p>This onboarding link does not exist.</p>');

    if (req.method === 'GET') {
      // Single use, like Stripe's: a second visit or an expired link goes to refresh_url,
      // where the platform is expected to create a fresh link.
      if (link.visited || now() >= link.expiresAt) return redirect(res, 302, link.refreshUrl);
      link.visited = true;
      link.session = randomId('', 24);
      await persist();
      const { account } = state.accounts[link.account]!;
      return sendHtml(
        res,
        200,
        'Set up payouts',
        `<p>Account <code>${escapeHtml(account.id)}</code>${account.email ? ` (${escapeHtml(account.email)})` : ''}</p>
<p>In real Stripe this is where identity, bank account and terms are collected.</p>
<form method="post" action="/connect/onboarding/${escapeHtml(link.id)}">
<input type="hidden" name="session" value="${escapeHtml(link.session)}">
<button class="primary" type="submit" name="action" value="complete">Complete verification</button>
<button type="submit" name="action" value="exit">Save and return later</button>
</form>`,
      );
    }

    const form = new URLSearchParams(await readBody(req, MAX_BODY_BYTES, invalidRequest));
    if (link.submitted || !link.session || form.get('session') !== link.session) return redirect(res, 303, link.refreshUrl);
    link.submitted = true;
    if (form.get('action') === 'exit') {
      // Leaving early still lands on return_url: the platform must check the account itself.
      await persist();
    } else {
      const stored = state.accounts[link.account];
      if (!stored || stored.deauthorized) return redirect(res, 303, link.refreshUrl);
      await complete(link.account);
    }
    redirect(res, 303, link.returnUrl);
  }

  function dashboardPage(res: ServerResponse, accountId: string) {
    const stored = state.accounts[accountId];
    if (!stored || stored.deauthorized) return sendHtml(res, 404, 'Not found', '<p>Unknown account.</p>');
    const a = stored.account;
    sendHtml(
      res,
      200,
      'Express dashboard',
      `<p>Account <code>${escapeHtml(a.id)}</code></p><ul>
<li>Charges: ${a.charges_enabled ? 'enabled' : 'disabled'}</li>
<li>Payouts: ${a.payouts_enabled ? 'enabled' : 'disabled'}</li>
<li>Restriction: ${escapeHtml(a.requirements?.disabled_reason ?? 'none')}</li></ul>`,
    );
  }

  return { onboardingPage, dashboardPage };
}
