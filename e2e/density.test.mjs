// Browser tests of the client's density, against a real `parley` server at PARLEY_URL (run them with
// `bash scripts/e2e`): messages grouped by author, day separators, message actions shown on hover and on
// keyboard focus with the arrow keys moving between messages, and the sidebar's sections with unread
// conversations in bold, their counts and a mention badge. Screenshots go to target/e2e/.
//
// When messages were sent is the server's to say, and a test cannot wait days: where a test needs messages
// of other days or minutes apart, it rewrites `created_at` in the server's answer (Playwright's page.route),
// as outages.test.mjs plays the server's outages. The same goes for `unread_mentions`, which the server does
// not send yet.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, rest, sharedBrowser, visible } from './lib.mjs';

const TEST_TIMEOUT = 60_000;
/// The viewer's clock and words are fixed, so the test can say what the page should show.
const UTC = { viewport: { width: 1000, height: 700 }, timezoneId: 'UTC', locale: 'en-US' };
const ADA = ['ada', 'Ada Lovelace'];
const BOB = ['bob', 'Bob Stone', UTC];
const CARA = ['cara', 'Cara Diaz'];

const { withPeople } = sharedBrowser();

/// The open conversation's message article that shows `text`.
function article(user, text) {
    return user.messageLog().locator('article').filter({ has: user.page.locator('.text', { hasText: text }) });
}

/// A person's session token and user id, from their page.
async function whoIs(user) {
    const token = await user.sessionToken();
    const me = await rest('GET', '/v1/users/me', token);
    return { token, id: me.id };
}

/// What the log shows, top to bottom: each day separator's name (`--- NAME`) and each message's text, with
/// whether its author's name and avatar show (`[Name] text`) or it continues the group above (`text`).
async function logOutline(user) {
    return user.messageLog().evaluate((log) => [...log.children].map((el) => {
        if (el.getAttribute('role') === 'separator') return `--- ${el.getAttribute('aria-label')}`;
        if (el.tagName !== 'ARTICLE') return `(${el.textContent.trim()})`;
        const author = el.querySelector('.author');
        const shown = author.getBoundingClientRect().width > 1 && el.querySelector('.msg-head .avatar');
        const text = el.querySelector('.text').textContent;
        return shown ? `[${author.textContent}] ${text}` : text;
    }));
}

/// The computed opacity of the first element the locator matches.
function opacity(locator) {
    return locator.first().evaluate((el) => Number(getComputedStyle(el).opacity));
}

