import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  registerWasmTrainingKernels,
  unregisterWasmTrainingKernels,
  WASM_TRAINING_KERNEL_DEFAULTS,
} from '../../src/backends/wasm_kernels';
import { nativeKernels } from '../../src/backends/wasm_native';
import {
  BATCH_NORM_GRAD_KERNEL,
  batchNormGradients,
  CHANNEL_MOMENTS_KERNEL,
  channelMoments,
} from '../../src/ops/batch_norm';
import {
  type ConvCase,
  convGrads,
  relError,
  seededTensor,
  tinyResNet,
  trainingGradients,
  valuesOn,
} from './helpers';

const CONV_CASES: ConvCase[] = [
  // CBAM's spatial gate: 7x7, 2 channels (mean and max) to 1 ('auto' takes the 'conv' formulation).
  [[2, 9, 9, 2], [7, 7, 2, 1], 1, 'same'],
  [[2, 7, 7, 3], [3, 3, 3, 4], 1, 'same'],
  [[2, 7, 7, 3], [3, 3, 3, 4], 2, 'same'],
  [[2, 8, 8, 3], [3, 3, 3, 4], 2, 'same'],
  [[2, 7, 7, 3], [3, 3, 3, 4], 1, 'valid'],
  [[2, 8, 9, 3], [3, 2, 3, 5], 2, 'valid'],
  [[1, 9, 9, 2], [5, 5, 2, 3], 2, 'same'],
  [[2, 6, 6, 4], [1, 1, 4, 8], 1, 'same'],
  [[2, 6, 6, 4], [1, 1, 4, 8], 2, 'same'],
  [[2, 11, 11, 4], [1, 1, 4, 8], 2, 'valid'],
  [[2, 5, 5, 3], [3, 3, 3, 2], 1, 1],
  [[2, 5, 5, 3], [3, 3, 3, 2], 3, 'same'],
  [[2, 10, 9, 3], [4, 3, 3, 2], [3, 2], 'same'],
  [
    [1, 7, 7, 2],
    [3, 3, 2, 2],
    2,
    [
      [0, 0],
      [2, 0],
      [0, 3],
      [0, 0],
    ],
  ],
  [[3, 44, 44, 1], [3, 3, 1, 8], 1, 'same'],
  // A strided block's folded conv + BatchNorm: the zero padding as an explicit pad.
  [
    [2, 10, 10, 8],
    [3, 3, 8, 16],
    2,
    [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ],
  ],
  // The direct kernel's tiles: 2 input x 16 output channels, with 4-channel edges (20, odd inputs),
  // chunks of rows that cross image boundaries (12 images of 7 rows), images smaller than the filter.
  [[2, 6, 6, 4], [3, 3, 4, 16], 1, 'same'],
  [[2, 7, 7, 3], [3, 3, 3, 20], 2, 'same'],
  [[12, 7, 7, 3], [3, 3, 3, 16], 1, 'same'],
  [[2, 9, 8, 5], [5, 5, 5, 32], 2, 'valid'],
  [[2, 1, 1, 2], [3, 3, 2, 16], 1, 'same'],
  [[2, 12, 12, 16], [3, 3, 16, 16], 1, 'same'],
  [[2, 11, 11, 6], [3, 3, 6, 12], 2, 'same'],
  [
    [1, 6, 5, 6],
    [3, 3, 6, 12],
    3,
    [
      [0, 0],
      [2, 1],
      [1, 2],
      [0, 0],
    ],
  ],
  // Winograd F(2x2, 3x3) (3x3, stride 1, 8+ input channels): odd output sizes (tiles past the edge),
  // 4-channel output edges (12, 36), 'valid' and asymmetric padding, an image smaller than a tile, and
  // more tiles than one block (245, across images).
  [[3, 7, 9, 8], [3, 3, 8, 12], 1, 'same'],
  [[2, 9, 8, 12], [3, 3, 12, 36], 1, 'valid'],
  [
    [2, 5, 6, 8],
    [3, 3, 8, 4],
    1,
    [
      [0, 0],
      [2, 0],
      [0, 1],
      [0, 0],
    ],
  ],
  [[1, 1, 3, 8], [3, 3, 8, 16], 1, 'same'],
  [[5, 13, 13, 16], [3, 3, 16, 16], 1, 'same'],
  // Output channels not a multiple of 4 (zero-padded to 4): CBAM's 7x7 spatial gate (2 -> 1; its input
  // gradient 1 -> 2), and 6.
  [[3, 12, 12, 2], [7, 7, 2, 1], 1, 'same'],
  [[2, 9, 9, 8], [3, 3, 8, 6], 1, 'same'],
  // Few channels, stride 1 (the channel-planar kernel): 3 -> 3 'valid' with a row tail, 1 -> 1 with
  // asymmetric padding.
  [[2, 9, 10, 3], [5, 3, 3, 3], 1, 'valid'],
  [
    [2, 6, 7, 1],
    [3, 3, 1, 1],
    1,
    [
      [0, 0],
      [2, 0],
      [0, 1],
      [0, 0],
    ],
  ],
];

