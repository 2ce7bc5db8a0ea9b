/**
 * diffusers' UniPCMultistepScheduler tests (tests/schedulers/test_scheduler_unipc.py at 58eb52c),
 * ported: both test classes (the (4, 3, 8, 8) dummies and the 1-D (4, 3, 8) ones), their config
 * (`get_scheduler_config`: linear betas, solver_order 2, bh2, final_sigmas_type sigma_min), their
 * 10-step `full_loop`, their expected numbers and tolerances. Tests without numbers
 * (`test_solver_order_and_type`, `test_fp16_support`) assert what they assert: no NaN, and a finished
 * loop. Each config is written as diffusers saves it and read as hearth reads a scheduler_config.json.
 *
 * The keys diffusers' tests give no number for (orders 1–3 with bh1 and bh2, predict_x0,
 * disable_corrector, lower_order_final, exponential and bounded Karras σs, leading and trailing
 * spacing, zero-SNR betas, thresholding) are checked against test/fixtures/diffusers-unipc-reference.py,
 * a line-by-line numpy transcription of diffusers' scheduler that reproduces diffusers' own numbers
 * above (it prints them first), at 1e-6 on the mean (ours agree to 2e-7).
 */
import { describe, expect, it } from 'vitest';
import { HearthError } from '../../src/engine/types.js';
import { Rng } from '../../src/runners/image/rng.js';
import { createScheduler } from '../../src/runners/image/schedulers/index.js';
import { UniPcScheduler } from '../../src/runners/image/schedulers/unipc.js';
import { absSumMean, dummy, dummyModel, fullLoop, readConfig, type DummyShape } from '../fixtures/diffusers-scheduler-loop.js';
import type { DiffusersConfig } from '../fixtures/sd-scheduler-configs.js';

const UNIPC: DiffusersConfig = {
  _class_name: 'UniPCMultistepScheduler',
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  solver_order: 2,
  solver_type: 'bh2',
  final_sigmas_type: 'sigma_min',
};

/**
 * test_switch: UniPC made `from_config` of the config DPMSolverMultistep holds after the chain
 * UniPC → DPMSolverSinglestep → DEIS → DPMSolverMultistep (solver_type bh2 → midpoint → logrho →
 * midpoint, algorithm_type deis → dpmsolver++, DPM's own keys added): what UniPC picked on a
 * DPM-Solver++ export reads. UniPC maps `midpoint` back to bh2 and ignores DPM's keys.
 */
const AFTER_SWITCH: DiffusersConfig = {
  ...UNIPC,
  _class_name: 'DPMSolverMultistepScheduler',
  solver_type: 'midpoint',
  algorithm_type: 'dpmsolver++',
  lambda_min_clipped: -Infinity,
  euler_at_final: false,
  use_lu_lambdas: false,
  lower_order_final: true,
  variance_type: null,
  predict_x0: true,
  disable_corrector: [],
  solver_p: null,
};

interface Case {
  test: string;
  config: DiffusersConfig;
  shape: DummyShape;
  noiseFrom?: number;
  sum?: [number, number];
  mean: [number, number];
}

