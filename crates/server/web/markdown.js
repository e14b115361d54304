// Formatting of message text: a small Markdown subset, parsed into a tree of plain objects and rendered into
// DOM nodes built one by one. The message text stays the source; this only decides how it looks.
//
// Safety rests on two rules, each enough alone. parse() knows nothing of HTML: a `<` is a character like any
// other, so raw HTML, images and [text](url) links cannot be written. render() builds elements only from a fixed
// list, sets only href, rel, target and class, and gives a link its href only after `new URL()` says the
// scheme is http: or https:. No markup is ever parsed from a string (no innerHTML or anything like it).
//
// Every step is one pass over the text, or a bounded number of passes: a message of 10,000 characters made of
// nothing but markers parses in a few milliseconds. Nesting is capped (MAX_BLOCK_DEPTH, MAX_INLINE_DEPTH);
// deeper markers show as typed, as do markers that pair with nothing.

/**
 * The parsed message: blocks, each holding inline nodes or more blocks.
 * @typedef {{type: 'document', children: Block[]}} Document
 *
 * @typedef {ParagraphNode | CodeBlockNode | QuoteNode | ListNode} Block
 * A run of lines; each line's inline nodes, separated by `lineBreak` nodes.
 * @typedef {{type: 'paragraph', children: Inline[]}} ParagraphNode
 * A fenced code block: its lines, literal, and the label after the opening fence, if any.
 * @typedef {{type: 'codeBlock', language: string | null, text: string}} CodeBlockNode
 * @typedef {{type: 'quote', children: Block[]}} QuoteNode
 * @typedef {{type: 'list', ordered: boolean, items: ListItemNode[]}} ListNode
 * @typedef {{type: 'listItem', children: Block[]}} ListItemNode
 *
 * @typedef {TextNode | LineBreakNode | CodeNode | LinkNode | MentionNode | EmphasisNode | StrongNode | StrikethroughNode} Inline
 * @typedef {{type: 'text', text: string}} TextNode
 * @typedef {{type: 'lineBreak'}} LineBreakNode
 * Inline code: its text, literal.
 * @typedef {{type: 'code', text: string}} CodeNode
 * A bare http(s) URL, as typed.
 * @typedef {{type: 'link', url: string}} LinkNode
 * `@name`: render() makes it a mention when `options.mention(name)` knows the name (or it is channel or here).
 * @typedef {{type: 'mention', name: string}} MentionNode
 * @typedef {{type: 'emphasis', children: Inline[]}} EmphasisNode
 * @typedef {{type: 'strong', children: Inline[]}} StrongNode
 * @typedef {{type: 'strikethrough', children: Inline[]}} StrikethroughNode
 */

/**
 * @typedef {object} RenderOptions
 * @property {(name: string) => ({self: boolean} | null | undefined)} [mention] Says whether `@name` names someone
 *   (and whether it is the reader); null or undefined leaves the text as typed.
 */

/** How deep quotes and lists may nest inside each other; a deeper `>` or `- ` shows as typed. */
export const MAX_BLOCK_DEPTH = 4;
/** How deep emphasis, strong and strikethrough may nest; deeper markers show as typed. */
export const MAX_INLINE_DEPTH = 4;
/** Longer URLs stay text: this bounds the work spent on text that only looks like one. */
const MAX_URL_LENGTH = 2048;

/** The mentions that need no callback: they name everyone in the conversation. */
const EVERYONE = new Set(['channel', 'here']);

// --- blocks ----------------------------------------------------------------------------------------------

/**
 * Parses message text into a tree. Pure: no DOM, so it runs anywhere.
 * @param {string} text
 * @returns {Document}
 */
export function parse(text) {
  const lines = String(text).replace(/\r\n?/g, '\n').split('\n');
  return { type: 'document', children: parseBlocks(lines, 0) };
}

/**
 * @param {string[]} lines
 * @param {number} depth how many quotes and list items enclose these lines
 * @returns {Block[]}
 */
