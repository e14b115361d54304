// Accessibility of the web client, against a real `parley` server at PARLEY_URL (run with `bash scripts/e2e`):
//
// - axe-core (pinned in package-lock.json) on every screen: log in and sign up with their errors, the main
//   screen with a DM, a group and a channel, open conversations with own and others' messages, reactions, a
//   deleted message and read markers, a message focused by keyboard with its actions shown, a formatted, edited
//   and pinned message mentioning the reader, the composer's "@" list, a message being edited, the dialogs of
//   earlier versions and of a link to copy, the "Pinned" panel, the list with a mention badge, a thread open
//   in its pane beside a channel with a quote's card, "Threads", each side panel ("Invite people" with a link made and its list), the
//   profile, the settings (with "Log out everywhere" asked), the offline banner, an invitation link opened while
//   logged in, the sign-up form opened from an invitation link (usable, and unusable), a phone in list and
//   conversation views, each in light and dark. Zero violations of WCAG 2.1 A/AA and axe's best
//   practices; a failure lists every violation with its rule, help text and the nodes it found.
// - A keyboard-only walkthrough (page.keyboard, never the mouse): log in, open a conversation, send, react,
//   open and leave each panel with Escape, log out; focus never lands on <body> after a screen change, always
//   shows a :focus-visible outline, and goes list → conversation header → log → composer.
// - What a screen reader needs: a live Messages log, announced offline banner, form errors and auth notice,
//   list entries named with their unread count, named panels and named icon-only buttons.
//
// The organization is made through the REST API in before() (fast); each test opens its own browser contexts.
// Screenshots and page logs go to target/e2e/, and each audit's full axe result to target/e2e/axe-*.json.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
    assertNoViolations, audit, BASE_URL, closeAll, eventually, gone, launchBrowser, randomSuffix, RECONNECT_TIMEOUT,
    slug, startsWith, rest, stepper, TIMEOUT, User, visible,
} from './lib.mjs';

const TEST_TIMEOUT = 90_000;
const DESKTOP = { viewport: { width: 1000, height: 700 } };
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
const THEMES = [['light', {}], ['dark', { colorScheme: 'dark' }]];


let browser;
/// The organization of this file: people with their ids and tokens, and the conversations Ada is in.
let org;

before(async () => {
    browser = await launchBrowser();
    org = await seed();
});
after(async () => {
    await browser?.close();
});

// --- the organization, through the REST API -----------------------------------------------------------------

function person(key, name, suffix) {
    return {
        key,
        name,
        username: `${key}-${suffix}`,
        email: `${key}-${suffix}@e2e.example.org`,
        password: `pw-${key}-${suffix}-secret`,
        org: `e2e-${suffix}`,
    };
}

/// Signs `p` up: creating p's organization, or joining it with the invitation token `invite`.
async function signUp(p, invite) {
    const r = await rest('POST', '/v1/auth/signup', undefined, {
        name: p.name, username: p.username, email: p.email, password: p.password, ...(invite ? { invite } : { org: p.org }),
    });
    return { ...p, id: r.user_id, token: r.token };
}

async function say(p, conversation, text) {
    return rest('POST', `/v1/conversations/${conversation.id}/messages`, p.token, { text });
}

async function readUpTo(p, conversation, message) {
    await rest('POST', `/v1/conversations/${conversation.id}/read`, p.token, { message_id: message.id });
}

async function react(p, conversation, message, emoji) {
    await rest('PUT', `/v1/conversations/${conversation.id}/messages/${message.id}/reactions/${encodeURIComponent(emoji)}`, p.token);
}

/// Ada, Bob and Cara in a new organization. A DM of Ada and Bob with messages of both, reactions, a message
/// deleted for everyone and Bob's read marker; a group "Launch team" of the three with unread messages for
/// Ada and Bob's and Cara's markers; a channel "General" that Ada made and Bob joined, with a message of his.
async function seed() {
    const suffix = randomSuffix();
    const ada = await signUp(person('ada', 'Ada Lovelace', suffix));
    const invite = await rest('POST', '/v1/invites', ada.token, { max_uses: 2 });
    const bob = await signUp(person('bob', 'Bob Stone', suffix), invite.token);
    const cara = await signUp(person('cara', 'Cara Diaz', suffix), invite.token);

    const dm = await rest('POST', '/v1/conversations', ada.token, { kind: 'dm', members: [bob.id] });
    const m1 = await say(ada, dm, 'hello Bob');
    const m2 = await say(bob, dm, 'hi Ada');
    const m3 = await say(ada, dm, 'this one goes away');
    const m4 = await say(bob, dm, 'see you at the launch');
    await react(ada, dm, m2, 'like');
    await react(bob, dm, m1, '❤️');
    await react(ada, dm, m4, '🎉');
    await react(bob, dm, m4, '🎉');
    await rest('DELETE', `/v1/conversations/${dm.id}/messages/${m3.id}?for=everyone`, ada.token);
    await readUpTo(bob, dm, m4);

    const group = await rest('POST', '/v1/conversations', ada.token, { kind: 'group', name: 'Launch team', members: [bob.id, cara.id] });
    await say(ada, group, 'agenda?');
    const g2 = await say(bob, group, 'the agenda is up');
    const g3 = await say(cara, group, 'thanks, looks good');
    await react(ada, group, g2, 'like');
    await readUpTo(bob, group, g2);
    await readUpTo(cara, group, g3);

    const channel = await rest('POST', '/v1/conversations', ada.token, { kind: 'channel', name: 'General', handle: `general-${suffix}` });
    await rest('POST', `/v1/conversations/${channel.id}/join`, bob.token);
    const welcome = await say(bob, channel, 'welcome, all');
    await say(bob, channel, 'the agenda is in the group'); // grouped with the one before
    // A thread under Bob's first message, and a message of his quoting one of the group's (a quote's card).
    await rest('POST', `/v1/conversations/${channel.id}/messages`, ada.token, { text: 'I will be there', thread_root_id: welcome.id });
    await rest('POST', `/v1/conversations/${channel.id}/messages`, bob.token, { text: 'as agreed', quote: { conversation_id: group.id, message_id: g2.id } });
    // Formatted, mentioning Ada, edited and pinned; then one of Ada's, to edit.
    const formatted = await rest('POST', `/v1/conversations/${channel.id}/messages`, bob.token, {
        text: `**Heads up** @${ada.username}: the _notes_ are in \`notes.md\`\n> read them first\n- one\n- two`,
        mentions: { user_ids: [ada.id] },
    });
    await rest('PATCH', `/v1/conversations/${channel.id}/messages/${formatted.id}`, bob.token, {
        text: `**Heads up** @${ada.username}: the _notes_ are in \`notes.md\`, see https://example.org\n> read them first\n- one\n- two`,
        mentions: { user_ids: [ada.id] },
    });
    await rest('PUT', `/v1/conversations/${channel.id}/messages/${formatted.id}/pin`, bob.token);
    await say(ada, channel, 'launch at noon');

    // For the sign-up form opened from an invitation link: one that stays usable (lookups do not use it up).
    const link = await rest('POST', '/v1/invites', ada.token, { max_uses: 100 });

    return { ada, bob, cara, dm, group, channel, suffix, inviteToken: link.token };
}

