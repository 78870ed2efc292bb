// PEM text the trust-model examples read from files.
declare const rootPem: string
declare const opsIntermediatePem: string
declare const billingIntermediatePem: string
declare const publicRootsPem: string[]
declare const alicePinFromProvisioning: string