test('messages of one author within 5 minutes are grouped, with a separator between days', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB], async (step, ada, bob) => {
        await step('Ada and Bob sign up', async () => {
            await ada.signUp();
            await bob.signUp();
        });
        // Sent now through the API; the page is told they were sent on other days and minutes apart.
        const day = 24 * 3600 * 1000;
        const today = new Date();
        today.setUTCHours(9, 0, 0, 0);
        const at = (offset) => new Date(today.getTime() + offset).toISOString();
        const threeDaysAgo = new Date(today.getTime() - 3 * day);
        const seeded = [
            ['ada', 'three days ago', at(-3 * day + 3600_000)],
            ['bob', 'yesterday', at(-day + 3600_000)],
            ['ada', 'first of a group', at(0)],
            ['ada', 'second, two minutes on', at(2 * 60_000)],
            ['ada', 'after eight minutes', at(10 * 60_000)],
            ['bob', 'Bob answers', at(11 * 60_000)],
            ['ada', 'Ada again', at(12 * 60_000)],
        ];
        await step('Ada opens a DM with Bob; they post seven messages through the API', async () => {
            const a = await whoIs(ada);
            const b = await whoIs(bob);
            const dm = await rest('POST', '/v1/conversations', a.token, { kind: 'dm', members: [b.id] });
            for (const [who, text] of seeded) {
                await rest('POST', `/v1/conversations/${dm.id}/messages`, (who === 'ada' ? a : b).token, { text });
            }
        });
        await step('Bob\'s page hears them as sent on three days, minutes apart (created_at rewritten)', async () => {
            const when = new Map(seeded.map(([, text, time]) => [text, time]));
            await bob.page.route(/\/v1\/conversations\/\d+\/messages\?/, async (route) => {
                const response = await route.fetch();
                const body = await response.json();
                for (const m of body.messages) if (when.has(m.text)) m.created_at = when.get(m.text);
                await route.fulfill({ response, json: body });
            });
            await bob.page.reload();
            await bob.expectLoggedIn('after a reload');
            await bob.openConversation(ada.name);
            await bob.expectMessage('Ada again');
        });
        await step('a separator opens each day: the date, "Yesterday", "Today"; the group shows its author once', async () => {
            const sameYear = threeDaysAgo.getUTCFullYear() === new Date().getUTCFullYear();
            const date = new Intl.DateTimeFormat('en-US', {
                weekday: 'long', month: 'long', day: 'numeric', ...(sameYear ? {} : { year: 'numeric' }), timeZone: 'UTC',
            }).format(threeDaysAgo);
            await eventually('the log\'s outline', async () => {
                assert.deepEqual(await logOutline(bob), [
                    `--- ${date}`,
                    '[Ada Lovelace] three days ago',
                    '--- Yesterday',
                    '[Bob Stone] yesterday',
                    '--- Today',
                    '[Ada Lovelace] first of a group',
                    'second, two minutes on',
                    '[Ada Lovelace] after eight minutes',
                    '[Bob Stone] Bob answers',
                    '[Ada Lovelace] Ada again',
                ]);
            });
            const separators = bob.messageLog().getByRole('separator');
            assert.deepEqual(await separators.evaluateAll((all) => all.map((s) => s.getAttribute('aria-label'))), [date, 'Yesterday', 'Today']);
            await visible('the separator "Today"', bob.messageLog().getByRole('separator', { name: 'Today', exact: true }));
        });
        await step('the grouped message still names its author to screen readers', async () => {
            const [message] = await bob.expectMessage('second, two minutes on');
            assert.equal(message.author, ada.name);
        });
        await step('its time shows only on hover: 9:02 AM', async () => {
            const time = article(bob, 'second, two minutes on').locator('time');
            assert.equal((await time.textContent()).replace(/\s+/g, ' ').trim(), '9:02 AM');
            assert.equal(await opacity(time), 0, 'the time shows before the hover');
            await article(bob, 'second, two minutes on').hover();
            await eventually('the time shows on hover', async () => assert.equal(await opacity(time), 1));
            await bob.screenshot('density-grouped-hover');
        });
    });
});

test('live messages group as they come, under one "Today" separator', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB], async (step, ada, bob) => {
        await step('Ada and Bob sign up; Ada opens a DM with Bob', async () => {
            await ada.signUp();
            await bob.signUp();
            await ada.openDmWith(bob);
        });
        await step('Ada sends "one" and "two"; Bob opens the DM', async () => {
            await ada.send('one');
            await ada.expectMessage('one', { state: 'sent' });
            await ada.send('two');
            await ada.expectMessage('two', { state: 'sent' });
            await visible("the DM in Bob's list", bob.conversationButton(ada.name));
            await bob.openConversation(ada.name);
            await bob.expectMessage('two');
        });
        await step('Bob answers "three" and Ada "four", live: each new author shows their name', async () => {
            await bob.send('three');
            await ada.expectMessage('three');
            await ada.send('four');
            await ada.send('five');
            await bob.expectMessage('five');
            for (const user of [ada, bob]) {
                await eventually(`${user.name}'s log`, async () => {
                    assert.deepEqual(await logOutline(user), [
                        '--- Today',
                        '[Ada Lovelace] one',
                        'two',
                        '[Bob Stone] three',
                        '[Ada Lovelace] four',
                        'five',
                    ]);
                });
            }
        });
    });
});

