import { ClientCertConfigError } from '../errors.js'
import type { ClientPrincipal } from '../identity/principal.js'
import { parseSpiffeId } from '../identity/spiffe.js'
import { isThenable } from '../maybe-promise.js'
import { matchesPin, parsePin } from '../trust/pins.js'

/** A SPIFFE trust domain, optionally narrowed to a path prefix matched on segment boundaries. */
export interface SpiffeRule {
  readonly trustDomain: string
  /** e.g. `/ns/prod`: matches `/ns/prod` and `/ns/prod/...`, never `/ns/production`. */
  readonly pathPrefix?: string
}

/**
 * Who may pass. Exactly one key per object; compose with `any` / `all`. An empty list can never
 * match and is a configuration error, like an empty object.
 * See docs/guide/policies.md.
 */
export type AllowPolicy =
  /** Any client whose certificate validated. */
  | { readonly authenticated: true }
  /** Exact, case-sensitive match of `principal.id`. */
  | { readonly ids: readonly string[] }
  /** `principal.spiffeId` in a trust domain (and path prefix). */
  | { readonly spiffe: SpiffeRule | readonly SpiffeRule[] }
  /** `principal.id` is a DNS name equal to or under a suffix, on label boundaries; `.example.com` = subdomains only. */
  | { readonly dnsSuffix: string | readonly string[] }
  /** Certificate SHA-256 (hex, colons allowed) or SPKI pin `sha256/<base64>`. */
  | { readonly pins: readonly string[] }
  /** Any of these groups (the `kubernetes` mapping's O values). */
  | { readonly groups: readonly string[] }
  /** Allowed only when the function returns exactly `true`; a throw is an internal error. */
  | { readonly predicate: (principal: ClientPrincipal) => boolean | Promise<boolean> }
  | { readonly any: readonly (AllowPolicy | CompiledPolicy)[] }
  | { readonly all: readonly (AllowPolicy | CompiledPolicy)[] }

const COMPILED = Symbol.for('clientcert.compiledPolicy')

/** Policies built here whose verdict depends on the principal alone (no predicate inside). */
const purePolicies = new WeakSet<CompiledPolicy>()

/** A validated policy, ready to evaluate. Build with `compilePolicy`. */
export interface CompiledPolicy {
  readonly [COMPILED]: true
  /** Human-readable form, for logs. */
  readonly description: string
  /**
   * True when the policy does not name who is allowed (it admits any valid certificate, or
   * decides in opaque code): not enough on its own for a public CA.
   */
  readonly admitsAnyone: boolean
  evaluate(principal: ClientPrincipal): boolean | Promise<boolean>
}

export function isCompiledPolicy(value: unknown): value is CompiledPolicy {
  return typeof value === 'object' && value !== null && (value as { [COMPILED]?: unknown })[COMPILED] === true
}

const KEYS = [
  'authenticated',
  'ids',
  'spiffe',
  'dnsSuffix',
  'pins',
  'groups',
  'predicate',
  'any',
  'all',
] as const

/**
 * Validates a policy and returns its evaluator. Throws `ClientCertConfigError` naming the
 * offending path (e.g. `allow.any[1].spiffe.pathPrefix`) for anything unexpected.
 */
