// Browser tests of read markers, typing, presence, the profile view and avatars, against a real `parley`
// server at PARLEY_URL (run them with `bash scripts/e2e`). Screenshots go to target/e2e/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, gone, rest, sharedBrowser, startsWith, visible } from './lib.mjs';

const TEST_TIMEOUT = 60_000;
const ADA = ['ada', 'Ada Lovelace'];
const BOB = ['bob', 'Bob Stone'];
const CARA = ['cara', 'Cara Diaz'];
/// The server's presence grace period is 5 s; give it room.
const OFFLINE_TIMEOUT = 15_000;

const { people, withPeople } = sharedBrowser();

/// Ada and Bob sign up in one new organization and Ada opens a DM with Bob.
async function signUpAndDm(step, ada, bob) {
    await step('Ada signs up', () => ada.signUp());
    await step('Bob signs up in the same organization', () => bob.signUp());
    await step('Ada opens a DM with Bob', () => ada.openDmWith(bob));
}

/// Ada says "hi" in the DM, and Bob opens it and sees it.
async function adaSaysHiAndBobOpens(step, ada, bob) {
    await step('Ada says "hi" and Bob opens the DM', async () => {
        await ada.send('hi');
        await ada.expectMessage('hi', { state: 'sent' });
        await visible("the DM in Bob's list", bob.conversationButton(ada.name));
        await bob.openConversation(ada.name);
        await bob.expectMessage('hi');
    });
}

/// The article of the open conversation's message with exactly this text.
function article(user, text) {
    return user.messageLog().locator('article').filter({ has: user.page.locator('.text', { hasText: text }) });
}

test('read markers move live', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB], async (step, ada, bob) => {
        await signUpAndDm(step, ada, bob);
        await step('Ada sends "first" and "second"', async () => {
            await ada.send('first');
            await ada.expectMessage('first', { state: 'sent' });
            await ada.send('second');
            await ada.expectMessage('second', { state: 'sent' });
        });
        await step('nobody has read them yet: no "Read by Bob Stone"', async () => {
            assert.equal(await ada.messageLog().getByRole('img', { name: 'Read by Bob Stone', exact: true }).count(), 0);
        });
        await ada.markPage();
        await step('Bob opens the DM and sees both', async () => {
            await visible("the DM in Bob's list", bob.conversationButton(ada.name));
            await bob.openConversation(ada.name);
            await bob.expectMessage('second');
        });
        await step('Ada sees "Read by Bob Stone" after "second", live', async () => {
            await visible('"Read by Bob Stone" on "second"',
                article(ada, 'second').getByRole('img', { name: 'Read by Bob Stone', exact: true }));
            assert.equal(await ada.messageLog().getByRole('img', { name: 'Read by Bob Stone', exact: true }).count(), 1);
            await ada.expectSamePage();
        });
        await step('Ada sends "third" while Bob has the DM open: the marker moves to it', async () => {
            await ada.send('third');
            await bob.expectMessage('third');
            await visible('"Read by Bob Stone" on "third"',
                article(ada, 'third').getByRole('img', { name: 'Read by Bob Stone', exact: true }));
            await eventually('only one marker for Bob', async () => {
                assert.equal(await ada.messageLog().getByRole('img', { name: 'Read by Bob Stone', exact: true }).count(), 1);
            });
        });
        await step('Bob sees "Read by Ada Lovelace" on the newest message', () =>
            visible('"Read by Ada Lovelace"',
                article(bob, 'third').getByRole('img', { name: 'Read by Ada Lovelace', exact: true })),
        );
    });
});

