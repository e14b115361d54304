// Browser tests of Administration's "Invitations" tab, against a real `parley` at PARLEY_URL (run them with
// `bash scripts/e2e --test-name-pattern=Invitations`):
//
// - an owner sees every invitation of the organization, a member's too, with its maker's name ("(you)" on her
//   own), its uses "N of M" and its status;
// - "Withdraw" asks first, then withdraws it: its row goes, and the API no longer lists it;
// - a member has no "Administration", and the API refuses him the organization's list (403 `not_admin`);
// - axe finds no violation on the tab or its question, light and dark.
//
// Screenshots go to target/e2e/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertNoViolations, audit, BASE_URL, eventually, gone, rest, sharedBrowser, visible } from './lib.mjs';

const TEST_TIMEOUT = 90_000;
const ADA = ['ada', 'Ada Lovelace'];
const BOB = ['bob', 'Bob Stone'];

const { withPeople } = sharedBrowser();

function adminArea(user) {
    return user.page.getByRole('region', { name: 'Administration', exact: true });
}
function invitesTable(user) {
    return adminArea(user).getByRole('table', { name: 'Invitations', exact: true });
}
/// The rows of the Invitations table made by `maker` (found by their name, in the row's header cell).
function invitesBy(user, maker) {
    return invitesTable(user).locator('tbody tr').filter({ has: user.page.getByRole('rowheader', { name: maker.name }) });
}

/// "Administration" → its "Invitations" tab.
async function openInvitations(user) {
    if (!(await adminArea(user).isVisible())) await user.page.getByRole('button', { name: 'Administration', exact: true }).click();
    await visible('the Administration area', adminArea(user));
    await adminArea(user).getByRole('tab', { name: 'Invitations', exact: true }).click();
    await visible('the "Invitations" tab\'s page', adminArea(user).getByRole('tabpanel', { name: 'Invitations', exact: true }));
}

/// The ids of the organization's invitations, as the API lists them to `token`'s owner or administrator.
async function listedIds(token) {
    return (await rest('GET', '/v1/invites?all=true', token)).invites.map((invite) => invite.id);
}