// --- pages ----------------------------------------------------------------------------------------------------

/// A browser context for `p` with `contextOptions`, on the auth screen (`loggedIn: false`) or logged in with
/// p's token (stored as the client stores it, then a reload), its list shown and its WebSocket `ready`: the
/// server sends no event from before `ready` to a connection that does not resume, so what the API does
/// before it may never show.
async function openAs(p, key, contextOptions, { loggedIn = true, token = p.token } = {}) {
    const user = new User(browser, { ...p, key, contextOptions });
    await user.open();
    if (loggedIn) {
        await user.page.evaluate(([id, t]) => {
            localStorage.setItem('parley.token', t);
            localStorage.setItem('parley.user', id);
        }, [p.id, token]);
        const ready = socketReady(user.page);
        await user.page.reload();
        await user.expectLoggedIn('with a stored token');
        await ready;
        await visible('a conversation in the list', user.conversations().getByRole('button'));
    }
    return user;
}

/// Resolves when a WebSocket of the page receives its `ready` frame; rejects after TIMEOUT.
function socketReady(page) {
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no WebSocket "ready" within ${TIMEOUT} ms`)), TIMEOUT);
        page.on('websocket', (socket) => socket.on('framereceived', ({ payload }) => {
            try {
                if (JSON.parse(payload).type !== 'ready') return;
            } catch {
                return;
            }
            clearTimeout(timer);
            resolve();
        }));
    });
}

/// Runs `body(step, users)`, then saves each page's screenshot and log as `<test>-<key>` (pass or fail; no
/// side-by-side picture: these are one person's pages, not people talking) and closes them; `users` is filled
/// by body.
async function bracket(t, body) {
    const users = [];
    try {
        await body(stepper(t), users);
    } finally {
        for (const user of users) {
            const name = `${slug(t.name)}-${user.key}`;
            await user.saveLogs(name).catch(() => {});
            await user.screenshot(name).catch((error) => console.error(`screenshot of ${user.key} failed: ${error.message}`));
        }
        await closeAll(users);
    }
}

// --- axe -------------------------------------------------------------------------------------------------------

/// The open conversation's message article that shows `text`.
function article(user, text) {
    return user.messageLog().locator('article').filter({ has: user.page.locator('.text', { hasText: text }) });
}

/// Opens `name` from the list and waits until its log has loaded.
async function openAndLoad(user, name, text) {
    await user.openConversation(name);
    await user.expectMessage(text);
    await eventually('the Messages log is no longer busy', async () => {
        assert.notEqual(await user.messageLog().getAttribute('aria-busy'), 'true');
    });
}

async function openDm(user) {
    const { bob } = org;
    await openAndLoad(user, bob.name, 'see you at the launch');
    await visible('the deleted message', user.messageLog().getByText('This message was deleted.', { exact: true }));
    await visible('the reaction "Like 1"', user.messageLog().getByRole('button', { name: 'Like 1', exact: true }));
    await visible('the reaction "🎉 2"', user.messageLog().getByRole('button', { name: '🎉 2', exact: true }));
    await visible('Bob\'s read marker', user.messageLog().getByRole('img', { name: `Read by ${bob.name}`, exact: true }));
}

async function openPanel(user, button, region) {
    await user.page.getByRole('button', { name: button, exact: true }).click();
    return visible(`the "${region}" panel`, user.page.getByRole('region', { name: region, exact: true }));
}

async function closePanel(user, button, region) {
    await user.page.getByRole('button', { name: button, exact: true }).click();
    await gone(`the "${region}" panel`, user.page.getByRole('region', { name: region, exact: true }));
}

/// Every screen of the logged-in client on a desktop, audited one after the other.
async function auditDesktop(step, user, theme, found) {
    const { bob, cara } = org;
    const page = user.page;
    const run = (screen) => audit(page, `${theme} ${screen}`, found);
    await step(`${theme}: the main screen with a DM, a group and a channel`, async () => {
        for (const name of [bob.name, 'Launch team', 'General']) await visible(`"${name}" in the list`, user.conversationButton(name));
        await run('main screen');
    });
    await step(`${theme}: the DM with messages, reactions, a deleted message and a read marker`, async () => {
        await openDm(user);
        await run('DM');
    });
    await step(`${theme}: the profile panel`, async () => {
        await page.getByRole('button', { name: `Profile of ${bob.name}`, exact: true }).click();
        const profile = await visible('the "Profile" panel', page.getByRole('region', { name: 'Profile', exact: true }));
        await visible('"Add to contacts"', profile.getByRole('button', { name: 'Add to contacts', exact: true }));
        await run('profile');
        await page.getByRole('button', { name: `Profile of ${bob.name}`, exact: true }).click();
        await gone('the "Profile" panel', profile);
    });
    await step(`${theme}: the group, with read markers`, async () => {
        await openAndLoad(user, 'Launch team', 'thanks, looks good');
        await visible('Cara\'s read marker', user.messageLog().getByRole('img', { name: `Read by ${cara.name}`, exact: true }));
        await run('group');
    });
    await step(`${theme}: the channel, with its join link`, async () => {
        await openAndLoad(user, 'General', 'welcome, all');
        await visible('the join link', page.getByRole('textbox', { name: 'Join link', exact: true }));
        await run('channel');
    });
    await step(`${theme}: the channel with a message focused by keyboard, its actions shown`, async () => {
        await user.messageLog().focus();
        await page.keyboard.press('ArrowUp');
        const actions = user.messageLog().locator('article:focus').getByRole('group', { name: 'Message actions', exact: true });
        await visible('the focused message\'s actions', actions);
        await eventually('the actions are shown', async () =>
            assert.equal(await actions.evaluate((el) => getComputedStyle(el).opacity), '1'));
        await run('channel, message actions');
        await user.composer().focus();
    });
    await step(`${theme}: the channel with its thread open beside it and a quote's card, then "Threads"`, async () => {
        const root = user.messageLog().locator('article').filter({ has: page.locator('.text', { hasText: 'welcome, all' }) });
        await root.getByRole('button', { name: startsWith('1 reply') }).click();
        const region = await visible('the thread pane', page.getByRole('complementary', { name: 'Thread', exact: true }));
        await visible('the reply', region.locator('article .text', { hasText: 'I will be there' }));
        await visible('"Unfollow"', region.getByRole('button', { name: 'Unfollow', exact: true }));
        await visible('the quote\'s card', user.messageLog().getByRole('button', { name: startsWith('Quote of') }));
        await run('channel, thread pane and quote card');
        await region.getByRole('button', { name: 'Close thread', exact: true }).click();
        await gone('the thread pane', region);
        const panel = await openPanel(user, 'Threads', 'Threads');
        await visible('the thread in "Threads"', panel.getByRole('button', { name: /^General\b.*\bwelcome, all/ }));
        await run('threads view');
        await closePanel(user, 'Threads', 'Threads');
        await user.composer().focus();
    });
    await step(`${theme}: the channel's formatted, edited, pinned message mentioning Ada, and the "@" list`, async () => {
        const message = article(user, 'Heads up');
        await visible('Ada\'s highlighted mention', message.locator('.mention-self'));
        await visible('"(edited)"', message.getByRole('button', { name: /^\(edited\)/ }));
        await visible('"Pinned"', message.getByText('Pinned', { exact: true }));
        await user.composer().fill('');
        await user.composer().focus();
        await page.keyboard.type('@');
        await visible('the "People to mention" list', page.getByRole('listbox', { name: 'People to mention', exact: true }));
        await run('channel, mention list');
        await page.keyboard.press('Escape');
        await user.composer().fill('');
    });
    await step(`${theme}: the editor of Ada's last message (Up in the empty composer)`, async () => {
        await user.composer().focus();
        await page.keyboard.press('ArrowUp');
        await visible('the editor', user.messageLog().getByRole('textbox', { name: 'Edit message', exact: true }));
        await run('channel, editing a message');
        await page.keyboard.press('Escape');
        await gone('the editor', user.messageLog().getByRole('textbox', { name: 'Edit message', exact: true }));
    });
    await step(`${theme}: the earlier versions of an edited message`, async () => {
        // By keyboard: on a message that continues its author's group, the actions shown while it is hovered
        // sit over its "(edited)" line (see docs/web-client.md, "Not done yet").
        await article(user, 'Heads up').getByRole('button', { name: /^\(edited\)/ }).focus();
        await page.keyboard.press('Enter');
        const dialog = await visible('the dialog', page.getByRole('dialog', { name: 'Earlier versions', exact: true }));
        await visible('"1 earlier version"', dialog.getByText('1 earlier version', { exact: true }));
        await run('earlier versions dialog');
        await page.keyboard.press('Escape');
        await gone('the dialog', dialog);
    });
    await step(`${theme}: the "Pinned" panel`, async () => {
        await page.getByRole('button', { name: 'Pinned', exact: true }).click();
        const panel = await visible('the panel', page.getByRole('region', { name: 'Pinned messages', exact: true }));
        await visible('the pin', panel.getByRole('listitem').filter({ hasText: 'Heads up' }));
        await run('pinned panel');
        await page.getByRole('button', { name: 'Pinned', exact: true }).click();
        await gone('the panel', panel);
    });
    await step(`${theme}: "Copy link" where the page may not use the clipboard: the link in a dialog`, async () => {
        await page.evaluate(() => {
            navigator.clipboard.writeText = () => Promise.reject(new DOMException('denied', 'NotAllowedError'));
        });
        await article(user, 'launch at noon').hover();
        await article(user, 'launch at noon').getByRole('button', { name: 'Copy link', exact: true }).click();
        const dialog = await visible('the dialog', page.getByRole('dialog', { name: 'Link to this message', exact: true }));
        await run('copy link dialog');
        await page.keyboard.press('Escape');
        await gone('the dialog', dialog);
    });
    await step(`${theme}: "New direct message" with a search result`, async () => {
        const panel = await openPanel(user, 'New direct message', 'Start a direct message');
        await panel.getByLabel('Find a colleague', { exact: true }).fill('Stone');
        await visible('the result "Bob Stone"', panel.getByRole('button', { name: bob.name, exact: true }));
        await run('new DM panel');
        await closePanel(user, 'New direct message', 'Start a direct message');
    });
    await step(`${theme}: "New group" with a chosen colleague and an error`, async () => {
        const panel = await openPanel(user, 'New group', 'Start a group');
        await panel.getByLabel('Find a colleague', { exact: true }).fill('Cara');
        await panel.getByRole('button', { name: cara.name, exact: true }).click();
        await visible(`"Remove ${cara.name}"`, panel.getByRole('button', { name: `Remove ${cara.name}`, exact: true }));
        await panel.getByRole('button', { name: 'Create group', exact: true }).click();
        await visible('the error "Give the group a name."', panel.getByRole('alert').filter({ hasText: 'Give the group a name.' }));
        await run('new group panel');
        await closePanel(user, 'New group', 'Start a group');
    });
    await step(`${theme}: the channel directory`, async () => {
        const panel = await openPanel(user, 'Channels', 'Channel directory');
        await visible('"Open #general…"', panel.getByRole('button', { name: `Open #general-${org.suffix}`, exact: true }));
        await run('channel directory');
        await closePanel(user, 'Channels', 'Channel directory');
    });
    await step(`${theme}: "Invite people" with a link made and the list of invitations`, async () => {
        const panel = await openPanel(user, 'Invite people', 'Invite people');
        await panel.getByLabel('How many people', { exact: true }).selectOption({ label: '5 people' });
        await panel.getByRole('button', { name: 'Create link', exact: true }).click();
        await visible('the "Invite link" field', panel.getByRole('textbox', { name: 'Invite link', exact: true }));
        await visible('an invitation in the list', panel.getByRole('listitem').filter({ hasText: '0 of 5 used' }));
        await run('invite people panel');
        await closePanel(user, 'Invite people', 'Invite people');
    });
    await step(`${theme}: the settings panel, with "Log out everywhere" asked`, async () => {
        const panel = await openPanel(user, 'Settings', 'Settings');
        await run('settings');
        await panel.getByRole('button', { name: 'Log out everywhere', exact: true }).click();
        await visible('"Yes, log out everywhere"', panel.getByRole('button', { name: 'Yes, log out everywhere', exact: true }));
        await run('settings, log out everywhere asked');
        await panel.getByRole('button', { name: 'Cancel', exact: true }).click();
        await closePanel(user, 'Settings', 'Settings');
    });
    await step(`${theme}: an invitation link opened while logged in`, async () => {
        await page.goto(`${BASE_URL}/#invite=${org.inviteToken}`);
        const notice = await visible('the notice', page.getByRole('region', { name: 'You are already in an organization', exact: true }));
        await run('invitation link while logged in');
        await notice.getByRole('button', { name: 'OK', exact: true }).click();
        await gone('the notice', notice);
    });
    await step(`${theme}: the offline banner, with a message pending in the open channel`, async () => {
        await user.context.setOffline(true);
        await visible('the Offline status', user.offlineBanner());
        const text = `sent offline (${theme})`;
        await user.send(text);
        await user.expectMessage(text, { state: 'pending' });
        await run('offline');
        await user.context.setOffline(false);
        await gone('the Offline status', user.offlineBanner(), RECONNECT_TIMEOUT);
        await user.expectMessage(text, { state: 'sent', timeout: RECONNECT_TIMEOUT });
    });
    await step(`${theme}: the list with a mention badge (unread_mentions added to the server's answer)`, async () => {
        const mentioned = org.group.id;
        const add = async (route) => {
            if (route.request().method() !== 'GET') return route.continue();
            const response = await route.fetch();
            const body = await response.json();
            for (const c of body.conversations) {
                if (c.id !== mentioned) continue;
                c.unread_count = Math.max(c.unread_count || 0, 1);
                c.unread_mentions = 1;
            }
            await route.fulfill({ response, json: body });
        };
        await page.route('**/v1/conversations', add);
        try {
            await page.reload();
            await user.expectLoggedIn('after a reload');
            await visible('"Launch team …, 1 mention"', user.conversations().getByRole('button', { name: /^Launch team\b.*\b1 mention$/ }));
            await run('list with a mention badge');
        } finally {
            await page.unroute('**/v1/conversations', add);
        }
    });
}

