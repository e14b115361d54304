// Browser tests of the installable app and its notifications, against a real `parley` server at PARLEY_URL
// (run them with `bash scripts/e2e --test-name-pattern=notif`):
//
// - the manifest and its icons are served with their types and Chromium finds the manifest valid; the service
//   worker (`/sw.js`) registers with the scope `/`;
// - nothing asks the browser's permission to notify on load, after logging in, or on opening Settings;
// - pushes delivered to the service worker through the DevTools protocol (`ServiceWorker.deliverPushMessage`,
//   the decrypted payload the server's pushes carry) show one notification per conversation (its tag), a
//   newer burst replaces it, `clear` closes it, and the app badge follows `badge`;
// - a notification's click opens its conversation at its message. Headless Chromium shows no notification
//   that can be clicked, and the DevTools protocol has no click: the test dispatches a `notificationclick`
//   event built in the worker's scope (Playwright evaluates code there) with the notification the worker
//   showed, so the worker's own handler runs. Such an event is not trusted: `waitUntil` throws, and the
//   browser allows neither focusing a window nor opening one from it. What is proven: the handler closes the
//   notification and tells the open page, and the page opens the conversation at the message. What is not: a
//   click by a person, the focus, and `openWindow` when no page is open (that URL is the message link, which
//   permalinks.test.mjs opens);
// - "Notify me on this device" in Settings: permission refused (headless Chromium refuses what it would ask
//   a person) says so; with permission, Chromium's push service refuses a subscription in a browser context
//   like these (Playwright's contexts are off the record) and the switch says that, with no subscription
//   faked. Quiet hours are saved with the browser's time zone and read back;
// - a conversation's "Notifications" panel: its choices, the defaults of a DM and of a channel, each choice
//   saved with `PATCH .../membership` and still chosen after a reload;
// - axe finds no violation in Settings or in the "Notifications" panel, light and dark.
//
// Tests that need server routes not every server has yet (`/v1/push/vapid`, `/v1/me/notifications`) skip,
// saying which, when the server answers 404. Screenshots go to target/e2e/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertNoViolations, audit, BASE_URL, eventually, gone, rest, sharedBrowser, visible } from './lib.mjs';

const TEST_TIMEOUT = 90_000;
const { withPeople } = sharedBrowser();
/// A fixed time zone, so the quiet hours' zone is known.
const BERLIN = { viewport: { width: 1000, height: 700 }, timezoneId: 'Europe/Berlin' };

/// Whether the server answers `route` (GET) for this token with anything but 404.
async function serverHas(route, token) {
    const response = await fetch(BASE_URL + route, { headers: { authorization: `Bearer ${token}` } });
    return response.status !== 404;
}

/// Ada's id and token, Bob's id, and a DM and a channel "General" of Ada's made through the REST API; both
/// in Ada's list.
async function seed(ada, bob) {
    await ada.signUp();
    await bob.signUp();
    const token = await ada.sessionToken();
    const bobId = (await rest('GET', '/v1/users/me', await bob.sessionToken())).id;
    const dm = await rest('POST', '/v1/conversations', token, { kind: 'dm', members: [bobId] });
    const channel = await rest('POST', '/v1/conversations', token, { kind: 'channel', name: 'General', handle: `general-${Date.now()}` });
    await visible('the DM in Ada\'s list', ada.conversationButton(bob.name));
    await visible('"General" in Ada\'s list', ada.conversationButton('General'));
    return { token, bobId, dm, channel };
}

/// The notifications the service worker shows now: title, body, tag and data.
function shown(user) {
    return user.page.evaluate(async () => {
        const registration = await navigator.serviceWorker.ready;
        return (await registration.getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data }));
    });
}