function parseBlocks(lines, depth) {
  /** @type {Block[]} */
  const blocks = [];
  const fences = fenceIndex(lines);
  const nested = depth < MAX_BLOCK_DEPTH;
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (isBlank(line)) {
      i += 1;
      continue;
    }
    const fence = openingFence(line);
    if (fence && fences.closesAfter(i, fence.length)) {
      const end = fences.closer(i, fence.length);
      blocks.push({ type: 'codeBlock', language: fence.language, text: lines.slice(i + 1, end).join('\n') });
      i = end + 1;
      continue;
    }
    if (nested && quoteContent(line) !== null) {
      /** @type {string[]} */
      const inner = [];
      for (; i < lines.length && quoteContent(lines[i]) !== null; i += 1) inner.push(quoteContent(lines[i]));
      blocks.push({ type: 'quote', children: parseBlocks(inner, depth + 1) });
      continue;
    }
    if (nested && startsList(line)) {
      i = parseList(lines, i, depth, blocks);
      continue;
    }
    // A paragraph: this line and the next ones up to a blank line or the start of another block.
    const start = i;
    for (i += 1; i < lines.length; i += 1) {
      const next = lines[i];
      if (isBlank(next) || interrupts(next, i, fences, depth)) break;
    }
    blocks.push({ type: 'paragraph', children: parseLines(lines.slice(start, i)) });
  }
  return blocks;
}

/**
 * Whether a line ends the paragraph before it: it opens a code block that closes, a quote or a list.
 * @param {string} line
 * @param {number} index
 * @param {FenceIndex} fences
 * @param {number} depth
 */
function interrupts(line, index, fences, depth) {
  const fence = openingFence(line);
  if (fence && fences.closesAfter(index, fence.length)) return true;
  if (depth >= MAX_BLOCK_DEPTH) return false;
  return quoteContent(line) !== null || startsList(line);
}

/**
 * Whether a line can start a list: a bullet item, or a numbered one numbered 1 (so that "2024. What a year"
 * stays a sentence; the browser counts a list from 1, and no attribute could say otherwise).
 * @param {string} line
 */
function startsList(line) {
  const item = listItem(line);
  return item !== null && (!item.ordered || item.number === 1);
}

/**
 * Parses the list whose first item is lines[start]; pushes it on `blocks` and returns the index of the first
 * line after it. An item goes on over the lines indented two spaces or more past its marker (which may hold
 * blocks of their own, such as a nested list); blank lines between items do not end the list. The items
 * after the first may have any number.
 * @param {string[]} lines
 * @param {number} start
 * @param {number} depth
 * @param {Block[]} blocks
 */
function parseList(lines, start, depth, blocks) {
  const { ordered } = listItem(lines[start]);
  /** @type {ListItemNode[]} */
  const items = [];
  let i = start;
  for (;;) {
    const item = listItem(lines[i]);
    const body = [item.content];
    for (i += 1; i < lines.length; i += 1) {
      const line = lines[i];
      if (isBlank(line)) {
        const next = nextNonBlank(lines, i);
        if (next === lines.length || indentOf(lines[next]) < item.column + 2) break;
        for (; i < next; i += 1) body.push('');
        i -= 1;
        continue;
      }
      if (indentOf(line) < item.column + 2) break;
      body.push(dedent(line, item.indent));
    }
    items.push({ type: 'listItem', children: parseBlocks(body, depth + 1) });
    const next = nextNonBlank(lines, i);
    if (next === lines.length) {
      i = next;
      break;
    }
    const following = listItem(lines[next]);
    if (!following || following.ordered !== ordered) break;
    i = next;
  }
  blocks.push({ type: 'list', ordered, items });
  return i;
}

/** @param {string} line */
function isBlank(line) {
  return !NOT_SPACE.test(line);
}

const NOT_SPACE = /\S/;

