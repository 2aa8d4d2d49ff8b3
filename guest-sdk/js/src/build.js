/**
 * Builds a folder of JavaScript job modules into a wasync component:
 *
 *     wasync-js build FOLDER -o job.wasm [-m app.js ...] [--disable FEATURE ...]
 *
 * 1. bundles the modules with this SDK into one ES module (rolldown;
 *    `@wasync/job` resolves to this package), importing them once in Node
 *    first to list the registered job functions;
 * 2. runs componentize-js (StarlingMonkey) with this package's WIT, world
 *    `job`, WASI feature `fetch-event` disabled (a job serves no HTTP);
 * 3. appends the `wasync-functions` custom section listing the functions,
 *    so the server lists them at upload.
 *
 * Needs `componentize-js` and `rolldown` on PATH (`npm install
 * @bytecodealliance/componentize-js@0.23.0 rolldown@1.3.4`, then run
 * through `npx wasync-js ...`).
 */

import { spawnSync } from "node:child_process";
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The custom section the host reads job function names from. */
export const FUNCTIONS_SECTION = "wasync-functions";
/** The world of the WIT a job is built against. */
export const WORLD = "job";

const PACKAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The build cannot go on; the message says why and what to do. */
export class BuildError extends Error {}

/** The WIT shipped with this package. */
export function witDir() {
  return join(PACKAGE_DIR, "wit");
}

/** The `wasync:job/context` import name with the WIT's version. */
export function contextImport() {
  const wit = readFileSync(join(witDir(), "job.wit"), "utf8");
  const m = /^package\s+wasync:job@([\w.+-]+)\s*;/m.exec(wit);
  if (!m) throw new BuildError(`no 'package wasync:job@VERSION;' in ${join(witDir(), "job.wit")}`);
  return `wasync:job/context@${m[1]}`;
}

/** The job modules of `folder`: its top-level `*.js`/`*.mjs`, not tests or configs. */
export function defaultModules(folder) {
  return readdirSync(folder)
    .filter((f) => /\.m?js$/.test(f) && !/\.test\.m?js$/.test(f) && !/^test[-_.]/.test(f) && !/\.config\.m?js$/.test(f))
    .sort();
}

/** A WebAssembly custom section (id 0) with `name` and `payload`. */
export function customSection(name, payload) {
  const leb = (n) => {
    const out = [];
    do {
      let byte = n & 0x7f;
      n >>>= 7;
      if (n) byte |= 0x80;
      out.push(byte);
    } while (n);
    return Buffer.from(out);
  };
  const encoded = Buffer.from(name, "utf8");
  const body = Buffer.concat([leb(encoded.length), encoded, Buffer.from(payload)]);
  return Buffer.concat([Buffer.from([0]), leb(body.length), body]);
}

function tool(name) {
  const probe = spawnSync(name, ["--version"], { encoding: "utf8" });
  if (probe.error) {
    throw new BuildError(
      `${name} is not on PATH: npm install @bytecodealliance/componentize-js@0.23.0 rolldown@1.3.4, ` +
        "then run this through npx",
    );
  }
  return name;
}

function run(command, args, what) {
  const done = spawnSync(command, args, { encoding: "utf8", maxBuffer: 64 << 20 });
  if (done.error) throw new BuildError(`could not run ${command}: ${done.error.message}`);
  if (done.status !== 0) {
    throw new BuildError(`${what} failed (${done.status}):\n${(done.stderr || done.stdout).trim()}`);
  }
  return done.stdout;
}

function bundle(dir, entry, output, platform) {
  const config = join(dir, `${basename(output)}.config.mjs`);
  writeFileSync(
    config,
    `export default ${JSON.stringify({
      input: entry,
      platform,
      external: ["__WASYNC_EXTERNAL__"],
      resolve: { alias: { "@wasync/job": join(PACKAGE_DIR, "src/index.js") } },
      output: { file: output, format: "esm" },
      logLevel: "warn",
    }).replace('"__WASYNC_EXTERNAL__"', "/^wasync:/")};\n`,
  );
  run(tool("rolldown"), ["-c", config], "bundling the job modules (rolldown)");
}

