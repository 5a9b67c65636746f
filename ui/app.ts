/**
 * The `pidfd serve --ui` page: lists this connection's processes (polling `list()`), starts
 * allowed programs, streams their output and kills them. Plain DOM, no framework; the
 * protocol is pidfd/client's.
 *
 * Children started "in a terminal" (when the server allows terminals) get a terminal pane,
 * xterm.js, instead of the text view: see terminal-view.ts.
 *
 * The token arrives in the address's fragment (`#token=…`), which browsers never send to a
 * server: the page moves it to sessionStorage (this tab only) and drops it from the address
 * bar and the history entry at once. Without one, the page asks for it.
 */
import { type ProcessSummary, type RemoteChild, type RemoteHost, connect } from '../client/index.js';
import { type TerminalView, createTerminalView } from './terminal-view.js';

const TOKEN_KEY = 'pidfd.token';
const POLL_MS = 500;
/** Output kept per pane; older text is dropped beyond it. */
const MAX_OUTPUT_CHARS = 256 * 1024;
/**
 * Ended panes kept on the page, newest first; older ones are removed (a terminal's screen and
 * scrollback freed with them), so a page left open for days holds a bounded amount.
 */
const MAX_ENDED_PANES = 16;

const byId = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const status = byId<HTMLParagraphElement>('status');
const tokenForm = byId<HTMLFormElement>('token-form');
const tokenInput = byId<HTMLInputElement>('token');
const spawnForm = byId<HTMLFormElement>('spawn-form');
const program = byId<HTMLSelectElement>('program');
const argsInput = byId<HTMLInputElement>('args');
const terminalOption = byId<HTMLLabelElement>('terminal-option');
const terminalBox = byId<HTMLInputElement>('terminal');
const terminalHint = byId<HTMLParagraphElement>('terminal-hint');
const startButton = byId<HTMLButtonElement>('start');
const spawnError = byId<HTMLParagraphElement>('spawn-error');
const processesCard = byId<HTMLElement>('processes-card');
const limitsLine = byId<HTMLParagraphElement>('limits');
const tbody = byId<HTMLTableElement>('processes').tBodies[0]!;
const empty = byId<HTMLParagraphElement>('empty');
const outputs = byId<HTMLElement>('outputs');

/** A process this page started: its output pane, and the handle that kills it. */
interface Started {
	child: RemoteChild;
	pane: Pane;
	/**
	 * What Kill sends: SIGTERM, or SIGHUP for a terminal, as closing a terminal window does
	 * (an interactive shell ignores SIGTERM).
	 */
	killSignal: 'SIGTERM' | 'SIGHUP';
}

/** A card for one process: a summary line (command, pid, state) above its output. */
interface Pane {
	root: HTMLDetailsElement;
	meta: HTMLSpanElement;
	/** Frees what the pane holds beyond its elements (a terminal's xterm). */
	dispose?: () => void;
}

/** Ended panes, oldest first. */
const ended: Pane[] = [];

/** The text view: stdout and stderr as text, trimmed to MAX_OUTPUT_CHARS. */
interface TextPane extends Pane {
	log: HTMLPreElement;
	chars: number;
}

interface Row {
	tr: HTMLTableRowElement;
	cells: Record<'pid' | 'state' | 'cpu' | 'rss' | 'started', HTMLTableCellElement>;
	kill: HTMLButtonElement;
}

/** Running processes by pid: unique while they run, which is when Kill needs them. */
const started = new Map<number, Started>();
/** Output panes by pid (the newest, if a pid came back), for the table's links. */
const panes = new Map<number, Pane>();
const rows = new Map<number, Row>();
let host: RemoteHost | undefined;
let wake: () => void = () => {};
let paneCount = 0;

function setStatus(state: 'connecting' | 'connected' | 'error' | 'closed', text: string): void {
	status.dataset.state = state;
	status.textContent = text;
}

function readToken(): string | null {
	const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
	if (fromHash) {
		history.replaceState(null, '', location.pathname + location.search);
		try {
			sessionStorage.setItem(TOKEN_KEY, fromHash);
		} catch {}
		return fromHash;
	}
	try {
		return sessionStorage.getItem(TOKEN_KEY);
	} catch {
		return null;
	}
}

function askForToken(): void {
	tokenForm.hidden = false;
	tokenInput.focus();
}

