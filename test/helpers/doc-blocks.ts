/**
 * Markdown, as far as the documentation test needs it: fenced code blocks with their info
 * strings, headings as GitHub turns them into anchors, relative links, and a loose
 * comparison of a program's output with what the documentation says it prints.
 */

export interface Block {
	/** The markdown file, relative to the repository root. */
	file: string;
	/** Line of the opening fence, 1-based. */
	line: number;
	/** The first word of the info string: 'js', 'ts', 'sh', 'text', …; '' when none. */
	lang: string;
	/** The rest of the info string: `output`, `no-run="why"`, `exit=7`, `runtime=node,bun`, … */
	attrs: Record<string, string>;
	code: string;
	/** Line of the closing fence: an output block must come right after it. */
	endLine: number;
}

/**
 * The fenced code blocks of a markdown text. Fences of three or more backticks or tildes;
 * a block ends at a fence of the same character at least as long, as CommonMark says.
 */
export function codeBlocks(file: string, text: string): Block[] {
	const lines = text.split('\n');
	const blocks: Block[] = [];
	for (let i = 0; i < lines.length; i++) {
		const open = /^ {0,3}(`{3,}|~{3,})\s*(.*)$/.exec(lines[i]!);
		if (!open) continue;
		const fence = open[1]!;
		const [lang = '', ...rest] = open[2]!.trim().split(/\s+/);
		const body: string[] = [];
		let j = i + 1;
		for (; j < lines.length; j++) {
			const close = /^ {0,3}(`{3,}|~{3,})\s*$/.exec(lines[j]!);
			if (close && close[1]![0] === fence[0] && close[1]!.length >= fence.length) break;
			body.push(lines[j]!);
		}
		if (j === lines.length) throw new Error(`${file}:${i + 1}: a code block that is never closed`);
		blocks.push({ file, line: i + 1, lang: lang.toLowerCase(), attrs: parseAttrs(rest.join(' ')), code: `${body.join('\n')}\n`, endLine: j + 1 });
		i = j;
	}
	return blocks;
}

/** `output no-run="installs from the registry" exit=7` → { output: '', 'no-run': 'installs…', exit: '7' }. */
export function parseAttrs(text: string): Record<string, string> {
	const attrs: Record<string, string> = {};
	for (const m of text.matchAll(/([\w-]+)(?:=(?:"([^"]*)"|(\S+)))?/g)) attrs[m[1]!] = m[2] ?? m[3] ?? '';
	return attrs;
}

/** The lines of a markdown text outside its code blocks, with their numbers (1-based). */
function proseLines(text: string): { line: number; text: string }[] {
	const inBlock = new Set<number>();
	for (const block of codeBlocks('', text)) for (let n = block.line; n <= block.endLine; n++) inBlock.add(n);
	return text
		.split('\n')
		.map((line, i) => ({ line: i + 1, text: line }))
		.filter(({ line }) => !inBlock.has(line));
}

/** The anchors GitHub gives the headings of a markdown text: lower case, punctuation dropped, spaces to '-', repeats numbered. */
export function anchors(text: string): Set<string> {
	const seen = new Map<string, number>();
	const result = new Set<string>();
	for (const { text: line } of proseLines(text)) {
		const heading = /^#{1,6}\s+(.+?)\s*#*\s*$/.exec(line);
		if (!heading) continue;
		const base = heading[1]!
			.toLowerCase()
			.replace(/[^\p{L}\p{N}\s_-]/gu, '')
			.replace(/\s/g, '-');
		const n = seen.get(base) ?? 0;
		seen.set(base, n + 1);
		result.add(n === 0 ? base : `${base}-${n}`);
	}
	return result;
}

export interface Link {
	line: number;
	target: string;
}

/** Links and images with a relative target (not http:, mailto:, …), outside code. */
export function relativeLinks(text: string): Link[] {
	const links: Link[] = [];
	for (const { line, text: content } of proseLines(text)) {
		for (const m of content.replace(/`[^`]*`/g, '').matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
			if (!/^[a-z][a-z0-9+.-]*:/i.test(m[1]!)) links.push({ line, target: m[1]! });
		}
	}
	return links;
}

/** Whitespace collapsed, colours stripped, double quotes as single (Deno quotes strings with "). */
export function normalize(text: string): string {
	return text
		.replace(/\x1b\[[0-9;]*m/g, '')
		.replace(/"/g, "'")
		.replace(/\s+/g, ' ')
		.trim();
}

/**
 * Whether `actual` is what `expected` shows: whitespace collapsed on both sides, `…` (or
 * `...`) in `expected` matching anything, and any number matching any number (pids, times,
 * sizes differ from run to run).
 */
export function looselyMatches(expected: string, actual: string): boolean {
	const parts = normalize(expected).split(/(…|\.\.\.|\d[\d,]*(?:\.\d+)?)/);
	const pattern = parts
		.map((part, i) => {
			if (i % 2 === 0) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
			return part === '…' || part === '...' ? '[^]*?' : '\\d[\\d,.]*';
		})
		.join('');
	return new RegExp(`^${pattern}$`).test(normalize(actual));
}

/** The text of the `// → …` comments of a script, in order: what it prints. */
export function arrowComments(code: string): string | undefined {
	const arrows = [...code.matchAll(/\/\/\s*→\s?(.*)$/gm)].map((m) => m[1]!);
	return arrows.length > 0 ? arrows.join('\n') : undefined;
}
