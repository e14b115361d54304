// Browser tests of moderating a channel, against a real `parley` at PARLEY_URL (run them with
// `bash scripts/e2e --test-name-pattern='channel settings'`):
//
// - "Channel settings" in a channel's header shows to its owners and moderators (and the organization's
//   administrators) only, and comes live when an owner makes someone a moderator;
// - an owner renames the channel and changes its topic, and a member's open page shows both live; a refusal
//   of the server is said in the form's alert;
// - archiving takes the composer away from a member's open page live ("This channel is archived"), and with it
//   every action the server refuses in an archived channel: "React", "Edit", "Pin", "Reply in thread", toggling
//   a reaction, "Invite", and the open thread pane's composer (what stays: "Copy link", "Reply privately",
//   deleting, the thread to read); unarchiving brings them all back, live too;
// - a moderator removes a member, whose open page drops the channel and says a moderator removed them; a
//   message removed by a moderator shows "Removed by a moderator." to everyone;
// - axe finds no violation in the panel or the archived conversation (a reaction, a message's actions and a
//   thread pane shown), light and dark.
//
// Screenshots go to target/e2e/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertNoViolations, audit, eventually, gone, randomSuffix, rest, sharedBrowser, visible } from './lib.mjs';

const TEST_TIMEOUT = 90_000;
const ADA = ['ada', 'Ada Lovelace'];
const BOB = ['bob', 'Bob Stone'];
const CARA = ['cara', 'Cara Diaz'];
const ARCHIVED = 'This channel is archived: it is read-only until a moderator brings it back.';

const { withPeople } = sharedBrowser();

// --- the UI contract of these screens -------------------------------------------------------------------------

function settingsButton(user) {
    return user.page.getByRole('button', { name: 'Channel settings', exact: true });
}
function settingsPanel(user) {
    return user.page.getByRole('region', { name: 'Channel settings', exact: true });
}
function settingsForm(user) {
    return settingsPanel(user).getByRole('form', { name: 'Name, topic and privacy', exact: true });
}
function membersTable(user) {
    return settingsPanel(user).getByRole('table', { name: 'Members', exact: true });
}
function memberRow(user, other) {
    return membersTable(user).getByRole('row').filter({ has: user.page.getByRole('rowheader', { name: other.name }) });
}
/// The main log's article that shows `text`.
function article(user, text) {
    return user.messageLog().locator('article').filter({ has: user.page.locator('.text', { hasText: text }) });
}
/// The button `name` of the toolbar `toolbar` among the actions of the main log's message showing `text`.
function action(user, text, toolbar, name) {
    return article(user, text).getByRole('toolbar', { name: toolbar, exact: true }).getByRole('button', { name, exact: true });
}
/// The reaction "Like N" under the main log's message showing `text`.
function likes(user, text, n) {
    return article(user, text).getByRole('toolbar', { name: 'Reactions', exact: true }).getByRole('button', { name: `Like ${n}`, exact: true });
}
function threadPane(user) {
    return user.page.getByRole('complementary', { name: 'Thread', exact: true });
}
function threadComposer(user) {
    return threadPane(user).getByRole('textbox', { name: 'Reply', exact: true });
}
function inviteButton(user) {
    return user.page.getByRole('button', { name: 'Invite', exact: true });
}

/// What `user`'s page offers on the messages `theirs` (someone else's, with a reaction "Like 1" of the user's)
/// and `own` (the user's own), in the open thread pane and in the header, checked as one: the writes a
/// writable channel takes (`writable`), or none of them (archived), with what reading needs in both.
async function expectOffers(user, { theirs, own, writable }) {
    const offered = async (what, locator) => {
        if (writable) await visible(what, locator);
        else await gone(what, locator);
    };
    await article(user, own).hover();
    await visible('"Copy link" on the user\'s own message', action(user, own, 'Message tools', 'Copy link'));
    await visible('"Delete for everyone" on the user\'s own message', action(user, own, 'Delete', 'Delete for everyone'));
    await offered('"Edit" on the user\'s own message', action(user, own, 'Message tools', 'Edit'));
    await offered('"Pin" on the user\'s own message', action(user, own, 'Message tools', 'Pin'));
    await offered('"Like" in the "React" toolbar', action(user, own, 'React', 'Like'));
    await article(user, theirs).hover();
    await visible('"Reply privately"', action(user, theirs, 'Reply', 'Reply privately'));
    await offered('"Reply in thread"', action(user, theirs, 'Reply', 'Reply in thread'));
    const chip = await visible('the reaction "Like 1"', likes(user, theirs, 1));
    assert.equal(await chip.getAttribute('aria-pressed'), 'true', 'the user\'s own reaction is not shown pressed');
    assert.equal(await chip.getAttribute('aria-disabled'), writable ? null : 'true',
        writable ? 'the reaction does not toggle in a writable channel' : 'the reaction still toggles in an archived channel');
    await visible('the thread pane, to read', threadPane(user).locator('.thread-root .text', { hasText: theirs }));
    await offered('the thread pane\'s composer', threadComposer(user));
    await offered('"React" on the thread\'s root', threadPane(user).getByRole('toolbar', { name: 'React', exact: true }));
    await offered('"Invite" in the header', inviteButton(user));
}

