// Browser tests of running an organization and of one's own account, against a real `parley` at PARLEY_URL
// (run them with `bash scripts/e2e --test-name-pattern=administration`):
//
// - "Administration" in the top bar shows to owners and administrators only, and comes and goes live as a
//   person's role changes (`user.updated`), with no reload;
// - its "People" tab: an owner changes a member's role with the row's select, deactivates them after a
//   question (their open page is logged out: its socket closes with 4003; their login then says why) and
//   reactivates them; the refusals (the last owner, deactivating oneself, an administrator managing the owner)
//   are said on the row; a deactivated author's name says "(deactivated)" in messages and on the profile;
//   pages of the list come with "Load more" (the pages made small by rewriting the request's `limit`);
// - its "Audit log" tab: entries newest first, names for ids, a filter by kind and by days, "Load more", and
//   "Export" downloading the entries as lines of JSON;
// - Settings: "Sessions" lists this device and another one (a second browser context with another
//   User-Agent), and "Sign out" ends the other, whose page is logged out; "Change password" says what is
//   wrong (a mismatch, a wrong current password) in its alert, and a change logs the other device out;
// - axe finds no violation on the new screens, light and dark.
//
// Screenshots go to target/e2e/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { assertNoViolations, audit, BASE_URL, eventually, gone, rest, sharedBrowser, visible } from './lib.mjs';

const TEST_TIMEOUT = 90_000;
const ADA = ['ada', 'Ada Lovelace'];
const BOB = ['bob', 'Bob Stone'];
/// Another computer of Ada's, which says it is Firefox on Windows.
const FIREFOX = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0';
const ADA_ELSEWHERE = ['other', 'Ada on another computer', { viewport: { width: 1000, height: 700 }, userAgent: FIREFOX }];

const DEACTIVATED = 'This account has been deactivated by an administrator of your organization';

const { withPeople } = sharedBrowser();

// --- the UI contract of these screens -------------------------------------------------------------------------

function adminButton(user) {
    return user.page.getByRole('button', { name: 'Administration', exact: true });
}
function adminArea(user) {
    return user.page.getByRole('region', { name: 'Administration', exact: true });
}
function peopleTable(user) {
    return adminArea(user).getByRole('table', { name: 'People', exact: true });
}
function auditTable(user) {
    return adminArea(user).getByRole('table', { name: 'Audit log', exact: true });
}
/// The row of the People table that shows `other` (found by their email, which no one else has).
function personRow(user, other) {
    return peopleTable(user).getByRole('row').filter({ hasText: other.email });
}
function settings(user) {
    return user.page.getByRole('region', { name: 'Settings', exact: true });
}
function sessionList(user) {
    return settings(user).getByRole('list', { name: 'Sessions', exact: true });
}
function passwordForm(user) {
    return settings(user).getByRole('form', { name: 'Change password', exact: true });
}

/// "Administration" → its area, on the tab `tab` ("People" or "Audit log").
async function openAdmin(user, tab = 'People') {
    if (!(await adminArea(user).isVisible())) await adminButton(user).click();
    await visible('the Administration area', adminArea(user));
    const button = adminArea(user).getByRole('tab', { name: tab, exact: true });
    if ((await button.getAttribute('aria-selected')) !== 'true') await button.click();
    await visible(`the "${tab}" tab's page`, adminArea(user).getByRole('tabpanel', { name: tab, exact: true }));
    // People read afresh replace the rows shown: a change made on a row before that would go with it.
    if (tab === 'People') await gone('the People being read', adminArea(user).locator('table[aria-busy="true"]'));
}

async function openSettings(user) {
    if (!(await settings(user).isVisible())) await user.page.getByRole('button', { name: 'Settings', exact: true }).click();
    return visible('the Settings panel', settings(user));
}

/// Logs in with the "Log in" form as `as` (by email), on `user`'s page.
async function fillLogIn(user, as, password = as.password) {
    const form = await visible('the "Log in" form', user.logInForm());
    await form.getByLabel('Email or username', { exact: true }).fill(as.email);
    await form.getByLabel('Password', { exact: true }).fill(password);
    await form.getByRole('button', { name: 'Log in', exact: true }).click();
    return form;
}

async function userId(user) {
    return (await rest('GET', '/v1/users/me', await user.sessionToken())).id;
}

