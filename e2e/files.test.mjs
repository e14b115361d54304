// Browser tests of files, against a real `parley` server at PARLEY_URL (run them with `bash scripts/e2e`):
// attaching with "Attach files", a drop on the conversation and a paste into the composer; the chips above the
// composer with their size, progress and "Remove" (which aborts the upload and deletes it); a message of files
// alone; previews that keep their room while they load, a box while a preview is made (until
// `message.updated`), the viewer; file cards with "Download"; the server's refusals beside their chip; the
// avatar through the same uploads. Each state is checked with axe (light and dark). Screenshots go to
// target/e2e/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { assertNoViolations, audit, BASE_URL, eventually, gone, png, rest, sharedBrowser, uploadFile, visible } from './lib.mjs';

const TEST_TIMEOUT = 90_000;
const ADA = ['ada', 'Ada Lovelace'];
const BOB = ['bob', 'Bob Stone'];
const { withPeople } = sharedBrowser();

/// The open conversation's message article that shows `text` (or, with no text, the last one).
function article(user, text) {
    const articles = user.messageLog().locator('article');
    return text === undefined ? articles.last() : articles.filter({ has: user.page.locator('.text', { hasText: text }) });
}

function draftList(user) {
    return user.page.getByRole('list', { name: 'Files to send', exact: true });
}

/// The chip of a file waiting above the composer.
function chip(user, name) {
    return draftList(user).getByRole('listitem').filter({ has: user.page.getByText(name, { exact: true }) });
}

function sendButton(user) {
    return user.page.getByRole('button', { name: 'Send', exact: true });
}

/// Holds the page's requests matching `pattern` until `release()`; `requests` are those held so far.
async function hold(page, pattern) {
    let release;
    const gate = new Promise((resolve) => {
        release = resolve;
    });
    const requests = [];
    const handler = async (route) => {
        requests.push(route.request());
        await gate;
        await route.continue().catch(() => {}); // aborted meanwhile
    };
    await page.route(pattern, handler);
    return {
        requests,
        async release() {
            release();
            await page.unroute(pattern, handler);
        },
    };
}

/// Drops files on the conversation's log, as a drag from the desktop does: `files` are {name, type, base64}.
async function dropFiles(user, files) {
    await user.messageLog().evaluate((log, list) => {
        const transfer = new DataTransfer();
        for (const f of list) {
            const bytes = f.size ? new Uint8Array(f.size) : Uint8Array.from(atob(f.base64), (c) => c.charCodeAt(0));
            transfer.items.add(new File([bytes], f.name, { type: f.type }));
        }
        for (const type of ['dragenter', 'dragover', 'drop']) {
            log.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: transfer }));
        }
    }, files);
}

/// Pastes a file into the composer, as pasting a screenshot does.
async function pasteFile(user, { name, type, base64 }) {
    await user.composer().evaluate((composer, f) => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([Uint8Array.from(atob(f.base64), (c) => c.charCodeAt(0))], f.name, { type: f.type }));
        composer.dispatchEvent(new ClipboardEvent('paste', { bubbles: true, cancelable: true, clipboardData: transfer }));
    }, { name, type, base64 });
}

/// Whether "Send" is greyed (aria-disabled: it keeps the focus, which `disabled` would drop).
async function sendGreyed(user) {
    return (await sendButton(user).getAttribute('aria-disabled')) === 'true';
}

/// Ada and Bob in a DM that both have open, after Ada's "hello".
async function openDm(ada, bob) {
    await ada.signUp();
    await bob.signUp();
    await ada.openDmWith(bob);
    await ada.send('hello');
    await ada.expectMessage('hello', { state: 'sent' });
    await visible('the DM in Bob\'s list', bob.conversationButton(ada.name));
    await bob.openConversation(ada.name);
    await bob.expectMessage('hello');
}

/// Runs axe on the page in light and dark.
async function auditBoth(page, screen, found) {
    await audit(page, `files light ${screen}`, found);
    await page.emulateMedia({ colorScheme: 'dark' });
    try {
        await audit(page, `files dark ${screen}`, found);
    } finally {
        await page.emulateMedia({ colorScheme: 'light' });
    }
}

