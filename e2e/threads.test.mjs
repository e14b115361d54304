// Threads in the web client, against a real `parley` server at PARLEY_URL (run with `bash scripts/e2e`): the
// thread pane (a message's "Reply in thread", the replies' summary under the root, live replies, "Also send to
// conversation", Follow and Unfollow, paging, Escape), the "Threads" view of the sidebar with its unread
// badge. Screenshots and page logs go to target/e2e/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, gone, rest, sharedBrowser, startsWith, visible } from './lib.mjs';

const TEST_TIMEOUT = 90_000;
const ADA = ['ada', 'Ada Lovelace'];
const BOB = ['bob', 'Bob Stone'];

const { withPeople } = sharedBrowser();

/// The thread pane: a complementary region named "Thread".
const pane = (user) => user.page.getByRole('complementary', { name: 'Thread', exact: true });
/// The texts of the replies the pane shows, in order.
const replyTexts = (user) => pane(user).getByRole('log', { name: 'Replies', exact: true }).locator('article .text').allTextContents();
/// The main log's article that shows `text`.
const article = (user, text) => user.messageLog().locator('article').filter({ has: user.page.locator('.text', { hasText: text }) });

/// Ada's and Bob's session tokens and ids, for seeding through the API.
async function sessions(...users) {
    const out = [];
    for (const user of users) {
        const token = await user.sessionToken();
        const me = await rest('GET', '/v1/users/me', token);
        out.push({ token, id: me.id });
    }
    return out;
}

/// Ada and Bob sign up; Ada makes the channel `name` through the API and Bob joins it; both see it listed.
async function aChannel(step, ada, bob, name) {
    await step('Ada and Bob sign up in one organization', async () => {
        await ada.signUp();
        await bob.signUp();
    });
    const [a, b] = await sessions(ada, bob);
    const channel = await step(`Ada makes the channel "${name}" and Bob joins it`, async () => {
        const c = await rest('POST', '/v1/conversations', a.token, { kind: 'channel', name, handle: `${name.toLowerCase()}-${ada.username.split('-')[1]}` });
        await rest('POST', `/v1/conversations/${c.id}/join`, b.token);
        await visible(`"${name}" in Ada's list`, ada.conversationButton(name));
        await visible(`"${name}" in Bob's list`, bob.conversationButton(name));
        return c;
    });
    return { a, b, channel };
}

/// Opens the thread of the message `text` in the main log with its "Reply in thread" action.
async function replyInThread(user, text) {
    const message = article(user, text);
    await message.hover();
    await message.getByRole('button', { name: 'Reply in thread', exact: true }).click();
    const region = await visible('the "Thread" pane', pane(user));
    await visible(`the root "${text}" in the pane`, region.locator('.thread-root .text', { hasText: text }));
    return region;
}

/// Sends `text` from the thread pane's composer, optionally "Also send to conversation".
async function sendReply(user, text, { also = false } = {}) {
    const region = pane(user);
    if (also) await region.getByRole('checkbox', { name: 'Also send to conversation', exact: true }).check();
    const box = region.getByRole('textbox', { name: 'Reply', exact: true });
    await box.fill(text);
    await box.press('Enter');
}

async function expectReplies(user, texts, what) {
    await eventually(`${user.name}'s thread pane shows ${what}`, async () => {
        const shown = await replyTexts(user);
        assert.deepEqual(shown, texts);
    });
}

