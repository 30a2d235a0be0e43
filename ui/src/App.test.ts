import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/svelte';
import App from './App.svelte';
import { commandError, fakeBackend, profile } from './lib/fake-backend';

afterEach(cleanup);

describe('first screen', () => {
  it('offers each care organization and signs in to the one chosen', async () => {
    const backend = fakeBackend({
      overview: { serverChoices: [{ label: 'Riverside (demo)', fhirBaseUrl: 'http://127.0.0.1:9/fhir' }] },
    });
    render(App, { backend });
    await fireEvent.click(await screen.findByRole('button', { name: 'Sign in to Riverside (demo)' }));
    expect(await screen.findByTestId('patient-name')).toHaveProperty('textContent', 'Ana Ruiz');
    expect(backend.calls).toContain('signIn http://127.0.0.1:9/fhir');
  });

  it('keeps what was typed and explains a failed sign-in', async () => {
    const backend = fakeBackend({
      signIn: () => Promise.reject(commandError('notAFhirServer', 'answered 404')),
    });
    render(App, { backend });
    const field = await screen.findByLabelText('Patient system address (from your care team)');
    await fireEvent.input(field, { target: { value: 'https://wrong.example.org' } });
    await fireEvent.submit(field.closest('form')!);
    const alert = await screen.findByTestId('sign-in-error');
    expect(alert.textContent).toContain('does not look like a care organization');
    expect((field as HTMLInputElement).value).toBe('https://wrong.example.org');
  });

  it('says plainly when the keyring is missing and does not offer sign-in', async () => {
    render(App, { backend: fakeBackend({ overview: { keyringAvailable: false, serverChoices: [{ label: 'X', fhirBaseUrl: 'https://x/fhir' }] } }) });
    expect((await screen.findByTestId('keyring-problem')).textContent).toContain('keyring');
    expect((screen.getByRole('button', { name: 'Sign in to X' }) as HTMLButtonElement).disabled).toBe(true);
  });
});

describe('Today', () => {
  it('shows the stored record first, then syncs', async () => {
    const backend = fakeBackend({ overview: { profiles: [profile] } });
    render(App, { backend });
    expect((await screen.findByTestId('phase')).textContent).toBe('Prehabilitation');
    expect(screen.getByTestId('coordinator-name').textContent).toBe('Priya Raman, RN');
    const steps = screen.getAllByTestId('next-step');
    expect(steps).toHaveLength(2);
    expect(within(steps[0]!).getByRole('heading').textContent).toBe('Physical therapy');
    expect(steps[0]!.querySelector('time')?.getAttribute('datetime')).toBe('2026-11-24');
    await waitFor(() => expect(backend.calls).toContain('syncNow p-1'));
    // The first screen is one call, shown before the sync starts.
    expect(backend.calls.filter((c) => c.startsWith('today'))[0]).toBe('todayScreen p-1');
    expect(backend.calls.indexOf('todayScreen p-1')).toBeLessThan(backend.calls.indexOf('syncNow p-1'));
  });

  it('still shows the record when the sync fails, and says why', async () => {
    const backend = fakeBackend({
      overview: { profiles: [profile] },
      sync: () => Promise.reject(commandError('offline', 'could not connect')),
    });
    render(App, { backend });
    await screen.findByTestId('phase');
    await screen.findByText(/could not reach your care team/);
    expect(screen.getByTestId('patient-name').textContent).toBe('Ana Ruiz');
  });
});