/**
 * @param {string[]} lines
 * @param {number} from
 * @returns {number} the index of the first line at or after `from` that is not blank, or lines.length
 */
function nextNonBlank(lines, from) {
  let i = from;
  while (i < lines.length && isBlank(lines[i])) i += 1;
  return i;
}

/**
 * How far a line is indented, a tab counting as four spaces.
 * @param {string} line
 */
function indentOf(line) {
  let width = 0;
  for (const character of line) {
    if (character === ' ') width += 1;
    else if (character === '\t') width += 4;
    else break;
  }
  return width;
}

/**
 * The line without up to `width` columns of indentation.
 * @param {string} line
 * @param {number} width
 */
function dedent(line, width) {
  let taken = 0;
  let i = 0;
  while (i < line.length && taken < width && (line[i] === ' ' || line[i] === '\t')) {
    taken += line[i] === '\t' ? 4 : 1;
    i += 1;
  }
  return line.slice(i);
}

/**
 * What a quote line holds after its `>` (and one space), or null when the line is not part of a quote.
 * @param {string} line
 * @returns {string | null}
 */
function quoteContent(line) {
  const indent = leadingSpaces(line);
  if (indent > 3 || line[indent] !== '>') return null;
  const after = indent + 1;
  return line.slice(line[after] === ' ' ? after + 1 : after);
}

/**
 * A list item's marker (`- `, `* ` or `1. `), or null. The item must have some text after its marker.
 * `column` is where the marker is; `indent` the column its text starts at, which the lines that continue it
 * are dedented by.
 * @param {string} line
 * @returns {{ordered: boolean, number: number, column: number, indent: number, content: string} | null}
 */
function listItem(line) {
  const start = leadingSpaces(line);
  if (start > 3) return null;
  let i = start;
  let ordered = false;
  let number = 0;
  if (line[i] === '-' || line[i] === '*') {
    i += 1;
  } else {
    while (i < line.length && i - start < 9 && line[i] >= '0' && line[i] <= '9') i += 1;
    if (i === start || line[i] !== '.') return null;
    ordered = true;
    number = Number(line.slice(start, i));
    i += 1;
  }
  if (line[i] !== ' ' && line[i] !== '\t') return null;
  const contentStart = i + leadingSpaces(line.slice(i), ' \t');
  if (contentStart >= line.length) return null;
  // Text indented by five spaces or more would start with spaces; one space after the marker is enough.
  const indent = contentStart - i > 4 ? i + 1 : contentStart;
  return { ordered, number, column: start, indent, content: line.slice(indent) };
}

/**
 * @param {string} line
 * @param {string} [spaces] the characters that count
 */
function leadingSpaces(line, spaces = ' ') {
  let i = 0;
  while (i < line.length && spaces.includes(line[i])) i += 1;
  return i;
}

/**
 * An opening code fence: up to three spaces, three backticks or more, and an optional label with no backtick.
 * @param {string} line
 * @returns {{length: number, language: string | null} | null}
 */
function openingFence(line) {
  const start = leadingSpaces(line);
  if (start > 3) return null;
  let end = start;
  while (line[end] === '`') end += 1;
  if (end - start < 3) return null;
  const info = line.slice(end).trim();
  if (info.includes('`')) return null;
  const language = info.split(/\s/, 1)[0];
  return { length: end - start, language: language === '' ? null : language };
}

/**
 * The length of a closing fence line (only backticks, three or more, with spaces around), or 0.
 * @param {string} line
 */
function closingFenceLength(line) {
  if (!line.includes('```')) return 0;
  const text = line.trim();
  if (text.length < 3 || leadingSpaces(line) > 3) return 0;
  for (const character of text) if (character !== '`') return 0;
  return text.length;
}

/**
 * @typedef {object} FenceIndex
 * @property {(index: number, length: number) => boolean} closesAfter whether a fence of `length` opened on
 *   line `index` has a closing fence below it
 * @property {(index: number, length: number) => number} closer the line of that closing fence
 */