test('message actions show on hover and on keyboard focus; the arrow keys move between messages', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB], async (step, ada, bob) => {
        await step('Ada and Bob sign up; Ada says "first", "second", "third" in a DM; Bob opens it', async () => {
            await ada.signUp();
            await bob.signUp();
            await ada.openDmWith(bob);
            for (const text of ['first', 'second', 'third']) await ada.send(text);
            await ada.expectMessage('third', { state: 'sent' });
            await visible("the DM in Bob's list", bob.conversationButton(ada.name));
            await bob.openConversation(ada.name);
            await bob.expectMessage('third');
        });
        const actions = (text) => article(bob, text).getByRole('group', { name: 'Message actions', exact: true });
        await step('each message has a "Message actions" group with the "React" and "Delete" toolbars, not shown', async () => {
            for (const text of ['first', 'second', 'third']) {
                const group = actions(text);
                await visible(`the "React" toolbar of "${text}"`, group.getByRole('toolbar', { name: 'React', exact: true }));
                await visible(`"Delete for me" in the "Delete" toolbar of "${text}"`,
                    group.getByRole('toolbar', { name: 'Delete', exact: true }).getByRole('button', { name: 'Delete for me', exact: true }));
                assert.equal(await opacity(group), 0, `the actions of "${text}" show without hover or focus`);
            }
        });
        await step('hovering "first" shows its actions, and only its; moving away hides them', async () => {
            await article(bob, 'first').hover();
            await eventually('the actions of "first" show', async () => assert.equal(await opacity(actions('first')), 1));
            assert.equal(await opacity(actions('second')), 0);
            await bob.screenshot('density-actions-hover');
            await bob.composer().hover();
            await eventually('they hide again', async () => assert.equal(await opacity(actions('first')), 0));
        });
        const focused = () => bob.page.evaluate(() => {
            const el = document.activeElement;
            return { tag: el?.tagName.toLowerCase(), text: el?.closest('article')?.querySelector('.text')?.textContent ?? null,
                name: el?.getAttribute('aria-label') ?? el?.textContent, toolbar: el?.closest('[role="toolbar"]')?.getAttribute('aria-label') ?? null };
        });
        await step('on the log, Up focuses the last message and shows its actions; Up again the one before', async () => {
            await bob.messageLog().focus();
            await bob.page.keyboard.press('ArrowUp');
            assert.deepEqual(await focused().then((f) => [f.tag, f.text]), ['article', 'third']);
            await eventually('the actions of "third" show', async () => assert.equal(await opacity(actions('third')), 1));
            assert.ok(await article(bob, 'third').evaluate((a) => a.matches(':focus-visible')), 'the message shows no focus');
            await bob.page.keyboard.press('ArrowUp');
            assert.deepEqual(await focused().then((f) => [f.tag, f.text]), ['article', 'second']);
            await eventually('the actions of "second" show', async () => assert.equal(await opacity(actions('second')), 1));
            assert.equal(await opacity(actions('third')), 0, 'the actions of the message left stay shown');
            await bob.screenshot('density-actions-focus');
        });
        await step('Home and End go to the first and the last message; Down from "first" to "second"', async () => {
            await bob.page.keyboard.press('Home');
            assert.equal((await focused()).text, 'first');
            await bob.page.keyboard.press('End');
            assert.equal((await focused()).text, 'third');
            await bob.page.keyboard.press('Home');
            await bob.page.keyboard.press('ArrowDown');
            assert.equal((await focused()).text, 'second');
        });
        await step('Tab from the message reaches its "React" toolbar; Enter likes it', async () => {
            await bob.page.keyboard.press('Tab');
            const f = await focused();
            assert.deepEqual([f.toolbar, f.name, f.text], ['React', 'Like', 'second']);
            await bob.page.keyboard.press('Enter');
            await visible('the reaction "Like 1" on "second"',
                article(bob, 'second').getByRole('button', { name: 'Like 1', exact: true, pressed: true }));
            await visible('the reaction "Like 1" on Ada\'s side',
                article(ada, 'second').getByRole('button', { name: 'Like 1', exact: true, pressed: false }));
        });
    });
});

