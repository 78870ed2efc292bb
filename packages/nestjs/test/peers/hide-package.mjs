// A module-resolution hook that makes one package look uninstalled (HIDE_PACKAGE), as in an app
// that installed only the other platform's adapter.
export async function resolve(specifier, context, next) {
  if (specifier === process.env.HIDE_PACKAGE) {
    const err = new Error(`Cannot find package '${specifier}' imported from ${context.parentURL}`)
    err.code = 'ERR_MODULE_NOT_FOUND'
    throw err
  }
  return next(specifier, context)
}
