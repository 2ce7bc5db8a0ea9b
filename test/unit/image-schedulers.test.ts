/**
 * The image runner's samplers against reference values.
 *
 * Where the numbers come from: diffusers at commit 58eb52c (src/diffusers/schedulers/
 * scheduling_euler_discrete.py, scheduling_euler_ancestral_discrete.py,
 * scheduling_dpmsolver_multistep.py, scheduling_ddim.py, scheduling_lcm.py), transcribed line by
 * line to numpy (float32 betas and cumprod, as diffusers' torch tensors are) and run with
 * numpy 2.4 (test/fixtures/diffusers-scheduler-reference.py prints every number used here). The
 * transcriptions are quoted next to each block. SD 1.5's scheduler config
 * (scaled_linear, β 0.00085…0.012, 1000 steps, steps_offset 1, set_alpha_to_one false) is used
 * throughout; its σ range 0.0292…14.6146 is also the one k-diffusion users know from A1111/ComfyUI.
 * The noise schedule is float32 as diffusers'; the steps are float64, so values agree with float32
 * diffusers to about 1e-5 relative. test/unit/image-schedulers-diffusers.test.ts runs diffusers' own tests.
 */
import { describe, expect, it } from 'vitest';
import { HearthError } from '../../src/engine/types.js';
import { samplerFromName } from '../../src/jobs/image.js';
import { Rng } from '../../src/runners/image/rng.js';
import { noiseSchedule, parseSchedulerConfig, roundHalfEven, trainSigmas, type SchedulerConfig } from '../../src/runners/image/schedulers/config.js';
import { DdimScheduler } from '../../src/runners/image/schedulers/ddim.js';
import { DpmSolverMultistepScheduler } from '../../src/runners/image/schedulers/dpmpp-2m.js';
import { EulerAncestralScheduler } from '../../src/runners/image/schedulers/euler-ancestral.js';
import { EulerScheduler } from '../../src/runners/image/schedulers/euler.js';
import { createScheduler, defaultSchedulerFor } from '../../src/runners/image/schedulers/index.js';
import { LcmScheduler } from '../../src/runners/image/schedulers/lcm.js';

const SD15 = {
  _class_name: 'PNDMScheduler',
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  num_train_timesteps: 1000,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  trained_betas: null,
  clip_sample: false,
};

function config(over: Record<string, unknown> = {}): SchedulerConfig {
  return parseSchedulerConfig({ ...SD15, ...over }, 'scheduler_config.json');
}

/** A noise source that replays fixed values, so steps that draw noise can be checked exactly. */
class FixedNoise extends Rng {
  private i = 0;
  constructor(private readonly values: number[]) {
    super(0);
  }
  override normal(): number {
    return this.values[this.i++ % this.values.length] as number;
  }
}

// The sample, model output and noise every one-step check uses.
const x = new Float32Array([0.5, -1.0, 2.0, 0.0]);
const m = new Float32Array([0.1, 0.2, -0.3, 0.4]);
const noise = [0.3, -0.7, 1.1, -0.2];

function close(actual: ArrayLike<number>, expected: number[], rel = 2e-5, abs = 2e-5): void {
  expect(actual.length).toBe(expected.length);
  expected.forEach((e, i) => {
    const a = actual[i] as number;
    if (Math.abs(a - e) > abs + rel * Math.abs(e)) {
      throw new Error(`index ${i}: expected ${e}, got ${a} (all: ${Array.from(actual).join(', ')})`);
    }
  });
}

