/** The admins' status text on Discord carries the GPU telemetry, and says so when there is none. */
import { describe, expect, it } from 'vitest';
import { statusText } from '../../src/bots/discord/text.js';
import type { StatusView } from '../../src/commands/hearth-commands.js';
import { telemetryOff, type GpuTelemetry } from '../../src/monitoring/gpu-monitor.js';

const GIB = 2 ** 30;

function view(gpu: GpuTelemetry): StatusView {
  return {
    running: [], queue: [], loadedModels: [], vramUsedBytes: 0, vramBudgetBytes: 8 * GIB, models: [], steps: 0, swaps: 0, current: null,
    usageToday: [], usageLastHour: [], usageBuckets: [], gpu, workers: null,
  };
}

describe('status text with GPU telemetry', () => {
  it('lists each GPU and the VRAM of hearth\'s processes', () => {
    const text = statusText(view({
      state: 'ok', at: 1, pollSeconds: 5, hearthMemoryBytes: 6 * GIB,
      gpus: [
        { index: 0, utilization: 0.5, memoryUsedBytes: 7 * GIB, memoryTotalBytes: 24 * GIB, temperatureCelsius: 70.4, powerWatts: 250.6 },
        { index: 1, utilization: null, memoryUsedBytes: null, memoryTotalBytes: null, temperatureCelsius: null, powerWatts: null },
      ],
    }));
    expect(text).toContain('**Telemetry:** GPU 0: 50% busy · 7.0 of 24.0 GB VRAM · 70 °C · 251 W');
    expect(text).toContain('**Telemetry:** GPU 1: no readings (N/A)');
    expect(text).toContain("**Telemetry:** hearth's own processes use 6.0 GB of VRAM.");
  });

  it('says there is no GPU telemetry, and why', () => {
    expect(statusText(view({ state: 'missing', message: 'nvidia-smi was not found on PATH', at: null, gpus: [], hearthMemoryBytes: null, pollSeconds: 5 }))).toContain(
      '**Telemetry:** No GPU telemetry: nvidia-smi was not found on PATH.',
    );
    expect(statusText(view(telemetryOff()))).toContain('**Telemetry:** No GPU telemetry: GPU telemetry is not enabled on this hearth.');
  });
});
