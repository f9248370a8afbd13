import type { Tensor } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { expected } from '../errors';
import { CompositeLayer, type Layer, walkLayers } from './composite';
import type { Kwargs } from './layer_utils';

/**
 * The attention maps one layer computed for one input, by name. The names and shapes are:
 *
 * | layer | maps |
 * |---|---|
 * | `ChannelAttention`, `SqueezeExcitation`, `EfficientChannelAttention` | `channel`: `[batch, 1, 1, channels]` |
 * | `SpatialAttention` | `spatial`: `[batch, height, width, 1]` |
 * | `CBAM` | `channel` and `spatial` (the spatial map is computed on the channel-refined input) |
 * | `CoordinateAttention` | `height`: `[batch, height, 1, channels]`, `width`: `[batch, 1, width, channels]` |
 *
 * Every value is a gate in `(0, 1)`: the layer's output is its input multiplied by the maps
 * (broadcast). Dispose them with `tf.dispose(maps)`.
 * @category Layers
 */
export type AttentionMaps = Record<string, Tensor>;

/**
 * What every fer-cbam attention layer offers besides being a tfjs layer: its attention maps for an
 * input, on demand ({@link AttentionLayer.computeAttention}) or captured while it runs inside a model
 * (`captureMaps`, used by {@link captureAttentionMaps}).
 * @example
 * ```ts
 * const layer = new CBAM();
 * const y = layer.apply(x) as tf.Tensor;           // builds the layer
 * const { channel, spatial } = layer.computeAttention(x);
 * ```
 * @category Layers
 */
export interface AttentionLayer extends Layer {
  /**
   * The attention maps for `x` (`[batch, height, width, channels]`), as the layer's `call` would
   * compute them with the same `kwargs` (default `{ training: false }`: moving BatchNorm statistics).
   * Builds the layer first if needed. The caller owns the returned tensors.
   */
  computeAttention(x: Tensor, kwargs?: Kwargs): AttentionMaps;
  /**
   * When `true`, every concrete (non-symbolic) call keeps its maps, replacing the previously kept
   * ones, until {@link AttentionLayer.takeCapturedMaps} hands them over. Setting it to `false`
   * disposes anything kept, so nothing leaks when capture is off. Defaults to `false`.
   */
  captureMaps: boolean;
  /** The maps kept by the last call while `captureMaps` was on (the caller now owns them), or `null`. */
  takeCapturedMaps(): AttentionMaps | null;
}

/**
 * Whether `layer` is a fer-cbam attention layer (or any layer implementing {@link AttentionLayer}).
 * @example
 * ```ts
 * const gates = walkLayers(model).filter(isAttentionLayer);
 * ```
 * @category Layers
 */
export function isAttentionLayer(layer: unknown): layer is AttentionLayer {
  const l = layer as Partial<AttentionLayer> | null;
  return (
    l != null &&
    typeof l.computeAttention === 'function' &&
    typeof l.takeCapturedMaps === 'function' &&
    'captureMaps' in l
  );
}

/**
 * Holds the maps an attention layer kept while capture was on. Each attention layer owns one; it
 * is exported so that user-defined attention layers can implement {@link AttentionLayer} the same
 * way.
 * @example
 * ```ts
 * class MyGate extends tf.layers.Layer implements AttentionLayer {
 *   private readonly capture = new AttentionMapCapture();
 *   get captureMaps() { return this.capture.enabled; }
 *   set captureMaps(on: boolean) { this.capture.enabled = on; }
 *   takeCapturedMaps() { return this.capture.take(); }
 *   // in call(): this.capture.store({ spatial: map });
 * }
 * ```
 * @category Layers
 */
export class AttentionMapCapture {
  private on = false;
  private kept: AttentionMaps | null = null;

  /** Whether {@link AttentionMapCapture.store} keeps maps. Turning it off disposes kept maps. */
  get enabled(): boolean {
    return this.on;
  }

  set enabled(on: boolean) {
    this.on = on;
    if (!on) this.clear();
  }

  /**
   * Keeps `maps` (marking them with `tf.keep` so an enclosing `tf.tidy` does not dispose them) if
   * capture is on, disposing maps kept earlier; does nothing otherwise. Call it from `call()` with
   * tensors that are not returned and not disposed elsewhere.
   */
  store(maps: AttentionMaps): void {
    if (!this.on) return;
    this.clear();
    const kept: AttentionMaps = {};
    for (const [name, map] of Object.entries(maps)) kept[name] = tf.keep(map);
    this.kept = kept;
  }

