/** A value when nothing asynchronous was left to do, otherwise a promise of it. */
export type MaybePromise<T> = T | Promise<T>

/** True for a promise-like value (a user function may return any thenable). */
export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (
    (typeof v === 'object' || typeof v === 'function') &&
    v !== null &&
    typeof (v as { then?: unknown }).then === 'function'
  )
}
