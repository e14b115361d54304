// Browser tests of what the client does when the server says "not now", against a real `parley` at
// PARLEY_URL (run them with `bash scripts/e2e`): a store outage (REST 503, a socket closed with 1013 at its
// hello), too many sockets (close 4005) and rate limits (429, `rate_limited`) keep the login, say what is
// going on, and recover. Only a 401 and the closes 4001 and 4003 log out (chat.test.mjs, invites.test.mjs).
//
// The server's own outages are hard to bring about on purpose from a browser, so these answers are played by
// the test in front of the real server (Playwright's page.route and page.routeWebSocket), with the shapes and
// codes docs/openapi.json and docs/protocol.md give them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gone, RECONNECT_TIMEOUT, sharedBrowser, TIMEOUT, visible } from './lib.mjs';

const TEST_TIMEOUT = 90_000;
const ADA = ['ada', 'Ada Lovelace'];
const BOB = ['bob', 'Bob Stone'];
const CARA = ['cara', 'Cara Diaz'];

const { withPeople } = sharedBrowser();

const SOCKET = /\/v1\/ws$/;

/// An API error answer, as the server writes them.
function errorAnswer(status, code, message, retryAfter) {
    return {
        status,
        contentType: 'application/json',
        headers: retryAfter ? { 'retry-after': String(retryAfter) } : {},
        body: JSON.stringify({ error: { code, message } }),
    };
}

function banner(user, text) {
    return user.page.locator('#offline[role="status"]', { hasText: text });
}

test('a store outage or too many sockets keeps the login: the page says so, retries, and comes back', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA], async (step, ada) => {
        await step('Ada signs up', () => ada.signUp());
        const token = await ada.sessionToken();
        let restDown = true;
        await ada.page.route('**/v1/users/me', (route) => restDown
            ? route.fulfill(errorAnswer(503, 'unavailable', 'the service is unavailable for a moment; retry', 1))
            : route.continue());
        /// The close code every new socket gets at its hello, or 0 to let it through to the server.
        let refuseWith = 1013;
        let current = null;
        await ada.page.routeWebSocket(SOCKET, (ws) => {
            const code = refuseWith;
            if (code) {
                ws.onMessage(() => ws.close({ code, reason: 'refused by the test' }));
                return;
            }
            current = ws;
            ws.connectToServer();
        });
        await step('a reload while the store is down (503): "The server is unavailable for a moment. Retrying…"; the login is kept', async () => {
            await ada.page.reload();
            await visible('the message', ada.page.getByRole('alert').filter({ hasText: 'The server is unavailable for a moment. Retrying…' }));
            assert.equal(await ada.sessionToken(), token, 'the token was dropped');
        });
        await step('REST is back, the socket not yet (closed with 1013 at its hello): logged in, the banner says the server is unavailable', async () => {
            restDown = false;
            await ada.expectLoggedIn('once /v1/users/me answers again');
            await visible('the banner', banner(ada, 'The server is unavailable for a moment. Reconnecting…'));
            await ada.screenshot('outage-banner');
            assert.equal(await ada.sessionToken(), token, 'the token was dropped');
        });
        await step('the socket is back: the banner goes, still logged in', async () => {
            refuseWith = 0;
            await gone('the banner', banner(ada, 'Reconnecting'), RECONNECT_TIMEOUT);
            await ada.expectLoggedIn('after the outage');
        });
        await step('over the socket cap (4005): the banner says so, the login is kept, and it reconnects once allowed', async () => {
            refuseWith = 4005;
            current.close({ code: 1012, reason: 'restart, played by the test' });
            await visible('the banner', banner(ada, 'Too many of your tabs and devices are connected.'));
            assert.equal(await ada.sessionToken(), token, 'the token was dropped');
            refuseWith = 0;
            await gone('the banner', banner(ada, 'Reconnecting'), RECONNECT_TIMEOUT);
            await ada.expectLoggedIn('after the socket cap');
        });
    });
});

test('a send over the rate limit shows "Not sent" with Retry; a sign-up over it or during an outage says when to try again', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB, CARA], async (step, ada, bob, cara) => {
        await step('Ada and Bob sign up', async () => {
            await ada.signUp();
            await bob.signUp();
        });
        let limited = true;
        await ada.page.routeWebSocket(SOCKET, (ws) => {
            const server = ws.connectToServer();
            ws.onMessage((message) => {
                let op = null;
                try {
                    op = JSON.parse(String(message));
                } catch {
                    /* not JSON: the server's to answer */
                }
                if (limited && op?.op === 'send') {
                    ws.send(JSON.stringify({ type: 'error', ref: op.ref, code: 'rate_limited', message: 'too many attempts, retry later' }));
                    return;
                }
                server.send(message);
            });
        });
        await step('Ada reloads (her new socket is the one played with) and opens a DM with Bob', async () => {
            await ada.page.reload();
            await ada.expectLoggedIn('after the reload');
            await ada.openDmWith(bob);
        });
        const failed = ada.messageLog().locator('article[data-state="failed"]');
        await step('she sends while over her send rate (rate_limited): "Not sent", why, and Retry; the list says "Not sent" too', async () => {
            await ada.send('one too many');
            await ada.expectMessage('one too many', { state: 'failed' });
            await visible('the reason', failed.getByText('Not sent: you are sending too fast; wait a moment.'));
            await visible('"Not sent" in the list', ada.conversationButton(bob.name).filter({ hasText: 'Not sent: one too many' }));
        });
        await step('Retry, once the rate allows: sent, and Bob gets it', async () => {
            limited = false;
            await failed.getByRole('button', { name: 'Retry', exact: true }).click();
            await ada.expectMessage('one too many', { state: 'sent' });
            await visible(`"${ada.name}" in Bob's list`, bob.conversationButton(ada.name));
            await bob.openConversation(ada.name);
            await bob.expectMessage('one too many');
        });
        const form = cara.signUpForm();
        let answer = errorAnswer(429, 'rate_limited', 'too many attempts, retry later', 42);
        await cara.page.route('**/v1/auth/signup', (route) => route.fulfill(answer));
        await step('Cara signs up while sign-ups are over their limit (429): told when to try again', async () => {
            await visible('the "Sign up" form', form);
            await form.getByLabel('Name', { exact: true }).fill(cara.name);
            await form.getByLabel('Username', { exact: true }).fill(cara.username);
            await form.getByLabel('Email', { exact: true }).fill(cara.email);
            await form.getByLabel('Password', { exact: true }).fill(cara.password);
            await form.getByRole('button', { name: 'Sign up', exact: true }).click();
            await visible('the message', form.getByRole('alert').filter({ hasText: 'Too many attempts for now. Try again in 42 s.' }));
        });
        await step('and while the store is down (503): told the server is unavailable for a moment', async () => {
            answer = errorAnswer(503, 'unavailable', 'the service is unavailable for a moment; retry', 1);
            await form.getByRole('button', { name: 'Sign up', exact: true }).click();
            await visible('the message', form.getByRole('alert').filter({ hasText: 'The server is unavailable for a moment. Try again in 1 s.' }), TIMEOUT);
        });
    });
});
