import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, fireEvent, render, screen } from '@testing-library/svelte';
import Messages from './Messages.svelte';
import { fakeBackend, profile } from '../lib/fake-backend';
import type { UrgentGuidance } from '../lib/contract';

afterEach(cleanup);

const urgent: UrgentGuidance = {
  urgency: 'emergency',
  concern: 'chest pain',
  title: 'This may be an emergency',
  advice: 'Call 911 now.',
  calls: [['Emergency services', '911']],
};

describe('Messages', () => {
  it('shows call-now guidance before sending text that suggests an emergency, and keeps the text', async () => {
    const backend = { ...fakeBackend(), checkUrgent: async () => urgent };
    render(Messages, { backend, profile });
    await fireEvent.click(await screen.findByTestId('new-message'));
    const field = screen.getByLabelText('Your message') as HTMLTextAreaElement;
    await fireEvent.input(field, { target: { value: 'I have chest pain' } });
    await fireEvent.click(screen.getByTestId('send'));
    const dialog = await screen.findByRole('alertdialog');
    expect(dialog.textContent).toContain('Call 911 now.');
    expect(backend.calls.some((c) => c.startsWith('sendMessage'))).toBe(false);
    expect(field.value).toBe('I have chest pain');
    await fireEvent.click(screen.getByTestId('send-anyway'));
    await screen.findByText('All your messages have been sent.');
    expect(backend.calls).toContain('sendMessage p-1 clinical 17');
  });

  it("says the core's refusal of an empty message in the patient's words", async () => {
    const backend = fakeBackend();
    render(Messages, { backend, profile });
    await fireEvent.click(await screen.findByTestId('new-message'));
    await fireEvent.click(screen.getByTestId('send'));
    expect((await screen.findByRole('alert')).textContent).toBe('Write your message first.');
  });
});