/// Answers 401 for `token`?
async function refused(token) {
    const response = await fetch(`${BASE_URL}/v1/users/me`, { headers: { authorization: `Bearer ${token}` } });
    return response.status === 401;
}

/// Makes the client's pages of `path` (`/v1/admin/people`, `/v1/admin/audit`) `limit` long, so that paging
/// shows with a few rows: the request goes to the real server with its `limit` rewritten.
async function smallPages(user, path, limit) {
    await user.page.route((url) => url.pathname === path, (route) => {
        const url = new URL(route.request().url());
        url.searchParams.set('limit', String(limit));
        return route.continue({ url: url.toString() });
    });
}

// --- the tests -------------------------------------------------------------------------------------------

test('administration: an owner changes a member\'s role, deactivates them (their page is logged out, their login says why) and reactivates them', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB], async (step, ada, bob) => {
        await step('Ada signs up, creating the organization (she owns it); Bob joins; they exchange a DM', async () => {
            await ada.signUp();
            await bob.signUp();
            await ada.openDmWith(bob);
            await ada.send('welcome, Bob');
            await bob.openConversation(ada.name);
            await bob.send('thanks, Ada');
            await ada.expectMessage('thanks, Ada');
        });
        await step('Ada opens "Administration": the People tab lists both, with username, email, role, status and last seen', async () => {
            await openAdmin(ada);
            await eventually('the focus on the heading "Administration"', async () =>
                assert.equal(await ada.page.evaluate(() => document.activeElement?.id), 'admin-title'));
            const headers = await peopleTable(ada).getByRole('columnheader').allTextContents();
            assert.deepEqual(headers.map((text) => text.trim()), ['Name', 'Username', 'Email', 'Role', 'Status', 'Last seen', 'Account']);
            for (const [person, role] of [[ada, 'owner'], [bob, 'member']]) {
                const row = await visible(`${person.name}'s row`, personRow(ada, person));
                await visible(`${person.name}'s username`, row.getByRole('cell', { name: person.username, exact: true }));
                await visible(`${person.name} active`, row.getByText('Active', { exact: true }));
                assert.equal(await row.getByRole('combobox', { name: `Role of ${person.name}`, exact: true }).inputValue(), role);
            }
            await visible('"(you)" on Ada\'s row', personRow(ada, ada).getByText('(you)'));
            await ada.screenshot('administration-people');
        });
        await step('Ada makes Bob an administrator: the server has it, and Bob\'s open page shows "Administration" with no reload', async () => {
            await bob.markPage();
            assert.equal(await adminButton(bob).isVisible(), false, 'Bob, a member, sees "Administration"');
            await personRow(ada, bob).getByRole('combobox', { name: `Role of ${bob.name}` }).selectOption({ label: 'Administrator' });
            await eventually('Bob\'s role is admin', async () =>
                assert.equal((await rest('GET', '/v1/users/me', await bob.sessionToken())).role, 'admin'));
            await visible('"Administration" on Bob\'s page', adminButton(bob));
            await bob.expectSamePage();
        });
        await step('Ada makes him a member again: his "Administration" goes', async () => {
            await personRow(ada, bob).getByRole('combobox', { name: `Role of ${bob.name}` }).selectOption({ label: 'Member' });
            await gone('"Administration" on Bob\'s page', adminButton(bob));
            await bob.expectSamePage();
        });
        await step('Ada, the only owner, cannot make herself a member or deactivate herself: each row says why', async () => {
            const row = personRow(ada, ada);
            const role = row.getByRole('combobox', { name: `Role of ${ada.name}` });
            await role.selectOption({ label: 'Member' });
            await visible('the last_owner refusal', row.getByRole('alert').filter({ hasText: 'The organization must keep an active owner: make someone else an owner first.' }));
            assert.equal(await role.inputValue(), 'owner', 'the select went back to Owner');
            await row.getByRole('button', { name: `Deactivate ${ada.name}`, exact: true }).click();
            const dialog = await visible('the question', ada.page.getByRole('dialog', { name: `Deactivate ${ada.name}?`, exact: true }));
            await dialog.getByRole('button', { name: 'Deactivate', exact: true }).click();
            await visible('the cannot_deactivate_yourself refusal', row.getByRole('alert').filter({ hasText: 'You cannot deactivate your own account.' }));
            await visible('Ada still active', row.getByText('Active', { exact: true }));
        });
        const bobToken = await bob.sessionToken();
        await step('"Deactivate" on Bob\'s row asks first, with the focus on "Cancel"; "Cancel" changes nothing', async () => {
            await personRow(ada, bob).getByRole('button', { name: `Deactivate ${bob.name}`, exact: true }).click();
            const dialog = await visible('the question', ada.page.getByRole('dialog', { name: `Deactivate ${bob.name}?`, exact: true }));
            await visible('what it does', dialog.getByText('is logged out on every device at once'));
            await eventually('the focus on "Cancel"', async () =>
                assert.equal(await ada.page.evaluate(() => document.activeElement?.textContent), 'Cancel'));
            await ada.screenshot('administration-deactivate-asked');
            await dialog.getByRole('button', { name: 'Cancel', exact: true }).click();
            await gone('the question', dialog);
            await visible('Bob still active', personRow(ada, bob).getByText('Active', { exact: true }));
        });
        await step('"Deactivate", then "Deactivate": Bob\'s row says so, and his open page is logged out (its socket closed with 4003)', async () => {
            await personRow(ada, bob).getByRole('button', { name: `Deactivate ${bob.name}`, exact: true }).click();
            await ada.page.getByRole('dialog', { name: `Deactivate ${bob.name}?` }).getByRole('button', { name: 'Deactivate', exact: true }).click();
            await visible('"Deactivated" on his row', personRow(ada, bob).getByText('Deactivated', { exact: true }));
            const reactivate = personRow(ada, bob).getByRole('button', { name: `Reactivate ${bob.name}`, exact: true });
            await eventually('the focus on "Reactivate"', async () =>
                assert.ok(await reactivate.evaluate((el) => el === document.activeElement)));
            // Bob's page holds no request: only its socket, closed with 4003, can tell it.
            await visible('the "Log in" form on Bob\'s page', bob.logInForm());
            await visible('"You were logged out." (the close 4003)', bob.page.getByText('You were logged out.', { exact: true }));
            assert.ok(await refused(bobToken), 'Bob\'s token still works');
        });
        await step('Bob\'s message shows "Bob Stone (deactivated)" in Ada\'s DM, and so does his profile', async () => {
            await adminArea(ada).getByRole('button', { name: 'Back to conversations', exact: true }).click();
            await gone('the Administration area', adminArea(ada));
            await visible('the DM', ada.heading(bob.name));
            await eventually('the author "Bob Stone (deactivated)"', async () => {
                const shown = await ada.messages();
                assert.deepEqual(shown.find((m) => m.text === 'thanks, Ada')?.author, `${bob.name} (deactivated)`);
            });
            await ada.page.getByRole('button', { name: `Profile of ${bob.name}`, exact: true }).click();
            const profile = await visible('the profile', ada.page.getByRole('region', { name: 'Profile', exact: true }));
            await visible('"(deactivated)" on the profile', profile.getByText(`${bob.name} (deactivated)`, { exact: true }));
            await visible('the status', profile.getByText('Deactivated by an administrator', { exact: true }));
            await ada.page.getByRole('button', { name: `Profile of ${bob.name}`, exact: true }).click();
        });
        await step('Bob logs in with his right password: the form says his account is deactivated', async () => {
            const form = await fillLogIn(bob, bob);
            await visible('the account_deactivated explanation', form.getByRole('alert').filter({ hasText: DEACTIVATED }));
            assert.equal(await bob.sessionToken(), null, 'Bob has a session');
        });
        await step('Ada reactivates him (asked first): his row is active, his name plain again, and he logs in', async () => {
            await openAdmin(ada);
            await personRow(ada, bob).getByRole('button', { name: `Reactivate ${bob.name}`, exact: true }).click();
            await ada.page.getByRole('dialog', { name: `Reactivate ${bob.name}?` }).getByRole('button', { name: 'Reactivate', exact: true }).click();
            await visible('"Active" on his row', personRow(ada, bob).getByText('Active', { exact: true }));
            await fillLogIn(bob, bob);
            await bob.expectLoggedIn('after being reactivated');
            await adminArea(ada).getByRole('button', { name: 'Back to conversations', exact: true }).click();
            await eventually('the author "Bob Stone"', async () => {
                const shown = await ada.messages();
                assert.deepEqual(shown.find((m) => m.text === 'thanks, Ada')?.author, bob.name);
            });
        });
    });
});