test('a thread: reply in a pane beside the conversation, live for the other, with the summary under the root', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB], async (step, ada, bob) => {
        await aChannel(step, ada, bob, 'Launch');
        await step('Ada opens Launch and says "plan for the launch"; Bob sees it', async () => {
            await ada.openConversation('Launch');
            await ada.send('plan for the launch');
            await ada.expectMessage('plan for the launch', { state: 'sent' });
            await bob.openConversation('Launch');
            await bob.expectMessage('plan for the launch');
        });
        await ada.markPage();
        await step('Bob opens its thread with "Reply in thread": the pane shows the root, no replies, and its composer has the focus', async () => {
            await replyInThread(bob, 'plan for the launch');
            await visible('"No replies yet"', pane(bob).getByRole('separator', { name: 'No replies yet', exact: true }));
            await eventually('the focus is in the pane\'s composer', async () =>
                assert.equal(await bob.page.evaluate(() => document.activeElement?.id), 'thread-msg'));
        });
        await step('Bob replies "I take the slides": it shows in his pane, not in his main log', async () => {
            await sendReply(bob, 'I take the slides');
            await expectReplies(bob, ['I take the slides'], 'his reply');
            await visible('the reply as sent', pane(bob).locator('article[data-state="sent"]', { hasText: 'I take the slides' }));
            const main = (await bob.messages()).map((m) => m.text);
            assert.ok(!main.includes('I take the slides'), `Bob's main log: ${JSON.stringify(main)}`);
        });
        await step('Ada sees "1 reply · last reply …" under the root live, with Bob\'s avatar, and not the reply itself', async () => {
            const summary = article(ada, 'plan for the launch').getByRole('button', { name: startsWith('1 reply · last reply') });
            await visible('the summary button', summary);
            await visible('Bob\'s initials in it', summary.locator('.avatar', { hasText: 'BS' }));
            const main = (await ada.messages()).map((m) => m.text);
            assert.ok(!main.includes('I take the slides'), `Ada's main log: ${JSON.stringify(main)}`);
            await ada.expectSamePage();
        });
        await step('Ada opens the thread from the summary: Bob\'s reply, and "Unfollow" (she wrote the root)', async () => {
            await article(ada, 'plan for the launch').getByRole('button', { name: startsWith('1 reply') }).click();
            await visible('the pane', pane(ada));
            await expectReplies(ada, ['I take the slides'], 'Bob\'s reply');
            await visible('"Unfollow"', pane(ada).getByRole('button', { name: 'Unfollow', exact: true }));
        });
        await step('Bob replies again: it arrives live in Ada\'s open pane, and the count says "2 replies"', async () => {
            await sendReply(bob, 'and the demo');
            await expectReplies(ada, ['I take the slides', 'and the demo'], 'both replies');
            await visible('"2 replies" in Ada\'s pane', pane(ada).getByRole('separator', { name: '2 replies', exact: true }));
            await visible('"2 replies" under the root in Ada\'s log',
                article(ada, 'plan for the launch').getByRole('button', { name: startsWith('2 replies') }));
        });
        await step('Ada replies with "Also send to conversation": it shows in both panes and in Bob\'s main log, marked "Replied in a thread"', async () => {
            await sendReply(ada, 'great, thanks both', { also: true });
            await expectReplies(ada, ['I take the slides', 'and the demo', 'great, thanks both'], 'her reply too');
            await expectReplies(bob, ['I take the slides', 'and the demo', 'great, thanks both'], 'Ada\'s reply');
            await bob.expectMessage('great, thanks both');
            await visible('"Replied in a thread" on it', article(bob, 'great, thanks both').getByRole('button', { name: 'Replied in a thread', exact: true }));
            await ada.expectMessage('great, thanks both');
            await ada.screenshot('thread-pane-open-ada');
            await bob.screenshot('thread-pane-open-bob');
        });
        await step('"Unfollow" takes the thread out of Ada\'s followed threads; "Follow" puts it back', async () => {
            const token = await ada.sessionToken();
            await pane(ada).getByRole('button', { name: 'Unfollow', exact: true }).click();
            await visible('"Follow"', pane(ada).getByRole('button', { name: 'Follow', exact: true }));
            assert.deepEqual((await rest('GET', '/v1/threads', token)).threads, []);
            await pane(ada).getByRole('button', { name: 'Follow', exact: true }).click();
            await visible('"Unfollow"', pane(ada).getByRole('button', { name: 'Unfollow', exact: true }));
            assert.equal((await rest('GET', '/v1/threads', token)).threads.length, 1);
        });
        await step('Escape closes Ada\'s pane and puts the focus back on the summary she opened it with', async () => {
            await pane(ada).getByRole('textbox', { name: 'Reply', exact: true }).focus();
            await ada.page.keyboard.press('Escape');
            await gone('the pane', pane(ada));
            await eventually('the focus is on the summary button', async () =>
                assert.equal(await ada.page.evaluate(() => document.activeElement?.closest('article')?.querySelector('.thread-open .thread-n')?.textContent
                    + (document.activeElement?.classList.contains('thread-open') ? '' : ' (not the summary)')), '3 replies'));
        });
        await step('Bob closes his pane with "Close thread"', async () => {
            await pane(bob).getByRole('button', { name: 'Close thread', exact: true }).click();
            await gone('the pane', pane(bob));
        });
    });
});