async function start(token: string): Promise<void> {
	const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`;
	setStatus('connecting', `Connecting to ${url}…`);
	try {
		host = await connect(url, { token });
	} catch (error) {
		try {
			sessionStorage.removeItem(TOKEN_KEY);
		} catch {}
		setStatus('error', `Could not connect: ${(error as Error).message}`);
		askForToken();
		return;
	}
	const connected = host;
	tokenForm.hidden = true;
	setStatus('connected', `Connected to ${url}`);
	showPrograms(connected.allow);
	// Offered only where the server's policy allows terminals (its hello says so).
	terminalOption.hidden = terminalHint.hidden = !connected.allowTerminal;
	const { maxProcsPerConnection, maxRuntimeMs } = connected.limits;
	limitsLine.textContent = `Up to ${maxProcsPerConnection} processes at once${maxRuntimeMs === null ? '' : `, each for at most ${formatMs(maxRuntimeMs)}`}. They end when this page closes.`;
	spawnForm.hidden = false;
	processesCard.hidden = false;
	connected.closed.then(() => {
		host = undefined;
		setStatus('closed', 'Disconnected: the server ended the connection and killed its processes. Reload to reconnect.');
		startButton.disabled = true;
		for (const row of rows.values()) row.kill.disabled = true;
	});
	void poll(connected);
}

function showPrograms(allow: readonly string[]): void {
	program.replaceChildren(
		...allow.map((path) => {
			const option = document.createElement('option');
			option.value = path;
			option.textContent = `${basename(path)} (${path})`;
			return option;
		}),
	);
	if (allow.length === 0) {
		const option = document.createElement('option');
		option.textContent = 'none allowed';
		program.append(option);
		program.disabled = argsInput.disabled = terminalBox.disabled = startButton.disabled = true;
		showError('The server allows no programs: start it with --allow PATH.');
	}
}

/** Lists processes every POLL_MS, or at once after a change (wake()). */
async function poll(connected: RemoteHost): Promise<void> {
	while (host === connected) {
		try {
			render(await connected.list());
		} catch {
			// The connection is closing; its `closed` handler says so.
		}
		await new Promise<void>((resolve) => {
			const timer = setTimeout(resolve, POLL_MS);
			wake = () => {
				clearTimeout(timer);
				resolve();
			};
		});
	}
}

function render(processes: ProcessSummary[]): void {
	const seen = new Set<number>();
	for (const p of [...processes].sort((a, b) => a.child - b.child)) {
		seen.add(p.child);
		let row = rows.get(p.child);
		if (!row) {
			row = makeRow(p);
			rows.set(p.child, row);
			tbody.prepend(row.tr); // newest first
		}
		const state = describeState(p);
		row.tr.dataset.state = state.kind;
		setText(row.cells.pid, String(p.pid));
		setText(row.cells.state, state.text);
		row.cells.state.dataset.kind = state.kind;
		setText(row.cells.cpu, p.cpuMs === null ? '—' : formatMs(p.cpuMs));
		setText(row.cells.rss, p.maxRssKiB === null ? '—' : formatKiB(p.maxRssKiB));
		// Kill is offered while it runs; pressed, it stays disabled until the process is gone.
		const running = p.state === 'running' && started.has(p.pid);
		if (row.kill.hidden === running) row.kill.hidden = !running;
		if (!running || host === undefined) row.kill.disabled = true;
	}
	for (const [id, row] of rows) {
		if (seen.has(id)) continue;
		row.tr.remove();
		rows.delete(id);
	}
	empty.hidden = rows.size > 0;
}

function makeRow(p: ProcessSummary): Row {
	const tr = document.createElement('tr');
	tr.dataset.child = String(p.child);
	const cell = (className = '') => {
		const td = document.createElement('td');
		if (className) td.className = className;
		tr.append(td);
		return td;
	};
	cell('id').textContent = String(p.child);
	const command = cell('command');
	const commandText = [p.file, ...p.args].map(quote).join(' ');
	const pane = panes.get(p.pid);
	if (pane) {
		const link = document.createElement('a');
		link.href = `#${pane.root.id}`;
		link.textContent = commandText;
		link.title = 'Show its output';
		command.append(link);
	} else command.textContent = commandText;
	const cells = { pid: cell('num pid'), state: cell('state'), cpu: cell('num cpu'), rss: cell('num rss'), started: cell('started') };
	cells.started.textContent = new Date(p.startedAt).toLocaleTimeString(undefined, { hour12: false });
	const kill = document.createElement('button');
	kill.type = 'button';
	kill.className = 'kill';
	kill.textContent = 'Kill';
	kill.setAttribute('aria-label', `Kill ${basename(p.file)}, pid ${p.pid}`);
	kill.addEventListener('click', () => {
		const entry = started.get(p.pid);
		if (!entry) return;
		kill.disabled = true;
		entry.child.kill(entry.killSignal).then(wake, wake); // ESRCH: it ended meanwhile
	});
	cell('actions').append(kill);
	return { tr, cells, kill };
}

