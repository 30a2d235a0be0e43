// Presentation only: turning the core's calendar values into words in the
// person's language. The dates are the clinic's calendar dates, so they are
// formatted as-is (in UTC) rather than shifted into this device's time zone.
// Without a locale they follow the app's language.
import { locale as app } from './i18n.svelte';

// Making an Intl.DateTimeFormat costs about a millisecond in WebKit; a list of
// hundreds of dates makes each kind once per language.
const FORMATS = {
  day: { weekday: 'long', month: 'long', day: 'numeric', timeZone: 'UTC' },
  time: { hour: 'numeric', minute: '2-digit', timeZone: 'UTC' },
  instant: { dateStyle: 'medium', timeStyle: 'short' },
  dayOfInstant: { weekday: 'long', month: 'long', day: 'numeric' },
} satisfies Record<string, Intl.DateTimeFormatOptions>;
const made = new Map<string, Intl.DateTimeFormat>();

function formatter(kind: keyof typeof FORMATS, locale: string | undefined): Intl.DateTimeFormat {
  const lang = locale ?? app.language;
  const key = `${kind} ${lang}`;
  let f = made.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(lang, FORMATS[kind]);
    made.set(key, f);
  }
  return f;
}

function parts(date: string): [number, number, number] | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

export function formatDay(date: string, locale?: string): string {
  const p = parts(date);
  if (!p) return date;
  return formatter('day', locale).format(new Date(Date.UTC(p[0], p[1] - 1, p[2])));
}

export function formatTime(time: string, locale?: string): string {
  const m = /^(\d{2}):(\d{2})$/.exec(time);
  if (!m) return time;
  return formatter('time', locale).format(new Date(Date.UTC(2000, 0, 1, Number(m[1]), Number(m[2]))));
}

export function formatInstant(instant: string, locale?: string): string {
  const d = new Date(instant);
  if (Number.isNaN(d.getTime())) return instant;
  return formatter('instant', locale).format(d);
}

/** The day of a date or an instant, in words ("Tuesday, December 1"). */
export function formatDayOf(value: string, locale?: string): string {
  if (parts(value)) return formatDay(value, locale);
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return value;
  return formatter('dayOfInstant', locale).format(d);
}

/** A score as people read it: whole numbers plain, others to one decimal. */
export function formatScore(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}