test('administration: the Invitations tab lists a member\'s invitation by his name, and the owner withdraws it', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB], async (step, ada, bob) => {
        let adaToken;
        let bobInvite;
        await step('Ada signs up (the owner) and Bob joins (a member); each makes an invitation with the API', async () => {
            await ada.signUp();
            await bob.signUp();
            adaToken = await ada.sessionToken();
            await rest('POST', '/v1/invites', adaToken, { max_uses: 3, expires_in_hours: 24 });
            bobInvite = await rest('POST', '/v1/invites', await bob.sessionToken(), { max_uses: 5, expires_in_hours: 48 });
            assert.ok((await listedIds(adaToken)).includes(bobInvite.id), 'the API does not list Bob\'s invitation to Ada');
        });
        await step('Bob, a member, has no "Administration", and the API refuses him the organization\'s list', async () => {
            await visible('"Administration" on Ada\'s page', ada.page.getByRole('button', { name: 'Administration', exact: true }));
            assert.equal(await bob.page.getByRole('button', { name: 'Administration', exact: true }).isVisible(), false, 'Bob sees "Administration"');
            const response = await fetch(`${BASE_URL}/v1/invites?all=true`, { headers: { authorization: `Bearer ${await bob.sessionToken()}` } });
            assert.equal(response.status, 403);
            assert.equal((await response.json()).error.code, 'not_admin');
        });
        await step('Ada opens Administration → Invitations: Bob\'s invitation shows with his name, "0 of 5" and "Active"; hers say "(you)", the one Bob joined with "Used up"', async () => {
            await openInvitations(ada);
            const headers = await invitesTable(ada).getByRole('columnheader').allTextContents();
            assert.deepEqual(headers.map((text) => text.trim()), ['Made by', 'Made', 'Expires', 'Uses', 'Status', 'Withdraw']);
            const row = await visible('Bob\'s invitation', invitesBy(ada, bob));
            await visible('its uses', row.getByRole('cell', { name: '0 of 5', exact: true }));
            await visible('its status', row.getByText('Active', { exact: true }));
            // Ada's: the one she made now, and the one Bob signed up with (lib.mjs's signUp), used up.
            const mine = await visible('Ada\'s invitation', invitesBy(ada, ada).filter({ hasText: '0 of 3' }));
            await visible('"(you)" on it', mine.getByText('(you)'));
            await visible('"Active" on it', mine.getByText('Active', { exact: true }));
            const used = await visible('the invitation Bob joined with', invitesBy(ada, ada).filter({ hasText: 'Used up' }));
            await visible('"(you)" on it', used.getByText('(you)'));
            assert.equal(await used.getByRole('button').count(), 0, 'a used-up invitation offers "Withdraw"');
            await visible('the count', adminArea(ada).getByRole('status').filter({ hasText: '3 invitations, newest first.' }));
            await ada.screenshot('administration-invitations');
        });
        await step('"Withdraw" on Bob\'s asks first (the focus on "Cancel"); "Cancel" keeps it', async () => {
            await invitesBy(ada, bob).getByRole('button', { name: /^Withdraw/ }).click();
            const dialog = await visible('the question', ada.page.getByRole('dialog', { name: 'Withdraw this invitation?', exact: true }));
            await eventually('the focus on "Cancel"', async () =>
                assert.equal(await ada.page.evaluate(() => document.activeElement?.textContent), 'Cancel'));
            await dialog.getByRole('button', { name: 'Cancel', exact: true }).click();
            await gone('the question', dialog);
            await visible('Bob\'s invitation, still there', invitesBy(ada, bob));
            assert.ok((await listedIds(adaToken)).includes(bobInvite.id), 'withdrawn after "Cancel"');
        });
        await step('"Withdraw", then "Withdraw": the row goes, and the API no longer lists it', async () => {
            await invitesBy(ada, bob).getByRole('button', { name: /^Withdraw/ }).click();
            await ada.page.getByRole('dialog', { name: 'Withdraw this invitation?' }).getByRole('button', { name: 'Withdraw', exact: true }).click();
            await gone('Bob\'s invitation', invitesBy(ada, bob));
            await visible('the count', adminArea(ada).getByRole('status').filter({ hasText: '2 invitations, newest first.' }));
            await eventually('the focus on the page, not on <body>', async () =>
                assert.notEqual(await ada.page.evaluate(() => document.activeElement?.tagName), 'BODY'));
            assert.ok(!(await listedIds(adaToken)).includes(bobInvite.id), 'the API still lists Bob\'s invitation');
            const own = await rest('GET', '/v1/invites', await bob.sessionToken());
            assert.deepEqual(own.invites.map((invite) => invite.id), [], 'Bob\'s own list still has it');
            await eventually('Ada\'s two invitations kept', async () => assert.equal(await invitesBy(ada, ada).count(), 2));
        });
    });
});

test('administration: axe finds no violation on the Invitations tab or its question, light and dark', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB], async (step, ada, bob) => {
        const found = [];
        await step('Ada signs up and Bob joins; he makes an invitation, and she has a DM with him', async () => {
            await ada.signUp();
            await bob.signUp();
            await rest('POST', '/v1/invites', await bob.sessionToken(), { max_uses: 2, expires_in_hours: 24 });
            // A list with a conversation, as people have (see administration.test.mjs's axe test).
            await ada.openDmWith(bob);
        });
        for (const theme of ['light', 'dark']) {
            await step(`${theme}: the Invitations tab, and its question`, async () => {
                await ada.page.emulateMedia({ colorScheme: theme });
                await openInvitations(ada);
                await visible('Bob\'s invitation', invitesBy(ada, bob));
                await audit(ada.page, `${theme} administration invitations`, found);
                await invitesBy(ada, bob).getByRole('button', { name: /^Withdraw/ }).click();
                const dialog = await visible('the question', ada.page.getByRole('dialog', { name: 'Withdraw this invitation?' }));
                await audit(ada.page, `${theme} administration invitations question`, found);
                await dialog.getByRole('button', { name: 'Cancel', exact: true }).click();
                await gone('the question', dialog);
                await adminArea(ada).getByRole('button', { name: 'Back to conversations', exact: true }).click();
                await gone('the Administration area', adminArea(ada));
            });
        }
        assertNoViolations(found);
    });
});
