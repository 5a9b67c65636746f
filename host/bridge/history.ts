// What a connection keeps of its children for `list`: argv cut short, so that 64 ended
// children with megabytes of arguments each cost kilobytes, not megabytes, in the server and
// in every listing.

/** Arguments shown per child, at most. */
const MAX_ARGS = 64;
/** Characters shown of one argument, at most. */
const MAX_ARG_CHARS = 256;
/** Characters of all the arguments shown together, at most. */
const MAX_TOTAL_CHARS = 4096;

/**
 * argv as `list` shows it: at most 64 arguments of at most 256 characters, 4096 in all. A
 * cut argument ends with '…'; the ones left out are counted in a last '…(N more)'.
 */
export function displayArgs(args: readonly string[]): string[] {
	const shown: string[] = [];
	let total = 0;
	for (const arg of args) {
		if (shown.length === MAX_ARGS || total >= MAX_TOTAL_CHARS) break;
		const room = Math.min(MAX_ARG_CHARS, MAX_TOTAL_CHARS - total);
		const text = arg.length > room ? `${arg.slice(0, room - 1)}…` : arg;
		shown.push(flatCopy(text));
		total += text.length;
	}
	if (shown.length < args.length) shown.push(`…(${args.length - shown.length} more)`);
	return shown;
}

/** A copy of `text` sharing no memory with the string it was sliced from (V8 keeps a slice's parent alive). */
function flatCopy(text: string): string {
	return Buffer.from(text, 'utf8').toString('utf8');
}