/// A DevTools session on the user's page with the ServiceWorker domain on, and the registration id of the
/// service worker whose scope is the app (`/`), once a version of it is activated and it has shown a push.
/// Call it once the page may show notifications.
async function pushChannel(user) {
    const cdp = await user.context.newCDPSession(user.page);
    const registrations = new Map();
    const versions = new Map();
    cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations: updated }) => {
        for (const r of updated) registrations.set(r.registrationId, r);
    });
    cdp.on('ServiceWorker.workerVersionUpdated', ({ versions: updated }) => {
        for (const v of updated) versions.set(v.versionId, v);
    });
    await cdp.send('ServiceWorker.enable');
    const registrationId = await eventually('the service worker\'s registration, scope /, activated', async () => {
        const found = [...registrations.values()].find((r) => r.scopeURL === `${BASE_URL}/` && !r.isDeleted);
        assert.ok(found, `registrations: ${JSON.stringify([...registrations.values()])}`);
        const active = [...versions.values()].find((v) => v.registrationId === found.registrationId && v.status === 'activated');
        assert.ok(active, `versions: ${JSON.stringify([...versions.values()])}`);
        return found.registrationId;
    });
    const channel = {
        /// Delivers `payload` as a push message's data, as the browser does once it has decrypted one.
        push: (payload) => cdp.send('ServiceWorker.deliverPushMessage', { origin: BASE_URL, registrationId, data: JSON.stringify(payload) }),
    };
    // The browser sometimes drops the first push to a worker just started (in CI, about one run in ten): a
    // notification of the channel's own is pushed until it shows, then closed, so that every push a test
    // asserts on is pushed once. It carries no badge.
    const tag = 'parley-warm-up';
    const warmUp = { v: 1, type: 'message', tag, conversation_id: '0', message_id: '0', conversation_name: 'Warm-up',
        conversation_kind: 'channel', sender: { id: '0', name: 'Parley' }, text: null, count: 1 };
    await eventually('a first push shows its notification', async () => {
        await channel.push({ ...warmUp, id: `w-${Math.random()}` });
        await new Promise((resolve) => setTimeout(resolve, 250));
        assert.ok((await shown(user)).some((n) => n.tag === tag));
    });
    await channel.push({ v: 1, type: 'clear', id: 'w-clear', tag, conversation_id: '0' });
    await eventually('the first push\'s notification closed', async () =>
        assert.ok(!(await shown(user)).some((n) => n.tag === tag)));
    return channel;
}

/// The service worker, as Playwright reaches it (Chromium only).
async function serviceWorker(user) {
    return eventually('the service worker', async () => {
        const [worker] = user.context.serviceWorkers();
        assert.ok(worker, 'no service worker yet');
        return worker;
    });
}

/// Opens Settings and waits for the notification switch to know its state (its module loads on opening).
async function openSettings(user) {
    await user.page.getByRole('button', { name: 'Settings', exact: true }).click();
    const panel = await visible('the Settings panel', user.page.getByRole('region', { name: 'Settings', exact: true }));
    return panel;
}

function notifySwitch(user) {
    return user.page.getByRole('switch', { name: 'Notify me on this device', exact: true });
}

test('notifications: the manifest and icons are served and valid; the service worker registers with scope /', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [['ada', 'Ada Lovelace']], async (step, ada) => {
        let manifest;
        await step('the page links the manifest; it is served as application/manifest+json', async () => {
            const href = await ada.page.evaluate(() => document.querySelector('link[rel="manifest"]')?.getAttribute('href'));
            assert.equal(href, '/manifest.webmanifest');
            const response = await fetch(BASE_URL + href);
            assert.equal(response.status, 200);
            assert.equal(response.headers.get('content-type'), 'application/manifest+json');
            manifest = await response.json();
        });
        await step('it names Parley, starts at /, shows standalone, in the accent colour of style.css', async () => {
            assert.equal(manifest.name, 'Parley');
            assert.equal(manifest.start_url, '/');
            assert.equal(manifest.display, 'standalone');
            const css = await (await fetch(`${BASE_URL}/style.css`)).text();
            const accent = /--accent:\s*(#[0-9a-f]{6})/i.exec(css)[1];
            assert.equal(manifest.theme_color.toLowerCase(), accent.toLowerCase());
        });
        await step('its icons are served: PNGs of 192 and 512 pixels (one maskable) and an SVG', async () => {
            const purposes = [];
            for (const icon of manifest.icons) {
                const response = await fetch(new URL(icon.src, BASE_URL));
                assert.equal(response.status, 200, icon.src);
                assert.equal(response.headers.get('content-type'), icon.type, icon.src);
                const bytes = Buffer.from(await response.arrayBuffer());
                if (icon.type === 'image/png') {
                    assert.equal(bytes.subarray(1, 4).toString('latin1'), 'PNG', icon.src);
                    const [width, height] = [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
                    assert.equal(`${width}x${height}`, icon.sizes, icon.src);
                    assert.ok(bytes.length < 16_000, `${icon.src} is ${bytes.length} bytes`);
                    purposes.push(`${icon.sizes} ${icon.purpose}`);
                }
            }
            assert.deepEqual(purposes.sort(), ['192x192 any', '512x512 any', '512x512 maskable']);
            assert.ok(manifest.icons.some((icon) => icon.type === 'image/svg+xml'), 'no SVG icon');
        });
        await step('Chromium reads the manifest without an error', async () => {
            const cdp = await ada.context.newCDPSession(ada.page);
            const read = await cdp.send('Page.getAppManifest');
            assert.equal(read.url, `${BASE_URL}/manifest.webmanifest`);
            assert.deepEqual(read.errors, []);
        });
        await step('the service worker is served as JavaScript under the same policy as the page', async () => {
            const response = await fetch(`${BASE_URL}/sw.js`);
            assert.equal(response.status, 200);
            assert.equal(response.headers.get('content-type'), 'text/javascript');
            assert.match(response.headers.get('content-security-policy') ?? '', /default-src 'self'/);
        });
        await step('it registers with the scope /, active, and controls the page after a reload', async () => {
            const registration = await ada.page.evaluate(async () => {
                const r = await navigator.serviceWorker.ready;
                return { scope: r.scope, script: r.active?.scriptURL };
            });
            assert.deepEqual(registration, { scope: `${BASE_URL}/`, script: `${BASE_URL}/sw.js` });
            await ada.page.reload();
            await eventually('the page is controlled', async () =>
                assert.equal(await ada.page.evaluate(() => navigator.serviceWorker.controller?.scriptURL), `${BASE_URL}/sw.js`));
        });
    });
});

