import { ClientCertConfigError } from '../errors.js'

/** A parsed pin: SHA-256 of the whole certificate DER, or of its SubjectPublicKeyInfo DER. */
export interface Pin {
  readonly kind: 'cert' | 'spki'
  readonly hex: string
}

/**
 * Pins are written as the certificate's SHA-256 in hex (colons allowed, as `openssl x509
 * -fingerprint -sha256` prints it; equals `principal.fingerprint256`), or as an SPKI pin
 * `sha256/<base64>` (the HPKP / curl `--pinnedpubkey` form).
 */
export function parsePin(pin: unknown, option: string): Pin {
  if (typeof pin !== 'string') throw new ClientCertConfigError(option, 'a pin must be a string')
  if (pin.startsWith('sha256/')) {
    const b64 = pin.slice('sha256/'.length)
    const bytes = Buffer.from(b64, 'base64')
    if (!/^[A-Za-z0-9+/]{43}=$/.test(b64) || bytes.length !== 32) {
      throw new ClientCertConfigError(option, 'an SPKI pin is "sha256/" followed by the base64 of 32 bytes')
    }
    return { kind: 'spki', hex: bytes.toString('hex') }
  }
  const hex = pin.replace(/:/g, '').toLowerCase()
  if (
    !/^[0-9a-f]{64}$/.test(hex) ||
    (pin.includes(':') && !/^([0-9a-fA-F]{2}:){31}[0-9a-fA-F]{2}$/.test(pin))
  ) {
    throw new ClientCertConfigError(
      option,
      'a certificate pin is 64 hex digits (SHA-256), optionally colon-separated',
    )
  }
  return { kind: 'cert', hex }
}

/**
 * True when `pin` names this certificate: its SHA-256, or its key's. The one pin rule, used by
 * validation (`trust.pins`) and by policies (`allow.pins`). An SPKI match alone proves only that
 * the certificate carries the key; validation also requires the key to have signed it.
 */
export function matchesPin(
  pin: Pin,
  cert: { readonly fingerprint256: string; readonly spkiSha256: string },
): boolean {
  return pin.kind === 'cert' ? pin.hex === cert.fingerprint256 : pin.hex === cert.spkiSha256
}