async function auditPhone(step, user, theme, found) {
    const { bob } = org;
    const page = user.page;
    const run = (screen) => audit(page, `${theme} phone ${screen}`, found);
    await step(`${theme} phone: the conversation list`, async () => {
        if (await page.getByRole('button', { name: 'Back to conversations', exact: true }).isVisible()) {
            await page.getByRole('button', { name: 'Back to conversations', exact: true }).click();
        }
        await visible('Bob in the list', user.conversationButton(bob.name));
        await run('list');
    });
    await step(`${theme} phone: the DM, with its Back button`, async () => {
        await openDm(user);
        await visible('"Back to conversations"', page.getByRole('button', { name: 'Back to conversations', exact: true }));
        await run('DM');
    });
    await step(`${theme} phone: back to the list, then the "New direct message" panel`, async () => {
        await page.getByRole('button', { name: 'Back to conversations', exact: true }).click();
        const panel = await openPanel(user, 'New direct message', 'Start a direct message');
        await panel.getByLabel('Find a colleague', { exact: true }).fill('Stone');
        await visible('the result "Bob Stone"', panel.getByRole('button', { name: bob.name, exact: true }));
        await run('new DM panel');
    });
    await step(`${theme} phone: "Invite people" with a link made`, async () => {
        const panel = await openPanel(user, 'Invite people', 'Invite people');
        await panel.getByRole('button', { name: 'Create link', exact: true }).click();
        await visible('the "Invite link" field', panel.getByRole('textbox', { name: 'Invite link', exact: true }));
        await run('invite people panel');
        await closePanel(user, 'Invite people', 'Invite people');
    });
    await step(`${theme} phone: the settings, with "Log out everywhere" asked`, async () => {
        const panel = await openPanel(user, 'Settings', 'Settings');
        await panel.getByRole('button', { name: 'Log out everywhere', exact: true }).click();
        await visible('"Yes, log out everywhere"', panel.getByRole('button', { name: 'Yes, log out everywhere', exact: true }));
        await run('settings, log out everywhere asked');
        await panel.getByRole('button', { name: 'Cancel', exact: true }).click();
        await closePanel(user, 'Settings', 'Settings');
    });
}

