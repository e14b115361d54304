// Browser tests of groups, channels, reactions and deletion against a real `parley` server at PARLEY_URL
// (run with `bash scripts/e2e`). Like chat.test.mjs: a new organization per test, one browser context per person,
// screenshots to target/e2e/<test-name>.png, pass or fail.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, gone, randomSuffix, sharedBrowser, visible } from './lib.mjs';

const TEST_TIMEOUT = 60_000;
const ADA = ['ada', 'Ada Lovelace'];
const BOB = ['bob', 'Bob Stone'];
const CARA = ['cara', 'Cara Diaz'];

const { people, withPeople } = sharedBrowser();

/// The open conversation's message article that shows `text`.
function article(user, text) {
    return user.messageLog().locator('article').filter({ has: user.page.locator('.text', { hasText: text }) });
}

test('a group reaches every member live', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB, CARA], async (step, ada, bob, cara) => {
        for (const user of [ada, bob, cara]) await step(`${user.name} signs up`, () => user.signUp());
        const panel = ada.page.getByRole('region', { name: 'Start a group', exact: true });
        await step('Ada opens "New group" and names it "Launch team"', async () => {
            await ada.page.getByRole('button', { name: 'New group', exact: true }).click();
            await visible('the "Start a group" panel', panel);
            await panel.getByLabel('Group name', { exact: true }).fill('Launch team');
        });
        for (const other of [bob, cara]) {
            await step(`Ada finds ${other.name} with "Find a colleague" and adds them`, async () => {
                await panel.getByLabel('Find a colleague', { exact: true }).fill(other.name);
                const result = panel.getByRole('button', { name: other.name, exact: true });
                await visible(`a result button "${other.name}"`, result);
                await result.click();
                await visible(`a "Remove ${other.name}" button`, panel.getByRole('button', { name: `Remove ${other.name}`, exact: true }));
            });
        }
        await step('both chosen people are listed', async () => {
            for (const other of [bob, cara]) {
                await visible(`"Remove ${other.name}"`, panel.getByRole('button', { name: `Remove ${other.name}`, exact: true }));
            }
        });
        await cara.markPage();
        await step('"Create group" opens the group "Launch team"', async () => {
            await panel.getByRole('button', { name: 'Create group', exact: true }).click();
            await visible('the heading "Launch team"', ada.heading('Launch team'));
            await gone('the "Start a group" panel', panel);
        });
        await step('Ada says "hello team" and sees it as sent', async () => {
            await ada.send('hello team');
            await ada.expectMessage('hello team', { state: 'sent' });
        });
        await step("the group appears in Cara's and Bob's lists without a reload", async () => {
            await visible('"Launch team" in Cara\'s list', cara.conversationButton('Launch team'));
            await visible('"Launch team" in Bob\'s list', bob.conversationButton('Launch team'));
            await cara.expectSamePage();
        });
        await step('Cara opens it and sees Ada\'s "hello team"', async () => {
            await cara.openConversation('Launch team');
            const [message] = await cara.expectMessage('hello team');
            assert.equal(message.author, ada.name, JSON.stringify(message));
        });
    });
});

