import { defineConfig } from 'vitest/config';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import type { Plugin } from 'vite';

// The page's script is `async`, so the document is ready as soon as its few
// lines are parsed, not once the script has run: Tauri makes the isolation
// frame every command passes through at DOMContentLoaded, and that frame then
// loads while the script does, not after it (#16: the first screen waited
// for both in turn). main.ts waits for the body itself.
function asyncEntry(): Plugin {
  return {
    name: 'carecycle-async-entry',
    apply: 'build',
    transformIndexHtml: {
      order: 'post',
      handler: (html) => {
        const out = html.replace('<script type="module" crossorigin', '<script type="module" async crossorigin');
        if (out === html) throw new Error('index.html: the entry script tag was not found');
        return out;
      },
    },
  };
}

export default defineConfig({
  plugins: [svelte(), asyncEntry()],
  clearScreen: false,
  server: { port: 5173, strictPort: true, host: '127.0.0.1' },
  build: { target: 'safari15', outDir: 'dist', emptyOutDir: true },
  resolve: process.env.VITEST ? { conditions: ['browser'] } : undefined,
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.ts'],
  },
});