export function compilePolicy(policy: AllowPolicy | CompiledPolicy, name = 'allow'): CompiledPolicy {
  if (isCompiledPolicy(policy)) return policy
  if (typeof policy !== 'object' || policy === null || Array.isArray(policy)) {
    throw new ClientCertConfigError(
      name,
      'expected a policy object such as { ids: [...] } or { authenticated: true }',
    )
  }
  const keys = Object.keys(policy)
  const unknown = keys.filter((k) => !(KEYS as readonly string[]).includes(k))
  if (unknown.length > 0)
    throw new ClientCertConfigError(
      `${name}.${unknown[0]}`,
      `unknown policy key; expected one of ${KEYS.join(', ')}`,
    )
  if (keys.length !== 1) {
    throw new ClientCertConfigError(
      name,
      keys.length === 0
        ? 'a policy needs exactly one key (an empty object is a mistake, not "allow all")'
        : `a policy has exactly one key, found ${keys.join(', ')}; combine with any/all`,
    )
  }
  const p = policy as Record<string, unknown>
  const key = keys[0] as (typeof KEYS)[number]
  const v = p[key]
  const at = `${name}.${key}`
  switch (key) {
    case 'authenticated':
      if (v !== true) throw new ClientCertConfigError(at, 'must be true')
      return make('authenticated', () => true, true)
    case 'ids': {
      const ids = new Set(stringList(v, at))
      return make(`ids(${ids.size})`, (pr) => ids.has(pr.id))
    }
    case 'groups': {
      const groups = new Set(stringList(v, at))
      return make(`groups(${[...groups].join(',')})`, (pr) => pr.groups.some((g) => groups.has(g)))
    }
    case 'pins': {
      const pins = stringList(v, at).map((pin, i) => parsePin(pin, `${at}[${i}]`))
      return make(`pins(${pins.length})`, (pr) => pins.some((pin) => matchesPin(pin, pr)))
    }
    case 'dnsSuffix': {
      const suffixes = (Array.isArray(v) ? v : [v]).map((s, i) =>
        dnsSuffix(s, `${at}${Array.isArray(v) ? `[${i}]` : ''}`),
      )
      if (suffixes.length === 0) throw new ClientCertConfigError(at, 'needs at least one suffix')
      return make(`dnsSuffix(${suffixes.join(',')})`, (pr) => suffixes.some((s) => dnsUnder(pr.id, s)))
    }
    case 'spiffe': {
      const rules = (Array.isArray(v) ? v : [v]).map((r, i) =>
        spiffeRule(r, `${at}${Array.isArray(v) ? `[${i}]` : ''}`),
      )
      if (rules.length === 0) throw new ClientCertConfigError(at, 'needs at least one rule')
      return make(`spiffe(${rules.map((r) => r.trustDomain + (r.pathPrefix ?? '')).join(',')})`, (pr) =>
        rules.some((r) => spiffeMatches(pr.spiffeId, r)),
      )
    }
    case 'predicate': {
      if (typeof v !== 'function')
        throw new ClientCertConfigError(at, 'must be a function returning true to allow')
      const fn = v as (p: ClientPrincipal) => unknown
      return make(
        'predicate',
        (pr) => {
          const out = fn(pr)
          return isThenable(out) ? Promise.resolve(out).then((r) => r === true) : out === true
        },
        true,
        false,
      )
    }
    case 'any':
    case 'all': {
      if (!Array.isArray(v)) throw new ClientCertConfigError(at, 'must be an array of policies')
      const parts = v.map((sub, i) => compilePolicy(sub as AllowPolicy, `${at}[${i}]`))
      // any([]) can never match and all([]) would be vacuously true: either way a mistake.
      if (parts.length === 0) throw new ClientCertConfigError(at, 'needs at least one policy')
      return make(
        `${key}(${parts.map((x) => x.description).join(',')})`,
        key === 'any' ? anyOf(parts) : allOf(parts),
        key === 'any' ? parts.some((x) => x.admitsAnyone) : parts.every((x) => x.admitsAnyone),
        parts.every(isPurePolicy),
      )
    }
  }
}

function make(
  description: string,
  evaluate: CompiledPolicy['evaluate'],
  admitsAnyone = false,
  pure = true,
): CompiledPolicy {
  const compiled = Object.freeze({ [COMPILED]: true as const, description, evaluate, admitsAnyone })
  if (pure) purePolicies.add(compiled)
  return compiled
}

/**
 * True for a policy compiled by this module from declarative parts only (no `predicate`): its
 * verdict for a principal never changes, so a connection may remember it. A policy object
 * built any other way is never taken as pure.
 */
export function isPurePolicy(policy: CompiledPolicy): boolean {
  return purePolicies.has(policy)
}

/**
 * any/all answer synchronously while their parts do; from the first part that answers with a
 * promise on, the rest is awaited in order (short-circuiting as before).
 */
function anyOf(parts: readonly CompiledPolicy[]): CompiledPolicy['evaluate'] {
  return combine(parts, true)
}

function allOf(parts: readonly CompiledPolicy[]): CompiledPolicy['evaluate'] {
  return combine(parts, false)
}

