import type { GpuTelemetry } from './gpu-monitor.js';

const gb = (b: number): string => `${(b / 2 ** 30).toFixed(1)} GB`;

/**
 * GPU telemetry in plain words, one line per GPU (the Discord and Slack status commands print these
 * with their own emphasis): "GPU 0: 87% busy · 10.2 of 24.0 GB VRAM · 67 °C · 215 W". A field nvidia-smi
 * could not report is left out; with no telemetry, one line saying why.
 */
export function gpuTelemetryLines(t: GpuTelemetry): string[] {
  if (t.state === 'pending') return ['GPU telemetry: not read yet.'];
  if (t.state !== 'ok') return [`No GPU telemetry: ${t.message ?? t.state}.`];
  if (t.gpus.length === 0) return ['No GPU telemetry: nvidia-smi lists no GPU.'];
  const lines = t.gpus.map((g) => {
    const parts: string[] = [];
    if (g.utilization !== null) parts.push(`${Math.round(g.utilization * 100)}% busy`);
    if (g.memoryUsedBytes !== null && g.memoryTotalBytes !== null) parts.push(`${(g.memoryUsedBytes / 2 ** 30).toFixed(1)} of ${gb(g.memoryTotalBytes)} VRAM`);
    else if (g.memoryUsedBytes !== null) parts.push(`${gb(g.memoryUsedBytes)} VRAM used`);
    if (g.temperatureCelsius !== null) parts.push(`${Math.round(g.temperatureCelsius)} °C`);
    if (g.powerWatts !== null) parts.push(`${Math.round(g.powerWatts)} W`);
    return `GPU ${g.index}: ${parts.length > 0 ? parts.join(' · ') : 'no readings (N/A)'}`;
  });
  if (t.hearthMemoryBytes !== null) lines.push(`hearth's own processes use ${gb(t.hearthMemoryBytes)} of VRAM.`);
  return lines;
}
