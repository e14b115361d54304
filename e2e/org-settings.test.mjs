// Browser tests of Administration's "Organization settings" tab, against a real `parley` at PARLEY_URL (run them
// with `bash scripts/e2e --test-name-pattern='organization settings'`):
//
// - an owner opens the sign-up to anyone, and a sign-up without an invitation gets in; she makes it
//   invitation-only, and the next one is refused (403 `invite_required`);
// - the email-domain policy without a domain is refused, and the form's alert says the server's words;
// - a public channel chosen as a default channel is joined by the next person to sign up; who may create
//   channels, invite and use @channel are saved and read back;
// - with an owner's page and a member's open, the owner keeps channel creation and invitations to
//   administrators and @channel to moderators: the member's page stops offering "New channel", "Invite
//   people" and @channel/@here in the mention list at once, without a reload, and offers them again when she
//   sets them back;
// - axe finds no violation on the tab, light and dark, on a desktop's width and a phone's.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertNoViolations, audit, BASE_URL, eventually, gone, randomSuffix, rest, sharedBrowser, visible } from './lib.mjs';

const TEST_TIMEOUT = 90_000;
const ADA = ['ada', 'Ada Lovelace'];
const BOB = ['bob', 'Bob Stone'];
const EVERYONE_CHOICES = ['@channel Notify everyone in this conversation', '@here Notify everyone online'];

const { withPeople } = sharedBrowser();

function adminArea(user) {
    return user.page.getByRole('region', { name: 'Administration', exact: true });
}
function settingsForm(user) {
    return adminArea(user).getByRole('form', { name: 'Organization settings', exact: true });
}

async function openOrgSettings(user) {
    if (!(await adminArea(user).isVisible())) await user.page.getByRole('button', { name: 'Administration', exact: true }).click();
    await visible('the Administration area', adminArea(user));
    await adminArea(user).getByRole('tab', { name: 'Organization settings', exact: true }).click();
    return visible('the settings form', settingsForm(user));
}

/// The choices of the composer's "@" list in the open conversation, once it has them all (the list is left
/// closed and the composer empty).
async function mentionChoices(user, expected) {
    const composer = user.composer();
    const list = user.page.getByRole('listbox', { name: 'People to mention', exact: true });
    let choices;
    await eventually(`the "@" list to be ${JSON.stringify(expected)}`, async () => {
        await composer.fill('');
        await composer.click();
        await user.page.keyboard.type('@');
        await visible('the "People to mention" list', list);
        choices = await list.getByRole('option').allTextContents();
        await user.page.keyboard.press('Escape');
        await composer.fill('');
        assert.deepEqual(choices, expected);
    });
    return choices;
}

/// "Organization settings" opened again: the form shown before stays until the tab's new read replaces it (and
/// a change made to it meanwhile would be lost), so it is marked, and the one returned is the new one.
async function reopenOrgSettings(user) {
    await settingsForm(user).evaluateAll((forms) => forms.forEach((form) => form.setAttribute('data-e2e-stale', '')));
    // Each showing of the tab reads the settings: it is shown once, so that one read's form is the last.
    const tab = adminArea(user).getByRole('tab', { name: 'Organization settings', exact: true });
    if (await adminArea(user).isVisible()) await tab.click();
    else await user.page.getByRole('button', { name: 'Administration', exact: true }).click();
    await visible('the Administration area', adminArea(user));
    if ((await tab.getAttribute('aria-selected')) !== 'true') await tab.click();
    const fresh = adminArea(user).locator('form.org-settings:not([data-e2e-stale])');
    await visible('the settings form read afresh', fresh);
    await gone('the form shown before', adminArea(user).locator('form[data-e2e-stale]'));
    return fresh;
}

async function save(user) {
    const form = settingsForm(user);
    await form.getByRole('button', { name: 'Save', exact: true }).click();
}