test('read markers in a group, one per member', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB, CARA], async (step, ada, bob, cara) => {
        for (const user of [ada, bob, cara]) await step(`${user.name} signs up`, () => user.signUp());
        const panel = ada.page.getByRole('region', { name: 'Start a group', exact: true });
        await step('Ada creates the group "Crew" with Bob and Cara', async () => {
            await ada.page.getByRole('button', { name: 'New group', exact: true }).click();
            await visible('the "Start a group" panel', panel);
            await panel.getByLabel('Group name', { exact: true }).fill('Crew');
            for (const other of [bob, cara]) {
                await panel.getByLabel('Find a colleague', { exact: true }).fill(other.name);
                const result = panel.getByRole('button', { name: other.name, exact: true });
                await visible(`a result button "${other.name}"`, result);
                await result.click();
                await visible(`"Remove ${other.name}"`, panel.getByRole('button', { name: `Remove ${other.name}`, exact: true }));
            }
            await panel.getByRole('button', { name: 'Create group', exact: true }).click();
            await visible('the heading "Crew"', ada.heading('Crew'));
            await gone('the "Start a group" panel', panel);
        });
        await step('Ada sends "one" and "two"', async () => {
            await ada.send('one');
            await ada.expectMessage('one', { state: 'sent' });
            await ada.send('two');
            await ada.expectMessage('two', { state: 'sent' });
        });
        await step('Bob opens the group: Ada sees "Read by Bob Stone" on "two", and none for Cara', async () => {
            await visible('"Crew" in Bob\'s list', bob.conversationButton('Crew'));
            await bob.openConversation('Crew');
            await bob.expectMessage('two');
            await visible('"Read by Bob Stone" on "two"',
                article(ada, 'two').getByRole('img', { name: 'Read by Bob Stone', exact: true }));
            assert.equal(await ada.messageLog().getByRole('img', { name: 'Read by Cara Diaz', exact: true }).count(), 0);
        });
        await step('Cara opens it too: both markers sit on "two"', async () => {
            await visible('"Crew" in Cara\'s list', cara.conversationButton('Crew'));
            await cara.openConversation('Crew');
            await cara.expectMessage('two');
            await visible('"Read by Cara Diaz" on "two"',
                article(ada, 'two').getByRole('img', { name: 'Read by Cara Diaz', exact: true }));
            await visible('"Read by Bob Stone" still on "two"',
                article(ada, 'two').getByRole('img', { name: 'Read by Bob Stone', exact: true }));
        });
        await step('Cara sees Bob\'s marker (fetched from the receipts on open) and none of her own', async () => {
            await visible('"Read by Bob Stone" on Cara\'s page',
                article(cara, 'two').getByRole('img', { name: 'Read by Bob Stone', exact: true }));
            assert.equal(await cara.messageLog().getByRole('img', { name: 'Read by Cara Diaz', exact: true }).count(), 0);
        });
    });
});

test('typing shows live', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB], async (step, ada, bob) => {
        await signUpAndDm(step, ada, bob);
        await step('Ada says "hi"', async () => {
            await ada.send('hi');
            await ada.expectMessage('hi', { state: 'sent' });
        });
        await step('Bob opens the DM', async () => {
            await visible("the DM in Bob's list", bob.conversationButton(ada.name));
            await bob.openConversation(ada.name);
            await bob.expectMessage('hi');
        });
        const typing = ada.page.locator('.typing[aria-live="polite"]');
        await step('Bob types without sending; Ada sees "Bob Stone is typing…"', async () => {
            await bob.composer().pressSequentially('hello the', { delay: 30 });
            await eventually('"Bob Stone is typing…" on Ada\'s page', async () => {
                assert.equal((await typing.textContent()).trim(), 'Bob Stone is typing…');
            });
            await ada.screenshot('typing-shows-live-typing-ada');
        });
        await step('it goes away a few seconds after Bob stops', () =>
            eventually('the typing line is empty', async () => {
                assert.equal((await typing.textContent()).trim(), '');
            }, { timeout: 10_000 }),
        );
    });
});

test('presence and the profile', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB], async (step, ada, bob) => {
        await signUpAndDm(step, ada, bob);
        await step('Ada sees Bob online in the list and the header', async () => {
            await visible('an "online" dot in the DM\'s button',
                ada.conversationButton(bob.name).getByRole('img', { name: 'online', exact: true }));
            await visible('an "online" dot in the header',
                ada.main().locator('.conv-head').getByRole('img', { name: 'online', exact: true }));
        });
        const profile = ada.page.getByRole('region', { name: 'Profile', exact: true });
        await step('"Profile of Bob Stone" shows his name, username and "Online"', async () => {
            await ada.page.getByRole('button', { name: `Profile of ${bob.name}`, exact: true }).click();
            await visible('the "Profile" section', profile);
            await visible('his name', profile.getByText(bob.name, { exact: true }));
            await visible('his @username', profile.getByText(`@${bob.username}`, { exact: true }));
            await visible('"Online"', profile.getByText('Online', { exact: true }));
        });
        await step('"Add to contacts" becomes "Remove from contacts", and back', async () => {
            await profile.getByRole('button', { name: 'Add to contacts', exact: true }).click();
            await visible('"Remove from contacts"', profile.getByRole('button', { name: 'Remove from contacts', exact: true }));
            await profile.getByRole('button', { name: 'Remove from contacts', exact: true }).click();
            await visible('"Add to contacts"', profile.getByRole('button', { name: 'Add to contacts', exact: true }));
            await profile.getByRole('button', { name: 'Add to contacts', exact: true }).click();
            await visible('"Remove from contacts"', profile.getByRole('button', { name: 'Remove from contacts', exact: true }));
        });
        await step('Bob closes his page; Ada sees him offline within 15 s', async () => {
            await bob.page.close();
            bob.page = null;
            await visible('an "offline" dot in the header',
                ada.main().locator('.conv-head').getByRole('img', { name: 'offline', exact: true }), OFFLINE_TIMEOUT);
            await visible('an "offline" dot in the DM\'s button',
                ada.conversationButton(bob.name).getByRole('img', { name: 'offline', exact: true }));
        });
        await step('the profile says "Last seen …"', () =>
            visible('"Last seen …"', profile.getByText(startsWith('Last seen '))),
        );
        await step('after a reload the contact is kept and Bob is still offline', async () => {
            await ada.page.reload();
            await ada.expectLoggedIn('after a reload');
            await ada.openConversation(bob.name);
            await visible('an "offline" dot in the header',
                ada.main().locator('.conv-head').getByRole('img', { name: 'offline', exact: true }));
            await ada.page.getByRole('button', { name: `Profile of ${bob.name}`, exact: true }).click();
            await visible('"Remove from contacts"', profile.getByRole('button', { name: 'Remove from contacts', exact: true }));
            await visible('"Last seen …"', profile.getByText(startsWith('Last seen ')));
        });
    });
});

