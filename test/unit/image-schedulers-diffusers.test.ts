/**
 * diffusers' own scheduler tests, ported: the `full_loop` tests of tests/schedulers/
 * test_scheduler_euler.py, test_scheduler_euler_ancestral.py, test_scheduler_dpm_multi.py,
 * test_scheduler_ddim.py and test_scheduler_lcm.py (huggingface/diffusers at 58eb52c), with their
 * dummy sample, noise and model (test/fixtures/diffusers-scheduler-loop.ts), their configs, and their
 * expected sum and mean of |sample| with their tolerances (UniPC's are in image-schedulers-unipc.test.ts).
 * The noise the ancestral and LCM steps draw is torch's (`torch.manual_seed(0)`, replayed by
 * test/fixtures/torch-random.ts).
 *
 * Each config reaches the sampler the way a real export's scheduler_config.json reaches hearth:
 * written as diffusers writes it (Python's json, `-Infinity` included), parsed by parseDiffusersJson
 * and parseSchedulerConfig.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/runners/image/rng.js';
import { createScheduler, type SchedulerName } from '../../src/runners/image/schedulers/index.js';
import { absSumMean, fullLoop, readConfig as read, type Loop } from '../fixtures/diffusers-scheduler-loop.js';
import type { DiffusersConfig } from '../fixtures/sd-scheduler-configs.js';
import { TorchRandnRng } from '../fixtures/torch-random.js';

interface Case {
  test: string;
  sampler: SchedulerName;
  config: DiffusersConfig;
  loop: Loop;
  sum?: [number, number];
  mean: [number, number];
}

const EULER: DiffusersConfig = { _class_name: 'EulerDiscreteScheduler', num_train_timesteps: 1100, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear' };
const EULER_A: DiffusersConfig = { ...EULER, _class_name: 'EulerAncestralDiscreteScheduler' };
const DPM: DiffusersConfig = {
  _class_name: 'DPMSolverMultistepScheduler',
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  solver_order: 2,
  prediction_type: 'epsilon',
  thresholding: false,
  sample_max_value: 1.0,
  algorithm_type: 'dpmsolver++',
  solver_type: 'midpoint',
  lower_order_final: false,
  euler_at_final: false,
  lambda_min_clipped: -Infinity,
  variance_type: null,
  final_sigmas_type: 'sigma_min',
};
const DDIM: DiffusersConfig = { _class_name: 'DDIMScheduler', num_train_timesteps: 1000, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear', clip_sample: true };
const LCM: DiffusersConfig = { _class_name: 'LCMScheduler', num_train_timesteps: 1000, beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', prediction_type: 'epsilon' };

const euler10: Loop = { scaled: true, steps: 10 };
const vp10: Loop = { scaled: false, steps: 10 };

const CASES: Case[] = [
  // test_scheduler_euler.py
  { test: 'euler test_full_loop_no_noise', sampler: 'euler', config: EULER, loop: euler10, sum: [10.0807, 1e-2], mean: [0.0131, 1e-3] },
  { test: 'euler test_full_loop_with_v_prediction', sampler: 'euler', config: { ...EULER, prediction_type: 'v_prediction' }, loop: euler10, sum: [0.0002, 1e-2], mean: [2.2676e-6, 1e-3] },
  { test: 'euler test_full_loop_device', sampler: 'euler', config: EULER, loop: euler10, sum: [10.0807, 1e-2], mean: [0.0131, 1e-3] },
  { test: 'euler test_full_loop_device_karras_sigmas', sampler: 'euler', config: { ...EULER, use_karras_sigmas: true }, loop: euler10, sum: [124.52299499511719, 1e-2], mean: [0.16213932633399963, 1e-3] },
  { test: 'euler test_full_loop_with_noise', sampler: 'euler', config: EULER, loop: { ...euler10, noiseFrom: 8 }, sum: [57062.9297, 1e-2], mean: [74.3007, 1e-3] },
  // test_scheduler_euler_ancestral.py
  { test: 'euler_a test_full_loop_no_noise', sampler: 'euler_a', config: EULER_A, loop: euler10, sum: [152.3192, 1e-2], mean: [0.1983, 1e-3] },
  { test: 'euler_a test_full_loop_with_v_prediction', sampler: 'euler_a', config: { ...EULER_A, prediction_type: 'v_prediction' }, loop: euler10, sum: [108.4439, 1e-2], mean: [0.1412, 1e-3] },
  { test: 'euler_a test_full_loop_device', sampler: 'euler_a', config: EULER_A, loop: euler10, sum: [152.3192, 1e-2], mean: [0.1983, 1e-3] },
  { test: 'euler_a test_full_loop_with_noise', sampler: 'euler_a', config: EULER_A, loop: { ...euler10, noiseFrom: 8 }, sum: [56163.0508, 1e-2], mean: [73.129, 1e-3] },
  // test_scheduler_dpm_multi.py
  { test: 'dpm test_full_loop_no_noise', sampler: 'dpmpp_2m', config: DPM, loop: vp10, mean: [0.3301, 1e-3] },
  { test: 'dpm test_full_loop_with_noise', sampler: 'dpmpp_2m', config: DPM, loop: { ...vp10, noiseFrom: 5 }, sum: [318.4111, 1e-2], mean: [0.4146, 1e-3] },
  { test: 'dpm test_full_loop_no_noise_thres', sampler: 'dpmpp_2m', config: { ...DPM, thresholding: true, dynamic_thresholding_ratio: 0.87, sample_max_value: 0.5 }, loop: vp10, mean: [1.1364, 1e-3] },
  { test: 'dpm test_full_loop_with_v_prediction', sampler: 'dpmpp_2m', config: { ...DPM, prediction_type: 'v_prediction' }, loop: vp10, mean: [0.2251, 1e-3] },
  { test: 'dpm test_full_loop_with_karras_and_v_prediction', sampler: 'dpmpp_2m_karras', config: { ...DPM, prediction_type: 'v_prediction', use_karras_sigmas: true }, loop: vp10, mean: [0.2096, 1e-3] },
  { test: 'dpm test_full_loop_with_lu_and_v_prediction', sampler: 'dpmpp_2m', config: { ...DPM, prediction_type: 'v_prediction', use_lu_lambdas: true }, loop: vp10, mean: [0.1554, 1e-3] },
  // test_switch: the config after DPMSolverSinglestep → UniPC → DEIS → DPMSolverMultistep.from_config.
  { test: 'dpm test_switch', sampler: 'dpmpp_2m', config: { ...DPM, algorithm_type: 'deis', solver_type: 'logrho' }, loop: vp10, mean: [0.3301, 1e-3] },
  // test_scheduler_ddim.py
  { test: 'ddim test_full_loop_no_noise', sampler: 'ddim', config: DDIM, loop: vp10, sum: [172.0067, 1e-2], mean: [0.223967, 1e-3] },
  { test: 'ddim test_full_loop_with_v_prediction', sampler: 'ddim', config: { ...DDIM, prediction_type: 'v_prediction' }, loop: vp10, sum: [52.5302, 1e-2], mean: [0.0684, 1e-3] },
  { test: 'ddim test_full_loop_with_set_alpha_to_one', sampler: 'ddim', config: { ...DDIM, set_alpha_to_one: true, beta_start: 0.01 }, loop: vp10, sum: [149.8295, 1e-2], mean: [0.1951, 1e-3] },
  { test: 'ddim test_full_loop_with_no_set_alpha_to_one', sampler: 'ddim', config: { ...DDIM, set_alpha_to_one: false, beta_start: 0.01 }, loop: vp10, sum: [149.0784, 1e-2], mean: [0.1941, 1e-3] },
  { test: 'ddim test_full_loop_with_noise', sampler: 'ddim', config: DDIM, loop: { ...vp10, noiseFrom: 8 }, sum: [354.5418, 1e-2], mean: [0.4616, 1e-3] },
  // test_scheduler_lcm.py
  { test: 'lcm test_full_loop_onestep', sampler: 'lcm', config: LCM, loop: { scaled: false, steps: 1 }, sum: [18.7097, 1e-3], mean: [0.0244, 1e-3] },
  { test: 'lcm test_full_loop_multistep', sampler: 'lcm', config: LCM, loop: vp10, sum: [197.7616, 1e-3], mean: [0.2575, 1e-3] },
];

describe("diffusers' scheduler full-loop tests", () => {
  it.each(CASES)('$test', (c) => {
    const s = createScheduler(c.sampler, read(c.config), c.loop.steps, { batch: 4 });
    const { sum, mean } = absSumMean(fullLoop(s, c.loop));
    if (c.sum) expect(Math.abs(sum - c.sum[0]), `sum ${sum}, diffusers ${c.sum[0]}`).toBeLessThan(c.sum[1]);
    expect(Math.abs(mean - c.mean[0]), `mean ${mean}, diffusers ${c.mean[0]}`).toBeLessThan(c.mean[1]);
  });

  it('draws the same noise as torch.manual_seed(0); torch.randn(4, 4)', () => {
    const rng = new TorchRandnRng(0, 16);
    const first = Array.from({ length: 8 }, () => rng.normal());
    expect(first.map((v) => Number(v.toFixed(4)))).toEqual([-1.1258, -1.1524, -0.2506, -0.4339, 0.8487, 0.692, -0.316, -2.1152]);
    expect(new Rng(0)).toBeInstanceOf(Rng);
  });
});
