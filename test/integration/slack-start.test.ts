/** Starting the Slack app: a refused token or an unreachable Slack fails the start with words naming the key. */
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createSlackAdapter } from '../../src/bots/slack/index.js';
import { simApp } from '../helpers/sim-app.js';
import { FakeSlack } from '../fakes/slack/fake-slack.js';
import { waitFor } from '../fakes/slack/harness.js';

let fake: FakeSlack;

beforeAll(async () => {
  fake = new FakeSlack();
  await fake.start();
});

afterAll(async () => {
  await fake.close();
});

async function startWith(slack: Record<string, unknown>): Promise<unknown> {
  const { app } = await simApp({
    config: { slack: { botToken: fake.botToken, appToken: fake.appToken, signingSecret: fake.signingSecret, port: 0, apiUrl: fake.apiUrl, ...slack } },
    adapters: [(ctx) => createSlackAdapter(ctx, { host: '127.0.0.1', clientOptions: { retryConfig: { retries: 0 } } })],
  });
  try {
    await app.start();
    return undefined;
  } catch (e) {
    return e;
  } finally {
    await app.close();
  }
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('starting the Slack app', () => {
  test('a bot token Slack refuses names slack.botToken', async () => {
    const e = await startWith({ botToken: 'xoxb-wrong' });
    expect(e).toBeInstanceOf(Error);
    expect((e as Error).message).toBe('Slack did not accept slack.botToken (invalid_auth); check the bot token (xoxb-…) in your Slack app settings');
  });

  test('an app-level token Slack refuses names slack.appToken', async () => {
    const e = await startWith({ appToken: 'xapp-wrong' });
    expect((e as Error).message).toContain('Slack did not accept slack.appToken (invalid_auth)');
    expect(fake.connections).toBe(0);
  });

  test('an address where no Slack answers names slack.apiUrl', async () => {
    const e = await startWith({ apiUrl: `http://127.0.0.1:${await closedPort()}/api/` });
    expect((e as Error).message).toMatch(/^could not reach Slack at http:\/\/127\.0\.0\.1:\d+\/api\/ \(slack\.apiUrl\)/);
  });

  test('with good tokens it connects, and closing disconnects the socket', async () => {
    const e = await startWith({});
    expect(e).toBeUndefined();
    await waitFor('the socket closed', () => fake.connections === 0);
    expect(fake.state.callsOf('apps.connections.open').length).toBeGreaterThan(0);
  });
});

test('HTTP mode on a port already taken names slack.port', async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  try {
    const e = await startWith({ mode: 'http', port });
    expect((e as Error).message).toBe(`slack.port ${port} is already in use; choose another port for HTTP mode`);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
