// What a person does in the browser during SMART sign-in: load the sign-in page,
// fill the form it shows, submit, and follow the redirect back to the app.
// Used as the system browser in e2e runs ($BROWSER), and by tests that need a
// token of their own to read the seed data.

function inputs(html) {
  const unescape = (s) =>
    s.replaceAll('&quot;', '"').replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&#39;', "'").replaceAll('&amp;', '&');
  const fields = [];
  for (const tag of html.matchAll(/<input\b[^>]*>/g)) {
    const name = /\sname="([^"]*)"/.exec(tag[0]);
    const value = /\svalue="([^"]*)"/.exec(tag[0]);
    if (name) fields.push([unescape(name[1]), value ? unescape(value[1]) : '']);
  }
  return fields;
}

/** Fills and submits the sign-in form at `authorizeUrl`; returns the redirect target. */
export async function submitSignIn(authorizeUrl, username, password) {
  const page = await fetch(authorizeUrl);
  if (!page.ok) throw new Error(`sign-in page answered ${page.status}`);
  const html = await page.text();
  const form = /<form[^>]*action="([^"]*)"/.exec(html);
  if (!form) throw new Error('no sign-in form on the page');
  const body = new URLSearchParams(inputs(html).filter(([n]) => n !== 'username' && n !== 'password'));
  body.set('username', username);
  body.set('password', password);
  const answer = await fetch(new URL(form[1], authorizeUrl), { method: 'POST', body, redirect: 'manual' });
  const location = answer.headers.get('location');
  if (answer.status !== 303 || !location) throw new Error(`sign-in was refused (${answer.status})`);
  return location;
}