beforeAll(async () => {
  registerWasmTrainingKernels();
  await tf.setBackend('wasm');
});

afterAll(async () => {
  unregisterWasmTrainingKernels();
  await tf.setBackend('cpu');
});

describe('wasm training kernels: Conv2D gradients', () => {
  it.each(CONV_CASES)('x %j, filter %j, strides %j, pad %j equal the cpu backend', async (...c) => {
    const cpu = await valuesOn('cpu', convGrads(c));
    const wasm = await valuesOn('wasm', convGrads(c));
    expect(relError(wasm[0]!, cpu[0]!), 'dx').toBeLessThan(1e-5);
    expect(relError(wasm[1]!, cpu[1]!), 'dw').toBeLessThan(1e-5);
  });

  it.each(['direct', 'perTap', 'im2col', 'conv', 'auto'] as const)(
    'the %s formulation of the filter gradient agrees',
    async (m) => {
      registerWasmTrainingKernels({ filterGradMethod: m });
      try {
        for (const c of CONV_CASES) {
          const cpu = await valuesOn('cpu', convGrads(c));
          const wasm = await valuesOn('wasm', convGrads(c));
          expect(relError(wasm[1]!, cpu[1]!), JSON.stringify(c)).toBeLessThan(1e-5);
        }
      } finally {
        registerWasmTrainingKernels();
      }
    },
  );

  it.each(CONV_CASES)('forward: x %j, filter %j, strides %j, pad %j equal the cpu backend', async (...c) => {
    const [xs, ws, strides, pad] = c;
    const run = () => {
      const x = seededTensor(xs, 1) as tf.Tensor4D;
      const w = seededTensor(ws, 2) as tf.Tensor4D;
      const bias = seededTensor([ws[3]!], 3) as tf.Tensor1D;
      return [
        tf.conv2d(x, w, strides, pad),
        // FusedConv2D (inference, BatchNorm folded in): a bias, a bias and ReLU, ReLU alone (in the
        // native kernels' epilogue for output channels a multiple of 4, as ops after them otherwise),
        // and an activation the native kernels leave to the backend's.
        tf.fused.conv2d({ x, filter: w, strides, pad, bias }),
        tf.fused.conv2d({ x, filter: w, strides, pad, bias, activation: 'relu' }),
        tf.fused.conv2d({ x, filter: w, strides, pad, activation: 'relu' }),
        tf.fused.conv2d({ x, filter: w, strides, pad, bias, activation: 'elu' }),
      ];
    };
    const cpu = await valuesOn('cpu', run);
    const wasm = await valuesOn('wasm', run);
    for (let i = 0; i < cpu.length; i++)
      expect(relError(wasm[i]!, cpu[i]!), `output ${i}`).toBeLessThan(1e-5);
  });

  it('Winograd F(2x2, 3x3) runs the 3x3 stride-1 layers and their gradients, agreeing with the direct kernels', async () => {
    // Its rounding differs from the direct sum's, so equal bits would mean it did not run.
    const c: ConvCase = [[4, 11, 11, 32], [3, 3, 32, 32], 1, 'same'];
    const run = () => [
      tf.conv2d(seededTensor(c[0], 1) as tf.Tensor4D, seededTensor(c[1], 2) as tf.Tensor4D, 1, 'same'),
      ...convGrads(c)(),
      tf.fused.conv2d({
        x: seededTensor(c[0], 1) as tf.Tensor4D,
        filter: seededTensor(c[1], 2) as tf.Tensor4D,
        bias: seededTensor([32], 3) as tf.Tensor1D,
        activation: 'relu',
        strides: 1,
        pad: 'same',
      }),
    ];
    const cpu = await valuesOn('cpu', run);
    const winograd = await valuesOn('wasm', run);
    registerWasmTrainingKernels({ winograd: false });
    let direct: Float32Array[];
    try {
      direct = await valuesOn('wasm', run);
    } finally {
      registerWasmTrainingKernels();
    }
    for (const [i, name] of ['forward', 'dx', 'dw', 'forward with bias and ReLU'].entries()) {
      expect(relError(winograd[i]!, cpu[i]!), name).toBeLessThan(1e-5);
      expect(relError(direct[i]!, cpu[i]!), name).toBeLessThan(1e-5);
      expect(
        winograd[i]!.some((v, k) => v !== direct[i]![k]),
        name,
      ).toBe(true);
    }
  });

  it('with the native kernels off (XNNPACK compositions) convolutions and gradients equal the cpu backend too', async () => {
    registerWasmTrainingKernels({ nativeKernels: false });
    try {
      expect(tf.getKernel(CHANNEL_MOMENTS_KERNEL, 'wasm')).toBeUndefined();
      for (const c of CONV_CASES.slice(-8)) {
        const run = () => [
          tf.conv2d(seededTensor(c[0], 1) as tf.Tensor4D, seededTensor(c[1], 2) as tf.Tensor4D, c[2], c[3]),
          ...convGrads(c)(),
        ];
        const cpu = await valuesOn('cpu', run);
        const wasm = await valuesOn('wasm', run);
        for (let i = 0; i < cpu.length; i++)
          expect(relError(wasm[i]!, cpu[i]!), `${JSON.stringify(c)} ${i}`).toBeLessThan(1e-5);
      }
    } finally {
      registerWasmTrainingKernels();
    }
  });

  it("loads fer-cbam's own SIMD kernels on the backend's memory (the plain SIMD build here)", () => {
    const backend = tf.findBackend('wasm') as unknown as { wasm: { wasmMemory?: unknown } };
    expect(nativeKernels(backend)).not.toBeNull();
  });

  it('NCHW kernels agree with the cpu backend', async () => {
    const attrs = { strides: [2, 2], pad: 'same', dataFormat: 'NCHW' };
    const run = () => {
      const x = seededTensor([2, 3, 8, 7], 4);
      const w = seededTensor([3, 3, 3, 5], 5);
      const dy = seededTensor([2, 5, 4, 4], 6);
      const dw = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
        ...attrs,
        filterShape: w.shape,
      } as unknown as tf.NamedAttrMap);
      const dx = tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, {
        ...attrs,
        inputShape: x.shape,
      } as unknown as tf.NamedAttrMap);
      return [dw as tf.Tensor, dx as tf.Tensor];
    };
    const cpu = await valuesOn('cpu', run);
    const wasm = await valuesOn('wasm', run);
    expect(relError(wasm[0]!, cpu[0]!)).toBeLessThan(1e-5);
    expect(relError(wasm[1]!, cpu[1]!)).toBeLessThan(1e-5);
  });
});

