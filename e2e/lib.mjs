// Helpers for the browser tests: the browser, users and their pages, polling expectations, screenshots.
// Everything goes through the UI contract's accessible names (getByRole / getByLabel with exact names).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { crc32, deflateSync } from 'node:zlib';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';

export const BASE_URL = process.env.PARLEY_URL ?? 'http://127.0.0.1:8080';
const BASE_HOST = new URL(BASE_URL).host;

/// The host a page's request went to, when it is a network request to another host than the server's
/// (data: and blob: URLs go nowhere); null otherwise.
function otherHost(url) {
    const u = new URL(url);
    if (!['http:', 'https:', 'ws:', 'wss:'].includes(u.protocol)) return null;
    return u.host === BASE_HOST ? null : u.host;
}
/// How long one expectation may take to come true.
export const TIMEOUT = Number(process.env.E2E_TIMEOUT_MS ?? 10_000);
/// How long a client may take to notice it is back online and reconnect (its backoff may be waiting).
export const RECONNECT_TIMEOUT = Number(process.env.E2E_RECONNECT_TIMEOUT_MS ?? 15_000);

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const OUT_DIR = process.env.E2E_OUT_DIR ?? path.join(REPO, 'target', 'e2e');

export async function launchBrowser() {
    await mkdir(OUT_DIR, { recursive: true });
    return chromium.launch({
        executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
        args: ['--no-sandbox'],
        headless: true,
    });
}

export function randomSuffix() {
    return randomBytes(4).toString('hex');
}