test('notifications: nothing asks for permission on load, after logging in, or on opening Settings', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [['ada', 'Ada Lovelace']], async (step, ada) => {
        // Counts, in every document of the context, the calls that make the browser ask a person.
        await ada.context.addInitScript(() => {
            const asked = (window.__permissionAsks = []);
            const wrap = (owner, name) => {
                const original = owner[name];
                owner[name] = function (...args) {
                    asked.push(name);
                    return original.apply(this, args);
                };
            };
            wrap(Notification, 'requestPermission');
            wrap(PushManager.prototype, 'subscribe');
        });
        const asks = () => ada.page.evaluate(() => window.__permissionAsks);
        await step('the log-in page loads and the service worker registers: nothing asked', async () => {
            await ada.page.reload();
            await visible('the log-in form', ada.logInForm());
            await ada.page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
            assert.deepEqual(await asks(), []);
            assert.equal(await ada.page.evaluate(() => Notification.permission), 'default');
        });
        await step('Ada signs up and reloads: nothing asked', async () => {
            await ada.signUp();
            await ada.page.reload();
            await ada.expectLoggedIn('after a reload');
            await ada.page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
            assert.deepEqual(await asks(), []);
        });
        await step('Settings opens, the switch shows off: still nothing asked, the permission untouched', async () => {
            await openSettings(ada);
            await visible('the switch', notifySwitch(ada));
            await ada.page.waitForLoadState('networkidle');
            assert.equal(await notifySwitch(ada).isChecked(), false);
            assert.deepEqual(await asks(), []);
            assert.equal(await ada.page.evaluate(() => Notification.permission), 'default');
        });
    });
});