  /** Hands over the kept maps (the caller disposes them) and forgets them; `null` if none. */
  take(): AttentionMaps | null {
    const maps = this.kept;
    this.kept = null;
    return maps;
  }

  /** Disposes the kept maps, if any. */
  clear(): void {
    if (this.kept) tf.dispose(Object.values(this.kept));
    this.kept = null;
  }
}

/** One attention layer's maps, as returned by {@link captureAttentionMaps}. @category Layers */
export interface AttentionMapEntry {
  /** Layer names from the model down to the layer, joined by `/`, e.g. `block3/attention`. */
  path: string;
  /** The layer's tfjs class name, e.g. `CBAM`. */
  className: string;
  /** The layer itself. */
  layer: AttentionLayer;
  /** Its maps for the input (see {@link AttentionMaps}); the caller disposes them. */
  maps: AttentionMaps;
}

/**
 * Runs `model` once on `input` in inference mode and returns the attention maps of every attention
 * layer in it, wherever it sits: at the top level, inside nested models, or inside composite layers
 * such as `ResidualBlock`. Layers inside another attention layer (the `channel` and `spatial` gates
 * of a `CBAM`) are reported through their parent, whose maps include theirs. Entries are in
 * depth-first model order. Nothing is kept after the call except the returned maps.
 *
 * @param model A `tf.LayersModel` or a single layer.
 * @param input A concrete batch `[batch, height, width, channels]` (or the model's list of inputs).
 * @returns One entry per attention layer that ran; dispose the maps with
 *   `tf.dispose(entries.map((e) => e.maps))`.
 * @throws TypeError if `input` is symbolic.
 * @example
 * ```ts
 * const entries = captureAttentionMaps(model, faces);        // faces: [n, 44, 44, 1]
 * for (const { path, maps } of entries) {
 *   if (maps.spatial) console.log(path, maps.spatial.shape); // e.g. 'cbam_1 [n, 44, 44, 1]'
 * }
 * tf.dispose(entries.map((e) => e.maps));
 * ```
 * @category Layers
 */
export function captureAttentionMaps(
  model: tfl.LayersModel | Layer,
  input: Tensor | Tensor[],
): AttentionMapEntry[] {
  const inputs = Array.isArray(input) ? input : [input];
  if (!inputs.every((t) => t instanceof tf.Tensor)) {
    throw new TypeError(
      expected('captureAttentionMaps', 'input', 'a concrete tf.Tensor (or an array of them)', '(symbolic)'),
    );
  }
  const found = findAttentionLayers(model);
  for (const { layer } of found) layer.captureMaps = true;
  try {
    tf.dispose(tf.tidy(() => model.apply(input, { training: false }) as Tensor | Tensor[]));
    const entries: AttentionMapEntry[] = [];
    for (const { path, layer } of found) {
      const maps = layer.takeCapturedMaps();
      if (maps) entries.push({ path, className: layer.getClassName(), layer, maps });
    }
    return entries;
  } finally {
    for (const { layer } of found) layer.captureMaps = false;
  }
}

/**
 * The attention layers in `root` that are not inside another attention layer, with their paths.
 * @example
 * ```ts
 * findAttentionLayers(model).map((e) => e.path); // ['cbam', 'block1/attention', ...]
 * ```
 * @category Layers
 */
export function findAttentionLayers(
  root: tfl.LayersModel | Layer,
): { path: string; layer: AttentionLayer }[] {
  const all = walkLayers(root);
  const parent = new Map<Layer, Layer>();
  for (const layer of all) for (const child of childrenOf(layer)) parent.set(child, layer);
  const out: { path: string; layer: AttentionLayer }[] = [];
  for (const layer of all) {
    if (!isAttentionLayer(layer)) continue;
    const names = [layer.name];
    let insideAttention = false;
    for (let p = parent.get(layer); p; p = parent.get(p)) {
      if (isAttentionLayer(p)) insideAttention = true;
      names.unshift(p.name);
    }
    if (!insideAttention) out.push({ path: names.join('/'), layer });
  }
  return out;
}

function childrenOf(layer: Layer): Layer[] {
  if (layer instanceof CompositeLayer) return layer.sublayers;
  const nested = (layer as { layers?: unknown }).layers;
  return Array.isArray(nested) ? (nested as Layer[]) : [];
}
