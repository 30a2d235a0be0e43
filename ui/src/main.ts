import { mount } from 'svelte';
import App from './App.svelte';
import { tauriBackend } from './lib/backend';
import './app.css';

// The script is async (vite.config.ts): it may run before the body is parsed.
function start() {
  const target = document.getElementById('app');
  if (!target) throw new Error('missing #app');
  mount(App, { target, props: { backend: tauriBackend } });
}
if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start, { once: true });
else start();