/// A sign-up into `org` without an invitation, through the API; its HTTP status and error code.
async function signUpUninvited(org, key) {
    const suffix = randomSuffix();
    const response = await fetch(`${BASE_URL}/v1/auth/signup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: `Walk-in ${key}`, username: `${key}-${suffix}`, email: `${key}-${suffix}@e2e.example.org`, password: `pw-${suffix}-secret`, org }),
    });
    const body = await response.json().catch(() => null);
    return { status: response.status, code: body?.error?.code ?? null, token: body?.token ?? null };
}

test('administration: organization settings: an owner opens the sign-up, then makes it invitation-only, and an uninvited sign-up is refused', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA], async (step, ada) => {
        let channel;
        await step('Ada signs up, creating the organization, and makes public channel "General"', async () => {
            await ada.signUp();
            channel = await rest('POST', '/v1/conversations', await ada.sessionToken(), { kind: 'channel', name: 'General', handle: `general-${randomSuffix()}` });
        });
        await step('Ada opens "Organization settings": the form shows the settings as the server has them', async () => {
            const form = await openOrgSettings(ada);
            const settings = await rest('GET', '/v1/org/settings', await ada.sessionToken());
            const checked = form.getByRole('group', { name: 'Who may sign up without an invitation', exact: true }).getByRole('radio', { checked: true });
            assert.equal(await checked.count(), 1);
            assert.equal(await checked.getAttribute('value'), settings.signup);
            assert.equal(await form.getByLabel('Who may create channels', { exact: true }).inputValue(), settings.channel_creation);
        });
        await step('Ada opens the sign-up to anyone, with "General" for new members: an uninvited sign-up gets in, into "General"', async () => {
            const form = settingsForm(ada);
            await form.getByRole('radio', { name: 'Anyone who signs up', exact: true }).check();
            await form.getByRole('checkbox', { name: `General (#${channel.handle})`, exact: true }).check();
            await save(ada);
            await visible('"Saved."', form.getByRole('status').filter({ hasText: 'Saved.' }));
            const settings = await rest('GET', '/v1/org/settings', await ada.sessionToken());
            assert.equal(settings.signup, 'open');
            assert.deepEqual(settings.default_channels, [channel.id]);
            const walkIn = await signUpUninvited(ada.org, 'walkin');
            assert.equal(walkIn.status, 201, JSON.stringify(walkIn));
            const { conversations } = await rest('GET', '/v1/conversations', walkIn.token);
            assert.ok(conversations.some((c) => c.id === channel.id), 'the new member is not in "General"');
        });
        await step('the email-domain policy without a domain is refused, in the server\'s words', async () => {
            const form = settingsForm(ada);
            await form.getByRole('radio', { name: 'People whose email address is at one of these domains', exact: true }).check();
            await visible('the domains field', form.getByLabel('Email domains', { exact: true }));
            await save(ada);
            await visible('the refusal', form.getByRole('alert').filter({ hasText: /^Not saved: ./ }));
            assert.equal((await rest('GET', '/v1/org/settings', await ada.sessionToken())).signup, 'open');
        });
        await step('Ada makes it invitation-only and restricts the permissions: saved, and an uninvited sign-up is refused', async () => {
            const form = settingsForm(ada);
            await form.getByRole('radio', { name: 'Only people with an invitation', exact: true }).check();
            await form.getByLabel('Who may create channels', { exact: true }).selectOption({ label: 'Owners and administrators only' });
            await form.getByLabel('Who may invite people', { exact: true }).selectOption({ label: 'Owners and administrators only' });
            await form.getByLabel('Who may use @channel and @here', { exact: true }).selectOption({ label: 'Channel owners and moderators only' });
            await save(ada);
            await visible('"Saved."', form.getByRole('status').filter({ hasText: 'Saved.' }));
            const settings = await rest('GET', '/v1/org/settings', await ada.sessionToken());
            assert.deepEqual(
                [settings.signup, settings.channel_creation, settings.invitations, settings.channel_mentions],
                ['invite_only', 'admins', 'admins', 'moderators']);
            const refused = await signUpUninvited(ada.org, 'latecomer');
            assert.equal(refused.status, 403, JSON.stringify(refused));
            assert.equal(refused.code, 'invite_required');
            await ada.screenshot('administration-org-settings');
        });
    });
});

test('administration: organization settings: axe finds no violation on the tab (a refusal shown), light and dark', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA], async (step, ada) => {
        const found = [];
        await step('Ada signs up and makes public channel "General"', async () => {
            await ada.signUp();
            await rest('POST', '/v1/conversations', await ada.sessionToken(), { kind: 'channel', name: 'General', handle: `general-${randomSuffix()}` });
        });
        for (const theme of ['light', 'dark']) {
            await step(`${theme}: the tab, with the domains field and a refusal`, async () => {
                await ada.page.emulateMedia({ colorScheme: theme });
                const form = await openOrgSettings(ada);
                await form.getByRole('radio', { name: 'People whose email address is at one of these domains', exact: true }).check();
                await form.getByLabel('Email domains', { exact: true }).fill('not a domain');
                await save(ada);
                await visible('the refusal', form.getByRole('alert').filter({ hasText: /^Not saved: ./ }));
                await audit(ada.page, `${theme} administration organization settings`, found);
                await ada.page.setViewportSize({ width: 390, height: 844 });
                await visible('the form on a phone', settingsForm(ada));
                assert.equal(await ada.page.evaluate(() => document.documentElement.scrollWidth), 390, 'the page is wider than the phone');
                await audit(ada.page, `${theme} phone administration organization settings`, found);
                await ada.page.setViewportSize({ width: 1000, height: 700 });
                await adminArea(ada).getByRole('button', { name: 'Back to conversations', exact: true }).click();
            });
        }
        assertNoViolations(found);
    });
});

