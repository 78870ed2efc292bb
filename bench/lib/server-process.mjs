// One benchmark server process (bench/server.mjs) pinned to a CPU, shared by run.mjs and cpu.mjs.
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const serverScript = join(dirname(fileURLToPath(import.meta.url)), '..', 'server.mjs')
const CPU_LINE = /CPU (\d+) (-?\d+) (\d+)\n/

/**
 * Starts `server.mjs` pinned to `cpu`; resolves once it prints READY <port> with
 * `{ port, usage(), stop() }`. `usage()` resolves with the process's CPU time so far (`us`), its
 * user-mode part (`userUs`), and the requests it has been handed (`served`; -1 where the server
 * cannot count them, as gRPC).
 */
export function startServer(cpu, pki, framework, variant, mode) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'taskset',
      ['-c', cpu, process.execPath, serverScript, pki, framework, variant, mode],
      {
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    )
    let buf = ''
    let ready = false
    const waiters = []
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`server ${framework}/${variant} did not start`))
    }, 15_000)
    child.stdout.on('data', (d) => {
      buf += d
      if (!ready) {
        const m = /READY (\d+)\n/.exec(buf)
        if (m === null) return
        ready = true
        buf = buf.slice(m.index + m[0].length)
        clearTimeout(timer)
        resolve({
          port: Number(m[1]),
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
      }
      for (let m = CPU_LINE.exec(buf); m !== null; m = CPU_LINE.exec(buf)) {
        buf = buf.slice(m.index + m[0].length)
        waiters.shift()?.({ us: Number(m[1]), served: Number(m[2]), userUs: Number(m[3]) })
      }
    })
    child.on('exit', (code) => code !== 0 && code !== null && reject(new Error(`server exited ${code}`)))
  })
}
