/**
 * A terminal pane's screen: xterm.js fitted to its container, wired to a remote terminal
 * (pidfd/client's `child.terminal`). What the program prints goes into xterm; keystrokes go
 * back as they are typed; when the container changes size, the fitted size is sent as a
 * `resize`, so the program gets SIGWINCH and redraws.
 */
import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import type { RemoteTerminal } from '../client/index.js';
import { routeStyleElementsToAdoptedSheets } from './adopted-styles.js';

/**
 * Lines kept above the screen. xterm's buffer is the page's only copy of a terminal's output
 * (nothing else is kept), so this is what bounds a terminal pane's memory.
 */
export const SCROLLBACK_LINES = 2000;

export interface TerminalView {
	/** The size that fits the pane now: what to start the program with. */
	readonly cols: number;
	readonly rows: number;
	/**
	 * Connects the screen to a program's terminal. `onSize` hears every size the host has
	 * applied: the size the program sees.
	 */
	connect(terminal: RemoteTerminal, onSize: (cols: number, rows: number) => void): void;
	/** The program has ended: no more keystrokes or sizes are sent; its last screen stays. */
	end(): void;
	focus(): void;
	/** Frees the screen, for a pane dropped before its program started. */
	dispose(): void;
}

/** Opens xterm in `container`, which must be in the document and have a height of its own. */
export function createTerminalView(container: HTMLElement): TerminalView {
	routeStyleElementsToAdoptedSheets();
	const term = new Terminal({
		scrollback: SCROLLBACK_LINES,
		fontFamily: 'ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace',
		fontSize: 14,
		cursorBlink: true,
		theme: { background: '#11161c', foreground: '#e3e8ee' },
	});
	const fit = new FitAddon();
	term.loadAddon(fit);
	term.open(container);
	fit.fit();
	// A closed <details> has no size: fit() then leaves the size alone.
	const resizes = new ResizeObserver(() => fit.fit());
	resizes.observe(container);
	let ended = false;

	return {
		get cols() {
			return term.cols;
		},
		get rows() {
			return term.rows;
		},
		connect(terminal, onSize) {
			void showOutput(terminal.readable, term);
			sendKeystrokes(terminal.writable, term, () => ended);
			const syncSize = sizeSender(terminal, term, () => ended, onSize);
			term.onResize(syncSize);
			// The pane may have changed size while the program was starting.
			syncSize();
		},
		end() {
			ended = true;
			term.options.disableStdin = true;
			term.options.cursorBlink = false;
		},
		focus() {
			term.focus();
		},
		dispose() {
			ended = true;
			resizes.disconnect();
			term.dispose();
		},
	};
}

/**
 * Reads the terminal's output into xterm one chunk at a time, waiting for xterm to take each
 * one before reading the next: unread output stays within the stream's credit window, so a
 * program that prints faster than the page draws is held back by the host, and the page's
 * memory stays flat.
 */
async function showOutput(readable: ReadableStream<Uint8Array>, term: Terminal): Promise<void> {
	const reader = readable.getReader();
	try {
		for (;;) {
			const { value, done } = await reader.read();
			if (done) return;
			await new Promise<void>((taken) => term.write(value, taken));
		}
	} catch {
		// The connection ended; the pane's state line says so.
	}
}

function sendKeystrokes(writable: WritableStream<Uint8Array | string>, term: Terminal, ended: () => boolean): void {
	const writer = writable.getWriter();
	const send = (data: Uint8Array | string) => {
		// After the program ended, a keystroke has nowhere to go: dropping it is the answer.
		if (!ended()) writer.write(data).catch(() => {});
	};
	term.onData(send);
	// Some mouse reports are raw bytes, one per character, not UTF-8.
	term.onBinary((data) => send(Uint8Array.from(data, (c) => c.charCodeAt(0))));
}

/**
 * Sends xterm's size to the host whenever it differs from the program's, one request at a
 * time: a drag that resizes the pane many times sends the sizes it can, ending with the last.
 */
function sizeSender(terminal: RemoteTerminal, term: Terminal, ended: () => boolean, onSize: (cols: number, rows: number) => void): () => void {
	let sending = false;
	return async () => {
		if (sending) return;
		sending = true;
		try {
			while (!ended() && (terminal.cols !== term.cols || terminal.rows !== term.rows)) await terminal.resize(term.cols, term.rows);
		} catch {
			// The program ended meanwhile (ESRCH) or the connection did: nothing to resize.
		} finally {
			sending = false;
			onSize(terminal.cols, terminal.rows);
		}
	};
}
