// One task queue per area, so each scales and is rate limited on its own.
export const TaskQueues = {
  onboarding: 'onboarding',
  maintenance: 'maintenance',
  crm: 'crm',
  messaging: 'messaging',
  campaigns: 'campaigns',
  ai: 'ai',
  money: 'money',
} as const;