test('a channel is joined by its link, announced and left', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB], async (step, ada, bob) => {
        const handle = `launch-${randomSuffix()}`;
        await step('Ada signs up', () => ada.signUp());
        await step('Bob signs up in the same organization', () => bob.signUp());
        await step(`Ada creates channel "Launch" (#${handle}) from "Channels"`, async () => {
            await ada.page.getByRole('button', { name: 'Channels', exact: true }).click();
            const dir = await visible('the "Channel directory" panel', ada.page.getByRole('region', { name: 'Channel directory', exact: true }));
            await dir.getByLabel('Channel name', { exact: true }).fill('Launch');
            await dir.getByLabel('Handle', { exact: true }).fill(handle);
            await dir.getByRole('button', { name: 'Create channel', exact: true }).click();
            await visible('the heading "Launch"', ada.heading('Launch'));
        });
        const joinUrl = await step('the channel shows its join link as text', async () =>
            eventually('a "Join link" ending in /v1/join/HANDLE', async () => {
                const text = (await ada.page.getByLabel('Join link', { exact: true }).textContent()).trim();
                assert.ok(text.endsWith(`/v1/join/${handle}`), `the join link is "${text}"`);
                return text;
            }),
        );
        await step('Ada says "welcome to Launch"', async () => {
            await ada.send('welcome to Launch');
            await ada.expectMessage('welcome to Launch', { state: 'sent' });
        });
        await ada.markPage();
        await step('Bob opens the join link, is asked first, and presses "Join"', async () => {
            await bob.page.goto(joinUrl);
            const ask = await visible(`a region "Join Launch (#${handle})?"`,
                bob.page.getByRole('region', { name: `Join Launch (#${handle})?`, exact: true }));
            await visible('"1 member" in it', ask.getByText('1 member', { exact: true }));
            await gone('the heading "Launch" before he says yes', bob.heading('Launch'), 1000);
            const join = ask.getByRole('button', { name: 'Join', exact: true });
            await eventually('focus on "Join"', async () => assert.ok(await join.evaluate((el) => el === document.activeElement)));
            await bob.page.keyboard.press('Enter');
        });
        await step('Bob lands in the channel with its history', async () => {
            await visible('the heading "Launch" on Bob\'s page', bob.heading('Launch'));
            await bob.expectMessage('welcome to Launch');
            await visible('"Launch" in Bob\'s list, showing the last message',
                bob.conversationButton('Launch').filter({ hasText: 'welcome to Launch' }));
        });
        await step(`Ada sees "${bob.name} joined" live, as a system line`, async () => {
            await visible(`a .system line "${bob.name} joined"`, ada.messageLog().locator('.system', { hasText: `${bob.name} joined` }));
            await ada.expectSamePage();
            const texts = (await ada.messages()).map((message) => message.text);
            assert.ok(!texts.some((text) => text.includes('joined')), `a join shown as a message: ${JSON.stringify(texts)}`);
        });
        await step('Bob presses "Leave" and the channel leaves his list', async () => {
            await bob.page.getByRole('button', { name: 'Leave', exact: true }).click();
            await gone('"Launch" in Bob\'s list', bob.conversationButton('Launch'));
            await gone('the heading "Launch" on Bob\'s page', bob.heading('Launch'));
            await eventually('focus on "New direct message" after leaving, not lost to the page', async () => {
                const focused = await bob.page.evaluate(() => document.activeElement?.textContent?.trim());
                assert.equal(focused, 'New direct message');
            });
        });
        await step(`the directory offers Bob "Join #${handle}" again, and it rejoins`, async () => {
            await bob.page.getByRole('button', { name: 'Channels', exact: true }).click();
            const dir = await visible('the "Channel directory" panel', bob.page.getByRole('region', { name: 'Channel directory', exact: true }));
            await dir.getByLabel('Search channels', { exact: true }).fill(handle);
            const join = dir.getByRole('button', { name: `Join #${handle}`, exact: true });
            await visible(`a "Join #${handle}" button`, join);
            await join.click();
            await visible('the heading "Launch" on Bob\'s page', bob.heading('Launch'));
            await bob.expectMessage('welcome to Launch');
        });
    });
});

