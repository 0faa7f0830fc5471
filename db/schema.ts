// Domain data (system of record), one file per area under db/schema/. Process progress lives in
// Temporal; the onboarding projection is what the API reads, so reads never depend on workflow history.
export * from './schema/accounts.js';
export * from './schema/crm.js';
export * from './schema/messaging.js';
export * from './schema/ai.js';
export * from './schema/money.js';
