import type { GpuTelemetrySource } from './gpu-monitor.js';

export { GpuMonitor, commandRunner, execRunner, isOwnProcess, telemetryOff, type CommandRunner, type GpuTelemetry, type GpuTelemetrySource } from './gpu-monitor.js';
export { HearthMetrics } from './metrics.js';
export type { GpuReading } from './nvidia-smi.js';

/** What an adapter may show about how hearth runs: GPU telemetry, and the Prometheus metrics. */
export interface Monitoring {
  gpu: GpuTelemetrySource;
  metrics: {
    /** The Prometheus text exposition. */
    text(): Promise<string>;
    contentType: string;
  };
}
export { workerLines, type ClusterStatusSource, type WorkerJobStatus, type WorkerStatus } from './cluster-status.js';
