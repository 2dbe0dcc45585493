// SDK unit tests: room bookkeeping, i.e. how server room events and received media become
// participant and track events.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Room } from '../../../web-client/sdk/room.js';

/** A Room whose events and hook calls are recorded in order. */
function recorded() {
  /** @type {any[]} */
  const log = [];
  const room = new Room({
    emit: (name, payload) => log.push([name, payload]),
    ownTrackPublished: (t) => log.push(['own', t.sid]),
    trackGone: (sid) => log.push(['gone', sid]),
    participantGone: (sid) => log.push(['participantGone', sid]),
  });
  return { room, log };
}

const track = (sid, participant, source = 'camera') => ({ sid, participant, kind: source === 'microphone' ? 'audio' : 'video', source, mime_type: 'video/VP8' });
const media = (id) => ({ mediaTrack: /** @type {any} */ ({ id, kind: 'video' }), stream: /** @type {any} */ ({ id }) });
const names = (log) => log.map(([n, p]) => `${n}:${typeof p === 'string' ? p : p?.sid ?? p?.track?.sid ?? ''}`);

test('joined announces everyone already there', () => {
  const { room, log } = recorded();
  room.joined({ sid: 'PA_me', identity: 'me', name: 'Me', tracks: [] }, [
    { sid: 'PA_a', identity: 'a', name: 'A', tracks: [] },
    { sid: 'PA_b', identity: 'b', name: 'B', tracks: [] },
  ]);
  assert.deepEqual(names(log), ['participantJoined:PA_a', 'participantJoined:PA_b']);
  assert.equal(room.you?.sid, 'PA_me');
  assert.equal(room.participants.size, 2);
});

test('media is announced once both it and its track info are known, in either order', () => {
  const { room, log } = recorded();
  room.joined({ sid: 'PA_me', identity: 'me', name: 'Me', tracks: [] }, [{ sid: 'PA_a', identity: 'a', name: 'A', tracks: [track('TR_1', 'PA_a')] }]);
  // Info first (from joined), then media.
  room.mediaArrived('TR_1', media('m1'));
  // Media first, then the track_published that names it.
  room.mediaArrived('TR_2', media('m2'));
  assert.equal(room.media('TR_2'), null, 'not announced before its publisher is known');
  room.handle({ type: 'track_published', track: track('TR_2', 'PA_a', 'screen') });
  const subs = log.filter(([n]) => n === 'trackSubscribed').map(([, e]) => [e.track.sid, e.participant.sid, e.mediaTrack.id]);
  assert.deepEqual(subs, [['TR_1', 'PA_a', 'm1'], ['TR_2', 'PA_a', 'm2']]);
  assert.equal(room.media('TR_2')?.mediaTrack.id, 'm2');
});

test('our own track_published goes to you.tracks and the ownTrackPublished hook, not to participants', () => {
  const { room, log } = recorded();
  room.joined({ sid: 'PA_me', identity: 'me', name: 'Me', tracks: [] }, []);
  room.handle({ type: 'track_published', track: track('TR_mine', 'PA_me', 'microphone') });
  room.handle({ type: 'track_published', track: track('TR_mine', 'PA_me', 'microphone') });
  assert.deepEqual(room.you?.tracks.map((t) => t.sid), ['TR_mine']);
  assert.deepEqual(names(log), ['own:TR_mine', 'own:TR_mine']);
  room.handle({ type: 'track_unpublished', sid: 'TR_mine', participant: 'PA_me' });
  assert.deepEqual(room.you?.tracks, []);
});

test('track_muted updates the track and says whose it is', () => {
  const { room, log } = recorded();
  room.joined({ sid: 'PA_me', identity: 'me', name: 'Me', tracks: [track('TR_m', 'PA_me', 'microphone')] },
    [{ sid: 'PA_a', identity: 'a', name: 'A', tracks: [track('TR_a', 'PA_a', 'microphone')] }]);
  room.handle({ type: 'track_muted', track: 'TR_a', participant: 'PA_a', muted: true });
  room.handle({ type: 'track_muted', track: 'TR_m', participant: 'PA_me', muted: true });
  room.handle({ type: 'track_muted', track: 'TR_unknown', participant: 'PA_a', muted: true });
  const muted = log.filter(([n]) => n === 'trackMuted').map(([, e]) => [e.track.sid, e.muted, e.local]);
  assert.deepEqual(muted, [['TR_a', true, false], ['TR_m', true, true]]);
  assert.equal(room.participants.get('PA_a')?.tracks[0].muted, true);
});

