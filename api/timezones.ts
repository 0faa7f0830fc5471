import { ApiError } from './errors.js';

// IANA names only ("Europe/Paris", "UTC"); offsets such as "+02:00", which Intl also accepts, are not.
const IANA_SHAPE = /^[A-Za-z][A-Za-z_]*(?:\/[A-Za-z0-9_+-]+){0,2}$/;

export function isIanaTimezone(name: string): boolean {
  if (!IANA_SHAPE.test(name)) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** The 400 both registration and update-timezone answer for a non-IANA name. */
export function assertIanaTimezone(name: string): void {
  if (!isIanaTimezone(name)) {
    throw new ApiError(400, 'validation_failed', 'timezone must be an IANA name such as Europe/Paris', [
      { field: 'body.timezone', message: 'unknown timezone' },
    ]);
  }
}