async function auditAuth(step, user, theme, found) {
    const { ada } = org;
    const page = user.page;
    const run = (screen) => audit(page, `${theme} ${screen}`, found);
    await step(`${theme}: the log-in and sign-up forms`, async () => {
        await visible('the "Log in" form', user.logInForm());
        await visible('the "Sign up" form', user.signUpForm());
        await run('auth screen');
    });
    await step(`${theme}: a log-in error`, async () => {
        const form = user.logInForm();
        await form.getByLabel('Email or username', { exact: true }).fill(org.cara.email);
        await form.getByLabel('Password', { exact: true }).fill('not-the-password');
        await form.getByRole('button', { name: 'Log in', exact: true }).click();
        await visible('the log-in error', form.getByRole('alert').filter({ hasText: /\S/ }));
        await run('log-in error');
    });
    await step(`${theme}: a sign-up error`, async () => {
        const form = user.signUpForm();
        await form.getByLabel('Name', { exact: true }).fill(ada.name);
        await form.getByLabel('Username', { exact: true }).fill(ada.username);
        await form.getByLabel('Email', { exact: true }).fill(ada.email);
        await form.getByLabel('Password', { exact: true }).fill(ada.password);
        await form.getByLabel('Organization', { exact: true }).fill(ada.org);
        await form.getByRole('button', { name: 'Sign up', exact: true }).click();
        await visible('the sign-up error', form.getByRole('alert').filter({ hasText: /\S/ }));
        await run('sign-up error');
    });
    await step(`${theme}: the sign-up form opened from an invitation link`, async () => {
        await page.goto(`${BASE_URL}/#invite=${org.inviteToken}`);
        await visible('"You\'re invited to join"', user.signUpForm().getByRole('status').filter({ hasText: `You're invited to join ${ada.org}.` }));
        await run('invitation sign-up');
    });
    await step(`${theme}: the sign-up form opened from a link whose invitation cannot be used`, async () => {
        await page.goto(`${BASE_URL}/#invite=not-an-invitation-${org.suffix}`);
        await visible('the explanation', user.signUpForm().getByRole('status').filter({ hasText: 'unknown, expired or used up' }));
        await run('unusable invitation sign-up');
    });
}