function describeState(p: ProcessSummary): { kind: 'running' | 'ok' | 'failed' | 'killed'; text: string } {
	if (p.state === 'running' || !p.exit) return { kind: 'running', text: 'running' };
	if (p.exit.status === 'signaled') return { kind: 'killed', text: `killed (${p.exit.signal ?? `signal ${p.exit.signalNumber}`})` };
	if (p.exit.code === 0) return { kind: 'ok', text: 'exited 0' };
	return { kind: 'failed', text: p.exit.code === null ? 'ended' : `exited ${p.exit.code}` };
}

async function spawnFromForm(): Promise<void> {
	if (!host) return;
	const file = program.value;
	let args: string[];
	try {
		args = splitArgs(argsInput.value);
	} catch (error) {
		showError((error as Error).message);
		return;
	}
	showError(null);
	startButton.disabled = true;
	try {
		if (terminalBox.checked && host.allowTerminal) await startInTerminal(host, file, args);
		else await startWithTextView(host, file, args);
	} catch (error) {
		const e = error as Error & { code?: string };
		showError(`${e.code ? `${e.code}: ` : ''}${e.message}`);
	} finally {
		startButton.disabled = host === undefined;
	}
}

async function startWithTextView(connected: RemoteHost, file: string, args: string[]): Promise<void> {
	const child = await connected.spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
	const log = document.createElement('pre');
	log.className = 'log';
	log.setAttribute('role', 'log');
	log.setAttribute('aria-label', `Output of ${basename(file)}, pid ${child.pid}`);
	log.tabIndex = 0;
	const pane: TextPane = { ...makePane(file, args, log), log, chars: 0 };
	track(child, pane, 'SIGTERM');
	if (child.stdout) void pump(child.stdout, pane, 'stdout');
	if (child.stderr) void pump(child.stderr, pane, 'stderr');
}

/**
 * The pane comes first: the program starts with the size that fits it. If it cannot start,
 * the pane goes again and the form shows why.
 */
async function startInTerminal(connected: RemoteHost, file: string, args: string[]): Promise<void> {
	const screen = document.createElement('div');
	screen.className = 'terminal-screen';
	screen.setAttribute('aria-label', `Terminal of ${basename(file)}`);
	const frame = document.createElement('div');
	frame.className = 'terminal-frame';
	frame.append(screen);
	const pane = makePane(file, args, frame);
	pane.root.dataset.kind = 'terminal';
	pane.meta.textContent = 'starting…';
	const size = document.createElement('span');
	size.className = 'size';
	pane.meta.after(size);
	let view: TerminalView | undefined;
	let child: RemoteChild;
	try {
		view = createTerminalView(screen);
		child = await connected.spawn(file, args, { terminal: { cols: view.cols, rows: view.rows } });
	} catch (error) {
		view?.dispose();
		pane.root.remove();
		throw error;
	}
	const shown = view;
	pane.dispose = () => shown.dispose();
	track(child, pane, 'SIGHUP', () => shown.end());
	shown.connect(child.terminal!, (cols, rows) => {
		pane.root.dataset.cols = String(cols);
		pane.root.dataset.rows = String(rows);
		size.textContent = `${cols}×${rows}`;
	});
	pane.root.scrollIntoView({ block: 'nearest' });
	shown.focus();
}

/** Registers a started child for Kill and the table's links, and shows how it ends in its pane. */
function track(child: RemoteChild, pane: Pane, killSignal: Started['killSignal'], onEnd: () => void = () => {}): void {
	pane.root.dataset.pid = String(child.pid);
	pane.meta.textContent = `pid ${child.pid} · running`;
	started.set(child.pid, { child, pane, killSignal });
	panes.set(child.pid, pane);
	child.wait().then(
		(exit) => {
			const text = exit.status === 'signaled' ? `killed (${exit.signal})` : `exited ${exit.code ?? '?'}`;
			pane.meta.textContent = `pid ${child.pid} · ${text}`;
			pane.root.dataset.state = exit.status === 'signaled' ? 'killed' : exit.code === 0 ? 'ok' : 'failed';
			started.delete(child.pid);
			onEnd();
			retire(pane);
			wake();
		},
		() => {
			pane.meta.textContent = `pid ${child.pid} · connection lost`;
			started.delete(child.pid);
			onEnd();
			retire(pane);
		},
	);
	wake();
}

/** Counts an ended pane; past MAX_ENDED_PANES the oldest ended one leaves the page. */
function retire(pane: Pane): void {
	ended.push(pane);
	while (ended.length > MAX_ENDED_PANES) {
		const old = ended.shift()!;
		old.dispose?.();
		old.root.remove();
		for (const [key, value] of panes) if (value === old) panes.delete(key);
	}
}

