// How the demo page picks its backend (examples/browser/backend.ts), on renderer names browsers
// really report. Runs without a browser; live.test.ts checks the choice in headless Chromium.
import { describe, expect, it } from 'vitest';
import { isSoftwareRenderer, planBackends, wasmThreads } from '../../examples/browser/backend';

/** Renderer names as browsers report them (WEBGL_debug_renderer_info's unmasked renderer). */
const SOFTWARE = [
  // headless / GPU-less Chromium (ANGLE on SwiftShader's Vulkan device), older Chromium, Mesa, Windows
  'ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero) (0x0000C0DE)), SwiftShader driver)',
  'Google SwiftShader',
  'llvmpipe (LLVM 15.0.6, 256 bits)',
  'ANGLE (Mesa, llvmpipe (LLVM 15.0.7, 256 bits), OpenGL 4.5)',
  'softpipe',
  'ANGLE (Microsoft, Microsoft Basic Render Driver Direct3D11 vs_5_0 ps_5_0, D3D11)',
];
const HARDWARE = [
  'ANGLE (NVIDIA, NVIDIA GeForce RTX 3060 (0x00002504) Direct3D11 vs_5_0 ps_5_0, D3D11)',
  'ANGLE (Intel, Mesa Intel(R) UHD Graphics 620 (KBL GT2), OpenGL 4.6)',
  'ANGLE (Apple, ANGLE Metal Renderer: Apple M1, Unspecified Version)',
  'Apple GPU',
  'Mali-G78',
  'Adreno (TM) 650',
];

describe('demo page backend choice', () => {
  it('tells software renderers from hardware ones', () => {
    for (const name of SOFTWARE) expect(isSoftwareRenderer(name), name).toBe(true);
    for (const name of HARDWARE) expect(isSoftwareRenderer(name), name).toBe(false);
  });

  it('skips WebGL on a software renderer for wasm, and says why', () => {
    const plan = planBackends({ webgpu: null, webgl: SOFTWARE[0]! });
    expect(plan.order).toEqual(['wasm', 'cpu']);
    expect(plan.time).toEqual([]);
    expect(plan.reason).toBe(`WebGL renders in software (${SOFTWARE[0]}): WebAssembly on the CPU is faster`);
  });

  it('keeps WebGL on a hardware renderer, with wasm as the fallback', () => {
    const plan = planBackends({ webgpu: null, webgl: HARDWARE[0]! });
    expect(plan.order).toEqual(['webgl', 'wasm', 'cpu']);
    expect(plan.reason).toContain('hardware GPU (ANGLE (NVIDIA');
  });

  it('prefers a hardware WebGPU adapter, never a fallback (software) one', () => {
    expect(
      planBackends({ webgpu: { name: 'nvidia ampere', fallback: false }, webgl: HARDWARE[0]! }).order[0],
    ).toBe('webgpu');
    const fallback = planBackends({
      webgpu: { name: 'google swiftshader', fallback: true },
      webgl: SOFTWARE[1]!,
    });
    expect(fallback.order).toEqual(['wasm', 'cpu']);
    expect(fallback.reason).toMatch(
      /^WebGPU's adapter is a software one \(google swiftshader\); WebGL renders in software/,
    );
    // an adapter that does not say it is a fallback but is named like one
    expect(
      planBackends({ webgpu: { name: 'SwiftShader Device', fallback: false }, webgl: null }).order,
    ).toEqual(['wasm', 'cpu']);
  });

  it('times WebGL against wasm when the renderer is hidden, and uses wasm without WebGL', () => {
    const hidden = planBackends({ webgpu: null, webgl: '' });
    expect(hidden.time).toEqual(['wasm', 'webgl']);
    expect(hidden.order[0]).toBe('wasm');
    const none = planBackends({ webgpu: null, webgl: null });
    expect(none.order).toEqual(['wasm', 'cpu']);
    expect(none.reason).toBe('WebGL is not available: WebAssembly on the CPU');
  });

  it('gives wasm threads only where the page is cross-origin isolated and has cores to spare', () => {
    // no SharedArrayBuffer without isolation, whatever is asked
    expect(wasmThreads(false, 16, null)).toEqual({
      threads: 1,
      time: false,
      why: 'the page is not cross-origin isolated, so wasm gets no threads',
    });
    expect(wasmThreads(false, 2, '4').threads).toBe(1);
    // two cores: one thread (measured faster live); more: the cores (at most tfjs's pool of 8), timed
    expect(wasmThreads(true, 2, null)).toEqual({
      threads: 1,
      time: false,
      why: '2 cores: one thread leaves the other to the browser',
    });
    expect(wasmThreads(true, 4, null)).toEqual({ threads: 4, time: true, why: '' });
    expect(wasmThreads(true, 16, null)).toEqual({ threads: 8, time: true, why: '' });
    // ?threads=N and ?threads=timed
    expect(wasmThreads(true, 2, '2')).toEqual({ threads: 2, time: false, why: '' });
    expect(wasmThreads(true, 2, 'timed')).toEqual({ threads: 2, time: true, why: '' });
    expect(wasmThreads(true, 1, 'timed')).toEqual({ threads: 1, time: false, why: '' });
    expect(() => wasmThreads(true, 2, '0')).toThrow(
      '?threads= must be an integer from 1 to 8 or "timed", but got "0".',
    );
    expect(() => wasmThreads(false, 2, 'two')).toThrow(/but got "two"/);
  });
});
