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
