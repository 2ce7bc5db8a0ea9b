/** docs/grafana-dashboard.json: valid JSON whose queries use every metric hearth exports, and only those. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { METRIC_FAMILIES as FAMILIES } from '../helpers/metric-families.js';

interface Panel {
  type: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Array<{ expr: string }>;
}

describe('the Grafana dashboard', () => {
  it('queries every hearth metric family, and no name hearth does not export', () => {
    const dash = JSON.parse(readFileSync(fileURLToPath(new URL('../../docs/grafana-dashboard.json', import.meta.url)), 'utf8')) as { panels: Panel[]; __inputs: Array<{ pluginId: string }> };
    expect(dash.__inputs[0]!.pluginId).toBe('prometheus');
    const exprs = dash.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
    const used = new Set(exprs.flatMap((e) => e.match(/\bhearth_[a-z_]+/g) ?? []).map((n) => n.replace(/_(bucket|sum|count)$/, '')));
    expect([...used].sort()).toEqual([...FAMILIES].sort());
    for (const p of dash.panels) expect(p.gridPos.x + p.gridPos.w, p.type).toBeLessThanOrEqual(24);
  });
});
