// Parse every ```mermaid block of markdown files with mermaid.parse under jsdom.
// Usage: node check.mjs FILE.md [FILE.md ...]  -> exit 0 when all blocks parse, 1 on a syntax error, 2 on bad usage.
import { readFileSync } from "node:fs";
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!doctype html><html><body></body></html>", { pretendToBeVisual: true });
globalThis.window = dom.window;
globalThis.document = dom.window.document;
for (const name of ["DOMParser", "Element", "HTMLElement", "Node", "SVGElement", "navigator"]) {
  if (!(name in globalThis)) globalThis[name] = dom.window[name];
}
const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });

function blocks(text) {
  const found = [];
  const pattern = /^```mermaid[ \t]*\n([\s\S]*?)^```[ \t]*$/gm;
  for (let match; (match = pattern.exec(text)); ) {
    const line = text.slice(0, match.index).split("\n").length;
    found.push({ line, source: match[1] });
  }
  return found;
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node check.mjs FILE.md [FILE.md ...]");
  process.exit(2);
}
let failed = 0;
let checked = 0;
for (const file of files) {
  for (const { line, source } of blocks(readFileSync(file, "utf8"))) {
    checked += 1;
    try {
      await mermaid.parse(source);
    } catch (error) {
      failed += 1;
      console.error(`${file}:${line}: mermaid syntax error: ${String(error.message || error).split("\n").slice(0, 4).join(" | ")}`);
    }
  }
}
console.log(`mermaid: ${checked} block(s) checked, ${failed} invalid`);
process.exit(failed ? 1 : 0);