/// A 1x1 PNG (one opaque blue pixel), whole: its checksums hold, since the server decodes what it is sent.
const PNG_1X1 = Buffer.from(
    'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNQCT/6HwAEIwJAV+okQAAAAABJRU5ErkJggg==',
    'base64',
);

test('an avatar is uploaded and shown', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB], async (step, ada, bob) => {
        await signUpAndDm(step, ada, bob);
        await adaSaysHiAndBobOpens(step, ada, bob);
        await step('Bob\'s read marker shows his initials before he has an avatar', () =>
            eventually('"BS" in the marker', async () => {
                const mark = article(ada, 'hi').getByRole('img', { name: 'Read by Bob Stone', exact: true });
                assert.equal((await mark.textContent()).trim(), 'BS');
            }),
        );
        await ada.markPage();
        await step('Bob opens "Settings" and uploads a PNG as "Avatar"', async () => {
            await bob.page.getByRole('button', { name: 'Settings', exact: true }).click();
            const settings = await visible('the "Settings" section', bob.page.getByRole('region', { name: 'Settings', exact: true }));
            await settings.getByLabel('Avatar', { exact: true }).setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: PNG_1X1 });
            await visible('"Avatar updated."', settings.getByText('Avatar updated.', { exact: true }));
        });
        await step("Bob's own message header shows his avatar image", async () => {
            await bob.send('with avatar');
            await bob.expectMessage('with avatar', { state: 'sent' });
            await visible('an avatar image in the header',
                article(bob, 'with avatar').locator('.msg-head .avatar img[src^="blob:"]'));
        });
        await step('Ada sees his avatar live, without a reload, in his message and his read marker', async () => {
            await visible('his avatar in the message header',
                article(ada, 'with avatar').locator('.msg-head .avatar img[src^="blob:"]'));
            await visible('his avatar in the read marker',
                ada.messageLog().getByRole('img', { name: 'Read by Bob Stone', exact: true }).locator('img[src^="blob:"]'));
            await ada.expectSamePage();
        });
        await step('Ada, after a reload, sees his avatar in his message and his read marker', async () => {
            await ada.page.reload();
            await ada.expectLoggedIn('after a reload');
            await ada.openConversation(bob.name);
            await ada.expectMessage('with avatar');
            await visible('his avatar in the message header',
                article(ada, 'with avatar').locator('.msg-head .avatar img[src^="blob:"]'));
            const mark = article(ada, 'with avatar').getByRole('img', { name: 'Read by Bob Stone', exact: true });
            await visible('his avatar in the read marker', mark.locator('img[src^="blob:"]'));
            const size = await mark.locator('img').evaluate((img) => img.naturalWidth);
            assert.equal(size, 1);
        });
    });
});