describe('wasm training kernels: native BatchNorm moments and gradient', () => {
  // c = 6: SIMD groups and a scalar remainder; [700, 1]: one channel over several summation blocks;
  // [8, 44, 44, 16] with mean 2, std 3: float32 sums over 15,488 positions.
  it.each([[[3, 4, 5, 6]], [[700, 1]], [[2, 7, 7, 16]], [[8, 44, 44, 16]]])(
    'shape %j equals the cpu backend (tfjs ops)',
    async (shape) => {
      expect(tf.getKernel(CHANNEL_MOMENTS_KERNEL, 'wasm')).toBeDefined();
      expect(tf.getKernel(BATCH_NORM_GRAD_KERNEL, 'wasm')).toBeDefined();
      const c = shape[shape.length - 1]!;
      const run = () => {
        const x = tf.add(tf.mul(seededTensor(shape, 7), 3), 2);
        const dy = seededTensor(shape, 8);
        const gamma = seededTensor([c], 9);
        const { mean, variance } = channelMoments(x);
        const g = batchNormGradients(x, dy, mean, variance, gamma, 1e-3);
        return [mean, variance, g.dx, g.dgamma, g.dbeta];
      };
      const cpu = await valuesOn('cpu', run);
      const wasm = await valuesOn('wasm', run);
      for (const [i, name] of ['mean', 'variance', 'dx', 'dgamma', 'dbeta'].entries()) {
        expect(relError(wasm[i]!, cpu[i]!), name).toBeLessThan(1e-5);
      }
    },
  );
});