test('axe finds no violation on any screen, light and dark, desktop and phone', { timeout: TEST_TIMEOUT }, async (t) => {
    await bracket(t, async (step, users) => {
        const found = [];
        for (const [theme, options] of THEMES) {
            // Light on a touch phone (no hover: the message tools are never faded), dark on a desktop window
            // narrowed to a phone's size (hover: the faded tools).
            const phoneOptions = theme === 'light' ? { ...PHONE, ...options } : { ...DESKTOP, ...options };
            const narrow = (user) => theme === 'light' ? null : user.page.setViewportSize(PHONE.viewport);
            const stranger = await openAs(org.cara, `auth-${theme}`, { ...DESKTOP, ...options }, { loggedIn: false });
            users.push(stranger);
            await auditAuth(step, stranger, theme, found);
            await step(`${theme} phone: the auth screen, with its errors`, async () => {
                await stranger.page.setViewportSize(PHONE.viewport);
                await audit(stranger.page, `${theme} phone auth screen`, found);
            });
            const desktop = await openAs(org.ada, `ada-${theme}`, { ...DESKTOP, ...options });
            users.push(desktop);
            await auditDesktop(step, desktop, theme, found);
            const phone = theme === 'light' ? await openAs(org.ada, `ada-phone-${theme}`, phoneOptions) : desktop;
            if (phone !== desktop) users.push(phone);
            await narrow(phone);
            await auditPhone(step, phone, theme, found);
        }
        t.diagnostic(`axe: ${found.length} rule-screen violations: ${[...new Set(found.map((v) => v.id))].join(', ') || 'none'}`);
        assertNoViolations(found);
    });
});

// --- keyboard ----------------------------------------------------------------------------------------------------

/// Where the focus is: the element's id, role, name (roughly), which part of the screen it is in, whether it
/// shows a focus outline, and its box.
function focusInfo(page) {
    return page.evaluate(() => {
        const el = document.activeElement;
        if (!el || el === document.body || el === document.documentElement) return { body: true, describe: '<body>' };
        const style = getComputedStyle(el);
        const box = el.getBoundingClientRect();
        const labelled = el.getAttribute('aria-labelledby')?.split(/\s+/).map((id) => document.getElementById(id)?.textContent ?? '').join(' ');
        const name = (el.getAttribute('aria-label') || labelled || el.labels?.[0]?.textContent || el.textContent || '').trim().replace(/\s+/g, ' ');
        const region = el.closest('#conv-list') ? 'list'
            : el.closest('.conv-head, #profile, #join-box') ? 'header'
            : el.closest('#log') ? 'log'
            : el.closest('#composer') ? 'composer'
            : el.closest('.topbar') ? 'topbar'
            : el.closest('.side-tools') ? 'tools'
            : el.closest('.dm-panel') ? 'panel'
            : el.closest('.auth') ? 'auth'
            : 'other';
        const toolbar = el.closest('[role="toolbar"]');
        return {
            body: false,
            id: el.id || null,
            tag: el.tagName.toLowerCase(),
            name,
            region,
            toolbar: toolbar?.getAttribute('aria-label') ?? null,
            messageText: el.closest('article')?.querySelector('.text')?.textContent ?? null,
            focusVisible: el.matches(':focus-visible'),
            outline: `${style.outlineStyle} ${style.outlineWidth}`,
            outlined: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0,
            top: box.top,
            left: box.left,
            describe: `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''} "${name.slice(0, 40)}" (${region})`,
        };
    });
}

/// The focus is on an element (not <body>) that shows a visible focus outline.
function assertVisibleFocus(f, when) {
    assert.ok(!f.body, `${when}: the focus is on <body>`);
    assert.ok(f.focusVisible, `${when}: ${f.describe} has the focus but does not match :focus-visible`);
    assert.ok(f.outlined, `${when}: ${f.describe} has the focus but no outline (outline: ${f.outline})`);
}

/// Presses Tab (Shift+Tab when `back`) until `until(focus)` holds, checking at every stop that the focus is
/// visible; returns the stops. `current`: the focus where it is counts too.
async function tabUntil(page, what, until, { back = false, max = 80, current = false } = {}) {
    const stops = [];
    if (current) {
        const f = await focusInfo(page);
        if (!f.body && until(f)) return [f];
    }
    for (let i = 0; i < max; i++) {
        await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
        const f = await focusInfo(page);
        stops.push(f);
        assertVisibleFocus(f, `${back ? 'Shift+Tab' : 'Tab'} towards ${what}`);
        if (until(f)) return stops;
    }
    throw new Error(`${what}: not reached after ${max} presses of ${back ? 'Shift+Tab' : 'Tab'}; the focus went ${stops.map((f) => f.describe).join(' → ')}`);
}

/// The parts of the screen the stops went through, each once, in order.
function regions(stops) {
    return stops.map((f) => f.region).filter((r, i, all) => i === 0 || all[i - 1] !== r);
}

