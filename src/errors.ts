/**
 * User-facing errors. Anything thrown as a `MoelabError` is printed by the CLI as one line
 * (no stack trace) and exits with a non-zero code; anything else is a bug.
 */
export class MoelabError extends Error {
  /** Process exit code of the CLI for this error: 2 for user errors (EXIT_USER). */
  readonly exitCode: number = EXIT_USER;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Exit codes of the CLI: a user error (bad input, option or config), an environment fault, a bug. */
export const EXIT_USER = 2;
/** The filesystem or the database failed (read-only, full disk, corrupted file, permissions): sysexits EX_IOERR. */
export const EXIT_ENVIRONMENT = 74;

/**
 * The environment failed, not the input: a read-only or full file system, missing permissions, a
 * corrupted database. The message names the path and the cause; the CLI exits with EXIT_ENVIRONMENT.
 */
export class EnvironmentError extends MoelabError {
  override readonly exitCode: number = EXIT_ENVIRONMENT;
  constructor(message: string, readonly source?: unknown) {
    super(message);
  }
}

/** A model JSON (file or object) is malformed; the message names the field path. */
export class ModelFormatError extends MoelabError {}

/** Input data (CSV, arrays) is malformed; the message names the file, row and column. */
export class DataError extends MoelabError {}

/** An option or argument has an invalid value; the message names the option and the value. */
export class OptionError extends MoelabError {}

/** A numerical failure that the caller can act on (e.g. singular system with no fallback). */
export class NumericalError extends MoelabError {}
