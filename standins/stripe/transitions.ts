// What happens to an account after creation (onboarding completed, restricted, deauthorized),
// each recorded as the events Stripe sends for it.
import type Stripe from 'stripe';
import type { Logger } from '../../lib/logger.js';
import { emptyRequirements } from './accounts.js';
import { canonical } from './protocol.js';
import { now, type StoredAccount, type Store } from './state.js';
import type { Webhooks } from './webhooks.js';

export function createTransitions({ store, webhooks, logger }: { store: Store; webhooks: Webhooks; logger?: Logger }) {
  const { state, persist } = store;
  const { recordEvent, scheduleDelivery } = webhooks;

  function findAccount(id: string): StoredAccount {
    const stored = state.accounts[id];
    if (!stored) throw new Error(`No such account: ${id}`);
    if (stored.deauthorized) throw new Error(`Account ${id} has deauthorized the platform`);
    return stored;
  }

  /** Applies `change` and records account.updated (+ capability.updated) if anything changed. */
  async function transition(id: string, change: (account: Stripe.Account) => void) {
    const { account } = findAccount(id);
    const before = structuredClone(account);
    change(account);
    const previous: Record<string, unknown> = {};
    for (const key of [
      'charges_enabled',
      'payouts_enabled',
      'details_submitted',
      'requirements',
      'capabilities',
      'tos_acceptance',
    ] as const)
      if (canonical(before[key]) !== canonical(account[key])) previous[key] = before[key];
    if (Object.keys(previous).length === 0) return;
    const entries = [recordEvent('account.updated', id, structuredClone(account), previous)];
    const caps = (account.capabilities ?? {}) as Record<string, string>;
    const oldCaps = (before.capabilities ?? {}) as Record<string, string>;
    for (const [name, status] of Object.entries(caps)) {
      if (oldCaps[name] === status) continue;
      const capability = {
        id: name,
        object: 'capability',
        account: id,
        future_requirements: emptyRequirements(),
        requested: true,
        requested_at: account.created,
        requirements: { ...account.requirements },
        status,
      };
      entries.push(recordEvent('capability.updated', id, capability, { status: oldCaps[name] }));
    }
    await persist();
    for (const entry of entries) scheduleDelivery(entry, 0);
  }

  async function complete(id: string) {
    await transition(id, (account) => {
      account.details_submitted = true;
      account.charges_enabled = true;
      account.payouts_enabled = true;
      account.business_type ??= 'individual';
      account.requirements = emptyRequirements();
      account.capabilities = Object.fromEntries(
        Object.keys(account.capabilities ?? {}).map((name) => [name, 'active']),
      ) as Stripe.Account.Capabilities;
      if (!account.tos_acceptance?.date) account.tos_acceptance = { date: now(), ip: '127.0.0.1', user_agent: 'Stripe stand-in' };
    });
    logger?.info({ accountId: id }, 'Stripe stand-in account completed onboarding');
  }

  async function restrict(id: string, reason: string) {
    if (!reason) throw new Error('restrict needs a reason (a requirements.disabled_reason value)');
    await transition(id, (account) => {
      account.charges_enabled = false;
      account.payouts_enabled = false;
      // Requirement-driven restrictions come with something to collect again.
      const due = reason.startsWith('requirements.') ? ['individual.verification.document'] : [];
      account.requirements = {
        ...emptyRequirements(),
        currently_due: due,
        eventually_due: due,
        past_due: reason === 'requirements.past_due' ? due : [],
        pending_verification: reason === 'requirements.pending_verification' ? ['individual.verification.document'] : [],
        disabled_reason: reason as Stripe.Account.Requirements.DisabledReason,
      };
      account.capabilities = Object.fromEntries(
        Object.keys(account.capabilities ?? {}).map((name) => [name, 'inactive']),
      ) as Stripe.Account.Capabilities;
    });
    logger?.info({ accountId: id, reason }, 'Stripe stand-in account restricted');
  }

  async function deauthorize(id: string) {
    const stored = findAccount(id);
    stored.deauthorized = true;
    const entry = recordEvent('account.application.deauthorized', id, {
      id: state.applicationId,
      object: 'application',
      name: 'OFM Social OS',
    });
    await persist();
    scheduleDelivery(entry, 0);
    logger?.info({ accountId: id }, 'Stripe stand-in account deauthorized the platform');
  }

  return { complete, restrict, deauthorize };
}

export type Transitions = ReturnType<typeof createTransitions>;
