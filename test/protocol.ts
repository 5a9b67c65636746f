// sidecar/wire.h is the one definition of the protocol's numbers; host/sidecar/protocol.ts
// mirrors them for TypeScript. This test parses wire.h and fails on any drift: message
// types, feature bits, flags, stdio kinds, syscall ids, limits and struct sizes.
import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { PIDFD_INFO_SIZE, PidfdInfoMask, RUSAGE_SIZE, SIGINFO_SIZE } from '../host/kernel/structs.js';
import { HEADER_SIZE, MAX_FRAME } from '../host/sidecar/framing.js';
import { Feature, KillFlag, MessageType, Namespace, OpenFlag, PROTOCOL_VERSION, RELAY_LAZY, SpawnFlag, StdioKind, SYSCALLS } from '../host/sidecar/protocol.js';

const WIRE_H = readFileSync(new URL('../sidecar/wire.h', import.meta.url), 'utf8');

/** Evaluates the constant expressions wire.h uses: numbers, shifts, ors, parentheses, u/ull suffixes. */
function evaluate(expr: string, known: Map<string, number>): number | undefined {
	const cleaned = expr
		.replace(/\/\*.*?\*\//g, '')
		.replace(/\b(0x[0-9a-f]+|\d+)(?:u|ull|ul|ll)?\b/gi, '$1')
		.trim();
	const withNames = cleaned.replace(/\b[A-Z_][A-Z0-9_]*\b/g, (name) => (known.has(name) ? String(known.get(name)) : name));
	if (!/^[\d\sx()<|a-f+*-]+$/i.test(withNames)) return undefined;
	// Shifts past 31 bits stay exact as BigInt.
	const big = withNames.replace(/\b(0x[0-9a-f]+|\d+)\b/gi, '$1n');
	try {
		return Number(Function(`"use strict"; return (${big});`)() as bigint);
	} catch {
		return undefined;
	}
}

/** Every `#define NAME value` and enum member of a C header, with its value. */
export function parseHeader(text: string): Map<string, number> {
	const constants = new Map<string, number>();
	const source = text.replace(/\/\*[\s\S]*?\*\//g, '');
	for (const m of source.matchAll(/^#define\s+([A-Z_][A-Z0-9_]*)\s+(.+)$/gm)) {
		const value = evaluate(m[2]!, constants);
		if (value !== undefined) constants.set(m[1]!, value);
	}
	for (const m of source.matchAll(/enum\s*\{([^}]*)\}/g)) {
		let next = 0;
		for (const raw of m[1]!.split(',')) {
			const member = raw.trim();
			if (!member) continue;
			const [name, value] = member.split('=').map((s) => s.trim());
			const number = value === undefined ? next : evaluate(value, constants);
			if (number === undefined) continue;
			constants.set(name!, number);
			next = number + 1;
		}
	}
	for (const m of source.matchAll(/_Static_assert\(sizeof\(struct (\w+)\)\s*==\s*(\d+)/g)) constants.set(`sizeof ${m[1]}`, Number(m[2]));
	return constants;
}

/** CamelCase to SCREAMING_SNAKE: `pidfdGetInfo` → `PIDFD_GET_INFO`, `clone3` → `CLONE3`. */
const screaming = (name: string) => name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();

/** The list of disagreements between a parsed wire.h and the TypeScript tables. */
export function drift(c: Map<string, number>): string[] {
	const problems: string[] = [];
	const expect = (cName: string, tsName: string, tsValue: number) => {
		const cValue = c.get(cName);
		if (cValue === undefined) problems.push(`${tsName} = ${tsValue}: wire.h has no ${cName}`);
		else if (cValue !== tsValue) problems.push(`${tsName} = ${tsValue} but wire.h ${cName} = ${cValue}`);
	};
	/** Every C constant with this prefix must have its TypeScript twin (nothing only on one side). */
	const covered = (prefix: string, names: string[], except: string[] = []) => {
		for (const name of c.keys()) {
			if (name.startsWith(prefix) && !names.includes(name) && !except.includes(name)) problems.push(`wire.h ${name} has no TypeScript twin`);
		}
	};
	expect('PROTOCOL_VERSION', 'PROTOCOL_VERSION', PROTOCOL_VERSION);
	expect('WIRE_MAX_FRAME', 'MAX_FRAME', MAX_FRAME);
	expect('WIRE_HDR_SIZE', 'HEADER_SIZE', HEADER_SIZE);
	const table = (prefix: string, what: string, values: Record<string, number>, nameOf = (k: string) => k, except: string[] = []) => {
		const names = Object.entries(values).map(([k, v]) => {
			const cName = `${prefix}${nameOf(k)}`;
			expect(cName, `${what}.${k}`, v);
			return cName;
		});
		covered(prefix, names, except);
	};
	table('MSG_', 'MessageType', MessageType);
	table('FEAT_', 'Feature', Feature, screaming);
	table('SPAWN_', 'SpawnFlag', SpawnFlag, (k) => k, ['SPAWN_ALL_FLAGS']);
	expect(
		'SPAWN_ALL_FLAGS',
		'every SpawnFlag',
		Object.values(SpawnFlag).reduce((a, b) => a | b, 0),
	);
	table('STDIO_', 'StdioKind', StdioKind);
	expect('RELAY_LAZY', 'RELAY_LAZY', RELAY_LAZY);
	table('NS_', 'Namespace', Namespace, (k) => k, ['NS_ALL']);
	expect(
		'NS_ALL',
		'every Namespace',
		Object.values(Namespace).reduce((a, b) => a | b, 0),
	);
	table('KILL_', 'KillFlag', KillFlag);
	table('OPEN_', 'OpenFlag', OpenFlag);
	table('PIDFD_INFO_', 'PidfdInfoMask', PidfdInfoMask);
	const syscalls = Object.fromEntries(SYSCALLS.map((name, id) => [name === '' ? 'NONE' : name.toUpperCase(), id]));
	table('SC_', 'SYSCALLS', syscalls);
	expect('KERNEL_SIGINFO_SIZE', 'SIGINFO_SIZE', SIGINFO_SIZE);
	expect('sizeof kernel_rusage', 'RUSAGE_SIZE', RUSAGE_SIZE);
	expect('sizeof wire_pidfd_info', 'PIDFD_INFO_SIZE', PIDFD_INFO_SIZE);
	return problems;
}

const protocol = suite('one protocol definition: wire.h and the TypeScript tables agree');

protocol('no drift', () => {
	assert.equal(drift(parseHeader(WIRE_H)), []);
});

protocol('the parser reads what wire.h holds (enums, shifts, suffixes)', () => {
	const c = parseHeader(WIRE_H);
	assert.is(c.get('MSG_SPAWN'), 100);
	assert.is(c.get('SC_NONE'), 0);
	assert.is(c.get('SC_CLONE3'), 1);
	assert.is(c.get('WIRE_MAX_FRAME'), 16 << 20);
	assert.ok((c.get('FEAT_CLONE3') ?? 0) > 0);
});

// Each side changed alone must be caught: the test is only worth something if it can fail.
protocol('a number changed in wire.h alone is drift', () => {
	const changed = WIRE_H.replace(/(MSG_KILL\s*=\s*)101/, '$1199');
	assert.is.not(changed, WIRE_H);
	assert.ok(drift(parseHeader(changed)).some((p) => p.includes('MessageType.KILL')));
});

protocol('a feature bit, a syscall id or a stdio kind changed alone is drift', () => {
	const c = parseHeader(WIRE_H);
	for (const name of ['FEAT_CLONE3', 'SC_WAITID', 'STDIO_FILE', 'SPAWN_SETSID']) {
		const copy = new Map(c);
		copy.set(name, (copy.get(name) ?? 0) + 1024);
		assert.ok(drift(copy).length > 0, name);
	}
});

protocol('a constant only in wire.h is drift', () => {
	const c = parseHeader(`${WIRE_H}\n#define FEAT_SOMETHING_NEW (1u << 30)\n`);
	assert.ok(drift(c).some((p) => p.includes('FEAT_SOMETHING_NEW')));
});

protocol.run();