test('files: "Attach files", a drop and a paste; chips with size, progress and Remove; files alone sent; previews and file cards on the other side', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB], async (step, ada, bob) => {
        const found = [];
        await step('Ada and Bob sign up and open their DM', () => openDm(ada, bob));
        const token = await ada.sessionToken();
        const big = randomBytes(1_500_000);
        const cdp = await ada.context.newCDPSession(ada.page);
        await step('"Attach files" opens a file picker; each file chosen shows as a chip with its name and size, a progress bar that moves while it uploads, and Send greyed meanwhile', async () => {
            // Uploads slowed to 256 KB/s (Chromium's network emulation), so that one of 1.5 MB takes seconds.
            await cdp.send('Network.enable');
            await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 256 * 1024 });
            const chooser = ada.page.waitForEvent('filechooser');
            await ada.page.getByRole('button', { name: 'Attach files', exact: true }).click();
            const picker = await chooser;
            assert.ok(picker.isMultiple(), 'the file picker takes one file only');
            await picker.setFiles([
                { name: 'photo.png', mimeType: 'image/png', buffer: png(640, 480) },
                { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('twelve bytes') },
                { name: 'big.bin', mimeType: 'application/octet-stream', buffer: big },
            ]);
            await visible('the "Files to send" list', draftList(ada));
            await visible('"notes.txt" with its size', chip(ada, 'notes.txt').getByText('12 B', { exact: true }));
            await visible('"big.bin" with its size', chip(ada, 'big.bin').getByText('1.5 MB', { exact: true }));
            const bar = ada.page.getByRole('progressbar', { name: 'Uploading big.bin', exact: true });
            await visible('the progress bar of big.bin', bar);
            await eventually('big.bin\'s progress is under way (more than 0, less than all)', async () => {
                const value = Number(await bar.getAttribute('value'));
                assert.ok(value > 0 && value < 1, `the progress is ${value}`);
            });
            assert.ok(await sendGreyed(ada), 'Send is not greyed while a file uploads');
            await visible('the status line', ada.page.getByRole('status').filter({ hasText: 'Uploading 1 file… Send once it is done.' }));
            await ada.screenshot('files-uploading');
            await auditBoth(ada.page, 'composer with files uploading', found);
        });
        await step('"Remove" on a file still uploading aborts it and deletes the upload on the server; the focus moves to the next chip', async () => {
            const deleted = ada.page.waitForResponse((r) => r.request().method() === 'DELETE' && /\/v1\/uploads\/\d+$/.test(new URL(r.url()).pathname));
            await chip(ada, 'big.bin').getByRole('button', { name: 'Remove big.bin', exact: true }).click();
            const response = await deleted;
            assert.equal(response.status(), 204);
            const bigId = new URL(response.url()).pathname.split('/').pop();
            await gone('the chip of big.bin', chip(ada, 'big.bin'));
            await assert.rejects(rest('GET', `/v1/uploads/${bigId}`, token), /404/);
            assert.ok(await chip(ada, 'notes.txt').getByRole('button', { name: 'Remove notes.txt', exact: true }).evaluate((b) => b === document.activeElement),
                'the focus is not on the chip before');
            await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
            await eventually('the others are uploaded and Send is no longer greyed', async () => {
                assert.equal(await ada.page.getByRole('progressbar').count(), 0);
                assert.equal(await sendGreyed(ada), false);
            });
        });
        const pasted = png(120, 90).toString('base64');
        await step('a file dropped on the conversation and a picture pasted into the composer join them', async () => {
            await dropFiles(ada, [{ name: 'dropped.csv', type: 'text/csv', base64: Buffer.from('a,b\n1,2\n').toString('base64') }]);
            await visible('the chip of dropped.csv', chip(ada, 'dropped.csv'));
            await pasteFile(ada, { name: 'pasted.png', type: 'image/png', base64: pasted });
            await visible('the chip of pasted.png', chip(ada, 'pasted.png'));
            assert.equal(await ada.composer().inputValue(), '', 'the paste put text in the composer');
            await eventually('four files, uploaded', async () => {
                assert.equal(await draftList(ada).getByRole('listitem').count(), 4);
                assert.equal(await ada.page.getByRole('progressbar').count(), 0);
                assert.equal(await sendGreyed(ada), false);
            });
        });
        await step('Send with no text sends the files alone; the chips go', async () => {
            await sendButton(ada).click();
            await gone('the chips', draftList(ada));
            const message = article(ada);
            await visible('the picture "photo.png"', message.getByRole('button', { name: 'View photo.png', exact: true }));
            await eventually('the message is sent', async () => assert.equal(await message.getAttribute('data-state'), 'sent'));
            assert.equal((await message.locator('.text').innerText()).trim(), '');
        });
        await step('Bob sees the pictures as previews and the other files as cards (type, name, size, Download), live', async () => {
            const message = article(bob);
            await visible('the preview of photo.png', message.getByRole('button', { name: 'View photo.png', exact: true }).getByRole('img', { name: 'photo.png', exact: true }));
            await visible('the preview of pasted.png', message.getByRole('button', { name: 'View pasted.png', exact: true }));
            const card = message.locator('.file-card').filter({ hasText: 'notes.txt' });
            await visible('the card of notes.txt', card);
            assert.equal(await card.locator('.file-type').innerText(), 'TXT');
            await visible('its size', card.getByText('12 B', { exact: true }));
            await visible('the card of dropped.csv', message.locator('.file-card').filter({ hasText: 'dropped.csv' }));
            const download = card.getByRole('link', { name: 'Download notes.txt', exact: true });
            await eventually('the Download link has its signed URL', async () =>
                assert.match(await download.getAttribute('href'), /\/v1\/files\/\d+\?expires=\d+&org=\d+&signature=/));
            await visible('"📎 photo.png and 3 more" in Bob\'s list', bob.conversationButton(ada.name).filter({ hasText: '📎 photo.png and 3 more' }));
            await auditBoth(bob.page, 'log with previews and file cards', found);
        });
        await step('Download gives Bob the file, under its name', async () => {
            const downloading = bob.page.waitForEvent('download');
            await article(bob).getByRole('link', { name: 'Download notes.txt', exact: true }).click();
            const download = await downloading;
            assert.equal(download.suggestedFilename(), 'notes.txt');
            assert.equal(await readFile(await download.path(), 'utf8'), 'twelve bytes');
        });
        assertNoViolations(found);
    });
});

