// The Tauri isolation hook: every message from the window to the Rust side
// passes here, in a sandboxed frame the window's scripts cannot reach, before
// it is encrypted for the core. Anything but CareCycle's own commands is
// turned into a command that does not exist, so the core refuses it and the
// caller's promise rejects (throwing here would leave it hanging instead).
//
// COMMANDS is the one list of CareCycle's commands: build.rs reads it from
// this file to declare them to Tauri (one permission each, granted in
// capabilities/main.json). A classic script, one file: Tauri inlines it into
// the isolation page, which serves nothing else.
(() => {
  const COMMANDS = [
    'app_overview',
    'sign_in',
    'sign_out',
    'sync_now',
    'today_screen',
    'threads',
    'thread',
    'send_message',
    'message_draft',
    'mark_thread_read',
    'save_message_draft',
    'check_urgent',
    'sync_status',
    'retry_failed',
    'search',
    'set_checklist_done',
    'settle_conflict',
    'due_questionnaires',
    'questionnaire_form',
    'save_questionnaire_draft',
    'submit_questionnaire',
    'results',
    'care_team',
    'checklist',
    'education',
    'open_education',
    'timeline',
    'export_ics',
    'record_access',
    'message_kinds',
    'set_notification_detail',
    'set_language',
    'lock_state',
    'unlock',
    'set_passcode',
    'still_here',
    'lock_now',
    'set_lock_minutes',
  ];

  // Plugin commands the window uses: the app's events, the opener for
  // tel:/https: links (its capability allows only those schemes), and the
  // permission question the notification plugin's page script asks on load.
  const PLUGIN_COMMANDS = [
    'plugin:event|listen',
    'plugin:event|unlisten',
    'plugin:opener|open_url',
    'plugin:notification|is_permission_granted',
  ];

  const allowed = new Set([...COMMANDS, ...PLUGIN_COMMANDS]);
  const refused = 'refused_by_carecycle_isolation';

  window.__TAURI_ISOLATION_HOOK__ = (payload) => {
    if (payload && typeof payload.cmd === 'string' && allowed.has(payload.cmd)) return payload;
    return { ...payload, cmd: refused, payload: {} };
  };

  // Tauri's own script in this frame (put first in <head>) imports the
  // encryption key, listens for the window's messages, and then says it is
  // ready only on a 50 ms timer (tauri-utils pattern/isolation.js,
  // `waitUntilReady`). The window holds every command until then, so each
  // launch's first screen waited for that timer (#16). This says it as soon
  // as Tauri's script listens; the hook above is in place by then. Tauri's
  // own word still follows, and changes nothing.
  //
  // Whether it listens: a message it must drop (not from the window's
  // origin) is dispatched here, and its listener, if there, reads the origin
  // before anything else. Nothing else in this frame listens.
  function tauriListens() {
    let read = false;
    const probe = new MessageEvent('message', { data: null });
    Object.defineProperty(probe, 'origin', {
      get() {
        read = true;
        return 'null';
      },
    });
    window.dispatchEvent(probe);
    return read;
  }
  // Looked for every 5 ms for 2 s at most: were Tauri's script never to
  // listen, its own timer would not say it either, and this stops asking.
  (function announce(tries) {
    if (tauriListens()) window.parent.postMessage('__TAURI_ISOLATION_READY__', '*');
    else if (tries > 0) setTimeout(announce, 5, tries - 1);
  })(400);
})();
