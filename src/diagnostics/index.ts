/**
 * `fer-cbam/diagnostics`: measuring rather than building. Step timing (`timeSteps`, `forwardStep`,
 * `trainingStep`), per-kernel profiles (`profileKernels`) and WebGPU call counters
 * (`countWebGPUCalls`), as used by `npm run bench` and `fer-cbam bench`.
 * @example
 * ```ts
 * import { timeSteps, trainingStep } from 'fer-cbam/diagnostics';
 * ```
 * @module
 */
export * from './timing';
export * from './webgpu_counter';
