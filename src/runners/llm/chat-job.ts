/**
 * One chat job inside the runner: its context sequence, its LlamaChat generation (running as one
 * promise, paced by its TokenGate), and the text it has produced.
 *
 * Each gate iteration is one unit of a step's work. When more of the prompt is missing from the
 * sequence than one step may evaluate, the job first evaluates it in chunks (all but its last
 * token), one chunk per iteration, each as large as the runner allows in that step (`chunkBudget`);
 * its next iteration evaluates the last token and yields the first one of the answer. A shorter
 * prompt is evaluated whole by the first iteration, which also yields the first token. Every later
 * iteration yields one token. LlamaChat finds the chunks already in the sequence (it compares the
 * sequence's tokens with its prompt) and evaluates only the rest.
 */
import { LlamaChat, type ChatHistoryItem, type ChatWrapper, type LlamaContextSequence, type Token } from 'node-llama-cpp';
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

/** How the job's prompt is evaluated. */
export interface ChatPromptPlan {
  /** The rendered prompt's tokens, as LlamaChat evaluates them. */
  tokens: readonly Token[];
  /** Leading prompt tokens already evaluated in the sequence (a conversation cache hit, a shared prefix). */
  cachedTokens: number;
  /** Most prompt tokens one step evaluates: a prompt missing more than this is evaluated in chunks. */
  tokensPerStep: number;
}

/** A job's work so far. */
export interface ChatWork {
  /** Prompt tokens evaluated. */
  promptTokens: number;
  /** Answer tokens produced (iterations of the generation). */
  generated: number;
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
  /** Tokens of the rendered prompt. */
  readonly promptTokens: number;
  /** Leading prompt tokens the sequence held already. */
  readonly cachedTokens: number;
  /** Where chunked evaluation stops (the prompt's last token is left to the first generation iteration); `cachedTokens` when there is none. */
  readonly prefillEnd: number;
  /** Most prompt tokens the next chunk may evaluate; the runner sets it before each step. */
  chunkBudget = 0;
  /** Prompt chunks evaluated. */
  chunks = 0;
  /** Work so far. */
  readonly work: ChatWork = { promptTokens: 0, generated: 0 };
  /** The sequence's draft predictions when the job began (see draft.ts). */
  readonly predictionsAtStart: { validated: number; refuted: number };
  /** Prompt tokens in the sequence. */
  private evaluatedTo: number;
  private readonly abortController = new AbortController();
  private readonly chat: LlamaChat;
  private readonly settled: Promise<void>;
  private disposed = false;

  constructor(
    readonly id: string,
    readonly sequence: LlamaContextSequence,
    chatWrapper: ChatWrapper,
    readonly gate: TokenGate,
    messages: readonly ChatMessage[],
    sampling: ChatSampling,
    prompt: ChatPromptPlan,
    /** Oldest messages left out to fit the context. */
    readonly droppedMessages: number,
    /** The conversation the job is a turn of: its sequence is kept for the next turn. */
    readonly conversationId: string | undefined,
  ) {
    const total = prompt.tokens.length;
    this.promptTokens = total;
    this.cachedTokens = prompt.cachedTokens;
    this.evaluatedTo = prompt.cachedTokens;
    const { validated, refuted } = sequence.tokenPredictions;
    this.predictionsAtStart = { validated, refuted };
    this.prefillEnd = total - prompt.cachedTokens > Math.max(1, prompt.tokensPerStep) ? total - 1 : prompt.cachedTokens;
    // Each generation iteration asks the gate; the first one also evaluates what is left of the prompt.
    const generationStep = async (): Promise<void> => {
      await gate.acquire();
      this.work.promptTokens += total - this.evaluatedTo;
      this.evaluatedTo = total;
      this.work.generated++;
    };
    this.chat = new LlamaChat({ contextSequence: gateSequence(sequence, generationStep), chatWrapper });
    const signal = this.abortController.signal;
    const prefill = async (): Promise<void> => {
      while (this.evaluatedTo < this.prefillEnd) {
        await gate.acquire();
        const from = this.evaluatedTo;
        const size = Math.max(1, Math.min(this.chunkBudget, this.prefillEnd - from));
        this.work.promptTokens += size;
        this.chunks++;
        await sequence.evaluateWithoutGeneratingNewTokens(prompt.tokens.slice(from, from + size));
        this.evaluatedTo = from + size;
      }
    };
    const generate = () =>
      this.chat.generateResponse(toChatHistory(messages), {
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
      });
    this.settled = prefill()
      .then(generate)
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

  /** True while the next iteration evaluates a chunk of the prompt (of at most `chunkBudget` tokens). */
  get chunking(): boolean {
    return this.evaluatedTo < this.prefillEnd;
  }

  /** Prompt tokens the chunks still have to evaluate. */
  get chunkLeft(): number {
    return Math.max(0, this.prefillEnd - this.evaluatedTo);
  }

  /** Prompt tokens still to evaluate (in chunks, or by the first generation iteration); 0 once the answer has begun. */
  get promptLeft(): number {
    return this.promptTokens - this.evaluatedTo;
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

  /** Stops the generation and lets go of the sequence (the runner keeps or frees it). Safe to call twice. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.onText = undefined;
    this.cancel();
    await this.settled;
    this.chat.dispose({ disposeSequence: false });
  }
}

/**
 * Each job's iterations in this step. The step evaluates at most `promptTokensPerStep` prompt
 * tokens in all, shortest prompts first: a job whose prompt fits gets one iteration (the prompt
 * and the answer's first token); a long prompt gets a chunk of what is left of the budget; a job
 * that finds none left waits for a later step (the first prompt job always goes, so every step
 * makes progress). A job past its prompt gets `tokensPerStep` tokens.
 */
export function stepGrants(running: readonly ChatJob[], promptTokensPerStep: number, tokensPerStep: number): Array<readonly [TokenGate, number]> {
  const grant = new Map<ChatJob, number>();
  let budget = promptTokensPerStep;
  const prompting = running.filter((job) => job.promptLeft > 0).sort((a, b) => a.promptLeft - b.promptLeft);
  for (const [i, job] of prompting.entries()) {
    if (job.chunking) job.chunkBudget = i === 0 ? Math.max(budget, 1) : budget;
    const need = job.chunking ? Math.min(job.chunkBudget, job.chunkLeft) : job.promptLeft;
    const goes = i === 0 || (need > 0 && need <= budget);
    grant.set(job, goes ? 1 : 0);
    if (goes) budget = Math.max(0, budget - need);
  }
  return running.map((job) => [job.gate, grant.get(job) ?? tokensPerStep] as const);
}
