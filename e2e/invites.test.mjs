// Browser tests of joining an organization by invitation, and of "Log out everywhere", against a real `parley`
// at PARLEY_URL (run them with `bash scripts/e2e`).
//
// An organization is joined by invitation: a member makes a link in "Invite people" (`/#invite=TOKEN`), and
// whoever opens it signs up into that organization. Typing an existing organization's handle into the sign-up
// form without one is refused (`invite_required`), with words that say what to do.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, eventually, gone, rest, sharedBrowser, visible } from './lib.mjs';

const TEST_TIMEOUT = 60_000;
const ADA = ['ada', 'Ada Lovelace'];
const BOB = ['bob', 'Bob Stone'];
const CARA = ['cara', 'Cara Diaz'];

const UNUSABLE = 'This invitation is unknown, expired or used up: ask whoever sent it for a new link.';

const { withPeople } = sharedBrowser();

function invitePanel(user) {
    return user.page.getByRole('region', { name: 'Invite people', exact: true });
}

/// "Invite people" → how many people → "Create link": returns the link shown in the read-only "Invite link".
async function createLink(user, { people = '1 person' } = {}) {
    const panel = invitePanel(user);
    if (!(await panel.isVisible())) {
        await user.page.getByRole('button', { name: 'Invite people', exact: true }).click();
        await visible('the "Invite people" panel', panel);
    }
    await panel.getByLabel('How many people', { exact: true }).selectOption({ label: people });
    await panel.getByRole('button', { name: 'Create link', exact: true }).click();
    const field = panel.getByRole('textbox', { name: 'Invite link', exact: true });
    await visible('the "Invite link" field', field);
    const link = await field.inputValue();
    assert.match(link, /\/#invite=[^&\s]+$/, 'the link');
    assert.ok(link.startsWith(`${BASE_URL}/#invite=`), `the link ${link} does not lead to this server's client`);
    assert.equal(await field.evaluate((input) => input.readOnly), true, 'the link field is read-only');
    return link;
}

/// Opens `link` as a fresh page load (as from a mail), not as a change of the fragment of the open page.
async function openLink(user, link) {
    await user.page.goto('about:blank');
    await user.page.goto(link);
}

/// Fills the sign-up form with `user`'s details; `org` goes into "Organization" when given.
async function fillSignUp(user, { org } = {}) {
    const form = await visible('the "Sign up" form', user.signUpForm());
    await form.getByLabel('Name', { exact: true }).fill(user.name);
    await form.getByLabel('Username', { exact: true }).fill(user.username);
    await form.getByLabel('Email', { exact: true }).fill(user.email);
    await form.getByLabel('Password', { exact: true }).fill(user.password);
    if (org !== undefined) await form.getByLabel('Organization', { exact: true }).fill(org);
    await form.getByRole('button', { name: 'Sign up', exact: true }).click();
    return form;
}

/// The invitation's entry in the list of "Invite people" that says `text` (e.g. "1 of 5 used").
function listEntry(user, text) {
    return invitePanel(user).getByRole('listitem').filter({ hasText: text });
}

test('Ada invites Bob with a link: he sees where it leads, signs up through it, they chat, and her list counts the use', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB], async (step, ada, bob) => {
        await step('Ada signs up, creating the organization', () => ada.signUp());
        await ada.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE_URL });
        let link;
        await step('Ada opens "Invite people" (the focus goes to its first field) and creates a link for 5 people', async () => {
            await ada.page.getByRole('button', { name: 'Invite people', exact: true }).click();
            await visible('the "Invite people" panel', invitePanel(ada));
            await eventually('the focus on "How many people"', async () =>
                assert.equal(await ada.page.evaluate(() => document.activeElement?.id), 'invite-uses'));
            link = await createLink(ada, { people: '5 people' });
            await visible('her invitation, "0 of 5 used", in the list', listEntry(ada, '0 of 5 used'));
        });
        await step('"Copy link" puts the link on the clipboard and says so', async () => {
            await invitePanel(ada).getByRole('button', { name: 'Copy link', exact: true }).click();
            await visible('"Link copied."', invitePanel(ada).getByRole('status').filter({ hasText: 'Link copied.' }));
            assert.equal(await ada.page.evaluate(() => navigator.clipboard.readText()), link);
            await ada.screenshot('invite-people-panel');
        });
        await step(`Bob opens the link in his own browser: "You're invited to join ${ada.org}", and no Organization field`, async () => {
            await openLink(bob, link);
            await visible(`"You're invited to join ${ada.org}."`,
                bob.signUpForm().getByRole('status').filter({ hasText: `You're invited to join ${ada.org}.` }));
            await gone('the "Organization" field of the sign-up form', bob.signUpForm().getByLabel('Organization', { exact: true }));
            assert.equal(new URL(bob.page.url()).hash, '', `the token is still in the address bar: ${bob.page.url()}`);
            await bob.screenshot('invite-signup');
        });
        await step('Bob signs up through the form and is in Ada\'s organization', async () => {
            await fillSignUp(bob);
            await bob.expectLoggedIn('after signing up with the invitation');
            const me = await rest('GET', '/v1/users/me', await bob.sessionToken());
            assert.equal(me.org, ada.org);
        });
        await step('Ada and Bob exchange a DM', async () => {
            await ada.openDmWith(bob);
            await ada.send('welcome aboard, Bob');
            await visible(`"${ada.name}" in Bob's list`, bob.conversationButton(ada.name));
            await bob.openConversation(ada.name);
            await bob.expectMessage('welcome aboard, Bob');
            await bob.send('thanks, Ada');
            await ada.expectMessage('thanks, Ada');
        });
        await step('Ada opens "Invite people" again: her invitation shows "1 of 5 used"', async () => {
            await ada.page.getByRole('button', { name: 'Invite people', exact: true }).click();
            await visible('"1 of 5 used"', listEntry(ada, '1 of 5 used'));
            await visible('the state "Active"', listEntry(ada, '1 of 5 used').getByText('Active', { exact: true }));
        });
    });
});