async function openSettings(user) {
    if (!(await settingsPanel(user).isVisible())) await settingsButton(user).click();
    await visible('the Channel settings panel', settingsPanel(user));
    await visible('the members table', membersTable(user));
}

/// Ada (owner of the organization and of the channel) makes channel `name` with the others in it, through the
/// API; each one's page lists it live, and opens it.
async function channelWith(name, owner, ...members) {
    const ids = [];
    for (const member of members) ids.push((await rest('GET', '/v1/users/me', await member.sessionToken())).id);
    const channel = await rest('POST', '/v1/conversations', await owner.sessionToken(), {
        kind: 'channel', name, handle: `${name.toLowerCase()}-${randomSuffix()}`, members: ids,
    });
    for (const user of [owner, ...members]) await user.openConversation(name);
    return channel;
}

// --- the tests -------------------------------------------------------------------------------------------

test('channel settings: an owner renames the channel and changes its topic, a member sees it live and no settings; archiving takes the member\'s composer and every refused action away live, unarchiving brings them back', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB], async (step, ada, bob) => {
        await step('Ada signs up and Bob joins; Ada makes channel "Launch" with Bob, and both open it', async () => {
            await ada.signUp();
            await bob.signUp();
            await channelWith('Launch', ada, bob);
        });
        await step('Bob, a plain member, sees no "Channel settings"; Ada, its owner, does', async () => {
            await visible('"Channel settings" on Ada\'s page', settingsButton(ada));
            await visible('Bob\'s composer', bob.composer());
            assert.equal(await settingsButton(bob).isVisible(), false, 'Bob sees "Channel settings"');
        });
        await bob.markPage();
        await step('Ada renames it "Liftoff" and gives it a topic: Bob\'s open page shows both, with no reload', async () => {
            await openSettings(ada);
            const form = settingsForm(ada);
            assert.equal(await form.getByLabel('Name', { exact: true }).inputValue(), 'Launch');
            await form.getByLabel('Name', { exact: true }).fill('Liftoff');
            await form.getByLabel('Topic', { exact: true }).fill('Countdown <b>at</b> nine');
            await form.getByRole('button', { name: 'Save', exact: true }).click();
            await visible('"Saved."', form.getByRole('status').filter({ hasText: 'Saved.' }));
            await visible('the heading "Liftoff" on Bob\'s page', bob.heading('Liftoff'));
            await visible('the topic on Bob\'s page, as text', bob.page.getByText('Countdown <b>at</b> nine', { exact: true }));
            await visible('"Liftoff" in Bob\'s list', bob.conversationButton('Liftoff'));
            await visible('the heading "Liftoff" on Ada\'s page', ada.heading('Liftoff'));
            await bob.expectSamePage();
            await ada.screenshot('channel-settings-panel');
        });
        await step('a refusal of the server is said in the form\'s alert', async () => {
            await ada.page.route((url) => url.pathname.startsWith('/v1/conversations/'), (route) => route.request().method() === 'PATCH'
                ? route.fulfill({ status: 403, contentType: 'application/json', body: JSON.stringify({ error: { code: 'not_moderator', message: 'only the channel\'s owners and moderators may do this' } }) })
                : route.fallback());
            const form = settingsForm(ada);
            await form.getByLabel('Topic', { exact: true }).fill('another topic');
            await form.getByRole('button', { name: 'Save', exact: true }).click();
            await visible('the refusal', form.getByRole('alert').filter({ hasText: 'Not saved: only the channel\'s owners and moderators may do this' }));
            await ada.page.unrouteAll();
        });
        await step('Ada says "status?"; Bob likes it, answers "all green", and opens its thread: all the writes are offered', async () => {
            await ada.send('status?');
            await bob.expectMessage('status?');
            await article(bob, 'status?').hover();
            await action(bob, 'status?', 'React', 'Like').click();
            await visible('Bob\'s reaction', likes(bob, 'status?', 1));
            await bob.send('all green');
            await bob.expectMessage('all green', { state: 'sent' });
            await article(bob, 'status?').hover();
            await action(bob, 'status?', 'Reply', 'Reply in thread').click();
            await visible('the thread pane\'s composer', threadComposer(bob));
            await expectOffers(bob, { theirs: 'status?', own: 'all green', writable: true });
        });
        await step('Ada archives it (asked first): Bob\'s composer goes and "This channel is archived" shows, live', async () => {
            await settingsPanel(ada).getByRole('button', { name: 'Archive channel', exact: true }).click();
            const dialog = await visible('the question', ada.page.getByRole('dialog', { name: 'Archive Liftoff?', exact: true }));
            await dialog.getByRole('button', { name: 'Archive', exact: true }).click();
            await visible('"Unarchive channel" on Ada\'s panel', settingsPanel(ada).getByRole('button', { name: 'Unarchive channel', exact: true }));
            await visible('the notice on Bob\'s page', bob.page.getByText(ARCHIVED, { exact: true }));
            await gone('Bob\'s composer', bob.composer());
            await gone('Ada\'s composer', ada.composer());
            assert.ok(await settingsForm(ada).getByLabel('Name', { exact: true }).isDisabled(), 'the name can be changed while archived');
            await bob.expectSamePage();
        });
        await step('Bob\'s open page offers none of what the server refuses, live: no "Edit", "Pin", "React", "Reply in thread", "Invite" or thread composer; his reaction is shown, aria-disabled', async () => {
            await expectOffers(bob, { theirs: 'status?', own: 'all green', writable: false });
            await bob.expectSamePage();
            await bob.screenshot('channel-settings-archived');
        });
        await step('Ada unarchives it: Bob\'s composer and every write come back, live, and he writes, reacts and replies', async () => {
            await settingsPanel(ada).getByRole('button', { name: 'Unarchive channel', exact: true }).click();
            await visible('Bob\'s composer', bob.composer());
            await gone('the notice on Bob\'s page', bob.page.getByText(ARCHIVED, { exact: true }));
            await expectOffers(bob, { theirs: 'status?', own: 'all green', writable: true });
            await bob.send('we are back');
            await ada.expectMessage('we are back');
            await likes(bob, 'status?', 1).click();
            await gone('Bob\'s reaction, taken back', likes(bob, 'status?', 1));
            await threadComposer(bob).fill('thread open again');
            await threadComposer(bob).press('Enter');
            await visible('the reply in Bob\'s pane', threadPane(bob).locator('article .text', { hasText: 'thread open again' }));
            await bob.expectSamePage();
        });
    });
});

