// One terminal implementation on one runtime, three measurements, one JSON line:
//   start:  spawn `sh -c 'echo ready'` on a terminal until "ready" is read (ms, median)
//   output: `head -c N /dev/zero | tr '\0' a` through the terminal (MiB/s)
//   echo:   one keystroke into `cat` on a cooked terminal until its echo is read (µs, p50/p99)
// Usage: <runtime> bench/terminal/driver.mjs pidfd|pidfd-relay|bun|node-pty [module] [bytes] [samples]
import { performance } from 'node:perf_hooks';

const [impl, module, bytesArg, samplesArg] = typeof Deno !== 'undefined' ? Deno.args : process.argv.slice(2);
const BYTES = Number(bytesArg ?? 64 * 1024 * 1024);
const SAMPLES = Number(samplesArg ?? 300);

/** A terminal session: a callback per output chunk, write(), the end. */
async function open(file, args, onData) {
	if (impl === 'pidfd' || impl === 'pidfd-relay') {
		const { spawn } = await import(module);
		// pidfd-relay: the master through the sidecar, where Node would otherwise hold it.
		const transport = impl === 'pidfd-relay' ? { stdioTransport: 'relay' } : {};
		const child = await spawn(file, args, { terminal: { cols: 80, rows: 24 }, ...transport });
		child.terminal.on('data', (d) => onData(d.length, d));
		return { write: (s) => child.terminal.write(s), ended: child.wait(), kill: () => child.kill('SIGKILL') };
	}
	if (impl === 'bun') {
		const proc = Bun.spawn([file, ...args], { terminal: { cols: 80, rows: 24, data: (_t, d) => onData(d.length, d) } });
		return { write: (s) => proc.terminal.write(s), ended: proc.exited, kill: () => proc.kill(9) };
	}
	const pty = await import(module);
	const term = pty.spawn(file, args, { cols: 80, rows: 24, encoding: null });
	const ended = new Promise((resolve) => term.onExit(resolve));
	term.onData((d) => onData(d.length, d));
	return { write: (s) => term.write(s), ended, kill: () => term.kill('SIGKILL') };
}

const median = (a) => a.sort((x, y) => x - y)[a.length >> 1];
const pct = (a, p) => a.sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(a.length * p))];

async function start() {
	const times = [];
	for (let i = 0; i < 30; i++) {
		const t0 = performance.now();
		let seen = '';
		let done;
		const ready = new Promise((resolve) => (done = resolve));
		const s = await open('sh', ['-c', 'echo ready'], (_n, d) => {
			seen += new TextDecoder().decode(d);
			if (seen.includes('ready')) done();
		});
		await ready;
		times.push(performance.now() - t0);
		// node-pty's onExit does not always come for a child that has already exited.
		if (impl !== 'node-pty') await s.ended;
	}
	return median(times);
}

async function output() {
	let got = 0;
	let done;
	const finished = new Promise((resolve) => (done = resolve));
	const t0 = performance.now();
	const s = await open('sh', ['-c', `head -c ${BYTES} /dev/zero | tr '\\0' a`], (n) => {
		got += n;
		if (got >= BYTES) done();
	});
	await finished;
	const ms = performance.now() - t0;
	if (impl !== 'node-pty') await s.ended;
	return BYTES / 1048576 / (ms / 1000);
}

async function echo() {
	let waiting;
	const s = await open('cat', [], () => waiting?.());
	const times = [];
	// The first keystrokes warm the path up; cat's terminal echoes each byte as it comes.
	for (let i = 0; i < SAMPLES + 20; i++) {
		const got = new Promise((resolve) => (waiting = resolve));
		const t0 = performance.now();
		s.write('a');
		await got;
		if (i >= 20) times.push((performance.now() - t0) * 1000);
	}
	s.kill();
	if (impl !== 'node-pty') await s.ended;
	return { p50: pct(times, 0.5), p99: pct(times, 0.99) };
}

const result = { start: await start(), output: await output(), echo: await echo() };
console.log(JSON.stringify(result));
if (impl === 'pidfd') await (await import(module)).shutdown();
if (typeof process !== 'undefined' && impl !== 'pidfd') process.exit(0);
