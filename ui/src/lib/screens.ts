// The record's screens, each loaded when first shown (its own chunk): the
// first screen (the lock screen, or sign-in) loads only what it draws. Once it
// is up, the rest load in the background, so opening a section never waits.
export const SCREENS = {
  today: () => import('../screens/Today.svelte'),
  messages: () => import('../screens/Messages.svelte'),
  team: () => import('../screens/CareTeam.svelte'),
  care: () => import('../screens/CareCycle.svelte'),
  reading: () => import('../screens/Education.svelte'),
  questionnaires: () => import('../screens/Questionnaires.svelte'),
  results: () => import('../screens/Results.svelte'),
  more: () => import('../screens/More.svelte'),
};

/** Loads every screen's chunk, after `delayMs` (the first screen is drawn by then). */
export function loadScreensSoon(delayMs = 1000): void {
  setTimeout(() => {
    for (const load of Object.values(SCREENS)) void load();
  }, delayMs);
}