function makePane(file: string, args: string[], body: HTMLElement): Pane {
	const root = document.createElement('details');
	root.open = true;
	root.className = 'pane card';
	root.id = `output-${++paneCount}`;
	root.dataset.state = 'running';
	const summary = document.createElement('summary');
	const command = document.createElement('code');
	command.textContent = [basename(file), ...args].map(quote).join(' ');
	const meta = document.createElement('span');
	meta.className = 'meta';
	summary.append(command, ' ', meta);
	root.append(summary, body);
	outputs.prepend(root);
	return { root, meta };
}

/** Appends a stream's text to its pane as it comes; reading is what grants the host more credit. */
async function pump(stream: ReadableStream<Uint8Array>, pane: TextPane, kind: 'stdout' | 'stderr'): Promise<void> {
	const reader = stream.getReader();
	const decoder = new TextDecoder();
	try {
		for (;;) {
			const { value, done } = await reader.read();
			const text = done ? decoder.decode() : decoder.decode(value, { stream: true });
			if (text) append(pane, text, kind);
			if (done) return;
		}
	} catch {
		// The connection ended; the pane's state line says so.
	}
}

function append(pane: TextPane, text: string, kind: 'stdout' | 'stderr'): void {
	const { log } = pane;
	const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
	const last = log.lastElementChild as HTMLSpanElement | null;
	if (last?.dataset.stream === kind) last.append(text);
	else {
		const span = document.createElement('span');
		span.dataset.stream = kind;
		span.className = kind;
		span.textContent = text;
		log.append(span);
	}
	pane.chars += text.length;
	while (pane.chars > MAX_OUTPUT_CHARS && log.firstElementChild && log.firstElementChild !== log.lastElementChild) {
		pane.chars -= log.firstElementChild.textContent?.length ?? 0;
		log.firstElementChild.remove();
	}
	// One stream alone (`yes`) is a single span: its oldest text goes, so the bound holds too.
	const tail = log.lastElementChild;
	if (pane.chars > MAX_OUTPUT_CHARS && tail?.textContent) {
		const excess = pane.chars - MAX_OUTPUT_CHARS;
		tail.textContent = tail.textContent.slice(excess);
		pane.chars -= excess;
	}
	if (atBottom) log.scrollTop = log.scrollHeight;
}

function showError(text: string | null): void {
	spawnError.hidden = text === null;
	spawnError.textContent = text ?? '';
}

/** Splits at unquoted whitespace; '…' is literal, "…" and bare words take backslash escapes. */
function splitArgs(line: string): string[] {
	const args: string[] = [];
	let current: string | null = null;
	let quote: "'" | '"' | null = null;
	for (let i = 0; i < line.length; i++) {
		const c = line[i]!;
		if (quote === "'") {
			if (c === "'") quote = null;
			else current += c;
		} else if (c === '\\' && i + 1 < line.length && (quote === null || '"\\$`'.includes(line[i + 1]!))) {
			current = (current ?? '') + line[++i];
		} else if (quote === '"') {
			if (c === '"') quote = null;
			else current += c;
		} else if (c === "'" || c === '"') {
			quote = c;
			current ??= '';
		} else if (/\s/.test(c)) {
			if (current !== null) args.push(current);
			current = null;
		} else current = (current ?? '') + c;
	}
	if (quote) throw new Error(`Arguments: a ${quote} quote is not closed`);
	if (current !== null) args.push(current);
	return args;
}

function quote(arg: string): string {
	return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

function basename(path: string): string {
	return path.slice(path.lastIndexOf('/') + 1);
}

function setText(cell: HTMLElement, text: string): void {
	if (cell.textContent !== text) cell.textContent = text;
}

function formatMs(ms: number): string {
	if (ms < 1000) return `${ms === 0 || ms >= 10 ? Math.round(ms) : ms.toFixed(1)} ms`;
	if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
	return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

function formatKiB(kib: number): string {
	return kib < 10 * 1024 ? `${kib.toLocaleString('en')} KiB` : `${(kib / 1024).toFixed(1)} MiB`;
}

spawnForm.addEventListener('submit', (event) => {
	event.preventDefault();
	void spawnFromForm();
});
tokenForm.addEventListener('submit', (event) => {
	event.preventDefault();
	const token = tokenInput.value.trim();
	if (!token) return;
	tokenInput.value = '';
	try {
		sessionStorage.setItem(TOKEN_KEY, token);
	} catch {}
	void start(token);
});

const token = readToken();
if (token) void start(token);
else {
	setStatus('error', 'Not connected: this page needs the server’s token.');
	askForToken();
}
