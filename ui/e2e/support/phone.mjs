// Scripts the phone-size tests run in the window: what reaches past its
// sides, controls smaller than 44×44 px, and the tab bar's boxes.

/** What reaches past the window's sides: elements not clipped by an ancestor, by a short description. */
export const OVERFLOW = `
  const width = window.innerWidth;
  const out = [];
  if (document.documentElement.scrollWidth > width) out.push('page scrollWidth ' + document.documentElement.scrollWidth + ' > ' + width);
  const clipped = (el) => {
    for (let p = el.parentElement; p; p = p.parentElement) {
      const o = getComputedStyle(p);
      if (o.overflowX !== 'visible') {
        const r = p.getBoundingClientRect();
        return r.left >= -0.5 && r.right <= width + 0.5;
      }
    }
    return false;
  };
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.right <= width + 0.5 && r.left >= -0.5) continue;
    if (clipped(el)) continue;
    out.push(el.tagName.toLowerCase() + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : '') +
      ' [' + Math.round(r.left) + '–' + Math.round(r.right) + '] ' + (el.textContent || '').trim().slice(0, 40));
  }
  return out;`;

/**
 * Controls shown smaller than 44×44 CSS px. A checkbox or radio button counts
 * with its label (the label is what the finger presses).
 */
export const SMALL_TARGETS = `
  const out = [];
  const seen = new Set();
  for (const el of document.querySelectorAll('button, a[href], input:not([type=hidden]), select, textarea, summary, [role=button], label.option')) {
    if (el.closest('.visually-hidden')) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || el.getClientRects().length === 0) continue;
    const target = (el.type === 'checkbox' || el.type === 'radio') && el.closest('label') ? el.closest('label') : el;
    if (seen.has(target)) continue;
    seen.add(target);
    const r = target.getBoundingClientRect();
    if (r.width < 43.5 || r.height < 43.5) {
      out.push(target.tagName.toLowerCase() + (target.dataset.testid ? '[data-testid=' + target.dataset.testid + ']' : '') +
        ' ' + Math.round(r.width) + '×' + Math.round(r.height) + ' "' + (target.textContent || target.value || '').trim().slice(0, 40) + '"');
    }
  }
  return out;`;

/** The tab bar: its tabs' labels and boxes, and the window's size. */
export const TAB_BAR = `
  const bar = document.querySelector('[data-testid="tabbar"]');
  if (!bar) return null;
  const r = bar.getBoundingClientRect();
  return {
    width: window.innerWidth, height: window.innerHeight, barTop: r.top, barBottom: r.bottom,
    tabs: [...bar.querySelectorAll('button')].map((b) => {
      const t = b.getBoundingClientRect();
      return { id: b.dataset.testid, label: b.textContent.trim(), current: b.getAttribute('aria-current'),
        left: t.left, right: t.right, top: t.top, bottom: t.bottom };
    }),
  };`;