const CASES: Case[] = [
  // UniPCMultistepSchedulerTest
  { test: 'test_full_loop_no_noise', config: UNIPC, shape: '2d', mean: [0.2464, 1e-3] },
  { test: 'test_full_loop_with_karras', config: { ...UNIPC, use_karras_sigmas: true }, shape: '2d', mean: [0.2925, 1e-3] },
  { test: 'test_full_loop_with_v_prediction', config: { ...UNIPC, prediction_type: 'v_prediction' }, shape: '2d', mean: [0.1014, 1e-3] },
  { test: 'test_full_loop_with_karras_and_v_prediction', config: { ...UNIPC, prediction_type: 'v_prediction', use_karras_sigmas: true }, shape: '2d', mean: [0.1966, 1e-3] },
  { test: 'test_full_loop_with_noise', config: UNIPC, shape: '2d', noiseFrom: 8, sum: [315.5757, 1e-2], mean: [0.4109, 1e-3] },
  { test: 'test_switch', config: AFTER_SWITCH, shape: '2d', mean: [0.2464, 1e-3] },
  // UniPCMultistepScheduler1DTest
  { test: '1D test_full_loop_no_noise', config: UNIPC, shape: '1d', mean: [0.2441, 1e-3] },
  { test: '1D test_full_loop_with_karras', config: { ...UNIPC, use_karras_sigmas: true }, shape: '1d', mean: [0.2898, 1e-3] },
  { test: '1D test_full_loop_with_v_prediction', config: { ...UNIPC, prediction_type: 'v_prediction' }, shape: '1d', mean: [0.1014, 1e-3] },
  { test: '1D test_full_loop_with_karras_and_v_prediction', config: { ...UNIPC, prediction_type: 'v_prediction', use_karras_sigmas: true }, shape: '1d', mean: [0.1944, 1e-3] },
  { test: '1D test_full_loop_with_noise', config: UNIPC, shape: '1d', noiseFrom: 8, sum: [39.087, 1e-2], mean: [0.4072, 1e-3] },
  { test: '1D test_switch', config: AFTER_SWITCH, shape: '1d', mean: [0.2441, 1e-3] },
];

/** The numpy transcription's means (test/fixtures/diffusers-unipc-reference.py), for configs diffusers' tests give no number for. */
const REFERENCE: { name: string; config: DiffusersConfig; noiseFrom?: number; mean: number }[] = [
  { name: 'order 1 bh1 epsilon', config: { solver_order: 1, solver_type: 'bh1' }, mean: 0.23481104 },
  { name: 'order 1 bh1 sample', config: { solver_order: 1, solver_type: 'bh1', prediction_type: 'sample' }, mean: 0.92092853 },
  { name: 'order 1 bh2 v_prediction', config: { solver_order: 1, prediction_type: 'v_prediction' }, mean: 0.08125892 },
  { name: 'order 2 bh1 epsilon', config: { solver_type: 'bh1' }, mean: 0.25205145 },
  { name: 'order 2 bh1 v_prediction', config: { solver_type: 'bh1', prediction_type: 'v_prediction' }, mean: 0.10961784 },
  { name: 'order 2 bh2 sample', config: { prediction_type: 'sample' }, mean: 0.9582831 },
  { name: 'order 3 bh1 epsilon', config: { solver_order: 3, solver_type: 'bh1' }, mean: 0.25208342 },
  { name: 'order 3 bh1 v_prediction', config: { solver_order: 3, solver_type: 'bh1', prediction_type: 'v_prediction' }, mean: 0.10922173 },
  { name: 'order 3 bh2 epsilon', config: { solver_order: 3 }, mean: 0.24736055 },
  { name: 'order 3 bh2 sample', config: { solver_order: 3, prediction_type: 'sample' }, mean: 0.96449096 },
  { name: 'order 3, predict_x0 false', config: { solver_order: 3, predict_x0: false }, mean: 0.24156678 },
  { name: 'bh1, predict_x0 false, v_prediction', config: { solver_type: 'bh1', predict_x0: false, prediction_type: 'v_prediction' }, mean: 0.09797161 },
  { name: 'order 3, lower_order_final false', config: { solver_order: 3, lower_order_final: false }, mean: 0.1159858 },
  { name: 'order 3, disable_corrector [0, 2, 5]', config: { solver_order: 3, disable_corrector: [0, 2, 5] }, mean: 0.2474073 },
  { name: 'use_exponential_sigmas', config: { use_exponential_sigmas: true }, mean: 0.27307258 },
  { name: 'use_karras_sigmas with sigma_min 0.1, sigma_max 10', config: { use_karras_sigmas: true, sigma_min: 0.1, sigma_max: 10 }, mean: 0.281617 },
  {
    name: 'leading + steps_offset 1, scaled_linear (SD 1.5 betas)',
    config: { timestep_spacing: 'leading', steps_offset: 1, beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012 },
    mean: 0.25163388,
  },
  { name: 'trailing, rescale_betas_zero_snr, v_prediction', config: { timestep_spacing: 'trailing', rescale_betas_zero_snr: true, prediction_type: 'v_prediction' }, mean: 0.10116321 },
  { name: 'thresholding (0.9, max 0.5), order 3, sample', config: { thresholding: true, dynamic_thresholding_ratio: 0.9, sample_max_value: 0.5, solver_order: 3, prediction_type: 'sample' }, mean: 0.97663206 },
  { name: "final_sigmas_type zero (UniPC's default)", config: { final_sigmas_type: 'zero' }, mean: 0.24317971 },
  { name: 'order 3 from step 4 after add_noise (image-to-image)', config: { solver_order: 3 }, noiseFrom: 4, mean: 0.28458307 },
];

