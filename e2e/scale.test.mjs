// Browser tests of the client at scale and on small screens: a conversation of 10,000 messages (a windowed
// log), a phone-sized viewport, logging in by username in an organization, and the other-host check of lib.mjs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, eventually, gone, rest, sharedBrowser, visible } from './lib.mjs';

const TEST_TIMEOUT = 90_000;
const ADA = ['ada', 'Ada Lovelace'];
const BOB = ['bob', 'Bob Stone'];
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };

const SEEDED = 10_000;
const PARALLEL = 50;
const MAX_ARTICLES = 500;
const PAGES = 20;

const { people, withPeople } = sharedBrowser();


const byId = (a, b) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0);

/// What the Messages log shows: every article's id, the first visible one and where it sits on screen.
function logState(user) {
    return user.messageLog().evaluate((log) => {
        const box = log.getBoundingClientRect();
        const articles = [...log.querySelectorAll('article')];
        const first = articles.find((a) => a.getBoundingClientRect().bottom > box.top + 1);
        return {
            ids: articles.map((a) => a.dataset.messageId ?? null),
            texts: articles.map((a) => a.querySelector('.text')?.textContent ?? null),
            first: first?.dataset.messageId ?? null,
            firstTop: first ? first.getBoundingClientRect().top - box.top : null,
        };
    });
}

/// The log's articles are in id order, each once, and are a contiguous run of the conversation's messages.
function assertContiguous(ids, all) {
    assert.ok(ids.length > 0, 'the log shows no message');
    assert.ok(ids.length < MAX_ARTICLES, `the log holds ${ids.length} articles, not under ${MAX_ARTICLES}`);
    assert.equal(new Set(ids).size, ids.length, 'an article appears twice in the log');
    const start = all.indexOf(ids[0]);
    assert.ok(start >= 0, `the first article ${ids[0]} is not a message of the conversation`);
    assert.deepEqual(ids, all.slice(start, start + ids.length), 'the log does not show consecutive messages in order');
}

