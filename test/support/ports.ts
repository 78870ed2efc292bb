import { createServer } from 'node:net'

const handedOut = new Set<number>()

/**
 * A free TCP port on 127.0.0.1 for a proxy to bind right after. Never an ephemeral port: a port
 * from `listen(0)` is released before the proxy binds it, and in that gap the kernel may hand the
 * same port to any other test process that listens on port 0 or connects out (CI once failed with
 * HAProxy's "Address already in use" that way). So the port comes from below Linux's ephemeral
 * range (32768+), from a block of its own per vitest worker so parallel files never pick the same
 * one, and is checked bindable before it is returned.
 */
export async function freePort(): Promise<number> {
  const worker = Number(process.env.VITEST_POOL_ID ?? process.env.VITEST_WORKER_ID ?? 0) % 8
  const base = 12_000 + worker * 2_500
  for (let tries = 0; tries < 200; tries++) {
    const port = base + Math.floor(Math.random() * 2_500)
    if (handedOut.has(port)) continue
    if (await bindable(port)) {
      handedOut.add(port)
      return port
    }
  }
  throw new Error(`no free port in ${base}-${base + 2_499} on 127.0.0.1`)
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)))
  })
}