function run(config: DiffusersConfig, shape: DummyShape = '2d', noiseFrom?: number): Float32Array {
  const s = createScheduler('unipc', readConfig(config), 10, { batch: 4 });
  return fullLoop(s, { scaled: false, steps: 10, shape, ...(noiseFrom !== undefined ? { noiseFrom } : {}) });
}

describe("diffusers' UniPC tests", () => {
  it.each(CASES)('$test', (c) => {
    const { sum, mean } = absSumMean(run(c.config, c.shape, c.noiseFrom));
    if (c.sum) expect(Math.abs(sum - c.sum[0]), `sum ${sum}, diffusers ${c.sum[0]}`).toBeLessThan(c.sum[1]);
    expect(Math.abs(mean - c.mean[0]), `mean ${mean}, diffusers ${c.mean[0]}`).toBeLessThan(c.mean[1]);
  });

  it.each(REFERENCE)('numpy transcription: $name', (c) => {
    const { mean } = absSumMean(run({ ...UNIPC, ...c.config }, '2d', c.noiseFrom));
    expect(Math.abs(mean - c.mean), `mean ${mean}, reference ${c.mean}`).toBeLessThan(1e-6);
  });

  it('test_solver_order_and_type: orders 1–3, bh1 and bh2, epsilon and sample give no NaN', () => {
    for (const solver_type of ['bh1', 'bh2'])
      for (const solver_order of [1, 2, 3])
        for (const prediction_type of ['epsilon', 'sample']) {
          const out = run({ ...UNIPC, solver_order, solver_type, prediction_type });
          expect(out.every(Number.isFinite), `${solver_type} order ${solver_order} ${prediction_type}`).toBe(true);
        }
  });

  it('test_fp16_support (in float32: ours has no half path): thresholding at ratio 0 runs every order, type and prediction', () => {
    for (const solver_order of [1, 2, 3])
      for (const solver_type of ['bh1', 'bh2'])
        for (const prediction_type of ['epsilon', 'sample', 'v_prediction']) {
          const out = run({ ...UNIPC, thresholding: true, dynamic_thresholding_ratio: 0, prediction_type, solver_order, solver_type });
          expect(out.every(Number.isFinite), `${solver_type} order ${solver_order} ${prediction_type}`).toBe(true);
        }
  });
});

