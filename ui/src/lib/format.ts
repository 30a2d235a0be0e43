// Presentation only: turning the core's calendar values into words in the
// person's language. The dates are the clinic's calendar dates, so they are
// formatted as-is (in UTC) rather than shifted into this device's time zone.
// Without a locale they follow the app's language.
import { locale as app } from './i18n.svelte';

function parts(date: string): [number, number, number] | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

export function formatDay(date: string, locale?: string): string {
  const p = parts(date);
  if (!p) return date;
  return new Intl.DateTimeFormat(locale ?? app.language, {
    weekday: 'long',
    month: 'long',
    day: 'numeric',
    timeZone: 'UTC',
  }).format(new Date(Date.UTC(p[0], p[1] - 1, p[2])));
}

export function formatTime(time: string, locale?: string): string {
  const m = /^(\d{2}):(\d{2})$/.exec(time);
  if (!m) return time;
  return new Intl.DateTimeFormat(locale ?? app.language, { hour: 'numeric', minute: '2-digit', timeZone: 'UTC' }).format(
    new Date(Date.UTC(2000, 0, 1, Number(m[1]), Number(m[2]))),
  );
}

export function formatInstant(instant: string, locale?: string): string {
  const d = new Date(instant);
  if (Number.isNaN(d.getTime())) return instant;
  return new Intl.DateTimeFormat(locale ?? app.language, { dateStyle: 'medium', timeStyle: 'short' }).format(d);
}

/** The day of a date or an instant, in words ("Tuesday, December 1"). */
export function formatDayOf(value: string, locale?: string): string {
  if (parts(value)) return formatDay(value, locale);
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return value;
  return new Intl.DateTimeFormat(locale ?? app.language, { weekday: 'long', month: 'long', day: 'numeric' }).format(d);
}

/** A score as people read it: whole numbers plain, others to one decimal. */
export function formatScore(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}