test('administration: a member sees no "Administration"; promoted, it appears live, and an administrator may not manage the owner', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB], async (step, ada, bob) => {
        let adaToken;
        let bobId;
        await step('Ada signs up (the owner) and Bob joins (a member): he has no "Administration", and the API refuses him', async () => {
            await ada.signUp();
            await bob.signUp();
            adaToken = await ada.sessionToken();
            bobId = await userId(bob);
            await visible('"Administration" on Ada\'s page', adminButton(ada));
            assert.equal(await adminButton(bob).isVisible(), false, 'Bob sees "Administration"');
            const response = await fetch(`${BASE_URL}/v1/admin/people`, { headers: { authorization: `Bearer ${await bob.sessionToken()}` } });
            assert.equal(response.status, 403);
            assert.equal((await response.json()).error.code, 'not_admin');
        });
        await step('Ada makes Bob an administrator: "Administration" appears on his open page, with no reload', async () => {
            await bob.markPage();
            await rest('PUT', `/v1/admin/people/${bobId}/role`, adaToken, { role: 'admin' });
            await visible('"Administration" on Bob\'s page', adminButton(bob));
            await bob.expectSamePage();
        });
        await step('Bob opens it and tries to make Ada a member: his row for her says only an owner manages owners', async () => {
            await openAdmin(bob);
            const row = await visible('Ada\'s row', personRow(bob, ada));
            await row.getByRole('combobox', { name: `Role of ${ada.name}` }).selectOption({ label: 'Member' });
            await visible('the forbidden_role refusal', row.getByRole('alert').filter({ hasText: 'Only an owner can manage owners and administrators' }));
            assert.equal(await row.getByRole('combobox', { name: `Role of ${ada.name}` }).inputValue(), 'owner');
            await bob.screenshot('administration-forbidden-role');
        });
        await step('Ada makes him a member again while his Administration is open: it closes and its entry goes', async () => {
            await rest('PUT', `/v1/admin/people/${bobId}/role`, adaToken, { role: 'member' });
            await gone('the Administration area on Bob\'s page', adminArea(bob));
            await gone('"Administration" on Bob\'s page', adminButton(bob));
            await visible('Bob\'s conversation list', bob.conversations());
            await eventually('the focus somewhere on the page, not on <body>', async () =>
                assert.notEqual(await bob.page.evaluate(() => document.activeElement?.tagName), 'BODY'));
            await bob.expectSamePage();
        });
    });
});

