/** The errors of the SDK and the kinds the host records. */

/** Kind of the error for arguments that do not fit the job function. */
export const BAD_ARGUMENTS = "bad-arguments";
/** Kind of the error for a job function name the module does not have. */
export const UNKNOWN_FUNCTION = "unknown-function";
/** Kind of the error for a result that cannot be turned into JSON. */
export const BAD_RESULT = "bad-result";

/**
 * An error a job throws on purpose, with the `job-error` fields chosen by
 * the author. `permanent: true` means retrying cannot help. Any other
 * thrown `Error` works too (its name becomes the kind); give it a true
 * `permanent` property to make it permanent.
 */
export class JobFailure extends Error {
  /**
   * @param {string} kind
   * @param {string} message
   * @param {{detail?: string, permanent?: boolean}} [options]
   */
  constructor(kind, message, { detail, permanent = false } = {}) {
    super(`${kind}: ${message}`);
    this.name = "JobFailure";
    this.kind = kind;
    this.failureMessage = message;
    this.detail = detail;
    this.permanent = permanent;
  }
}

/** The host refused a context call; the message is the host's. */
export class ContextError extends Error {
  constructor(message) {
    super(message);
    this.name = "ContextError";
  }
}
