/**
 * The runner contract (issue 12 item 7): the same lifecycle behaviours on the simulated runner and on
 * the three real runners, each on a tiny model the test writes (see ./runner-contract/subjects.ts).
 */
import { describe } from 'vitest';
import { runnerContract } from './runner-contract/contract.js';
import { SUBJECTS } from './runner-contract/subjects.js';

for (const make of SUBJECTS) {
  const subject = make();
  describe(`runner contract: ${subject.name}`, () => runnerContract(subject));
}