test('administration: the People list comes a page at a time, and a search finds one person', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB, ['cara', 'Cara Diaz']], async (step, ada, bob, cara) => {
        await step('Ada, Bob and Cara sign up', async () => {
            for (const user of [ada, bob, cara]) await user.signUp();
        });
        await step('with pages of 2, Ada sees 2 people and "Load more", which brings the third and goes', async () => {
            await smallPages(ada, '/v1/admin/people', 2);
            await openAdmin(ada);
            await eventually('2 people', async () => assert.equal(await peopleTable(ada).locator('tbody tr').count(), 2));
            const more = adminArea(ada).getByRole('button', { name: 'Load more', exact: true });
            await visible('"Load more"', more);
            await more.click();
            await visible('Cara\'s row', personRow(ada, cara));
            await eventually('3 people', async () => assert.equal(await peopleTable(ada).locator('tbody tr').count(), 3));
            await gone('"Load more"', more);
            await eventually('the focus on the third row\'s role', async () =>
                assert.equal(await ada.page.evaluate(() => document.activeElement?.getAttribute('aria-label')), `Role of ${cara.name}`));
        });
        await step('"Search people" with the start of Cara\'s username finds her alone', async () => {
            await adminArea(ada).getByRole('searchbox', { name: 'Search people', exact: true }).fill(cara.username.slice(0, 6));
            await eventually('Cara alone', async () => {
                assert.equal(await peopleTable(ada).locator('tbody tr').count(), 1);
                assert.equal(await personRow(ada, cara).count(), 1);
            });
            await visible('"1 person."', adminArea(ada).getByRole('status').filter({ hasText: '1 person.' }));
        });
    });
});

