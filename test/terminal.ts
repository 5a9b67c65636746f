// Terminals: children on a pseudo-terminal the sidecar opens, the master relayed to the host.
// Cases after node-pty's Unix tests (src/unixTerminal.test.ts) and Bun's terminal tests where
// they apply, named in each label.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type Child, InvalidArgumentError, type SpawnOptions, sidecarInfo, spawn } from '../host/index.js';
import { eventually, within } from './helpers/deadline.js';
import { exec, fixtureReport } from './helpers/exec.js';
import { testIf } from './helpers/skip.js';
import { seccompMissing, seccompSidecar } from './helpers/seccomp.js';

const LIMIT = 20_000;
/** `seq 1 150000` on a terminal: 938,895 bytes, each of its 150,000 newlines made CR LF. */
const SEQ_BYTES = 938_895 + 150_000;

/**
 * On Node the host holds the master itself by default (direct); the relay carries it both ways
 * on Bun and Deno, and here when asked. The library's suites run on both.
 */
const TRANSPORTS = ['direct', 'relay'] as const;
const spawnOver =
	(transport: (typeof TRANSPORTS)[number]) =>
	(file: string, args: string[], options: SpawnOptions): Promise<Child> =>
		spawn(file, args, { ...options, stdioTransport: transport });

/** Everything the terminal shows until its end. */
async function screen(child: Child): Promise<string> {
	let text = '';
	for await (const chunk of child.terminal!) text += chunk;
	return text;
}

/** Collects output as it comes, to wait for a prompt or an answer. */
function watch(child: Child): { text: () => string } {
	let text = '';
	child.terminal!.on('data', (chunk: Buffer) => {
		text += chunk;
	});
	return { text: () => text };
}

// ---

for (const transport of TRANSPORTS) {
	const spawn = spawnOver(transport);
	const basics = suite(`a child on a terminal (${transport})`);

	basics('tty names a /dev/pts device; stdin and stdout are terminals; stdio streams are null (Bun: terminal option)', async () => {
		const child = await spawn('sh', ['-c', 'tty; test -t 0 && test -t 1 && test -t 2 && echo all-ttys'], { terminal: true });
		assert.is(child.stdin, null);
		assert.is(child.stdout, null);
		assert.is(child.stderr, null);
		const text = await within(LIMIT, screen(child));
		assert.match(text, /^\/dev\/pts\/\d+\r\n/);
		assert.match(text, 'all-ttys\r\n');
		assert.is((await child.wait()).code, 0);
	});

	basics('stty size reports the size asked for (node-pty: "should return the size"); TERM from name', async () => {
		const child = await spawn('sh', ['-c', 'stty size; echo "$TERM"'], { terminal: { cols: 132, rows: 43, name: 'vt100' } });
		assert.equal([child.terminal!.cols, child.terminal!.rows], [132, 43]);
		assert.is(await within(LIMIT, screen(child)), '43 132\r\nvt100\r\n');
	});

	basics('defaults: 80 × 24, xterm-256color; an explicit env TERM wins', async () => {
		assert.is(await within(LIMIT, screen(await spawn('sh', ['-c', 'stty size; echo "$TERM"'], { terminal: true }))), '24 80\r\nxterm-256color\r\n');
		const own = await spawn('sh', ['-c', 'echo "$TERM"'], { terminal: true, env: { TERM: 'dumb', PATH: process.env.PATH } });
		assert.is(await within(LIMIT, screen(own)), 'dumb\r\n');
	});

	basics('the child leads a session whose controlling terminal is the pty', async () => {
		const child = await spawn('sh', ['-c', 'ps -o sid=,pgid=,tty= -p $$'], { terminal: true });
		const [sid, pgid, tty] = (await within(LIMIT, screen(child))).trim().split(/\s+/);
		assert.is(Number(sid), child.pid);
		assert.is(Number(pgid), child.pid);
		assert.match(tty!, /^pts\/\d+$/);
	});

	basics('wait() has the exit code and the rusage; the terminal ends cleanly, not with EIO', async () => {
		const child = await spawn('sh', ['-c', 'echo bye; exit 3'], { terminal: true });
		const errors: unknown[] = [];
		child.terminal!.on('error', (e) => errors.push(e));
		assert.is(await within(LIMIT, screen(child)), 'bye\r\n');
		const exit = await child.wait();
		assert.is(exit.code, 3);
		assert.ok(exit.rusage!.maxRssKiB > 0);
		assert.equal(errors, []);
	});

	basics('bad sizes are refused before anything starts', async () => {
		for (const terminal of [{ cols: 0 }, { rows: -1 }, { cols: 65536 }, { rows: 1.5 }, { colour: 1 }]) {
			assert.instance(await spawn('true', [], { terminal } as never).catch((e: unknown) => e), InvalidArgumentError, JSON.stringify(terminal));
		}
	});

	basics.run();
}

