// The first load of the client, against a real `parley` server at PARLEY_URL (run with `bash scripts/e2e`):
// the page names every module of the client as a `modulepreload` link, so the browser asks for them all at
// once instead of one import level at a time (docs/web-client.md has the measurements). The list is written
// by hand in index.html; this test fails when it and the modules the page really loads differ.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, sharedBrowser, visible } from './lib.mjs';

/// The modules `/app.js` imports, directly or not, read from the server: each module's `from '/NAME.js'`.
async function importGraph() {
    const seen = new Set();
    const visit = async (path) => {
        const source = await (await fetch(BASE_URL + path)).text();
        for (const [, dependency] of source.matchAll(/\bfrom '(\/[\w-]+\.js)'/g)) {
            if (seen.has(dependency)) continue;
            seen.add(dependency);
            await visit(dependency);
        }
    };
    await visit('/app.js');
    return seen;
}

const { withPeople } = sharedBrowser();

test('the page preloads exactly the modules it loads, each asked for once', { timeout: 30_000 }, async (t) => {
    await withPeople(t, [['ada', 'Ada Lovelace']], async (step, ada) => {
        const asked = [];
        ada.page.on('request', (request) => {
            const path = new URL(request.url()).pathname;
            if (path.endsWith('.js')) asked.push(path);
        });
        await step('a fresh load of the page shows the log-in form', async () => {
            await ada.page.reload();
            await visible('the "Log in" form', ada.logInForm());
            await ada.page.waitForLoadState('networkidle');
        });
        await step('the modulepreload links name every module app.js imports, directly or not, and nothing else', async () => {
            const preloaded = await ada.page.evaluate(() =>
                [...document.querySelectorAll('link[rel="modulepreload"]')].map((l) => new URL(l.href).pathname));
            assert.deepEqual([...preloaded].sort(), [...await importGraph()].sort());
            assert.deepEqual([...new Set(asked)].sort(), ['/app.js', ...preloaded].sort(), 'the page loaded other modules');
        });
        await step('no module is asked for twice', async () => {
            const twice = asked.filter((path, i) => asked.indexOf(path) !== i);
            assert.deepEqual(twice, [], `asked for more than once: ${twice.join(', ')}`);
        });
    });
});
