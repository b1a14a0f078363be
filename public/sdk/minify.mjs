// Builds osprey.js from osprey.src.js: drops comments (keeps /*! … */), indentation and spaces
// that separate nothing; lines and names stay, so the shipped file is still debuggable.
// Node built-ins only:
//   node public/sdk/minify.mjs            (writes osprey.js)
//   node public/sdk/minify.mjs --check    (exits 1 if osprey.js is stale)
import { readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const dir = new URL('.', import.meta.url);
const src = readFileSync(new URL('osprey.src.js', dir), 'utf8');

// A small scanner: strings, template literals and regex literals pass through untouched.
function stripComments(s) {
  let out = '';
  let i = 0;
  let last = ''; // last significant character, to tell a regex literal from a division
  while (i < s.length) {
    const c = s[i];
    const n = s[i + 1];
    if (c === '/' && n === '*') {
      const end = s.indexOf('*/', i + 2) + 2;
      if (s[i + 2] === '!') out += s.slice(i, end);
      i = end;
    } else if (c === '/' && n === '/') {
      while (i < s.length && s[i] !== '\n') i++;
    } else if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      while (s[j] !== c) j += s[j] === '\\' ? 2 : 1;
      out += s.slice(i, j + 1);
      last = c;
      i = j + 1;
    } else if (c === '/' && (last === '' || '(,=:[!&|?{};'.includes(last))) {
      let j = i + 1;
      let inClass = false;
      while (inClass || s[j] !== '/') {
        if (s[j] === '\\') j++;
        else if (s[j] === '[') inClass = true;
        else if (s[j] === ']') inClass = false;
        j++;
      }
      out += s.slice(i, j + 1);
      last = '/';
      i = j + 1;
    } else if (c === ' ' || c === '\t') {
      // a space only survives between two words, or between `+ +` and `- -`
      const prev = out[out.length - 1] ?? '';
      const next = s[i + 1] ?? '';
      const word = /[\w$]/;
      if ((word.test(prev) && word.test(next)) || (prev === next && '+-'.includes(prev))) out += ' ';
      while (s[i] === ' ' || s[i] === '\t') i++;
    } else {
      out += c;
      if (!/\s/.test(c)) last = c;
      i++;
    }
  }
  return out;
}

const min = stripComments(src)
  .split('\n')
  .map((line) => line.trim())
  .filter(Boolean)
  .join('\n') + '\n';
new Function(min); // throws if the scanner ever broke the syntax
const out = new URL('osprey.js', dir);
if (process.argv.includes('--check')) {
  // for tests: fail when osprey.js was edited by hand or not rebuilt after osprey.src.js
  if (readFileSync(out, 'utf8') !== min) {
    console.error('public/sdk/osprey.js is stale: run node public/sdk/minify.mjs');
    process.exit(1);
  }
} else {
  writeFileSync(out, min);
  console.log(`osprey.js: ${min.length} bytes, ${gzipSync(min, { level: 9 }).length} gzipped`);
}
