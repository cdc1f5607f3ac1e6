/**
 * client-types.js — the shapes of the client library's public API, as JSDoc types checked by
 * `tsc` (`make lint`): what the server tells about participants and producers, the client's
 * options, its publications and received tracks, and every event with its detail
 * ({@link ConsultEventMap}). consult-client.js re-exports them all, so an application names
 * them from there: `import('./consult-client.js').JoinedDetail` in JSDoc, or
 * `import type { JoinedDetail } from './consult-client.js'` in TypeScript.
 * This module holds no code: at run time it is an empty module.
 * @module client-types
 */

// ------------------------------------------------------------------ what the server tells

/**
 * One of the client's connection states (the values of `ConnectionState`).
 * @typedef {'new'|'connecting'|'waiting'|'connected'|'reconnecting'|'closed'|'failed'} ConnectionStateName
 */

/**
 * What a participant can publish (signalling/messages.py `Source`).
 * @typedef {'microphone'|'camera'|'screen'|'screen_audio'} Source
 */

/** @typedef {'audio'|'video'} Kind */

/** @typedef {'publish'|'subscribe'} PcName */

/**
 * A participant as the server describes it (`ParticipantInfo`).
 * @typedef {object} ParticipantInfo
 * @property {string} participant_id  this connection's id in the room (a new one after a re-join)
 * @property {string} identity  the stable user id of the join token
 * @property {string} name  display name
 * @property {string} role  e.g. `client`, `practitioner`, `guest`, `department_manager`
 */

/**
 * This participant, from `joined`.
 * @typedef {ParticipantInfo & {room: string}} SelfInfo
 */

/**
 * The participant an event is about: another one, or this one (then `self` is true).
 * @typedef {ParticipantInfo & {self?: boolean, room?: string}} EventParticipant
 */

/**
 * A remote producer (a published track) as the server describes it (`ProducerInfo`).
 * @typedef {object} ProducerInfo
 * @property {string} producer_id
 * @property {string} participant_id  who publishes it
 * @property {Kind} kind
 * @property {Source} source
 * @property {boolean} [muted]
 * @property {number|null} [width]  the source size once the server knows it
 * @property {number|null} [height]
 */

/**
 * The room's settings from `joined.settings` (more keys may come; unknown ones are kept).
 * @typedef {{resolution_change_allowed?: boolean, background_effects_allowed?: boolean,
 *            captions_allowed?: boolean, effects_ask_again?: boolean, [key: string]: unknown}} RoomSettings
 */

/**
 * A message this client sends (`v` is added by the signalling link).
 * @typedef {{type: string, [field: string]: unknown}} ClientMessage
 */

/**
 * Any decoded server message (protocol v1: signalling/messages.py); the fields depend on `type`.
 * @typedef {{type: string, v?: number, id?: string, [field: string]: any}} ServerMessage
 */

// ------------------------------------------------------------------ options and state

/**
 * Re-join policy after a drop: attempt n waits `min(maxDelayMs, baseDelayMs * 2^(n-1))`.
 * @typedef {object} ReconnectPolicy
 * @property {number} maxAttempts
 * @property {number} baseDelayMs
 * @property {number} maxDelayMs
 */

/**
 * Options of `new ConsultClient(options)`.
 * @typedef {object} ConsultClientOptions
 * @property {string} url  WebSocket URL of the server's `/ws` endpoint (`ws://` or `wss://`)
 * @property {string} token  join token (JWT)
 * @property {Partial<ReconnectPolicy>|false} [reconnect]  re-join policy after a drop; `false` disables it
 * @property {number} [pingIntervalMs=10000]  keepalive period; the link counts as lost after 2.5
 *           periods without any server message
 * @property {number} [openTimeoutMs=8000]  how long to wait for the WebSocket to open
 * @property {boolean} [applyResolutionRequests=true]  obey `resolution_requested` by scaling the
 *           sent video down
 * @property {typeof WebSocket} [WebSocket]  WebSocket implementation (tests)
 */