test('channel settings: an owner makes a member a moderator (who sees the settings live), who removes another member, whose page drops the channel; a removed message says so', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB, CARA], async (step, ada, bob, cara) => {
        await step('Ada signs up, Bob and Cara join; Ada makes channel "Crew" with both, and all open it', async () => {
            await ada.signUp();
            await bob.signUp();
            await cara.signUp();
            await channelWith('Crew', ada, bob, cara);
        });
        await step('Ada\'s members table lists all three with their roles', async () => {
            await openSettings(ada);
            for (const [person, role] of [[ada, 'owner'], [bob, 'member'], [cara, 'member']]) {
                const row = await visible(`${person.name}'s row`, memberRow(ada, person));
                assert.equal(await row.getByRole('combobox', { name: `Role of ${person.name}`, exact: true }).inputValue(), role);
            }
        });
        await step('Ada makes Bob a moderator: "Channel settings" shows on his open page, live', async () => {
            await bob.markPage();
            assert.equal(await settingsButton(bob).isVisible(), false, 'Bob, a member, sees "Channel settings"');
            await memberRow(ada, bob).getByRole('combobox', { name: `Role of ${bob.name}` }).selectOption({ label: 'Moderator' });
            await visible('"Channel settings" on Bob\'s page', settingsButton(bob));
            await bob.expectSamePage();
        });
        await step('Bob, a moderator, sees the roles as words (owners name moderators) and "Remove" on Cara only', async () => {
            await openSettings(bob);
            await visible('Ada\'s role', memberRow(bob, ada).getByRole('cell', { name: 'Owner', exact: true }));
            assert.equal(await membersTable(bob).getByRole('combobox').count(), 0, 'Bob can change roles');
            await visible('"Remove Cara"', memberRow(bob, cara).getByRole('button', { name: `Remove ${cara.name}`, exact: true }));
            assert.equal(await memberRow(bob, ada).getByRole('button').count(), 0, 'Bob may remove the owner');
        });
        await step('Cara writes; Bob removes her message as a moderator: everyone sees "Removed by a moderator."', async () => {
            await cara.send('off-topic rant');
            await bob.expectMessage('off-topic rant');
            const message = bob.messageLog().locator('article').filter({ hasText: 'off-topic rant' });
            await message.hover();
            await message.getByRole('button', { name: 'Remove as moderator', exact: true }).click();
            for (const user of [ada, bob, cara]) await user.expectMessage('Removed by a moderator.');
        });
        await step('Bob removes Cara (asked first): her open page drops "Crew" and says a moderator removed her', async () => {
            await cara.markPage();
            await memberRow(bob, cara).getByRole('button', { name: `Remove ${cara.name}`, exact: true }).click();
            const dialog = await visible('the question', bob.page.getByRole('dialog', { name: `Remove ${cara.name}?`, exact: true }));
            await dialog.getByRole('button', { name: 'Remove', exact: true }).click();
            await gone('Cara\'s row on Bob\'s table', memberRow(bob, cara));
            await gone('the heading "Crew" on Cara\'s page', cara.heading('Crew'));
            await gone('"Crew" in Cara\'s list', cara.conversationButton('Crew'));
            await visible('the notice on Cara\'s page', cara.page.getByRole('alert').filter({ hasText: 'A moderator removed you from Crew.' }));
            await cara.expectSamePage();
            await cara.screenshot('channel-settings-removed');
            await visible(`"${cara.name} was removed" on Ada's page`, ada.messageLog().locator('.system', { hasText: `${cara.name} was removed` }));
        });
        await step('Ada makes Bob a member again: his "Channel settings" and its panel go', async () => {
            await memberRow(ada, bob).getByRole('combobox', { name: `Role of ${bob.name}` }).selectOption({ label: 'Member' });
            await gone('"Channel settings" on Bob\'s page', settingsButton(bob));
            await gone('the panel on Bob\'s page', settingsPanel(bob));
        });
    });
});

