// One-time warnings for the data pipeline, routed across worker threads.
//
// Contract: `warnOnce(key, message)` prints `message` with console.warn the first time `key` is
// seen in this process and never again. Loader workers install a sink (`setWarnSink`) that
// forwards to the main thread, which prints through its own `warnOnce`, so a message appears once
// per process even when several workers hit it.

export type WarnSink = (key: string, message: string) => void;

const seen = new Set<string>();

const defaultSink: WarnSink = (key, message) => {
  if (seen.has(key)) return;
  seen.add(key);
  console.warn(message);
};

let sink: WarnSink = defaultSink;

export function warnOnce(key: string, message: string): void {
  sink(key, message);
}

/** Replace the sink (workers); `null` restores console.warn with de-duplication. */
export function setWarnSink(s: WarnSink | null): void {
  sink = s ?? defaultSink;
}

/** Forget which keys were printed (tests). */
export function resetWarnings(): void {
  seen.clear();
}