/**
 * What is sent of a video source: `maxHeight` scales down (scaleResolutionDownBy), `maxBitrate`
 * caps the encoder (bits/s).
 * @typedef {{maxHeight?: number, maxBitrate?: number}} SendLimits
 */

/**
 * What this client wants to receive of a video: a resolution cap, or a pause.
 * @typedef {{maxWidth?: number, maxHeight?: number, paused?: boolean}} SubscriptionPreference
 */

/**
 * Options of `publish(track, options)`.
 * @typedef {object} PublishOptions
 * @property {Source} source
 * @property {boolean} [muted=false]
 * @property {boolean} [ownsTrack=false]  stop the track on unpublish / leave
 * @property {SendLimits} [sendLimits]
 */

/**
 * One local track this client publishes (`client.publications`, by source).
 * @typedef {object} Publication
 * @property {Source} source
 * @property {Kind} kind
 * @property {MediaStreamTrack|null} track
 * @property {RTCRtpTransceiver|null} transceiver  null until negotiated, and after a drop
 * @property {string|null} producerId  set once the server confirmed it (`published`)
 * @property {boolean} muted
 * @property {boolean} ownsTrack  the client stops the track on unpublish / leave
 * @property {SendLimits} sendLimits  re-applied after replaceTrack / reconnect
 */

/**
 * A received track (`client.remoteTracks`, by producer id; the `track_added` detail).
 * @typedef {object} RemoteTrack
 * @property {MediaStreamTrack} track
 * @property {MediaStream} stream  a stream holding only this track (for a media element)
 * @property {string} mid  the subscribe transceiver carrying it
 * @property {Kind} kind
 * @property {Source} source
 * @property {string} producerId
 * @property {EventParticipant} participant  who publishes it (`self` for an own track the server processed)
 * @property {boolean} muted  the publisher muted it
 */

// ------------------------------------------------------------------ events

/**
 * @typedef {object} StateEvent
 * @property {ConnectionStateName} state
 * @property {ConnectionStateName} previous
 * @property {string} [reason]  why (a lost connection, an error code)
 */

/**
 * The `joined` detail (also what `connect()` resolves with).
 * @typedef {object} JoinedDetail
 * @property {SelfInfo} self
 * @property {ParticipantInfo[]} participants  the others
 * @property {ProducerInfo[]} producers  the others' producers
 * @property {RoomSettings} settings
 * @property {number} startedAt  consultation start, epoch ms (`joined.started_at`, else the time of joining)
 * @property {RTCIceServer[]} iceServers
 * @property {boolean} reconnected  a re-join after a drop
 * @property {boolean} resumed  the server took this participant back within its reconnect grace:
 *           same participant id, admitted status, queue place and choices (`joined.resumed`)
 */

/** @typedef {{participant: ParticipantInfo}} ParticipantJoinedEvent */
/** @typedef {{participant: EventParticipant, reason: string}} ParticipantLeftEvent */
/**
 * Another participant's connection dropped (`reconnecting: true`; they stay in the room until
 * they are back or the server's grace ends, then `participant_left`) or they are back (`false`).
 * @typedef {{participant: EventParticipant, reconnecting: boolean}} ParticipantReconnectingEvent
 */
/** @typedef {{producer: ProducerInfo, participant: EventParticipant}} TrackPublishedEvent */

/**
 * @typedef {object} TrackRemovedEvent
 * @property {MediaStreamTrack} track
 * @property {Kind} kind
 * @property {Source} source
 * @property {string} producerId
 * @property {EventParticipant} participant
 */

/**
 * A track was muted or unmuted, by another participant or by this one (`local`).
 * @typedef {object} TrackMutedEvent
 * @property {string|null} producerId  null for a local track the server has not confirmed yet
 * @property {EventParticipant|null} participant  null for a local track before joining
 * @property {Source|null} source  null for an unknown remote producer
 * @property {Kind|null} kind
 * @property {boolean} muted
 * @property {boolean} local
 */

