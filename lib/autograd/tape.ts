// Reverse-mode autograd as a tape of op calls. A differentiable op computes its outputs with
// native kernels, then calls record() with its inputs, outputs and a backward rule (written beside
// the forward, in the op's own file). backward(loss) walks the tape in reverse, calls each rule
// with the gradients of the entry's outputs, sums the gradients of inputs used more than once,
// and adds the gradients of leaf tensors (requiresGrad, not produced by a recorded op: parameters)
// into their `.grad`. A rule is also shown the gradient already collected for each input (from
// the uses of it that come later in the forward, e.g. a residual connection); a rule whose kernel
// can add in place may add its contribution into that tensor and return it, saving the separate
// add (the tape owns those tensors, so writing into them is safe). Recording is off inside
// noGrad() and when no input requires a gradient.
import { keep } from '../tensor/scope';
import { Tensor } from '../tensor/tensor';
import { add, fill_ } from '../ops/elementwise';

/**
 * Gradients of the outputs (null where an output got none) -> gradients of the inputs. `collected`
 * holds, per input, the gradient gathered for it so far (or null); returning that same tensor for
 * an input means the rule added its contribution into it.
 */
export type BackwardRule = (gradOutputs: (Tensor | null)[], collected: readonly (Tensor | null)[]) => (Tensor | null)[];

interface Entry {
  op: string;
  inputs: readonly (Tensor | null)[];
  outputs: readonly Tensor[];
  backward: BackwardRule;
  /** Tensors only the backward rule uses (e.g. saved statistics); disposed with the entry. */
  saved: readonly Tensor[];
}

const tape: Entry[] = [];
/** Inputs that recorded ops read in backward but that no op owns (index tables, targets). */
const retained: Tensor[] = [];
let gradEnabled = true;
const leafGrad = new WeakMap<Tensor, true>();
const produced = new WeakSet<Tensor>();

/** Marks a tensor as a leaf that collects gradients in `.grad` (parameters do this). */
export function requireGrad(t: Tensor): Tensor {
  leafGrad.set(t, true);
  return t;
}

/** Whether gradients flow through t (a grad leaf or the output of a recorded op). */
export function needsGrad(t: Tensor | null | undefined): boolean {
  return !!t && (leafGrad.has(t) || produced.has(t));
}

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn with recording off. */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** True when an op called with these inputs must record itself. */
export function shouldRecord(inputs: readonly (Tensor | null | undefined)[]): boolean {
  return gradEnabled && inputs.some((t) => needsGrad(t));
}

/** Records one op call (only call when shouldRecord(inputs) is true). */
export function record(op: string, inputs: readonly (Tensor | null)[], outputs: readonly Tensor[], backward: BackwardRule,
  saved: readonly Tensor[] = []): void {
  for (const o of outputs) produced.add(o);
  for (const s of saved) keep(s);
  tape.push({ op, inputs, outputs, backward, saved });
}

/**
 * Keeps tensors that recorded backward rules still read (index tables, loss targets) alive until
 * the tape is consumed or cleared, then disposes them. With recording off they are disposed now.
 */
export function retainUntilBackward(tensors: readonly Tensor[]): void {
  if (!gradEnabled || tape.length === 0) {
    for (const t of tensors) t.dispose();
    return;
  }
  for (const t of tensors) retained.push(keep(t));
}

/** Number of recorded entries (for tests and memory checks). */
export function tapeLength(): number {
  return tape.length;
}

function disposeEntry(e: Entry): void {
  for (const s of e.saved) s.dispose();
}

/** Drops the tape (and what it saved) without computing gradients. */
export function clearTape(): void {
  for (const e of tape) disposeEntry(e);
  tape.length = 0;
  for (const t of retained) t.dispose();
  retained.length = 0;
}

function accumulate(grads: Map<Tensor, Tensor>, t: Tensor, g: Tensor): void {
  const prev = grads.get(t);
  if (prev === undefined) {
    grads.set(t, g);
    return;
  }
  add(prev, g, prev);
  g.dispose();
}

/**
 * Backpropagates from a scalar (or from `grad` of the same shape), adds leaf gradients into
 * `.grad` (created on first use, kept outside tidy scopes), and clears the tape.
 */
export function backward(loss: Tensor, grad?: Tensor): void {
  if (!(loss instanceof Tensor)) throw new TypeError('backward: expected a Tensor for `loss`');
  if (grad === undefined && loss.numel !== 1) {
    throw new RangeError(`backward: \`loss\` has shape [${loss.shape.join(', ')}]; pass \`grad\` for a non-scalar`);
  }
  const grads = new Map<Tensor, Tensor>();
  const seed = grad ? grad.clone() : Tensor.allocate(loss.shape, loss.dtype, loss.device);
  if (!grad) fill_(seed, 1);
  grads.set(loss, seed);
  const prevEnabled = gradEnabled;
  gradEnabled = false;
  try {
    for (let i = tape.length - 1; i >= 0; i--) {
      const e = tape[i];
      const gOut = e.outputs.map((o) => grads.get(o) ?? null);
      if (gOut.every((g) => g === null)) continue;
      const collected = e.inputs.map((t) => (t && needsGrad(t) ? grads.get(t) ?? null : null));
      const gIn = e.backward(gOut, collected);
      for (const o of e.outputs) {
        const g = grads.get(o);
        if (g !== undefined) {
          g.dispose();
          grads.delete(o);
        }
      }
      e.inputs.forEach((t, j) => {
        const g = gIn[j];
        if (!g || g === collected[j]) return; // nothing, or added in place
        if (t && needsGrad(t)) accumulate(grads, t, g);
        else g.dispose();
      });
    }
  } finally {
    gradEnabled = prevEnabled;
    clearTape();
  }
  for (const [t, g] of grads) {
    if (!leafGrad.has(t)) {
      g.dispose();
      continue;
    }
    if (t.grad === null) {
      t.grad = keep(g.reshape(t.shape));
      g.dispose();
    } else {
      add(t.grad, g, t.grad);
      g.dispose();
    }
  }
}