// ---

for (const transport of TRANSPORTS) {
	const spawn = spawnOver(transport);
	const interactive = suite(`interactive use (${transport})`);

	interactive('sh -i computes $((6*7)), and `exit 3` ends it with code 3 (node-pty: "should open a pty")', async () => {
		const child = await spawn('sh', ['-i'], { terminal: true, env: { PATH: process.env.PATH, PS1: '$ ' } });
		const out = watch(child);
		// Type only at the prompt: a shell may flush what was typed before it set the terminal up.
		await eventually(LIMIT, () => out.text().includes('$ '), 'the prompt');
		child.terminal!.write('echo $((6*7))\n');
		await eventually(LIMIT, () => /\r\n42\r\n/.test(out.text()), 'the answer');
		child.terminal!.write('exit 3\n');
		assert.is((await within(LIMIT, child.wait())).code, 3);
	});

	interactive('^C interrupts the foreground sleep, not the host; the shell goes on', async () => {
		const child = await spawn('sh', ['-i'], { terminal: true, env: { PATH: process.env.PATH, PS1: '$ ' } });
		try {
			const out = watch(child);
			await eventually(LIMIT, () => out.text().includes('$ '), 'the prompt');
			child.terminal!.write('sleep 30\n');
			await eventually(LIMIT, () => readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim() !== '', 'sleep started');
			child.terminal!.write('\x03');
			child.terminal!.write('echo after-sleep $?\n');
			await eventually(LIMIT, () => /after-sleep 130/.test(out.text()), 'sleep ended by SIGINT (128 + 2)');
			child.terminal!.write('exit 0\n');
			assert.is((await within(LIMIT, child.wait())).code, 0);
		} finally {
			await child.kill('SIGKILL');
		}
	});

	interactive('resize() changes what stty reports and the foreground job gets SIGWINCH (node-pty: "resize")', async () => {
		const child = await spawn('sh', ['-c', 'trap "echo winched" WINCH; echo ready; read line; stty size'], { terminal: { cols: 80, rows: 24 } });
		const out = watch(child);
		await eventually(LIMIT, () => out.text().includes('ready'), 'ready');
		await child.terminal!.resize(100, 40);
		assert.equal([child.terminal!.cols, child.terminal!.rows], [100, 40]);
		child.terminal!.write('\n');
		await within(LIMIT, child.wait());
		await eventually(LIMIT, () => out.text().includes('40 100'), 'the new size');
		assert.match(out.text(), 'winched');
		assert.instance(await child.terminal!.resize(0, 10).catch((e: unknown) => e), InvalidArgumentError);
	});

	interactive('setRawMode(true) turns echo, canonical lines and ^C off; false gives them back (Bun: setRawMode)', async () => {
		// `stty -a` prints each flag, prefixed with '-' when off: read between two markers.
		const flags = (text: string, mark: string) => {
			const part = text.slice(text.indexOf(`<${mark}>`), text.indexOf(`</${mark}>`));
			return Object.fromEntries(['echo', 'icanon', 'isig', 'icrnl', 'opost'].map((f) => [f, new RegExp(`(^|\\s)${f}(\\s|$)`).test(part)]));
		};
		const child = await spawn('sh', ['-c', 'echo ready; read a; echo "<raw>"; stty -a; echo "</raw>"; read b; echo "<cooked>"; stty -a; echo "</cooked>"'], {
			terminal: true,
		});
		const out = watch(child);
		assert.is(child.terminal!.isRaw, false);
		await eventually(LIMIT, () => out.text().includes('ready'), 'ready');
		await child.terminal!.setRawMode(true);
		assert.is(child.terminal!.isRaw, true);
		child.terminal!.write('typed\n');
		await eventually(LIMIT, () => out.text().includes('</raw>'), 'stty in raw mode');
		assert.not.match(out.text(), 'typed', 'no echo in raw mode');
		assert.equal(flags(out.text(), 'raw'), { echo: false, icanon: false, isig: false, icrnl: false, opost: false });
		await child.terminal!.setRawMode(false);
		assert.is(child.terminal!.isRaw, false);
		child.terminal!.write('again\r');
		await within(LIMIT, child.wait());
		await eventually(LIMIT, () => out.text().includes('</cooked>'), 'stty cooked again');
		assert.match(out.text(), 'again', 'echoed once cooked');
		assert.equal(flags(out.text(), 'cooked'), { echo: true, icanon: true, isig: true, icrnl: true, opost: true });
		assert.instance(await child.terminal!.setRawMode('yes' as unknown as boolean).catch((e: unknown) => e), InvalidArgumentError);
		// Once the terminal has ended, the sidecar no longer has it.
		await within(LIMIT, finished(child.terminal!));
		const late = (await child.terminal!.setRawMode(true).catch((e: unknown) => e)) as { code?: string };
		assert.is(late.code, 'EBADF');
	});

	interactive.run();
}