describe('noise schedule', () => {
  it('computes scaled_linear alphas_cumprod and the SD 1.5 sigma range', () => {
    // betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=float32)**2; ac = np.cumprod(1 - betas)
    const s = noiseSchedule(config(), { numTrainTimesteps: 1000, betaStart: 0.0001, betaEnd: 0.02, betaSchedule: 'linear' });
    close([s.alphasCumprod[0], s.alphasCumprod[801], s.alphasCumprod[901], s.alphasCumprod[999]] as number[], [0.99915, 0.036546472, 0.014004873, 0.0046600895]);
    const sig = trainSigmas(s);
    close([sig[0], sig[999]] as number[], [0.029167533, 14.6146555]);
  });

  it('computes a linear beta schedule', () => {
    // betas = np.linspace(0.0001, 0.02, 1000, dtype=float32); ac[0], ac[499], ac[999]
    const s = noiseSchedule(config({ beta_schedule: 'linear', beta_start: 0.0001, beta_end: 0.02 }), {
      numTrainTimesteps: 1000,
      betaStart: 0,
      betaEnd: 0,
      betaSchedule: 'linear',
    });
    close([s.alphasCumprod[0], s.alphasCumprod[499], s.alphasCumprod[999]] as number[], [0.9999, 0.07858724, 4.0358325e-5], 1e-4);
  });

  it('rounds halves to even as numpy does', () => {
    expect([0.5, 1.5, 2.5, 812.5, 937.5, -0.5, 3.2].map(roundHalfEven)).toEqual([0, 2, 2, 812, 938, -0, 3]);
  });

  it('rejects configs it cannot follow, naming the file and key', () => {
    const bad = (over: Record<string, unknown>): HearthError<'MODEL_INVALID'> => {
      try {
        config(over);
      } catch (e) {
        return e as HearthError<'MODEL_INVALID'>;
      }
      throw new Error('expected a throw');
    };
    expect(bad({ beta_schedule: 'sigmoid' }).code).toBe('MODEL_INVALID');
    expect(bad({ beta_schedule: 'sigmoid' }).message).toContain('beta_schedule to be one of linear, scaled_linear, squaredcos_cap_v2');
    expect(bad({ prediction_type: 'flow' }).facts.file).toBe('scheduler_config.json');
    expect(bad({ timestep_spacing: 'random' }).message).toContain('"random"');
    expect(bad({ num_train_timesteps: 0.5 }).message).toContain('num_train_timesteps');
  });
});

