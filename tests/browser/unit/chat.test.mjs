// SDK unit tests for chat bookkeeping (sdk/chat.js) against a scripted request function: each
// message reaches the app once and in seq order whether it comes as an event, an ack or a sync
// copy; a gap triggers a sync from the last seq held; sends retry with the same client_msg_id;
// typing refreshes while the user types and stops by itself.
import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { Chat, TYPING_IDLE_MS, TYPING_REFRESH_MS } from '../../../web-client/sdk/chat.js';

/** @param {number} seq @param {string} [sender] @param {string} [conversation] */
const msg = (seq, sender = 'bob', conversation = 'CV_1') => ({
  id: `MS_${conversation}_${seq}`, conversation, seq, version: seq, sender, client_msg_id: null, text: `m${seq}`,
  attachments: [], reply_to: null, created_at: seq, edited_at: null, deleted_at: null, reactions: {},
});

/**
 * A Chat whose requests go to `answer` (by type) and whose events are recorded.
 * @param {Record<string, (fields: any) => any>} answers
 */
function harness(answers = {}) {
  /** @type {{type: string, fields: any}[]} */
  const requests = [];
  /** @type {[string, any][]} */
  const events = [];
  const chat = new Chat({
    request: async (type, fields) => {
      requests.push({ type, fields });
      const answer = answers[type];
      if (!answer) return { type: 'ok' };
      return answer(fields);
    },
    emit: (name, payload) => events.push([name, payload]),
    fetch: async () => new Response(''),
    fail: (err) => { throw err; },
  });
  const seqs = () => events.filter(([n]) => n === 'message').map(([, m]) => m.seq);
  return { chat, requests, events, seqs };
}

const conversations = (lastSeq = 2) => ({
  chat_conversations: () => ({ conversations: [{ id: 'CV_1', kind: 'room', title: null, room: 'r', last_seq: lastSeq, last_version: lastSeq, muted: false, delivered_up_to: 0, read_up_to: 0 }] }),
});

test('the first connect starts each conversation at its head; later events are handed on once, in order', async () => {
  const h = harness(conversations(2));
  await h.chat.connected('alice');
  assert.equal(h.chat.enabled, true);
  h.chat.handle({ type: 'chat_message', message: msg(2) }); // already counted in the head
  h.chat.handle({ type: 'chat_message', message: msg(3) });
  h.chat.handle({ type: 'chat_message', message: msg(3) });
  h.chat.handle({ type: 'chat_message', message: msg(4) });
  assert.deepEqual(h.seqs(), [3, 4]);
  h.chat.reset();
});

test('a gap holds later messages and syncs from the last seq held; the sync fills it without duplicates', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  try {
    const h = harness({
      ...conversations(1),
      chat_sync: (f) => {
        assert.deepEqual(f.cursors, [{ conversation: 'CV_1', after_seq: 2, after_version: 1 }]);
        return { batches: [{ conversation: 'CV_1', messages: [msg(3), msg(4)], changed: [{ ...msg(2), text: 'edited' }], last_seq: 4, version: 9, more: false }], gone: [] };
      },
    });
    await h.chat.connected('alice');
    h.chat.handle({ type: 'chat_message', message: msg(2) });
    h.chat.handle({ type: 'chat_message', message: msg(4) }); // 3 is missing
    assert.deepEqual(h.seqs(), [2]);
    mock.timers.tick(500);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(h.seqs(), [2, 3, 4]);
    assert.deepEqual(h.events.filter(([n]) => n === 'messageUpdated').map(([, m]) => m.text), ['edited']);
    // Bob's messages reached this device: a delivered receipt for the last one, batched.
    mock.timers.tick(300);
    await new Promise((r) => setImmediate(r));
    const marks = h.requests.filter((r) => r.type === 'chat_mark').map((r) => r.fields);
    assert.deepEqual(marks.at(-1), { conversation: 'CV_1', delivered: 4 });
    h.chat.reset();
  } finally {
    mock.timers.reset();
  }
});

test('a reconnect syncs from the cursors; conversations new to us start where their messages start', async () => {
  const h = harness({
    ...conversations(5),
    chat_sync: () => ({
      batches: [
        { conversation: 'CV_1', messages: [msg(6), msg(7)], changed: [], last_seq: 7, version: 7, more: false },
        { conversation: 'CV_2', messages: [msg(1, 'carol', 'CV_2')], changed: [], last_seq: 1, version: 1, more: false },
      ],
      gone: [],
    }),
  });
  await h.chat.connected('alice');
  await h.chat.connected('alice');
  assert.deepEqual(h.requests.map((r) => r.type), ['chat_conversations', 'chat_sync']);
  assert.deepEqual(h.events.filter(([n]) => n === 'message').map(([, m]) => `${m.conversation}:${m.seq}`), ['CV_1:6', 'CV_1:7', 'CV_2:1']);
  // An event copy of a synced message changes nothing.
  h.chat.handle({ type: 'chat_message', message: msg(7) });
  assert.equal(h.seqs().length, 3);
  h.chat.reset();
});

test('send retries unavailable and rate_limited with the same client_msg_id, and announces the ack', async () => {
  let calls = 0;
  const h = harness({
    ...conversations(0),
    chat_send: (f) => {
      calls++;
      if (calls < 3) throw Object.assign(new Error('busy'), { code: calls === 1 ? 'unavailable' : 'rate_limited' });
      return { type: 'chat_ack', message: { ...msg(1, 'alice'), client_msg_id: f.client_msg_id }, duplicate: false };
    },
  });
  await h.chat.connected('alice');
  const sent = await h.chat.send('CV_1', 'hi', { clientMsgId: 'c-1' });
  assert.equal(sent.seq, 1);
  const ids = h.requests.filter((r) => r.type === 'chat_send').map((r) => r.fields.client_msg_id);
  assert.deepEqual(ids, ['c-1', 'c-1', 'c-1']);
  assert.deepEqual(h.seqs(), [1]);
  // Not retriable: rejects at once.
  const h2 = harness({ chat_send: () => { throw Object.assign(new Error('no'), { code: 'not_member' }); } });
  await assert.rejects(h2.chat.send('CV_9', 'x'), { code: 'not_member' });
  assert.equal(h2.requests.length, 1);
  h.chat.reset();
});

test('typing: one start, refreshed while typing, a stop after the idle time or on send', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  try {
    const h = harness();
    const typing = () => h.requests.filter((r) => r.type === 'chat_typing').map((r) => r.fields.typing);
    h.chat.setTyping('CV_1', true);
    h.chat.setTyping('CV_1', true);
    assert.deepEqual(typing(), [true]);
    mock.timers.tick(TYPING_REFRESH_MS);
    h.chat.setTyping('CV_1', true); // a keystroke keeps it going
    assert.deepEqual(typing(), [true, true]);
    mock.timers.tick(TYPING_IDLE_MS);
    assert.deepEqual(typing().at(-1), false);
    const n = typing().length;
    mock.timers.tick(TYPING_REFRESH_MS * 3);
    assert.equal(typing().length, n, 'no refresh after the stop');
    h.chat.reset();
  } finally {
    mock.timers.reset();
  }
});
