// Browser tests of links to messages, against a real `parley` server at PARLEY_URL (run them with
// `bash scripts/e2e`): "Copy link" puts `<origin>/#/c/CONVERSATION/m/MESSAGE` on the clipboard, or shows it
// selected in a dialog when the page may not use the clipboard; opening such a link, or following it in an
// open page, opens the conversation at that message, loading it (`?around=`) when it is far back.
// Screenshots go to target/e2e/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, eventually, gone, rest, sharedBrowser, visible } from './lib.mjs';

const TEST_TIMEOUT = 90_000;
const { withPeople } = sharedBrowser();
const CLIPBOARD = { viewport: { width: 1000, height: 700 }, permissions: ['clipboard-read', 'clipboard-write'] };

/// The open conversation's message article whose text is exactly `text`.
function article(user, text) {
    return user.messageLog().locator('article').filter({ has: user.page.locator('.text', { hasText: new RegExp(`^${text}$`) }) });
}

/// The "Copy link" button of the message showing `text`.
function copyLink(user, text) {
    return article(user, text).getByRole('toolbar', { name: 'Message tools', exact: true }).getByRole('button', { name: 'Copy link', exact: true });
}

/// Whether the message showing `text` has the focus and is highlighted.
async function focusedAndHighlighted(user, text) {
    return article(user, text).evaluate((el) => el === document.activeElement && el.classList.contains('highlight'));
}

test('"Copy link" copies a message link (or shows it); opening the link jumps to the message, loaded around it', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [['ada', 'Ada Lovelace', CLIPBOARD], ['bob', 'Bob Stone']], async (step, ada, bob) => {
        const ids = [];
        let dm;
        await step('Ada and Bob sign up; Ada opens a DM with Bob and posts "message 1" to "message 300"', async () => {
            await ada.signUp();
            await bob.signUp();
            const token = await ada.sessionToken();
            const bobId = (await rest('GET', '/v1/users/me', await bob.sessionToken())).id;
            dm = await rest('POST', '/v1/conversations', token, { kind: 'dm', members: [bobId] });
            for (let i = 1; i <= 300; i++) ids.push((await rest('POST', `/v1/conversations/${dm.id}/messages`, token, { text: `message ${i}` })).id);
            await visible('the DM in Ada\'s list', ada.conversationButton(bob.name));
            await ada.openConversation(bob.name);
            await ada.expectMessage('message 300');
        });
        const link = (i) => `${BASE_URL}/#/c/${dm.id}/m/${ids[i - 1]}`;
        await step('Ada\'s "Copy link" on "message 300" puts its link on the clipboard and says so', async () => {
            await article(ada, 'message 300').hover();
            await copyLink(ada, 'message 300').click();
            await visible('"Link copied."', ada.page.getByRole('status').filter({ hasText: 'Link copied.' }));
            assert.equal(await ada.page.evaluate(() => navigator.clipboard.readText()), link(300));
        });
        await step('Bob\'s page may not use the clipboard: "Copy link" shows the link selected in a dialog', async () => {
            await bob.openConversation(ada.name);
            await bob.expectMessage('message 300');
            await bob.page.evaluate(() => {
                navigator.clipboard.writeText = () => Promise.reject(new DOMException('Write permission denied.', 'NotAllowedError'));
            });
            await article(bob, 'message 299').hover();
            await copyLink(bob, 'message 299').click();
            const dialog = await visible('the "Link to this message" dialog', bob.page.getByRole('dialog', { name: 'Link to this message', exact: true }));
            const field = dialog.getByRole('textbox', { name: 'Link', exact: true });
            assert.equal(await field.inputValue(), link(299));
            assert.ok(await field.evaluate((el) => el === document.activeElement && el.selectionStart === 0 && el.selectionEnd === el.value.length),
                'the link is not selected');
            await bob.screenshot('permalinks-fallback');
            await bob.page.keyboard.press('Escape');
            await gone('the dialog', dialog);
        });
        await step('Bob opens the link of "message 5", far back: the DM opens there, focused and highlighted', async () => {
            const around = [];
            bob.page.on('request', (request) => {
                if (request.url().includes('around=')) around.push(new URL(request.url()).searchParams.get('around'));
            });
            await bob.page.goto(link(5));
            await bob.expectLoggedIn('after opening the link');
            await visible('"message 5"', article(bob, 'message 5'));
            await eventually('"message 5" focused and highlighted', async () => assert.ok(await focusedAndHighlighted(bob, 'message 5')));
            assert.equal(await bob.page.evaluate(() => location.hash), '', 'the link stays in the address bar');
            assert.deepEqual(around, [ids[4]], 'not loaded with ?around=');
            await bob.screenshot('permalinks-opened');
        });
        await step('scrolling down from there loads the newer messages, up to "message 300", with no gap', async () => {
            assert.ok(await article(bob, 'message 300').count() === 0, '"message 300" is still shown');
            await eventually('"message 300" loaded by scrolling down', async () => {
                await bob.messageLog().evaluate((log) => { log.scrollTop = log.scrollHeight; });
                assert.equal(await article(bob, 'message 300').count(), 1);
            }, { timeout: 30_000 });
            const shown = (await bob.messages()).map((m) => Number(m.text.split(' ')[1]));
            assert.deepEqual(shown, [...shown].sort((a, b) => a - b), 'messages out of order');
            for (let i = 1; i < shown.length; i++) assert.equal(shown[i], shown[i - 1] + 1, `a gap after message ${shown[i - 1]}`);
        });
        await step('a link followed in the open page (the fragment changes) jumps to "message 290"', async () => {
            await bob.markPage();
            await bob.page.evaluate((hash) => { location.hash = hash; }, `#/c/${dm.id}/m/${ids[289]}`);
            await eventually('"message 290" focused and highlighted', async () => assert.ok(await focusedAndHighlighted(bob, 'message 290')));
            await bob.expectSamePage();
        });
    });
});
