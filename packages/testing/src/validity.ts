import type { CertificateOptions } from './options.js'

const HOUR_MS = 3_600_000
const DAY_MS = 24 * HOUR_MS

/** Validity window of a certificate. */
export interface ValidityWindow {
  notBefore: Date
  notAfter: Date
}

/** Profile defaults used when `validity` leaves something out. */
export interface ValidityDefaults {
  days: number
  startOffsetSeconds: number
}

/** Leaf certificates: 1 day starting 1 hour before `now`. */
export const LEAF_VALIDITY: ValidityDefaults = { days: 1, startOffsetSeconds: -3600 }

/** CA certificates: 30 days starting 1 hour before `now`. */
export const CA_VALIDITY: ValidityDefaults = { days: 30, startOffsetSeconds: -3600 }

function durationMs(validity: CertificateOptions['validity'], defaults: ValidityDefaults): number {
  if (validity?.days === undefined && validity?.hours === undefined) return defaults.days * DAY_MS
  return (validity.days ?? 0) * DAY_MS + (validity.hours ?? 0) * HOUR_MS
}

/**
 * Resolves the validity window. Explicit `notBefore`/`notAfter` win; otherwise the window starts
 * at `now + startOffsetSeconds` and lasts `days + hours`, each falling back to the profile defaults.
 */
export function resolveValidity(opts: CertificateOptions, defaults: ValidityDefaults): ValidityWindow {
  const now = opts.now ?? new Date()
  const offsetSeconds = opts.validity?.startOffsetSeconds ?? defaults.startOffsetSeconds
  const notBefore = opts.notBefore ?? new Date(now.getTime() + offsetSeconds * 1000)
  const notAfter = opts.notAfter ?? new Date(notBefore.getTime() + durationMs(opts.validity, defaults))
  return { notBefore, notAfter }
}
