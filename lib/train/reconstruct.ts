// Reconstruction pictures: for a few images, [original | masked | reconstruction] rows, where the
// reconstruction shows the model's prediction on masked patches (a norm-pix prediction is
// un-normalised with each patch's own mean and variance) and the visible patches as given.
import { noGrad } from '../autograd/tape';
import { Rng } from '../data/rng';
import { IMAGENET_MEAN, IMAGENET_STD } from '../data/types';
import { ConvMAE } from '../models/convmae';
import { tidy } from '../tensor/scope';
import { tensor } from '../tensor/tensor';
import { GridImage, GridRow, maskImage, pasteVisible, patchify, reconstructionGrid, unNormPix, unpatchify } from '../viz/grid';
import { writePng } from '../viz/png';

/** images: N×3×S×S normalised; the mask comes from `seed`, so pictures of a run are comparable. */
export function reconstructionRows(model: ConvMAE, images: Float32Array, n: number, seed = 0): GridRow[] {
  const s = model.grid * 16;
  if (images.length !== n * 3 * s * s) throw new RangeError(`reconstructions: expected ${n} images of 3x${s}x${s}`);
  const tokens = model.grid * model.grid;
  const rng = new Rng(seed);
  const noise = Float32Array.from({ length: n * tokens }, () => rng.uniform());
  const { pred, mask } = noGrad(() => tidy(() => {
    const out = model.forward({ imgs: tensor(images, [n, 3, s, s], { device: model.patch_embed4.weight.device }), noise });
    return { pred: out.pred.toFloat32Array(), mask: out.masking.mask };
  }));
  const rows: GridRow[] = [];
  const d = 16 * 16 * 3;
  for (let b = 0; b < n; b++) {
    const original = images.subarray(b * 3 * s * s, (b + 1) * 3 * s * s);
    const m = mask.subarray(b * tokens, (b + 1) * tokens);
    let p = pred.subarray(b * tokens * d, (b + 1) * tokens * d);
    if (model.config.normPixLoss) p = unNormPix(p, patchify(original, s, s, 16), d);
    const recon = unpatchify(p, model.grid, model.grid, 16);
    rows.push({ original: Float32Array.from(original), masked: maskImage(original, m, 16), reconstruction: pasteVisible(recon, original, m, 16) });
  }
  return rows;
}

export function writeReconstructions(file: string, model: ConvMAE, images: Float32Array, n: number, seed = 0,
  mean: readonly number[] = IMAGENET_MEAN, std: readonly number[] = IMAGENET_STD): GridImage {
  const grid = upscale(reconstructionGrid(reconstructionRows(model, images, n, seed), mean, std));
  writePng(file, grid.data, grid.width, grid.height, 3);
  return grid;
}

/** Small images are enlarged by an integer factor (nearest neighbour) so that patches stay visible. */
function upscale(g: GridImage, minWidth = 480): GridImage {
  const f = Math.max(1, Math.floor(minWidth / g.width));
  if (f === 1) return g;
  const width = g.width * f, height = g.height * f;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const src = (Math.floor(y / f) * g.width + Math.floor(x / f)) * 3;
      data.set(g.data.subarray(src, src + 3), (y * width + x) * 3);
    }
  }
  return { data, width, height };
}