test('notifications: a push shows one notification per conversation; a newer burst replaces it; clear closes it; the badge follows', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [['ada', 'Ada Lovelace'], ['bob', 'Bob Stone']], async (step, ada, bob) => {
        let ids;
        let channel;
        const badges = [];
        await step('Ada and Bob sign up; Ada has a DM with Bob and a channel "General"', async () => {
            ids = await seed(ada, bob);
        });
        await step('Ada\'s browser allows notifications; the app badge calls are recorded in the worker', async () => {
            await ada.context.grantPermissions(['notifications'], { origin: BASE_URL });
            channel = await pushChannel(ada);
            const worker = await serviceWorker(ada);
            // Test-side instrumentation of the worker's navigator: no hook in the worker's code.
            await worker.evaluate(() => {
                self.__badges = [];
                const navigator = self.navigator;
                Object.defineProperty(navigator, 'setAppBadge', { value: async (n) => self.__badges.push(n) });
                Object.defineProperty(navigator, 'clearAppBadge', { value: async () => self.__badges.push(0) });
            });
            badges.read = () => worker.evaluate(() => self.__badges);
        });
        const dmTag = `parley-c${ids.dm.id}`;
        const message = (over) => ({
            v: 1, type: 'message', id: `n-${Math.random()}`, tag: `parley-c${ids.dm.id}`, conversation_id: ids.dm.id,
            message_id: '1', conversation_name: null, conversation_kind: 'dm', sender: { id: ids.bobId, name: 'Bob Stone' },
            text: 'hello <b>Ada</b>', count: 1, badge: 1, ...over,
        });
        await step('a DM message: titled with the sender, the text as text (no HTML), tagged by conversation', async () => {
            await channel.push(message({}));
            await eventually('one notification', async () => {
                const list = await shown(ada);
                assert.deepEqual(list.map(({ title, body, tag }) => ({ title, body, tag })),
                    [{ title: 'Bob Stone', body: 'hello <b>Ada</b>', tag: `parley-c${ids.dm.id}` }]);
                assert.deepEqual(list[0].data, { conversation_id: ids.dm.id, message_id: '1' });
            });
            // The worker sets the badge after the notification shows: wait for it rather than race it.
            await eventually('the badge at 1', async () => assert.deepEqual(await badges.read(), [1]));
        });
        await step('a newer burst of the same conversation replaces it: one notification, saying how many', async () => {
            await channel.push(message({ message_id: '2', text: 'are you there?', count: 2, badge: 2 }));
            await eventually('still one notification, the newer one', async () => {
                const list = await shown(ada);
                assert.deepEqual(list.map(({ title, body }) => ({ title, body })),
                    [{ title: 'Bob Stone', body: 'are you there?\n2 new messages' }]);
                assert.equal(list[0].data.message_id, '2');
            });
            await eventually('the badge at 2', async () => assert.deepEqual(await badges.read(), [1, 2]));
        });
        await step('a channel\'s message without a preview: titled with the channel, "3 new messages"', async () => {
            await channel.push(message({
                tag: `parley-c${ids.channel.id}`, conversation_id: ids.channel.id, message_id: '3', conversation_name: 'General',
                conversation_kind: 'channel', text: null, count: 3, badge: 5,
            }));
            await eventually('two notifications', async () => {
                const list = await shown(ada);
                const general = list.find((n) => n.tag === `parley-c${ids.channel.id}`);
                assert.equal(list.length, 2, JSON.stringify(list));
                assert.deepEqual({ title: general.title, body: general.body }, { title: 'General', body: '3 new messages' });
            });
            await channel.push(message({
                tag: `parley-c${ids.channel.id}`, conversation_id: ids.channel.id, message_id: '4', conversation_name: 'General',
                conversation_kind: 'channel', text: null, count: 1, badge: 3,
            }));
            await eventually('"New message" in its place', async () => {
                const general = (await shown(ada)).find((n) => n.tag === `parley-c${ids.channel.id}`);
                assert.equal(general?.body, 'New message');
            });
        });
        await step('a channel\'s message with a preview names its sender', async () => {
            await channel.push(message({
                tag: `parley-c${ids.channel.id}`, conversation_id: ids.channel.id, message_id: '5', conversation_name: 'General',
                conversation_kind: 'channel', text: 'standup in 5', count: 1, badge: 3,
            }));
            await eventually('"Bob Stone: standup in 5"', async () => {
                const general = (await shown(ada)).find((n) => n.tag === `parley-c${ids.channel.id}`);
                assert.equal(general?.body, 'Bob Stone: standup in 5');
            });
        });
        await step('"clear" for the DM closes its notification only, and sets the badge', async () => {
            await channel.push({ v: 1, type: 'clear', id: 'c-1', tag: dmTag, conversation_id: ids.dm.id, badge: 1 });
            await eventually('only "General" left', async () =>
                assert.deepEqual((await shown(ada)).map((n) => n.title), ['General']));
        });
        await step('"clear" for the channel with badge 0: no notification left, the badge cleared', async () => {
            await channel.push({ v: 1, type: 'clear', id: 'c-2', tag: `parley-c${ids.channel.id}`, conversation_id: ids.channel.id, badge: 0 });
            await eventually('none left', async () => assert.deepEqual(await shown(ada), []));
            await eventually('the badge cleared', async () => assert.deepEqual((await badges.read()).slice(-2), [1, 0]));
        });
    });
});