/** `stopOn`: the verdict of one part that decides the whole (true for any, false for all). */
function combine(parts: readonly CompiledPolicy[], stopOn: boolean): CompiledPolicy['evaluate'] {
  const rest = async (pr: ClientPrincipal, from: number, pending: Promise<boolean>): Promise<boolean> => {
    if (((await pending) === true) === stopOn) return stopOn
    for (let i = from; i < parts.length; i++)
      if (((await parts[i]!.evaluate(pr)) === true) === stopOn) return stopOn
    return !stopOn
  }
  return (pr) => {
    for (let i = 0; i < parts.length; i++) {
      const verdict = parts[i]!.evaluate(pr)
      if (typeof verdict !== 'boolean') return rest(pr, i + 1, verdict)
      if ((verdict === true) === stopOn) return stopOn
    }
    return !stopOn
  }
}

/** A non-empty list: an empty one can never match, so it is a mistake, not "nobody". */
function stringList(v: unknown, at: string): string[] {
  if (!Array.isArray(v)) throw new ClientCertConfigError(at, 'must be an array of strings')
  if (v.length === 0) throw new ClientCertConfigError(at, 'is empty and could never match')
  return v.map((s, i) => {
    if (typeof s !== 'string' || s === '')
      throw new ClientCertConfigError(`${at}[${i}]`, 'must be a non-empty string')
    return s
  })
}

const LABEL_RE = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/

function isDnsName(name: string): boolean {
  return name.length <= 253 && name.split('.').every((l) => LABEL_RE.test(l))
}

function dnsSuffix(s: unknown, at: string): string {
  if (typeof s !== 'string') throw new ClientCertConfigError(at, 'must be a DNS suffix string')
  const lower = s.toLowerCase()
  const bare = lower.startsWith('.') ? lower.slice(1) : lower
  if (!isDnsName(bare)) throw new ClientCertConfigError(at, `"${s}" is not a DNS name`)
  return lower
}

/** `example.com` matches itself and subdomains; `.example.com` only subdomains. Label boundaries only. */
function dnsUnder(id: string, suffix: string): boolean {
  const name = id.toLowerCase()
  if (!isDnsName(name)) return false
  if (suffix.startsWith('.')) return name.endsWith(suffix) && name.length > suffix.length
  return name === suffix || name.endsWith(`.${suffix}`)
}

function spiffeRule(r: unknown, at: string): SpiffeRule {
  if (typeof r !== 'object' || r === null)
    throw new ClientCertConfigError(at, 'expected { trustDomain, pathPrefix? }')
  const { trustDomain, pathPrefix, ...rest } = r as Record<string, unknown>
  const extra = Object.keys(rest)[0]
  if (extra !== undefined)
    throw new ClientCertConfigError(`${at}.${extra}`, 'unknown key; expected trustDomain, pathPrefix')
  if (typeof trustDomain !== 'string')
    throw new ClientCertConfigError(`${at}.trustDomain`, 'must be a string')
  if (pathPrefix !== undefined && typeof pathPrefix !== 'string') {
    throw new ClientCertConfigError(`${at}.pathPrefix`, 'must be a string such as "/ns/prod"')
  }
  const domain = parseSpiffeId(`spiffe://${trustDomain}`)
  if (typeof domain === 'string' || domain.path !== '') {
    throw new ClientCertConfigError(
      `${at}.trustDomain`,
      typeof domain === 'string' ? domain : 'is a trust domain name, without a path',
    )
  }
  if (pathPrefix !== undefined) {
    if (!pathPrefix.startsWith('/'))
      throw new ClientCertConfigError(`${at}.pathPrefix`, 'must start with "/"')
    const full = parseSpiffeId(`spiffe://${trustDomain}${pathPrefix}`)
    if (typeof full === 'string') throw new ClientCertConfigError(`${at}.pathPrefix`, full)
  }
  return pathPrefix === undefined ? { trustDomain } : { trustDomain, pathPrefix }
}

function spiffeMatches(id: string | undefined, rule: SpiffeRule): boolean {
  if (id === undefined) return false
  const parsed = parseSpiffeId(id)
  if (typeof parsed === 'string' || parsed.trustDomain !== rule.trustDomain) return false
  if (rule.pathPrefix === undefined) return true
  return parsed.path === rule.pathPrefix || parsed.path.startsWith(`${rule.pathPrefix}/`)
}