test('typing an organization\'s handle without an invitation is refused, with what to do instead', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, ['eve', 'Eve Stranger']], async (step, ada, eve) => {
        await step('Ada signs up, creating the organization', () => ada.signUp());
        await step(`a stranger types "${ada.org}" into "Organization" and signs up: told that joining takes an invitation`, async () => {
            const form = await fillSignUp(eve, { org: ada.org });
            await visible('the invite_required explanation', form.getByRole('alert').filter({
                hasText: `Joining ${ada.org} takes an invitation: ask a member for an invite link.`,
            }));
            assert.equal(await eve.sessionToken(), null, 'the stranger has a session');
            await visible('the "Sign up" form, still', eve.signUpForm());
        });
    });
});

test('a withdrawn invitation is refused: whoever opens its link is told it is unknown, expired or used up', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, CARA], async (step, ada, cara) => {
        await step('Ada signs up and creates a link', async () => {
            await ada.signUp();
            cara.link = await createLink(ada);
            await visible('it in her list, "0 of 1 used"', listEntry(ada, '0 of 1 used'));
        });
        await step('Ada withdraws it: it leaves her list and the link with it, and the focus stays in the panel', async () => {
            await listEntry(ada, '0 of 1 used').getByRole('button', { name: 'Withdraw', exact: true }).click();
            await gone('the invitation in the list', listEntry(ada, '0 of 1 used'));
            await gone('the "Invite link" field', invitePanel(ada).getByRole('textbox', { name: 'Invite link', exact: true }));
            await visible('"Invitation withdrawn."', invitePanel(ada).getByRole('status').filter({ hasText: 'Invitation withdrawn.' }));
            await eventually('the focus on "Create link"', async () =>
                assert.equal(await ada.page.evaluate(() => document.activeElement?.textContent), 'Create link'));
        });
        await step('Cara opens the link: it is unknown, expired or used up, and the Organization field is back', async () => {
            await openLink(cara, cara.link);
            await visible('the explanation', cara.signUpForm().getByRole('status').filter({ hasText: UNUSABLE }));
            await visible('the "Organization" field', cara.signUpForm().getByLabel('Organization', { exact: true }));
            assert.equal(new URL(cara.page.url()).hash, '', `the token is still in the address bar: ${cara.page.url()}`);
        });
    });
});