test('organization settings: a member\'s open page stops offering channel creation, invitations and @channel when an owner restricts them, and offers them again after, live', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB], async (step, ada, bob) => {
        let channel;
        const directory = bob.page.getByRole('region', { name: 'Channel directory', exact: true });
        const creation = directory.getByRole('form', { name: 'Create a channel', exact: true });
        const invitePeople = bob.page.getByRole('button', { name: 'Invite people', exact: true });
        const bobInMentions = () => `${bob.name} @${bob.username}`;
        const adaInMentions = () => `${ada.name} @${ada.username}`;
        await step('Ada and Bob sign up; Ada makes public channel "General", Bob joins it and opens it', async () => {
            await ada.signUp();
            await bob.signUp();
            channel = await rest('POST', '/v1/conversations', await ada.sessionToken(), { kind: 'channel', name: 'General', handle: `general-${randomSuffix()}` });
            await rest('POST', `/v1/conversations/${channel.id}/join`, await bob.sessionToken());
            await bob.openConversation('General');
        });
        await step('Bob is offered "@channel" and "@here", "Invite people", and the directory with "New channel"', async () => {
            await mentionChoices(bob, [adaInMentions(), ...EVERYONE_CHOICES]);
            await visible('"Invite people"', invitePeople);
            await bob.page.getByRole('button', { name: 'Channels', exact: true }).click();
            await visible('the "Channel directory" panel', directory);
            await visible('the "Create a channel" form', creation);
            await bob.markPage();
        });
        await step('Ada keeps channel creation and invitations to administrators and @channel to moderators', async () => {
            const form = await openOrgSettings(ada);
            await form.getByLabel('Who may create channels', { exact: true }).selectOption({ label: 'Owners and administrators only' });
            await form.getByLabel('Who may invite people', { exact: true }).selectOption({ label: 'Owners and administrators only' });
            await form.getByLabel('Who may use @channel and @here', { exact: true }).selectOption({ label: 'Channel owners and moderators only' });
            await save(ada);
            await visible('"Saved."', form.getByRole('status').filter({ hasText: 'Saved.' }));
        });
        await step('Bob\'s page follows without a reload: no "New channel" in the open directory, no "Invite people", no @channel or @here', async () => {
            await gone('the "Create a channel" form', creation);
            await visible('the directory, still open for searching', directory.getByLabel('Search channels', { exact: true }));
            await gone('"Invite people"', invitePeople);
            await mentionChoices(bob, [adaInMentions()]);
            await bob.expectSamePage();
            await bob.screenshot('org-settings-restricted-member');
        });
        await step('Ada, the channel\'s owner and the organization\'s, is still offered everything', async () => {
            await adminArea(ada).getByRole('button', { name: 'Back to conversations', exact: true }).click();
            await visible('"Invite people" on Ada\'s page', ada.page.getByRole('button', { name: 'Invite people', exact: true }));
            await ada.openConversation('General');
            await mentionChoices(ada, [bobInMentions(), ...EVERYONE_CHOICES]);
        });
        await step('Ada sets them back: Bob\'s page offers them again, still without a reload', async () => {
            const form = await reopenOrgSettings(ada);
            await form.getByLabel('Who may create channels', { exact: true }).selectOption({ label: 'Everyone but guests' });
            await form.getByLabel('Who may invite people', { exact: true }).selectOption({ label: 'Everyone but guests' });
            await form.getByLabel('Who may use @channel and @here', { exact: true }).selectOption({ label: 'Everyone' });
            await save(ada);
            await visible('"Saved."', form.getByRole('status').filter({ hasText: 'Saved.' }));
            await visible('the "Create a channel" form', creation);
            await visible('"Invite people"', invitePeople);
            await mentionChoices(bob, [adaInMentions(), ...EVERYONE_CHOICES]);
            await bob.expectSamePage();
        });
    });
});
