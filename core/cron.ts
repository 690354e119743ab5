import { Cron } from 'croner';
import { ValidationError } from './errors.js';

/**
 * A cron expression croner accepts (5 fields, or 6 with seconds first), in a
 * valid IANA time zone, that fires at least once in the future.
 */
export function assertCron(cron: string, timezone: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    throw new ValidationError('INVALID_CRON', `unknown time zone '${timezone.slice(0, 64)}' (use an IANA name such as UTC or Europe/Berlin)`);
  }
  const fields = cron.trim().split(/\s+/).length;
  if (!cron.trim().startsWith('@') && (fields < 5 || fields > 6)) {
    throw new ValidationError('INVALID_CRON', `cron '${cron}' must have 5 fields, or 6 with seconds first`);
  }
  let next: Date | null;
  try {
    next = new Cron(cron, { timezone, paused: true }).nextRun();
  } catch (err) {
    throw new ValidationError('INVALID_CRON', `invalid cron '${cron}': ${(err as Error).message}`);
  }
  if (next === null) throw new ValidationError('INVALID_CRON', `cron '${cron}' never fires`);
}
