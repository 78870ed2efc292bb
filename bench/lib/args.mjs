// The diagnostics' command line: `--name=value` options, flags and bare arguments.
export const argv = process.argv.slice(2)

/** The value of `--name=value` (everything after the first `=`), or `dflt`. */
export function opt(name, dflt) {
  const prefix = `--${name}=`
  return argv.find((a) => a.startsWith(prefix))?.slice(prefix.length) ?? dflt
}

/** The arguments that are not options (variants, baseline and candidate), as a new array. */
export const positional = () => argv.filter((a) => !a.startsWith('--'))
