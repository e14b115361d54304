// Browser tests of message retention, against a real `parley` at PARLEY_URL (run them with
// `bash scripts/e2e --test-name-pattern='retention'`):
//
// - an owner keeps messages 30 days and lets channel owners set their own, in "Organization settings": the
//   API reads both back, and the status under the form says so; a retention out of range is refused in the
//   server's words (40,000 days) or the form's (0 days, which would mean "for ever");
// - "Purge now" starts a run and the status follows it until it shows finished; a refusal (`purge_running`,
//   played with `page.route`, since a real one needs a run still going when the button is pressed) is said in
//   the block's alert;
// - a channel's owner (a plain member of the organization) keeps the channel's messages for ever in "Channel
//   settings", and the API says `retention_days: 0`; the organization's owner sees it live and a change made
//   through the API shows on her open form; the channel's moderator sees the panel without the retention, and
//   a plain member sees no "Channel settings" at all; with `channel_retention` off, the owner sees none either;
// - a purge reaches an open page live: the purged messages leave Bob's open channel and his "Pinned" panel, and
//   the newer one stays, without a reload (the messages are moved 40 days back in the server's database);
// - axe finds no violation in the new parts, light and dark.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertNoViolations, audit, backdateMessages, eventually, gone, randomSuffix, rest, sharedBrowser, visible } from './lib.mjs';

const TEST_TIMEOUT = 120_000;
const ADA = ['ada', 'Ada Lovelace'];
const BOB = ['bob', 'Bob Stone'];
const CARA = ['cara', 'Cara Diaz'];
const DAN = ['dan', 'Dan Okafor'];

const { withPeople } = sharedBrowser();

// --- the UI contract of these screens -------------------------------------------------------------------------

function adminArea(user) {
    return user.page.getByRole('region', { name: 'Administration', exact: true });
}
function orgForm(user) {
    return adminArea(user).getByRole('form', { name: 'Organization settings', exact: true });
}
function orgRetention(user) {
    return orgForm(user).getByRole('group', { name: 'Message retention', exact: true });
}
function retentionStatus(user) {
    return adminArea(user).getByRole('region', { name: 'Retention status', exact: true });
}
function channelPanel(user) {
    return user.page.getByRole('region', { name: 'Channel settings', exact: true });
}
function channelRetention(user) {
    return channelPanel(user).getByRole('form', { name: 'Message retention', exact: true });
}

async function openOrgSettings(user) {
    if (!(await adminArea(user).isVisible())) await user.page.getByRole('button', { name: 'Administration', exact: true }).click();
    await visible('the Administration area', adminArea(user));
    await adminArea(user).getByRole('tab', { name: 'Organization settings', exact: true }).click();
    await visible('the settings form', orgForm(user));
    return orgRetention(user);
}

async function openChannelSettings(user) {
    if (!(await channelPanel(user).isVisible())) await user.page.getByRole('button', { name: 'Channel settings', exact: true }).click();
    await visible('the Channel settings panel', channelPanel(user));
    await visible('the members table', channelPanel(user).getByRole('table', { name: 'Members', exact: true }));
}

/// What `term` says in the status's "Last purge" list.
async function lastPurge(user, term) {
    const list = retentionStatus(user).locator('dl');
    return list.locator('dt', { hasText: term }).locator('xpath=following-sibling::dd[1]').innerText();
}

// --- the tests -------------------------------------------------------------------------------------------

