import type { SchedulerConfig } from './config.js';
import { DdimScheduler } from './ddim.js';
import { DpmSolverMultistepScheduler } from './dpmpp-2m.js';
import { EulerAncestralScheduler } from './euler-ancestral.js';
import { EulerScheduler } from './euler.js';
import { LcmScheduler } from './lcm.js';
import type { Scheduler, SchedulerName, SchedulerOptions } from './types.js';
import { UniPcScheduler } from './unipc.js';

export type { Scheduler, SchedulerChoice, SchedulerName, SchedulerOptions, SchedulerStep } from './types.js';
export { SCHEDULER_NAMES } from './types.js';
export { parseSchedulerConfig } from './config.js';
export type { SchedulerConfig } from './config.js';

/**
 * Our sampler for the scheduler a model's scheduler_config.json names (what `default` means).
 *
 * DPMSolverMultistepScheduler is DPM++ 2M, with Karras σs when the config says `use_karras_sigmas`.
 * PNDMScheduler (what SD 1.5 exports name) maps to DDIM: with `skip_prk_steps` PNDM is PLMS, a
 * linear multistep method whose transfer step is exactly DDIM's update, on the same integer
 * `leading` timesteps with `steps_offset` and the same unscaled samples, so DDIM is its first-order
 * equivalent and behaves like it at the step counts people use (20–50). UniPCMultistepScheduler is
 * UniPC. LMS, Heun, KDPM2 and other σ-space samplers we do not implement map to Euler, their common
 * first-order ancestor.
 */
export function defaultSchedulerFor(cfg: Pick<SchedulerConfig, 'className' | 'useKarrasSigmas'>): SchedulerName {
  switch (cfg.className) {
    case 'EulerAncestralDiscreteScheduler':
      return 'euler_a';
    case 'DPMSolverMultistepScheduler':
    case 'DPMSolverSinglestepScheduler':
      return cfg.useKarrasSigmas ? 'dpmpp_2m_karras' : 'dpmpp_2m';
    case 'DDIMScheduler':
    case 'PNDMScheduler':
      return 'ddim';
    case 'LCMScheduler':
    case 'TCDScheduler':
      return 'lcm';
    case 'UniPCMultistepScheduler':
      return 'unipc';
    default:
      return 'euler';
  }
}

/**
 * A fresh sampler for one job; throws INVALID_INPUT when `steps` does not fit the sampler (e.g. LCM's
 * bound). `dpmpp_2m` and `dpmpp_2m_karras` are DPM-Solver++ multistep without and with Karras σs,
 * whatever the config's `use_karras_sigmas`; the other samplers follow every key of the config.
 */
export function createScheduler(name: SchedulerName, cfg: SchedulerConfig, steps: number, opts: SchedulerOptions = {}): Scheduler {
  switch (name) {
    case 'euler':
      return new EulerScheduler(cfg, steps);
    case 'euler_a':
      return new EulerAncestralScheduler(cfg, steps);
    case 'dpmpp_2m':
      return new DpmSolverMultistepScheduler(cfg, steps, false, opts);
    case 'dpmpp_2m_karras':
      return new DpmSolverMultistepScheduler(cfg, steps, true, opts);
    case 'ddim':
      return new DdimScheduler(cfg, steps, opts);
    case 'lcm':
      return new LcmScheduler(cfg, steps, opts);
    case 'unipc':
      return new UniPcScheduler(cfg, steps, opts);
  }
}
