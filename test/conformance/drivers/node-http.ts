import type { IncomingMessage, ServerResponse } from 'node:http'
import { type Driver, serveNode, summarise } from '../driver.js'
import { withClientCert } from './node-http-adapter.js'

/** The adapter of docs/adapters/writing-an-adapter.md: plain Node, no framework. */
export const nodeHttpDriver: Driver = {
  name: 'node-http (kit example)',
  canMisorder: false,
  async start(spec, probes, listen) {
    const json = (req: IncomingMessage, done: (body: unknown) => void, fail: () => void): void => {
      probes.parsed++
      let text = ''
      req.setEncoding('utf8')
      req.on('data', (chunk: string) => {
        text += chunk
      })
      req.on('end', () => {
        try {
          done(JSON.parse(text))
        } catch {
          fail()
        }
      })
    }
    const send = (res: ServerResponse, status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    const listener = withClientCert(
      {
        ...spec.auth,
        optional: spec.optional ?? false,
        routes: { '/admin': { allow: spec.adminPolicy ?? { ids: ['admin'] } } },
      },
      (req, res, client) => {
        const path = new URL(req.url ?? '/', 'http://x').pathname
        if (req.method === 'GET' && path === '/whoami') {
          probes.handled++
          return send(res, 200, { principal: summarise(client), httpVersion: req.httpVersion })
        }
        if (req.method === 'GET' && path === '/admin') {
          probes.handled++
          return send(res, 200, { principal: summarise(client) })
        }
        if (req.method === 'POST' && (path === '/echo' || path === '/admin')) {
          return json(
            req,
            (body) => {
              probes.handled++
              send(res, 200, { principal: summarise(client), body })
            },
            () => send(res, 400, { error: 'bad json' }),
          )
        }
        send(res, 404, { error: 'not found' })
      },
    )
    return serveNode(listener, listen)
  },
}