test('notifications: the worker\'s click handler closes the notification and the open page opens its conversation at the message', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [['ada', 'Ada Lovelace'], ['bob', 'Bob Stone']], async (step, ada, bob) => {
        let ids;
        let sent;
        await step('Ada and Bob sign up; Bob writes in "General"; Ada has the DM open', async () => {
            ids = await seed(ada, bob);
            const bobToken = await bob.sessionToken();
            await rest('POST', `/v1/conversations/${ids.channel.id}/join`, bobToken);
            sent = await rest('POST', `/v1/conversations/${ids.channel.id}/messages`, bobToken, { text: 'meeting moved to 3pm' });
            await ada.openConversation(bob.name);
        });
        await step('a push for Bob\'s message shows its notification', async () => {
            await ada.context.grantPermissions(['notifications'], { origin: BASE_URL });
            const channel = await pushChannel(ada);
            await channel.push({
                v: 1, type: 'message', id: 'n-1', tag: `parley-c${ids.channel.id}`, conversation_id: ids.channel.id, message_id: sent.id,
                conversation_name: 'General', conversation_kind: 'channel', sender: { id: ids.bobId, name: 'Bob Stone' },
                text: 'meeting moved to 3pm', count: 1, badge: 1,
            });
            await eventually('the notification', async () => assert.equal((await shown(ada)).length, 1));
        });
        await step('its notificationclick runs in the worker (dispatched from the test, see the file\'s head)', async () => {
            const worker = await serviceWorker(ada);
            await worker.evaluate(async () => {
                const [notification] = await self.registration.getNotifications();
                self.dispatchEvent(new NotificationEvent('notificationclick', { notification }));
            });
        });
        await step('the notification is closed; Ada\'s page shows "General" at Bob\'s message, focused and highlighted', async () => {
            await eventually('no notification', async () => assert.deepEqual(await shown(ada), []));
            await visible('the "General" heading', ada.heading('General'));
            const article = ada.messageLog().locator('article').filter({ has: ada.page.locator('.text', { hasText: 'meeting moved to 3pm' }) });
            await eventually('the message focused', async () => assert.ok(await article.evaluate((el) => el === document.activeElement)));
            assert.ok(await article.evaluate((el) => el.classList.contains('highlight')), 'not highlighted');
            assert.equal(await ada.page.evaluate(() => location.hash), '', 'the link stayed in the address bar');
        });
    });
});

test('notifications: "Notify me on this device" asks permission only when turned on; refused, it says so and stays off', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [['ada', 'Ada Lovelace']], async (step, ada) => {
        await step('Ada signs up and opens Settings: the switch is off', async () => {
            await ada.signUp();
            await openSettings(ada);
            await visible('the switch', notifySwitch(ada));
            assert.equal(await notifySwitch(ada).isChecked(), false);
        });
        await step('turned on with no permission given: the browser refuses (headless refuses what it would ask), the switch says so and stays off', async () => {
            await notifySwitch(ada).click();
            await visible('the refusal', ada.page.getByRole('status').filter({ hasText: /^Notifications are blocked for this site in this browser\./ }));
            assert.equal(await notifySwitch(ada).isChecked(), false);
            assert.equal(await ada.page.evaluate(() => Notification.permission), 'denied');
            await ada.screenshot('notifications-switch-blocked');
        });
    });
});

test('notifications: with permission, "Notify me on this device" subscribes with the server\'s key; refused by Chromium here, it says so', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [['ada', 'Ada Lovelace']], async (step, ada) => {
        await ada.signUp();
        if (!(await serverHas('/v1/push/vapid', await ada.sessionToken()))) {
            t.skip('needs server: GET /v1/push/vapid');
            return;
        }
        const asked = [];
        ada.page.on('request', (request) => {
            if (new URL(request.url()).pathname === '/v1/push/vapid') asked.push('vapid');
        });
        await step('Ada opens Settings: the switch is off', async () => {
            await openSettings(ada);
            await visible('the switch', notifySwitch(ada));
            assert.equal(await notifySwitch(ada).isChecked(), false);
        });
        const posted = [];
        ada.page.on('request', (request) => {
            if (new URL(request.url()).pathname.startsWith('/v1/push/subscriptions') && request.method() !== 'GET') posted.push(request.method());
        });
        await step('with permission, the switch subscribes with the server\'s key; Chromium\'s push service refuses here, and the switch says so', async () => {
            await ada.context.grantPermissions(['notifications'], { origin: BASE_URL });
            await notifySwitch(ada).click();
            await visible('the refusal', ada.page.getByRole('status').filter({ hasText: /^The browser could not subscribe this device to notifications \(.+\)\.$/ }));
            assert.equal(await notifySwitch(ada).isChecked(), false);
            assert.deepEqual(asked, ['vapid'], 'the server\'s key was not asked for');
            assert.deepEqual(posted, [], 'a subscription went to the server');
        });
    });
});