describe('UniPC where diffusers gives NaN, and what it refuses', () => {
  /** Runs the 10-step loop by hand; returns the last step's result and its x̂₀. */
  function lastStep(config: DiffusersConfig) {
    const s = createScheduler('unipc', readConfig(config), 10, { batch: 4 });
    let sample = dummy(false);
    let last = { prevSample: sample, denoised: sample };
    for (let i = 0; i < s.timesteps.length; i++) {
      last = s.step(dummyModel(sample, s.timesteps[i] as number), i, sample, new Rng(0));
      sample = last.prevSample;
    }
    return last;
  }

  it('steps into σ = 0 first-order, landing on x̂₀: with bh1 (diffusers: ∞·0 = NaN), without lower_order_final (diffusers: extrapolates to λ = ∞), with predict_x0 false (diffusers: 0·∞)', () => {
    for (const config of [
      { ...UNIPC, final_sigmas_type: 'zero', solver_type: 'bh1' },
      { ...UNIPC, final_sigmas_type: 'zero', lower_order_final: false },
      { ...UNIPC, final_sigmas_type: 'zero', lower_order_final: false, solver_order: 3, solver_type: 'bh1' },
    ]) {
      const { prevSample, denoised } = lastStep(config);
      expect(prevSample.every(Number.isFinite)).toBe(true);
      expect(prevSample).toEqual(denoised);
    }
    // On ε̂ (predict_x0 false) diffusers computes 0·∞ there; the limit is (x − σ·ε̂)/α of the (corrected)
    // sample: x̂₀ itself when the last step is not corrected (up to rounding: another formula).
    for (const prediction_type of ['epsilon', 'v_prediction', 'sample']) {
      const config = { ...UNIPC, final_sigmas_type: 'zero', predict_x0: false, prediction_type };
      expect(lastStep(config).prevSample.every(Number.isFinite), prediction_type).toBe(true);
      const { prevSample, denoised } = lastStep({ ...config, disable_corrector: [8] });
      expect(prevSample.every(Number.isFinite), prediction_type).toBe(true);
      expect(Math.max(...prevSample.map((v, i) => Math.abs(v - (denoised[i] as number))))).toBeLessThan(1e-5);
    }
    // With σ_min as the final σ the last step is UniPC's own, not x̂₀.
    const { prevSample, denoised } = lastStep(UNIPC);
    expect(prevSample).not.toEqual(denoised);
  });

  it('a step that does not follow the last one starts afresh (image-to-image from a later index)', () => {
    const cfg = readConfig({ ...UNIPC, solver_order: 3 });
    const used = createScheduler('unipc', cfg, 10);
    fullLoop(used, { scaled: false, steps: 10 });
    const again = fullLoop(used, { scaled: false, steps: 10, noiseFrom: 4 });
    expect(again).toEqual(fullLoop(createScheduler('unipc', cfg, 10), { scaled: false, steps: 10, noiseFrom: 4 }));
  });

  it('refuses use_beta_sigmas when UniPC is chosen (INVALID_INPUT naming the key); the model still loads for the others', () => {
    const cfg = readConfig({ ...UNIPC, use_beta_sigmas: true });
    expect(() => createScheduler('unipc', cfg, 10)).toThrow(/UniPC cannot follow .*use_beta_sigmas/);
    const error = ((): unknown => {
      try {
        return new UniPcScheduler(cfg, 10);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(HearthError);
    expect((error as HearthError).code).toBe('INVALID_INPUT');
    expect((error as HearthError).facts).toMatchObject({ field: 'scheduler', key: 'use_beta_sigmas' });
    expect(createScheduler('euler', cfg, 10).timesteps).toHaveLength(10);
  });

  it('reads predict_x0, disable_corrector and the raw solver type; refuses flow-matching σs and a malformed disable_corrector (MODEL_INVALID)', () => {
    expect(readConfig({ ...UNIPC, predict_x0: false, disable_corrector: [0, 3], solver_type: 'bh1' })).toMatchObject({ predictX0: false, disableCorrector: [0, 3], solverType: 'bh1' });
    expect(() => readConfig({ ...UNIPC, use_flow_sigmas: true })).toThrow(/expected use_flow_sigmas to be false/);
    expect(() => readConfig({ ...UNIPC, disable_corrector: 'all' })).toThrow(/expected disable_corrector to be a list of step indices/);
    expect(() => readConfig({ ...UNIPC, disable_corrector: [1.5] })).toThrow(/disable_corrector/);
  });

  it('timesteps and σs as diffusers sets them (linspace default, final σ zero by default)', () => {
    const s = new UniPcScheduler(readConfig({ _class_name: 'UniPCMultistepScheduler' }), 4);
    expect(s.timesteps).toEqual([999, 749, 500, 250]);
    expect(s.sigmas.at(-1)).toBe(0);
    const k = new UniPcScheduler(readConfig({ _class_name: 'UniPCMultistepScheduler', use_karras_sigmas: true, final_sigmas_type: 'sigma_min' }), 4);
    expect(k.sigmas.at(-1)).toBe(k.sigmas.at(-2));
    const leading = new UniPcScheduler(readConfig({ _class_name: 'UniPCMultistepScheduler', timestep_spacing: 'leading', steps_offset: 1 }), 4);
    expect(leading.timesteps).toEqual([801, 601, 401, 201]);
  });
});