test('a new name reaches the others live', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB, CARA], async (step, ada, bob, cara) => {
        await signUpAndDm(step, ada, bob);
        await adaSaysHiAndBobOpens(step, ada, bob);
        await step('Cara signs up; Bob puts her in the group "Crew" and says "crew, hi" there; she opens it', async () => {
            await cara.signUp();
            const token = (page) => page.evaluate(() => localStorage.getItem('parley.token'));
            const caraId = (await rest('GET', '/v1/users/me', await token(cara.page))).id;
            const bobToken = await token(bob.page);
            const crew = await rest('POST', '/v1/conversations', bobToken, { kind: 'group', name: 'Crew', members: [caraId] });
            await rest('POST', `/v1/conversations/${crew.id}/messages`, bobToken, { text: 'crew, hi' });
            await visible('"Crew" in Cara\'s list', cara.conversationButton('Crew'));
            await cara.openConversation('Crew');
            const [message] = await cara.expectMessage('crew, hi');
            assert.equal(message.author, bob.name, JSON.stringify(message));
        });
        await step('Bob answers "hello"', async () => {
            await bob.send('hello');
            await bob.expectMessage('hello', { state: 'sent' });
        });
        await ada.markPage();
        const settings = bob.page.getByRole('region', { name: 'Settings', exact: true });
        await step('Bob opens "Settings" and saves the name "Robert Stone"', async () => {
            await bob.page.getByRole('button', { name: 'Settings', exact: true }).click();
            const name = await visible('the "Name" field', settings.getByLabel('Name', { exact: true }));
            assert.equal(await name.inputValue(), bob.name);
            await name.fill('Robert Stone');
            await name.press('Enter');
            await visible('"Name saved."', settings.getByText('Name saved.', { exact: true }));
        });
        await step('Ada sees "Robert Stone" live: the DM, its heading, his message and his read marker', async () => {
            await visible('the DM named "Robert Stone" in her list', ada.conversationButton('Robert Stone'));
            await visible('the heading "Robert Stone"', ada.heading('Robert Stone'));
            await eventually('"hello" by Robert Stone', async () => {
                const [message] = await ada.expectMessage('hello');
                assert.equal(message.author, 'Robert Stone', JSON.stringify(message));
            });
            await visible('"Read by Robert Stone"', ada.messageLog().getByRole('img', { name: 'Read by Robert Stone', exact: true }));
            await ada.expectSamePage();
        });
        await step('Cara, who shares only a group with him, sees "crew, hi" by Robert Stone live', () =>
            eventually('"crew, hi" by Robert Stone', async () => {
                const [message] = await cara.expectMessage('crew, hi');
                assert.equal(message.author, 'Robert Stone', JSON.stringify(message));
            }));
        await step('a blank name is refused, and nothing changes', async () => {
            await settings.getByLabel('Name', { exact: true }).fill('   ');
            await settings.getByRole('button', { name: 'Save name', exact: true }).click();
            await visible('the refusal', settings.getByText(/name must be/));
            await visible('Bob is still "Robert Stone" at the top', bob.page.getByText('Robert Stone', { exact: true }).first());
        });
    });
});

test('a message is marked read only once it is on screen', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB], async (step, ada, bob) => {
        await signUpAndDm(step, ada, bob);
        const texts = Array.from({ length: 40 }, (_, i) => `line ${i + 1}`);
        await step('Ada sends 40 messages', async () => {
            for (const text of texts) await ada.send(text);
            await ada.expectMessage('line 40', { state: 'sent' });
        });
        await step('Bob opens the DM at the bottom: "line 40" is read', async () => {
            await visible("the DM in Bob's list", bob.conversationButton(ada.name));
            await bob.openConversation(ada.name);
            await bob.expectMessage('line 40');
            await visible('"Read by Bob Stone" on "line 40"',
                article(ada, 'line 40').getByRole('img', { name: 'Read by Bob Stone', exact: true }));
        });
        await step('Bob scrolls to the top; Ada sends "are you there?"', async () => {
            await bob.messageLog().evaluate((log) => { log.scrollTop = 0; });
            await ada.send('are you there?');
            await visible('the "New messages" button on Bob\'s page', bob.page.getByRole('button', { name: 'New messages', exact: true }));
        });
        await step('while Bob is scrolled up, his marker stays on "line 40"', async () => {
            await new Promise((resolve) => setTimeout(resolve, 1500));
            await visible('"Read by Bob Stone" still on "line 40"',
                article(ada, 'line 40').getByRole('img', { name: 'Read by Bob Stone', exact: true }));
            await visible('an unread badge on the DM in Bob\'s list', bob.conversationButton(ada.name).locator('.badge'));
        });
        await step('Bob presses "New messages": the marker moves to "are you there?" and the badge goes', async () => {
            await bob.page.getByRole('button', { name: 'New messages', exact: true }).click();
            await visible('"Read by Bob Stone" on "are you there?"',
                article(ada, 'are you there?').getByRole('img', { name: 'Read by Bob Stone', exact: true }));
            await gone('the badge', bob.conversationButton(ada.name).locator('.badge'));
        });
    });
});