test('retention: an owner keeps messages 30 days and lets channel owners set their own; out-of-range values are refused; "Purge now" shows a finished run', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA], async (step, ada) => {
        const found = [];
        await step('Ada signs up and opens "Organization settings": messages are kept for ever, channels follow the organization', async () => {
            await ada.signUp();
            const group = await openOrgSettings(ada);
            const settings = await rest('GET', '/v1/org/settings', await ada.sessionToken());
            assert.deepEqual([settings.retention_days, settings.channel_retention], [0, false]);
            assert.equal(await group.getByRole('radio', { name: 'Keep messages for ever', exact: true }).isChecked(), true);
            assert.equal(await group.getByLabel('Days to keep messages', { exact: true }).isVisible(), false, 'the days show with "for ever"');
            assert.equal(await group.getByRole('checkbox', { name: 'Channel owners may set their own retention', exact: true }).isChecked(), false);
            await visible('the policy in words', retentionStatus(ada).getByText('Messages are kept for ever.', { exact: true }));
            await visible('"No purge has run yet."', retentionStatus(ada).getByText('No purge has run yet.', { exact: true }));
        });
        await step('Ada chooses 30 days and lets channel owners set their own: the API reads both back, and the status says so', async () => {
            const group = orgRetention(ada);
            await group.getByRole('radio', { name: 'Delete messages older than a number of days', exact: true }).check();
            await group.getByLabel('Days to keep messages', { exact: true }).fill('30');
            await group.getByRole('checkbox', { name: 'Channel owners may set their own retention', exact: true }).check();
            await orgForm(ada).getByRole('button', { name: 'Save', exact: true }).click();
            await visible('"Saved."', orgForm(ada).getByRole('status').filter({ hasText: 'Saved.' }));
            const settings = await rest('GET', '/v1/org/settings', await ada.sessionToken());
            assert.deepEqual([settings.retention_days, settings.channel_retention], [30, true]);
            await visible('the new policy in words', retentionStatus(ada).getByText('Messages older than 30 days are deleted.', { exact: true }));
            await visible('the channels\' retention', retentionStatus(ada).getByText('Channel owners may set their own retention: 0 channels have one.', { exact: true }));
        });
        await step('40,000 days is refused in the server\'s words, 0 days in the form\'s; the retention stays 30 days', async () => {
            const group = orgRetention(ada);
            const days = group.getByLabel('Days to keep messages', { exact: true });
            await days.fill('40000');
            await orgForm(ada).getByRole('button', { name: 'Save', exact: true }).click();
            await visible('the server\'s refusal', orgForm(ada).getByRole('alert').filter({ hasText: /^Not saved: retention is 0 \(for ever\) or 1 to 36500 days/ }));
            assert.equal(await days.getAttribute('aria-invalid'), 'true');
            await days.fill('0');
            await orgForm(ada).getByRole('button', { name: 'Save', exact: true }).click();
            await visible('the form\'s refusal', orgForm(ada).getByRole('alert').filter({ hasText: /^Not saved: say after how many days messages are deleted/ }));
            assert.equal(await days.evaluate((input) => input === document.activeElement), true, 'the focus is not on the days');
            assert.equal((await rest('GET', '/v1/org/settings', await ada.sessionToken())).retention_days, 30);
            await audit(ada.page, 'light organization settings retention refused', found);
            await days.fill('30');
        });
        await step('"Purge now": the status shows the run, then that it finished, and what it removed', async () => {
            const block = retentionStatus(ada);
            await block.getByRole('button', { name: 'Purge now', exact: true }).click();
            await visible('the end said in the status', block.getByRole('status').filter({ hasText: /^The purge finished: 0 messages and 0 files removed, in 0 conversations\.$/ }));
            const finished = await lastPurge(ada, 'Finished');
            assert.notEqual(finished, 'Not yet: running');
            assert.match(finished, /\d/);
            assert.equal(await lastPurge(ada, 'Messages removed'), '0');
            const status = await rest('GET', '/v1/admin/retention', await ada.sessionToken());
            assert.ok(status.last_run?.finished_at, JSON.stringify(status));
            await ada.screenshot('retention-status');
        });
        await step('a refusal of "Purge now" (a 409 `purge_running`, played) is said in the block\'s alert', async () => {
            const message = 'a purge is running on this server; its end shows in the retention status';
            await ada.page.route('**/v1/admin/retention/run', (route) => route.fulfill({
                status: 409, contentType: 'application/json', body: JSON.stringify({ error: { code: 'purge_running', message } }),
            }));
            await retentionStatus(ada).getByRole('button', { name: 'Purge now', exact: true }).click();
            await visible('the refusal', retentionStatus(ada).getByRole('alert').filter({ hasText: `Not started: ${message}` }));
            await ada.page.unroute('**/v1/admin/retention/run');
        });
        for (const theme of ['light', 'dark']) {
            await step(`${theme}: axe on the tab, with the days shown, a finished run and a refusal`, async () => {
                await ada.page.emulateMedia({ colorScheme: theme });
                await visible('the days', orgRetention(ada).getByLabel('Days to keep messages', { exact: true }));
                await audit(ada.page, `${theme} organization settings retention`, found);
                await ada.page.setViewportSize({ width: 390, height: 844 });
                await visible('the status on a phone', retentionStatus(ada));
                assert.equal(await ada.page.evaluate(() => document.documentElement.scrollWidth), 390, 'the page is wider than the phone');
                await audit(ada.page, `${theme} phone organization settings retention`, found);
                await ada.page.setViewportSize({ width: 1000, height: 700 });
            });
        }
        assertNoViolations(found);
    });
});

