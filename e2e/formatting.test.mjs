// Browser tests of formatted message text, against a real `parley` server at PARLEY_URL (run them with
// `bash scripts/e2e`): what the composer sends shows formatted by markdown.js in the message log (emphasis,
// code, quotes, lists, links, mentions, the reader's own mention highlighted), and HTML typed into a message
// stays text. Screenshots go to target/e2e/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sharedBrowser, visible } from './lib.mjs';

const TEST_TIMEOUT = 60_000;
const { withPeople } = sharedBrowser();

/// The open conversation's message article whose text contains `text`.
function article(user, text) {
    return user.messageLog().locator('article').filter({ has: user.page.locator('.text', { hasText: text }) });
}

/// The element structure of a message's text: each element as `tag` or `tag.class`, nested in brackets.
function outline(locator) {
    return locator.locator('.text').evaluate((root) => {
        const walk = (el) => [...el.children].map((c) => {
            const name = c.tagName.toLowerCase() + (c.className ? `.${c.className.split(' ').join('.')}` : '');
            return c.children.length ? [name, walk(c)] : name;
        });
        return walk(root);
    });
}

test('formatted text shows formatted; mentions of the reader are highlighted; HTML stays text', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [['ada', 'Ada Lovelace'], ['bob', 'Bob Stone']], async (step, ada, bob) => {
        await step('Ada and Bob sign up; Ada opens a DM with Bob', async () => {
            await ada.signUp();
            await bob.signUp();
            await ada.openDmWith(bob);
        });
        const text = [
            `**Launch** is _on_, ~~maybe~~ see \`make ship\` and https://example.org/plan, @${bob.username}`,
            '> quoted line',
            '',
            '- one',
            '- two',
            '',
            '1. first',
            '2. second',
            '',
            '```',
            'let x = "<b>";',
            '```',
        ].join('\n');
        await step('Ada sends a message with emphasis, code, a link, a mention, a quote, lists and a code block', async () => {
            await ada.send(text);
            await visible('the message on Ada\'s side, sent', ada.messageLog().locator('article[data-state="sent"]').filter({ hasText: 'quoted line' }));
            await visible('the DM in Bob\'s list', bob.conversationButton(ada.name));
            await bob.openConversation(ada.name);
            await visible('the message on Bob\'s side', article(bob, 'quoted line'));
        });
        await step('Bob sees it formatted, built from the allowed elements only', async () => {
            const message = article(bob, 'quoted line');
            assert.deepEqual(await outline(message), [
                ['p', ['strong', 'em', 'del', 'code', 'a', 'span.mention.mention-self']],
                ['blockquote', ['p']],
                ['ul', ['li', 'li']],
                ['ol', ['li', 'li']],
                ['pre', ['code']],
            ]);
            const link = message.getByRole('link', { name: 'https://example.org/plan', exact: true });
            assert.equal(await link.getAttribute('href'), 'https://example.org/plan');
            assert.equal(await link.getAttribute('target'), '_blank');
            assert.equal(await link.getAttribute('rel'), 'noopener noreferrer nofollow');
            assert.equal(await message.locator('.mention-self').textContent(), `@${bob.username}`);
            assert.equal(await message.locator('pre code').textContent(), 'let x = "<b>";');
            await bob.screenshot('formatting-bob');
        });
        await step('on Ada\'s side, the same mention is not hers: a mention, not highlighted', async () => {
            const mention = article(ada, 'quoted line').locator('.mention');
            assert.equal(await mention.getAttribute('class'), 'mention');
        });
        const payloads = [
            '<img src=x onerror="window.__pwned=1">',
            '[click](javascript:window.__pwned=1)',
            '<script>window.__pwned=1</script> **bold**',
            'javascript:window.__pwned=1 and <a href="javascript:window.__pwned=1">x</a>',
        ];
        await step('Ada sends HTML and script links: Bob sees them as typed, and nothing runs', async () => {
            const dialogs = [];
            bob.page.on('dialog', (dialog) => {
                dialogs.push(dialog.message());
                dialog.dismiss().catch(() => {});
            });
            for (const payload of payloads) await ada.send(payload);
            for (const payload of payloads) await visible(`"${payload}" as text`, article(bob, payload.replace(/\*\*/g, '')));
            const log = bob.messageLog();
            assert.equal(await log.locator('img, script, iframe, svg, object, embed, [onerror], [onclick]').count(), 0);
            const hrefs = await log.locator('a').evaluateAll((links) => links.map((a) => a.getAttribute('href')));
            assert.ok(hrefs.every((href) => /^https?:/.test(href)), `links: ${JSON.stringify(hrefs)}`);
            assert.equal(await bob.page.evaluate(() => window.__pwned), undefined);
            assert.deepEqual(dialogs, []);
            assert.deepEqual(await outline(article(bob, '<script>')), [['p', ['strong']]]);
        });
    });
});
