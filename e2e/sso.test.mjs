// Browser tests of single sign-on (OpenID Connect), against a real `parley` at PARLEY_URL and a real OpenID
// provider of their own (npm's oidc-provider behind scripts/oidc-provider/provider.mjs, on http://127.0.0.1,
// which scripts/e2e's server config allows). Run them with `bash scripts/e2e --test-name-pattern=sso`:
//
// - an owner sets single sign-on up in Administration's "Single sign-on" tab (the redirect URI to register is
//   shown; axe finds nothing, light and dark); a newcomer types the organization on the log-in form, sees
//   "Sign in with …" (axe again), signs in at the provider and lands in Parley logged in, with an account made
//   for them and the address bar clean; signing in again, the same account; someone whose provider account
//   has a member's email is refused (the organization does not link accounts), in words, on the log-in form;
// - with "Require single sign-on" saved (the stored client secret kept by leaving its field empty), the log-in
//   form says so for the organization, a member's password login is refused in words (sso_required) while an
//   owner's still works; the member signs in with the provider instead, into his own account (linked by its
//   verified email, which drops the password he had); "Remove single sign-on" (asked first) takes the button
//   away;
// - a return from the provider that cannot be finished (cancelled there, or a state the server does not know)
//   shows the log-in form with a notice, the address bar clean.
//
// Each test starts its own provider on a free port and stops it when it ends. Screenshots go to target/e2e/.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { assertNoViolations, audit, BASE_URL, eventually, gone, OUT_DIR, rest, sharedBrowser, slug, visible } from './lib.mjs';

const TEST_TIMEOUT = 120_000;
const ADA = ['ada', 'Ada Lovelace'];
const BOB = ['bob', 'Bob Stone'];
const GRACE = ['grace', 'Grace Hopper'];
const EVE = ['eve', 'Eve Moneypenny'];
/// Someone whose account at the provider has Ada's email address.
const NAMESAKE = ['namesake', 'Ada at the provider'];
/// The button label the tests give their provider: the log-in page shows "Sign in with Test ID".
const LABEL = 'Test ID';
/** The redirect URI of organization `org`: one per organization. */
const redirectUri = (org) => `${BASE_URL}/v1/auth/sso/callback/${org}`;

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { withPeople } = sharedBrowser();

// --- the OpenID provider ------------------------------------------------------------------------------------

/// provider.mjs, installed by scripts/oidc-provider/run (from npm, pinned, the first time: it may take a while).
let providerScript;
before(async () => {
    const { stdout } = await promisify(execFile)('bash', [path.join(REPO, 'scripts/oidc-provider/run')], { timeout: 600_000 });
    providerScript = stdout.trim();
});

/// The processes started here, stopped at exit if a test's own `after` could not.
const running = new Set();
after(() => {
    for (const child of running) child.kill('SIGKILL');
});

function freePort() {
    return new Promise((resolve, reject) => {
        const server = createServer();
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => {
            const { port } = server.address();
            server.close(() => resolve(port));
        });
    });
}

