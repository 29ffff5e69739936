// Runs a WASI preview1 command under node's V8, for `cargo xtask compare --whole-process`:
//
//   node --no-warnings scripts/node-wasi.mjs [--dir HOST::GUEST]... [--env KEY=VALUE]... FILE [ARGS...]
//
// Stdio is inherited; the program's exit code becomes node's.
import { readFile } from "node:fs/promises";
import process, { argv, exit } from "node:process";
import { WASI } from "node:wasi";

const preopens = {};
const env = {};
let rest = argv.slice(2);
while (rest.length > 0 && rest[0].startsWith("--")) {
  const [flag, value] = rest;
  if (value === undefined) {
    console.error(`${flag} needs a value`);
    exit(2);
  }
  if (flag === "--dir") {
    const [host, guest] = value.split("::");
    preopens[guest ?? host] = host;
  } else if (flag === "--env") {
    const eq = value.indexOf("=");
    env[value.slice(0, eq)] = value.slice(eq + 1);
  } else {
    console.error(`unknown option ${flag}`);
    exit(2);
  }
  rest = rest.slice(2);
}
if (rest.length === 0) {
  console.error("usage: node-wasi.mjs [--dir HOST::GUEST]... [--env KEY=VALUE]... FILE [ARGS...]");
  exit(2);
}
const wasi = new WASI({ version: "preview1", args: rest, env, preopens, returnOnExit: true });
const module = await WebAssembly.compile(await readFile(rest[0]));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
// Not process.exit(): called right after a run that grew memory to 32 MiB (sieve.c),
// it crashed node 20 with SIGSEGV; letting the event loop end does not.
process.exitCode = wasi.start(instance);
