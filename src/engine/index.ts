/**
 * The engine's front door: what the rooms outside it (commands, adapters, the app) may use. Its
 * internals — the scheduler, the dispatcher, the executors' plumbing, the SQLite store — stay behind
 * it; lint keeps commands and adapters from reaching past this file, `types.ts`, `job-feed.ts` and
 * `clock.ts`.
 */
export { Engine, type Actor, type EngineSnapshot, type SubmitOptions } from './engine.js';
export type { JobFeed, Readiness } from './job-feed.js';
export type { Clock } from './clock.js';
import type { ConversationStore, JobRecordStore, UsageStore } from './store/job-store.js';

export type {
  ConversationStore,
  JobFilter,
  JobRecordStore,
  NewTurn,
  Turn,
  TurnRole,
  UsageBucket,
  UsageStore,
  UserSeconds,
} from './store/job-store.js';

/** What the commands read and write of the store: jobs by filter, usage, conversations. */
export type CommandStore = Pick<JobRecordStore, 'listJobs' | 'forgetUploads'> & UsageStore & ConversationStore;
export { KEPT_TURNS } from './store/sqlite-retention.js';