test('notifications: quiet hours are saved with the browser\'s time zone and read back', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [['ada', 'Ada Lovelace', BERLIN]], async (step, ada) => {
        await ada.signUp();
        const token = await ada.sessionToken();
        if (!(await serverHas('/v1/me/notifications', token))) {
            t.skip('needs server: GET and PUT /v1/me/notifications');
            return;
        }
        const form = ada.page.getByRole('form', { name: 'Quiet hours', exact: true });
        await step('Settings shows quiet hours off, in Europe/Berlin', async () => {
            await openSettings(ada);
            await visible('the zone', form.getByText('Times in Europe/Berlin, this browser\'s time zone.', { exact: true }));
            assert.equal(await form.getByRole('checkbox', { name: 'Quiet hours', exact: true }).isChecked(), false);
        });
        await step('22:30 to 06:45, saved: the server has them with the zone', async () => {
            await form.getByRole('checkbox', { name: 'Quiet hours', exact: true }).check();
            await form.getByLabel('From', { exact: true }).fill('22:30');
            await form.getByLabel('To', { exact: true }).fill('06:45');
            await form.getByRole('button', { name: 'Save quiet hours', exact: true }).click();
            await visible('"Quiet hours saved"', form.getByRole('status').filter({ hasText: 'Quiet hours saved: 22:30 to 06:45.' }));
            assert.deepEqual((await rest('GET', '/v1/me/notifications', token)).quiet_hours, { start: '22:30', end: '06:45', time_zone: 'Europe/Berlin' });
        });
        await step('after a reload, Settings shows them again', async () => {
            await ada.page.reload();
            await ada.expectLoggedIn('after a reload');
            await openSettings(ada);
            await eventually('the saved times', async () => {
                assert.equal(await form.getByRole('checkbox', { name: 'Quiet hours', exact: true }).isChecked(), true);
                assert.equal(await form.getByLabel('From', { exact: true }).inputValue(), '22:30');
                assert.equal(await form.getByLabel('To', { exact: true }).inputValue(), '06:45');
            });
        });
        await step('turned off and saved: the server has none', async () => {
            await form.getByRole('checkbox', { name: 'Quiet hours', exact: true }).uncheck();
            await form.getByRole('button', { name: 'Save quiet hours', exact: true }).click();
            await visible('"Quiet hours off."', form.getByRole('status').filter({ hasText: 'Quiet hours off.' }));
            assert.equal((await rest('GET', '/v1/me/notifications', token)).quiet_hours, null);
        });
    });
});