test('a conversation of 10,000 messages stays windowed, pages in older ones without a jump, and follows live ones', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA], async (step, ada) => {
        const bob = { name: 'Bob Stone', username: `bob-${ada.org}`, password: `pw-bob-${ada.org}-secret` };
        await step('Ada signs up in a new organization in the browser; Bob joins it through the API with her invitation', async () => {
            await ada.signUp();
            const invite = await ada.createInvite();
            const r = await rest('POST', '/v1/auth/signup', null, {
                name: bob.name, username: bob.username, email: `${bob.username}@e2e.example.org`, password: bob.password, invite: invite.token,
            });
            bob.token = r.token;
        });
        const all = [];
        await step(`Bob opens a DM with Ada and posts ${SEEDED} messages through the API, ${PARALLEL} at a time`, async () => {
            const { users } = await rest('GET', `/v1/users?q=${encodeURIComponent(ada.username)}`, bob.token);
            const adaId = users.find((u) => u.username === ada.username).id;
            const dm = await rest('POST', '/v1/conversations', bob.token, { kind: 'dm', members: [adaId] });
            bob.dm = dm.id;
            let next = 0;
            const worker = async () => {
                while (next < SEEDED) {
                    const n = ++next;
                    const m = await rest('POST', `/v1/conversations/${dm.id}/messages`, bob.token, { text: `seed ${n}` });
                    all.push(m.id);
                }
            };
            const started = Date.now();
            await Promise.all(Array.from({ length: PARALLEL }, worker));
            all.sort(byId);
            t.diagnostic(`seeded ${all.length} messages in ${Date.now() - started} ms`);
        });
        let messageRequests = 0;
        ada.page.on('request', (request) => {
            if (/\/v1\/conversations\/\d+\/messages\?/.test(request.url())) messageRequests += 1;
        });
        await step('Ada opens the DM: the newest messages show, in order, at the bottom', async () => {
            await ada.openConversation(bob.name);
            await eventually('the log shows the newest message last', async () => {
                const { ids } = await logState(ada);
                assert.equal(ids.at(-1), all.at(-1));
                assertContiguous(ids, all);
            });
        });
        await step(`Ada scrolls to the top ${PAGES} times: older pages come in order, the log stays windowed, nothing jumps`, async () => {
            for (let page = 0; page < PAGES; page++) {
                const before = await ada.messageLog().evaluate((log) => {
                    log.scrollTop = 0;
                    const box = log.getBoundingClientRect();
                    const articles = [...log.querySelectorAll('article')];
                    const first = articles.find((a) => a.getBoundingClientRect().bottom > box.top + 1);
                    return { oldest: articles[0].dataset.messageId, first: first.dataset.messageId, firstTop: first.getBoundingClientRect().top - box.top };
                });
                const now = await eventually(`page ${page + 1}: an older message shows above ${before.oldest}`, async () => {
                    const s = await logState(ada);
                    assert.ok(byId(s.ids[0], before.oldest) < 0, `the oldest shown is still ${s.ids[0]}`);
                    return s;
                });
                assertContiguous(now.ids, all);
                const still = await ada.messageLog().evaluate((log, id) => {
                    const a = log.querySelector(`article[data-message-id="${id}"]`);
                    if (!a) return null;
                    const box = log.getBoundingClientRect();
                    const r = a.getBoundingClientRect();
                    return { top: r.top - box.top, visible: r.bottom > box.top && r.top < box.bottom };
                }, before.first);
                assert.ok(still?.visible, `page ${page + 1}: message ${before.first}, visible before the load, is not visible after it`);
                assert.ok(Math.abs(still.top - before.firstTop) < 2,
                    `page ${page + 1}: message ${before.first} moved from ${before.firstTop} px to ${still.top} px`);
            }
            const { ids } = await logState(ada);
            t.diagnostic(`after ${PAGES} pages: ${ids.length} articles in the log, ${messageRequests} message requests`);
        });
        await step('Ada scrolls back down: the pages loaded before show again from memory, with no request', async () => {
            const requests = messageRequests;
            for (let i = 0; i < 3; i++) {
                const newest = await ada.messageLog().evaluate((log) => {
                    log.scrollTop = log.scrollHeight;
                    return [...log.querySelectorAll('article')].at(-1).dataset.messageId;
                });
                await eventually('newer messages show below', async () => {
                    const { ids } = await logState(ada);
                    assert.ok(byId(ids.at(-1), newest) > 0, `the newest shown is still ${ids.at(-1)}`);
                    assertContiguous(ids, all);
                });
            }
            assert.equal(messageRequests, requests, 'scrolling down asked the server for messages again');
        });
        const newButton = ada.page.getByRole('button', { name: 'New messages', exact: true });
        await step('Bob sends a message while Ada is scrolled up: her view stays, a "New messages" button shows', async () => {
            const before = await logState(ada);
            await rest('POST', `/v1/conversations/${bob.dm}/messages`, bob.token, { text: 'live while scrolled up' });
            await visible('the "New messages" button', newButton);
            const after = await logState(ada);
            assert.equal(after.first, before.first, 'the view moved');
            assert.ok(!after.texts.includes('live while scrolled up'), 'the new message was rendered far off the window');
        });
        await step('Ada clicks "New messages": the log shows the newest messages, the live one last and in view', async () => {
            await newButton.click();
            await eventually('the live message is the last one, in view', async () => {
                const { texts } = await logState(ada);
                assert.equal(texts.at(-1), 'live while scrolled up');
                const inView = await ada.messageLog().evaluate((log) => {
                    const a = [...log.querySelectorAll('article')].at(-1).getBoundingClientRect();
                    const box = log.getBoundingClientRect();
                    return a.bottom <= box.bottom + 1 && a.top >= box.top - 1;
                });
                assert.ok(inView, 'the last message is not in view');
            });
            await gone('the "New messages" button', newButton);
        });
        await step('at the bottom, another live message from Bob appears at the bottom with no button', async () => {
            await rest('POST', `/v1/conversations/${bob.dm}/messages`, bob.token, { text: 'live at the bottom' });
            await eventually('it is the last message, in view', async () => {
                const { texts, ids } = await logState(ada);
                assert.equal(texts.at(-1), 'live at the bottom');
                assert.ok(ids.length < MAX_ARTICLES);
                const inView = await ada.messageLog().evaluate((log) => log.scrollHeight - log.scrollTop - log.clientHeight < 2);
                assert.ok(inView, 'the log is not scrolled to the bottom');
            });
            assert.equal(await newButton.isVisible(), false, 'the "New messages" button shows at the bottom');
        });
    });
});