test('an invitation used up, or opened by someone logged in, is not used, and each is told why', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB, CARA], async (step, ada, bob, cara) => {
        await step('Ada signs up and makes a link for 1 person; Bob and Cara both open it', async () => {
            await ada.signUp();
            const link = await createLink(ada);
            await openLink(bob, link);
            await openLink(cara, link);
            for (const user of [bob, cara]) {
                await visible(`"You're invited" on ${user.name}'s page`, user.signUpForm().getByRole('status').filter({ hasText: "You're invited to join" }));
            }
        });
        await step('Bob signs up with it first; then Cara is refused, and told why', async () => {
            await fillSignUp(bob);
            await bob.expectLoggedIn('after signing up with the invitation');
            const form = await fillSignUp(cara);
            await visible('the refusal', form.getByRole('alert').filter({ hasText: 'the invitation is unknown, expired or used up' }));
            await visible('the explanation', form.getByRole('status').filter({ hasText: UNUSABLE }));
            await visible('the "Organization" field', form.getByLabel('Organization', { exact: true }));
        });
        await step('Ada\'s list shows it "Used up"', async () => {
            await ada.page.getByRole('button', { name: 'Invite people', exact: true }).click();
            await ada.page.getByRole('button', { name: 'Invite people', exact: true }).click();
            await visible('"Used up"', listEntry(ada, '1 of 1 used').getByText('Used up', { exact: true }));
        });
        await step('Bob, logged in, opens another invitation link: he is told he is already in an organization', async () => {
            const invite = await ada.createInvite();
            await bob.page.goto(`${BASE_URL}/#invite=${invite.token}`);
            const notice = await visible('the notice', bob.page.getByRole('region', { name: 'You are already in an organization', exact: true }));
            await visible(`the organization "${ada.org}" in it`, notice.getByText(ada.org, { exact: true }));
            assert.equal(new URL(bob.page.url()).hash, '', `the token is still in the address bar: ${bob.page.url()}`);
            await notice.getByRole('button', { name: 'OK', exact: true }).click();
            await gone('the notice', notice);
            await bob.expectLoggedIn('after the notice');
            const { invites } = await rest('GET', '/v1/invites', await ada.sessionToken());
            assert.equal(invites.find((i) => i.id === invite.id)?.uses, 0, 'the invitation was used');
        });
    });
});

test('"Log out everywhere" ends every session: the other browser is logged out too, its socket closed', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, ['other', 'Ada on another computer']], async (step, ada, other) => {
        await step('Ada signs up here, and logs in on another computer', async () => {
            await ada.signUp();
            const form = await visible('the "Log in" form', other.logInForm());
            await form.getByLabel('Email or username', { exact: true }).fill(ada.email);
            await form.getByLabel('Password', { exact: true }).fill(ada.password);
            await form.getByRole('button', { name: 'Log in', exact: true }).click();
            await other.expectLoggedIn('after logging in as Ada');
        });
        const tokens = [await ada.sessionToken(), await other.sessionToken()];
        const settings = ada.page.getByRole('region', { name: 'Settings', exact: true });
        await step('Settings → "Log out everywhere" asks first; "Cancel" changes nothing', async () => {
            await ada.page.getByRole('button', { name: 'Settings', exact: true }).click();
            await settings.getByRole('button', { name: 'Log out everywhere', exact: true }).click();
            await visible('the question', settings.getByText('Log out on every device, this one included?'));
            await eventually('the focus on "Cancel"', async () =>
                assert.equal(await ada.page.evaluate(() => document.activeElement?.textContent), 'Cancel'));
            await ada.screenshot('logout-everywhere-asked');
            await settings.getByRole('button', { name: 'Cancel', exact: true }).click();
            await gone('the question', settings.getByText('Log out on every device, this one included?'));
            await ada.expectLoggedIn('after "Cancel"');
        });
        await step('"Log out everywhere", then "Yes": this page shows the auth screen, and so does the other computer', async () => {
            await settings.getByRole('button', { name: 'Log out everywhere', exact: true }).click();
            await settings.getByRole('button', { name: 'Yes, log out everywhere', exact: true }).click();
            await visible('the "Log in" form here', ada.logInForm());
            await visible('"You were logged out everywhere."', ada.page.getByText('You were logged out everywhere.', { exact: true }));
            // The other page holds no request: only its socket, closed with 4003, can tell it.
            await visible('the "Log in" form on the other computer', other.logInForm());
            await visible('"You were logged out." (the socket\'s close 4003)', other.page.getByText('You were logged out.', { exact: true }));
        });
        await step('both tokens are gone from the pages and refused by the server', async () => {
            assert.equal(await ada.sessionToken(), null);
            assert.equal(await other.sessionToken(), null);
            for (const token of tokens) {
                const response = await fetch(`${BASE_URL}/v1/users/me`, { headers: { authorization: `Bearer ${token}` } });
                assert.equal(response.status, 401);
            }
        });
    });
});