test('the sidebar has sections; unread conversations are bold with their count, and a mention badge', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB, CARA], async (step, ada, bob, cara) => {
        const handle = `launch-${Date.now().toString(36)}`;
        const made = {};
        await step('Ada, Bob and Cara sign up; Ada makes a DM with Bob, a group and a channel; Bob posts in each', async () => {
            for (const user of [ada, bob, cara]) await user.signUp();
            const [a, b, c] = await Promise.all([ada, bob, cara].map(whoIs));
            made.dm = await rest('POST', '/v1/conversations', a.token, { kind: 'dm', members: [b.id] });
            made.group = await rest('POST', '/v1/conversations', a.token, { kind: 'group', name: 'Crew', members: [b.id, c.id] });
            made.channel = await rest('POST', '/v1/conversations', a.token, { kind: 'channel', name: 'Launch', handle });
            await rest('POST', `/v1/conversations/${made.channel.id}/join`, b.token);
            for (const [conversation, n] of [[made.dm, 1], [made.group, 2], [made.channel, 3]]) {
                for (let i = 1; i <= n; i++) await rest('POST', `/v1/conversations/${conversation.id}/messages`, b.token, { text: `ping ${i}` });
            }
        });
        await step('the server says 2 of the channel\'s unread messages mention Ada (unread_mentions added to its answer)', async () => {
            await ada.page.route('**/v1/conversations', async (route) => {
                if (route.request().method() !== 'GET') return route.continue();
                const response = await route.fetch();
                const body = await response.json();
                for (const c of body.conversations) if (c.id === made.channel.id && c.unread_count) c.unread_mentions = 2;
                await route.fulfill({ response, json: body });
            });
            await ada.page.reload();
            await ada.expectLoggedIn('after a reload');
        });
        const nav = ada.conversations();
        await step('the list has the headings "Channels", "Direct messages" and "Groups", each over its conversations', async () => {
            await visible('the channel in the list', ada.conversationButton('Launch'));
            const headings = await nav.getByRole('heading', { level: 2 }).allTextContents();
            assert.deepEqual(headings, ['Channels', 'Direct messages', 'Groups']);
            for (const [list, name] of [['Channels', 'Launch'], ['Direct messages', bob.name], ['Groups', 'Crew']]) {
                const section = nav.getByRole('list', { name: list, exact: true });
                assert.equal(await section.getByRole('button').count(), 1, `the "${list}" list`);
                await visible(`"${name}" in the "${list}" list`, section.getByRole('button', { name: new RegExp(`^${name}`) }));
            }
        });
        const weight = (name) => ada.conversationButton(name).locator('.conv-name').evaluate((el) => Number(getComputedStyle(el).fontWeight));
        await step('each is bold and named with its unread count; the channel also with "2 mentions" and an "@2" badge', async () => {
            for (const [name, n] of [[bob.name, 1], ['Crew', 2], ['Launch', 3]]) {
                await visible(`"${name}, ${n} unread"`, nav.getByRole('button', { name: new RegExp(`^${name}.*, ${n} unread\\b`) }));
                assert.ok(await weight(name) >= 700, `"${name}" is not bold`);
            }
            await visible('"Launch …, 3 unread, 2 mentions"', nav.getByRole('button', { name: /^Launch\b.*\b3 unread\b.*\b2 mentions$/ }));
            await visible('the "@2" badge', ada.conversationButton('Launch').getByText('@2', { exact: true }));
            assert.equal(await ada.conversationButton('Crew').getByText(/^@/).count(), 0, 'a mention badge without mentions');
            await ada.screenshot('density-sidebar-unread');
        });
        await step('opening the channel reads it: no longer bold, no count, no mention badge', async () => {
            await ada.openConversation('Launch');
            await ada.expectMessage('ping 3');
            await visible('"Launch" named without a count', nav.getByRole('button', { name: /^Launch ping 3$/ }));
            assert.ok(await weight('Launch') <= 500, '"Launch" is still bold');
            assert.equal(await ada.conversationButton('Launch').getByText('@2', { exact: true }).count(), 0);
            assert.ok(await weight('Crew') >= 700, '"Crew" is no longer bold');
        });
    });
});
