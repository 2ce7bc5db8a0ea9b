/**
 * A view of a LlamaContextSequence whose `evaluate()` iterators ask a gate before each step.
 * LlamaChat drives generation through `sequence.evaluate()` and offers no way to pause between
 * tokens; wrapping the sequence it is given is the narrowest place to add one. Everything else is
 * passed to the real sequence unchanged.
 */
import type { LlamaContextSequence } from 'node-llama-cpp';

type EvaluateIterator = ReturnType<LlamaContextSequence['evaluate']>;

function gateIterator(inner: EvaluateIterator, acquire: () => Promise<void>): EvaluateIterator {
  const gated: EvaluateIterator = {
    async next(...args) {
      await acquire();
      return inner.next(...args);
    },
    return(value) {
      return inner.return(value);
    },
    throw(error) {
      return inner.throw(error);
    },
    [Symbol.asyncIterator]() {
      return gated;
    },
  };
  return gated;
}

/** Returns `sequence` with every `evaluate()` iteration (one generated token) gated by `acquire`. */
export function gateSequence(sequence: LlamaContextSequence, acquire: () => Promise<void>): LlamaContextSequence {
  return new Proxy(sequence, {
    get(target, prop) {
      if (prop === 'evaluate') {
        const evaluate: LlamaContextSequence['evaluate'] = (tokens, options) => gateIterator(target.evaluate(tokens, options), acquire);
        return evaluate;
      }
      // Getters and methods run against the real object (its internal fields are not on the proxy).
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