test('retention: a channel owner keeps the channel\'s messages for ever, live on an administrator\'s page; a moderator and a plain member see no retention', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB, CARA, DAN], async (step, ada, bob, cara, dan) => {
        const found = [];
        let channel;
        await step('Ada signs up (30 days, channels may have their own); Bob, Cara and Dan join; Bob makes channel "Logbook" with all, Cara its moderator', async () => {
            await ada.signUp();
            await rest('PATCH', '/v1/org/settings', await ada.sessionToken(), { retention_days: 30, channel_retention: true });
            for (const user of [bob, cara, dan]) await user.signUp();
            const ids = [];
            for (const user of [ada, cara, dan]) ids.push((await rest('GET', '/v1/users/me', await user.sessionToken())).id);
            channel = await rest('POST', '/v1/conversations', await bob.sessionToken(), {
                kind: 'channel', name: 'Logbook', handle: `logbook-${randomSuffix()}`, members: ids,
            });
            await rest('PUT', `/v1/conversations/${channel.id}/members/${ids[1]}/role`, await bob.sessionToken(), { role: 'moderator' });
            for (const user of [ada, bob, cara, dan]) await user.openConversation('Logbook');
        });
        await step('Bob, the channel\'s owner, sees its retention: the organization\'s (30 days)', async () => {
            await openChannelSettings(bob);
            const form = await visible('the retention form', channelRetention(bob));
            const follow = form.getByRole('radio', { name: 'Follow the organization\'s policy (messages older than 30 days are deleted)', exact: true });
            assert.equal(await follow.isChecked(), true);
            assert.equal(await form.getByLabel('Days to keep messages', { exact: true }).isVisible(), false);
        });
        await step('Ada, the organization\'s owner, opens the channel\'s settings too', async () => {
            await openChannelSettings(ada);
            await visible('the retention form on Ada\'s page', channelRetention(ada));
        });
        await step('Bob chooses "Keep for ever": the API says `retention_days: 0`, and Ada\'s open form shows it live', async () => {
            const form = channelRetention(bob);
            await form.getByRole('radio', { name: 'Keep for ever', exact: true }).check();
            await form.getByRole('button', { name: 'Save retention', exact: true }).click();
            await visible('"Saved."', form.getByRole('status').filter({ hasText: 'Saved.' }));
            const now = await rest('GET', `/v1/conversations/${channel.id}`, await bob.sessionToken());
            assert.equal(now.retention_days, 0);
            await eventually('Ada\'s form says "Keep for ever"', async () => {
                assert.equal(await channelRetention(ada).getByRole('radio', { name: 'Keep for ever', exact: true }).isChecked(), true);
            });
        });
        await step('90 days set through the API shows live on both open forms', async () => {
            await rest('PUT', `/v1/conversations/${channel.id}/retention`, await ada.sessionToken(), { retention_days: 90 });
            for (const user of [ada, bob]) {
                await eventually(`${user.name}'s form says 90 days`, async () => {
                    const form = channelRetention(user);
                    assert.equal(await form.getByRole('radio', { name: 'Delete messages older than a number of days', exact: true }).isChecked(), true);
                    assert.equal(await form.getByLabel('Days to keep messages', { exact: true }).inputValue(), '90');
                });
            }
        });
        await step('40,000 days is refused in the server\'s words; the channel keeps 90 days', async () => {
            const form = channelRetention(bob);
            await form.getByLabel('Days to keep messages', { exact: true }).fill('40000');
            await form.getByRole('button', { name: 'Save retention', exact: true }).click();
            await visible('the refusal', form.getByRole('alert').filter({ hasText: /^Not saved: retention is 0 \(for ever\) or 1 to 36500 days/ }));
            assert.equal((await rest('GET', `/v1/conversations/${channel.id}`, await bob.sessionToken())).retention_days, 90);
            await bob.screenshot('channel-retention');
        });
        for (const theme of ['light', 'dark']) {
            await step(`${theme}: axe on the panel, with the retention and its refusal`, async () => {
                await bob.page.emulateMedia({ colorScheme: theme });
                await visible('the retention form', channelRetention(bob));
                await audit(bob.page, `${theme} channel settings retention`, found);
            });
        }
        await step('Cara, the channel\'s moderator, sees the panel without the retention; Dan, a plain member, no "Channel settings"', async () => {
            const read = cara.page.waitForResponse((response) => response.url().endsWith('/v1/org/settings'));
            await openChannelSettings(cara);
            await visible('the name form on Cara\'s page', channelPanel(cara).getByRole('form', { name: 'Name, topic and privacy', exact: true }));
            await read; // the organization's settings, which the retention waits for
            // The answer is in; the page renders from it in the same task, well within a tenth of a second.
            await cara.page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 100)));
            assert.equal(await channelRetention(cara).count(), 0, 'Cara sees the retention');
            await visible('Dan\'s composer', dan.composer());
            assert.equal(await dan.page.getByRole('button', { name: 'Channel settings', exact: true }).isVisible(), false, 'Dan sees "Channel settings"');
        });
        await step('with channel retention off, Bob\'s panel opened anew has no retention either', async () => {
            await rest('PATCH', '/v1/org/settings', await ada.sessionToken(), { channel_retention: false });
            await bob.page.getByRole('button', { name: 'Channel settings', exact: true }).click(); // closes it
            const read = bob.page.waitForResponse((response) => response.url().endsWith('/v1/org/settings'));
            await openChannelSettings(bob);
            await visible('the name form on Bob\'s page', channelPanel(bob).getByRole('form', { name: 'Name, topic and privacy', exact: true }));
            await read; // the organization's settings, which the retention waits for
            await bob.page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 100)));
            assert.equal(await channelRetention(bob).count(), 0, 'Bob sees the retention');
        });
        assertNoViolations(found);
    });
});

