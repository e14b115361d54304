// "Reply privately" and quotes in the web client, against a real `parley` server at PARLEY_URL (run with
// `bash scripts/e2e`): on someone else's message in a group, "Reply privately" opens the DM with its author
// (made when there is none) with a quote above the composer; the message sent carries it, and shows a card
// of the quoted message to whoever may see it, "Message unavailable" to whoever may not (the author, once
// they left the group). Screenshots and page logs go to target/e2e/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, gone, rest, sharedBrowser, visible } from './lib.mjs';

const TEST_TIMEOUT = 90_000;
const ADA = ['ada', 'Ada Lovelace'];
const BOB = ['bob', 'Bob Stone'];
const CARA = ['cara', 'Cara Diaz'];

const { withPeople } = sharedBrowser();

/// The open conversation's article that shows `text`.
const article = (user, text) => user.messageLog().locator('article').filter({ has: user.page.locator('.text', { hasText: text }) });

test('"Reply privately" quotes a group\'s message in a DM; the card shows to who can see it, "Message unavailable" to who cannot', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB, CARA], async (step, ada, bob, cara) => {
        await step('Ada, Bob and Cara sign up in one organization', async () => {
            await ada.signUp();
            await bob.signUp();
            await cara.signUp();
        });
        const [aToken, bToken] = [await ada.sessionToken(), await bob.sessionToken()];
        const ids = {};
        for (const [key, user] of [['bob', bob], ['cara', cara]]) ids[key] = (await rest('GET', '/v1/users/me', await user.sessionToken())).id;
        const group = await step('Ada makes the group "Trio"; Bob says "the budget is final" in it', async () => {
            const g = await rest('POST', '/v1/conversations', aToken, { kind: 'group', name: 'Trio', members: [ids.bob, ids.cara] });
            await rest('POST', `/v1/conversations/${g.id}/messages`, bToken, { text: 'the budget is final' });
            await rest('POST', `/v1/conversations/${g.id}/messages`, aToken, { text: 'noted' });
            await ada.openConversation('Trio');
            await ada.expectMessage('the budget is final');
            return g;
        });
        await step('Ada\'s own message offers no "Reply privately"', async () => {
            assert.equal(await article(ada, 'noted').getByRole('button', { name: 'Reply privately', exact: true }).count(), 0);
        });
        await step('"Reply privately" on Bob\'s message opens a new DM with Bob, "Replying to Bob Stone: the budget is final" above the composer', async () => {
            const message = article(ada, 'the budget is final');
            await message.hover();
            await message.getByRole('button', { name: 'Reply privately', exact: true }).click();
            await visible('the DM\'s heading', ada.heading(bob.name));
            const quote = await visible('the quote', ada.page.getByRole('group', { name: 'Quote', exact: true }));
            assert.equal((await quote.locator('p').textContent()).trim(), `Replying to ${bob.name}: the budget is final`);
            await eventually('the composer has the focus', async () =>
                assert.equal(await ada.page.evaluate(() => document.activeElement?.id), 'msg'));
        });
        await step('Ada sends "can we go over it?": it shows with the card of Bob\'s message, and the quote above the composer goes', async () => {
            await ada.send('can we go over it?');
            await ada.expectMessage('can we go over it?', { state: 'sent' });
            await visible('the card', article(ada, 'can we go over it?').getByRole('button', { name: `Quote of ${bob.name}: the budget is final`, exact: true }));
            await gone('the quote above the composer', ada.page.getByRole('group', { name: 'Quote', exact: true }));
        });
        await step('Bob, in Trio, sees the DM with the card, live', async () => {
            await bob.openConversation(ada.name);
            await bob.expectMessage('can we go over it?');
            await visible('the card', article(bob, 'can we go over it?').getByRole('button', { name: `Quote of ${bob.name}: the budget is final`, exact: true }));
        });
        await bob.screenshot('quote-card-bob');
        await step('activating the card opens Trio at the quoted message', async () => {
            await article(bob, 'can we go over it?').getByRole('button', { name: `Quote of ${bob.name}: the budget is final`, exact: true }).click();
            await visible('the heading "Trio"', bob.heading('Trio'));
            await eventually('the quoted message has the focus', async () =>
                assert.equal(await bob.page.evaluate(() => document.activeElement?.querySelector('.text')?.textContent), 'the budget is final'));
        });
        await step('Bob leaves Trio; after a reload, the DM\'s card says "Message unavailable"', async () => {
            await rest('POST', `/v1/conversations/${group.id}/leave`, bToken);
            await bob.page.reload();
            await bob.expectLoggedIn('after a reload');
            await bob.openConversation(ada.name);
            await bob.expectMessage('can we go over it?');
            await visible('"Message unavailable"', article(bob, 'can we go over it?').getByText('Message unavailable', { exact: true }));
            assert.equal(await article(bob, 'can we go over it?').getByRole('button', { name: /^Quote of/ }).count(), 0);
        });
        await step('Ada still sees the card', async () => {
            await visible('the card', article(ada, 'can we go over it?').getByRole('button', { name: `Quote of ${bob.name}: the budget is final`, exact: true }));
        });
        await step('"Remove quote" drops a quote: "Reply privately" to Cara in Trio, removed, sends no quote', async () => {
            await rest('POST', `/v1/conversations/${group.id}/messages`, await cara.sessionToken(), { text: 'I agree' });
            await ada.openConversation('Trio');
            const message = article(ada, 'I agree');
            await visible('Cara\'s message', message);
            await message.hover();
            await message.getByRole('button', { name: 'Reply privately', exact: true }).click();
            await visible('the DM\'s heading', ada.heading(cara.name));
            await ada.page.getByRole('button', { name: 'Remove quote', exact: true }).click();
            await gone('the quote', ada.page.getByRole('group', { name: 'Quote', exact: true }));
            await ada.send('hello Cara');
            await ada.expectMessage('hello Cara', { state: 'sent' });
            assert.equal(await article(ada, 'hello Cara').locator('.quote').count(), 0);
        });
    });
});
