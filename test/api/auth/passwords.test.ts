import { describe, expect, it } from 'vitest';
import { lockoutSeconds } from '../../../api/auth/login-throttle.js';
import { hashPassword, passwordProblem, verifyPassword } from '../../../api/auth/passwords.js';
import { isIanaTimezone } from '../../../api/timezones.js';

describe('password policy', () => {
  it.each([
    ['short', /at least 10/],
    ['password123', /too common/],
    ['1234567890', /too common/],
    ['aaaaaaaaaaaa', /repetitive/],
    ['x'.repeat(300), /at most/],
  ])('refuses %s', (pw, why) => expect(passwordProblem(pw)).toMatch(why));

  it('refuses the email as password and accepts a passphrase', () => {
    expect(passwordProblem('me@example.com', 'ME@example.com')).toMatch(/email/);
    expect(passwordProblem('violet-tangent-harbour-42')).toBeNull();
  });

  it('hashes with argon2id (OWASP parameters) and verifies', async () => {
    const hash = await hashPassword('violet-tangent-harbour-42');
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(await verifyPassword(hash, 'violet-tangent-harbour-42')).toBe(true);
    expect(await verifyPassword(hash, 'violet-tangent-harbour-43')).toBe(false);
    expect(await verifyPassword('not-a-hash', 'x')).toBe(false);
  });
});

describe('login lock-out', () => {
  const config = { LOGIN_MAX_FAILURES: 5, LOGIN_LOCKOUT_BASE_SECONDS: 30, LOGIN_IP_MAX_FAILURES_PER_15MIN: 50 };
  it('starts at the fifth failure and doubles, capped at an hour', () => {
    expect([0, 4, 5, 6, 7, 20].map((n) => lockoutSeconds(n, config))).toEqual([0, 0, 30, 60, 120, 3600]);
  });
});

describe('timezones', () => {
  it('accepts IANA names only', () => {
    for (const tz of ['UTC', 'Europe/Paris', 'America/Argentina/Buenos_Aires', 'Etc/GMT+2']) expect(isIanaTimezone(tz), tz).toBe(true);
    for (const tz of ['+02:00', 'Mars/Olympus', 'Europe/Paris; DROP', '', 'europe paris']) expect(isIanaTimezone(tz), tz).toBe(false);
  });
});