test('retention: a purge reaches an open page live: the purged messages and their pin leave it, newer ones stay', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB], async (step, ada, bob) => {
        const old = ['old tide one', 'old tide two', 'old tide three'];
        const pinsPanel = bob.page.getByRole('region', { name: 'Pinned messages', exact: true });
        await step('Ada and Bob sign up; in channel "Almanac" three messages are 40 days old (one pinned) and one is new; Bob has it open with "Pinned"', async () => {
            await ada.signUp();
            await bob.signUp();
            const token = await ada.sessionToken();
            const bobId = (await rest('GET', '/v1/users/me', await bob.sessionToken())).id;
            const channel = await rest('POST', '/v1/conversations', token, {
                kind: 'channel', name: 'Almanac', handle: `almanac-${randomSuffix()}`, members: [bobId],
            });
            const sent = [];
            for (const text of old) sent.push(await rest('POST', `/v1/conversations/${channel.id}/messages`, token, { text }));
            await rest('PUT', `/v1/conversations/${channel.id}/messages/${sent[1].id}/pin`, token);
            await backdateMessages(channel.id, sent[2].id, 40);
            await rest('POST', `/v1/conversations/${channel.id}/messages`, token, { text: 'new tide' });
            await bob.openConversation('Almanac');
            for (const text of [...old, 'new tide']) await bob.expectMessage(text);
            await bob.page.getByRole('button', { name: 'Pinned', exact: true }).click();
            await visible('the pin of "old tide two"', pinsPanel.getByText('old tide two'));
            await bob.markPage();
        });
        await step('Ada keeps messages 30 days and purges: Bob\'s page drops the three old ones and their pin, live; "new tide" stays', async () => {
            const token = await ada.sessionToken();
            await rest('PATCH', '/v1/org/settings', token, { retention_days: 30 });
            await rest('POST', '/v1/admin/retention/run', token);
            await eventually('the purge to finish', async () => {
                const status = await rest('GET', '/v1/admin/retention', token);
                assert.equal(status.last_run?.messages_removed, 3, JSON.stringify(status));
            });
            for (const text of old) await gone(`"${text}" on Bob's page`, bob.messageLog().locator('article').filter({ hasText: text }));
            await gone('the pin on Bob\'s page', pinsPanel.getByText('old tide two'));
            await bob.expectMessage('new tide');
            assert.deepEqual((await bob.messages()).map((m) => m.text), ['new tide']);
            await bob.expectSamePage();
            await bob.screenshot('retention-purged-live');
        });
    });
});
