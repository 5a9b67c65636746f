import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';

/** The page's files: built by `npm run build` (scripts/build-ui.mjs) into dist/ui/. */
const FILES: Readonly<Record<string, { name: string; type: string }>> = {
	'/': { name: 'index.html', type: 'text/html; charset=utf-8' },
	'/app.js': { name: 'app.js', type: 'text/javascript; charset=utf-8' },
	'/style.css': { name: 'style.css', type: 'text/css; charset=utf-8' },
};

/**
 * Scripts and styles from this server only, no inline code, and WebSocket connections back to
 * it only ('self' covers ws: on the same host and port); no framing, no form posts elsewhere.
 */
const CSP =
	"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * The `pidfd serve --ui` page, read once at startup: from ui/ beside the bundle (dist/cli.mjs
 * and dist/ui/ ship together), else from dist/ui/ of a source checkout. Returns the handler
 * for plain HTTP requests; WebSocket upgrades never reach it.
 */
export function loadUi(): (req: IncomingMessage, res: ServerResponse) => void {
	const dirs = [new URL('./ui/', import.meta.url), new URL('../../dist/ui/', import.meta.url)];
	let files: Map<string, { body: Buffer; type: string }> | undefined;
	for (const dir of dirs) {
		try {
			files = new Map(Object.entries(FILES).map(([path, { name, type }]) => [path, { body: readFileSync(new URL(name, dir)), type }]));
			break;
		} catch {}
	}
	if (!files) throw new Error(`serve: --ui: the page is not built (looked in ${dirs.map((d) => fileURLToPath(d)).join(' and ')}); run \`npm run build\``);
	const found = files;

	return (req, res) => {
		const path = new URL(req.url ?? '/', 'http://x').pathname;
		const file = found.get(path === '/index.html' ? '/' : path);
		if (req.method !== 'GET' && req.method !== 'HEAD') {
			res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
			return;
		}
		if (!file) {
			res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
			return;
		}
		res.writeHead(200, {
			'Content-Type': file.type,
			'Content-Length': file.body.byteLength,
			'Content-Security-Policy': CSP,
			'X-Content-Type-Options': 'nosniff',
			'Referrer-Policy': 'no-referrer',
			'Cache-Control': 'no-store',
		});
		res.end(req.method === 'HEAD' ? undefined : file.body);
	};
}
