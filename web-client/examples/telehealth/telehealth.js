// Telehealth: a patient waits; the doctor admits them with a video call. Written only against
// the SDK's public API. The page's token comes in the URL fragment (#token=<jwt>), as an app's
// backend would hand it out; both tokens only need the `chat` grant: the call's own room token
// (from `calls.invite` / `calls.accept`) lets them into the call room.
import { ParleyClient } from '/sdk/parley.js';

const params = new URLSearchParams(location.search);
const role = params.get('role') === 'doctor' ? 'doctor' : 'patient';
const patient = params.get('patient') ?? '';
const token = new URLSearchParams(location.hash.slice(1)).get('token') ?? '';

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const status = (/** @type {string} */ text) => { $('status').textContent = text; };
const setState = (/** @type {string} */ s) => { document.body.dataset.state = s; };

const client = new ParleyClient();
/** @type {any} */ (window).parleyClient = client;

$('title').textContent = role === 'doctor' ? 'Telehealth — doctor' : 'Telehealth — patient';

/** A video tile per participant. @param {string} identity @param {string} name */
function tile(identity, name) {
  let el = /** @type {HTMLElement | null} */ ($('tiles').querySelector(`.tile[data-identity="${CSS.escape(identity)}"]`));
  if (!el) {
    el = document.createElement('div');
    el.className = 'tile';
    el.dataset.identity = identity;
    const video = document.createElement('video');
    video.autoplay = true;
    video.playsInline = true;
    video.muted = true;
    const label = document.createElement('span');
    label.className = 'label';
    label.textContent = name;
    el.append(video, label);
    $('tiles').append(el);
  }
  return el;
}

client.on('trackSubscribed', ({ participant, mediaTrack, track }) => {
  const el = tile(participant.identity, participant.name);
  if (mediaTrack.kind === 'video') {
    const video = /** @type {HTMLVideoElement} */ (el.querySelector('video'));
    video.srcObject = new MediaStream([mediaTrack]);
    client.observeVideo(track.sid, video);
  } else {
    const audio = document.createElement('audio');
    audio.autoplay = true;
    audio.srcObject = new MediaStream([mediaTrack]);
    el.append(audio);
  }
});
client.on('participantLeft', (p) => {
  $('tiles').querySelector(`.tile[data-identity="${CSS.escape(p.identity)}"]`)?.remove();
  status(`${p.name} left the visit.`);
});

/** @param {import('/sdk/parley.js').ChatMessage} m */
function showMessage(m) {
  if (m.conversation !== client.conversation || !m.text) return;
  const li = document.createElement('li');
  li.dataset.id = m.id;
  li.textContent = `${m.sender === client.identity ? 'You' : m.sender}: ${m.text}`;
  $('chat-log').append(li);
}
client.on('message', showMessage);
$('chat-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = /** @type {HTMLInputElement} */ ($('chat-input'));
  const text = input.value.trim();
  if (!text || !client.conversation) return;
  input.value = '';
  client.chat.send(client.conversation, text).catch((err) => status(`Could not send: ${err.message}`));
});

/** Into the call room with the invitation's ticket: camera and microphone on, chat beside. @param {import('/sdk/parley.js').CallTicket} ticket */
async function joinCall(ticket) {
  status('Joining the visit…');
  await client.join(ticket.room, { token: ticket.token });
  $('visit').hidden = false;
  const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
  const me = tile(client.identity ?? 'me', 'You');
  me.classList.add('local');
  /** @type {HTMLVideoElement} */ (me.querySelector('video')).srcObject = stream;
  await client.publish(stream);
  if (client.conversation) for (const m of await client.chat.history(client.conversation)) showMessage(m);
  setState('in-call');
  status('In the visit.');
}

async function patientPage() {
  /** @param {import('/sdk/parley.js').InvitationInfo} inv */
  const answer = async (inv) => {
    if (document.body.dataset.state !== 'waiting') return;
    setState('joining');
    try {
      await joinCall(await client.calls.accept(inv.id));
    } catch (err) {
      setState('error');
      status(`Could not join: ${/** @type {Error} */ (err).message}`);
    }
  };
  client.on('callRinging', answer);
  await client.connect(location.origin, token);
  setState('waiting');
  status('Waiting for the doctor…');
  for (const inv of client.calls.ringing) answer(inv);
}

async function doctorPage() {
  if (!patient) throw new Error('no patient given (&patient=<identity>)');
  await client.connect(location.origin, token);
  const conversation = await client.chat.create('direct', [patient]);
  /** @type {import('/sdk/parley.js').CallTicket | null} */
  let ticket = null;
  /** Updates that overtook the invite's reply. @type {Map<string, import('/sdk/parley.js').InvitationInfo>} */
  const early = new Map();
  const admit = /** @type {HTMLButtonElement} */ ($('admit'));
  /** @param {import('/sdk/parley.js').InvitationInfo} inv */
  const updated = async (inv) => {
    if (!ticket || inv.id !== ticket.invitation.id) {
      early.set(inv.id, inv);
      return;
    }
    if (inv.state === 'accepted' && document.body.dataset.state === 'calling') {
      admit.hidden = true;
      setState('joining');
      try {
        await joinCall(ticket);
      } catch (err) {
        setState('error');
        status(`Could not join: ${/** @type {Error} */ (err).message}`);
      }
    } else if (inv.state !== 'ringing' && inv.state !== 'accepted') {
      ticket = null;
      admit.disabled = false;
      setState('ready');
      status(`The call was ${inv.state}.`);
    }
  };
  client.on('callUpdate', updated);
  admit.hidden = false;
  admit.addEventListener('click', async () => {
    admit.disabled = true;
    setState('calling');
    status(`Calling ${patient}…`);
    try {
      early.clear();
      ticket = await client.calls.invite(conversation.id, 'video');
      const seen = early.get(ticket.invitation.id);
      if (seen) await updated(seen);
    } catch (err) {
      admit.disabled = false;
      setState('ready');
      status(`Could not call: ${/** @type {Error} */ (err).message}`);
    }
  });
  setState('ready');
  status(`Ready to see ${patient}.`);
}

(role === 'doctor' ? doctorPage() : patientPage()).catch((err) => {
  setState('error');
  status(`Error: ${err.message}`);
});