describe('wasm training kernels: depthwise gradients', () => {
  const cases: ConvCase[] = [
    [[2, 7, 7, 3], [3, 3, 3, 1], 1, 'same'],
    [[2, 7, 7, 3], [3, 3, 3, 2], 2, 'same'],
    [[2, 8, 8, 3], [3, 3, 3, 2], 2, 'valid'],
  ];
  it.each(cases)(
    'x %j, filter %j, strides %j, pad %j equal the cpu backend',
    async (xs, ws, strides, pad) => {
      const run = () => {
        const x = seededTensor(xs, 1) as tf.Tensor4D;
        const w = seededTensor(ws, 2) as tf.Tensor4D;
        const r = seededTensor(tf.depthwiseConv2d(x, w, strides, pad as 'same').shape, 3);
        return tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.mul(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, strides, pad as 'same'), r)),
        )([x, w]);
      };
      const cpu = await valuesOn('cpu', run);
      const wasm = await valuesOn('wasm', run);
      expect(relError(wasm[0]!, cpu[0]!)).toBeLessThan(1e-5);
      expect(relError(wasm[1]!, cpu[1]!)).toBeLessThan(1e-5);
    },
  );
});

describe('wasm heap kernels: Slice and Reverse', () => {
  it.each([
    [[10], [3], [4]],
    [
      [4, 5],
      [1, 0],
      [2, 5],
    ],
    [
      [4, 5],
      [1, 2],
      [3, 3],
    ],
    [
      [3, 4, 5],
      [0, 1, 2],
      [3, 2, 3],
    ],
    [
      [2, 3, 4, 20],
      [1, 0, 1, 3],
      [1, 3, 2, 17],
    ],
    [
      [2, 3, 4, 5, 6],
      [0, 1, 0, 2, 1],
      [2, 2, 4, 3, 5],
    ],
    [
      [2, 2, 3, 2, 3, 4],
      [1, 0, 1, 0, 1, 0],
      [1, 2, 2, 2, 2, 4],
    ],
    [
      [5, 0, 3],
      [1, 0, 0],
      [2, 0, 3],
    ],
  ])('slice of %j at %j size %j is exact for float32, int32 and bool', async (shape, begin, size) => {
    for (const dtype of ['float32', 'int32', 'bool'] as const) {
      const run = () => {
        const base = seededTensor(shape, 5);
        const x = dtype === 'bool' ? tf.greater(base, 0) : tf.cast(tf.mul(base, 100), dtype);
        return tf.cast(tf.slice(x, begin, size), 'float32');
      };
      const cpu = await valuesOn('cpu', run);
      const wasm = await valuesOn('wasm', run);
      expect(Array.from(wasm[0]!), dtype).toEqual(Array.from(cpu[0]!));
    }
  });

  it.each([
    [[9], [0]],
    [
      [3, 3, 4, 5],
      [0, 1],
    ],
    [
      [3, 3, 4, 5],
      [1, 0],
    ],
    [[3, 3, 4, 5], [0]],
    [[3, 3, 4, 5], [2]],
    [
      [3, 3, 4, 5],
      [0, 2],
    ],
    [[2, 3], [-1]],
  ])('reverse of %j along %j is exact', async (shape, dims) => {
    const run = () => tf.reverse(seededTensor(shape, 6), dims);
    const cpu = await valuesOn('cpu', run);
    const wasm = await valuesOn('wasm', run);
    expect(Array.from(wasm[0]!)).toEqual(Array.from(cpu[0]!));
  });
});

