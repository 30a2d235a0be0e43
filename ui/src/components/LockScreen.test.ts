import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import App from '../App.svelte';
import { fakeBackend, profile } from '../lib/fake-backend';

afterEach(cleanup);

describe('app lock', () => {
  it('asks for a passcode after the first sign-in, twice, before showing the record', async () => {
    const backend = fakeBackend({ overview: { profiles: [profile] }, lock: { hasPasscode: false } });
    render(App, { backend });
    const first = await screen.findByLabelText('New passcode');
    expect(screen.queryByText('Ana Ruiz')).toBeNull();
    await fireEvent.input(first, { target: { value: '482916' } });
    await fireEvent.input(screen.getByLabelText('Type it again'), { target: { value: '482917' } });
    await fireEvent.submit(first.closest('form')!);
    expect((await screen.findByRole('alert')).textContent).toContain('not the same');
    expect(backend.calls.some((c) => c.startsWith('setPasscode'))).toBe(false);
    await fireEvent.input(screen.getByLabelText('Type it again'), { target: { value: '482916' } });
    await fireEvent.submit(first.closest('form')!);
    expect((await screen.findByTestId('patient-name')).textContent).toBe('Ana Ruiz');
    expect(backend.calls).toContain('setPasscode p-1');
  });

  it('shows no name or health data while locked, says a wrong passcode plainly, and opens with the right one', async () => {
    const backend = fakeBackend({ overview: { profiles: [profile] }, lock: { locked: true } });
    render(App, { backend });
    const field = await screen.findByLabelText('Enter your CareCycle passcode to continue.');
    expect(document.activeElement).toBe(field);
    for (const word of ['Ana', 'Riverside', 'Knee', 'Prehabilitation']) expect(document.body.textContent).not.toContain(word);
    expect(screen.queryByTestId('profile-switch')).toBeNull();
    expect(backend.calls.filter((c) => c.startsWith('today'))).toEqual([]);
    await fireEvent.input(field, { target: { value: '000001' } });
    await fireEvent.submit(field.closest('form')!);
    await waitFor(() => expect(screen.getByRole('alert').textContent).toBe('That passcode is not right.'));
    await fireEvent.input(field, { target: { value: '482916' } });
    await fireEvent.submit(field.closest('form')!);
    expect((await screen.findByTestId('patient-name')).textContent).toBe('Ana Ruiz');
  });

  it('offers the lock timeout in the settings', async () => {
    const backend = fakeBackend({ overview: { profiles: [profile] } });
    render(App, { backend });
    const choice = (await screen.findByLabelText('Lock CareCycle after')) as HTMLSelectElement;
    expect(choice.value).toBe('5');
    await fireEvent.change(choice, { target: { value: '15' } });
    expect(backend.calls).toContain('setLockMinutes 15');
  });
});
