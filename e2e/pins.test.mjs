// Browser tests of pinned messages, against a real `parley` server at PARLEY_URL (run them with
// `bash scripts/e2e`): "Pin" in a message's tools, the marker on a pinned message seen live by the other
// member, the "Pinned" panel of the header jumping to its message, and "Unpin" live. Screenshots go to
// target/e2e/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, gone, sharedBrowser, visible } from './lib.mjs';

const TEST_TIMEOUT = 60_000;
const { withPeople } = sharedBrowser();

/// The open conversation's message article that shows `text`.
function article(user, text) {
    return user.messageLog().locator('article').filter({ has: user.page.locator('.text', { hasText: text }) });
}

/// The button `name` of the "Message tools" toolbar of the message showing `text`.
function tool(user, text, name) {
    return article(user, text).getByRole('toolbar', { name: 'Message tools', exact: true }).getByRole('button', { name, exact: true });
}

test('pinning shows a marker live; the "Pinned" panel lists the pins and jumps to them; unpinning is live', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [['ada', 'Ada Lovelace'], ['bob', 'Bob Stone']], async (step, ada, bob) => {
        await step('Ada and Bob sign up; Ada says "alpha", "beta", "gamma" in a DM; Bob opens it', async () => {
            await ada.signUp();
            await bob.signUp();
            await ada.openDmWith(bob);
            for (const text of ['alpha', 'beta', 'gamma']) await ada.send(text);
            await ada.expectMessage('gamma', { state: 'sent' });
            await visible('the DM in Bob\'s list', bob.conversationButton(ada.name));
            await bob.openConversation(ada.name);
            await bob.expectMessage('gamma');
        });
        await step('Ada pins "beta" from its tools: it shows "Pinned", and its button says "Unpin"', async () => {
            await article(ada, 'beta').hover();
            await tool(ada, 'beta', 'Pin').click();
            await visible('"Pinned" on "beta"', article(ada, 'beta').getByText('Pinned', { exact: true }));
            await visible('"Unpin" on "beta"', tool(ada, 'beta', 'Unpin'));
            assert.equal(await article(ada, 'alpha').getByText('Pinned', { exact: true }).count(), 0);
        });
        await step('Bob sees "beta" pinned, live', async () => {
            await visible('"Pinned" on "beta" for Bob', article(bob, 'beta').getByText('Pinned', { exact: true }));
            await visible('"Unpin" on "beta" for Bob', tool(bob, 'beta', 'Unpin'));
        });
        const panel = bob.page.getByRole('region', { name: 'Pinned messages', exact: true });
        await step('Bob opens "Pinned": it lists "beta" by Ada, with the focus on it', async () => {
            await bob.page.getByRole('button', { name: 'Pinned', exact: true }).click();
            await visible('the "Pinned messages" panel', panel);
            const entries = panel.getByRole('listitem');
            await eventually('one pin', async () => assert.equal(await entries.count(), 1));
            const entry = entries.getByRole('button');
            assert.match(await entry.textContent(), /^Ada Lovelace .*beta$/);
            assert.ok(await entry.evaluate((el) => el === document.activeElement), 'the entry has no focus');
            await bob.screenshot('pins-panel');
        });
        await step('the entry jumps to "beta": the panel closes, the message has the focus and is highlighted', async () => {
            await panel.getByRole('listitem').getByRole('button').click();
            await gone('the panel', panel);
            await eventually('"beta" focused', async () => assert.ok(await article(bob, 'beta').evaluate((el) => el === document.activeElement)));
            assert.ok(await article(bob, 'beta').evaluate((el) => el.classList.contains('highlight')));
        });
        await step('Bob unpins "beta": the marker goes on both sides, and Ada\'s panel says nothing is pinned', async () => {
            await tool(bob, 'beta', 'Unpin').click();
            await gone('"Pinned" on "beta" for Bob', article(bob, 'beta').getByText('Pinned', { exact: true }));
            await gone('"Pinned" on "beta" for Ada', article(ada, 'beta').getByText('Pinned', { exact: true }));
            await ada.page.getByRole('button', { name: 'Pinned', exact: true }).click();
            await visible('"Nothing is pinned here yet"', ada.page.getByRole('region', { name: 'Pinned messages', exact: true }).getByText(/^Nothing is pinned here yet/));
        });
    });
});
