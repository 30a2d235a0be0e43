// A small W3C WebDriver client over fetch: what the e2e tests need of
// tauri-driver (sessions, elements, clicks, typing, scripts, screenshots).
const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

export class WebDriverError extends Error {}

const REPAINT_START = `
  const root = document.documentElement;
  let on = false;
  window.__e2eRepaint = setInterval(() => { on = !on; root.style.outline = on ? '1px solid transparent' : ''; }, 50);
  return true;`;
const REPAINT_STOP = `
  clearInterval(window.__e2eRepaint);
  document.documentElement.style.outline = '';
  return true;`;

async function call(base, method, path, body) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await response.json().catch(() => ({}));
  if (!response.ok) {
    const v = json.value ?? {};
    throw new WebDriverError(`${method} ${path}: ${v.error ?? response.status} ${v.message ?? ''}`.trim());
  }
  return json.value;
}

export class Session {
  constructor(base, id) {
    this.base = base;
    this.id = id;
  }

  static async start(base, application, { implicitWaitMs = 15000 } = {}) {
    const value = await call(base, 'POST', '/session', {
      capabilities: { alwaysMatch: { 'tauri:options': { application } } },
    });
    const session = new Session(base, value.sessionId);
    await session.cmd('POST', '/timeouts', { implicit: implicitWaitMs, script: 30000 });
    return session;
  }

  cmd(method, path, body) {
    return call(this.base, method, `/session/${this.id}${path}`, body);
  }

  async find(css) {
    const el = await this.cmd('POST', '/element', { using: 'css selector', value: css });
    return el[ELEMENT];
  }

  async findAll(css) {
    const els = await this.cmd('POST', '/elements', { using: 'css selector', value: css });
    return els.map((e) => e[ELEMENT]);
  }

  async findIn(parent, css) {
    const els = await this.cmd('POST', `/element/${parent}/elements`, { using: 'css selector', value: css });
    return els.map((e) => e[ELEMENT]);
  }

  text(el) {
    return this.cmd('GET', `/element/${el}/text`);
  }

  attribute(el, name) {
    return this.cmd('GET', `/element/${el}/attribute/${name}`);
  }

  /** A DOM property (e.g. a text field's current `value`). */
  property(el, name) {
    return this.cmd('GET', `/element/${el}/property/${name}`);
  }

  click(el) {
    return this.cmd('POST', `/element/${el}/click`, {});
  }

  type(el, text) {
    return this.cmd('POST', `/element/${el}/value`, { text });
  }

  execute(script, args = []) {
    return this.cmd('POST', '/execute/sync', { script, args });
  }

  executeAsync(script, args = []) {
    return this.cmd('POST', '/execute/async', { script, args });
  }

  setWindowSize(width, height) {
    return this.cmd('POST', '/window/rect', { width, height });
  }

  /**
   * A PNG of the window. WebKitWebDriver's screenshot waits for the page's
   * next paint; with WebKit's compositing off (what the app chooses with no
   * GPU: src-tauri/src/renderer.rs) a page that has stopped changing never
   * paints again, and the screenshot never returns (Results, in the year test).
   * So while it waits, the page repaints every 50 ms: an invisible outline on
   * the root, on and off, which moves nothing and draws nothing.
   */
  async screenshot() {
    await this.execute(REPAINT_START);
    try {
      return Buffer.from(await this.cmd('GET', '/screenshot'), 'base64');
    } finally {
      await this.execute(REPAINT_STOP);
    }
  }

  /** Polls `predicate` until it returns a truthy value or the time runs out. */
  async waitFor(predicate, { timeoutMs = 30000, intervalMs = 200, what = 'condition' } = {}) {
    const deadline = Date.now() + timeoutMs;
    let last;
    while (Date.now() < deadline) {
      try {
        const value = await predicate();
        if (value) return value;
      } catch (e) {
        last = e;
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
    throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
  }

  end() {
    return call(this.base, 'DELETE', `/session/${this.id}`).catch(() => {});
  }
}
