// Browser tests of the web client against a real `parley` server at PARLEY_URL. Run them with `bash scripts/e2e`,
// which installs Chromium and playwright-core, starts the server and passes its URL.
//
// Each test works in a new organization (random handle) with one browser context per person, and saves
// screenshots to target/e2e/<test-name>.png (pass or fail), with each page's console log beside them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, eventually, gone, RECONNECT_TIMEOUT, sharedBrowser, visible } from './lib.mjs';

const TEST_TIMEOUT = 60_000;
const ADA = ['ada', 'Ada Lovelace'];
const BOB = ['bob', 'Bob Stone'];
const CARA = ['cara', 'Cara Diaz'];

const { people, withPeople } = sharedBrowser();

/// Ada and Bob sign up in the same new organization; Ada opens a DM with Bob and says "hello Bob"; the DM
/// appears live in Bob's list and he opens it.
async function adaAndBobInADm(step, ada, bob, { unreadBadge = false } = {}) {
    await step('Ada signs up', () => ada.signUp());
    await step('Bob signs up in the same organization', () => bob.signUp());
    await step('Ada opens a DM with Bob: "New direct message" → "Find a colleague" → Bob', () =>
        ada.openDmWith(bob),
    );
    await step('Ada sends "hello Bob" and sees it as sent', async () => {
        await ada.send('hello Bob');
        await ada.expectMessage('hello Bob', { state: 'sent' });
    });
    await bob.markPage();
    await step("the DM appears in Bob's Conversations list without a reload", async () => {
        await visible(`a conversation named "${ada.name}…" in Bob's list`, bob.conversationButton(ada.name));
        await bob.expectSamePage();
    });
    if (unreadBadge) {
        await step('its button shows a "1" badge, and its name says "1 unread" to screen readers', async () => {
            await visible('a "1" badge in the DM\'s button', bob.conversationButton(ada.name).locator('.badge', { hasText: /^1/ }));
            await visible(`a button named "${ada.name}…, 1 unread"`,
                bob.conversations().getByRole('button', { name: new RegExp(`^${ada.name}.*, 1 unread$`) }));
        });
    }
    await step('Bob opens the DM and sees "hello Bob"', async () => {
        await bob.openConversation(ada.name);
        await bob.expectMessage('hello Bob');
    });
}

test('two users chat live in a DM', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB], async (step, ada, bob) => {
        await adaAndBobInADm(step, ada, bob, { unreadBadge: true });
        await ada.markPage();
        await step('Bob replies "hi Ada" and sees it as sent', async () => {
            await bob.send('hi Ada');
            await bob.expectMessage('hi Ada', { state: 'sent' });
        });
        await step('Ada sees "hi Ada" live', async () => {
            await ada.expectMessage('hi Ada');
            await ada.expectSamePage();
        });
        await step("each message's author shows its sender's name in the other's view", async () => {
            for (const [viewer, text, author] of [[bob, 'hello Bob', ada.name], [ada, 'hi Ada', bob.name]]) {
                await eventually(`${viewer.name} sees "${text}" by ${author}`, async () => {
                    const [message] = await viewer.expectMessage(text);
                    assert.equal(message.author, author, JSON.stringify(message));
                });
            }
        });
    });
});

test('a user offline gets everything once on return', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB], async (step, ada, bob) => {
        await adaAndBobInADm(step, ada, bob);
        const texts = ['m1', 'm2', 'm3'];
        await step('Bob goes offline and his page shows the Offline status', async () => {
            await bob.context.setOffline(true);
            await visible('a role="status" element containing "Offline" on Bob\'s page', bob.offlineBanner());
        });
        await step('Ada sends m1, m2, m3 and sees each as sent', async () => {
            for (const text of texts) await ada.send(text);
            for (const text of texts) await ada.expectMessage(text, { state: 'sent' });
        });
        await step('Bob, offline, does not see them yet', async () => {
            const shown = (await bob.messages()).map((message) => message.text);
            assert.deepEqual(shown.filter((text) => texts.includes(text)), [], `Bob's log: ${JSON.stringify(shown)}`);
        });
        await step('Bob comes back online and sees m1, m2, m3, each exactly once, in order', async () => {
            await bob.context.setOffline(false);
            for (const text of texts) await bob.expectMessage(text, { timeout: RECONNECT_TIMEOUT });
            // A duplicate would come from the resumed socket and a reload through REST both delivering.
            await new Promise((resolve) => setTimeout(resolve, 1000));
            const shown = (await bob.messages()).map((message) => message.text);
            for (const text of texts) {
                const count = shown.filter((shownText) => shownText === text).length;
                assert.equal(count, 1, `"${text}" is shown ${count} times; Bob's log: ${JSON.stringify(shown)}`);
            }
            const order = texts.map((text) => shown.indexOf(text));
            assert.deepEqual([...order].sort((a, b) => a - b), order, `out of order: ${JSON.stringify(shown)}`);
        });
        await step('the Offline status goes away', () =>
            gone('the Offline status on Bob\'s page', bob.offlineBanner(), RECONNECT_TIMEOUT),
        );
    });
});

test('reload keeps you logged in', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA], async (step, ada) => {
        await step('Ada signs up', () => ada.signUp());
        await step('after a reload the "Log out" button is still there', async () => {
            await ada.page.reload();
            await ada.expectLoggedIn('after a reload');
        });
        await step('"Log out" shows the auth screen again', async () => {
            await ada.logOutButton().click();
            await visible('the "Sign up" form', ada.signUpForm());
            await visible('the "Log in" form', ada.logInForm());
            await gone('the "Log out" button', ada.logOutButton());
        });
    });
});