test('administration: the audit log shows entries newest first with names, filters by kind and day, pages, and exports lines of JSON', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB], async (step, ada, bob) => {
        await step('Ada signs up and Bob joins; Bob fails a login once; Ada makes him an administrator and a member again', async () => {
            await ada.signUp();
            await bob.signUp();
            const response = await fetch(`${BASE_URL}/v1/auth/login`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({ login: bob.email, password: 'not his password' }),
            });
            assert.equal(response.status, 401);
            const token = await ada.sessionToken();
            const bobId = await userId(bob);
            await rest('PUT', `/v1/admin/people/${bobId}/role`, token, { role: 'admin' });
            await rest('PUT', `/v1/admin/people/${bobId}/role`, token, { role: 'member' });
        });
        const rows = () => auditTable(ada).locator('tbody tr');
        await step('the Audit log tab lists entries, newest first: "Role changed" by Ada concerning Bob, and his failed login', async () => {
            await openAdmin(ada, 'Audit log');
            const changed = await visible('a "Role changed" entry', rows().filter({ hasText: 'Role changed' }));
            await visible('by Ada, concerning Bob', changed.filter({ hasText: ada.name }).filter({ hasText: bob.name }));
            await visible('"admin to member"', rows().filter({ hasText: 'admin to member' }));
            await visible('the failed login', rows().filter({ hasText: 'Login failed' }));
            const times = await rows().locator('time').evaluateAll((all) => all.map((el) => el.getAttribute('datetime')));
            assert.ok(times.length >= 3, `only ${times.length} entries`);
            // Compared as times: RFC 3339 drops trailing zeros of the fraction (".98Z" is after ".987Z" as text).
            const millis = times.map((time) => Date.parse(time));
            assert.deepEqual(millis, [...millis].sort((a, b) => b - a), `the entries are not newest first: ${times.join(', ')}`);
            // The newer of the two role changes comes first.
            const details = await rows().filter({ hasText: 'Role changed' }).locator('td.audit-detail').allTextContents();
            assert.deepEqual(details.slice(0, 2), ['admin to member', 'member to admin']);
            await ada.screenshot('administration-audit');
        });
        await step('"Kind": "Login failed" shows only failed logins', async () => {
            await adminArea(ada).getByLabel('Kind', { exact: true }).selectOption({ label: 'Login failed' });
            await eventually('only "Login failed"', async () => {
                const kinds = await rows().locator('th').allTextContents();
                assert.ok(kinds.length >= 1, 'no entries');
                assert.deepEqual([...new Set(kinds)], ['Login failed']);
            });
            await visible('"Refused"', rows().first().getByText('Refused', { exact: true }));
        });
        await step('"From" tomorrow shows none; emptied, they come back', async () => {
            const tomorrow = new Date(Date.now() + 86_400_000);
            const day = `${tomorrow.getFullYear()}-${String(tomorrow.getMonth() + 1).padStart(2, '0')}-${String(tomorrow.getDate()).padStart(2, '0')}`;
            await adminArea(ada).getByLabel('From', { exact: true }).fill(day);
            await visible('"No entries."', adminArea(ada).getByRole('status').filter({ hasText: 'No entries.' }));
            await adminArea(ada).getByLabel('From', { exact: true }).fill('');
            await visible('the failed login again', rows().filter({ hasText: 'Login failed' }));
        });
        await step('"Role changed", with pages of 1: one entry and "Load more", which brings the other; then an empty page, and it goes', async () => {
            await smallPages(ada, '/v1/admin/audit', 1);
            await adminArea(ada).getByLabel('Kind', { exact: true }).selectOption({ label: 'Role changed' });
            await eventually('one entry', async () => assert.deepEqual(await rows().locator('td.audit-detail').allTextContents(), ['admin to member']));
            const more = adminArea(ada).getByRole('button', { name: 'Load more', exact: true });
            await more.click();
            await eventually('two entries', async () =>
                assert.deepEqual(await rows().locator('td.audit-detail').allTextContents(), ['admin to member', 'member to admin']));
            // A full page says there may be more: the next one is empty, and ends the list.
            await more.click();
            await gone('"Load more"', more);
            assert.equal(await rows().count(), 2);
            await eventually('the focus on the last entry, not on <body>', async () =>
                assert.equal(await ada.page.evaluate(() => document.activeElement?.tagName), 'TR'));
        });
        await step('"Export" downloads the role changes as lines of JSON, oldest first', async () => {
            const [download] = await Promise.all([
                ada.page.waitForEvent('download'),
                adminArea(ada).getByRole('button', { name: 'Export', exact: true }).click(),
            ]);
            assert.match(download.suggestedFilename(), /^parley-audit-\d{4}-\d{2}-\d{2}\.ndjson$/);
            const text = await readFile(await download.path(), 'utf8');
            const lines = text.split('\n').filter((line) => line);
            const entries = lines.map((line) => JSON.parse(line));
            assert.deepEqual(entries.map((e) => [e.kind, e.detail]), [['role_changed', 'member to admin'], ['role_changed', 'admin to member']]);
            await visible('"Exported the audit log"', adminArea(ada).getByRole('status').filter({ hasText: 'Exported the audit log' }));
        });
    });
});