test('pictures keep their room while they load; one sent before its preview shows a box until message.updated; the viewer', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB], async (step, ada, bob) => {
        const found = [];
        // Bob's socket holds back `message.updated` while `holdUpdates` is set, so that the box shown before a
        // preview is made can be seen however fast the server makes it.
        let holdUpdates = false;
        const held = [];
        let client = null;
        await bob.page.routeWebSocket(/\/v1\/ws$/, (ws) => {
            const server = ws.connectToServer();
            client = ws;
            server.onMessage((message) => {
                if (holdUpdates && typeof message === 'string' && JSON.parse(message).type === 'message.updated') held.push(message);
                else ws.send(message);
            });
        });
        await step('Ada and Bob sign up and open their DM', () => openDm(ada, bob));
        const token = await ada.sessionToken();
        const dm = (await rest('GET', '/v1/conversations', token)).conversations.find((c) => c.kind === 'dm');
        let wide = null;
        await step('a picture whose preview is made: Bob\'s log keeps its room (320 × 160 for 800 × 400) while it loads, and the message\'s height stays when it has', async () => {
            wide = await uploadFile(token, 'wide.png', png(800, 400), 'image/png');
            await eventually('the preview is made', async () => {
                const { links } = await rest('POST', '/v1/files/links', token, { ids: [wide.id] });
                assert.ok(links[0].thumbnail_url, 'no thumbnail_url yet');
            });
            const thumbnails = await hold(bob.page, /\/v1\/files\/\d+\/thumbnail\?/);
            await rest('POST', `/v1/conversations/${dm.id}/messages`, token, { text: 'the plan', attachments: [wide.id] });
            const message = article(bob, 'the plan');
            const image = message.getByRole('img', { name: 'wide.png', exact: true });
            await visible('the preview', image);
            await eventually('the preview is asked for', async () => assert.equal(thumbnails.requests.length, 1));
            assert.equal(await image.evaluate((img) => img.naturalWidth), 0, 'the preview loaded before it was let through');
            const before = await message.boundingBox();
            const box = await image.boundingBox();
            assert.deepEqual([Math.round(box.width), Math.round(box.height)], [320, 160]);
            await thumbnails.release();
            await eventually('the preview has loaded', async () => assert.equal(await image.evaluate((img) => img.complete && img.naturalWidth), 400));
            const after = await message.boundingBox();
            assert.equal(after.height, before.height, 'the message changed height when its picture loaded');
            assert.equal(after.y, before.y, 'the message moved when its picture loaded');
        });
        await step('activating the preview opens the viewer: a dialog named after the file, the picture at full size; Escape and Close put the focus back on the preview', async () => {
            const preview = article(bob, 'the plan').getByRole('button', { name: 'View wide.png', exact: true });
            await preview.click();
            const dialog = await visible('the viewer', bob.page.getByRole('dialog', { name: 'wide.png', exact: true }));
            const image = dialog.getByRole('img', { name: 'wide.png', exact: true });
            await eventually('the full picture has loaded', async () => assert.equal(await image.evaluate((img) => img.complete && img.naturalWidth), 800));
            const src = new URL(await image.getAttribute('src'));
            assert.equal(src.pathname, `/v1/files/${wide.id}`);
            await visible('its Download link', dialog.getByRole('link', { name: 'Download wide.png', exact: true }));
            await bob.screenshot('files-viewer');
            await auditBoth(bob.page, 'viewer', found);
            await bob.page.keyboard.press('Escape');
            await gone('the viewer', dialog);
            assert.ok(await preview.evaluate((el) => el === document.activeElement), 'the focus is not back on the preview');
            await bob.page.keyboard.press('Enter');
            await visible('the viewer again', dialog);
            await dialog.getByRole('button', { name: 'Close', exact: true }).click();
            await gone('the viewer', dialog);
            assert.ok(await preview.evaluate((el) => el === document.activeElement), 'the focus is not back on the preview after Close');
        });
        await step('a picture sent the moment its upload completes has no preview yet: a box of fixed size shows until message.updated brings it', async () => {
            holdUpdates = true;
            const upload = await uploadFile(token, 'fresh.png', png(3000, 2000), 'image/png');
            const sent = await rest('POST', `/v1/conversations/${dm.id}/messages`, token, { text: 'fresh one', attachments: [upload.id] });
            assert.equal(sent.attachments[0].thumbnail, undefined, 'the preview was made before the message was sent: this step cannot show the box');
            const message = article(bob, 'fresh one');
            const box = message.locator('.picture-pending');
            await visible('the box', box);
            await visible('"Preparing preview…"', box.getByText('Preparing preview…', { exact: true }));
            const size = await box.boundingBox();
            assert.deepEqual([Math.round(size.width), Math.round(size.height)], [320, 240]);
            await eventually('message.updated reaches Bob\'s socket', async () => assert.ok(held.length > 0), { timeout: 30_000 });
            await bob.screenshot('files-preview-pending');
            await auditBoth(bob.page, 'log with a picture being previewed', found);
            const updated = held.map((frame) => JSON.parse(frame)).find((f) => f.message.id === sent.id);
            assert.ok(updated, 'no message.updated for the message');
            const { width, height, thumbnail } = updated.message.attachments[0];
            assert.deepEqual([width, height], [3000, 2000]);
            holdUpdates = false;
            for (const frame of held.splice(0)) client.send(frame);
            await visible('the preview', message.getByRole('button', { name: 'View fresh.png', exact: true }));
            await gone('the box', box);
            // The preview's room: its size scaled to fit 320 × 240.
            const image = message.getByRole('img', { name: 'fresh.png', exact: true });
            const scale = Math.min(1, 320 / thumbnail.width, 240 / thumbnail.height);
            assert.deepEqual([await image.getAttribute('width'), await image.getAttribute('height')],
                [String(Math.round(thumbnail.width * scale)), String(Math.round(thumbnail.height * scale))]);
            await visible('the preview on Ada\'s side too', article(ada, 'fresh one').getByRole('button', { name: 'View fresh.png', exact: true }));
        });
        assertNoViolations(found);
    });
});