test('a second tab follows a logout in the first', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA], async (step, ada) => {
        await step('Ada signs up', () => ada.signUp());
        const second = await ada.page.context().newPage();
        try {
            await step('a second tab of the same browser is logged in too', async () => {
                await second.goto(ada.page.url());
                await visible('the second tab\'s "Log out" button', second.getByRole('button', { name: 'Log out', exact: true }));
            });
            await step('logging out in the first tab signs the second out', async () => {
                await ada.logOutButton().click();
                await visible('the second tab\'s "Log in" form', second.getByRole('form', { name: 'Log in' }));
            });
        } finally {
            await second.close();
        }
    });
});

test('a send the server refuses shows "Not sent" with Retry, also from another conversation', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB, CARA], async (step, ada, bob, cara) => {
        await adaAndBobInADm(step, ada, bob);
        await step('Cara signs up; Ada opens a DM with her too, then goes back to Bob', async () => {
            await cara.signUp();
            await ada.openDmWith(cara);
            await ada.openConversation(bob.name);
        });
        await step('offline, Ada sends a text with a control character (the server refuses those), then opens the DM with Cara', async () => {
            await ada.context.setOffline(true);
            await visible('the Offline status', ada.offlineBanner());
            await ada.send('ding \u0007');
            await ada.expectMessage('ding \u0007', { state: 'pending' });
            await ada.conversationButton(cara.name).first().click();
            await visible(`the heading "${cara.name}"`, ada.heading(cara.name));
        });
        await step('back online, the refusal comes while the other DM is open: Bob\'s entry says "Not sent"', async () => {
            await ada.context.setOffline(false);
            await visible('"Not sent: ding" in the DM with Bob', ada.conversationButton(bob.name).filter({ hasText: 'Not sent: ding' }), RECONNECT_TIMEOUT);
        });
        await step('opening the DM with Bob shows the message as not sent, why, and a Retry button', async () => {
            await ada.openConversation(bob.name);
            await ada.expectMessage('ding \u0007', { state: 'failed' });
            const failed = ada.messageLog().locator('article[data-state="failed"]');
            await visible('the reason', failed.getByText(/Not sent: .*control characters/));
            await failed.getByRole('button', { name: 'Retry', exact: true }).click();
            // Sent again, it is refused again: still there, still with Retry, never lost.
            await visible('Retry again', failed.getByRole('button', { name: 'Retry', exact: true }));
            await ada.expectMessage('ding \u0007', { state: 'failed' });
            await ada.expectMessage('hello Bob', { state: 'sent' });
        });
    });
});

test('logging out offline still ends the session on the server', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA], async (step, ada) => {
        await step('Ada signs up', () => ada.signUp());
        const token = await ada.page.evaluate(() => localStorage.getItem('parley.token'));
        assert.ok(token, 'a token in localStorage');
        const me = () => fetch(new URL('/v1/users/me', BASE_URL), { headers: { Authorization: `Bearer ${token}` } });
        assert.equal((await me()).status, 200);
        await step('offline, she logs out: the auth screen shows, focus in its first field', async () => {
            await ada.context.setOffline(true);
            await ada.logOutButton().click();
            await visible('the "Log in" form', ada.logInForm());
            await eventually('focus on "Email or username"', async () => {
                const focused = await ada.page.evaluate(() => document.activeElement?.id);
                assert.equal(focused, 'li-login');
            });
            assert.equal(await ada.page.evaluate(() => localStorage.getItem('parley.token')), null);
        });
        await step('the server still takes the token while she is offline', async () => {
            assert.equal((await me()).status, 200);
        });
        await step('back online, the page revokes it: the token gets 401', async () => {
            await ada.context.setOffline(false);
            await eventually('a 401 for the old token', async () => assert.equal((await me()).status, 401), { timeout: RECONNECT_TIMEOUT });
        });
    });
});

test('the composer: Enter sends, Shift+Enter starts a line, and a counter holds texts to 10,000 characters', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB], async (step, ada, bob) => {
        await adaAndBobInADm(step, ada, bob);
        const composer = ada.composer();
        const counter = ada.page.locator('#msg-counter');
        await step('"line one", Shift+Enter, "line two", Enter: one message of two lines, on both sides', async () => {
            await composer.pressSequentially('line one');
            await composer.press('Shift+Enter');
            await composer.pressSequentially('line two');
            await composer.press('Enter');
            await ada.expectMessage('line one\nline two', { state: 'sent' });
            await bob.expectMessage('line one\nline two');
        });
        await step('no counter at 9,499 characters; "9,500 / 10,000" at 9,500', async () => {
            await composer.fill('x'.repeat(9499));
            await gone('the counter', counter);
            await composer.fill('x'.repeat(9500));
            await visible('"9,500 / 10,000"', counter.filter({ hasText: '9,500 / 10,000' }));
        });
        await step('at 10,001 characters the counter says so and Enter sends nothing', async () => {
            await composer.fill('x'.repeat(10001));
            await visible('"10,001 / 10,000", marked over', ada.page.locator('#msg-counter.over', { hasText: '10,001 / 10,000' }));
            await composer.press('Enter');
            assert.equal((await composer.inputValue()).length, 10001, 'the text is kept');
            assert.equal(await ada.messageLog().locator('article[data-state="pending"]').count(), 0, 'nothing is pending');
        });
        const emoji = '😀'.repeat(10000);
        await step('10,000 emoji count as 10,000 characters (as the server counts) and are sent whole', async () => {
            await composer.fill(emoji);
            await visible('"10,000 / 10,000", not over', ada.page.locator('#msg-counter:not(.over)', { hasText: '10,000 / 10,000' }));
            await composer.press('Enter');
            await ada.expectMessage(emoji, { state: 'sent' });
            const [message] = await bob.expectMessage(emoji);
            assert.equal([...message.text].length, 10000);
        });
    });
});