/**
 * Finds closing fences in one pass, so that an opening fence with no closer costs no scan to the end: the
 * longest closing fence below each line says at once whether one will do. A code block that closes is
 * consumed whole, so the scans to closers add up to one pass too.
 * @param {string[]} lines
 * @returns {FenceIndex}
 */
function fenceIndex(lines) {
  const lengths = lines.map(closingFenceLength);
  // longestBelow[i]: the longest closing fence on line i or after it.
  const longestBelow = new Array(lines.length + 1).fill(0);
  for (let i = lines.length - 1; i >= 0; i -= 1) longestBelow[i] = Math.max(lengths[i], longestBelow[i + 1]);
  return {
    closesAfter: (index, length) => longestBelow[index + 1] >= length,
    closer(index, length) {
      let i = index + 1;
      while (lengths[i] < length) i += 1;
      return i;
    },
  };
}

// --- inline ----------------------------------------------------------------------------------------------

/**
 * A paragraph's lines, each parsed on its own, with a line break between them: formatting does not cross a
 * line break.
 * @param {string[]} lines
 * @returns {Inline[]}
 */
function parseLines(lines) {
  /** @type {Inline[]} */
  const children = [];
  lines.forEach((line, index) => {
    if (index > 0) children.push({ type: 'lineBreak' });
    for (const node of parseInline(line)) pushInline(children, node);
  });
  return children;
}

/**
 * Appends a node, merging neighbouring text.
 * @param {Inline[]} children
 * @param {Inline} node
 */
function pushInline(children, node) {
  const last = children[children.length - 1];
  if (node.type === 'text' && last?.type === 'text') {
    last.text += node.text;
  } else if (node.type !== 'text' || node.text !== '') {
    children.push(node);
  }
}

/**
 * A delimiter run (`*`, `**`, `_`, `~~`…) on its way to becoming emphasis or staying text. `remaining` counts
 * its characters not yet paired; `closes` and `opens` list the pairs it ends and starts, innermost first.
 * @typedef {{kind: 'delimiter', character: string, remaining: number, canOpen: boolean, canClose: boolean,
 *   closes: number[], opens: number[]}} Delimiter
 * @typedef {{kind: 'node', node: Inline} | Delimiter} Token
 * @typedef {'emphasis' | 'strong' | 'strikethrough'} SpanType
 */

/**
 * Parses one line: first into text, atoms (code, links, mentions) and delimiter runs, in one pass; then pairs
 * the delimiters; then builds the nodes.
 * @param {string} line
 * @returns {Inline[]}
 */
function parseInline(line) {
  const tokens = tokenize(line);
  const pairs = pairDelimiters(tokens);
  return buildInline(tokens, pairs);
}

