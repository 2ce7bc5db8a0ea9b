import { Gauge, type Registry } from 'prom-client';
import type { ClusterStatusSource, WorkerStatus } from './cluster-status.js';
import type { GpuReading } from './nvidia-smi.js';

/**
 * Per-worker gauges of a cluster's coordinator, read from its last heartbeats at each scrape. A worker
 * that left or died has no samples. The per-GPU families of one box keep their names; a worker's GPUs
 * are `hearth_worker_gpu_*{worker,gpu}`, so one family never mixes label sets.
 */
export function registerWorkerGauges(registry: Registry, source: ClusterStatusSource, onError?: (e: unknown) => void): void {
  const registers = [registry];
  const perWorker = (name: string, help: string, read: (w: WorkerStatus) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ['worker'],
      registers,
      collect() {
        try {
          this.reset();
          for (const w of source.workers()) this.set({ worker: w.name }, read(w));
        } catch (e) {
          onError?.(e);
        }
      },
    });
  };
  perWorker('hearth_worker_up', 'A GPU worker that is alive (1), or alive and leaving (0.5).', (w) => (w.draining ? 0.5 : 1));
  perWorker('hearth_worker_capacity_jobs', 'Jobs a GPU worker runs at once.', (w) => w.capacity);
  perWorker('hearth_worker_running_jobs', 'Jobs running on a GPU worker now.', (w) => w.running.length);
  perWorker('hearth_worker_vram_budget_bytes', "A GPU worker's VRAM budget.", (w) => w.vramBudgetBytes);
  perWorker('hearth_worker_models', 'Models a GPU worker serves.', (w) => w.models.length);
  const perGpu = (name: string, help: string, read: (g: GpuReading) => number | null): void => {
    new Gauge({
      name,
      help,
      labelNames: ['worker', 'gpu'],
      registers,
      collect() {
        try {
          this.reset();
          for (const w of source.workers()) {
            if (w.gpu.state !== 'ok') continue;
            for (const g of w.gpu.gpus) {
              const v = read(g);
              if (v !== null) this.set({ worker: w.name, gpu: String(g.index) }, v);
            }
          }
        } catch (e) {
          onError?.(e);
        }
      },
    });
  };
  perGpu('hearth_worker_gpu_utilization_ratio', "A worker's GPU busy share (0..1), from its nvidia-smi.", (g) => g.utilization);
  perGpu('hearth_worker_gpu_memory_used_bytes', "A worker's GPU memory in use (all processes), from its nvidia-smi.", (g) => g.memoryUsedBytes);
  perGpu('hearth_worker_gpu_memory_total_bytes', "A worker's GPU memory in all, from its nvidia-smi.", (g) => g.memoryTotalBytes);
  perGpu('hearth_worker_gpu_temperature_celsius', "A worker's GPU core temperature, from its nvidia-smi.", (g) => g.temperatureCelsius);
  perGpu('hearth_worker_gpu_power_watts', "A worker's GPU power draw, from its nvidia-smi.", (g) => g.powerWatts);
}