/** @typedef {{publication: Publication}} LocalTrackEvent */

/**
 * Another participant asked this one to send at most `maxHeight` of a producer.
 * @typedef {{producerId: string, maxHeight: number|null, source: Source|null}} ResolutionRequestedEvent
 */

/**
 * A publisher's camera stopped delivering (or came back: `resolved`).
 * @typedef {{participant: EventParticipant, producerId: string, resolved: boolean, self: boolean}} CameraProblemEvent
 */

/**
 * What your connection carries changed (server `quality`). `direction` `receive`: `good` (every
 * video at its best), `reduced` (the `reduced` producers at a lower resolution), `paused` (the
 * `paused` producers' video paused to keep audio; they resume by themselves). `direction`
 * `send`: your uplink, `good` or `limited` (your `limited` videos arrive well below what they need).
 * @typedef {object} QualityEvent
 * @property {'receive'|'send'} direction  what you receive (downlink) or send (uplink)
 * @property {'good'|'reduced'|'paused'|'limited'} state
 * @property {number|null} estimateKbps  the server's estimate of your link (null: not limited)
 * @property {string[]} reduced  producer ids
 * @property {string[]} paused  producer ids
 * @property {string[]} limited  your producer ids (direction `send`)
 */

/** @typedef {{attempt: number, maxAttempts: number, delayMs: number}} ReconnectAttemptEvent */
/** @typedef {{pc: PcName, state: RTCIceConnectionState}} MediaStateEvent */

/**
 * @typedef {object} ClientErrorEvent
 * @property {import('./consult-error.js').ConsultError} error
 * @property {boolean} fatal  the client stopped (state `failed`); otherwise it goes on
 */

/** @typedef {{reason: string, message: string|null}} ByeEvent */

/**
 * Every event of the client and its detail: `client.on(type, (detail) => ...)`.
 * Server messages this library does not handle itself (`captions_state`, `effect_state`, ...)
 * are also emitted under their own type, with the message as the detail.
 * @typedef {object} ConsultEventMap
 * @property {StateEvent} state
 * @property {JoinedDetail} joined
 * @property {ServerMessage} waiting  the server's `waiting` message (waiting room), before `joined`
 * @property {ServerMessage} access_refused  joining refused (`connect()` rejects with its `reason`)
 * @property {ServerMessage} denied  not admitted from the waiting room
 * @property {ServerMessage} admitted
 * @property {ServerMessage} queue
 * @property {ServerMessage} announcement
 * @property {ServerMessage} consultation_ended
 * @property {ParticipantJoinedEvent} participant_joined
 * @property {ParticipantLeftEvent} participant_left
 * @property {ParticipantReconnectingEvent} participant_reconnecting
 * @property {TrackPublishedEvent} track_published  a remote producer exists (media may follow)
 * @property {TrackPublishedEvent} track_unpublished
 * @property {RemoteTrack} track_added
 * @property {TrackRemovedEvent} track_removed
 * @property {TrackMutedEvent} track_muted
 * @property {LocalTrackEvent} local_track_published
 * @property {LocalTrackEvent} local_track_unpublished
 * @property {ResolutionRequestedEvent} resolution_requested  applied unless `applyResolutionRequests: false`
 * @property {CameraProblemEvent} camera_problem
 * @property {QualityEvent} quality  your link carries less (or everything again)
 * @property {ReconnectAttemptEvent} reconnect_attempt
 * @property {MediaStateEvent} media_state  ICE connection state changes
 * @property {ClientErrorEvent} error
 * @property {ByeEvent} bye
 * @property {ServerMessage} message  every decoded server message (after the library handled it)
 */

/**
 * How the client's parts emit its events.
 * @typedef {<K extends keyof ConsultEventMap>(type: K, detail: ConsultEventMap[K]) => void} EmitFn
 */

export {};