/** ASCII punctuation: what a backslash makes literal. */
const ASCII_PUNCTUATION = /[!-/:-@[-`{-~]/;
const PUNCTUATION = /[\p{P}\p{S}]/u;
const WHITESPACE = /\s/u;
const NAME_CHARACTER = /[A-Za-z0-9_.-]/;
const WORD_CHARACTER = /[\p{L}\p{N}]/u;

/**
 * @param {string} line
 * @returns {Token[]}
 */
function tokenize(line) {
  /** @type {Token[]} */
  const tokens = [];
  // Text is kept as the range line[textStart, i) until something else comes, and then sliced once.
  let textStart = 0;
  /** @param {number} end */
  const flush = (end) => {
    if (end > textStart) tokens.push({ kind: 'node', node: { type: 'text', text: line.slice(textStart, end) } });
  };
  /**
   * @param {number} start
   * @param {number} end
   * @param {Token} token
   */
  const push = (start, end, token) => {
    flush(start);
    tokens.push(token);
    textStart = end;
  };
  const backticks = backtickRuns(line);
  let i = 0;
  while (i < line.length) {
    const character = line[i];
    const before = i > 0 ? line[i - 1] : ' ';
    const url = (character === 'h' || character === 'H') && !WORD_CHARACTER.test(before) ? bareUrl(line, i) : null;
    if (character === '\\' && i + 1 < line.length && ASCII_PUNCTUATION.test(line[i + 1])) {
      // The backslash goes; the character after it stays, as text.
      flush(i);
      textStart = i + 1;
      i += 2;
    } else if (character === '`') {
      const length = runLength(line, i);
      const close = backticks.next(i + length, length);
      if (close < 0) {
        i += length;
      } else {
        const text = codeText(line.slice(i + length, close));
        push(i, close + length, { kind: 'node', node: { type: 'code', text } });
        i = close + length;
      }
    } else if (url) {
      // A candidate that is no URL stays text, whole: see bareUrl.
      if (url.url !== null) push(i, url.end, { kind: 'node', node: { type: 'link', url: url.url } });
      i = url.end;
    } else if (character === '@' && !NAME_CHARACTER.test(before) && before !== '@') {
      let end = i + 1;
      while (end < line.length && NAME_CHARACTER.test(line[end])) end += 1;
      while (end > i + 1 && line[end - 1] === '.') end -= 1;
      if (end > i + 1) push(i, end, { kind: 'node', node: { type: 'mention', name: line.slice(i + 1, end) } });
      i = Math.max(end, i + 1);
    } else if (character === '*' || character === '_' || character === '~') {
      const length = runLength(line, i);
      if (character !== '~' || length === 2) {
        const after = i + length < line.length ? line[i + length] : ' ';
        push(i, i + length, delimiter(character, length, before, after));
      }
      i += length;
    } else {
      i += 1;
    }
  }
  flush(line.length);
  return tokens;
}

/**
 * @param {string} line
 * @param {number} start
 * @returns {number} how many times line[start] repeats from start
 */
function runLength(line, start) {
  let end = start + 1;
  while (line[end] === line[start]) end += 1;
  return end - start;
}

/**
 * The line's runs of backticks, for finding where a code span closes: the next run of the same length.
 * Each length keeps a cursor that only moves forward, since the line is read once, left to right.
 * @param {string} line
 * @returns {{next: (from: number, length: number) => number}}
 */
function backtickRuns(line) {
  /** @type {Map<number, number[]>} */
  const starts = new Map();
  for (let i = line.indexOf('`'); i >= 0; i = line.indexOf('`', i)) {
    const length = runLength(line, i);
    if (!starts.has(length)) starts.set(length, []);
    starts.get(length).push(i);
    i += length;
  }
  /** @type {Map<number, number>} */
  const cursors = new Map();
  return {
    next(from, length) {
      const list = starts.get(length) ?? [];
      let cursor = cursors.get(length) ?? 0;
      while (cursor < list.length && list[cursor] < from) cursor += 1;
      cursors.set(length, cursor);
      return cursor < list.length ? list[cursor] : -1;
    },
  };
}

/**
 * A code span's text: one space is taken off each end when both have one, so that `` ` `` can quote a backtick.
 * @param {string} text
 */
function codeText(text) {
  const padded = text.length > 2 && text.startsWith(' ') && text.endsWith(' ') && text.trim() !== '';
  return padded ? text.slice(1, -1) : text;
}

/**
 * The bare http(s) URL starting at line[start], as typed, or null when line[start] starts no URL. It ends
 * before whitespace, an invisible formatting character or one of <>"` ; trailing punctuation (and a closing
 * bracket that the URL did not open) is left to the sentence. When the text after the scheme is no URL that
 * `new URL()` accepts, `url` is null and the whole of it up to `end` stays text: each character is looked at
 * by one candidate at most, so text full of "http://" costs one pass.
 * @param {string} line
 * @param {number} start
 * @returns {{url: string | null, end: number} | null}
 */