test('participant_left ends their tracks first, then says they left; unknown sids are ignored', () => {
  const { room, log } = recorded();
  room.joined({ sid: 'PA_me', identity: 'me', name: 'Me', tracks: [] }, [{ sid: 'PA_a', identity: 'a', name: 'A', tracks: [track('TR_1', 'PA_a')] }]);
  room.mediaArrived('TR_1', media('m1'));
  log.length = 0;
  room.handle({ type: 'participant_left', sid: 'PA_nobody' });
  room.handle({ type: 'participant_left', sid: 'PA_a' });
  assert.deepEqual(names(log), ['gone:TR_1', 'trackUnsubscribed:TR_1', 'participantGone:PA_a', 'participantLeft:PA_a']);
  assert.equal(room.participants.size, 0);
  assert.equal(room.media('TR_1'), null);
});

test('mediaClosed ends every received track; clear(true) announces departures, clear(false) does not', () => {
  const { room, log } = recorded();
  room.joined({ sid: 'PA_me', identity: 'me', name: 'Me', tracks: [] }, [{ sid: 'PA_a', identity: 'a', name: 'A', tracks: [track('TR_1', 'PA_a')] }]);
  room.mediaArrived('TR_1', media('m1'));
  log.length = 0;
  room.mediaClosed();
  room.clear(true);
  assert.deepEqual(names(log), ['trackUnsubscribed:TR_1', 'gone:TR_1', 'participantLeft:PA_a']);
  assert.equal(room.you, null);
  const quiet = recorded();
  quiet.room.joined({ sid: 'PA_me', identity: 'me', name: 'Me', tracks: [] }, [{ sid: 'PA_a', identity: 'a', name: 'A', tracks: [] }]);
  quiet.log.length = 0;
  quiet.room.clear(false);
  assert.deepEqual(quiet.log, []);
});

test('events that are not about the room are left to the caller', () => {
  const { room } = recorded();
  assert.equal(room.handle({ type: 'subscribe_offer', sdp: '' }), false);
  assert.equal(room.handle({ type: 'active_speakers', speakers: [] }), false);
});

test('resync applies what changed while the socket was lost, as the events would have', () => {
  const { room, log } = recorded();
  const me = { sid: 'PA_me', identity: 'me', name: 'Me', tracks: [] };
  room.joined(me, [
    { sid: 'PA_a', identity: 'a', name: 'A', tracks: [track('TR_a1', 'PA_a'), track('TR_a2', 'PA_a', 'microphone')] },
    { sid: 'PA_gone', identity: 'g', name: 'G', tracks: [track('TR_g', 'PA_gone')] },
  ]);
  room.mediaArrived('TR_a1', media('a1'));
  log.length = 0;
  room.resync({ ...me, tracks: [track('TR_mine', 'PA_me')] }, [
    // A: camera unpublished, microphone muted, a screen published.
    { sid: 'PA_a', identity: 'a', name: 'A', tracks: [{ ...track('TR_a2', 'PA_a', 'microphone'), muted: true }, track('TR_a3', 'PA_a', 'screen')] },
    { sid: 'PA_new', identity: 'n', name: 'N', tracks: [track('TR_n', 'PA_new')] },
  ]);
  assert.deepEqual(names(log), [
    'gone:TR_g', 'participantGone:PA_gone', 'participantLeft:PA_gone',
    'gone:TR_a1', 'trackUnsubscribed:TR_a1',
    'trackMuted:TR_a2',
    'participantJoined:PA_new',
  ]);
  assert.deepEqual([...room.participants.keys()], ['PA_a', 'PA_new']);
  assert.deepEqual(room.participants.get('PA_a')?.tracks.map((t) => t.sid), ['TR_a2', 'TR_a3']);
  assert.deepEqual(room.you?.tracks.map((t) => t.sid), ['TR_mine']);
  log.length = 0;
  room.resync({ ...me, tracks: [track('TR_mine', 'PA_me')] }, [...room.participants.values()]);
  assert.deepEqual(log, [], 'nothing changed: nothing announced');
});
