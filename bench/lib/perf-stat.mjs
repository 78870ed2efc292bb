// `perf stat` on one process for a few seconds, shared by syscalls.mjs and counters.mjs.
import { spawn } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

let next = 0

/**
 * Counts `events` (perf event names) on process `pid` for `seconds`; resolves with
 * `{ name: count }`, tracepoint names without their `syscalls:sys_enter_` prefix.
 */
export function perfCounts(pid, events, seconds) {
  const out = join(tmpdir(), `clientcert-perf-${process.pid}-${next++}.txt`)
  const args = [
    'stat',
    '-x',
    ',',
    '-o',
    out,
    '-e',
    events.join(','),
    '-p',
    String(pid),
    '--',
    'sleep',
    String(seconds),
  ]
  return new Promise((resolve, reject) => {
    spawn('perf', args, { stdio: 'ignore' }).on('exit', (code) => {
      if (code !== 0) return reject(new Error(`perf stat exited with ${code}`))
      const counts = Object.fromEntries(
        readFileSync(out, 'utf8')
          .split('\n')
          .filter((line) => /^[0-9.]+,/.test(line))
          .map((line) => line.split(','))
          .map((f) => [f[2].replace('syscalls:sys_enter_', ''), Number(f[0])]),
      )
      rmSync(out, { force: true })
      resolve(counts)
    })
  })
}