function bareUrl(line, start) {
  const scheme = line.slice(start, start + 8).toLowerCase();
  const schemeLength = scheme.startsWith('https://') ? 8 : scheme.startsWith('http://') ? 7 : 0;
  if (schemeLength === 0) return null;
  const host = start + schemeLength;
  // "http:///x" and "http:\\x" would be read as http://x/: a URL that goes elsewhere than it reads.
  if (line[host] === '/' || line[host] === '\\') return { url: null, end: host };
  let end = host;
  while (end < line.length && !endsUrl(line.charCodeAt(end))) end += 1;
  // How many of each bracket the URL leaves open: a closing one at its end with none open is the sentence's.
  /** @type {Record<string, number>} */
  const unclosed = { ')': 0, ']': 0, '}': 0 };
  for (let i = host; i < end; i += 1) {
    const character = line[i];
    if (character in CLOSING) unclosed[CLOSING[character]] += 1;
    else if (character in unclosed) unclosed[character] -= 1;
  }
  while (end > host) {
    const last = line[end - 1];
    if (last in unclosed && unclosed[last] < 0) unclosed[last] += 1;
    else if (!TRAILING_PUNCTUATION.includes(last)) break;
    end -= 1;
  }
  const url = line.slice(start, end);
  const valid = end > host && end - start <= MAX_URL_LENGTH && httpUrl(url) !== null;
  return { url: valid ? url : null, end };
}

/**
 * Whether a character ends a bare URL: whitespace, a control character, one of <>"` , or an invisible
 * formatting character (zero-width and bidirectional controls, which could make a link read as another).
 * @param {number} code a UTF-16 code unit
 */
