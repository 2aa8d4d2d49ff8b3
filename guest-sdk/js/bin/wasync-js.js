#!/usr/bin/env node
// `wasync-js build FOLDER -o job.wasm`: see src/build.js.
import { main } from "../src/build.js";

process.exitCode = main(process.argv.slice(2));
