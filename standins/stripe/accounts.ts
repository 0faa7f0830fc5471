// Express accounts as POST /v1/accounts creates them: parameters checked as Stripe checks them,
// and what the hosted onboarding still has to collect.
import type Stripe from 'stripe';
import {
  invalidRequest,
  isParams,
  missingParam,
  optionalString,
  rejectUnknown,
  unknownParam,
  type FormParams,
  type FormValue,
} from './protocol.js';
import { now, randomId } from './state.js';

export const DEFAULT_CURRENCY: Record<string, string> = { US: 'usd', GB: 'gbp', CA: 'cad', AU: 'aud', CH: 'chf', JP: 'jpy' };
export const EUR_COUNTRIES = new Set(['AT', 'BE', 'DE', 'ES', 'FI', 'FR', 'IE', 'IT', 'LU', 'NL', 'PT']);
export const BUSINESS_TYPES = ['company', 'government_entity', 'individual', 'non_profit'];
export const KNOWN_CAPABILITIES = ['card_payments', 'transfers', 'tax_reporting_us_1099_k', 'tax_reporting_us_1099_misc'];
export const ACCOUNT_CREATE_PARAMS = [
  'account_token',
  'business_profile',
  'business_type',
  'capabilities',
  'company',
  'controller',
  'country',
  'default_currency',
  'documents',
  'email',
  'expand',
  'external_account',
  'groups',
  'individual',
  'metadata',
  'settings',
  'tos_acceptance',
  'type',
];

/** What Stripe's hosted onboarding still has to collect for a new Express account. */
export function onboardingFields(businessType: string | null, profile: Stripe.Account.BusinessProfile, country: string) {
  const person =
    businessType === 'individual'
      ? [
          'individual.address.city',
          'individual.address.line1',
          'individual.address.postal_code',
          ...(country === 'US' ? ['individual.address.state'] : []),
          'individual.dob.day',
          'individual.dob.month',
          'individual.dob.year',
          'individual.email',
          'individual.first_name',
          'individual.last_name',
          'individual.phone',
          ...(country === 'US' ? ['individual.ssn_last_4'] : []),
        ]
      : ['representative.first_name', 'representative.last_name'];
  return [
    ...(profile.mcc ? [] : ['business_profile.mcc']),
    ...(profile.url || profile.product_description ? [] : ['business_profile.url']),
    ...(businessType ? [] : ['business_type']),
    'external_account',
    ...person,
    'tos_acceptance.date',
    'tos_acceptance.ip',
  ].sort();
}

export function emptyRequirements(): Stripe.Account.Requirements {
  return {
    alternatives: [],
    current_deadline: null,
    currently_due: [],
    disabled_reason: null,
    errors: [],
    eventually_due: [],
    past_due: [],
    pending_verification: [],
  };
}

export function parseMetadata(value: FormValue | undefined): Record<string, string> {
  if (value === undefined || value === '') return {};
  if (!isParams(value)) throw invalidRequest('Invalid object', 'metadata');
  const entries = Object.entries(value);
  if (entries.length > 50) throw invalidRequest('Metadata can have at most 50 keys', 'metadata');
  for (const [key, v] of entries) {
    if (typeof v !== 'string') throw invalidRequest(`Invalid string: metadata[${key}]`, `metadata[${key}]`);
    if (key.length > 40) throw invalidRequest('Metadata keys can be at most 40 characters', `metadata[${key}]`);
    if (v.length > 500) throw invalidRequest('Metadata values can be at most 500 characters', `metadata[${key}]`);
  }
  return Object.fromEntries(entries.filter(([, v]) => v !== '')) as Record<string, string>;
}