describe('wasm heap kernels: Concat', () => {
  it.each([
    [
      [
        [4, 5, 6, 1],
        [4, 5, 6, 1],
      ],
      -1,
      'float32',
    ], // CBAM: channel mean and max maps
    [
      [
        [4, 5, 6, 3],
        [4, 5, 6, 2],
        [4, 5, 6, 7],
      ],
      3,
      'float32',
    ],
    [
      [
        [2, 3, 4],
        [5, 3, 4],
      ],
      0,
      'float32',
    ],
    [
      [
        [2, 3, 4],
        [2, 1, 4],
        [2, 0, 4],
      ],
      1,
      'float32',
    ], // an empty input
    [
      [
        [3, 17],
        [3, 20],
      ],
      1,
      'int32',
    ],
    [[[6], [2]], 0, 'bool'],
    // Eight or more blocks per input: the native block copy, with 4-byte and 1-byte element tails.
    [
      [
        [9, 3],
        [9, 5],
      ],
      1,
      'int32',
    ],
    [
      [
        [10, 3],
        [10, 1],
        [10, 17],
      ],
      1,
      'bool',
    ],
  ] as const)('%j along %j (%s) equals the cpu backend', async (shapes, axis, dtype) => {
    const run = () => {
      const xs = shapes.map((shape, i) => {
        const t = seededTensor([...shape], 30 + i);
        return dtype === 'float32'
          ? t
          : dtype === 'int32'
            ? tf.cast(tf.mul(t, 100), 'int32')
            : tf.greater(t, 0);
      });
      const out = tf.concat(xs, axis);
      return [tf.cast(out, 'float32'), tf.tensor1d(out.shape)];
    };
    const cpu = await valuesOn('cpu', run);
    const wasm = await valuesOn('wasm', run);
    expect(Array.from(wasm[1]!)).toEqual(Array.from(cpu[1]!));
    expect(Array.from(wasm[0]!)).toEqual(Array.from(cpu[0]!));
  });
});

describe('wasm pooling kernels: Sum, Mean and Max over a block of axes', () => {
  it.each([
    [[6, 5, 4, 3], [0, 1, 2], false],
    [[6, 5, 4, 3], [2, 0, 1], true],
    [[6, 5], [0], false],
    [[6, 5, 4], [1], false],
    [[6, 5, 4], [-1], true],
    // Over the last axis in vectors of 4, with a tail of 2.
    [[5, 7, 18], [2], true],
    [[6, 5, 4], [0, 1, 2], false],
    [[6, 5, 4], [0, 2], false],
    // The reduced rows viewed as a d x (rows / d) image: 7744 = 88 * 88, 120 = 10 * 12, 1009 is prime.
    [[16, 22, 22, 8], [0, 1, 2], false],
    [[4, 30, 3], [0, 1], true],
    [[1009, 4], [0], false],
    [[2, 1009, 3], [0, 1], true],
    // CBAM's channel gate: over height and width.
    [[8, 11, 11, 16], [1, 2], true],
    // Max in blocks of 16 columns, then 4, then one.
    [[3, 5, 4, 21], [1, 2], true],
    [[3, 7, 5, 2, 4], [1, 2, 3], false],
  ])('over %j along %j (keepDims %j) equal the cpu backend', async (shape, axis, keepDims) => {
    const run = () => {
      const x = seededTensor(shape, 12);
      const sum = tf.sum(x, axis, keepDims);
      return [sum, tf.mean(x, axis, keepDims), tf.max(x, axis, keepDims), tf.tensor1d(sum.shape)];
    };
    const cpu = await valuesOn('cpu', run);
    const wasm = await valuesOn('wasm', run);
    expect(relError(wasm[0]!, cpu[0]!), 'sum').toBeLessThan(1e-6);
    expect(relError(wasm[1]!, cpu[1]!), 'mean').toBeLessThan(1e-6);
    expect(Array.from(wasm[2]!), 'max').toEqual(Array.from(cpu[2]!));
    expect(Array.from(wasm[3]!)).toEqual(Array.from(cpu[3]!));
  });
});

describe('wasm pooling kernels: non-finite values', () => {
  it('keep NaN and infinities as the cpu backend does', async () => {
    const cases = [
      [1, Number.NaN, 3, 4, 5, 6, 2, 8, 9, 1, 7, 2],
      [1, 2, 3, 4, 5, 6, 2, 8, 9, 1, Number.NEGATIVE_INFINITY, 2],
      [1, 2, 3, 4, 5, 6, 2, 8, 9, 1, Number.POSITIVE_INFINITY, 2],
      [1, Number.NaN, 3, 4, 5, 6, 2, 8, 9, 1, Number.NEGATIVE_INFINITY, 2],
    ];
    for (const values of cases) {
      const run = () => {
        const x = tf.tensor3d(values, [3, 2, 2]);
        return [tf.sum(x, [0, 1]), tf.mean(x, [0, 1]), tf.max(x, [0, 1])];
      };
      const cpu = await valuesOn('cpu', run);
      const wasm = await valuesOn('wasm', run);
      for (let i = 0; i < 3; i++) {
        // Non-finite results exactly (NaN stays NaN); finite ones to float32 rounding.
        const where = `${values} ${i}`;
        expect(
          Array.from(wasm[i]!, (v) => (Number.isFinite(v) ? 'finite' : v)),
          where,
        ).toEqual(Array.from(cpu[i]!, (v) => (Number.isFinite(v) ? 'finite' : v)));
        expect(
          relError(
            wasm[i]!.map((v) => (Number.isFinite(v) ? v : 0)),
            cpu[i]!.map((v) => (Number.isFinite(v) ? v : 0)),
          ),
          where,
        ).toBeLessThan(1e-6);
      }
    }
  });
});