/// Starts a provider with one client for this server's organization `org` and `accounts`, stopped when test
/// `t` ends (its output goes to target/e2e/<test>-provider.log). Returns its issuer, host and client.
async function startProvider(t, accounts, org) {
    const client = {
        client_id: `parley-e2e-${randomBytes(4).toString('hex')}`,
        client_secret: randomBytes(24).toString('hex'),
        redirect_uris: [redirectUri(org)],
    };
    const dir = await mkdtemp(path.join(os.tmpdir(), 'parley-oidc-'));
    const config = path.join(dir, 'config.json');
    await writeFile(config, JSON.stringify({ clients: [client], accounts }));
    const port = await freePort();
    const child = spawn(process.execPath, [providerScript, String(port), config], { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    t.after(async () => {
        if (child.exitCode === null && child.signalCode === null) {
            child.kill('SIGTERM');
            await exited;
        }
        running.delete(child);
        await writeFile(path.join(OUT_DIR, `${slug(t.name)}-provider.log`), output);
        await rm(dir, { recursive: true, force: true });
    });
    await eventually(`the provider says "listening on ${port}"`, async () => {
        if (child.exitCode !== null) throw new Error(`it exited with ${child.exitCode}: ${output}`);
        if (!output.includes(`listening on ${port}`)) throw new Error(`it said ${JSON.stringify(output)}`);
    }, { timeout: 30_000 });
    return { issuer: `http://127.0.0.1:${port}`, host: `127.0.0.1:${port}`, client };
}

/// The provider's account of `user` (a person of lib.mjs's `people`), who signs in there with their username.
function accountOf(user) {
    return { sub: `sub-${user.username}`, email: user.email, email_verified: true, name: user.name, preferred_username: user.username };
}

// --- the UI contract of these screens -------------------------------------------------------------------------

function adminArea(user) {
    return user.page.getByRole('region', { name: 'Administration', exact: true });
}
function ssoForm(user) {
    return adminArea(user).getByRole('form', { name: 'Single sign-on', exact: true });
}
function ssoButton(user) {
    return user.logInForm().getByRole('button', { name: `Sign in with ${LABEL}`, exact: true });
}

/// "Administration" → "Single sign-on": its form, once read.
async function openSsoTab(user) {
    if (!(await adminArea(user).isVisible())) await user.page.getByRole('button', { name: 'Administration', exact: true }).click();
    await visible('the Administration area', adminArea(user));
    await adminArea(user).getByRole('tab', { name: 'Single sign-on', exact: true }).click();
    return visible('the "Single sign-on" form', ssoForm(user));
}

/// Fills the form with `provider`'s client (the secret only when given) and the label, and saves it.
async function fillAndSave(user, provider, { secret = provider.client.client_secret } = {}) {
    const form = ssoForm(user);
    await form.getByLabel('Issuer URL', { exact: true }).fill(provider.issuer);
    await form.getByLabel('Client ID', { exact: true }).fill(provider.client.client_id);
    if (secret !== null) await form.getByLabel('Client secret', { exact: true }).fill(secret);
    await form.getByLabel('Button label', { exact: true }).fill(LABEL);
    await form.getByRole('button', { name: 'Save', exact: true }).click();
    await visible('"Saved."', form.getByRole('status').filter({ hasText: /^Saved\./ }));
}

/// The log-in form with `org` typed in its Organization field, once the page has looked it up.
async function typeOrg(user, org) {
    const form = await visible('the "Log in" form', user.logInForm());
    const lookup = `${BASE_URL}/v1/auth/sso?org=${encodeURIComponent(org)}`;
    const looked = user.page.waitForResponse((response) => response.url() === lookup);
    await form.getByLabel('Organization', { exact: true }).fill(org);
    await looked;
    return form;
}

/// The address bar holds no query (nothing the provider's redirect carried).
function assertCleanAddress(user) {
    const url = new URL(user.page.url());
    assert.equal(url.origin + url.pathname + url.search, `${BASE_URL}/`, `the address bar shows ${user.page.url()}`);
}

/// The provider's sign-in page: its "Username" field, filled with `user`'s username, and "Sign in".
async function signInAtProvider(user, provider) {
    await user.page.waitForURL((url) => url.origin === provider.issuer);
    const username = await visible('the provider\'s "Username" field', user.page.getByLabel('Username', { exact: true }));
    await username.fill(user.username);
    await user.page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

// --- the tests ---------------------------------------------------------------------------------------------

test('sso: an owner sets single sign-on up, and a newcomer signs in with it and lands logged in, with an account made for them', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, GRACE, NAMESAKE], async (step, ada, grace, namesake) => {
        let provider;
        const found = [];
        await step('the provider starts, with an account for Grace and one with Ada\'s email; Ada signs up, creating the organization', async () => {
            provider = await startProvider(t, [accountOf(grace), { ...accountOf(namesake), email: ada.email }], ada.org);
            grace.allowedHosts.add(provider.host);
            namesake.allowedHosts.add(provider.host);
            await ada.signUp();
        });
        await step('Ada opens "Single sign-on": an empty form, with the redirect URI to register at the provider', async () => {
            const form = await openSsoTab(ada);
            assert.equal(await form.getByLabel('Redirect URI to register at the provider', { exact: true }).inputValue(), redirectUri(ada.org));
            assert.equal(await form.getByLabel('Issuer URL', { exact: true }).inputValue(), '');
            await gone('"Remove single sign-on"', form.getByRole('button', { name: 'Remove single sign-on', exact: true }));
        });
        await step('Ada fills in the provider and saves: the server has it, and the secret field says one is stored', async () => {
            await fillAndSave(ada, provider);
            const settings = await rest('GET', '/v1/admin/sso', await ada.sessionToken());
            assert.deepEqual(
                [settings.issuer, settings.client_id, settings.display_name, settings.link_by_email, settings.required, settings.redirect_uri],
                [provider.issuer, provider.client.client_id, LABEL, false, false, redirectUri(ada.org)]);
            const form = ssoForm(ada);
            const secret = form.getByLabel('Client secret', { exact: true });
            assert.equal(await secret.inputValue(), '');
            await visible('"leave this empty to keep it"', form.getByText(/A secret is stored and never shown: leave this empty to keep it/));
            await visible('"Remove single sign-on"', form.getByRole('button', { name: 'Remove single sign-on', exact: true }));
            await ada.screenshot('sso-administration');
        });
        for (const theme of ['light', 'dark']) {
            await step(`${theme}: axe finds no violation on the tab`, async () => {
                await ada.page.emulateMedia({ colorScheme: theme });
                await audit(ada.page, `${theme} administration single sign-on`, found);
            });
        }
        await step('on a phone\'s width the tab fits, and axe finds no violation', async () => {
            await ada.page.setViewportSize({ width: 390, height: 844 });
            await visible('the form on a phone', ssoForm(ada));
            assert.equal(await ada.page.evaluate(() => document.documentElement.scrollWidth), 390, 'the page is wider than the phone');
            await audit(ada.page, 'phone administration single sign-on', found);
            await ada.page.setViewportSize({ width: 1000, height: 700 });
            await ada.page.emulateMedia({ colorScheme: 'light' });
        });
        await step('Grace, on the log-in page, types the organization: "Sign in with Test ID" shows (axe finds nothing)', async () => {
            await gone('"Sign in with" for the default organization', ssoButton(grace));
            await typeOrg(grace, ada.org);
            await visible(`"Sign in with ${LABEL}"`, ssoButton(grace));
            assert.equal(await grace.page.getByText(`${ada.org} signs in with ${LABEL}`).count(), 0, 'it says single sign-on is required, though it is not');
            for (const theme of ['light', 'dark']) {
                await grace.page.emulateMedia({ colorScheme: theme });
                await audit(grace.page, `${theme} log-in with single sign-on`, found);
            }
            await grace.page.emulateMedia({ colorScheme: 'light' });
            await grace.screenshot('sso-log-in');
        });
        await step('another organization in the field: the button goes', async () => {
            await typeOrg(grace, `no-such-${ada.org}`);
            await gone(`"Sign in with ${LABEL}"`, ssoButton(grace));
            await typeOrg(grace, ada.org);
            await visible(`"Sign in with ${LABEL}" again`, ssoButton(grace));
        });
        let graceId;
        await step('Grace clicks it, signs in at the provider, and lands in Parley logged in, the address bar clean', async () => {
            await ssoButton(grace).click();
            await signInAtProvider(grace, provider);
            await grace.expectLoggedIn('after signing in with single sign-on');
            assertCleanAddress(grace);
            assert.equal(await grace.page.evaluate(() => sessionStorage.getItem('parley.sso-flow')), null, 'the flow is still kept');
        });
        await step('an account was made for her in Ada\'s organization, with the provider\'s name and email', async () => {
            const me = await rest('GET', '/v1/users/me', await grace.sessionToken());
            graceId = me.id;
            assert.equal(me.name, grace.name);
            assert.equal(me.org, ada.org);
            await visible('her name in the top bar', grace.page.locator('#me-name').getByText(grace.name, { exact: true }));
            const { people } = await rest('GET', `/v1/admin/people?q=${encodeURIComponent(grace.email)}`, await ada.sessionToken());
            assert.deepEqual(people.map((p) => [p.user.id, p.email]), [[graceId, grace.email]]);
            const { entries } = await rest('GET', '/v1/admin/audit?kind=sso_login', await ada.sessionToken());
            assert.ok(entries.some((e) => e.outcome === 'done'), `no sso_login done in ${JSON.stringify(entries)}`);
        });
        await step('Grace logs out and signs in again (the provider remembers her): the same account', async () => {
            await grace.logOutButton().click();
            await typeOrg(grace, ada.org);
            await ssoButton(grace).click();
            // The provider's session cookie signs her in without its form.
            await grace.expectLoggedIn('after signing in again');
            assertCleanAddress(grace);
            assert.equal((await rest('GET', '/v1/users/me', await grace.sessionToken())).id, graceId);
        });
        await step('someone with Ada\'s email at the provider is refused (no linking): the log-in form says why, ready to try again', async () => {
            await typeOrg(namesake, ada.org);
            await ssoButton(namesake).click();
            await signInAtProvider(namesake, provider);
            await visible('the notice', namesake.page.getByText(/^Not signed in: an account with your email address already exists/));
            assertCleanAddress(namesake);
            assert.equal(await namesake.logInForm().getByLabel('Organization', { exact: true }).inputValue(), ada.org);
            await visible(`"Sign in with ${LABEL}" to try again`, ssoButton(namesake));
            assert.equal(await namesake.sessionToken(), null);
            await audit(namesake.page, 'log-in after a refused single sign-on', found);
        });
        assertNoViolations(found);
    });
});

