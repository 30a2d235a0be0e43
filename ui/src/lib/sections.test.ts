import { describe, expect, it } from 'vitest';
import { SECTIONS, phoneLayout } from './sections';

const views = (list: { view: string }[]) => list.map((s) => s.view);

describe('the phone tab bar', () => {
  it('holds the sections used most between visits; the rest are under More', () => {
    const { tabs, more } = phoneLayout(SECTIONS);
    expect(views(tabs)).toEqual(['today', 'messages', 'questionnaires', 'care']);
    expect(views(more)).toEqual(['team', 'reading', 'results']);
  });

  it('never keeps a place for a section not shared with a family member', () => {
    const shared = SECTIONS.filter((s) => s.area !== 'messages' && s.area !== 'questionnaires');
    const { tabs, more } = phoneLayout(shared);
    expect(views(tabs)).toEqual(['today', 'care', 'team', 'reading']);
    expect(more).toEqual([]);
  });
});
