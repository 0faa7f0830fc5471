// The baseline of scripts/bench-onboarding.ts: a workflow that does nothing, so the figures show
// what the Temporal server itself allows on this machine beside what onboarding achieves.
export async function noopWorkflow(): Promise<void> {}