export function parseCapabilities(value: FormValue | undefined): Record<string, 'inactive'> {
  if (value === undefined) return {};
  if (!isParams(value)) throw invalidRequest('Invalid object', 'capabilities');
  const result: Record<string, 'inactive'> = {};
  for (const [name, spec] of Object.entries(value)) {
    if (!KNOWN_CAPABILITIES.includes(name) && !name.endsWith('_payments')) throw unknownParam(`capabilities[${name}]`);
    const param = `capabilities[${name}][requested]`;
    if (!isParams(spec) || spec.requested === undefined) throw missingParam(param);
    if (spec.requested !== 'true' && spec.requested !== 'false') throw invalidRequest(`Invalid boolean: ${String(spec.requested)}`, param);
    // A requested capability starts inactive until onboarding satisfies its requirements.
    if (spec.requested === 'true') result[name] = 'inactive';
  }
  return result;
}

export function buildAccount(params: FormParams): Stripe.Account {
  rejectUnknown(params, ACCOUNT_CREATE_PARAMS);
  const dashboard =
    isParams(params.controller) && isParams(params.controller.stripe_dashboard) ? params.controller.stripe_dashboard.type : undefined;
  const type = optionalString(params, 'type') ?? (dashboard === 'express' ? 'express' : undefined);
  if (type === undefined) throw missingParam('type');
  if (!['custom', 'express', 'standard'].includes(type))
    throw invalidRequest('Invalid type: must be one of custom, express, or standard', 'type');
  if (type !== 'express') throw invalidRequest('The Stripe stand-in only supports Express accounts (type=express).', 'type');

  const country = (optionalString(params, 'country') ?? 'US').toUpperCase();
  if (!/^[A-Z]{2}$/.test(country))
    throw invalidRequest(
      `Country '${country}' is unknown. Try using a 2-character alphanumeric country code instead, such as 'US', 'EG', or 'GB'.`,
      'country',
      'country_unsupported',
    );
  const email = optionalString(params, 'email') ?? null;
  if (email !== null && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email))
    throw invalidRequest(`Invalid email address: ${email}`, 'email', 'email_invalid');
  const businessType = optionalString(params, 'business_type') ?? null;
  if (businessType !== null && !BUSINESS_TYPES.includes(businessType))
    throw invalidRequest(`Invalid business_type: must be one of ${BUSINESS_TYPES.join(', ')}`, 'business_type');
  const profileIn = isParams(params.business_profile) ? params.business_profile : {};
  const profileField = (name: string) => (typeof profileIn[name] === 'string' ? (profileIn[name] as string) : null);
  const capabilities = parseCapabilities(params.capabilities);
  const metadata = parseMetadata(params.metadata);

  const id = randomId('acct_');
  const profile: Stripe.Account.BusinessProfile = {
    mcc: profileField('mcc'),
    minority_owned_business_designation: null,
    name: profileField('name'),
    product_description: profileField('product_description'),
    specified_commercial_transactions_act_url: null,
    support_address: null,
    support_email: profileField('support_email'),
    support_phone: profileField('support_phone'),
    support_url: profileField('support_url'),
    url: profileField('url'),
  };
  const due = onboardingFields(businessType, profile, country);
  return {
    id,
    object: 'account',
    business_profile: profile,
    business_type: businessType as Stripe.Account.BusinessType | null,
    capabilities: capabilities as Stripe.Account.Capabilities,
    charges_enabled: false,
    controller: {
      fees: { payer: 'application' },
      is_controller: true,
      losses: { payments: 'application' },
      requirement_collection: 'stripe',
      stripe_dashboard: { type: 'express' },
      type: 'application',
    },
    country,
    created: now(),
    default_currency: DEFAULT_CURRENCY[country] ?? (EUR_COUNTRIES.has(country) ? 'eur' : 'usd'),
    details_submitted: false,
    email,
    external_accounts: { object: 'list', data: [], has_more: false, url: `/v1/accounts/${id}/external_accounts` },
    future_requirements: emptyRequirements(),
    metadata,
    payouts_enabled: false,
    // A fresh Express account is disabled until onboarding collects what is past due.
    requirements: {
      ...emptyRequirements(),
      currently_due: due,
      eventually_due: due,
      past_due: due,
      disabled_reason: 'requirements.past_due',
    },
    tos_acceptance: { date: null, ip: null, user_agent: null },
    type: 'express',
  };
}