test('on a phone screen, a DM shows alone with "Back to conversations"', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [[...ADA, PHONE], BOB], async (step, ada, bob) => {
        const noSideways = async (when) => {
            const { scroll, width } = await ada.page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: window.innerWidth }));
            assert.ok(scroll <= width, `${when}: the page is ${scroll} px wide on a ${width} px screen`);
        };
        await step('Ada signs up on her phone; Bob signs up on a computer', async () => {
            await ada.signUp();
            await noSideways('after signing up');
            await bob.signUp();
        });
        await step('Ada opens a DM with Bob: only the conversation shows, with "Back to conversations"', async () => {
            await ada.openDmWith(bob);
            await visible('"Back to conversations"', ada.page.getByRole('button', { name: 'Back to conversations', exact: true }));
            await gone('the Conversations list', ada.conversations());
            await visible('the composer', ada.composer());
        });
        await step('Ada sends a message; it shows as sent, above the composer, within the screen', async () => {
            await ada.send('hello from my phone');
            await ada.expectMessage('hello from my phone', { state: 'sent' });
            const fits = await ada.page.evaluate(() => {
                const inside = (el) => {
                    const r = el.getBoundingClientRect();
                    return r.left >= 0 && r.right <= window.innerWidth + 0.5 && r.top >= 0 && r.bottom <= window.innerHeight + 0.5;
                };
                return {
                    composer: inside(document.querySelector('#composer')),
                    send: inside(document.querySelector('#composer button[type="submit"]')),
                    heading: inside(document.querySelector('#conv-title')),
                };
            });
            assert.deepEqual(fits, { composer: true, send: true, heading: true }, 'part of the conversation is off the screen');
            const heights = await ada.page.evaluate(() =>
                [...document.querySelectorAll('.topbar button, .conv-head button:not([hidden])')].map((b) => [b.textContent, b.getBoundingClientRect().height]));
            const tallest = Math.min(...heights.map(([, height]) => height)) * 1.3;
            for (const [label, height] of heights) assert.ok(height <= tallest, `the "${label}" button wraps onto two lines (${height} px high)`);
            await noSideways('in the DM');
            await ada.screenshot('phone-dm');
        });
        await step('Ada goes back: she sees the list with the DM, and the conversation is gone', async () => {
            await ada.page.getByRole('button', { name: 'Back to conversations', exact: true }).click();
            await visible('the DM in the Conversations list', ada.conversationButton(bob.name));
            await gone('the conversation heading', ada.heading(bob.name));
            await noSideways('in the list');
        });
    });
});

test('logging in by username in an organization', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA], async (step, ada) => {
        await step('Ada signs up in a new organization, then logs out', async () => {
            await ada.signUp();
            await ada.logOutButton().click();
            await visible('the "Log in" form', ada.logInForm());
        });
        const form = ada.logInForm();
        await step('her username without the organization is not found (it is looked up in the default one)', async () => {
            await form.getByLabel('Email or username', { exact: true }).fill(ada.username);
            await form.getByLabel('Password', { exact: true }).fill(ada.password);
            await form.getByRole('button', { name: 'Log in', exact: true }).click();
            await visible('an alert in the form', form.getByRole('alert').filter({ hasText: /\S/ }));
        });
        await step('with "Organization" filled in, the username login works', async () => {
            await form.getByLabel('Organization', { exact: true }).fill(ada.org);
            await form.getByRole('button', { name: 'Log in', exact: true }).click();
            await ada.expectLoggedIn('after logging in by username and organization');
            await visible('her name in the top bar', ada.page.getByText(ada.name, { exact: true }));
        });
    });
});

test('a page asking another host than the server fails the test', { timeout: TEST_TIMEOUT }, async () => {
    const [ada] = await people(ADA);
    const other = BASE_URL.replace('127.0.0.1', 'localhost');
    assert.notEqual(other, BASE_URL, 'the server is not on 127.0.0.1, so this test has no other host to try');
    await ada.page.goto(other + '/').catch(() => {});
    await assert.rejects(() => ada.close(), /requests to other hosts/);
});