// ---

for (const transport of TRANSPORTS) {
	const spawn = spawnOver(transport);
	const volume = suite(`volume and leaks (${transport})`);

	volume('64 MiB of output arrives whole', async () => {
		const size = 64 * 1024 * 1024;
		const child = await spawn('sh', ['-c', `head -c ${size} /dev/zero | tr '\\0' a`], { terminal: true });
		let count = 0;
		let other = 0;
		for await (const chunk of child.terminal! as AsyncIterable<Buffer>) {
			count += chunk.length;
			for (const byte of chunk) if (byte !== 0x61) other++;
		}
		assert.is(other, 0);
		assert.is(count, size);
		assert.is((await child.wait()).code, 0);
	});

	volume("the terminal's bytes pass through the sidecar only when relayed", async () => {
		const { pid } = await sidecarInfo();
		const read = () => Number(/^rchar:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))![1]);
		const before = read();
		// seq reads nothing: the sidecar's count includes its children's once it has reaped them.
		const child = await spawn('seq', ['1', '150000'], { terminal: true });
		let count = 0;
		for await (const chunk of child.terminal! as AsyncIterable<Buffer>) count += chunk.length;
		assert.is(count, SEQ_BYTES);
		const through = read() - before;
		if (transport === 'direct') assert.ok(through < 64 * 1024, `the sidecar read ${through} bytes`);
		else assert.ok(through >= SEQ_BYTES, `the sidecar read only ${through} bytes`);
	});

	volume('2,000 terminals opened and closed leave no pty and no fd behind', async () => {
		const { pid } = await sidecarInfo();
		const fds = () => readdirSync(`/proc/${pid}/fd`).length;
		const ptys = () => Number(readFileSync('/proc/sys/kernel/pty/nr', 'utf8'));
		// The host holds no master (it rides the relay): its fd count is checked all the same.
		const hostFds = () => readdirSync('/proc/self/fd').length;
		const before = { fds: fds(), ptys: ptys(), host: hostFds() };
		for (let i = 0; i < 2000; i += 20) {
			await within(
				LIMIT,
				Promise.all(
					Array.from({ length: 20 }, async () => {
						const child = await spawn('true', [], { terminal: true });
						await screen(child);
						await child.wait();
					}),
				),
			);
		}
		await eventually(LIMIT, () => fds() === before.fds, `sidecar fds back to ${before.fds} (now ${fds()})`);
		await eventually(LIMIT, () => ptys() <= before.ptys, `ptys back to ${before.ptys} (now ${ptys()})`);
		await eventually(LIMIT, () => hostFds() <= before.host, `host fds back to ${before.host} (now ${hostFds()})`);
	});

	volume('writing after the child exited fails through the stream, never as an uncaught throw', async () => {
		const child = await spawn('true', [], { terminal: true });
		await screen(child);
		await child.wait();
		const error = await new Promise<unknown>((resolve) => {
			child.terminal!.once('error', resolve);
			child.terminal!.write('late\n', (e) => e && resolve(e));
		});
		assert.instance(error, Error);
	});

	volume.run();
}

// ---

const cli = suite('pidfd run --tty: a terminal bridged to yours');

/** The CLI run on a terminal of ours, so that its own stdin and stdout are a tty. */
function cliOnTerminal(args: string[], size = { cols: 70, rows: 20 }): Promise<Child> {
	return spawn(process.execPath, ['--import', 'tsx', 'host/cli/main.ts', 'run', '--tty', '--', ...args], { terminal: { ...size, name: 'vt220' } });
}