describe('Euler', () => {
  // ts = np.linspace(0, 999, N, dtype=float32)[::-1]                                   (linspace)
  // ts = (np.arange(0, N) * (1000 // N)).round()[::-1] + steps_offset                   (leading)
  // ts = np.arange(1000, 0, -1000 / N).round() - 1                                      (trailing)
  // sigmas = np.concatenate([np.interp(ts, np.arange(1000), ((1 - ac) / ac) ** 0.5), [0]])
  // init_noise_sigma = max(sigmas) for linspace/trailing, (max(sigmas)**2 + 1) ** 0.5 for leading
  it('uses linspace spacing by default (the PNDM config names none)', () => {
    const s = new EulerScheduler(config(), 10);
    expect(s.timesteps).toEqual([999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
    close(s.sigmas, [14.614655494689941, 7.8398895263671875, 4.609177589416504, 2.9183084964752197, 1.9501620531082153, 1.34492826461792, 0.9323581457138062, 0.624977111816406, 0.368658185005188, 0.029167532920837402, 0]);
    expect(s.initNoiseSigma).toBeCloseTo(14.614655494689941, 4);
  });

  it('honours leading spacing with steps_offset', () => {
    const s = new EulerScheduler(config({ timestep_spacing: 'leading' }), 10);
    expect(s.timesteps).toEqual([901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
    close(s.sigmas, [8.390692710876465, 5.134435176849365, 3.3477654457092285, 2.2928547859191895, 1.6236926317214966, 1.1682164669036865, 0.835652768611908, 0.5740505456924438, 0.34618717432022095, 0.04131447896361351, 0]);
    expect(s.initNoiseSigma).toBeCloseTo(8.450072288513184, 4);
  });

  it('honours trailing spacing, rounding 937.5 and 812.5 to even', () => {
    const s = new EulerScheduler(config({ timestep_spacing: 'trailing' }), 16);
    expect(s.timesteps).toEqual([999, 937, 874, 811, 749, 687, 624, 561, 499, 437, 374, 311, 249, 187, 124, 61]);
    close(s.sigmas.slice(0, 3), [14.614655494689941, 10.195381164550781, 7.297357559204102]);
    expect(s.initNoiseSigma).toBeCloseTo(14.614655494689941, 4);
  });

  it('scales the model input and takes one step (epsilon and v-prediction)', () => {
    // sample / ((sigma**2 + 1) ** 0.5); x0 = x - sigma*m; prev = x + (x - x0)/sigma * (sigmas[1] - sigma)
    const s = new EulerScheduler(config(), 10);
    close(s.scaleModelInput(x, 0), [0.034132424741983414, -0.06826484948396683, 0.13652969896793365, 0]);
    const step = s.step(m, 0, x, new Rng(1));
    close(step.prevSample, [-0.17747658491134644, -2.3549532890319824, 4.0324296951293945, -2.7099063396453857]);
    close(step.denoised, [-0.96146559715271, -3.92293119430542, 6.384397029876709, -5.84586238861084]);
    // x0 = m * (-sigma / (sigma**2 + 1) ** 0.5) + x / (sigma**2 + 1)
    const v = new EulerScheduler(config({ prediction_type: 'v_prediction' }), 10).step(m, 0, x, new Rng(1));
    close(v.prevSample, [0.22305241227149963, -0.6310961246490479, 1.215944528579712, -0.18499135971069336]);
  });
});

describe('Euler ancestral', () => {
  it('steps to sigma_down and adds sigma_up noise', () => {
    // sigma_up = (s_to**2 * (s_from**2 - s_to**2) / s_from**2) ** 0.5; sigma_down = (s_to**2 - sigma_up**2) ** 0.5
    // prev = x + (x - (x - s_from*m)) / s_from * (sigma_down - s_from) + noise * sigma_up   (index 1 of 10, linspace)
    const s = new EulerAncestralScheduler(config(), 10);
    expect(s.timesteps).toEqual(new EulerScheduler(config(), 10).timesteps);
    const { up, down } = s.ancestralSigmas(1);
    expect(up).toBeCloseTo(3.72847318649292, 4);
    expect(down).toBeCloseTo(2.7097980976104736, 4);
    close(s.step(m, 1, x, new FixedNoise(noise)).prevSample, [1.1055327653884888, -4.635949611663818, 7.640348434448242, -2.797731399536133]);
    // The last step goes to sigma 0: no noise is left to add.
    expect(s.ancestralSigmas(9).up).toBe(0);
  });
});

describe('DPM++ 2M Karras', () => {
  // sigmas = karras(flip(train sigmas), N): (max**(1/7) + linspace(0,1,N) * (min**(1/7) - max**(1/7))) ** 7
  // ts = [_sigma_to_t(s, log(train sigmas)) for s in sigmas].round(); sigmas += [0]
  it('has Karras sigmas and their rounded timesteps', () => {
    const s = new DpmSolverMultistepScheduler(config(), 10, true);
    expect(s.timesteps).toEqual([999, 916, 815, 687, 523, 327, 146, 41, 7, 0]);
    close(s.sigmas, [14.614655494689941, 9.10294246673584, 5.4784040451049805, 3.168612480163574, 1.749423861503601, 0.9140768647193909, 0.44692105054855347, 0.20139990746974945, 0.08191106468439102, 0.029167532920837402, 0]);
    expect(s.initNoiseSigma).toBe(1);
    // The Karras sigmas replace the spaced timesteps, so spacing changes nothing.
    expect(new DpmSolverMultistepScheduler(config({ timestep_spacing: 'leading' }), 10, true).timesteps).toEqual(s.timesteps);
  });

  it('takes a first-order step, then a second-order one, and ends on the x0 estimate', () => {
    // alpha_t = 1/(s**2+1)**0.5, sigma_t = s*alpha_t, lambda = log(alpha_t) - log(sigma_t)
    // x0 = (x - sigma_t*m)/alpha_t; first order: (sigma_t/sigma_s)*x - alpha_t*(exp(-h)-1)*x0
    const s = new DpmSolverMultistepScheduler(config(), 10, true);
    const first = s.step(m, 0, x, new Rng(1));
    close(first.denoised, [5.862947940826416, -17.571758270263672, 33.68205261230469, -5.845861911773682]);
    close(first.prevSample, [0.7396222352981567, -1.7199909687042236, 3.3797953128814697, -0.24074643850326538]);
    // second order (midpoint): r0 = h_0/h; D1 = (1/r0)*(m0 - m1);
    // prev = (sigma_t/sigma_s0)*x - alpha_t*(exp(-h)-1)*D0 - 0.5*alpha_t*(exp(-h)-1)*D1
    const m2 = new Float32Array([-0.2, 0.05, 0.3, 0.1]);
    close(s.step(m2, 1, x, new Rng(1)).prevSample, [0.9729564785957336, -1.3717976808547974, 2.399676561355591, 0.12416349351406097]);
    for (let i = 2; i < 9; i++) s.step(m, i, x, new Rng(1));
    const last = s.step(m, 9, x, new Rng(1));
    close(last.prevSample, [0.49729591608047485, -1.0062588453292847, 2.00960111618042, -0.011667013168334961]);
    close(last.denoised, Array.from(last.prevSample));
  });
});

describe('DDIM', () => {
  // leading: (np.arange(0, N) * (1000 // N)).round()[::-1] + steps_offset
  // linspace: np.linspace(0, 999, N).round()[::-1]; trailing: np.round(np.arange(1000, 0, -1000/N)) - 1
  it('spaces timesteps leading (its default), linspace and trailing', () => {
    expect(new DdimScheduler(config(), 10).timesteps).toEqual([901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
    expect(new DdimScheduler(config({ timestep_spacing: 'linspace' }), 7).timesteps).toEqual([999, 832, 666, 500, 333, 166, 0]);
    expect(new DdimScheduler(config({ timestep_spacing: 'trailing' }), 16).timesteps).toEqual([999, 937, 874, 811, 749, 687, 624, 561, 499, 437, 374, 311, 249, 187, 124, 61]);
  });

  it('takes eta=0 steps for epsilon and v-prediction, with the final alpha and clipping from the config', () => {
    // prev_t = t - 1000 // N; x0 = (x - (1-a)**0.5*m)/a**0.5; prev = a_prev**0.5*x0 + (1-a_prev)**0.5*m
    const s = new DdimScheduler(config(), 10);
    const first = s.step(m, 0, x, new Rng(1));
    close(first.prevSample, [0.7454553842544556, -1.7399121522903442, 3.417573928833008, -0.24900123476982117]);
    close(first.denoised, [3.3859667778015137, -10.12821102142334, 19.4173526763916, -3.3562769889831543]);
    // t = 1: prev_t < 0, so a_prev = final_alpha_cumprod = ac[0] (set_alpha_to_one false in SD 1.5)
    close(s.step(m, 9, x, new Rng(1)).prevSample, [0.49899962544441223, -1.002855896949768, 2.004497528076172, -0.004856712184846401]);
    close(new DdimScheduler(config({ set_alpha_to_one: true }), 10).step(m, 9, x, new Rng(1)).prevSample, [0.49629509449005127, -1.0091159343719482, 2.0141003131866455, -0.016525791957974434]);
    // v: x0 = a**0.5*x - (1-a)**0.5*m; eps = a**0.5*m + (1-a)**0.5*x
    close(new DdimScheduler(config({ prediction_type: 'v_prediction' }), 10).step(m, 0, x, new Rng(1)).prevSample, [0.49127456545829773, -1.0120165348052979, 2.0166661739349365, -0.029467344284057617]);
    // clip_sample clamps x0 to [-1, 1] (DDIM's default when a config says nothing)
    const clipped = new DdimScheduler(config({ set_alpha_to_one: true, clip_sample: undefined }), 10).step(m, 9, x, new Rng(1));
    close(clipped.prevSample, [0.49629509449005127, -1.0, 1.0, -0.016525791957974434]);
  });
});

describe('LCM', () => {
  // k = 1000 // 50; origin = np.arange(1, 51) * k - 1 reversed;
  // ts = origin[np.floor(np.linspace(0, 50, num=N, endpoint=False)).astype(int)]
  it('takes timesteps from the distillation schedule', () => {
    expect(new LcmScheduler(config(), 1).timesteps).toEqual([999]);
    expect(new LcmScheduler(config(), 4).timesteps).toEqual([999, 759, 499, 259]);
    expect(new LcmScheduler(config(), 6).timesteps).toEqual([999, 839, 679, 499, 339, 179]);
    expect(new LcmScheduler(config(), 8).timesteps).toEqual([999, 879, 759, 639, 499, 379, 259, 139]);
    const all = new LcmScheduler(config(), 50).timesteps;
    expect(all[0]).toBe(999);
    expect(all[49]).toBe(19);
  });

  it('applies the boundary condition and re-noises except at the last step', () => {
    // c_skip = 0.25/((10t)**2 + 0.25); c_out = 10t/((10t)**2 + 0.25)**0.5; denoised = c_out*x0 + c_skip*x
    // prev = a_prev**0.5*denoised + (1-a_prev)**0.5*noise, where a_prev = ac[next timestep]
    const s = new LcmScheduler(config(), 4);
    const first = s.step(m, 0, x, new FixedNoise(noise));
    close(first.denoised, [5.862947934735556, -17.571758250759988, 33.682052575127805, -5.845861904451718]);
    close(first.prevSample, [1.6317545160952904, -4.696650741766993, 8.767291908583896, -1.5304959679938588]);
    close(s.step(m, 3, x, new FixedNoise(noise)).prevSample, [0.5439977730846336, -1.3757473346686353, 2.679556632805463, -0.28775187790633366]);
  });

  it('refuses more steps than the distillation schedule has, naming the bound', () => {
    try {
      new LcmScheduler(config(), 60);
      throw new Error('expected a throw');
    } catch (e) {
      expect(e).toBeInstanceOf(HearthError);
      expect((e as HearthError).code).toBe('INVALID_INPUT');
      expect((e as HearthError).facts).toMatchObject({ field: 'steps', given: 60, max: 50 });
    }
  });
});

describe('scheduler choice', () => {
  it("maps a config's class to our sampler ('default')", () => {
    const of = (className: string, useKarrasSigmas?: boolean) => defaultSchedulerFor(useKarrasSigmas === undefined ? { className } : { className, useKarrasSigmas });
    expect(of('PNDMScheduler')).toBe('ddim');
    expect(of('EulerAncestralDiscreteScheduler')).toBe('euler_a');
    expect(of('DPMSolverMultistepScheduler')).toBe('dpmpp_2m');
    expect(of('DPMSolverMultistepScheduler', true)).toBe('dpmpp_2m_karras');
    expect(of('LCMScheduler')).toBe('lcm');
    expect(of('EulerDiscreteScheduler')).toBe('euler');
    expect(of('LMSDiscreteScheduler')).toBe('euler');
    expect(of('UniPCMultistepScheduler')).toBe('unipc');
  });

  it('refuses more steps than training timesteps', () => {
    expect(() => createScheduler('euler', config({ num_train_timesteps: 20 }), 21)).toThrow(/steps must be between 1 and 20/);
  });
});

describe('keys real exports carry', () => {
  it('rescale_betas_zero_snr: the last alphas_cumprod is 2^-24, the first unchanged', () => {
    const plain = noiseSchedule(config(), { numTrainTimesteps: 1000, betaStart: 0.0001, betaEnd: 0.02, betaSchedule: 'linear' });
    const zsnr = noiseSchedule(config({ rescale_betas_zero_snr: true }), { numTrainTimesteps: 1000, betaStart: 0.0001, betaEnd: 0.02, betaSchedule: 'linear' });
    expect(zsnr.alphasCumprod[999]).toBe(2 ** -24);
    expect(zsnr.alphasCumprod[0]).toBeCloseTo(plain.alphasCumprod[0] as number, 6);
    expect(zsnr.alphasCumprod[500]).toBeLessThan(plain.alphasCumprod[500] as number);
  });

  it('final_sigmas_type and use_karras_sigmas reach Euler; DPM-Solver++ spaces leading and trailing as diffusers does', () => {
    const e = new EulerScheduler(config({ final_sigmas_type: 'sigma_min' }), 10);
    expect(e.sigmas.at(-1)).toBeCloseTo(0.029167533, 6);
    const k = new EulerScheduler(config({ use_karras_sigmas: true }), 10);
    close(k.sigmas.slice(0, 3), [14.614655494689941, 9.10294246673584, 5.4784040451049805]);
    // leading: arange(0, N + 1) · (1000 // (N + 1)), reversed, the last dropped, + steps_offset
    expect(new DpmSolverMultistepScheduler(config({ timestep_spacing: 'leading' }), 4, false).timesteps).toEqual([801, 601, 401, 201]);
    // trailing: round(arange(1000, 0, -1000 / N)) − 1
    expect(new DpmSolverMultistepScheduler(config({ timestep_spacing: 'trailing' }), 4, false).timesteps).toEqual([999, 749, 499, 249]);
  });

  it('names samplers as A1111 and ComfyUI do', () => {
    expect(['Euler', 'Euler a', 'DPM++ 2M', 'dpm++ 2m karras', 'DDIM', 'LCM', 'euler_ancestral', 'default', 'UniPC', 'uni_pc', 'uni_pc_bh2'].map(samplerFromName)).toEqual([
      'euler',
      'euler_a',
      'dpmpp_2m',
      'dpmpp_2m_karras',
      'ddim',
      'lcm',
      'euler_a',
      'default',
      'unipc',
      'unipc',
      'unipc',
    ]);
    expect(samplerFromName('heun')).toBe('heun');
  });
});
