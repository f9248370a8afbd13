/**
 * Whether a picture's tensors fit the backend's memory, checked before they are made. The wasm
 * backend has one heap of at most 4 GiB; when an allocation does not fit, its C allocator aborts the
 * module ("Aborted()", then "memory access out of bounds" on every later call), so the error cannot
 * be caught and the backend is lost for the rest of the process. Refusing the picture beforehand
 * keeps the backend usable for the next one.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * The largest heap the wasm backend can grow to: tfjs-backend-wasm 4.x is built with a 4 GiB
 * maximum (`getHeapMax()` returns 65535 pages of 64 KiB). @internal
 */
export const WASM_HEAP_MAX_BYTES = 65535 * 65536;

/**
 * Heap the check leaves unused: the allocator's overhead and fragmentation, and the model's own
 * tensors that are made while a picture's are alive. Measured on tfjs-backend-wasm 4.22: a fresh
 * heap held an int32 RGB picture of 140 million pixels and its float32 copy (24 bytes per pixel,
 * the heap grew to 3.46 GB), while 120 million pixels failed after earlier pictures had left the
 * heap fragmented. @internal
 */
export const WASM_HEAP_RESERVE_BYTES = 512 * 1024 * 1024;

/**
 * Bytes of backend memory per pixel that face detection on a picture holds at its peak: the int32
 * RGB tensor (12 bytes), its float32 copy (12), and room for the resized copies the detector makes;
 * with `tiles > 1` each tile adds an int32 slice and its float32 copy. @internal
 */
export function detectionBytesPerPixel(tiles = 1): number {
  const tile = tiles > 1 ? 24 * Math.min(1, (1.5 / tiles) ** 2) : 0;
  return 28 + tile;
}

/** An error raised when a picture's tensors would not fit the backend's memory. @category Backends */
export class BackendMemoryError extends Error {
  /** Bytes the picture's tensors would need. */
  readonly neededBytes: number;
  /** Bytes the backend has for them. */
  readonly availableBytes: number;
  /** A longer side (pixels) at which the picture would fit. */
  readonly fittingSide: number;
  /**
   * @param message The message.
   * @param neededBytes Bytes the picture's tensors would need.
   * @param availableBytes Bytes the backend has for them.
   * @param fittingSide A longer side (pixels) at which the picture would fit.
   */
  constructor(message: string, neededBytes: number, availableBytes: number, fittingSide: number) {
    super(message);
    this.name = 'BackendMemoryError';
    this.neededBytes = neededBytes;
    this.availableBytes = availableBytes;
    this.fittingSide = fittingSide;
  }
}

const MIB = 1024 * 1024;

/**
 * Throws a {@link BackendMemoryError} when a `width` x `height` picture would need more of the
 * current backend's memory than it has (only the wasm backend has a hard limit; others pass).
 * @param where The function reporting, for the message.
 * @param name The picture (file path or placeholder), for the message.
 * @param width Width of the picture as decoded.
 * @param height Height of the picture as decoded.
 * @param options `bytesPerPixel` the work holds per pixel; `maxSide`, the longer side the picture was
 *   downscaled to (named in the fix).
 * @example
 * ```ts
 * checkImageFitsBackend('detectFaces', 'big.png', 20000, 15000, { bytesPerPixel: 28, maxSide: 20000 });
 * ```
 * @throws BackendMemoryError naming the picture, its size, the memory it needs and `maxSide` to lower.
 * @internal
 */
export function checkImageFitsBackend(
  where: string,
  name: string,
  width: number,
  height: number,
  options: { bytesPerPixel: number; maxSide: number },
): void {
  if (tf.getBackend() !== 'wasm') return;
  const needed = width * height * options.bytesPerPixel;
  const inUse = tf.memory().numBytes;
  const available = Math.max(0, WASM_HEAP_MAX_BYTES - WASM_HEAP_RESERVE_BYTES - inUse);
  if (needed <= available) return;
  const side = Math.max(width, height);
  const fittingSide = Math.max(1, Math.floor(side * Math.sqrt(available / needed)));
  throw new BackendMemoryError(
    `${where}: ${name}: the picture, ${width}x${height} as decoded, is too large for the wasm backend's memory (it needs about ${Math.ceil(needed / MIB)} MiB, ${Math.floor(available / MIB)} MiB are free of at most ${Math.floor(WASM_HEAP_MAX_BYTES / MIB)}); lower \`maxSide\` (now ${options.maxSide}) to ${fittingSide} or less.`,
    needed,
    available,
    fittingSide,
  );
}