cli('the command gets a terminal of its own, with our size and TERM; then the usual report', async () => {
	const outer = await cliOnTerminal(['sh', '-c', 'tty; stty size; echo "TERM=$TERM"; exit 4']);
	const text = await within(LIMIT, screen(outer));
	// Node's raw mode keeps ONLCR on our side, so the inner \r\n shows as \r\r\n: the same on screen.
	const lines = text.split(/\r+\n/);
	assert.match(lines[0]!, /^\/dev\/pts\/\d+$/);
	assert.is(lines[1], '20 70');
	assert.is(lines[2], 'TERM=vt220');
	assert.match(text, /pidfd: sh exited with code 4/);
	assert.is((await outer.wait()).code, 4);
});

cli('our window size follows (SIGWINCH), and our terminal is given back cooked', async () => {
	const script = 'echo ready; while read line; do stty size; done';
	// An outer shell runs the CLI, then shows whether its terminal is canonical again.
	const outer = await spawn(
		'sh',
		['-c', `${process.execPath} --import tsx host/cli/main.ts run --tty -- sh -c '${script}'; stty -a | grep -o -- '-\\?icanon' | head -1`],
		{
			terminal: { cols: 70, rows: 20 },
		},
	);
	const out = watch(outer);
	await eventually(LIMIT, () => out.text().includes('ready'), 'ready');
	await outer.terminal!.resize(100, 30);
	// Each line asks for the size again, until the new one shows.
	await eventually(
		LIMIT,
		() => {
			outer.terminal!.write('\n');
			return out.text().includes('30 100');
		},
		'the new size inside',
	);
	outer.terminal!.write('\x04'); // EOF ends the read loop, then the inner sh
	await within(LIMIT, outer.wait());
	await eventually(LIMIT, () => /\r\nicanon\r\n/.test(out.text()), `icanon restored (${JSON.stringify(out.text().slice(-200))})`);
});

cli('SIGTERM to the CLI: passed on to the command, then the report, and our terminal cooked again', async () => {
	// In the background of a non-interactive sh (same process group, so it may set the
	// terminal's mode); its stdin named explicitly, as `&` would give it /dev/null.
	const cliRun = `${process.execPath} --import tsx host/cli/main.ts run --tty -- sh -c 'echo ready; exec sleep 100' </dev/tty`;
	const outer = await spawn('sh', ['-c', `${cliRun} & echo "cli=$!"; wait $!; stty -a | grep -o -- '-\\?icanon' | head -1`], {
		terminal: { cols: 70, rows: 20 },
	});
	const out = watch(outer);
	await eventually(LIMIT, () => out.text().includes('ready') && /cli=\d+/.test(out.text()), 'ready');
	process.kill(Number(/cli=(\d+)/.exec(out.text())![1]), 'SIGTERM');
	await within(LIMIT, outer.wait());
	await eventually(LIMIT, () => /\r\nicanon\r\n/.test(out.text()), `icanon restored (${JSON.stringify(out.text().slice(-300))})`);
	assert.match(out.text(), /killed by SIGTERM/);
});

cli.run();

// ---

