/**
 * User-facing errors. Anything thrown as a `MoelabError` is printed by the CLI as one line
 * (no stack trace) and exits with a non-zero code; anything else is a bug.
 */
export class MoelabError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
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