describe('wasm native max: NaN and infinities as in the cpu backend', () => {
  it('over the last axis and over middle axes with 4 or more values per row (SIMD lanes)', async () => {
    const nan = Number.NaN;
    const rows = [
      [nan, 1, 2, 3, 4, 5, 6, 7],
      [1, nan, 2, 3, 4, 5, 6, 7],
      [1, 2, 3, 4, 5, 6, 7, nan],
      [Number.NEGATIVE_INFINITY, 2, Number.POSITIVE_INFINITY, 3, -1, -2, -3, -4],
    ];
    const run = () => {
      const x = tf.tensor2d(rows); // [4, 8]
      return [
        tf.max(x, -1),
        tf.max(x, 0),
        tf.max(tf.reshape(x, [2, 2, 8]), 1),
        tf.max(tf.reshape(tf.transpose(x), [8, 4]), 0),
      ];
    };
    const cpu = await valuesOn('cpu', run);
    const wasm = await valuesOn('wasm', run);
    for (let i = 0; i < cpu.length; i++) expect(Array.from(wasm[i]!), String(i)).toEqual(Array.from(cpu[i]!));
  });
});

describe('wasm native broadcasting: Multiply, Add, Sub, RealDiv', () => {
  it.each([
    [
      [2, 5, 5, 8],
      [2, 1, 1, 8],
    ], // CBAM's channel gate
    [
      [2, 5, 5, 8],
      [2, 5, 5, 1],
    ], // and spatial gate
    [
      [2, 1, 1, 8],
      [2, 5, 5, 8],
    ],
    [
      [2, 5, 5, 1],
      [2, 5, 5, 8],
    ],
    [[2, 5, 5, 6], [6]], // 6: SIMD and a scalar remainder
    [
      [3, 1, 4],
      [1, 5, 1],
    ], // both broadcast
    [
      [2, 3, 2, 3, 5],
      [2, 1, 2, 1, 5],
    ], // more than three merged axes: the odometer
    [[7], []],
  ])('%j with %j equals the cpu backend', async (sa, sb) => {
    const run = () => {
      const a = seededTensor(sa, 16);
      const b = tf.add(seededTensor(sb, 17), 3); // away from 0 for the division
      return [tf.mul(a, b), tf.add(a, b), tf.sub(a, b), tf.div(a, b), tf.sub(b, a), tf.div(b, a)];
    };
    const cpu = await valuesOn('cpu', run);
    const wasm = await valuesOn('wasm', run);
    for (let i = 0; i < cpu.length; i++) {
      expect(wasm[i]!.length, String(i)).toBe(cpu[i]!.length);
      expect(relError(wasm[i]!, cpu[i]!), String(i)).toBeLessThan(1e-6);
    }
  });
});

describe('wasm heap kernels: SplitV', () => {
  it.each([
    [[64, 5, 5, 2], 2, 3],
    [[4, 5, 6], [1, 3, 2], 2],
    [[4, 5, 6], [2, -1], 1],
    [[4, 5, 6], 2, 0],
    [[7, 3], [3, 0, 4], 0],
    [[6, 1, 4], [1, 3], -1],
  ] as const)(
    'split(%j, %j, axis %j) equals the cpu backend for float32, int32 and bool',
    async (shape, splits, axis) => {
      for (const dtype of ['float32', 'int32', 'bool'] as const) {
        const run = () => {
          const values = tf.round(tf.mul(seededTensor([...shape], 15), 3));
          const x = dtype === 'bool' ? tf.greater(values, 0) : tf.cast(values, dtype);
          const parts = tf.split(x, splits as number | number[], axis);
          return parts.flatMap((p) => [tf.cast(p, 'float32'), tf.tensor1d(p.shape)]);
        };
        const cpu = await valuesOn('cpu', run);
        const wasm = await valuesOn('wasm', run);
        expect(wasm.length, dtype).toBe(cpu.length);
        for (let i = 0; i < cpu.length; i++)
          expect(Array.from(wasm[i]!), `${dtype} ${i}`).toEqual(Array.from(cpu[i]!));
      }
    },
  );
});