/** Builds `folder` into the component `output`; returns the job function names. */
export function build(folder, output, { modules, disable = ["fetch-event"] } = {}) {
  folder = resolve(folder);
  output = resolve(output);
  if (!statSync(folder, { throwIfNoEntry: false })?.isDirectory()) throw new BuildError(`${folder} is not a folder`);
  modules = modules?.length ? modules : defaultModules(folder);
  if (modules.length === 0) throw new BuildError(`${folder} has no JavaScript module (*.js) to build`);
  const imports = modules.map((m) => `import ${JSON.stringify(resolve(folder, m))};\n`).join("");
  const tmp = mkdtempSync(join(tmpdir(), "wasync-js-"));
  try {
    const listing = join(tmp, "listing.mjs");
    writeFileSync(
      listing,
      `${imports}import { registered } from ${JSON.stringify(join(PACKAGE_DIR, "src/index.js"))};\n` +
        "console.log(JSON.stringify(registered()));\n",
    );
    bundle(tmp, listing, join(tmp, "listing.bundle.mjs"), "node");
    const out = run(process.execPath, [join(tmp, "listing.bundle.mjs")], `importing ${modules.join(", ")} in Node`);
    const names = JSON.parse(out.trim().split("\n").pop());
    if (names.length === 0) throw new BuildError(`${modules.join(", ")} register no job function (jobs({...}) or job(fn))`);

    const entry = join(tmp, "entry.mjs");
    writeFileSync(
      entry,
      "// Generated by `wasync-js build`: the job modules, then the `run` export.\n" +
        `import * as host from ${JSON.stringify(contextImport())};\n` +
        imports +
        `import { makeRun } from ${JSON.stringify(join(PACKAGE_DIR, "src/component.js"))};\n` +
        "export const run = makeRun(host);\n",
    );
    const bundled = join(tmp, "job.js");
    bundle(tmp, entry, bundled, "neutral");
    mkdirSync(dirname(output), { recursive: true });
    // A plain copy: componentize-js's WASI shim does not follow symlinks
    // (the package's `wit` is one in a source checkout).
    const wit = join(tmp, "wit");
    cpSync(witDir(), wit, { recursive: true, dereference: true });
    const args = [bundled, "-w", wit, "-n", WORLD, "-o", output];
    if (disable.length > 0) args.push("-d", ...disable);
    run(tool("componentize-js"), args, "componentize-js");
    appendFileSync(output, customSection(FUNCTIONS_SECTION, JSON.stringify(names)));
    return names;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The command line. */
export function main(argv) {
  const usage = "usage: wasync-js build FOLDER -o OUTPUT.wasm [-m MODULE ...] [--disable FEATURE ...]";
  const [command, ...rest] = argv;
  if (command !== "build") {
    console.error(usage);
    return 2;
  }
  let folder;
  let output;
  const modules = [];
  let disable;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg === "-o" || arg === "--output") output = rest[++i];
    else if (arg === "-m" || arg === "--module") modules.push(rest[++i]);
    else if (arg === "--disable") (disable ??= []).push(rest[++i]);
    else if (!arg.startsWith("-") && folder === undefined) folder = arg;
    else {
      console.error(`unexpected argument '${arg}'\n${usage}`);
      return 2;
    }
  }
  if (!folder || !output) {
    console.error(usage);
    return 2;
  }
  const started = Date.now();
  try {
    const names = build(folder, output, { modules, disable });
    const size = statSync(output).size;
    console.log(
      `built ${output} (${(size / 1e6).toFixed(1)} MB) in ${((Date.now() - started) / 1000).toFixed(1)} s; ` +
        `job functions: ${names.join(", ")}`,
    );
    return 0;
  } catch (e) {
    if (e instanceof BuildError) {
      console.error(`wasync-js build: ${e.message}`);
      return 1;
    }
    throw e;
  }
}