test('sessions: Settings lists this device and another; "Sign out" on the other logs it out', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, ADA_ELSEWHERE], async (step, ada, other) => {
        await step('Ada signs up here, and logs in on another computer (Firefox on Windows)', async () => {
            await ada.signUp();
            await fillLogIn(other, ada);
            await other.expectLoggedIn('after logging in as Ada');
        });
        const otherToken = await other.sessionToken();
        await step('Settings → Sessions lists two: this device (Chrome on Linux, no "Sign out") and Firefox on Windows', async () => {
            await openSettings(ada);
            const items = sessionList(ada).getByRole('listitem');
            await eventually('two sessions', async () => assert.equal(await items.count(), 2));
            const here = items.filter({ hasText: 'This device' });
            await visible('this device', here.filter({ hasText: 'Chrome on Linux' }));
            assert.equal(await here.getByRole('button').count(), 0, 'this device has a button');
            const there = items.filter({ hasText: 'Firefox on Windows' });
            await visible('the other device', there);
            await visible('when it was last used', there.getByText(/^Last used /));
            await ada.screenshot('settings-sessions');
        });
        await step('"Sign out" on the other: it leaves the list, and the other computer shows the log-in form', async () => {
            const there = sessionList(ada).getByRole('listitem').filter({ hasText: 'Firefox on Windows' });
            await there.getByRole('button', { name: 'Sign out', exact: true }).click();
            await gone('the other session', there);
            await visible('"Signed out Firefox on Windows."', settings(ada).getByRole('status').filter({ hasText: 'Signed out Firefox on Windows.' }));
            await visible('the "Log in" form on the other computer', other.logInForm());
            await visible('"You were logged out."', other.page.getByText('You were logged out.', { exact: true }));
            assert.ok(await refused(otherToken), 'the other token still works');
            await ada.expectLoggedIn('after signing the other out');
        });
    });
});

test('password: a mismatch and a wrong current password are said in the form; the right one changes it and logs the other device out', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, ADA_ELSEWHERE], async (step, ada, other) => {
        await step('Ada signs up here, and logs in on another computer', async () => {
            await ada.signUp();
            await fillLogIn(other, ada);
            await other.expectLoggedIn('after logging in as Ada');
        });
        const newPassword = `${ada.password}-new`;
        const form = passwordForm(ada);
        const fill = async (current, next, again) => {
            await form.getByLabel('Current password', { exact: true }).fill(current);
            await form.getByLabel('New password', { exact: true }).fill(next);
            await form.getByLabel('Confirm new password', { exact: true }).fill(again);
            await form.getByRole('button', { name: 'Change password', exact: true }).click();
        };
        await step('two new passwords that differ: the alert says so, and "Confirm new password" is marked invalid and focused', async () => {
            await openSettings(ada);
            await fill(ada.password, newPassword, `${newPassword}x`);
            await visible('the mismatch', form.getByRole('alert').filter({ hasText: 'The new passwords do not match' }));
            const confirm = form.getByLabel('Confirm new password', { exact: true });
            assert.equal(await confirm.getAttribute('aria-invalid'), 'true');
            assert.ok(await confirm.evaluate((el) => el === document.activeElement), 'the focus is not on "Confirm new password"');
        });
        await step('a wrong current password: refused, said in the alert, "Current password" invalid and focused', async () => {
            await fill('not my password', newPassword, newPassword);
            await visible('the wrong_password refusal', form.getByRole('alert').filter({ hasText: 'Not changed: your current password is not right.' }));
            const current = form.getByLabel('Current password', { exact: true });
            assert.equal(await current.getAttribute('aria-invalid'), 'true');
            assert.ok(await current.evaluate((el) => el === document.activeElement), 'the focus is not on "Current password"');
            assert.match(await current.getAttribute('aria-describedby'), /\bpassword-error\b/);
            await ada.screenshot('settings-password-refused');
            await other.expectLoggedIn('after a refused change');
        });
        await step('the right one: "Password changed", the other computer is logged out, this page is not', async () => {
            await fill(ada.password, newPassword, newPassword);
            await visible('"Password changed."', form.getByRole('status').filter({ hasText: 'Password changed.' }));
            await gone('the alert\'s text', form.getByRole('alert').filter({ hasText: /./ }));
            await visible('the "Log in" form on the other computer', other.logInForm());
            await visible('"You were logged out."', other.page.getByText('You were logged out.', { exact: true }));
            await ada.expectLoggedIn('after changing the password');
            await eventually('one session listed, this one', async () =>
                assert.equal(await sessionList(ada).getByRole('listitem').count(), 1));
        });
        await step('the new password logs in, the old one no more', async () => {
            await fillLogIn(other, ada, ada.password);
            await visible('the refusal of the old password', other.logInForm().getByRole('alert').filter({ hasText: /./ }));
            await fillLogIn(other, ada, newPassword);
            await other.expectLoggedIn('with the new password');
        });
    });
});