test('sso: with single sign-on required, a member\'s password login is refused in words, an owner\'s is not; a member taken over by email loses his old password', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB], async (step, ada, bob) => {
        let provider;
        let bobId;
        const found = [];
        await step('the provider starts; Ada signs up, Bob joins; Ada sets single sign-on up through the API, not required', async () => {
            provider = await startProvider(t, [accountOf(bob)], ada.org);
            await ada.signUp();
            await bob.signUp();
            bobId = (await rest('GET', '/v1/users/me', await bob.sessionToken())).id;
            const { client_id, client_secret } = provider.client;
            await rest('PUT', '/v1/admin/sso', await ada.sessionToken(), {
                issuer: provider.issuer, client_id, client_secret, display_name: LABEL, link_by_email: true, required: false,
            });
        });
        await step('Ada opens "Single sign-on": the form shows it; she checks "Require single sign-on" and saves, the secret left empty', async () => {
            const form = await openSsoTab(ada);
            assert.equal(await form.getByLabel('Issuer URL', { exact: true }).inputValue(), provider.issuer);
            assert.equal(await form.getByLabel('Client ID', { exact: true }).inputValue(), provider.client.client_id);
            assert.equal(await form.getByLabel('Button label', { exact: true }).inputValue(), LABEL);
            assert.equal(await form.getByRole('checkbox', { name: 'Link existing accounts by verified email', exact: true }).isChecked(), true);
            await form.getByRole('checkbox', { name: 'Require single sign-on (password login refused, owners excepted)', exact: true }).check();
            await fillAndSave(ada, provider, { secret: null });
            const settings = await rest('GET', '/v1/admin/sso', await ada.sessionToken());
            assert.equal(settings.required, true);
        });
        await step('Bob logs out; with the organization typed, the log-in form says it signs in with Test ID', async () => {
            await bob.logOutButton().click();
            await typeOrg(bob, ada.org);
            await visible('the note', bob.logInForm().getByText(`${ada.org} signs in with ${LABEL}. Only its owners may log in with a password.`, { exact: true }));
            await visible(`"Sign in with ${LABEL}"`, ssoButton(bob));
        });
        await step('Bob\'s right password is refused (sso_required), and the form says why', async () => {
            const form = bob.logInForm();
            await form.getByLabel('Email or username', { exact: true }).fill(bob.email);
            await form.getByLabel('Password', { exact: true }).fill(bob.password);
            await form.getByRole('button', { name: 'Log in', exact: true }).click();
            await visible('the refusal', form.getByRole('alert').filter({ hasText: `${ada.org} signs in with ${LABEL}: use "Sign in with ${LABEL}" below.` }));
            const response = await fetch(`${BASE_URL}/v1/auth/login`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({ login: bob.email, password: bob.password }),
            });
            assert.equal(response.status, 403);
            assert.equal((await response.json()).error.code, 'sso_required');
            await bob.screenshot('sso-required-refusal');
            await audit(bob.page, 'log-in with single sign-on required, a password refused', found);
        });
        await step('Bob signs in with Test ID: his own account, taken over by its verified email', async () => {
            bob.allowedHosts.add(provider.host);
            await ssoButton(bob).click();
            await signInAtProvider(bob, provider);
            await bob.expectLoggedIn('after signing in with single sign-on');
            assert.equal((await rest('GET', '/v1/users/me', await bob.sessionToken())).id, bobId);
            await bob.logOutButton().click();
        });
        await step('Ada, an owner, still logs in with her password', async () => {
            const login = await rest('POST', '/v1/auth/login', undefined, { login: ada.email, password: ada.password });
            await rest('POST', '/v1/auth/logout', login.token);
        });
        await step('Ada removes single sign-on, asked first: the form is empty, and the organization has none', async () => {
            const form = ssoForm(ada);
            await form.getByRole('button', { name: 'Remove single sign-on', exact: true }).click();
            const dialog = await visible('the question', ada.page.getByRole('dialog', { name: 'Remove single sign-on?', exact: true }));
            await dialog.getByRole('button', { name: 'Remove', exact: true }).click();
            await visible('"Single sign-on removed"', form.getByRole('status').filter({ hasText: /^Single sign-on removed/ }));
            assert.equal(await form.getByLabel('Issuer URL', { exact: true }).inputValue(), '');
            await gone('"Remove single sign-on"', form.getByRole('button', { name: 'Remove single sign-on', exact: true }));
            const response = await fetch(`${BASE_URL}/v1/auth/sso?org=${encodeURIComponent(ada.org)}`);
            assert.equal(response.status, 404);
        });
        await step('Bob\'s log-in form no longer offers it; his old password went when single sign-on took his account over', async () => {
            await bob.page.reload();
            await typeOrg(bob, ada.org);
            assert.equal(await ssoButton(bob).isVisible(), false, `"Sign in with ${LABEL}" still shows`);
            const response = await fetch(`${BASE_URL}/v1/auth/login`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({ login: bob.email, password: bob.password }),
            });
            assert.equal(response.status, 401, 'the password dropped at the takeover');
            const login = await rest('POST', '/v1/auth/login', undefined, { login: ada.email, password: ada.password });
            await rest('POST', '/v1/auth/logout', login.token);
        });
        assertNoViolations(found);
    });
});