test('reactions and deletion reach the other side live', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB], async (step, ada, bob) => {
        await step('Ada signs up', () => ada.signUp());
        await step('Bob signs up in the same organization', () => bob.signUp());
        await step('Ada opens a DM with Bob and says "hello Bob"', async () => {
            await ada.openDmWith(bob);
            await ada.send('hello Bob');
            await ada.expectMessage('hello Bob', { state: 'sent' });
        });
        await step('Bob opens the DM and sees it', async () => {
            await bob.openConversation(ada.name);
            await bob.expectMessage('hello Bob');
        });
        await ada.markPage();
        await step('Bob presses "Like" in the message\'s "React" toolbar', async () => {
            const toolbar = article(bob, 'hello Bob').getByRole('toolbar', { name: 'React', exact: true });
            await visible('the "React" toolbar', toolbar);
            await toolbar.getByRole('button', { name: 'Like', exact: true }).click();
            await visible('a pressed "Like 1" reaction on Bob\'s side',
                article(bob, 'hello Bob').locator('.reactions').getByRole('button', { name: 'Like 1', exact: true, pressed: true }));
        });
        await step('Ada sees the count 1 live, not pressed for her', async () => {
            await visible('a "Like 1" reaction on Ada\'s side',
                article(ada, 'hello Bob').locator('.reactions').getByRole('button', { name: 'Like 1', exact: true, pressed: false }));
            await ada.expectSamePage();
            await ada.screenshot('reactions-and-deletion-liked-ada');
        });
        await step('Bob has no "Delete for everyone" on Ada\'s message, only "Delete for me"', async () => {
            const art = article(bob, 'hello Bob');
            await visible('"Delete for me"', art.getByRole('button', { name: 'Delete for me', exact: true }));
            assert.equal(await art.getByRole('button', { name: 'Delete for everyone', exact: true }).count(), 0);
        });
        await bob.markPage();
        await step('Ada deletes it for everyone; Bob sees "This message was deleted." live', async () => {
            await article(ada, 'hello Bob').getByRole('button', { name: 'Delete for everyone', exact: true }).click();
            await ada.expectMessage('This message was deleted.');
            await bob.expectMessage('This message was deleted.');
            await bob.expectSamePage();
            const texts = (await bob.messages()).map((message) => message.text);
            assert.ok(!texts.includes('hello Bob'), `Bob still sees the text: ${JSON.stringify(texts)}`);
        });
    });
});

test('a member invites a colleague into a group', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB, CARA], async (step, ada, bob, cara) => {
        for (const user of [ada, bob, cara]) await step(`${user.name} signs up`, () => user.signUp());
        const panel = ada.page.getByRole('region', { name: 'Start a group', exact: true });
        await step('Ada creates the group "Crew" with Bob and says "hi crew"', async () => {
            await ada.page.getByRole('button', { name: 'New group', exact: true }).click();
            await panel.getByLabel('Group name', { exact: true }).fill('Crew');
            await panel.getByLabel('Find a colleague', { exact: true }).fill(bob.name);
            await panel.getByRole('button', { name: bob.name, exact: true }).click();
            await panel.getByRole('button', { name: 'Create group', exact: true }).click();
            await visible('the heading "Crew"', ada.heading('Crew'));
            await ada.send('hi crew');
            await ada.expectMessage('hi crew', { state: 'sent' });
        });
        await step('Bob opens "Crew"', async () => {
            await visible('"Crew" in Bob\'s list', bob.conversationButton('Crew'));
            await bob.openConversation('Crew');
            await bob.expectMessage('hi crew');
        });
        await cara.markPage();
        await step('Ada presses "Invite", finds Cara and picks her', async () => {
            await ada.page.getByRole('button', { name: 'Invite', exact: true }).click();
            const invite = await visible('the "Invite to this conversation" region', ada.page.getByRole('region', { name: 'Invite to this conversation', exact: true }));
            await eventually('focus in "Find a colleague"', async () =>
                assert.equal(await ada.page.evaluate(() => document.activeElement?.id), 'dm-q'));
            await invite.getByLabel('Find a colleague', { exact: true }).fill(cara.name);
            await invite.getByRole('button', { name: cara.name, exact: true }).click();
            await visible('"Cara Diaz is in Crew now."', invite.getByText(`${cara.name} is in Crew now.`, { exact: true }));
        });
        await step('Cara sees "Crew" in her list live and reads its history', async () => {
            await visible('"Crew" in Cara\'s list', cara.conversationButton('Crew'));
            await cara.expectSamePage();
            await cara.openConversation('Crew');
            await cara.expectMessage('hi crew');
        });
        await step(`Bob sees "${cara.name} joined" live`, () =>
            visible(`a .system line "${cara.name} joined"`, bob.messageLog().locator('.system', { hasText: `${cara.name} joined` })));
        await step('Escape closes the invite panel and focus returns to "Invite"', async () => {
            await ada.page.keyboard.press('Escape');
            await gone('the "Invite to this conversation" region', ada.page.getByRole('region', { name: 'Invite to this conversation', exact: true }));
            assert.equal(await ada.page.evaluate(() => document.activeElement?.textContent?.trim()), 'Invite');
        });
        await step('a DM has no "Invite"', async () => {
            await ada.openDmWith(bob);
            await gone('"Invite"', ada.page.getByRole('button', { name: 'Invite', exact: true }));
        });
    });
});
