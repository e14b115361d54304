// Browser tests of editing messages, against a real `parley` server at PARLEY_URL (run them with
// `bash scripts/e2e`): Up in an empty composer edits one's last message in place, Escape cancels, Enter saves;
// "Edit" in a message's tools; the edit shows live in the other person's browser with "(edited)", which opens
// the earlier versions. Screenshots go to target/e2e/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, gone, sharedBrowser, visible } from './lib.mjs';

const TEST_TIMEOUT = 60_000;
const { withPeople } = sharedBrowser();

/// The open conversation's message article that shows `text`.
function article(user, text) {
    return user.messageLog().locator('article').filter({ has: user.page.locator('.text', { hasText: text }) });
}

test('Up edits the last message in place, Escape cancels, Enter saves; the edit shows live with its history', { timeout: TEST_TIMEOUT }, async (t) => {
    await withPeople(t, [['ada', 'Ada Lovelace'], ['bob', 'Bob Stone']], async (step, ada, bob) => {
        await step('Ada and Bob sign up; Ada says "first draft" and "second" in a DM; Bob opens it', async () => {
            await ada.signUp();
            await bob.signUp();
            await ada.openDmWith(bob);
            await ada.send('first draft');
            await ada.send('second');
            await ada.expectMessage('second', { state: 'sent' });
            await visible('the DM in Bob\'s list', bob.conversationButton(ada.name));
            await bob.openConversation(ada.name);
            await bob.expectMessage('second');
            await bob.markPage();
        });
        const editor = ada.messageLog().getByRole('textbox', { name: 'Edit message', exact: true });
        await step('Up in the empty composer turns "second" into an editor holding its text, focused', async () => {
            await ada.composer().focus();
            await ada.page.keyboard.press('ArrowUp');
            await visible('the "Edit message" box', editor);
            assert.equal(await editor.inputValue(), 'second');
            assert.ok(await editor.evaluate((el) => el === document.activeElement), 'the editor has no focus');
            assert.ok(await editor.evaluate((el) => el.closest('article').querySelector('.author').textContent === 'Ada Lovelace'));
            await ada.screenshot('editing-editor');
        });
        await step('Escape cancels: the text is back, unchanged, and the focus is in the composer again', async () => {
            await ada.page.keyboard.type(' changed');
            await ada.page.keyboard.press('Escape');
            await gone('the editor', editor);
            await ada.expectMessage('second', { state: 'sent' });
            assert.ok(await ada.composer().evaluate((el) => el === document.activeElement), 'the composer has no focus');
        });
        await step('Up again, Shift+Enter adds a line, Enter saves: "second, edited" with "(edited)"', async () => {
            await ada.page.keyboard.press('ArrowUp');
            await visible('the editor', editor);
            await ada.page.keyboard.type(', edited');
            await ada.page.keyboard.press('Shift+Enter');
            await ada.page.keyboard.type('with a line');
            assert.equal(await editor.inputValue(), 'second, edited\nwith a line');
            await ada.page.keyboard.press('Enter');
            await gone('the editor', editor);
            await ada.expectMessage('second, edited\nwith a line');
            await visible('"(edited)" on Ada\'s side', article(ada, 'second, edited').getByRole('button', { name: /^\(edited\) ?, / }));
        });
        await step('Bob sees the edit live, without a reload, with "(edited)" naming when', async () => {
            await bob.expectMessage('second, edited\nwith a line');
            const mark = article(bob, 'second, edited').getByRole('button', { name: /^\(edited\) ?, / });
            await visible('"(edited)" on Bob\'s side', mark);
            assert.match(await mark.getAttribute('title'), /^Edited \w+day, /);
            await bob.expectSamePage();
            assert.equal(await article(bob, 'second, edited').getByRole('button', { name: 'Edit', exact: true }).count(), 0, 'Bob may edit Ada\'s message');
        });
        await step('"Edit" in the tools of "first draft": the editor; Enter saves "first, final"', async () => {
            await article(ada, 'first draft').hover();
            await article(ada, 'first draft').getByRole('toolbar', { name: 'Message tools', exact: true }).getByRole('button', { name: 'Edit', exact: true }).click();
            await visible('the editor', editor);
            await editor.fill('first, final');
            await editor.press('Enter');
            await ada.expectMessage('first, final');
            await bob.expectMessage('first, final');
        });
        await step('Bob clicks "(edited)": a dialog lists the earlier version and the text now; Escape closes it', async () => {
            const mark = article(bob, 'second, edited').getByRole('button', { name: /^\(edited\) ?, / });
            await mark.click();
            const dialog = await visible('the "Earlier versions" dialog', bob.page.getByRole('dialog', { name: 'Earlier versions', exact: true }));
            await visible('"1 earlier version"', dialog.getByText('1 earlier version', { exact: true }));
            await eventually('the versions', async () => assert.deepEqual(
                await dialog.getByRole('listitem').locator('.text').allInnerTexts(),
                ['second', 'second, edited\nwith a line'],
            ));
            await bob.screenshot('editing-history');
            await bob.page.keyboard.press('Escape');
            await gone('the dialog', dialog);
            assert.ok(await mark.evaluate((el) => el === document.activeElement), 'the focus did not go back to "(edited)"');
        });
    });
});
