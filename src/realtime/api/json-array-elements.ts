/**
 * The elements of a JSON array body as bytes, without building or re-serializing them: a scan of
 * the text that tracks strings and nesting. Re-serializing a decoded element (JSON.stringify)
 * recurses, so one element nested a few hundred thousand levels deep threw a RangeError and failed
 * the whole request with a 500; scanned, that element is just bytes, judged like any other event
 * (over 16 KiB it is too_large) while the valid events beside it are accepted.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0d || byte === 0x0a;
}

/**
 * The top-level elements of `text`, a syntactically valid JSON array (the caller has parsed it),
 * each with the whitespace outside its strings removed: the compact form JSON.stringify would give
 * for the same text, except that escapes are kept as sent.
 */
export function jsonArrayElements(text: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let element: number[] = [];
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const byte = text[i]!;
    if (inString) {
      element.push(byte);
      if (byte === BACKSLASH) {
        element.push(text[++i]!);
      } else if (byte === QUOTE) {
        inString = false;
      }
      continue;
    }
    if (isSpace(byte)) continue;
    if (byte === 0x5b /* [ */ || byte === 0x7b /* { */) {
      depth++;
      if (depth === 1) continue; // the array itself
    } else if (byte === 0x5d /* ] */ || byte === 0x7d /* } */) {
      depth--;
      if (depth === 0) break;
    } else if (byte === COMMA && depth === 1) {
      out.push(Buffer.from(element));
      element = [];
      continue;
    } else if (byte === QUOTE) {
      inString = true;
    }
    element.push(byte);
  }
  if (element.length > 0) out.push(Buffer.from(element));
  return out;
}
