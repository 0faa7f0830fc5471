// Transfers from the platform's available balance to a connected account, and their reversals, as
// Stripe Connect does them for separate charges and transfers: each moves funds between the two
// balances, and is announced with transfer.created / transfer.reversed (and the destination's
// balance.available) events.
import type Stripe from 'stripe';
import type { Logger } from '../../lib/logger.js';
import { parseMetadata } from './accounts.js';
import { balanceInsufficient, fundsOf, MAX_AMOUNT, renderBalance } from './balances.js';
import {
  createdFilter,
  invalidRequest,
  listPage,
  missingParam,
  noSuch,
  optionalInteger,
  optionalString,
  rejectUnknown,
  requiredCurrency,
  requiredString,
  type ApiContext,
  type ApiRoute,
} from './protocol.js';
import { now, PLATFORM, randomId, type StoredTransfer, type Store } from './state.js';
import type { Webhooks } from './webhooks.js';

const TRANSFER_CREATE_PARAMS = [
  'amount',
  'currency',
  'description',
  'destination',
  'expand',
  'metadata',
  'source_transaction',
  'source_type',
  'transfer_group',
];
const SOURCE_TYPES = ['bank_account', 'card', 'fpx'];
/** Reversals embedded in a transfer; more are paged through GET /v1/transfers/:id/reversals. */
const EMBEDDED_REVERSALS = 10;

