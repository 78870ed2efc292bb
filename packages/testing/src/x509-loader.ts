/** The `@peculiar/x509` module namespace. */
export type X509Module = typeof import('@peculiar/x509')

let loading: Promise<X509Module> | undefined

/**
 * Loads `@peculiar/x509` on first use. Its dependency tsyringe needs a Reflect metadata
 * polyfill installed before it loads, so `reflect-metadata` is imported first.
 */
export function loadX509(): Promise<X509Module> {
  loading ??= import('reflect-metadata').then(() => import('@peculiar/x509'))
  return loading
}
