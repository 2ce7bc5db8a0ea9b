/** The coordinator's placement rule (shared with bench/cluster-sim.ts) and the Redis URL's password kept out of logs. */
import { describe, expect, it } from 'vitest';
import { chooseWorker, type PlacementCandidate } from '../../src/cluster/placement.js';
import { redactRedisUrl, scrubRedisPassword } from '../../src/cluster/redis.js';
import { scrubSecrets } from '../../src/util/log.js';

const w = (models: string[], capacity: number, assigned: number, lastPlacedAt = 0, draining = false): PlacementCandidate => ({
  models: models.map((model) => ({ model })),
  capacity,
  assigned,
  draining,
  lastPlacedAt,
});

describe('placement', () => {
  it('only on a worker serving the model, with room, not leaving', () => {
    expect(chooseWorker([w(['chat'], 2, 0), w(['image'], 2, 2), w(['image'], 2, 0, 0, true)], 'image')).toBe(-1);
    expect(chooseWorker([w(['chat'], 2, 0), w(['image'], 2, 1)], 'image')).toBe(1);
    expect(chooseWorker([], 'chat')).toBe(-1);
  });

  it('the most room first; on a tie, the one placed on longest ago', () => {
    expect(chooseWorker([w(['chat'], 2, 1), w(['chat'], 4, 1)], 'chat')).toBe(1);
    expect(chooseWorker([w(['chat'], 2, 0, 50), w(['chat'], 2, 0, 10), w(['chat'], 2, 0, 30)], 'chat')).toBe(1);
  });
});

describe('the Redis password in logs', () => {
  const url = 'redis://:S3cr%2Ft:pw@redis.lan:6379';
  it('is hidden in the URL shown and in messages quoting it, as written and decoded', () => {
    expect(redactRedisUrl(url)).toBe('redis://:***@redis.lan:6379');
    expect(scrubRedisPassword('AUTH S3cr/t:pw failed; url S3cr%2Ft:pw', url)).toBe('AUTH *** failed; url ***');
    expect(scrubRedisPassword('no secret here', 'redis://redis.lan:6379')).toBe('no secret here');
  });
  it('is hidden by the general scrubber in any redis:// or rediss:// URL', () => {
    expect(scrubSecrets('connect to rediss://hearth:topsecret@h:6380/0 and redis://:x@h')).toBe('connect to rediss://hearth:***@h:6380/0 and redis://:***@h');
  });
});