export function createTransfers({ store, webhooks, logger }: { store: Store; webhooks: Webhooks; logger?: Logger }) {
  const { state } = store;
  const { recordEvent } = webhooks;

  function render(stored: StoredTransfer): Stripe.Transfer {
    const { transfer, reversals } = stored;
    const list = {
      object: 'list' as const,
      data: reversals.slice().reverse().slice(0, EMBEDDED_REVERSALS),
      has_more: reversals.length > EMBEDDED_REVERSALS,
      total_count: reversals.length,
      url: `/v1/transfers/${transfer.id}/reversals`,
    };
    return structuredClone({ ...transfer, reversals: list });
  }

  /** A transfer the caller sent; others' transfers don't exist for it, as with Stripe. */
  function findTransfer({ match, stripeAccount }: ApiContext): StoredTransfer {
    const id = decodeURIComponent(match[1]!);
    const stored = Object.hasOwn(state.transfers, id) ? state.transfers[id] : undefined;
    if (!stored || stored.owner !== (stripeAccount ?? PLATFORM)) throw noSuch('transfer', id);
    return stored;
  }

  const request = (ctx: ApiContext) => ({ id: ctx.requestId, idempotency_key: ctx.idempotencyKey ?? null });

  function createTransfer(ctx: ApiContext) {
    const { params, stripeAccount } = ctx;
    rejectUnknown(params, TRANSFER_CREATE_PARAMS);
    const amount = optionalInteger(params, 'amount', 1, MAX_AMOUNT);
    if (amount === undefined) throw missingParam('amount');
    const currency = requiredCurrency(params);
    const destination = requiredString(params, 'destination');
    const description = optionalString(params, 'description') || null;
    const transferGroup = optionalString(params, 'transfer_group') || null;
    const metadata = parseMetadata(params.metadata);
    const sourceType = optionalString(params, 'source_type') ?? 'card';
    if (!SOURCE_TYPES.includes(sourceType))
      throw invalidRequest(`Invalid source_type: must be one of ${SOURCE_TYPES.join(', ')}`, 'source_type');
    const sourceTransaction = optionalString(params, 'source_transaction');
    // The stand-in has no charges to transfer from.
    if (sourceTransaction !== undefined) throw noSuch('charge', sourceTransaction, 'source_transaction');
    if (description !== null && description.length > 5000)
      throw invalidRequest('Description can be at most 5000 characters', 'description');
    if (transferGroup !== null && transferGroup.length > 5000)
      throw invalidRequest('transfer_group can be at most 5000 characters', 'transfer_group');

    const owner = stripeAccount ?? PLATFORM;
    // Only the platform has connected accounts to send to.
    const stored = owner === PLATFORM && Object.hasOwn(state.accounts, destination) ? state.accounts[destination] : undefined;
    if (!stored || stored.deauthorized) throw noSuch('destination', destination, 'destination');
    const capabilities = (stored.account.capabilities ?? {}) as Record<string, string>;
    if (capabilities.transfers !== 'active')
      throw invalidRequest(
        'Your destination account needs to have at least one of the following capabilities enabled: transfers, crypto_transfers, legacy_payments',
        'destination',
        'insufficient_capabilities_for_transfer',
      );

    // Execution begins: an error from here on is the request's saved answer.
    if (state.faults.balanceInsufficient > 0) {
      state.faults.balanceInsufficient -= 1;
      logger?.info({ destination, amount, left: state.faults.balanceInsufficient }, 'Stripe stand-in failed a transfer on purpose');
      throw balanceInsufficient();
    }
    const from = fundsOf(state, owner, currency);
    // Only card funds exist in the stand-in: other source types have nothing to draw on.
    if (sourceType !== 'card' || from.available < amount) throw balanceInsufficient();
    const to = fundsOf(state, destination, currency);
    from.available -= amount;
    to.available += amount;

    const transfer: StoredTransfer['transfer'] = {
      id: randomId('tr_', 24),
      object: 'transfer',
      amount,
      amount_reversed: 0,
      balance_transaction: randomId('txn_', 24),
      created: now(),
      currency,
      description,
      destination,
      destination_payment: randomId('py_', 24),
      livemode: false,
      metadata,
      reversed: false,
      source_transaction: null,
      source_type: sourceType,
      transfer_group: transferGroup,
    };
    const entry: StoredTransfer = { owner, transfer, reversals: [] };
    state.transfers[transfer.id] = entry;
    const rendered = render(entry);
    ctx.deliver.push(
      recordEvent('transfer.created', stripeAccount ?? null, rendered, undefined, request(ctx)),
      // The destination's funds are available at once, which Stripe announces on that account.
      recordEvent('balance.available', destination, renderBalance(state, destination), undefined, request(ctx)),
    );
    logger?.info({ transferId: transfer.id, destination, amount, currency, transferGroup }, 'Stripe stand-in created a transfer');
    return rendered;
  }

  function listTransfers({ params, stripeAccount }: ApiContext) {
    rejectUnknown(params, ['created', 'destination', 'ending_before', 'expand', 'limit', 'starting_after', 'transfer_group']);
    const destination = optionalString(params, 'destination');
    const group = optionalString(params, 'transfer_group');
    const inRange = createdFilter(params);
    const owner = stripeAccount ?? PLATFORM;
    const matching = Object.values(state.transfers)
      .filter(
        (t) =>
          t.owner === owner &&
          (destination === undefined || t.transfer.destination === destination) &&
          (group === undefined || t.transfer.transfer_group === group) &&
          inRange(t.transfer.created),
      )
      .reverse()
      .map(render);
    return listPage(matching, params, '/v1/transfers', 'transfer');
  }

  function retrieveTransfer(ctx: ApiContext) {
    rejectUnknown(ctx.params, ['expand']);
    return render(findTransfer(ctx));
  }

  function createReversal(ctx: ApiContext) {
    const { params } = ctx;
    rejectUnknown(params, ['amount', 'description', 'expand', 'metadata', 'refund_application_fee']);
    const stored = findTransfer(ctx);
    const { transfer } = stored;
    const remaining = transfer.amount - transfer.amount_reversed;
    const requested = optionalInteger(params, 'amount', 1, MAX_AMOUNT);
    const metadata = parseMetadata(params.metadata);
    optionalString(params, 'description');
    const fee = optionalString(params, 'refund_application_fee');
    if (fee !== undefined && fee !== 'true' && fee !== 'false') throw invalidRequest(`Invalid boolean: ${fee}`, 'refund_application_fee');
    if (remaining === 0) throw invalidRequest(`The transfer ${transfer.id} is already fully reversed.`);
    const amount = requested ?? remaining;
    if (amount > remaining)
      throw invalidRequest(
        `The amount to reverse (${amount}) is greater than the amount of the transfer that can still be reversed (${remaining}).`,
        'amount',
      );

    // Execution begins. A reversal takes the funds back from the destination, which must still hold them.
    const destination = transfer.destination as string;
    const from = fundsOf(state, destination, transfer.currency);
    if (from.available < amount)
      throw balanceInsufficient(`The destination account ${destination} has insufficient available funds to cover this reversal.`);
    from.available -= amount;
    fundsOf(state, stored.owner, transfer.currency).available += amount;

    const reversal: Stripe.TransferReversal = {
      id: randomId('trr_', 24),
      object: 'transfer_reversal',
      amount,
      balance_transaction: randomId('txn_', 24),
      created: now(),
      currency: transfer.currency,
      destination_payment_refund: randomId('pyr_', 24),
      metadata,
      source_refund: null,
      transfer: transfer.id,
    };
    const previous: Record<string, unknown> = { amount_reversed: transfer.amount_reversed };
    stored.reversals.push(reversal);
    transfer.amount_reversed += amount;
    if (transfer.amount_reversed === transfer.amount) {
      transfer.reversed = true;
      previous.reversed = false;
    }
    ctx.deliver.push(recordEvent('transfer.reversed', ctx.stripeAccount ?? null, render(stored), previous, request(ctx)));
    logger?.info({ transferId: transfer.id, amount, reversed: transfer.reversed }, 'Stripe stand-in reversed a transfer');
    return structuredClone(reversal);
  }

  function listReversals(ctx: ApiContext) {
    rejectUnknown(ctx.params, ['ending_before', 'expand', 'limit', 'starting_after']);
    const stored = findTransfer(ctx);
    const newestFirst = stored.reversals
      .slice()
      .reverse()
      .map((r) => structuredClone(r));
    return listPage(newestFirst, ctx.params, `/v1/transfers/${stored.transfer.id}/reversals`, 'transfer_reversal');
  }

  function retrieveReversal(ctx: ApiContext) {
    rejectUnknown(ctx.params, ['expand']);
    const stored = findTransfer(ctx);
    const id = decodeURIComponent(ctx.match[2]!);
    const reversal = stored.reversals.find((r) => r.id === id);
    if (!reversal) throw noSuch('transfer_reversal', id);
    return structuredClone(reversal);
  }

  /** Test fault: the next `count` transfers fail with balance_insufficient whatever the balance. */
  function failNextTransfers(count: number) {
    if (!Number.isSafeInteger(count) || count < 0) throw new Error('count must be a non-negative integer');
    state.faults.balanceInsufficient = count;
  }

  /** Test fault: the next `count` transfers are made (funds moved, events sent) and their answer never comes. */
  function hangNextTransfers(count: number) {
    if (!Number.isSafeInteger(count) || count < 0) throw new Error('count must be a non-negative integer');
    state.faults.hangAfterTransfer = count;
  }

  /** Whether the answer to a transfer just made is to be withheld (consumes one of the fault's count). */
  function withholdAnswer(): boolean {
    if (!state.faults.hangAfterTransfer) return false;
    state.faults.hangAfterTransfer -= 1;
    return true;
  }

  const routes: ApiRoute[] = [
    ['POST', /^\/v1\/transfers$/, createTransfer],
    ['GET', /^\/v1\/transfers$/, listTransfers],
    ['GET', /^\/v1\/transfers\/([^/]+)$/, retrieveTransfer],
    ['POST', /^\/v1\/transfers\/([^/]+)\/reversals$/, createReversal],
    ['GET', /^\/v1\/transfers\/([^/]+)\/reversals$/, listReversals],
    ['GET', /^\/v1\/transfers\/([^/]+)\/reversals\/([^/]+)$/, retrieveReversal],
  ];
  return { routes, failNextTransfers, hangNextTransfers, withholdAnswer, createTransfer };
}

export type Transfers = ReturnType<typeof createTransfers>;