test('keyboard only: log in, open a conversation, send, react, panels and Escape, log out', { timeout: TEST_TIMEOUT }, async (t) => {
    const { ada, bob } = org;
    await bracket(t, async (step, users) => {
        const user = await openAs(ada, 'kbd-ada', DESKTOP, { loggedIn: false });
        users.push(user);
        const page = user.page;
        const kb = page.keyboard;
        const focus = () => focusInfo(page);
        /// Focus checks after screen changes, reported together at the end so one run shows them all.
        const misplaced = [];
        const expectFocus = async (when, ok, wanted) => {
            const f = await focus();
            if (f.body || !ok(f)) misplaced.push(`${when}: the focus should be on ${wanted}, it is on ${f.describe}`);
            else if (!f.focusVisible || !f.outlined) misplaced.push(`${when}: ${f.describe} has the focus but shows no outline (${f.outline})`);
            return f;
        };

        await step('Tab goes through the log-in form in visual order; Enter on "Log in" with a wrong password', async () => {
            await visible('the "Log in" form', user.logInForm());
            let f = await focus();
            if (f.id !== 'li-login') {
                await kb.press('Tab');
                f = await focus();
            }
            const order = [];
            for (const [id, value] of [['li-login', ada.username], ['li-password', 'not-the-password'], ['li-org', ada.org]]) {
                assertVisibleFocus(f, `in the log-in form, towards #${id}`);
                order.push(f.name);
                assert.equal(f.id, id, `the log-in form's Tab order: ${order.join(' → ')}`);
                await kb.type(value);
                await kb.press('Tab');
                f = await focus();
            }
            assertVisibleFocus(f, 'after the Organization field');
            assert.equal(f.name, 'Log in', `after "Organization", Tab should reach "Log in", not ${f.describe}`);
            await kb.press('Enter');
            await visible('the log-in error', user.logInForm().getByRole('alert').filter({ hasText: /\S/ }));
            await expectFocus('after a failed log-in', (f) => f.region === 'auth', 'the log-in form (its button or a field)');
        });

        await step('the right password, and Enter in the password field, logs in', async () => {
            await tabUntil(page, 'the password field', (f) => f.id === 'li-password', { back: true, current: true });
            await kb.press('ControlOrMeta+A');
            await kb.type(ada.password);
            await kb.press('Enter');
            await user.expectLoggedIn('after logging in by keyboard');
        });

        await step('after logging in, the focus is on the conversation list or "New direct message"', async () => {
            await visible('Bob in the list', user.conversationButton(bob.name));
            await expectFocus('after logging in', (f) => f.region === 'list' || f.id === 'new-dm', 'a conversation or "New direct message"');
        });

        await step('Tab reaches the DM in the list, and Enter opens it with the focus in the composer', async () => {
            await tabUntil(page, 'the DM with Bob in the list', (f) => f.region === 'list' && f.name.startsWith(bob.name), { current: true });
            await kb.press('Enter');
            await visible('the DM\'s heading', user.heading(bob.name));
            await user.expectMessage('see you at the launch');
            await expectFocus('after opening a conversation', (f) => f.id === 'msg', 'the composer');
        });

        await step('Shift+Tab goes composer → log → header → list, every stop visible', async () => {
            const stops = await tabUntil(page, 'the list', (f) => f.region === 'list', { back: true });
            const went = regions(stops);
            assert.deepEqual(went.filter((r) => r !== 'log').slice(-2), ['header', 'list'], `Shift+Tab went ${went.join(' → ')}`);
            assert.ok(went.includes('log'), `Shift+Tab went ${went.join(' → ')}: never through the log`);
            assert.deepEqual(went.slice(0, went.indexOf('header')).filter((r) => r !== 'log'), [], `Shift+Tab went ${went.join(' → ')}`);
        });

        await step('Tab goes list → header → log → composer, in visual order, every stop visible', async () => {
            const start = await focus();
            const stops = [start, ...await tabUntil(page, 'the composer', (f) => f.id === 'msg')];
            const went = regions(stops);
            assert.deepEqual(went, ['list', 'header', 'log', 'composer'], `Tab went ${stops.map((f) => f.describe).join(' → ')}`);
            const first = (region) => stops.find((f) => f.region === region);
            assert.ok(first('list').left < first('header').left, 'the list is not left of the conversation');
            assert.ok(first('header').top < first('log').top && first('log').top < first('composer').top,
                `header, log and composer are not top to bottom: ${['header', 'log', 'composer'].map((r) => first(r).top).join(', ')}`);
            const inLog = stops.filter((f) => f.region === 'log' && f.messageText !== null).map((f) => f.top);
            assert.deepEqual(inLog, [...inLog].sort((a, b) => a - b), 'the messages\' tools are not reached top to bottom');
        });

        await step('typing and Enter send a message; the focus stays in the composer', async () => {
            await kb.type('typed by keyboard');
            await kb.press('Enter');
            await user.expectMessage('typed by keyboard', { state: 'sent' });
            await expectFocus('after sending', (f) => f.id === 'msg', 'the composer');
        });

        await step('Shift+Tab reaches the new message\'s "React" toolbar; arrows move in it, Enter reacts 🎉', async () => {
            await tabUntil(page, 'the "React" toolbar of "typed by keyboard"',
                (f) => f.toolbar === 'React' && f.messageText === 'typed by keyboard', { back: true });
            for (let i = 0; i < 4 && (await focus()).name !== 'React with 🎉'; i++) await kb.press('ArrowRight');
            assertVisibleFocus(await focus(), 'the arrows in the toolbar');
            assert.equal((await focus()).name, 'React with 🎉', 'the arrows did not reach "React with 🎉"');
            await kb.press('Enter');
            await visible('the reaction "🎉 1" on "typed by keyboard"',
                article(user, 'typed by keyboard').getByRole('button', { name: '🎉 1', exact: true, pressed: true }));
            await expectFocus('after reacting', (f) => f.name === 'React with 🎉', '"React with 🎉"');
        });

        await step('the "React" toolbar is one Tab stop (roving tabindex): Tab leaves it, Shift+Tab comes back', async () => {
            const inBar = (f) => f.toolbar === 'React' && f.messageText === 'typed by keyboard';
            if (!inBar(await focus())) {
                // Lost (reported above): back to the toolbar from wherever the focus went.
                await tabUntil(page, 'the "React" toolbar of "typed by keyboard"', inBar);
                for (let i = 0; i < 4 && (await focus()).name !== 'React with 🎉'; i++) await kb.press('ArrowRight');
            }
            const bar = article(user, 'typed by keyboard').getByRole('toolbar', { name: 'React', exact: true });
            const stops = await bar.evaluate((el) => [...el.querySelectorAll('button')].map((b) => ({ name: b.getAttribute('aria-label'), tabIndex: b.tabIndex, focused: b === document.activeElement })));
            const tabbable = stops.filter((b) => b.tabIndex >= 0);
            assert.deepEqual(tabbable.map((b) => b.name), ['React with 🎉'],
                `one button of the toolbar, the focused one, should have tabindex 0: ${JSON.stringify(stops)}`);
            await kb.press('Tab');
            const out = await focus();
            assert.ok(out.toolbar !== 'React' || out.messageText !== 'typed by keyboard', `Tab stayed in the toolbar, on ${out.describe}`);
            await kb.press('Shift+Tab');
            assert.equal((await focus()).name, 'React with 🎉', 'Shift+Tab did not come back to the toolbar\'s last button');
        });

        // Each button is reached from where the focus was left, with Shift+Tab (back) or Tab.
        for (const [button, panel, field, fieldId, back] of [
            ['New group', 'Start a group', 'Group name', 'group-name', true],
            ['New direct message', 'Start a direct message', 'Find a colleague', 'dm-q', true],
            ['Channels', 'Channel directory', 'Search channels', 'ch-q', false],
            ['Invite people', 'Invite people', 'How many people', 'invite-uses', false],
            ['Settings', 'Settings', 'Avatar', 'avatar-input', true],
        ]) {
            await step(`"${button}" by keyboard: the focus goes to "${field}"; Escape closes it, back on "${button}"`, async () => {
                await tabUntil(page, `"${button}"`, (f) => f.name === button && f.tag === 'button', { back, current: true });
                await kb.press('Enter');
                await visible(`the "${panel}" panel`, page.getByRole('region', { name: panel, exact: true }));
                await expectFocus(`after opening "${button}"`, (f) => f.id === fieldId, `"${field}"`);
                if ((await focus()).id !== fieldId) await tabUntil(page, `"${field}"`, (f) => f.id === fieldId);
                await kb.press('Escape');
                await gone(`the "${panel}" panel`, page.getByRole('region', { name: panel, exact: true }));
                await expectFocus(`after Escape in "${panel}"`, (f) => f.name === button && f.tag === 'button', `"${button}"`);
            });
        }

        await step('"Profile of Bob Stone" by keyboard, "Add to contacts" with Enter; Escape closes it, back on the button', async () => {
            await tabUntil(page, '"Profile of Bob Stone"', (f) => f.id === 'profile-btn');
            await kb.press('Enter');
            const profile = await visible('the "Profile" panel', page.getByRole('region', { name: 'Profile', exact: true }));
            await visible('"Add to contacts"', profile.getByRole('button', { name: 'Add to contacts', exact: true }));
            await tabUntil(page, '"Add to contacts"', (f) => f.name === 'Add to contacts');
            await kb.press('Enter');
            await visible('"Remove from contacts"', profile.getByRole('button', { name: 'Remove from contacts', exact: true }));
            await expectFocus('after "Add to contacts"', (f) => f.name === 'Remove from contacts', '"Remove from contacts"');
            if ((await focus()).region !== 'header') await tabUntil(page, '"Remove from contacts"', (f) => f.name === 'Remove from contacts');
            await kb.press('Escape');
            await gone('the "Profile" panel', profile);
            await expectFocus('after Escape in the profile', (f) => f.id === 'profile-btn', '"Profile of Bob Stone"');
        });

        await step('"Log out" by keyboard: the auth screen, with the focus on its first field', async () => {
            await tabUntil(page, '"Log out"', (f) => f.name === 'Log out', { back: true });
            await kb.press('Enter');
            await visible('the "Log in" form', user.logInForm());
            await expectFocus('after logging out', (f) => f.id === 'li-login', '"Email or username"');
        });

        assert.deepEqual(misplaced, [], `the focus was not where it should be:\n${misplaced.join('\n')}`);
    });
});