test('a long thread pages like the log, and opening it marks it read', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB], async (step, ada, bob) => {
        const { a, b, channel } = await aChannel(step, ada, bob, 'Design');
        const root = await step('Ada posts a root; Bob posts 60 replies to it through the API', async () => {
            const m = await rest('POST', `/v1/conversations/${channel.id}/messages`, a.token, { text: 'the long thread' });
            for (let i = 1; i <= 60; i++) {
                await rest('POST', `/v1/conversations/${channel.id}/messages`, b.token, { text: `reply ${i}`, thread_root_id: m.id });
            }
            return m;
        });
        await step('Ada follows it (she wrote the root) with 60 unread replies', async () => {
            const { threads } = await rest('GET', '/v1/threads', a.token);
            assert.equal(threads.length, 1);
            assert.equal(threads[0].root.id, root.id);
            assert.equal(threads[0].unread_replies, 60);
        });
        await step('Ada opens Design: "60 replies" under the root; opening it shows the newest 50 replies', async () => {
            await ada.openConversation('Design');
            await ada.expectMessage('the long thread');
            await article(ada, 'the long thread').getByRole('button', { name: startsWith('60 replies') }).click();
            await eventually('replies 11 to 60 are shown', async () => {
                const shown = await replyTexts(ada);
                assert.deepEqual(shown, Array.from({ length: 50 }, (_, i) => `reply ${i + 11}`));
            });
            await visible('"Load earlier replies"', pane(ada).getByRole('button', { name: 'Load earlier replies', exact: true }));
        });
        await step('the thread is read up to its newest reply', async () => {
            await eventually('no unread replies', async () => {
                const { threads } = await rest('GET', '/v1/threads', a.token);
                assert.equal(threads[0].unread_replies, 0);
            });
        });
        await step('"Load earlier replies" shows replies 1 to 10 above, and then goes', async () => {
            // Focusing it scrolls the replies up, which may load the earlier page by itself: both are fine.
            await pane(ada).getByRole('button', { name: 'Load earlier replies', exact: true }).focus();
            await ada.page.keyboard.press('Enter');
            await eventually('all 60 replies are shown, in order', async () => {
                const shown = await replyTexts(ada);
                assert.deepEqual(shown, Array.from({ length: 60 }, (_, i) => `reply ${i + 1}`));
            });
            await gone('"Load earlier replies"', pane(ada).getByRole('button', { name: 'Load earlier replies', exact: true }));
        });
        await step('opening another conversation closes the pane', async () => {
            await ada.openDmWith(bob);
            await gone('the pane', pane(ada));
        });
    });
});

test('"Threads" lists the threads followed with their unread replies, live, and opens one', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB], async (step, ada, bob) => {
        const { a, b, channel } = await aChannel(step, ada, bob, 'Ops');
        const threadsButton = ada.page.getByRole('button', { name: startsWith('Threads') });
        const root = await step('Ada posts "deploy at five" and Bob replies in its thread (API): Ada\'s "Threads" says "1 unread", live', async () => {
            const m = await rest('POST', `/v1/conversations/${channel.id}/messages`, a.token, { text: 'deploy at five' });
            await rest('POST', `/v1/conversations/${channel.id}/messages`, b.token, { text: 'ready on my side', thread_root_id: m.id });
            await visible('"Threads, 1 unread"', ada.page.getByRole('button', { name: /^Threads\b.*\b1 unread$/ }));
            return m;
        });
        await step('a second reply makes it "2 unread", live', async () => {
            await rest('POST', `/v1/conversations/${channel.id}/messages`, b.token, { text: 'tests are green', thread_root_id: root.id });
            await visible('"Threads, 2 unread"', ada.page.getByRole('button', { name: /^Threads\b.*\b2 unread$/ }));
        });
        const item = await step('"Threads" opens the list: "Ops: deploy at five, 2 replies …, 2 unread"', async () => {
            await threadsButton.click();
            const panel = await visible('the "Threads" panel', ada.page.getByRole('region', { name: 'Threads', exact: true }));
            return visible('the thread', panel.getByRole('button', { name: /^Ops\b.*\bdeploy at five\b.*\b2 replies\b.*\b2 unread$/ }));
        });
        await ada.screenshot('threads-view-ada');
        await step('activating it opens Ops and the thread pane with both replies; the badge goes once read', async () => {
            await item.click();
            await visible('the heading "Ops"', ada.heading('Ops'));
            await expectReplies(ada, ['ready on my side', 'tests are green'], 'both replies');
            await visible('"Threads" with no unread', ada.page.getByRole('button', { name: 'Threads', exact: true }));
        });
    });
});