test('channel settings: axe finds no violation in the panel (a refusal shown, the question asked) or an archived channel (a reaction, a message\'s actions, a thread), light and dark', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB], async (step, ada, bob) => {
        const found = [];
        await step('Ada signs up and Bob joins; Ada makes channel "Deck" with Bob', async () => {
            await ada.signUp();
            await bob.signUp();
            await channelWith('Deck', ada, bob);
        });
        await step('Ada says "deck plan"; Bob likes it and opens its thread', async () => {
            await ada.send('deck plan');
            await bob.expectMessage('deck plan');
            await article(bob, 'deck plan').hover();
            await action(bob, 'deck plan', 'React', 'Like').click();
            await visible('Bob\'s reaction', likes(bob, 'deck plan', 1));
            await action(bob, 'deck plan', 'Reply', 'Reply in thread').click();
            await visible('the thread pane\'s composer', threadComposer(bob));
        });
        for (const theme of ['light', 'dark']) {
            await step(`${theme}: the panel, with a refusal on Ada's row`, async () => {
                await ada.page.emulateMedia({ colorScheme: theme });
                await openSettings(ada);
                await memberRow(ada, ada).getByRole('combobox', { name: `Role of ${ada.name}` }).selectOption({ label: 'Member' });
                // The server keeps a channel's last owner, or says why not.
                await eventually('the role settled', async () => {
                    const refusal = await memberRow(ada, ada).locator('.row-error').textContent();
                    const role = await memberRow(ada, ada).getByRole('combobox').inputValue();
                    assert.ok(refusal || role === 'member', 'neither a refusal nor a change');
                });
                await audit(ada.page, `${theme} channel settings`, found);
                await memberRow(ada, bob).getByRole('button', { name: `Remove ${bob.name}`, exact: true }).click();
                const dialog = await visible('the question', ada.page.getByRole('dialog', { name: `Remove ${bob.name}?` }));
                await audit(ada.page, `${theme} channel settings remove question`, found);
                await dialog.getByRole('button', { name: 'Cancel', exact: true }).click();
                await gone('the question', dialog);
                if ((await memberRow(ada, ada).getByRole('combobox').inputValue()) !== 'owner') {
                    await memberRow(ada, ada).getByRole('combobox').selectOption({ label: 'Owner' });
                }
            });
            await step(`${theme}: an archived channel, on a member's page`, async () => {
                await bob.page.emulateMedia({ colorScheme: theme });
                await settingsPanel(ada).getByRole('button', { name: 'Archive channel', exact: true }).click();
                await ada.page.getByRole('dialog', { name: 'Archive Deck?' }).getByRole('button', { name: 'Archive', exact: true }).click();
                await visible('the notice on Bob\'s page', bob.page.getByText(ARCHIVED, { exact: true }));
                await gone('the thread pane\'s composer', threadComposer(bob));
                // The actions shown, and the reaction, shown but not toggled, with the keyboard's focus.
                await article(bob, 'deck plan').hover();
                await likes(bob, 'deck plan', 1).focus();
                await audit(bob.page, `${theme} archived channel`, found);
                await audit(ada.page, `${theme} channel settings archived`, found);
                await settingsPanel(ada).getByRole('button', { name: 'Unarchive channel', exact: true }).click();
                await visible('Bob\'s composer', bob.composer());
            });
        }
        assertNoViolations(found);
    });
});
