/**
 * The README's chart, drawn by hand as SVG: for each headline metric, how many times better
 * pidfd on Node is than each peer. Log scale centred on 1×, so "2× faster" and "2× slower"
 * are bars of the same length on either side.
 */
import { advantage, METRICS, type Medians } from './metrics.js';

const COLORS = ['#6b7280', '#2563eb', '#16a34a', '#f59e0b', '#db2777', '#7c3aed', '#0891b2'];
const LIMIT = 16; // bars are clipped at 16× either way; the label still shows the real value

export function chart(m: Medians, subject: string, peers: { id: string; label: string }[], title: string): string {
	const metrics = METRICS.filter((x) => x.headline);
	const width = 820;
	const left = 250;
	const right = 70;
	const bar = 11;
	const gap = 10;
	const top = 72;
	const group = peers.length * (bar + 2) + gap;
	const height = top + metrics.length * group + 30;
	const plot = width - left - right;
	const x = (v: number) => left + plot / 2 + (Math.log(Math.min(LIMIT, Math.max(1 / LIMIT, v))) / Math.log(LIMIT)) * (plot / 2);
	const out: string[] = [];
	out.push(
		`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="11">`,
	);
	out.push(`<rect width="100%" height="100%" fill="#fff"/>`);
	out.push(`<text x="${width / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`);
	// Legend, one swatch per peer.
	let lx = left;
	peers.forEach((p, i) => {
		out.push(`<rect x="${lx}" y="28" width="10" height="10" fill="${COLORS[i % COLORS.length]}"/>`);
		out.push(`<text x="${lx + 14}" y="37">${esc(p.label)}</text>`);
		lx += 24 + p.label.length * 6.8;
	});
	// Axis ticks: 1/16× .. 16×, powers of two.
	for (const t of [1 / 16, 1 / 8, 1 / 4, 1 / 2, 1, 2, 4, 8, 16]) {
		const tx = x(t);
		out.push(`<line x1="${tx}" y1="${top - 6}" x2="${tx}" y2="${height - 26}" stroke="${t === 1 ? '#111' : '#e5e7eb'}"/>`);
		out.push(`<text x="${tx}" y="${height - 12}" text-anchor="middle" fill="#555">${t < 1 ? `1/${1 / t}` : t}×</text>`);
	}
	out.push(`<text x="${x(1 / 16)}" y="${top - 10}" fill="#b91c1c">◀ peer better</text>`);
	out.push(`<text x="${x(16)}" y="${top - 10}" text-anchor="end" fill="#15803d">pidfd better ▶</text>`);
	metrics.forEach((metric, g) => {
		const gy = top + g * group;
		out.push(`<text x="${left - 8}" y="${gy + (group - gap) / 2 + 4}" text-anchor="end">${esc(metric.label)}</text>`);
		peers.forEach((p, i) => {
			const a = advantage(m, subject, p.id, metric);
			const y = gy + i * (bar + 2);
			if (!Number.isFinite(a)) {
				out.push(`<text x="${x(1) + 4}" y="${y + bar - 2}" fill="#999">n/a</text>`);
				return;
			}
			const x0 = Math.min(x(1), x(a));
			const w = Math.max(1, Math.abs(x(a) - x(1)));
			out.push(`<rect x="${x0.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${bar}" fill="${COLORS[i % COLORS.length]}"/>`);
			const labelX = a >= 1 ? x(a) + 4 : x(a) - 4;
			out.push(`<text x="${labelX.toFixed(1)}" y="${y + bar - 2}" text-anchor="${a >= 1 ? 'start' : 'end'}">${a >= 10 ? a.toFixed(0) : a.toFixed(2)}×</text>`);
		});
	});
	out.push('</svg>');
	return `${out.join('\n')}\n`;
}

function esc(s: string): string {
	return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
