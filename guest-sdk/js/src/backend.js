/**
 * Where context calls go: the host inside a component, a `FakeContext` in
 * tests. Both take the WIT shapes (JSON as text, camelCase records).
 */

let active = null;

/** Makes `backend` the context of the job about to run; returns the previous one. */
export function activate(backend) {
  const previous = active;
  active = backend;
  return previous;
}

/** Restores what `activate` replaced. */
export function deactivate(previous) {
  active = previous;
}

/** The context of the running job; throws outside a job. */
export function current() {
  if (active === null) {
    throw new Error(
      "no job is running: context functions work inside a job, or in a test through FakeContext.run",
    );
  }
  return active;
}