test('administration: axe finds no violation in People (a refusal shown, the question asked), the Audit log (desktop and phone), or Settings\' sessions and password, light and dark', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB], async (step, ada, bob) => {
        const found = [];
        await step('Ada signs up and Bob joins; she has a DM with him', async () => {
            await ada.signUp();
            await bob.signUp();
            // A list with a conversation, as people have: an empty one is a scrolled region with nothing to
            // focus once Settings fills the side (axe's scrollable-region-focusable, not of these screens).
            await ada.openDmWith(bob);
        });
        for (const theme of ['light', 'dark']) {
            await step(`${theme}: People, with a refusal on Ada's row`, async () => {
                await ada.page.emulateMedia({ colorScheme: theme });
                await openAdmin(ada);
                const row = await visible('Bob\'s row', personRow(ada, bob));
                await visible('Ada\'s row', personRow(ada, ada));
                await personRow(ada, ada).getByRole('combobox', { name: `Role of ${ada.name}` }).selectOption({ label: 'Guest' });
                await visible('the refusal', personRow(ada, ada).getByRole('alert').filter({ hasText: /./ }));
                await audit(ada.page, `${theme} administration people`, found);
                await row.getByRole('button', { name: `Deactivate ${bob.name}`, exact: true }).click();
                const dialog = await visible('the question', ada.page.getByRole('dialog', { name: `Deactivate ${bob.name}?` }));
                await audit(ada.page, `${theme} administration deactivate question`, found);
                await dialog.getByRole('button', { name: 'Cancel', exact: true }).click();
                await gone('the question', dialog);
            });
            await step(`${theme}: the Audit log`, async () => {
                await openAdmin(ada, 'Audit log');
                await visible('an entry', auditTable(ada).locator('tbody tr').first());
                await audit(ada.page, `${theme} administration audit log`, found);
                await adminArea(ada).getByRole('button', { name: 'Back to conversations', exact: true }).click();
                await gone('the Administration area', adminArea(ada));
            });
            await step(`${theme}: a phone's width: People and the Audit log, their tables scrolled in their frames`, async () => {
                await ada.page.setViewportSize({ width: 390, height: 844 });
                await openAdmin(ada);
                await visible('Bob\'s row', personRow(ada, bob));
                assert.equal(await ada.page.evaluate(() => document.documentElement.scrollWidth), 390, 'the page is wider than the phone');
                await audit(ada.page, `${theme} phone administration people`, found);
                await openAdmin(ada, 'Audit log');
                await visible('an entry', auditTable(ada).locator('tbody tr').first());
                await audit(ada.page, `${theme} phone administration audit log`, found);
                await adminArea(ada).getByRole('button', { name: 'Back to conversations', exact: true }).click();
                await ada.page.setViewportSize({ width: 1000, height: 700 });
            });
            await step(`${theme}: Settings, with the sessions and a refused password`, async () => {
                await openSettings(ada);
                await visible('this device', sessionList(ada).getByRole('listitem').filter({ hasText: 'This device' }));
                const form = passwordForm(ada);
                await form.getByLabel('Current password', { exact: true }).fill(ada.password);
                await form.getByRole('button', { name: 'Change password', exact: true }).click();
                await visible('the alert', form.getByRole('alert').filter({ hasText: /./ }));
                await audit(ada.page, `${theme} settings sessions and password`, found);
                await ada.page.getByRole('button', { name: 'Settings', exact: true }).click();
                await gone('Settings', settings(ada));
            });
        }
        assertNoViolations(found);
    });
});
