import { afterEach, describe, expect, test } from 'vitest';
import { SqliteStore } from '../../src/engine/store/sqlite-store.js';
import { ftsQuery } from '../../src/knowledge/fts-query.js';
import { MessageIndex } from '../../src/knowledge/message-index.js';
import type { ChannelRef, IndexedMessage } from '../../src/knowledge/types.js';

const general: ChannelRef = { platform: 'slack', workspace: 'T1', channel: 'CGEN' };
const random: ChannelRef = { platform: 'slack', workspace: 'T1', channel: 'CRND' };
const otherTeam: ChannelRef = { platform: 'slack', workspace: 'T2', channel: 'CGEN' };

function msg(ref: ChannelRef, id: string, text: string, extra: Partial<IndexedMessage> = {}): IndexedMessage {
  return { ...ref, messageId: id, author: 'U1', at: 1_700_000_000_000 + Number(id.replace(/\D/g, '') || 0), text, ...extra };
}

const filler = ['lunch is at noon', 'the printer jammed again', 'deploy went fine', 'who has the projector remote', 'standup notes attached'];

describe('the knowledge index (FTS5 in the jobs database)', () => {
  let store: SqliteStore | undefined;
  afterEach(() => store?.close());

  function open(): MessageIndex {
    store = SqliteStore.open(':memory:');
    return new MessageIndex(store.database);
  }

  test('the right message is found among many, within one workspace and the given channels only', () => {
    const index = open();
    const many = Array.from({ length: 500 }, (_, i) => msg(i % 2 ? general : random, `m${i}`, `${filler[i % filler.length]} (${i})`));
    index.upsert([...many, msg(general, 'wifi1', 'The lab wifi password is hunter2, ask Sam if it changes')]);
    index.upsert([msg(otherTeam, 'wifi2', 'Other team wifi password is swordfish')]);
    const hits = index.search(ftsQuery("what's the lab wifi password?"), { platform: 'slack', workspace: 'T1', channels: ['CGEN', 'CRND'] }, 3);
    expect(hits[0]?.messageId).toBe('wifi1');
    expect(hits.map((h) => h.workspace)).not.toContain('T2');
    expect(index.search(ftsQuery('wifi password'), { platform: 'slack', workspace: 'T1', channels: ['CRND'] }, 3)).toEqual([]);
    expect(index.search(ftsQuery('wifi password'), { platform: 'slack', workspace: 'T2', channels: ['CGEN'] }, 3).map((h) => h.messageId)).toEqual(['wifi2']);
  });

  test('an edit replaces the text (one row), a deletion removes it from what is found', () => {
    const index = open();
    index.upsert([msg(general, '1', 'standup moves to 10:30 on Mondays'), msg(general, '2', 'lunch at noon')]);
    index.upsert([msg(general, '1', 'standup moves to 9:15 on Tuesdays', { permalink: 'https://x/p1' })]);
    const scope = { platform: 'slack' as const, workspace: 'T1', channels: ['CGEN'] };
    expect(index.search(ftsQuery('Mondays'), scope, 5)).toEqual([]);
    expect(index.search(ftsQuery('Tuesdays'), scope, 5).map((h) => h.text)).toEqual(['standup moves to 9:15 on Tuesdays']);
    expect(index.count(general)).toBe(2);
    // An edit without a link keeps the one already known.
    index.upsert([msg(general, '1', 'standup moves to 9:45 on Tuesdays')]);
    expect(index.get(general, '1')?.permalink).toBe('https://x/p1');
    expect(index.remove(general, '1')).toBe(true);
    expect(index.search(ftsQuery('standup'), scope, 5)).toEqual([]);
    expect(index.remove(general, '1')).toBe(false);
  });

  test('a page and its cursor are saved together; drop forgets a channel; stats count what is indexed', () => {
    const index = open();
    index.savePage(general, [msg(general, '1', 'a b c'), msg(general, '2', 'd e f')], { cursor: 'page2', lastSyncAt: 5 });
    index.savePage(random, [msg(random, '3', 'g h i')], { cursor: null, backfilledAt: 7, syncedUntil: '3', lastSyncAt: 9, private: true });
    expect(index.channel(general)).toMatchObject({ cursor: 'page2', lastSyncAt: 5 });
    expect(index.channel(random)).toMatchObject({ backfilledAt: 7, syncedUntil: '3', private: true });
    expect(index.channel(random)?.cursor).toBeUndefined();
    expect(index.stats()).toMatchObject({ messages: 3, lastSyncAt: 9, channels: [{ channel: 'CGEN', messages: 2 }, { channel: 'CRND', messages: 1 }] });
    expect(index.dropChannel(general)).toBe(2);
    expect(index.channel(general)).toBeUndefined();
    expect(index.stats()).toMatchObject({ messages: 1, channels: [{ channel: 'CRND' }] });
    expect(index.search(ftsQuery('a b c d e f'), { platform: 'slack', workspace: 'T1', channels: ['CGEN'] }, 5)).toEqual([]);
  });

  test('questions become safe FTS5 queries: words only, quoted, common words left out', () => {
    expect(ftsQuery('What is the "lab" wifi password?')).toBe('"lab" OR "wifi" OR "password"');
    expect(ftsQuery('NEAR(a b) OR * AND -x')).toBe('"near"');
    expect(ftsQuery('?!')).toBe('');
    const index = open();
    index.upsert([msg(general, '1', 'NEAR the door')]);
    expect(index.search(ftsQuery('near*'), { platform: 'slack', workspace: 'T1', channels: ['CGEN'] }, 5)).toHaveLength(1);
  });
});
