/** Milliseconds since the epoch. Injected so tests run on a virtual clock without sleeping. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that only moves when told to: simulated runners advance it by their step durations. */
export class VirtualClock implements Clock {
  #now: number;
  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`advance takes a non-negative number of ms; got ${ms}`);
    this.#now += ms;
  }
}