for (const transport of TRANSPORTS) {
	const spawn = spawnOver(transport);
	const faults = suite(`terminal faults (${transport})`);

	faults('a host that never reads the terminal blocks the child, with flat memory', async () => {
		const { pid: sidecar } = await sidecarInfo();
		const rss = () => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${sidecar}/status`, 'utf8'))![1]);
		const wrote = (pid: number) => Number(/^wchar:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))![1]);
		const before = rss();
		const child = await spawn('cat', ['/dev/zero'], { terminal: true });
		child.terminal!.pause();
		try {
			let last = -1;
			// No progress between two looks: blocked on the full terminal (a running cat writes MiBs).
			await eventually(
				LIMIT,
				() => {
					const now = wrote(child.pid);
					const stuck = now === last;
					last = now;
					return stuck;
				},
				'cat blocked',
			);
			assert.ok(last < 4 * 1024 * 1024, `cat wrote ${last} bytes before blocking`);
			assert.ok(rss() - before < 1024, `sidecar RSS ${before} → ${rss()} KiB`);
		} finally {
			await child.kill('SIGKILL');
			await within(LIMIT, child.wait());
		}
	});

	faults(
		'a child that never reads its terminal: raw, the writer is held back with flat memory; cooked, the line discipline drops what its line cannot hold',
		async () => {
			const { pid: sidecar } = await sidecarInfo();
			const rss = () => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${sidecar}/status`, 'utf8'))![1]);
			const chunk = Buffer.alloc(64 * 1024, 0x61);
			/** Writes up to `total` bytes, waiting for 'drain' when asked; resolves with what was taken. */
			const feed = (terminal: NonNullable<Child['terminal']>, total: number, progress: { taken: number }) =>
				(async () => {
					while (progress.taken < total) {
						progress.taken += chunk.length;
						if (!terminal.write(chunk)) await new Promise((resolve) => terminal.once('drain', resolve));
					}
				})();

			/**
			 * Raw then cooked; from `before` on, the sidecar's RSS may not grow by 1 MiB. Run twice,
			 * measured the second time: a sidecar started by an earlier test (one kills it) touches
			 * its bounded buffers and code for the first time in the first run, which is not growth
			 * (under ASan that first touch alone was 1.5 MB).
			 */
			const scenario = async (before?: number) => {
				const raw = await spawn('sleep', ['30'], { terminal: true });
				await raw.terminal!.setRawMode(true);
				const rawProgress = { taken: 0 };
				void feed(raw.terminal!, 64 * 1024 * 1024, rawProgress);
				let last = -1;
				// No progress between two looks: held back (the pty's input queue is full, nobody reads it).
				await eventually(
					LIMIT,
					() => {
						const stuck = rawProgress.taken === last && raw.terminal!.writableLength > 0;
						last = rawProgress.taken;
						return stuck;
					},
					'the writer held back',
				);
				assert.ok(last < 1024 * 1024, `${last} bytes taken before it was held back`);
				if (before !== undefined) assert.ok(rss() - before < 1024, `sidecar RSS ${before} → ${rss()} KiB`);
				await raw.kill('SIGKILL');
				await within(LIMIT, raw.wait());

				const cooked = await spawn('sleep', ['30'], { terminal: true });
				const cookedProgress = { taken: 0 };
				await within(LIMIT, feed(cooked.terminal!, 8 * 1024 * 1024, cookedProgress), '8 MiB into a cooked terminal');
				if (before !== undefined) assert.ok(rss() - before < 1024, `sidecar RSS ${before} → ${rss()} KiB`);
				await cooked.kill('SIGKILL');
				await within(LIMIT, cooked.wait());
			};
			await scenario();
			await scenario(rss());
		},
	);

	faults('the sidecar killed mid-session ends the terminal with its death', async () => {
		const child = await spawn('sh', ['-i'], { terminal: true, env: { PATH: process.env.PATH, PS1: '$ ' } });
		const out = watch(child);
		const failed = new Promise<unknown>((resolve) => child.terminal!.once('error', resolve));
		await eventually(LIMIT, () => out.text().includes('$ '), 'the prompt');
		process.kill((await sidecarInfo()).pid, 'SIGKILL');
		const error = (await within(LIMIT, failed)) as { code?: string };
		assert.is(error.code, 'ERR_PIDFD_SIDECAR_DIED');
		assert.is(((await child.wait().catch((e: unknown) => e)) as { code?: string }).code, 'ERR_PIDFD_SIDECAR_DIED');
	});

	faults.run();
}

// ---

const refused = suite("where the sidecar may not take the host's master");

testIf(
	refused,
	!seccompMissing,
	seccompMissing,
	'pidfd_getfd refused (Yama ptrace_scope 1, simulated): relayed instead, whole, and every later one too',
	async () => {
		const tmp = mkdtempSync(join(tmpdir(), 'pidfd-pty-'));
		try {
			const wrapper = await seccompSidecar(tmp, 'sidecar', ['ptrace']);
			const r = fixtureReport(await exec(process.execPath, ['--import', 'tsx', 'test/fixtures/pty-refused.ts'], { ...process.env, PIDFD_SIDECAR: wrapper }));
			for (const which of ['first', 'second']) {
				assert.is(r[which].text, `${SEQ_BYTES + 4}:\r\n42\r\n`, which);
				assert.is(r[which].code, 0, which);
				assert.ok(r[which].relayedBytes >= SEQ_BYTES, `${which}: the sidecar read ${r[which].relayedBytes} bytes`);
			}
		} finally {
			rmSync(tmp, { recursive: true, force: true });
		}
	},
);

refused.run();