function endsUrl(code) {
  return (
    code <= 0x20 ||
    code === 0x7f ||
    code === 0x22 ||
    code === 0x3c ||
    code === 0x3e ||
    code === 0x60 ||
    (code >= 0x80 && code <= 0x9f) ||
    code === 0xa0 ||
    code === 0xad ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200f) ||
    (code >= 0x2028 && code <= 0x202f) ||
    (code >= 0x205f && code <= 0x2064) ||
    (code >= 0x2066 && code <= 0x206f) ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

/** Opening brackets, and the closing bracket of each. */
const CLOSING = { '(': ')', '[': ']', '{': '}' };
/** What ends a sentence rather than a URL, when it comes last. */
const TRAILING_PUNCTUATION = `.,:;!?'*_~`;

/**
 * The URL, normalized, when `new URL()` reads it as http: or https: with a host; null otherwise.
 * @param {string} text
 * @returns {string | null}
 */
function httpUrl(text) {
  let url;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') return null;
  return url.href;
}

/**
 * A delimiter run, with whether it can open or close emphasis by the flanking rules of CommonMark: it opens
 * when text follows it, closes when text precedes it, and `_` does neither inside a word (snake_case stays).
 * @param {string} character
 * @param {number} length
 * @param {string} before the character before the run (a space at the start of the line)
 * @param {string} after the character after it (a space at the end)
 * @returns {Delimiter}
 */
function delimiter(character, length, before, after) {
  const spaceBefore = WHITESPACE.test(before);
  const spaceAfter = WHITESPACE.test(after);
  const punctuationBefore = PUNCTUATION.test(before);
  const punctuationAfter = PUNCTUATION.test(after);
  const leftFlanking = !spaceAfter && (!punctuationAfter || spaceBefore || punctuationBefore);
  const rightFlanking = !spaceBefore && (!punctuationBefore || spaceAfter || punctuationAfter);
  const underscore = character === '_';
  return {
    kind: 'delimiter',
    character,
    remaining: length,
    canOpen: underscore ? leftFlanking && (!rightFlanking || punctuationBefore) : leftFlanking,
    canClose: underscore ? rightFlanking && (!leftFlanking || punctuationAfter) : rightFlanking,
    closes: [],
    opens: [],
  };
}

/**
 * Pairs closers with openers of the same character. An opener left between a pair is dropped (it shows as
 * typed), so pairs nest properly. The count of open runs per character means a closer with no opener costs no
 * search, and every opener leaves the stack once: linear in the number of runs.
 * @param {Token[]} tokens
 * @returns {SpanType[]} the type of each pair, by its number in `opens` and `closes`
 */
function pairDelimiters(tokens) {
  /** @type {SpanType[]} */
  const pairs = [];
  /** @type {Delimiter[]} */
  const openers = [];
  /** @type {Record<string, number>} */
  const open = { '*': 0, _: 0, '~': 0 };
  for (const token of tokens) {
    if (token.kind !== 'delimiter') continue;
    if (token.canClose) {
      while (token.remaining > 0 && open[token.character] > 0) {
        let opener = openers[openers.length - 1];
        while (opener.character !== token.character) {
          openers.pop();
          open[opener.character] -= 1;
          opener = openers[openers.length - 1];
        }
        const strong = token.character !== '~' && opener.remaining >= 2 && token.remaining >= 2;
        const used = token.character === '~' || strong ? 2 : 1;
        const id = pairs.length;
        pairs.push(token.character === '~' ? 'strikethrough' : strong ? 'strong' : 'emphasis');
        opener.opens.push(id);
        opener.remaining -= used;
        token.closes.push(id);
        token.remaining -= used;
        if (opener.remaining === 0) {
          openers.pop();
          open[opener.character] -= 1;
        }
      }
    }
    if (token.canOpen && token.remaining > 0) {
      openers.push(token);
      open[token.character] += 1;
    }
  }
  return pairs;
}

/**
 * The characters a pair was written with, for showing it as typed.
 * @param {string} character
 * @param {SpanType} type
 */
function markerOf(character, type) {
  return type === 'emphasis' ? character : character + character;
}

/**
 * Builds the nodes from the paired tokens. A run's characters read: the pairs it closes (innermost first),
 * then its unpaired characters as text, then the pairs it opens (outermost first). Pairs nest properly (see
 * pairDelimiters), so each close ends the innermost open frame. A pair deeper than MAX_INLINE_DEPTH gets a
 * frame with no node, which adds to its parent's children: its markers show as text.
 * @param {Token[]} tokens
 * @param {SpanType[]} pairs
 * @returns {Inline[]}
 */
function buildInline(tokens, pairs) {
  /** @typedef {{children: Inline[], node: EmphasisNode | StrongNode | StrikethroughNode | null}} Frame */
  /** @type {Inline[]} */
  const root = [];
  /** @type {Frame[]} */
  const frames = [{ children: root, node: null }];
  let depth = 0;
  const top = () => frames[frames.length - 1];
  for (const token of tokens) {
    if (token.kind === 'node') {
      pushInline(top().children, token.node);
      continue;
    }
    for (const id of token.closes) {
      const frame = frames.pop();
      if (frame.node) depth -= 1;
      pushInline(top().children, frame.node ?? { type: 'text', text: markerOf(token.character, pairs[id]) });
    }
    if (token.remaining > 0) pushInline(top().children, { type: 'text', text: token.character.repeat(token.remaining) });
    for (let index = token.opens.length - 1; index >= 0; index -= 1) {
      const type = pairs[token.opens[index]];
      if (depth < MAX_INLINE_DEPTH) {
        depth += 1;
        /** @type {Inline[]} */
        const children = [];
        frames.push({ children, node: { type, children } });
      } else {
        pushInline(top().children, { type: 'text', text: markerOf(token.character, type) });
        frames.push({ children: top().children, node: null });
      }
    }
  }
  return root;
}

// --- rendering -------------------------------------------------------------------------------------------

/** The only classes render() sets. */
export const CLASSES = Object.freeze(['mention', 'mention-self']);
/** The only elements render() makes. */
export const ELEMENTS = Object.freeze([
  'p', 'br', 'em', 'strong', 'del', 'code', 'pre', 'blockquote', 'ul', 'ol', 'li', 'a', 'span',
]);

/**
 * Builds the tree's DOM nodes: elements from ELEMENTS only, text as text nodes, and no attribute but a link's
 * href (http or https only), rel and target, and a mention's class.
 * @param {Document} tree
 * @param {RenderOptions} [options]
 * @returns {DocumentFragment}
 */
export function render(tree, options = {}) {
  const fragment = document.createDocumentFragment();
  for (const block of tree.children) fragment.append(renderBlock(block, options));
  return fragment;
}

/**
 * Parses and renders message text.
 * @param {string} text
 * @param {RenderOptions} [options]
 * @returns {DocumentFragment}
 */
export function renderMarkdown(text, options = {}) {
  return render(parse(text), options);
}

/**
 * @param {Block} block
 * @param {RenderOptions} options
 * @returns {Node}
 */
function renderBlock(block, options) {
  switch (block.type) {
    case 'paragraph':
      return element('p', renderInline(block.children, options));
    case 'codeBlock':
      return element('pre', [element('code', [document.createTextNode(block.text)])]);
    case 'quote':
      return element('blockquote', block.children.map((child) => renderBlock(child, options)));
    case 'list':
      return element(block.ordered ? 'ol' : 'ul', block.items.map((item) => renderItem(item, options)));
    default:
      return document.createTextNode('');
  }
}

/**
 * A list item; its first paragraph goes in without a <p>, as in a list typed as lines.
 * @param {ListItemNode} item
 * @param {RenderOptions} options
 */
function renderItem(item, options) {
  return element(
    'li',
    item.children.flatMap((child, index) =>
      index === 0 && child.type === 'paragraph' ? renderInline(child.children, options) : [renderBlock(child, options)],
    ),
  );
}

/**
 * @param {Inline[]} nodes
 * @param {RenderOptions} options
 * @returns {Node[]}
 */
function renderInline(nodes, options) {
  return nodes.map((node) => {
    switch (node.type) {
      case 'text':
        return document.createTextNode(node.text);
      case 'lineBreak':
        return element('br', []);
      case 'code':
        return element('code', [document.createTextNode(node.text)]);
      case 'emphasis':
        return element('em', renderInline(node.children, options));
      case 'strong':
        return element('strong', renderInline(node.children, options));
      case 'strikethrough':
        return element('del', renderInline(node.children, options));
      case 'link':
        return renderLink(node.url);
      case 'mention':
        return renderMention(node.name, options);
      default:
        return document.createTextNode('');
    }
  });
}

/**
 * A link, when the URL is http or https once parsed; its text otherwise.
 * @param {string} url
 * @returns {Node}
 */
function renderLink(url) {
  const href = httpUrl(url);
  if (href === null) return document.createTextNode(url);
  const link = element('a', [document.createTextNode(url)]);
  link.setAttribute('href', href);
  link.setAttribute('rel', 'noopener noreferrer nofollow');
  link.setAttribute('target', '_blank');
  return link;
}

/**
 * @param {string} name
 * @param {RenderOptions} options
 * @returns {Node}
 */
function renderMention(name, options) {
  const text = document.createTextNode(`@${name}`);
  const known = EVERYONE.has(name) ? { self: false } : options?.mention?.(name);
  if (!known) return text;
  const span = element('span', [text]);
  span.setAttribute('class', known.self === true ? 'mention mention-self' : 'mention');
  return span;
}

/**
 * @param {string} tag one of ELEMENTS
 * @param {Node[]} children
 * @returns {HTMLElement}
 */
function element(tag, children) {
  if (!ELEMENTS.includes(tag)) throw new Error(`markdown: <${tag}> is not an allowed element`);
  const node = document.createElement(tag);
  node.append(...children);
  return node;
}
