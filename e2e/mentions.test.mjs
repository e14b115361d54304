// Browser tests of mentions, against a real `parley` server at PARLEY_URL (run them with `bash scripts/e2e`):
// the composer's "@" list picked by keyboard alone, the `mentions` a send carries, the mention highlighted for
// the person mentioned, and the sidebar's mention badge rising live and clearing on read. Screenshots go to
// target/e2e/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, gone, rest, sharedBrowser, visible } from './lib.mjs';

const TEST_TIMEOUT = 60_000;
const { withPeople } = sharedBrowser();

/// A person's session token and user id, from their page.
async function whoIs(user) {
    const token = await user.sessionToken();
    const me = await rest('GET', '/v1/users/me', token);
    return { token, id: me.id };
}

test('"@" lists the members by keyboard; the mention reaches, highlights and raises the badge live', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [['ada', 'Ada Lovelace'], ['bob', 'Bob Stone'], ['cara', 'Cara Diaz']], async (step, ada, bob, cara) => {
        let group;
        let a;
        const ids = {};
        await step('Ada, Bob and Cara sign up; Ada makes the group "Crew" of the three; Ada and Bob open it', async () => {
            for (const user of [ada, bob, cara]) await user.signUp();
            a = await whoIs(ada);
            ids.bob = (await whoIs(bob)).id;
            ids.cara = (await whoIs(cara)).id;
            group = await rest('POST', '/v1/conversations', a.token, { kind: 'group', name: 'Crew', members: [ids.bob, ids.cara] });
            await visible('"Crew" in Ada\'s list', ada.conversationButton('Crew'));
            await ada.openConversation('Crew');
            await visible('"Crew" in Bob\'s list', bob.conversationButton('Crew'));
            await bob.openConversation('Crew');
            await visible('"Crew" in Cara\'s list', cara.conversationButton('Crew'));
        });
        const composer = ada.composer();
        const list = ada.page.getByRole('listbox', { name: 'People to mention', exact: true });
        const active = () => composer.evaluate((ta) => {
            const id = ta.getAttribute('aria-activedescendant');
            return id ? document.getElementById(id)?.textContent : null;
        });
        await step('Ada types "hi @Bo": the list shows Bob, chosen; the composer points at it', async () => {
            await composer.click();
            await ada.page.keyboard.type('hi @Bo');
            await visible('the "People to mention" list', list);
            assert.deepEqual(await list.getByRole('option').allTextContents(), [`Bob Stone @${bob.username}`]);
            assert.equal(await composer.getAttribute('aria-autocomplete'), 'list');
            assert.equal(await composer.getAttribute('aria-controls'), 'mention-list');
            assert.equal(await active(), `Bob Stone @${bob.username}`);
            await ada.screenshot('mentions-list');
        });
        await step('Enter picks Bob: "@username " goes in, the list closes, nothing is sent', async () => {
            await ada.page.keyboard.press('Enter');
            await gone('the list', list);
            assert.equal(await composer.inputValue(), `hi @${bob.username} `);
            assert.equal(await composer.getAttribute('aria-activedescendant'), null);
        });
        await step('"and @" lists Bob, Cara, @channel and @here; Down and Tab pick Cara', async () => {
            await ada.page.keyboard.type('and @');
            await visible('the list', list);
            await eventually('four choices', async () => assert.deepEqual(await list.getByRole('option').allTextContents(), [
                `Bob Stone @${bob.username}`, `Cara Diaz @${cara.username}`, '@channel Notify everyone in this conversation', '@here Notify everyone online',
            ]));
            await ada.page.keyboard.press('ArrowDown');
            assert.equal(await active(), `Cara Diaz @${cara.username}`);
            await visible('Cara\'s option selected', list.getByRole('option', { name: `Cara Diaz @${cara.username}`, selected: true }));
            await ada.page.keyboard.press('Tab');
            await gone('the list', list);
            assert.equal(await composer.inputValue(), `hi @${bob.username} and @${cara.username} `);
        });
        await step('Escape closes the list and keeps the text; Enter then sends', async () => {
            await ada.page.keyboard.type('@');
            await visible('the list', list);
            await ada.page.keyboard.press('Escape');
            await gone('the list', list);
            assert.equal(await composer.inputValue(), `hi @${bob.username} and @${cara.username} @`);
            await ada.page.keyboard.press('Backspace');
            await ada.page.keyboard.press('Enter');
            await ada.expectMessage(`hi @${bob.username} and @${cara.username}`, { state: 'sent' });
        });
        await step('the message carries the mentions of Bob and Cara', async () => {
            const { messages } = await rest('GET', `/v1/conversations/${group.id}/messages?limit=5`, a.token);
            const sent = messages[messages.length - 1];
            assert.deepEqual([...sent.mentions.user_ids].sort(), [ids.bob, ids.cara].sort());
            assert.ok(!sent.mentions.channel && !sent.mentions.here);
        });
        await step('Bob sees his mention highlighted, and Cara\'s not', async () => {
            const message = bob.messageLog().locator('article').filter({ hasText: 'hi @' });
            await visible('Bob\'s highlighted mention', message.locator('.mention-self', { hasText: `@${bob.username}` }));
            assert.equal(await message.locator('.mention', { hasText: `@${cara.username}` }).getAttribute('class'), 'mention');
            await bob.screenshot('mentions-highlight');
        });
        await step('Cara, with the group not open, sees "Crew" with "1 mention" and "@1", live', async () => {
            await visible('"Crew …, 1 unread, 1 mention"', cara.conversations().getByRole('button', { name: /^Crew\b.*\b1 unread\b.*\b1 mention$/ }));
            await visible('the "@1" badge', cara.conversationButton('Crew').getByText('@1', { exact: true }));
            await cara.screenshot('mentions-badge');
        });
        await step('a message with no mention raises the count, not the badge; opening the group clears both', async () => {
            await rest('POST', `/v1/conversations/${group.id}/messages`, a.token, { text: 'no one in particular' });
            await visible('"Crew …, 2 unread, 1 mention"', cara.conversations().getByRole('button', { name: /^Crew\b.*\b2 unread\b.*\b1 mention$/ }));
            await cara.openConversation('Crew');
            await cara.expectMessage('no one in particular');
            await gone('the "@1" badge', cara.conversationButton('Crew').getByText('@1', { exact: true }));
            await visible('"Crew" named without counts', cara.conversations().getByRole('button', { name: /^Crew no one in particular$/ }));
        });
    });
});
