/**
 * One chat job inside the runner: its context sequence, its LlamaChat generation (running as one
 * promise, paced by its TokenGate), and the text it has produced.
 */
import { LlamaChat, type ChatHistoryItem, type ChatWrapper, type LlamaContextSequence } from 'node-llama-cpp';
import type { ErrorInfo } from '../../engine/types.js';
import { gateSequence } from './gated-sequence.js';
import type { ChatMessage } from '../../jobs/chat.js';
import type { TokenGate } from './token-gate.js';

export type ChatStopReason = 'endOfTurn' | 'maxTokens' | 'cancelled';

export interface ChatOutcome {
  text: string;
  /** True when the answer was cut (token limit or cancel), not ended by the model. */
  stopped: boolean;
  stopReason: ChatStopReason;
}

export interface ChatSampling {
  maxTokens: number;
  temperature: number;
  topP: number;
  repeatPenalty: number;
}

/** The conversation as node-llama-cpp's chat history, ending with the empty answer to generate. */
export function toChatHistory(messages: readonly ChatMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = messages.map((m): ChatHistoryItem => {
    if (m.role === 'system') return { type: 'system', text: m.content };
    if (m.role === 'user') return { type: 'user', text: m.content };
    return { type: 'model', response: [m.content] };
  });
  history.push({ type: 'model', response: [] });
  return history;
}

class JobCancelled extends Error {
  constructor() {
    super('the chat job was cancelled');
    this.name = 'AbortError';
  }
}

export class ChatJob {
  /** Text produced so far (what the token events carried). */
  text = '';
  outcome: ChatOutcome | undefined;
  failure: ErrorInfo | undefined;
  /** Receives text as it is produced, while a step runs. */
  onText: ((text: string) => void) | undefined;
  private readonly abortController = new AbortController();
  private readonly chat: LlamaChat;
  private readonly settled: Promise<void>;
  private disposed = false;

  constructor(
    readonly id: string,
    private readonly sequence: LlamaContextSequence,
    chatWrapper: ChatWrapper,
    readonly gate: TokenGate,
    messages: readonly ChatMessage[],
    sampling: ChatSampling,
    /** Tokens of the rendered prompt, evaluated in the job's first step. */
    readonly promptTokens: number,
    /** Oldest messages left out to fit the context. */
    readonly droppedMessages: number,
  ) {
    this.chat = new LlamaChat({ contextSequence: gateSequence(sequence, () => gate.acquire()), chatWrapper });
    const signal = this.abortController.signal;
    this.settled = this.chat
      .generateResponse(toChatHistory(messages), {
        maxTokens: sampling.maxTokens,
        temperature: sampling.temperature,
        topP: sampling.topP,
        repeatPenalty: sampling.repeatPenalty === 1 ? false : { penalty: sampling.repeatPenalty },
        signal,
        stopOnAbortSignal: true,
        onTextChunk: (chunk) => {
          if (chunk === '') return;
          this.text += chunk;
          this.onText?.(chunk);
        },
      })
      .then(
        (response) => {
          const reason = response.metadata.stopReason;
          if (reason === 'abort' || signal.aborted) this.outcome = { text: this.text, stopped: true, stopReason: 'cancelled' };
          else if (reason === 'maxTokens') this.outcome = { text: this.text, stopped: true, stopReason: 'maxTokens' };
          else this.outcome = { text: this.text, stopped: false, stopReason: 'endOfTurn' };
        },
        (error: unknown) => {
          if (signal.aborted) this.outcome = { text: this.text, stopped: true, stopReason: 'cancelled' };
          else
            this.failure = {
              code: 'RUNNER_FAILED',
              message: `the chat generation failed: ${error instanceof Error ? error.message : String(error)}`,
              facts: { jobId: id },
            };
        },
      )
      .finally(() => gate.finish());
  }

  get done(): boolean {
    return this.outcome !== undefined || this.failure !== undefined;
  }

  /** Stops the generation at the next token boundary; the job then reports `cancelled`. */
  cancel(): void {
    if (this.done) return;
    this.abortController.abort(new JobCancelled());
    this.gate.abort(new JobCancelled());
  }

  /** Stops the generation and frees the sequence. Safe to call twice. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.onText = undefined;
    this.cancel();
    await this.settled;
    this.chat.dispose();
    if (!this.sequence.disposed) await this.sequence.dispose();
  }
}