test('the server\'s refusals show beside their chip, never as an alert box; file names stay text', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA, BOB], async (step, ada, bob) => {
        const found = [];
        const dialogs = [];
        for (const user of [ada, bob]) user.page.on('dialog', (d) => {
            dialogs.push(d.message());
            d.dismiss().catch(() => {});
        });
        await step('Ada and Bob sign up and open their DM', () => openDm(ada, bob));
        const token = await ada.sessionToken();
        const tooLarge = 101 * 1024 * 1024;
        await step('a file over the server\'s limit (413): its chip says what the server said; Send stays greyed until it is removed', async () => {
            const answer = await fetch(`${BASE_URL}/v1/uploads`, {
                method: 'POST',
                headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
                body: JSON.stringify({ name: 'huge.bin', size: tooLarge }),
            });
            assert.equal(answer.status, 413);
            const { error } = await answer.json();
            await dropFiles(ada, [{ name: 'huge.bin', type: 'application/octet-stream', size: tooLarge }]);
            const huge = chip(ada, 'huge.bin');
            await visible('the server\'s message beside the chip', huge.getByText(error.message, { exact: true }));
            const remove = huge.getByRole('button', { name: 'Remove huge.bin', exact: true });
            const description = await remove.evaluate((b) => b.getAttribute('aria-describedby').split(' ').map((id) => document.getElementById(id)?.textContent).join(' '));
            assert.equal(description, error.message, '"Remove" is not described by the error');
            await visible('the status line', ada.page.getByRole('status').filter({ hasText: 'Remove the file that could not be uploaded to send.' }));
            assert.ok(await sendGreyed(ada));
            assert.equal(await ada.page.getByRole('alert').filter({ hasText: error.message }).count(), 0, 'the error is an alert');
            assert.deepEqual(dialogs, []);
            await ada.composer().fill('can this go?');
            await ada.composer().press('Enter');
            assert.equal(await ada.composer().inputValue(), 'can this go?', 'a message was sent while a file failed');
            await ada.screenshot('files-refused');
            await auditBoth(ada.page, 'composer with a refused file', found);
            await remove.click();
            await gone('the chip', huge);
            assert.equal(await sendGreyed(ada), false);
            await ada.composer().fill('');
        });
        const name = '<img src=x onerror=alert(1)>.txt';
        await step('a file named like HTML, sent with text like HTML: both show as typed, and nothing runs', async () => {
            await dropFiles(ada, [{ name, type: 'text/plain', base64: Buffer.from('<b>hi</b>').toString('base64') }]);
            await visible('its chip', chip(ada, name));
            await eventually('it is uploaded', async () => assert.equal(await sendGreyed(ada), false));
            await ada.send('<b>not bold</b>');
            const message = article(bob, '<b>not bold</b>');
            await visible('the card, named as typed', message.locator('.file-card').getByText(name, { exact: true }));
            assert.equal(await message.locator('.attachments img, .text b').count(), 0, 'HTML was parsed');
            assert.deepEqual(dialogs, []);
        });
        assertNoViolations(found);
    });
});

