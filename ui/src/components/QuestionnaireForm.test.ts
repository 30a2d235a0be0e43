import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanup, fireEvent, render, screen } from '@testing-library/svelte';
import QuestionnaireForm from './QuestionnaireForm.svelte';
import { fakeBackend, profile } from '../lib/fake-backend';
import type { Answers } from '../lib/backend';
import type { FormItem, FormView } from '../lib/contract';

afterEach(cleanup);
beforeEach(() => {
  // jsdom has no layout: the form sees a desktop.
  window.matchMedia = ((query: string) => ({
    matches: false,
    media: query,
    addEventListener: () => {},
    removeEventListener: () => {},
  })) as unknown as typeof window.matchMedia;
});

const question: FormItem = {
  linkId: 'q1', itemType: 'choice', text: 'How is your knee?', lang: null, prefix: null, depth: 0, page: 0, required: true,
  repeats: false, readOnly: false, maxLength: null, min: null, max: null, unit: null, control: null, orientation: null,
  options: [{ value: 'good', label: 'Good' }, { value: 'bad', label: 'Bad' }], answers: [], problem: null, problemKind: null,
};

/** A core stand-in: the one question is required; answered, the form is complete. */
function formFor(answers: Answers | null): FormView {
  const answer = answers?.q1;
  const item = answer === undefined
    ? { ...question, problem: 'This question needs an answer.', problemKind: 'required' }
    : { ...question, answers: [answer as string] };
  return {
    taskId: 'Task/t1', title: 'Knee check', lang: null, instrument: '', state: 'due', closes: null, items: [item], pages: 1,
    questions: 1, answered: answer === undefined ? 0 : 1, complete: answer !== undefined, savedAt: null, guidance: [],
  };
}

describe('QuestionnaireForm', () => {
  it('says what is missing next to the question and sends nothing until it is answered', async () => {
    const base = fakeBackend();
    const sent: Answers[] = [];
    let fail = true;
    const backend = {
      ...base,
      questionnaireForm: async (_p: string, _t: string, answers: Answers | null) => formFor(answers),
      submitQuestionnaire: async (_p: string, _t: string, answers: Answers) => {
        if (fail) throw { code: 'network', message: 'offline' };
        sent.push(answers);
        return { responseId: 'QuestionnaireResponse/1', scores: [], guidance: [] };
      },
    };
    let done = false;
    render(QuestionnaireForm, { backend, profile, taskId: 'Task/t1', onDone: () => (done = true), onLeave: () => {} });
    await screen.findByText('Knee check');
    expect(screen.queryByTestId('q-problem')).toBeNull();

    await fireEvent.click(screen.getByTestId('submit'));
    expect((await screen.findByTestId('q-problem')).textContent).toBe('This question needs an answer.');
    expect(sent).toEqual([]);

    await fireEvent.click(screen.getByLabelText('Good'));
    await screen.findByText('1 of 1 questions answered');
    await fireEvent.click(screen.getByTestId('submit'));
    // A failure says so and keeps the answer.
    await screen.findByRole('alert');
    expect((screen.getByLabelText('Good') as HTMLInputElement).checked).toBe(true);
    expect(done).toBe(false);

    fail = false;
    await fireEvent.click(screen.getByTestId('submit'));
    await new Promise((r) => setTimeout(r, 0));
    expect(sent).toEqual([{ q1: 'good' }]);
    expect(done).toBe(true);
  });

  it('keeps the answers on the device when the patient leaves', async () => {
    const base = fakeBackend();
    const backend = { ...base, questionnaireForm: async (_p: string, _t: string, a: Answers | null) => formFor(a) };
    let left = false;
    render(QuestionnaireForm, { backend, profile, taskId: 'Task/t1', onDone: () => {}, onLeave: () => (left = true) });
    await fireEvent.click(await screen.findByLabelText('Bad'));
    await fireEvent.click(screen.getByTestId('form-leave'));
    await new Promise((r) => setTimeout(r, 0));
    expect(base.calls).toContain('saveQuestionnaireDraft p-1 Task/t1 {"q1":"bad"}');
    expect(left).toBe(true);
  });
});
