#!/usr/bin/env node
// Rewrites one CUDA source for the emulated build (emu/emu.h): every launch
// `kernel<<<grid, block[, smem[, stream]]>>>(args)` becomes
// `::emu::launch(::emu::Config(grid, block, ...), key, "file.cu:line kernel", [&](auto&&... a) { kernel(a...); }, args)`
// (the kernel called as CUDA calls it, template arguments deduced from the arguments; `key` is
// its address, for the shared-memory attribute check, except for a kernel template of this file
// named without its template arguments: null; the string names the launch, for the access
// profiler), every
// `extern __shared__ T name[];` a pointer to the block's dynamic shared memory, and every static
// `__shared__` array a reference to its storage the compiler cannot see through. Everything else
// is kept; a #line directive and the kept line count point compiler messages at the original.
//   node emu/translate.js <in.cu|in.cuh> <out>
'use strict';
const fs = require('fs');
const path = require('path');

/** Index just past the bracket that closes the one at `open` (same-kind nesting only). */
function closing(src, open, left, right) {
  let depth = 0;
  for (let i = open; i < src.length; i++) {
    if (src[i] === left) depth++;
    else if (src[i] === right && --depth === 0) return i + 1;
  }
  throw new Error(`unbalanced ${left}${right} from offset ${open}`);
}

/** Start of the kernel expression that ends just before `end`: a name with template arguments. */
function kernelStart(src, end) {
  let i = end;
  while (i > 0 && /\s/.test(src[i - 1])) i--;
  if (src[i - 1] === '>') {
    let depth = 0;
    for (i = i - 1; i >= 0; i--) {
      if (src[i] === '>') depth++;
      else if (src[i] === '<' && --depth === 0) break;
    }
  }
  while (i > 0 && /[\w:]/.test(src[i - 1])) i--;
  return i;
}

const lines = (text) => (text.match(/\n/g) || []).length;

/** Whether `name` is a kernel template of this file (called with its arguments deduced: no address). */
function isTemplateKernel(src, name) {
  return /^\w+$/.test(name) && new RegExp(`template\\s*<[^;{}]*>\\s*__global__[^;{}]*?\\b${name}\\s*\\(`).test(src);
}

/**
 * A static `__shared__ [__align__(n)] T a[..][..], b[..];` as storage of its own and a reference to
 * it through ::emu::opaque, so that the compiler cannot see which array an access reads: the
 * profile build's instrumentation (emu/access_profile.cc) skips accesses it can prove inside a
 * static array, such as a[0].
 */
function opaqueSharedArrays(src) {
  const decl = /\b__shared__\s+((?:__align__\(\d+\)\s+)?)([\w:]+(?:\s+[\w:]+)*?)\s+(\w+\s*(?:\[[^\]\n]+\])+(?:\s*,\s*\w+\s*(?:\[[^\]\n]+\])+)*)\s*;/g;
  return src.replace(decl, (_, align, type, list) => list.split(',').map((d) => {
    const [, name, dims] = d.trim().match(/^(\w+)\s*((?:\[[^\]]+\]\s*)+)$/);
    return `static ${align}${type} ${name}_storage${dims.trim()}; auto& ${name} = *::emu::opaque(&${name}_storage);`;
  }).join(' '));
}

function translate(src, file) {
  src = src.replace(/extern\s+__shared__\s+(?:__align__\(\d+\)\s+)?([\w:]+(?:\s+[\w:]+)*?)\s+(\w+)\s*\[\s*\]\s*;/g,
    (_, type, name) => `${type}* ${name} = reinterpret_cast<${type}*>(::emu::dynamic_smem());`);
  src = opaqueSharedArrays(src);
  let out = '';
  let at = 0;
  for (;;) {
    const open = src.indexOf('<<<', at);
    if (open < 0) break;
    const start = kernelStart(src, open);
    const close = src.indexOf('>>>', open);
    if (start >= open || close < 0) throw new Error(`${file}: cannot parse the launch at offset ${open}`);
    let p = close + 3;
    while (/\s/.test(src[p])) p++;
    if (src[p] !== '(') throw new Error(`${file}: expected the launch's arguments after >>> at offset ${close}`);
    const argsEnd = closing(src, p, '(', ')');
    const kernel = src.slice(start, open).trim();
    const config = src.slice(open + 3, close).trim();
    const args = src.slice(p + 1, argsEnd - 1).trim();
    const key = kernel.includes('<') || !isTemplateKernel(src, kernel) ? `::emu::key(${kernel})` : 'nullptr';
    const site = `"${path.basename(file)}:${lines(src.slice(0, start)) + 1} ${kernel.replace(/<[\s\S]*$/, '')}"`;
    const call = `[&](auto&&... a) { ${kernel}(a...); }`;
    const launch = `::emu::launch(::emu::Config(${config}), ${key}, ${site}, ${call}${args ? `, ${args}` : ''})`;
    const lost = lines(src.slice(start, argsEnd)) - lines(launch);  // newlines to restore after it
    out += src.slice(at, start) + launch + '\n'.repeat(Math.max(0, lost));
    at = argsEnd;
  }
  out += src.slice(at);
  return `#line 1 "${file}"\n${out}`;
}

if (require.main === module) {
  const [input, output] = process.argv.slice(2);
  if (!input || !output) {
    console.error('usage: node emu/translate.js <in.cu|in.cuh> <out>');
    process.exit(2);
  }
  const text = translate(fs.readFileSync(input, 'utf8'), path.resolve(input));
  fs.mkdirSync(path.dirname(output), { recursive: true });
  fs.writeFileSync(output, text);
}

module.exports = { translate };
