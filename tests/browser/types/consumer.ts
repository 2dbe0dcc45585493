// Compile-only: an embedder's TypeScript against the published package (`@parley/sdk`, resolved
// through its package.json `exports` and the committed declarations). The @ts-expect-error lines
// prove the types are strict enough to catch mistakes; tsc fails if any of them stops erroring.
import { ParleyClient, ParleyError, backoffDelay, type ConnectionQualityEvent, type TrackEvent } from '@parley/sdk';
import { encodeRequest } from '@parley/sdk/protocol.js';

export async function embed(video: HTMLVideoElement, token: () => Promise<string>): Promise<void> {
  const client = new ParleyClient({ backoff: { initialDelay: 250, maxAttempts: 8 } });
  client.on('trackSubscribed', ({ track, mediaTrack }: TrackEvent) => {
    if (mediaTrack.kind === 'video') {
      video.srcObject = new MediaStream([mediaTrack]);
      client.observeVideo(track.sid, video);
    }
  });
  client.on('connectionQuality', (q: ConnectionQualityEvent) => {
    const level: 'excellent' | 'good' | 'poor' | 'lost' = q.level;
    const rtt: number | null = q.metrics.rtt;
    console.log(level, rtt);
  });
  client.on('reconnecting', ({ attempt, delay }) => console.log(attempt + delay));
  client.on('trackMuted', ({ participant, muted }) => console.log(participant.name, muted));
  client.on('error', (err) => console.log(err.code));
  // @ts-expect-error no such event
  client.on('trackSubscribd', () => {});
  // @ts-expect-error the payload of participantLeft is a participant, not a string
  client.on('participantLeft', (p: string) => p);
  await client.connect('https://parley.example', token);
  const { participants } = await client.join('room');
  participants.forEach((p) => p.tracks.map((t) => t.source));
  const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
  await client.publish(stream);
  await client.setMuted('microphone', true);
  // @ts-expect-error not a track source
  await client.setMuted('mic', true);
  await client.setSubscription('TR_x', { maxLayer: 0 });
  // @ts-expect-error max_layer is the wire name; the SDK takes maxLayer
  await client.setSubscription('TR_x', { max_layer: 0 });
  const screen: MediaStream = await client.publishScreen();
  console.log(screen.id, backoffDelay(3), encodeRequest('ping', '1'), new ParleyError('x', 'y').code);
  await client.unpublishTrack('screen');
  await client.leave();
  client.disconnect();
}
