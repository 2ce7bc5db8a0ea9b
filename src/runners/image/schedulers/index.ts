import type { SchedulerConfig } from './config.js';
import { DdimScheduler } from './ddim.js';
import { DpmPp2mKarrasScheduler } from './dpmpp-2m-karras.js';
import { EulerAncestralScheduler } from './euler-ancestral.js';
import { EulerScheduler } from './euler.js';
import { LcmScheduler } from './lcm.js';
import type { Scheduler, SchedulerName } from './types.js';

export type { Scheduler, SchedulerChoice, SchedulerName, SchedulerStep } from './types.js';
export { SCHEDULER_NAMES } from './types.js';
export { parseSchedulerConfig } from './config.js';
export type { SchedulerConfig } from './config.js';

/**
 * Our sampler for the scheduler class a model's scheduler_config.json names (what `default` means).
 *
 * PNDMScheduler (what SD 1.5 exports name) maps to DDIM: with `skip_prk_steps` PNDM is PLMS, a
 * linear multistep method whose transfer step is exactly DDIM's update, on the same integer
 * `leading` timesteps with `steps_offset` and the same unscaled samples, so DDIM is its first-order
 * equivalent and behaves like it at the step counts people use (20–50). LMS, Heun, KDPM2 and other
 * σ-space samplers we do not implement map to Euler, their common first-order ancestor.
 */
export function defaultSchedulerFor(className: string): SchedulerName {
  switch (className) {
    case 'EulerAncestralDiscreteScheduler':
      return 'euler_a';
    case 'DPMSolverMultistepScheduler':
    case 'DPMSolverSinglestepScheduler':
      return 'dpmpp_2m_karras';
    case 'DDIMScheduler':
    case 'PNDMScheduler':
      return 'ddim';
    case 'LCMScheduler':
    case 'TCDScheduler':
      return 'lcm';
    default:
      return 'euler';
  }
}

/** A fresh sampler for one job; throws INVALID_INPUT when `steps` does not fit the sampler (e.g. LCM's bound). */
export function createScheduler(name: SchedulerName, cfg: SchedulerConfig, steps: number): Scheduler {
  switch (name) {
    case 'euler':
      return new EulerScheduler(cfg, steps);
    case 'euler_a':
      return new EulerAncestralScheduler(cfg, steps);
    case 'dpmpp_2m_karras':
      return new DpmPp2mKarrasScheduler(cfg, steps);
    case 'ddim':
      return new DdimScheduler(cfg, steps);
    case 'lcm':
      return new LcmScheduler(cfg, steps);
  }
}