export function slug(text) {
    return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

function escapeRegExp(text) {
    return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/// An accessible name that begins with `text`.
export function startsWith(text) {
    return new RegExp(`^${escapeRegExp(text)}`);
}

/// Retries `fn` until it stops throwing, then returns what it returned; after `timeout` ms, throws its last
/// error with `what` in front.
export async function eventually(what, fn, { timeout = TIMEOUT, interval = 100 } = {}) {
    const deadline = Date.now() + timeout;
    for (;;) {
        try {
            return await fn();
        } catch (error) {
            if (Date.now() >= deadline) {
                const wrapped = new Error(`${what} (not true after ${timeout} ms): ${error.message}`);

                throw wrapped;
            }
        }
        await new Promise((resolve) => setTimeout(resolve, interval));
    }
}

/// Waits for a locator to be visible, with a message that says what was expected.
export async function visible(what, locator, timeout = TIMEOUT) {
    try {
        await locator.first().waitFor({ state: 'visible', timeout });
    } catch (error) {
        throw new Error(`expected ${what} to be visible within ${timeout} ms (${firstLine(error.message)})`);
    }
    return locator;
}

/// Waits until no element the locator matches is visible.
export async function gone(what, locator, timeout = TIMEOUT) {
    await eventually(`expected ${what} to go away`, async () => {
        for (const element of await locator.all()) {
            if (await element.isVisible()) throw new Error('it is still visible');
        }
    }, { timeout });
}

function firstLine(text) {
    return String(text).split('\n')[0];
}

/// Runs a test's steps one by one, reporting each as a diagnostic line of the test, so a failure says which
/// step it was and which steps before it passed.
export function stepper(t) {
    let n = 0;
    return async function step(name, fn) {
        n += 1;
        const started = Date.now();
        try {
            const result = await fn();
            t.diagnostic(`step ${n} ok: ${name} (${Date.now() - started} ms)`);
            return result;
        } catch (error) {
            t.diagnostic(`step ${n} FAILED: ${name}`);
            const wrapped = new Error(`step ${n} "${name}" failed: ${error.message}`);

            throw wrapped;
        }
    };
}

/// One person using the client in their own browser context.
export class User {
    constructor(browser, { key, name, username, email, password, org, team, contextOptions }) {
        this.contextOptions = contextOptions ?? { viewport: { width: 1000, height: 700 } };
        /// Requests the pages made to any host but the server's and `allowedHosts`; close() fails the test if
        /// there are any.
        this.foreign = [];
        /// Hosts (`host:port`) besides the server's that this person's pages may ask: an OpenID provider they
        /// sign in at.
        this.allowedHosts = new Set();
        this.browser = browser;
        this.key = key;
        this.name = name;
        this.username = username;
        this.email = email;
        this.password = password;
        this.org = org;
        /// What the people of one organization share: `founder`, the first of them to sign up, who made it.
        this.team = team ?? { founder: null };
        this.logs = [];
    }

    async open() {
        this.context = await this.browser.newContext(this.contextOptions);
        const foreign = (url) => {
            const host = otherHost(url);
            return host !== null && !this.allowedHosts.has(host);
        };
        this.context.on('request', (request) => {
            if (foreign(request.url())) this.foreign.push(`${request.method()} ${request.url()}`);
        });
        this.context.setDefaultTimeout(TIMEOUT);
        this.context.setDefaultNavigationTimeout(TIMEOUT);
        this.page = await this.context.newPage();
        this.page.on('console', (message) => this.logs.push(`[console.${message.type()}] ${message.text()}`));
        this.page.on('pageerror', (error) => this.logs.push(`[pageerror] ${error.stack ?? error}`));
        this.page.on('response', (response) => {
            if (response.status() >= 400) this.logs.push(`[http] ${response.status()} ${response.request().method()} ${response.url()}`);
        });
        this.page.on('requestfailed', (request) =>
            this.logs.push(`[http] failed ${request.method()} ${request.url()}: ${request.failure()?.errorText}`),
        );
        this.page.on('websocket', (socket) => {
            if (foreign(socket.url())) this.foreign.push(`WebSocket ${socket.url()}`);
            this.logs.push(`[websocket] open ${socket.url()}`);
            socket.on('close', () => this.logs.push(`[websocket] closed ${socket.url()}`));
        });
        await this.page.goto(BASE_URL + '/');
        return this;
    }

    /// Closes the browser context; throws when a page asked another host than the server's for anything.
    async close() {
        await this.context?.close().catch(() => {});
        const foreign = this.foreign.splice(0);
        assert.deepEqual(foreign, [], `${this.name}'s pages made requests to other hosts than ${BASE_HOST}`);
    }

    // --- the UI contract ------------------------------------------------------------------------------

    signUpForm() {
        return this.page.getByRole('form', { name: 'Sign up', exact: true });
    }
    logInForm() {
        return this.page.getByRole('form', { name: 'Log in', exact: true });
    }
    logOutButton() {
        return this.page.getByRole('button', { name: 'Log out', exact: true });
    }
    conversations() {
        return this.page.getByRole('navigation', { name: 'Conversations', exact: true });
    }
    /// The conversation's button in the Conversations list: its name begins with the display name.
    conversationButton(displayName) {
        return this.conversations().getByRole('button', { name: startsWith(displayName) });
    }
    main() {
        return this.page.getByRole('main');
    }
    heading(displayName) {
        return this.main().getByRole('heading', { level: 2, name: displayName, exact: true });
    }
    messageLog() {
        return this.page.getByRole('log', { name: 'Messages', exact: true });
    }
    composer() {
        return this.page.getByRole('textbox', { name: 'Message', exact: true });
    }
    offlineBanner() {
        return this.page.getByRole('status').filter({ hasText: 'Offline' });
    }
    alerts() {
        return this.page.getByRole('alert');
    }

    /// The messages the open conversation shows, in order: {author, text, state}.
    async messages() {
        return this.messageLog()
            .locator('article')
            .evaluateAll((articles) =>
                articles.map((article) => ({
                    author: article.querySelector('.author')?.textContent.trim() ?? null,
                    text: article.querySelector('.text')?.innerText.trim() ?? null,
                    state: article.dataset.state ?? null,
                })),
            );
    }

    // --- actions --------------------------------------------------------------------------------------

    /// Marks the page's current document, so expectSamePage can tell that nothing reloaded it since.
    async markPage() {
        await this.page.evaluate(() => {
            window.__e2eMark = true;
        });
    }

    async expectSamePage() {
        const marked = await this.page.evaluate(() => window.__e2eMark === true);
        assert.ok(marked, `${this.name}'s page was reloaded, which a live update must not need`);
    }

    /// Signs up with the form, as people join an organization: the first person of the organization creates
    /// it (its handle in "Organization"); everyone after opens an invitation link that the first one made
    /// (through the API with their session, for speed) and signs up through it.
    async signUp() {
        const founder = this.team.founder;
        if (founder && founder !== this) {
            const invite = await founder.createInvite();
            await this.openInviteLink(invite.token);
        }
        const form = await visible('the "Sign up" form', this.signUpForm());
        await form.getByLabel('Name', { exact: true }).fill(this.name);
        await form.getByLabel('Username', { exact: true }).fill(this.username);
        await form.getByLabel('Email', { exact: true }).fill(this.email);
        await form.getByLabel('Password', { exact: true }).fill(this.password);
        if (!founder || founder === this) await form.getByLabel('Organization', { exact: true }).fill(this.org);
        await form.getByRole('button', { name: 'Sign up', exact: true }).click();
        await this.expectLoggedIn('after signing up');
        this.team.founder ??= this;
    }

    /// Opens the invitation link with this token (`/#invite=TOKEN`) and waits for the sign-up form to say where
    /// it leads.
    async openInviteLink(token) {
        await this.page.goto(`${BASE_URL}/#invite=${token}`);
        await visible(`"You're invited to join ${this.org}" on the sign-up form`,
            this.signUpForm().getByRole('status').filter({ hasText: `You're invited to join ${this.org}.` }));
    }

    /// The session token the page keeps (localStorage `parley.token`, see docs/web-client.md); null when
    /// logged out.
    async sessionToken() {
        return this.page.evaluate(() => localStorage.getItem('parley.token'));
    }

    /// An invitation into this person's organization (`POST /v1/invites` with `body`), made with the session
    /// of their page, or with one made for the purpose (and ended after) when the page is logged out.
    async createInvite(body = {}) {
        let token = await this.sessionToken();
        const own = !token;
        if (own) token = (await rest('POST', '/v1/auth/login', undefined, { login: this.username, password: this.password, org: this.org })).token;
        try {
            return await rest('POST', '/v1/invites', token, body);
        } finally {
            if (own) await rest('POST', '/v1/auth/logout', token).catch(() => {});
        }
    }

    async expectLoggedIn(when) {
        try {
            await visible('the "Log out" button', this.logOutButton());
        } catch (error) {
            const alerts = await this.alerts().allTextContents().catch(() => []);
            const said = alerts.length ? ` Alerts: ${JSON.stringify(alerts)}` : '';
            throw new Error(`${this.name} is not logged in ${when}: ${error.message}.${said}`);
        }
    }

    /// "New direct message" → "Find a colleague" → the colleague's name; the DM opens.
    async openDmWith(other) {
        await this.page.getByRole('button', { name: 'New direct message', exact: true }).click();
        const find = await visible('the "Find a colleague" input', this.page.getByLabel('Find a colleague', { exact: true }));
        await find.fill(other.name);
        // The person's result button, not a conversation of the same name in the Conversations list.
        const result = this.page
            .getByRole('button', { name: other.name, exact: true })
            .and(this.page.locator(':not(nav *, [role="navigation"] *)'));
        await visible(`a result button named "${other.name}"`, result);
        await result.first().click();
        await visible(`the DM's heading "${other.name}"`, this.heading(other.name));
    }

    async openConversation(displayName) {
        await this.conversationButton(displayName).first().click();
        await visible(`the conversation heading "${displayName}"`, this.heading(displayName));
    }

    async send(text) {
        const composer = this.composer();
        await composer.fill(text);
        await composer.press('Enter');
    }

    /// Waits until the open conversation shows a message with this text (in `state`, when given).
    async expectMessage(text, { state, timeout = TIMEOUT } = {}) {
        return eventually(`${this.name} sees "${text}"${state ? ` as ${state}` : ''}`, async () => {
            const shown = await this.messages();
            const found = shown.filter((message) => message.text === text);
            if (found.length === 0 || (state && !found.some((message) => message.state === state))) {
                throw new Error(`the Messages log shows ${JSON.stringify(shown)}`);
            }
            return found;
        }, { timeout });
    }

    async screenshot(name) {
        const file = path.join(OUT_DIR, `${name}.png`);
        await this.page.screenshot({ path: file, fullPage: true, timeout: TIMEOUT });
        return file;
    }

    async saveLogs(name) {
        if (this.logs.length) await writeFile(path.join(OUT_DIR, `${name}.log`), this.logs.join('\n') + '\n');
    }
}

/// Closes every user's context, then fails if any of their pages asked another host than the server's.
export async function closeAll(users) {
    const errors = [];
    for (const user of users) await user.close().catch((error) => errors.push(error));
    if (errors.length) throw errors[0];
}

/// A fresh organization and its people, each in their own browser context on the client's page. Whoever
/// signs up first creates the organization; the others join it by invitation (User.signUp).
/// Each person is `[key, name]`, or `[key, name, contextOptions]` for another viewport than 1000x700.
export async function people(browser, ...names) {
    const suffix = randomSuffix();
    const org = `e2e-${suffix}`;
    const team = { founder: null };
    const users = names.map(
        ([key, name, contextOptions]) =>
            new User(browser, {
                key,
                name,
                username: `${key}-${suffix}`,
                email: `${key}-${suffix}@e2e.example.org`,
                password: `pw-${key}-${suffix}-secret`,
                org,
                team,
                contextOptions,
            }),
    );
    for (const user of users) await user.open();
    return users;
}

/// Screenshots of every user's page, as `<test>-<user>.png`, and one picture of them side by side as
/// `<test>.png`; the pages' console logs go beside them. Never throws: it runs after failures too.
export async function screenshots(browser, testName, users) {
    const name = slug(testName);
    const shots = [];
    for (const user of users) {
        try {
            await user.saveLogs(`${name}-${user.key}`);
            if (!user.page) continue;
            const file = users.length === 1 ? await user.screenshot(name) : await user.screenshot(`${name}-${user.key}`);
            shots.push({ label: `${user.name} (${user.key})`, file });
        } catch (error) {
            console.error(`screenshot of ${user.key} failed: ${error.message}`);
        }
    }
    if (shots.length < 2) return;
    const context = await browser.newContext({ viewport: { width: 1000 * shots.length + 40, height: 700 } });
    try {
        const page = await context.newPage();
        const figures = [];
        for (const shot of shots) {
            const data = (await readFile(shot.file)).toString('base64');
            figures.push(
                `<figure><figcaption>${shot.label}</figcaption><img src="data:image/png;base64,${data}"></figure>`,
            );
        }
        await page.setContent(
            `<style>body{margin:0;display:flex;gap:20px;padding:10px;background:#ddd;font:14px sans-serif}
             figure{margin:0}img{display:block;border:1px solid #888;width:1000px}</style>${figures.join('')}`,
        );
        await page.screenshot({ path: path.join(OUT_DIR, `${name}.png`), fullPage: true });
    } catch (error) {
        console.error(`side-by-side screenshot failed: ${error.message}`);
    } finally {
        await context.close();
    }
}

/// One browser for the test file that calls this (launched before its tests, closed after them), and
/// `withPeople(t, names, body)`: runs `body` with fresh people in a new organization and screenshots every
/// page at the end, pass or fail. `people(...names)` gives people without that bracket.
export function sharedBrowser() {
    let browser;
    before(async () => {
        browser = await launchBrowser();
    });
    after(async () => {
        await browser?.close();
    });
    return {
        people: (...names) => people(browser, ...names),
        async withPeople(t, names, body) {
            const users = await people(browser, ...names);
            try {
                await body(stepper(t), ...users);
            } finally {
                await screenshots(browser, t.name, users);
                await closeAll(users);
            }
        },
    };
}

/// One REST call with the public API, for seeding what a test is not about; throws on a non-2xx answer.
export async function rest(method, route, token, body) {
    const headers = { 'content-type': 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    const response = await fetch(BASE_URL + route, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${text}`);
    return text ? JSON.parse(text) : null;
}

/// Moves a conversation's messages up to `throughId` `days` into the past, in the server's database (the
/// SQLite file in PARLEY_DATA_DIR, which scripts/e2e sets), as if they had been sent then: what a test of the
/// retention purge needs, since no API sends a message in the past.
export async function backdateMessages(conversationId, throughId, days) {
    const dataDir = process.env.PARLEY_DATA_DIR;
    assert.ok(dataDir, 'PARLEY_DATA_DIR names the server\'s data directory (scripts/e2e sets it)');
    const sql = `UPDATE messages SET created_at = created_at - ${Number(days) * 86_400_000}
                 WHERE conversation_id = ${Number(conversationId)} AND id <= ${Number(throughId)};`;
    await promisify(execFile)('sqlite3', ['-cmd', '.timeout 10000', path.join(dataDir, 'parley.db'), sql]);
}

/// Uploads `bytes` as a file named `name` through the public API (`POST /v1/uploads`, each part `PUT` with the
/// token, then complete), as the web client does on the local store; returns the complete upload.
export async function uploadFile(token, name, bytes, contentType) {
    const upload = await rest('POST', '/v1/uploads', token, { name, size: bytes.length, ...(contentType ? { content_type: contentType } : {}) });
    let offset = 0;
    for (const part of upload.parts) {
        const response = await fetch(new URL(part.url, BASE_URL), {
            method: part.method,
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
            body: bytes.subarray(offset, offset + part.size),
        });
        if (!response.ok) throw new Error(`${part.method} ${part.url}: ${response.status} ${await response.text()}`);
        offset += part.size;
    }
    return rest('POST', `/v1/uploads/${upload.id}/complete`, token);
}

/// A PNG picture of `width` × `height` pixels: a colour gradient (8-bit RGB), made here with node's zlib.
export function png(width, height) {
    const row = width * 3 + 1;
    const raw = Buffer.alloc(row * height);
    for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
            const at = y * row + 1 + x * 3;
            raw[at] = (x * 255) / width;
            raw[at + 1] = (y * 255) / height;
            raw[at + 2] = 160;
        }
    }
    const chunk = (type, data) => {
        const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
        const length = Buffer.alloc(4);
        length.writeUInt32BE(data.length);
        const sum = Buffer.alloc(4);
        sum.writeUInt32BE(crc32(body));
        return Buffer.concat([length, body, sum]);
    };
    const header = Buffer.alloc(13);
    header.writeUInt32BE(width, 0);
    header.writeUInt32BE(height, 4);
    header.set([8, 2, 0, 0, 0], 8); // 8 bits, RGB, deflate, no filter method but the standard, no interlace
    return Buffer.concat([
        Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
        chunk('IHDR', header),
        chunk('IDAT', deflateSync(raw)),
        chunk('IEND', Buffer.alloc(0)),
    ]);
}

// --- accessibility ------------------------------------------------------------------------------------------

/// What axe-core checks: WCAG 2.1 A and AA, and its best practices.
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'];
let axeSource = null;

/// Runs axe-core on the page as it is now and adds its violations to `found` under `screen`; writes the
/// result to target/e2e/axe-<screen>.json. Waits for running transitions first, which would skew contrast.
export async function audit(page, screen, found) {
    await page.evaluate(() => Promise.all(document.getAnimations().map((a) => a.finished.catch(() => {}))));
    if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
        axeSource ??= await readFile(new URL('./node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');
        await page.evaluate(axeSource);
    }
    const violations = await page.evaluate(async (tags) => {
        const result = await window.axe.run(document, { runOnly: tags, resultTypes: ['violations'] });
        return result.violations.map((v) => ({
            id: v.id,
            impact: v.impact,
            help: v.help,
            helpUrl: v.helpUrl,
            nodes: v.nodes.map((n) => ({ target: n.target.map(String).join(' '), html: n.html.slice(0, 160), summary: n.failureSummary })),
        }));
    }, AXE_TAGS);
    await writeFile(path.join(OUT_DIR, `axe-${slug(screen)}.json`), JSON.stringify(violations, null, 2) + '\n');
    for (const v of violations) found.push({ screen, ...v });
}

/// Fails with every violation found, grouped by rule: id, impact, help, and each screen's nodes.
export function assertNoViolations(found) {
    if (!found.length) return;
    const byRule = new Map();
    for (const v of found) {
        if (!byRule.has(v.id)) byRule.set(v.id, { ...v, where: [] });
        byRule.get(v.id).where.push(...v.nodes.map((n) => `[${v.screen}] ${n.target}  ${n.html}\n          ${(n.summary ?? '').replace(/\n/g, ' | ')}`));
    }
    const lines = [...byRule.values()].map((r) =>
        `- ${r.id} (${r.impact}, ${r.where.length} nodes): ${r.help} <${r.helpUrl}>\n${r.where.map((w) => `      ${w}`).join('\n')}`);
    assert.fail(`axe found ${byRule.size} kinds of violations (${found.length} rule-screen pairs):\n${lines.join('\n')}`);
}
