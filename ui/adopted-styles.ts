/**
 * xterm.js styles each terminal with <style> elements that it creates and keeps rewriting
 * (glyph sizes, theme colours, the scrollbar). The page's Content-Security-Policy
 * (`style-src 'self'`) refuses every inline <style>, even an empty one, so those rules would
 * never apply and each one would log a violation. A constructed stylesheet adopted by the
 * document is not inline markup: CSP lets it apply. So, on this page, an element asked for as
 * <style> is a stand-in, never rendered, whose CSS goes into an adopted sheet: `textContent`
 * sets the sheet's rules and `remove()` drops the sheet with the element.
 *
 * The page's own code creates no <style> elements (CSP would refuse them anyway); this exists
 * for xterm's.
 */

let installed = false;

/** Routes `document.createElement('style')` to adopted sheets. Idempotent; a no-op where browsers lack them. */
export function routeStyleElementsToAdoptedSheets(doc: Document = document): void {
	if (installed || !('adoptedStyleSheets' in doc) || typeof CSSStyleSheet.prototype.replaceSync !== 'function') return;
	installed = true;
	const create = doc.createElement.bind(doc);
	doc.createElement = ((tagName: string, options?: ElementCreationOptions) =>
		tagName.toLowerCase() === 'style' ? styleStandIn(doc) : create(tagName, options)) as Document['createElement'];
}

function styleStandIn(doc: Document): HTMLElement {
	// A <template> is never rendered and its contents never apply: a safe place holder.
	const element = doc.createElement('template');
	const sheet = new CSSStyleSheet();
	let css = '';
	doc.adoptedStyleSheets = [...doc.adoptedStyleSheets, sheet];
	Object.defineProperty(element, 'textContent', {
		get: () => css,
		set: (text: string | null) => {
			css = text ?? '';
			sheet.replaceSync(css);
		},
	});
	const remove = element.remove.bind(element);
	element.remove = () => {
		doc.adoptedStyleSheets = doc.adoptedStyleSheets.filter((s) => s !== sheet);
		remove();
	};
	return element;
}