test('the avatar in Settings goes through an upload, with its progress, then PUT /v1/users/me/avatar {upload_id}', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [ADA], async (step, ada) => {
        const found = [];
        await step('Ada signs up and makes a channel', async () => {
            await ada.signUp();
            await rest('POST', '/v1/conversations', await ada.sessionToken(), { kind: 'channel', name: 'Faces', handle: `faces-${Date.now()}` });
            await visible('the channel in the list', ada.conversationButton('Faces'));
        });
        await step('choosing an avatar uploads it with a progress bar, then makes it the avatar', async () => {
            const asked = [];
            ada.page.on('request', (r) => {
                const path = new URL(r.url()).pathname;
                if (path.startsWith('/v1/uploads') || path === '/v1/users/me/avatar') asked.push({ method: r.method(), path, type: r.headers()['content-type'], body: r.postData() });
            });
            const parts = await hold(ada.page, /\/v1\/uploads\/\d+\/parts\/\d+$/);
            await ada.page.getByRole('button', { name: 'Settings', exact: true }).click();
            const panel = await visible('the Settings panel', ada.page.getByRole('region', { name: 'Settings', exact: true }));
            await panel.getByLabel('Avatar', { exact: true }).setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: png(300, 300) });
            await visible('the progress bar', panel.getByRole('progressbar', { name: 'Uploading avatar', exact: true }));
            await visible('"Uploading…"', panel.getByRole('status').filter({ hasText: 'Uploading…' }));
            await eventually('the part is on its way', async () => assert.equal(parts.requests.length, 1));
            await auditBoth(ada.page, 'settings with an avatar uploading', found);
            await parts.release();
            await visible('"Avatar updated."', panel.getByRole('status').filter({ hasText: 'Avatar updated.' }));
            await gone('the progress bar', panel.getByRole('progressbar'));
            const id = asked.find((r) => r.path.endsWith('/complete'))?.path.split('/')[3];
            assert.ok(id, `no upload was made and completed: ${JSON.stringify(asked.map((r) => `${r.method} ${r.path}`))}`);
            assert.deepEqual(asked.map((r) => `${r.method} ${r.path}`), [
                'POST /v1/uploads', `PUT /v1/uploads/${id}/parts/1`, `POST /v1/uploads/${id}/complete`, 'PUT /v1/users/me/avatar',
            ]);
            const avatar = asked[asked.length - 1];
            assert.equal(avatar.type, 'application/json');
            assert.deepEqual(JSON.parse(avatar.body), { upload_id: id });
            const me = await rest('GET', '/v1/users/me', await ada.sessionToken());
            assert.ok(me.avatar_url, 'no avatar_url');
            await visible('the new avatar in Settings', panel.locator('#settings-avatar img'));
        });
        assertNoViolations(found);
    });
});
