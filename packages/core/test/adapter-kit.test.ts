import { ClientCertConfigError, createClientCertAuthenticator } from '@clientcert/core'
import { adapterCheck, checkRoute, compileRouteRule, splitAdapterOptions } from '@clientcert/core/adapter'
import { describe, expect, it } from 'vitest'

const own = {
  optional: { check: adapterCheck.boolean, default: false },
  logger: { check: adapterCheck.function<(m: string) => void>, default: () => {} },
}
const core = { identity: 'cn', allow: { authenticated: true } } as const

function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  return undefined
}

describe('adapter kit: splitAdapterOptions', () => {
  it('returns checked settings with defaults and an authenticator', () => {
    const { settings, authenticator } = splitAdapterOptions({ ...core, optional: true }, own)
    expect(settings.optional).toBe(true)
    expect(typeof settings.logger).toBe('function')
    expect(typeof authenticator.authenticate).toBe('function')
  })

  it('names every option of the adapter when a key is unknown (a typo of an adapter option)', () => {
    const err = thrown(() => splitAdapterOptions({ ...core, optinal: true }, own))
    expect(err).toBeInstanceOf(ClientCertConfigError)
    expect(err).toMatchObject({ code: 'ERR_CLIENT_CERT_INVALID_OPTION', option: 'optinal' })
    expect((err as Error).message).toMatch(/optional, logger, source, trust, identity, allow/)
  })

  it('with { authenticator }: only adapter options besides it; core options are refused by name', () => {
    const authenticator = createClientCertAuthenticator(core)
    expect(thrown(() => splitAdapterOptions({ authenticator, loger: 1 }, own))).toMatchObject({
      option: 'loger',
      message: expect.stringMatching(/expected one of optional, logger, authenticator$/),
    })
    expect(thrown(() => splitAdapterOptions({ authenticator, trust: {} }, own))).toMatchObject({
      option: 'trust',
    })
  })

  it('refuses a non-object and a wrong adapter setting type by name', () => {
    expect(thrown(() => splitAdapterOptions(null, own))).toMatchObject({ option: 'options' })
    expect(thrown(() => splitAdapterOptions([], own))).toMatchObject({ option: 'options' })
    expect(thrown(() => splitAdapterOptions({ ...core, optional: 'yes' }, own))).toMatchObject({
      option: 'optional',
    })
  })
})

describe('adapter kit: compileRouteRule', () => {
  it('a route with its own policy needs a client unless it says optional itself', () => {
    expect(compileRouteRule({ allow: { ids: ['a'] } }, 'r', true).optional).toBe(false)
    expect(compileRouteRule({ allow: { ids: ['a'] }, optional: true }, 'r', false).optional).toBe(true)
    expect(compileRouteRule({}, 'r', true).optional).toBe(true)
    expect(compileRouteRule({}, 'r', false).optional).toBe(false)
  })

  it('checks strictly, naming the place', () => {
    expect(thrown(() => compileRouteRule({ alow: {} }, 'routes["/x"]', false))).toMatchObject({
      option: 'routes["/x"].alow',
    })
    expect(thrown(() => compileRouteRule({ allow: {} }, 'routes["/x"]', false))).toBeInstanceOf(
      ClientCertConfigError,
    )
    expect(thrown(() => compileRouteRule('yes', 'r', false))).toMatchObject({ option: 'r' })
  })
})

describe('adapter kit: checkRoute', () => {
  it('refuses a request the authentication stage never marked (fails closed)', () => {
    const result = checkRoute({}, { policy: undefined, optional: true })
    expect(result).toMatchObject({ ok: false, error: { code: 'ERR_CLIENT_CERT_MISCONFIGURED', status: 500 } })
  })
})