// --- what a screen reader is told ----------------------------------------------------------------------------------

test('screen readers: live log, announced status and errors, named entries, panels and icon buttons', { timeout: TEST_TIMEOUT }, async (t) => {
    const { ada, bob } = org;
    await bracket(t, async (step, users) => {
        const user = await openAs(ada, 'sr-ada', DESKTOP);
        users.push(user);
        const page = user.page;

        await step('Bob posts in the group and the channel: Ada has unread messages in both', async () => {
            await say(bob, org.group, 'one more thing');
            await say(bob, org.group, 'and another');
            await say(bob, org.channel, 'hello channel');
        });

        await step('each conversation of the list is named with its title and its unread count', async () => {
            const { conversations } = await rest('GET', '/v1/conversations', ada.token);
            const title = (c) => (c.kind === 'dm' ? bob.name : c.name);
            await eventually('every entry names its title and unread count', async () => {
                const entries = await user.conversations().getByRole('button').all();
                assert.equal(entries.length, conversations.length, 'the list does not show every conversation');
                const { conversations: now } = await rest('GET', '/v1/conversations', ada.token);
                for (const c of now) {
                    const unread = c.unread_count || 0;
                    const name = unread
                        ? new RegExp(`^${escapeRegExp(title(c))}\\b.*\\b${unread} unread\\b`)
                        : startsWith(title(c));
                    const n = await user.conversations().getByRole('button', { name }).count();
                    assert.equal(n, 1, `no list entry is named ${name} (the entries: ${JSON.stringify(await accessibleNames(user.conversations()))})`);
                }
                assert.ok(now.some((c) => c.unread_count > 0), 'no conversation has unread messages');
            });
        });

        await step('the Messages log is a live region (role=log), not busy once loaded, and new messages land in it', async () => {
            await openAndLoad(user, 'Launch team', 'and another');
            const log = user.messageLog();
            const live = await log.evaluate((el) => {
                el.__e2eLog = true;
                return { role: el.getAttribute('role'), live: el.getAttribute('aria-live') };
            });
            assert.ok(live.role === 'log' || live.live === 'polite', `the log: ${JSON.stringify(live)}`);
            assert.notEqual(live.live, 'off', 'the log has aria-live="off"');
            await say(bob, org.group, 'a live one');
            await user.expectMessage('a live one');
            const inside = await article(user, 'a live one').evaluate((a) => a.closest('[role="log"]')?.__e2eLog === true);
            assert.ok(inside, 'the new message is not inside the same live log element');
        });

        await step('the offline banner is a status region that exists before it says "Offline"', async () => {
            const banner = page.locator('#offline');
            assert.equal(await banner.getAttribute('role'), 'status');
            await user.context.setOffline(true);
            await visible('the Offline status', user.offlineBanner());
            await user.context.setOffline(false);
            await gone('the Offline status', user.offlineBanner(), RECONNECT_TIMEOUT);
        });

        await step('panels are named regions, opened by buttons that say so (aria-expanded, aria-controls)', async () => {
            for (const [button, region] of [
                ['New direct message', 'Start a direct message'],
                ['New group', 'Start a group'],
                ['Channels', 'Channel directory'],
                ['Invite people', 'Invite people'],
                ['Settings', 'Settings'],
            ]) {
                const toggle = page.getByRole('button', { name: button, exact: true });
                assert.equal(await toggle.getAttribute('aria-expanded'), 'false', `"${button}" before opening`);
                const panel = await openPanel(user, button, region);
                assert.equal(await toggle.getAttribute('aria-expanded'), 'true', `"${button}" once open`);
                const controls = await toggle.getAttribute('aria-controls');
                assert.equal(await panel.getAttribute('id'), controls, `"${button}" controls #${controls}, not the panel`);
                await closePanel(user, button, region);
            }
            await user.openConversation(bob.name);
            const toggle = page.getByRole('button', { name: `Profile of ${bob.name}`, exact: true });
            await toggle.click();
            const profile = await visible('the "Profile" panel', page.getByRole('region', { name: 'Profile', exact: true }));
            assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
            assert.equal(await profile.getAttribute('id'), await toggle.getAttribute('aria-controls'));
            await toggle.click();
        });

        await step('icon-only buttons and images have names that say what they are', async () => {
            await visible('the reaction "Like 1"', user.messageLog().getByRole('button', { name: 'Like 1', exact: true }));
            const unnamed = await page.evaluate(() => {
                const letters = /\p{L}/u;
                const shown = (el) => el.getClientRects().length > 0;
                const named = (el) => {
                    const by = el.getAttribute('aria-labelledby');
                    const text = by ? by.split(/\s+/).map((id) => document.getElementById(id)?.textContent ?? '').join(' ') : el.getAttribute('aria-label') || el.getAttribute('title') || '';
                    return letters.test(text);
                };
                const bad = [];
                for (const b of document.querySelectorAll('button, [role="button"]')) {
                    if (shown(b) && !letters.test(b.textContent) && !/\d/.test(b.textContent) && !named(b)) bad.push(b.outerHTML.slice(0, 120));
                }
                for (const img of document.querySelectorAll('[role="img"], img')) {
                    if (!shown(img) || img.closest('[aria-hidden="true"]')) continue;
                    if (img.tagName === 'IMG' ? img.getAttribute('alt') === null : !named(img)) bad.push(img.outerHTML.slice(0, 120));
                }
                return bad;
            });
            assert.deepEqual(unnamed, [], 'these icon-only buttons or images have no name in words');
            const articles = await user.messageLog().locator('article[data-state="sent"]:not(.deleted)').count();
            for (const name of ['Like', 'React with 🎉', 'React with ❤️', 'React with 😂']) {
                assert.equal(await user.messageLog().getByRole('button', { name, exact: true }).count(), articles, `"${name}" on every message`);
            }
        });

        await step('a form error is an alert: "Create group" without a name', async () => {
            const panel = await openPanel(user, 'New group', 'Start a group');
            await panel.getByRole('button', { name: 'Create group', exact: true }).click();
            await visible('the alert "Give the group a name."', panel.getByRole('alert').filter({ hasText: 'Give the group a name.' }));
            await closePanel(user, 'New group', 'Start a group');
        });

        const expired = await openAs(ada, 'sr-expired', DESKTOP, {
            token: (await rest('POST', '/v1/auth/login', undefined, { login: ada.username, password: ada.password, org: ada.org })).token,
        });
        users.push(expired);
        await step('a session ended elsewhere: the auth screen says why, read out with its first field, which has the focus', async () => {
            await rest('POST', '/v1/auth/logout', (await expired.page.evaluate(() => localStorage.getItem('parley.token'))) ?? undefined);
            await visible('the "Log in" form', expired.logInForm());
            const notice = await visible('the auth notice', expired.page.locator('#auth-notice'));
            await eventually('the focus is on "Email or username"', async () => {
                const f = await focusInfo(expired.page);
                assert.equal(f.id, 'li-login', `the focus is on ${f.describe}`);
            });
            // Announced: a live region, or the description of the field that has the focus.
            const how = await notice.evaluate((n) => ({
                role: n.getAttribute('role'),
                live: n.getAttribute('aria-live'),
                describes: (document.activeElement.getAttribute('aria-describedby') ?? '').split(/\s+/).includes(n.id),
                text: n.textContent,
            }));
            assert.ok(['status', 'alert'].includes(how.role) || ['polite', 'assertive'].includes(how.live) || how.describes,
                `the notice is not announced: ${JSON.stringify(how)}`);
        });
        await step('a log-in error is an alert', async () => {
            const form = expired.logInForm();
            await form.getByLabel('Email or username', { exact: true }).fill(org.cara.email);
            await form.getByLabel('Password', { exact: true }).fill('wrong-password');
            await form.getByRole('button', { name: 'Log in', exact: true }).click();
            await visible('an alert in the "Log in" form', form.getByRole('alert').filter({ hasText: /\S/ }));
        });
    });
});

function escapeRegExp(text) {
    return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/// The accessible names of the buttons under `locator`, as the accessibility tree has them.
async function accessibleNames(locator) {
    const snapshot = await locator.ariaSnapshot();
    return snapshot.split('\n').map((line) => line.match(/button "(.*)"/)?.[1]).filter(Boolean);
}