test('sso: a return from the provider that cannot be finished shows the log-in form with a notice, the address bar clean', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [EVE], async (step, eve) => {
        const org = `acme-${randomBytes(3).toString('hex')}`;
        /// A sign-in begun in Eve's tab, as sso-sign-in.js keeps it.
        const begun = () => eve.page.evaluate((flow) => sessionStorage.setItem('parley.sso-flow', JSON.stringify(flow)),
            { flow_key: 'not-a-real-flow-key', org, display_name: LABEL });
        await step('cancelled at the provider (error=access_denied): "cancelled or refused", the organization kept in the form', async () => {
            await begun();
            await eve.page.goto(`${BASE_URL}/?sso=callback&org=${org}&error=access_denied&error_description=The+user+said+no&state=whatever`);
            await visible('the notice', eve.page.getByText(`Not signed in: the sign-in with ${LABEL} was cancelled or refused.`, { exact: true }));
            assertCleanAddress(eve);
            assert.equal(await eve.logInForm().getByLabel('Organization', { exact: true }).inputValue(), org);
        });
        await step('a state the server does not know (invalid_sso_state): "expired or was already used"', async () => {
            await begun();
            await eve.page.goto(`${BASE_URL}/?sso=callback&org=${org}&code=made-up&state=made-up&iss=${encodeURIComponent('http://127.0.0.1:9')}`);
            await visible('the notice', eve.page.getByText('The sign-in expired or was already used: try again.', { exact: true }));
            assertCleanAddress(eve);
            assert.equal(await eve.page.evaluate(() => sessionStorage.getItem('parley.sso-flow')), null, 'the flow is still kept');
        });
        await step('a return with no sign-in begun in this tab: the same notice, and nothing asked of the server', async () => {
            const asked = [];
            eve.page.on('request', (request) => request.url().includes('/v1/auth/sso/callback') && asked.push(request.url()));
            await eve.page.goto(`${BASE_URL}/?sso=callback&org=${org}&code=made-up&state=made-up`);
            await visible('the notice', eve.page.getByText('The sign-in expired or was already used: try again.', { exact: true }));
            assertCleanAddress(eve);
            assert.deepEqual(asked, []);
        });
    });
});
