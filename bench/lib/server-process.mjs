// One benchmark server process (bench/server.mjs) pinned to a CPU, shared by run.mjs and cpu.mjs.
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const serverScript = join(dirname(fileURLToPath(import.meta.url)), '..', 'server.mjs')
const CPU_LINE = /^CPU (\d+) (-?\d+) (\d+)$/
const READY_LINE = /^READY (\d+)$/
/** The core the servers of the budget's layout share (their load generators run on CPU 0). */
export const SERVER_CPU = '1'

/**
 * Starts `server.mjs` pinned to `cpu`; resolves once it prints READY <port> with
 * `{ port, usage(), stop() }`. `usage()` resolves with the process's CPU time so far (`us`), its
 * user-mode part (`userUs`), and the requests it has been handed (`served`; -1 where the server
 * cannot count them, as gRPC). `nodeArgs` go to the server's node (V8 flags for diagnostics);
 * `onLine` receives every other line the server prints on stdout (what those flags trace).
 */
export function startServer(cpu, pki, framework, variant, mode, { nodeArgs = [], onLine } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'taskset',
      ['-c', cpu, process.execPath, ...nodeArgs, serverScript, pki, framework, variant, mode],
      {
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    )
    let buf = ''
    const waiters = []
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`server ${framework}/${variant} did not start`))
    }, 15_000)
    const line = (text) => {
      const usage = CPU_LINE.exec(text)
      if (usage !== null) {
        waiters.shift()?.({ us: Number(usage[1]), served: Number(usage[2]), userUs: Number(usage[3]) })
        return
      }
      const ready = READY_LINE.exec(text)
      if (ready !== null) {
        clearTimeout(timer)
        resolve({
          port: Number(ready[1]),
          // taskset execs the server, so this is the server's own pid.
          pid: child.pid,
          usage: () =>
            new Promise((res) => {
              waiters.push(res)
              child.stdin.write('cpu\n')
            }),
          stop: () =>
            new Promise((res) => {
              child.once('exit', res)
              child.kill('SIGTERM')
            }),
        })
      } else onLine?.(text)
    }
    child.stdout.on('data', (d) => {
      buf += d
      for (let end = buf.indexOf('\n'); end !== -1; end = buf.indexOf('\n')) {
        line(buf.slice(0, end))
        buf = buf.slice(end + 1)
      }
    })
    child.on('exit', (code) => code !== 0 && code !== null && reject(new Error(`server exited ${code}`)))
  })
}

/**
 * The budget's layout: a baseline, a candidate and a control (the baseline again) pinned to CPU
 * 1 (`SERVER_CPU`), started in a shuffled order; resolves with `{ roles, servers }` (the order they started).
 * `options(role)` gives each server `startServer`'s options (V8 flags, a line handler).
 */
export async function startTrio(pki, framework, baseline, candidate, mode, options = () => ({})) {
  const roles = ['baseline', 'candidate', 'control'].sort(() => Math.random() - 0.5)
  const servers = {}
  for (const role of roles)
    servers[role] = await startServer(
      SERVER_CPU,
      pki,
      framework,
      role === 'candidate' ? candidate : baseline,
      mode,
      options(role),
    )
  return { roles, servers }
}