describe('wasm kernels: Cast to its own dtype', () => {
  it('shares the buffer and keeps its values when the input is disposed', async () => {
    await tf.setBackend('wasm');
    const x = seededTensor([3, 4], 21);
    const expected = Array.from(await x.data());
    const before = tf.memory().numDataBuffers;
    const y = tf.cast(x, 'float32');
    expect(tf.memory().numDataBuffers).toBe(before); // no copy
    x.dispose();
    expect(Array.from(await y.data())).toEqual(expected);
    y.dispose();
  });
});

describe('wasm kernels: Cast to bool', () => {
  it('gives true for every non-zero value, as the cpu backend does', async () => {
    // tfjs-backend-wasm 4.22 stores the low byte of the value (-2 -> 254), so cast back gives 254.
    for (const dtype of ['float32', 'int32'] as const) {
      const run = () => {
        const b = tf.cast(tf.tensor1d([-2, 0, 3, -1, 1, 0, 256, 0.5], dtype), 'bool');
        return [tf.cast(b, 'float32'), tf.cast(tf.logicalNot(b), 'float32')];
      };
      const cpu = await valuesOn('cpu', run);
      const wasm = await valuesOn('wasm', run);
      expect(Array.from(cpu[0]!), dtype).toEqual(
        dtype === 'int32' ? [1, 0, 1, 1, 1, 0, 1, 0] : [1, 0, 1, 1, 1, 0, 1, 1],
      );
      expect(Array.from(wasm[0]!), dtype).toEqual(Array.from(cpu[0]!));
      expect(Array.from(wasm[1]!), dtype).toEqual(Array.from(cpu[1]!));
    }
  });
});

describe('wasm heap kernels: Equal with broadcasting', () => {
  it.each([
    [
      [2, 3, 4, 5],
      [2, 3, 4, 1],
    ],
    [
      [2, 3, 4, 5],
      [2, 1, 1, 5],
    ],
    [
      [2, 3, 4, 5],
      [2, 3, 4, 5],
    ],
    [[4, 5], [5]],
    [
      [1, 5],
      [4, 1],
    ],
    [[3], []],
    [
      [2, 3, 2, 3, 5],
      [2, 1, 2, 1, 5],
    ],
  ])('equal(%j, %j) matches the cpu backend for float32 and int32', async (sa, sb) => {
    for (const dtype of ['float32', 'int32'] as const) {
      const run = () => {
        // Few distinct values so that many pairs are equal.
        const a = tf.cast(tf.round(tf.mul(seededTensor(sa, 13), 2)), dtype);
        const b = tf.cast(tf.round(tf.mul(seededTensor(sb, 14), 2)), dtype);
        const eq = tf.equal(a, b);
        return [tf.cast(eq, 'float32'), tf.tensor1d(eq.shape)];
      };
      const cpu = await valuesOn('cpu', run);
      const wasm = await valuesOn('wasm', run);
      expect(Array.from(wasm[0]!), dtype).toEqual(Array.from(cpu[0]!));
      expect(Array.from(wasm[1]!)).toEqual(Array.from(cpu[1]!));
    }
  });
});

describe('wasm training kernels: Tile and UnsortedSegmentSum', () => {
  it.each([
    [
      [1, 1, 1, 6],
      [2, 3, 4, 1],
    ],
    [
      [2, 3],
      [3, 2],
    ],
    [[3], [4]],
    [
      [2, 1, 3],
      [1, 5, 1],
    ],
    [
      [4, 5],
      [1, 1],
    ],
    // Broadcasts (only axes of size 1 tiled; the native element-wise pass): CBAM's per-channel and
    // per-position maps back to the activation's shape.
    [
      [3, 1, 1, 5],
      [1, 4, 6, 1],
    ],
    [
      [3, 4, 6, 1],
      [1, 1, 1, 5],
    ],
  ])('tile %j by %j is exact', async (shape, reps) => {
    const run = () => tf.tile(seededTensor(shape, 7), reps);
    const cpu = await valuesOn('cpu', run);
    const wasm = await valuesOn('wasm', run);
    expect(Array.from(wasm[0]!)).toEqual(Array.from(cpu[0]!));
  });

  it.each([
    ['4D with offset and scale', [2, 5, 4, 6], true, true],
    ['2D without offset or scale', [7, 3], false, false],
    ['3D with scale only', [2, 3, 5], false, true],
  ] as const)('FusedBatchNorm (%s) equals the cpu backend', async (_, shape, withOffset, withScale) => {
    const c = shape[shape.length - 1]!;
    const run = () =>
      tf.batchNorm(
        tf.add(tf.mul(seededTensor([...shape], 1), 3), 2),
        seededTensor([c], 2),
        tf.add(tf.abs(seededTensor([c], 3)), 0.1),
        withOffset ? seededTensor([c], 4) : undefined,
        withScale ? seededTensor([c], 5) : undefined,
        1e-3,
      );
    const cpu = await valuesOn('cpu', run);
    const wasm = await valuesOn('wasm', run);
    expect(relError(wasm[0]!, cpu[0]!)).toBeLessThan(1e-6);
  });

  it('gather gradient (UnsortedSegmentSum) equals the cpu backend', async () => {
    const run = () => {
      const table = seededTensor([5, 3], 8);
      const r = seededTensor([4, 2, 3], 9);
      const ids = tf.tensor2d([0, 4, 4, 1, 0, 0, 2, 4], [4, 2], 'int32');
      return tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, ids), r)))(table);
    };
    const cpu = await valuesOn('cpu', run);
    const wasm = await valuesOn('wasm', run);
    expect(relError(wasm[0]!, cpu[0]!)).toBeLessThan(1e-6);
  });
});

