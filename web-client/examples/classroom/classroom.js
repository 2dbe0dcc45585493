// Classroom: the teacher is on stage (camera and microphone); students watch, may speak
// (microphone only), raise their hand with a "✋" in the room's chat, and the teacher can mute
// everyone (`moderateParticipant(sid, 'mute_all')`, needs the `moderate` grant). Written only
// against the SDK's public API. The token comes in the URL fragment (#token=<jwt>) and names
// the room. Teacher token grants: join,publish,subscribe,chat,moderate; students':
// join,subscribe,chat (plus publish to be heard).
import { ParleyClient } from '/sdk/parley.js';

const role = new URLSearchParams(location.search).get('role') === 'teacher' ? 'teacher' : 'student';
const token = new URLSearchParams(location.hash.slice(1)).get('token') ?? '';
const HAND = '✋';

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const status = (/** @type {string} */ text) => { $('status').textContent = text; };
const setState = (/** @type {string} */ s) => { document.body.dataset.state = s; };

/** The room the token names (its `room` claim). @param {string} jwt */
function tokenRoom(jwt) {
  const payload = jwt.split('.')[1] ?? '';
  const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
  return String(JSON.parse(json).room ?? '');
}

const client = new ParleyClient();
/** @type {any} */ (window).parleyClient = client;
$('title').textContent = role === 'teacher' ? 'Classroom — teacher' : 'Classroom — student';

/** @param {string} identity */
const findTile = (identity) => /** @type {HTMLElement | null} */ (document.querySelector(`.tile[data-identity="${CSS.escape(identity)}"]`));

/** A tile per participant: on stage once they send video, in the class otherwise. @param {import('/sdk/parley.js').ParticipantInfo} p */
function tile(p) {
  let el = findTile(p.identity);
  if (!el) {
    el = document.createElement('div');
    el.className = 'tile';
    el.dataset.identity = p.identity;
    el.dataset.sid = p.sid;
    el.dataset.muted = 'false';
    const label = document.createElement('span');
    label.className = 'label';
    label.textContent = p.name;
    el.append(label);
    $('class').append(el);
  }
  el.dataset.sid = p.sid;
  return el;
}

/** A tile shows muted while all of its participant's tracks are. @param {import('/sdk/parley.js').ParticipantInfo} p */
function showMuted(p) {
  const el = tile(p);
  el.dataset.muted = String(p.tracks.length > 0 && p.tracks.every((t) => t.muted));
}

client.on('participantJoined', (p) => showMuted(p));
client.on('participantLeft', (p) => findTile(p.identity)?.remove());
client.on('trackMuted', ({ participant, local, muted }) => {
  if (local) {
    if (muted) status('The teacher muted you.');
    return;
  }
  showMuted(participant);
});
client.on('trackSubscribed', ({ participant, mediaTrack, track }) => {
  const el = tile(participant);
  if (mediaTrack.kind === 'video') {
    const video = document.createElement('video');
    video.autoplay = true;
    video.playsInline = true;
    video.muted = true;
    video.srcObject = new MediaStream([mediaTrack]);
    el.prepend(video);
    $('stage').append(el);
    client.observeVideo(track.sid, video);
  } else {
    const audio = document.createElement('audio');
    audio.autoplay = true;
    audio.srcObject = new MediaStream([mediaTrack]);
    el.append(audio);
  }
  showMuted(participant);
});
client.on('trackUnsubscribed', ({ participant, mediaTrack }) => {
  const el = findTile(participant.identity);
  if (!el) return;
  for (const m of el.querySelectorAll('video, audio')) {
    const media = /** @type {HTMLMediaElement} */ (m);
    if (media.srcObject instanceof MediaStream && media.srcObject.getTracks().includes(mediaTrack)) media.remove();
  }
});

/** Raised hands, on the teacher's page: one entry per student, newest last. @param {import('/sdk/parley.js').ChatMessage} m */
function onMessage(m) {
  if (role !== 'teacher' || m.conversation !== client.conversation || m.text !== HAND || !m.sender) return;
  if ($('hands').querySelector(`li[data-identity="${CSS.escape(m.sender)}"]`)) return;
  const who = [...client.participants.values()].find((p) => p.identity === m.sender);
  const li = document.createElement('li');
  li.dataset.identity = m.sender;
  li.textContent = `${HAND} ${who?.name ?? m.sender}`;
  $('hands').append(li);
}
client.on('message', onMessage);

async function main() {
  await client.connect(location.origin, token);
  await client.join(tokenRoom(token));
  if (role === 'teacher') {
    const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
    const me = document.createElement('div');
    me.className = 'tile local';
    const video = document.createElement('video');
    video.autoplay = true;
    video.playsInline = true;
    video.muted = true;
    video.srcObject = stream;
    const label = document.createElement('span');
    label.className = 'label';
    label.textContent = 'You';
    me.append(video, label);
    $('stage').append(me);
    await client.publish(stream);
    $('teacher-panel').hidden = false;
    $('mute-all').addEventListener('click', async () => {
      const others = [...client.participants.values()];
      const results = await Promise.allSettled(others.map((p) => client.moderateParticipant(p.sid, 'mute_all')));
      const failed = results.filter((r) => r.status === 'rejected').length;
      status(failed ? `Could not mute ${failed} of ${others.length}.` : `Muted ${others.length} students.`);
    });
    if (client.conversation) for (const m of await client.chat.history(client.conversation)) onMessage(m);
  } else {
    // Students speak only when asked; publishing needs the `publish` grant, without it they listen.
    await navigator.mediaDevices.getUserMedia({ audio: true })
      .then((stream) => client.publish(stream))
      .catch((err) => console.info('not publishing a microphone:', err.message ?? err));
    $('student-panel').hidden = false;
    $('raise-hand').addEventListener('click', async () => {
      if (!client.conversation) return;
      await client.chat.send(client.conversation, HAND);
      status('Hand raised.');
    });
  }
  setState('joined');
  status(role === 'teacher' ? `Teaching in ${client.room}.` : `In class ${client.room}.`);
}

main().catch((err) => {
  setState('error');
  status(`Error: ${err.message}`);
});
