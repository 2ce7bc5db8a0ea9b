import type { JobKind } from '../engine/types.js';
import type { GpuTelemetry } from './gpu-monitor.js';
import { gpuTelemetryLines } from './telemetry-text.js';

/** A job a cluster worker is running now. */
export interface WorkerJobStatus {
  jobId: string;
  kind: JobKind;
  model: string;
  userId: string;
}

/**
 * One GPU worker of a cluster as the admins see it (the dashboard, /hearth status, /metrics): what it
 * announced in its last heartbeat, and what the coordinator placed on it.
 */
export interface WorkerStatus {
  name: string;
  host: string;
  models: Array<{ model: string; kind: JobKind }>;
  vramBudgetBytes: number;
  /** Jobs it runs at once. */
  capacity: number;
  /** Leaving: it finishes its jobs and takes no new one. */
  draining: boolean;
  /** Jobs the coordinator placed there and that still run. */
  running: WorkerJobStatus[];
  /** The worker's own GPU telemetry (its nvidia-smi), as of its last heartbeat. */
  gpu: GpuTelemetry;
  /** When its last heartbeat was written (epoch ms, the worker's clock). */
  beatAt: number;
}

/** Where the workers of a cluster can be read (the coordinator's executor); absent on one box. */
export interface ClusterStatusSource {
  workers(): WorkerStatus[];
}

const gb = (b: number): string => `${(b / 2 ** 30).toFixed(1)} GB`;

/**
 * The workers in plain words for the Discord and Slack status commands, a few lines per worker:
 * "gpu-box-1 (host a): chat, image · 24.0 GB VRAM · 1 of 2 slots busy: image for alice", then its
 * telemetry lines indented. With none: one line saying so.
 */
export function workerLines(workers: readonly WorkerStatus[]): string[] {
  if (workers.length === 0) return ['No GPU worker has joined (start one with `hearth worker --config FILE`).'];
  const out: string[] = [];
  for (const w of workers) {
    const models = w.models.map((m) => m.model).join(', ') || 'no models';
    const busy = w.running.length === 0 ? 'idle' : `${w.running.length} of ${w.capacity} slots busy: ${w.running.map((r) => `${r.kind} for ${r.userId}`).join(', ')}`;
    out.push(`${w.name} (${w.host}${w.draining ? ', leaving' : ''}): ${models} · ${gb(w.vramBudgetBytes)} VRAM · ${busy}`);
    for (const l of gpuTelemetryLines(w.gpu)) out.push(`  ${l}`);
  }
  return out;
}