describe('wasm training kernels: a training step', () => {
  it.each(['tfjs', 'fused'] as const)(
    'gives the gradients of the cpu backend for a small ResNet with %s BatchNorm and a spatial gate',
    async (batchNorm) => {
      await tf.setBackend('cpu');
      const model = tinyResNet([12, 12, 2], 4, 3, batchNorm);
      const step = () => {
        const x = seededTensor([4, 12, 12, 2], 11);
        const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 1], 'int32'), 3);
        return trainingGradients(model, x, labels);
      };
      const cpu = await valuesOn('cpu', step);
      const wasm = await valuesOn('wasm', step);
      expect(wasm.length).toBe(model.trainableWeights.length + 1);
      for (let i = 0; i < cpu.length; i++) {
        expect(relError(wasm[i]!, cpu[i]!), model.trainableWeights[i - 1]?.name ?? 'loss').toBeLessThan(1e-5);
      }
      model.dispose();
    },
  );

  it('leaks neither engine tensors nor wasm buffers', async () => {
    await tf.setBackend('wasm');
    const x = seededTensor([2, 8, 8, 3], 1) as tf.Tensor4D;
    const w = seededTensor([3, 3, 3, 4], 2) as tf.Tensor4D;
    const backend = tf.backend() as tf.KernelBackend & { numDataIds(): number };
    const grads = () =>
      tf.tidy(() =>
        tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same')),
        )([x, w]),
      );
    tf.dispose(grads());
    const tensors = tf.memory().numTensors;
    const buffers = backend.numDataIds();
    for (let i = 0; i < 3; i++) tf.dispose(grads());
    expect(tf.memory().numTensors).toBe(tensors);
    expect(backend.numDataIds()).toBe(buffers);
    tf.dispose([x, w]);
  });
});

describe('registerWasmTrainingKernels', () => {
  it('registers the missing kernels and restores working originals when unregistered', async () => {
    const original = tf.getKernel('Conv2DBackpropInput', 'wasm');
    unregisterWasmTrainingKernels();
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined();
    const stock = tf.getKernel('Conv2DBackpropInput', 'wasm');
    expect(stock).toBeDefined();
    expect(stock).not.toBe(original);
    // The restored C++ kernels are bound (their setup ran although the backend initialised earlier).
    const run = () => [
      tf.conv2dTranspose(
        seededTensor([1, 4, 4, 3], 1) as tf.Tensor4D,
        seededTensor([3, 3, 2, 3], 2) as tf.Tensor4D,
        [1, 8, 8, 2],
        2,
        'same',
      ),
      tf.reverse(seededTensor([3, 4], 3), 1),
    ];
    const cpu = await valuesOn('cpu', run);
    const wasm = await valuesOn('wasm', run);
    for (let i = 0; i < cpu.length; i++) expect(relError(wasm[i]!, cpu[i]!)).toBeLessThan(1e-6);
    const names = registerWasmTrainingKernels();
    expect(names).toEqual(
      expect.arrayContaining(['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropInput']),
    );
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
    expect(WASM_TRAINING_KERNEL_DEFAULTS.filterGradMethod).toBe('auto');
  });
});
