import { describe, expect, it } from 'vitest';
import { formatDay, formatTime } from './format';

describe('format', () => {
  it('keeps the clinic calendar date whatever the device zone', () => {
    expect(formatDay('2026-12-08', 'en-US')).toBe('Tuesday, December 8');
    expect(formatDay('not a date', 'en-US')).toBe('not a date');
  });
  it('formats clinic clock times', () => {
    expect(formatTime('09:30', 'en-US')).toBe('9:30 AM');
    expect(formatTime('14:00', 'en-GB')).toBe('14:00');
  });
});
