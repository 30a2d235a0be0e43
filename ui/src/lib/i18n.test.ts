import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, fireEvent, render, screen } from '@testing-library/svelte';
import App from '../App.svelte';
import { fakeBackend, profile } from './fake-backend';
import { locale, setLanguage, t, tn } from './i18n.svelte';
import { describeError } from './errors';

afterEach(() => {
  cleanup();
  setLanguage('en');
});

it('starts in the language chosen before', async () => {
  render(App, { backend: fakeBackend({ overview: { profiles: [profile], language: 'es' } }) });
  expect(await screen.findByRole('button', { name: 'Hoy' })).toBeTruthy();
});

describe('languages', () => {
  it('switches the whole app to Spanish and remembers the choice', async () => {
    const backend = fakeBackend({ overview: { profiles: [profile] } });
    render(App, { backend });
    expect(await screen.findByRole('button', { name: 'Today' })).toBeTruthy();
    await fireEvent.change(screen.getByLabelText('Language'), { target: { value: 'es' } });
    expect(await screen.findByRole('button', { name: 'Hoy' })).toBeTruthy();
    expect(await screen.findByText('Sus próximos pasos')).toBeTruthy();
    expect(document.documentElement.lang).toBe('es');
    expect(backend.calls).toContain('setLanguage es');
    expect(locale.language).toBe('es');
  });

  it('fills in the words it is given, and says errors in the same language', () => {
    setLanguage('es');
    expect(t('form.progress', { answered: 3, questions: 9 })).toBe('3 de 9 preguntas respondidas');
    expect(describeError({ code: 'offline', message: 'x' }).sentence).toMatch(/^No pudimos comunicarnos/);
  });

  it("words what was wrong with the patient's input from the core's reason, in either language", () => {
    const tooLarge = {
      code: 'invalidInput' as const,
      message: 'the file is 72 tenths of a MB and the limit is 5 MB',
      invalid: { reason: 'fileTooLarge' as const, tenthsOfMb: 72, limitMb: 5 },
    };
    expect(describeError(tooLarge)).toEqual({
      sentence: 'The file is 7.2 MB and the limit is 5 MB. A photo taken at a smaller size, or a screenshot of it, will fit.',
      detail: null,
    });
    setLanguage('es');
    expect(describeError(tooLarge).sentence).toMatch(/^El archivo ocupa 7,2 MB y el límite es 5 MB\./);
    expect(describeError({ code: 'invalidInput', message: 'x', invalid: { reason: 'unfinished', count: 1 } }).sentence).toBe(
      'Una respuesta aún necesita su atención.',
    );
    // A request the screens never make: the generic sentence, the core's words as detail.
    expect(describeError({ code: 'invalidInput', message: 'bad code', invalid: { reason: 'malformed', what: 'bad code' } })).toEqual({
      sentence: 'Revise lo que escribió.',
      detail: 'bad code',
    });
  });

  it("counts in the form each language's plural rules pick", () => {
    expect(tn('msg.new', 1)).toBe('1 new');
    expect(tn('msg.new', 3)).toBe('3 new');
    expect(tn('read.found', 0)).toBe('Found 0 readings');
    setLanguage('es');
    expect(tn('read.found', 1)).toBe('Se encontró 1 lectura');
    expect(tn('read.found', 2)).toBe('Se encontraron 2 lecturas');
    expect(tn('settings.minutes', 1_000_000)).toBe('1000000 minutos');
  });
});
