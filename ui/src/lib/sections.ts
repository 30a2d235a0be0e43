// The app's sections, and how they are laid out: across the top on a wide
// window, a bottom tab bar with "More" on a phone. Which sections a person
// may see comes from the core (record access); this only arranges them.
import type { Key } from './i18n.svelte';

export type View = 'today' | 'care' | 'messages' | 'team' | 'reading' | 'questionnaires' | 'results';

export type Section = { view: View; label: Key; area: string | null };

/** Each section and the area of the record it shows (a family member may not have it). */
export const SECTIONS: Section[] = [
  { view: 'today', label: 'nav.today', area: null },
  { view: 'care', label: 'nav.care', area: 'schedule' },
  { view: 'messages', label: 'nav.messages', area: 'messages' },
  { view: 'team', label: 'nav.team', area: 'schedule' },
  { view: 'reading', label: 'nav.reading', area: 'education' },
  { view: 'questionnaires', label: 'nav.questionnaires', area: 'questionnaires' },
  { view: 'results', label: 'nav.results', area: 'questionnaires' },
];

/** Below this width (CSS px) the app uses the phone layout. */
export const PHONE_QUERY = '(max-width: 599.98px)';

/** On a phone, the sections a patient between visits opens most, first. */
const PHONE_ORDER: View[] = ['today', 'messages', 'questionnaires', 'care', 'team', 'reading', 'results'];
/** Tabs for sections in the bar, besides "More" (which is always there: it also holds the account actions). */
export const PHONE_TABS = 4;

/**
 * Splits the sections a person may see into the phone's tabs and the rest
 * (under "More"). A section that is not shared leaves its place to the next
 * one, so the bar never shows a dead tab.
 */
export function phoneLayout(shown: Section[]): { tabs: Section[]; more: Section[] } {
  const ordered = PHONE_ORDER.flatMap((v) => shown.filter((s) => s.view === v));
  return { tabs: ordered.slice(0, PHONE_TABS), more: ordered.slice(PHONE_TABS) };
}