test('notifications: a conversation\'s "Notifications" panel saves all, mentions only or mute, and keeps it after a reload', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [['ada', 'Ada Lovelace'], ['bob', 'Bob Stone']], async (step, ada, bob) => {
        let ids;
        const panel = ada.page.getByRole('region', { name: 'Notifications for this conversation', exact: true });
        const choice = (name) => panel.getByRole('radio', { name, exact: true });
        const open = async (name) => {
            await ada.openConversation(name);
            await ada.page.getByRole('button', { name: 'Notifications', exact: true }).click();
            await visible('the panel', panel);
        };
        const patched = () => ada.page.waitForResponse((r) => r.request().method() === 'PATCH' && r.url().endsWith('/membership'));
        const membership = async (id) => (await rest('GET', `/v1/conversations/${id}`, ids.token)).membership;
        await step('Ada and Bob sign up; Ada has a DM with Bob and a channel "General"', async () => {
            ids = await seed(ada, bob);
        });
        await step('in the channel: all, mentions only and mute, with "Mentions only" chosen and focused', async () => {
            await open('General');
            const names = await panel.getByRole('radio').evaluateAll((radios) => radios.map((r) => r.labels[0].textContent));
            assert.deepEqual(names, ['All messages', 'Mentions only', 'Mute']);
            assert.equal(await choice('Mentions only').isChecked(), true);
            assert.ok(await choice('Mentions only').evaluate((el) => el === document.activeElement), 'the choice has no focus');
            await ada.screenshot('notifications-channel-panel');
        });
        await step('"All messages" is saved: PATCH notify_always true, not muted', async () => {
            const answer = patched();
            await choice('All messages').check();
            const response = await answer;
            assert.deepEqual(response.request().postDataJSON(), { muted: false, notify_always: true });
            assert.equal(response.status(), 200);
            await visible('"Saved"', panel.getByRole('status').filter({ hasText: 'Saved: all messages.' }));
            const saved = await membership(ids.channel.id);
            assert.deepEqual([saved.muted, saved.notify_always], [false, true]);
        });
        await step('after a reload, the channel\'s panel still has "All messages"', async () => {
            await ada.page.reload();
            await ada.expectLoggedIn('after a reload');
            await open('General');
            assert.equal(await choice('All messages').isChecked(), true);
        });
        await step('"Mute" is saved, and kept after a reload', async () => {
            const answer = patched();
            await choice('Mute').check();
            assert.deepEqual((await answer).request().postDataJSON(), { muted: true, notify_always: false });
            await visible('"Saved"', panel.getByRole('status').filter({ hasText: 'Saved: mute.' }));
            await ada.page.reload();
            await ada.expectLoggedIn('after a reload');
            await open('General');
            assert.equal(await choice('Mute').isChecked(), true);
        });
        await step('opening the DM closes the channel\'s panel; the DM offers all or mute, "All messages" chosen', async () => {
            await ada.openConversation(bob.name);
            await gone('the channel\'s panel', panel);
            await ada.page.getByRole('button', { name: 'Notifications', exact: true }).click();
            await visible('the panel', panel);
            const names = await panel.getByRole('radio').evaluateAll((radios) => radios.map((r) => r.labels[0].textContent));
            assert.deepEqual(names, ['All messages', 'Mute']);
            assert.equal(await choice('All messages').isChecked(), true);
        });
        await step('the DM muted, then back to all messages: each saved', async () => {
            let answer = patched();
            await choice('Mute').check();
            await answer;
            assert.equal((await membership(ids.dm.id)).muted, true);
            answer = patched();
            await choice('All messages').check();
            await answer;
            const saved = await membership(ids.dm.id);
            assert.deepEqual([saved.muted, saved.notify_always], [false, true]);
        });
        await step('Escape closes the panel and gives the focus back to "Notifications"', async () => {
            await choice('All messages').focus();
            await ada.page.keyboard.press('Escape');
            await gone('the panel', panel);
            const button = ada.page.getByRole('button', { name: 'Notifications', exact: true });
            assert.ok(await button.evaluate((el) => el === document.activeElement), 'the focus is not on "Notifications"');
        });
    });
});

test('notifications: axe finds no violation in Settings or a conversation\'s "Notifications" panel, light and dark', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [['ada', 'Ada Lovelace'], ['bob', 'Bob Stone']], async (step, ada, bob) => {
        const found = [];
        await step('Ada and Bob sign up; Ada has a DM with Bob and a channel "General"', async () => {
            await seed(ada, bob);
        });
        for (const theme of ['light', 'dark']) {
            await step(`${theme}: Settings, with the switch refused and its message`, async () => {
                await ada.page.emulateMedia({ colorScheme: theme });
                const panel = await openSettings(ada);
                await visible('the switch', notifySwitch(ada));
                if (theme === 'light') {
                    await notifySwitch(ada).click();
                    await visible('the refusal', panel.getByRole('status').filter({ hasText: /^Notifications are blocked/ }));
                }
                await ada.page.waitForLoadState('networkidle');
                await audit(ada.page, `${theme} notifications settings`, found);
                await ada.page.getByRole('button', { name: 'Settings', exact: true }).click();
                await gone('the Settings panel', panel);
            });
            await step(`${theme}: the channel's "Notifications" panel`, async () => {
                await ada.openConversation('General');
                await ada.page.getByRole('button', { name: 'Notifications', exact: true }).click();
                await visible('the panel', ada.page.getByRole('region', { name: 'Notifications for this conversation', exact: true }));
                await audit(ada.page, `${theme} conversation notifications`, found);
                await ada.page.keyboard.press('Escape');
            });
        }
        assertNoViolations(found);
    });
});
