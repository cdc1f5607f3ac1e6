// An integrator's page written in TypeScript against the embeddable client, checked by `tsc`
// (make lint) and never run. It proves that the public API is typed as docs/client.md says:
// options, methods, every event's detail, ConsultError, ConnectionState. Each
// `@ts-expect-error` line is a mistake the types must catch: when a type loosens to `any`, the
// expected error disappears and tsc fails ("Unused '@ts-expect-error' directive").

import {
  ConnectionState,
  ConsultClient,
  ConsultError,
  FATAL_ERROR_CODES,
  SOURCES,
  parseJoinUrl,
} from '../../control/static/js/consult-client.js';
import type {
  ConnectionStateName,
  ConsultEventMap,
  JoinedDetail,
  ParticipantInfo,
  Publication,
  RemoteTrack,
  ServerMessage,
} from '../../control/static/js/consult-client.js';

declare const video: HTMLVideoElement;

export async function embed(joinUrl: string): Promise<void> {
  const client = ConsultClient.fromJoinUrl(joinUrl, { reconnect: { maxAttempts: 3 }, pingIntervalMs: 5000 });
  // @ts-expect-error the options are checked
  ConsultClient.fromJoinUrl(joinUrl, { reconnect: 'always' });
  // @ts-expect-error url and token are required
  new ConsultClient({ url: 'wss://sfu.example.org/ws' });

  client.on('track_added', ({ stream, kind, source, participant, producerId, muted }) => {
    const s: MediaStream = stream;
    const k: 'audio' | 'video' = kind;
    const who: string = participant.name;
    const id: string = producerId;
    const m: boolean = muted;
    if (k === 'video' && source === 'camera') video.srcObject = s;
    void who; void id; void m;
    // @ts-expect-error a received track has no `sdp`
    void stream.sdp;
  });
  client.on('track_removed', ({ track, participant }) => { track.stop(); void participant.participant_id; });
  client.on('state', ({ state, previous, reason }) => {
    const now: ConnectionStateName = state;
    if (now === ConnectionState.RECONNECTING && previous === 'connected') console.log(reason ?? '');
    // @ts-expect-error not a connection state
    if (state === 'online') console.log('never');
  });
  client.on('joined', (detail) => {
    const joined: JoinedDetail = detail;
    const others: ParticipantInfo[] = joined.participants;
    const started: number = joined.startedAt;
    const allowed: boolean | undefined = joined.settings.resolution_change_allowed;
    void others; void started; void allowed; void joined.self.room; void joined.reconnected;
    // @ts-expect-error the detail has no `token`
    void detail.token;
  });
  client.on('participant_left', ({ participant, reason }) => console.log(participant.identity, reason));
  client.on('track_muted', ({ muted, local, source }) => { if (!local && source === 'microphone') console.log(muted); });
  client.on('camera_problem', ({ resolved, self }) => console.log(resolved, self));
  client.on('resolution_requested', ({ maxHeight }) => console.log(maxHeight === null ? 'full size' : maxHeight * 2));
  client.on('reconnect_attempt', ({ attempt, maxAttempts, delayMs }) => console.log(attempt, maxAttempts, delayMs));
  client.on('media_state', ({ pc, state }) => { if (pc === 'subscribe' && state === 'failed') console.log('lost'); });
  client.on('local_track_published', ({ publication }) => { const p: Publication = publication; void p.producerId; });
  client.on('bye', ({ reason, message }) => console.log(reason, message ?? ''));
  client.on('error', ({ error, fatal }) => {
    const code: string = error.code;
    if (fatal && FATAL_ERROR_CODES.has(code)) console.log(error.message, error.details.opensAt);
  });
  client.on('waiting', (msg: ServerMessage) => console.log(msg.type));
  client.on('message', (msg) => console.log(msg.type));
  // A server message the library does not know (an extension's) is still emitted.
  const stop = client.on('captions_state', (msg) => console.log(msg.participant_id));
  stop();
  // @ts-expect-error a handler of `joined` does not get a string
  client.on('joined', (detail: string) => console.log(detail));

  const handlers: { [K in keyof ConsultEventMap]?: (detail: ConsultEventMap[K]) => void } = {};
  void handlers;

  try {
    const joined = await client.connect();
    console.log(joined.self.participant_id);
  } catch (err) {
    if (err instanceof ConsultError && err.code === 'too_early') console.log(err.details.opensAt);
  }
  const camera: Publication = await client.publishCamera();
  video.srcObject = camera.track ? new MediaStream([camera.track]) : null;
  await client.publishMicrophone();
  await client.setSendLimits('camera', { maxHeight: 360, maxBitrate: 600_000 });
  // @ts-expect-error not a source
  await client.setSendLimits('webcam', {});
  client.setSubscription('*', { maxHeight: 360 });
  client.setMuted('microphone', true);
  const remote: RemoteTrack | undefined = client.remoteTracks.get('p1');
  void remote;
  const reply: ServerMessage = await client.request('captions', { enabled: true });
  void reply;
  const stats = await client.getStats();
  void stats.publish?.size;
  const sources: readonly string[] = SOURCES;
  void sources;
  const { wsUrl, token } = parseJoinUrl(joinUrl);
  void wsUrl; void token;
  // @ts-expect-error the client's parts are private
  void client._session;
  client.leave();
}
