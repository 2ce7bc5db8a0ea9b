/** What the tests of hearth's own errors share: the HearthError a promise rejects with. */
import { expect } from 'vitest';
import { HearthError, type ErrorCode } from '../../src/engine/types.js';

/** The HearthError `p` rejects with; a resolution, or any other error, fails the test. */
export async function hearthRejection(p: Promise<unknown>): Promise<HearthError> {
  const outcome = await p.then(
    (value: unknown) => ({ resolved: value }),
    (error: unknown) => ({ error }),
  );
  if ('resolved' in outcome) throw new Error(`expected a rejection; resolved with ${JSON.stringify(outcome.resolved)}`);
  if (!(outcome.error instanceof HearthError)) throw outcome.error;
  return outcome.error;
}

/** The same, and its code must be `code`. */
export async function expectHearthError<C extends ErrorCode>(p: Promise<unknown>, code: C): Promise<HearthError<C>> {
  const error = await hearthRejection(p);
  expect(error.code).toBe(code);
  return error as HearthError<C>;
}
