// Shared by the one-server-alone diagnostics (cpu.mjs, profile.mjs, syscalls.mjs, versus.mjs): one
// load generator pinned to CPU 0 against one server (keep-alive, 10 connections x pipelining 10;
// undici, or grpc-js clients for framework 'grpc').
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PROXY_IP } from './pki.mjs'

const loadgen = join(dirname(fileURLToPath(import.meta.url)), '..', 'loadgen.mjs')

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/**
 * Loads the server on `port` for `warmupMs + durationMs` (`load` 'throughput' by default, or
 * 'latency' at `rate` requests/s); resolves with the generator's result
 * line (`{ rps, ok, errors, ... }`). NODE_OPTIONS is cleared so profiling flags meant for the
 * server do not reach the generator.
 */
export function loadAlone(
  pki,
  port,
  { mode, warmupMs, durationMs, framework, load = 'throughput', rate = 500 },
) {
  const opts = {
    port,
    scheme: framework === 'grpc' ? 'grpc' : mode === 'tls' ? 'https' : 'http',
    // 'latency': the latency lines' load (a fixed rate, no pipelining; p50Ms/p99Ms in the result).
    mode: load,
    warmupMs,
    durationMs,
    connections: 10,
    pipelining: load === 'throughput' ? 10 : 1,
    rate,
    forwarded: mode === 'forwarded',
    ...(mode === 'forwarded' ? { localAddress: PROXY_IP } : {}),
  }
  return new Promise((resolve, reject) => {
    const child = spawn('taskset', ['-c', '0', process.execPath, loadgen, pki, JSON.stringify(opts)], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, NODE_OPTIONS: '' },
    })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop())) : reject(new Error(`loadgen ${code}`)),
    )
  })
}
