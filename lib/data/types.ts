// Shared data-pipeline types.
//
// Contract: a `Dataset` returns ImageNet-normalised float images in CHW layout (3×S×S, S =
// `imageSize`) with an integer label in [0, numClasses). `get(i, rng)` must be a pure function
// of (i, the rng's state): all randomness (augmentation) is drawn from `rng` and nothing else, so
// a sample is reproducible from (index, seed) in any thread. The loader passes
// `Rng.forKey(seed, epoch, index)`. A dataset that can be rebuilt inside a worker thread says how
// in `workerRecipe()`: a module path, the name of an exported factory function and
// structured-cloneable options; the factory (sync or async) must build an equivalent dataset.

import type { Rng } from './rng';

export interface Sample {
  /** 3×H×W, ImageNet-normalised (or the dataset's mean/std), channel-major. */
  image: Float32Array;
  label: number;
}

export interface WorkerRecipe {
  /** Absolute path of the module (its `__filename`) that exports `factory`. */
  module: string;
  /** Name of an exported function `(options) => Dataset | Promise<Dataset>`. */
  factory: string;
  /** Structured-cloneable options (SharedArrayBuffers are shared, not copied). */
  options: unknown;
}

export interface Dataset {
  readonly length: number;
  readonly numClasses: number;
  /** Side of the (square) output images. */
  readonly imageSize: number;
  readonly classNames?: readonly string[];
  /** Label of sample i without decoding or augmenting it. */
  label(index: number): number;
  get(index: number, rng: Rng): Sample | Promise<Sample>;
  /** How a worker thread rebuilds this dataset; absent = in-process loading only. */
  workerRecipe?(): WorkerRecipe;
}

/** An 8-bit RGB image, row-major HWC (3 bytes per pixel). */
export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** ImageNet statistics used by every pipeline in the spec (§6.6, §8.4). */
export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];
