/**
 * What a person's action did, and a second step before one that cannot be undone.
 *
 * A note says what the last action did ("Paused run 1a2b3c4d.") or the API's reason for refusing
 * it; it stays until the next action or until dismissed, so a person who looked away still reads
 * it. An action that moves to another page (Enable, Start sync) carries its note there.
 *
 * The confirmation is a step in the page, not `window.confirm`: it names what follows, it can be
 * read and driven like the rest of the page (a test clicks it), and nothing is sent before it.
 */
import { useState } from 'preact/hooks';
import { errorMessage } from './common';

export interface Note {
  kind: 'done' | 'refused';
  text: string;
}

/** The note an action leaves for the page it moves to; taken (once) by that page's first render. */
let carried: Note | null = null;
export const carryNote = (text: string) => {
  carried = { kind: 'done', text };
};
const takeCarried = () => {
  const note = carried;
  carried = null;
  return note;
};

/**
 * A page's actions: one at a time (`busy`), each replacing the last note with its own. `work`
 * answers what happened, or null when it moved to another page (which then shows the note).
 */
export function useActions() {
  const [note, setNote] = useState<Note | null>(takeCarried);
  const [busy, setBusy] = useState(false);
  const act = async (work: () => Promise<string | null>) => {
    setBusy(true);
    setNote(null);
    try {
      const text = await work();
      if (text) setNote({ kind: 'done', text });
    } catch (reason) {
      setNote({ kind: 'refused', text: errorMessage(reason) });
    } finally {
      setBusy(false);
    }
  };
  return { note, busy, act, dismiss: () => setNote(null) };
}

export function ActionNote({ note, onDismiss }: { note: Note | null; onDismiss: () => void }) {
  if (!note) return null;
  return (
    <div class={`note note-${note.kind}`} role={note.kind === 'refused' ? 'alert' : 'status'}>
      <p>{note.text}</p>
      <button type="button" class="quiet" onClick={onDismiss}>
        Dismiss
      </button>
    </div>
  );
}

/**
 * A button for an action that cannot be undone (a run's cancel, a disable), styled as danger:
 * the first click asks, naming the consequence; only `confirmLabel` sends it.
 */
export function ConfirmButton(props: {
  label: string;
  question: string;
  confirmLabel: string;
  keepLabel: string;
  disabled?: boolean;
  onConfirm: () => void;
}) {
  const [asking, setAsking] = useState(false);
  if (!asking) {
    return (
      <button
        type="button"
        class="danger"
        disabled={props.disabled}
        onClick={() => setAsking(true)}
      >
        {props.label}
      </button>
    );
  }
  return (
    <div class="confirm" role="alertdialog" aria-label={props.label}>
      <p>{props.question}</p>
      <div class="confirm-buttons">
        <button
          type="button"
          class="danger"
          disabled={props.disabled}
          onClick={() => {
            setAsking(false);
            props.onConfirm();
          }}
        >
          {props.confirmLabel}
        </button>
        <button type="button" class="secondary" onClick={() => setAsking(false)}>
          {props.keepLabel}
        </button>
      </div>
    </div>
  );
}
