import type { Readiness } from './job-feed.js';
import type { UsageMeter } from './usage-meter.js';
import type { ErrorInfo, JobKind, JobSpec } from './types.js';

export interface AdmissionOptions {
  /** The models the executor serves (empty until hearth is ready). */
  served: ReadonlyMap<string, { kind: JobKind }>;
  /** The models the config names: what is accepted while hearth starts. */
  declared: ReadonlyMap<string, { kind: JobKind }>;
  /** The user's queued + running jobs. */
  countActive: (userId: string) => number;
  meter: UsageMeter;
  maxQueuedPerUser: number;
}

/**
 * Whether a job may be queued: hearth not stopping, a model that exists for its kind (the declared
 * ones while hearth starts, the served ones after), and the owner within their queue cap and daily
 * GPU-seconds (admins excepted). Refusals are values with facts (what was given, what is allowed).
 */
export class Admission {
  readonly #o: AdmissionOptions;

  constructor(options: AdmissionOptions) {
    this.#o = options;
  }

  /** Why the job may not be queued now, or undefined when it may. */
  refusal(spec: JobSpec, readiness: Readiness, admin: boolean): ErrorInfo | undefined {
    if (readiness === 'stopping') return { code: 'SHUTTING_DOWN', message: 'hearth is shutting down; try again in a minute' };
    const known = readiness === 'ready' ? this.#o.served : this.#o.declared;
    const model = known.get(spec.model);
    if (!model) {
      return {
        code: 'MODEL_MISSING',
        message: `no ${spec.kind} model is configured`,
        facts: { given: spec.model, allowed: [...known.keys()] },
      };
    }
    if (model.kind !== spec.kind) {
      return {
        code: 'INVALID_INPUT',
        message: `model "${spec.model}" runs ${model.kind} jobs, not ${spec.kind}`,
        facts: { given: spec.kind, expected: model.kind },
      };
    }
    if (admin) return undefined;
    const active = this.#o.countActive(spec.userId);
    const max = this.#o.maxQueuedPerUser;
    if (active >= max) {
      return {
        code: 'QUEUE_FULL',
        message: `you already have ${active} jobs queued or running; the limit is ${max}`,
        facts: { given: active + 1, allowed: max },
      };
    }
    return this.#o.meter.overDailyLimit(spec.userId);
  }
}
