import type { FakeDiscord, FakeInteraction, FakeMessage } from './fake-discord.js';

/** Gaps between consecutive edits of a message, ms (as the fake received them). */
export function editGaps(m: FakeMessage): number[] {
  return m.edits.slice(1).map((t, i) => t - m.edits[i]!);
}

/** Every bot message whose edits came closer together than `intervalMs` (less a clock tick). */
export function tooFastEdits(fake: FakeDiscord, intervalMs: number): Array<{ id: string; gaps: number[] }> {
  const out: Array<{ id: string; gaps: number[] }> = [];
  for (const m of fake.state.messages.values()) {
    const gaps = editGaps(m);
    if (gaps.some((g) => g < intervalMs - 2)) out.push({ id: m.id, gaps });
  }
  return out;
}

/** The text of a streamed answer once it is complete: the reply and its follow-ups, cursor gone. */
export function finishedAnswer(fake: FakeDiscord, it: FakeInteraction): string | null {
  const parts = [fake.original(it), ...fake.followups(it)];
  if (parts.some((m) => !m || m.deleted)) return null;
  const msgs = parts as FakeMessage[];
  const last = msgs[msgs.length - 1]!;
  if (!msgs[0]!.content.startsWith('echo:') || last.content.includes('▌') || msgs.some((m) => m.components.length > 0)) return null;
  return msgs.map((m) => m.content).join('');
}

/**
 * The text of the ephemeral note an interaction got (its errors). A reply that is only the warning
 * sign is not a note: hearth edits a failed reply to "⚠️" before it posts the note as a follow-up and
 * deletes the reply (src/bots/discord/job-view.ts), so a poll between those requests would read the
 * placeholder as the whole error.
 */
export function ephemeralText(fake: FakeDiscord, it: FakeInteraction): string | null {
  const notes = fake.ephemeralOf(it).filter((m) => m.content !== '' && m.content.trim() !== '⚠️');
  return notes.length > 0 ? notes.map((m) => m.content).join('\n') : null;
}

/** The custom ids of a message's buttons. */
export function buttonIds(m: FakeMessage): string[] {
  return (m.components as Array<{ components?: Array<{ custom_id?: string }> }>).flatMap((r) => (r.components ?? []).map((c) => c.custom_id ?? ''));
}
