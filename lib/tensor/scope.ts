// Ownership scopes for tidy(): every tensor created inside tidy(fn) is disposed when fn returns,
// except the tensors fn returns (anywhere inside arrays, plain objects or Maps) and those kept
// with keep(). Scopes nest; returned tensors move to the enclosing scope. A tensor no scope owns
// (made outside every scope, kept, or returned by the outermost one) is told so once (unowned),
// so that only those pay for a garbage-collection safety net.
export interface Disposable {
  dispose(): void;
  readonly disposed: boolean;
  /** Called when no scope owns it any more (or never did): nothing will dispose it but its user. */
  unowned?(): void;
}

const stack: Set<Disposable>[] = [];
const kept = new WeakSet<Disposable>();

/** Puts t in the innermost scope; where there is none, t is unowned. */
export function track(t: Disposable): void {
  if (stack.length > 0) stack[stack.length - 1].add(t);
  else t.unowned?.();
}

/** Excludes a tensor from disposal by the enclosing tidy scopes. */
export function keep<T extends Disposable>(t: T): T {
  kept.add(t);
  for (const s of stack) s.delete(t);
  t.unowned?.();
  return t;
}

function collect(v: unknown, out: Set<Disposable>, seen: Set<unknown>): void {
  if (v === null || typeof v !== 'object' || seen.has(v)) return;
  seen.add(v);
  if (typeof (v as Disposable).dispose === 'function' && 'disposed' in (v as object)) {
    out.add(v as Disposable);
    return;
  }
  if (Array.isArray(v)) for (const x of v) collect(x, out, seen);
  else if (v instanceof Map) for (const x of v.values()) collect(x, out, seen);
  else if (Object.getPrototypeOf(v) === Object.prototype) for (const x of Object.values(v)) collect(x, out, seen);
}

/** Runs fn and disposes every tensor it created that it does not return. */
export function tidy<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new TypeError('tidy: expected a function for `fn`');
  const scope = new Set<Disposable>();
  stack.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    stack.pop();
    for (const t of scope) if (!kept.has(t)) t.dispose();
    throw e;
  }
  stack.pop();
  if (result instanceof Promise) {
    for (const t of scope) if (!kept.has(t)) t.dispose();
    throw new TypeError('tidy: `fn` must be synchronous (it returned a Promise); dispose tensors by hand in async code');
  }
  const survivors = new Set<Disposable>();
  collect(result, survivors, new Set());
  for (const t of scope) {
    if (survivors.has(t) || kept.has(t)) continue;
    t.dispose();
  }
  for (const t of survivors) if (scope.has(t)) track(t);
  return result;
}
