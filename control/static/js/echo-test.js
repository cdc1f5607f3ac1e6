// @ts-nocheck -- not type-checked yet (tsconfig.json); remove this line once its JSDoc types pass tsc.
/**
 * echo-test.js — "test your network": your own camera and microphone go to the server and come
 * back (a private echo room), and we measure what a consultation would get.
 *
 * The server hands out an echo token at `POST /echo/token` -> {"token", "ws_url"}. Figures:
 * round-trip time (ICE candidate-pair currentRoundTripTime, and a timed ping over the
 * WebSocket), packet loss and bitrate of what comes back (inbound-rtp), frames decoded.
 * {@link judgeNetwork} turns them into a plain verdict.
 * @module echo-test
 */

import { ConsultClient, ConsultError } from './consult-client.js';

/** The server's root (this module lives at <root>/static/js/), so a path prefix is kept. */
const SERVER_ROOT = new URL('../../', import.meta.url).href;

/** Verdict thresholds (what a 360p-720p consultation needs). */
export const THRESHOLDS = Object.freeze({
  good: { rttMs: 200, lossPct: 3, kbps: 200 },
  usable: { rttMs: 500, lossPct: 10, kbps: 80 },
});

/**
 * Plain verdict from the figures.
 * @param {{rttMs: number|null, lossPct: number, inboundKbps: number, framesDecoded: number, audioPacketsReceived: number}} f
 * @returns {{verdict: 'good'|'usable'|'not_suitable', reasons: string[]}}
 */
export function judgeNetwork(f) {
  if (!f.framesDecoded && !f.audioPacketsReceived) {
    return {
      verdict: 'not_suitable',
      reasons: ['No video or sound came back from the server: your network (a firewall or proxy) probably blocks video calls.'],
    };
  }
  const reasons = [];
  let level = 0; // 0 good, 1 usable, 2 not suitable
  const judge = (value, good, usable, worse, text) => {
    if (value === null || value === undefined) return;
    const bad = worse(value, usable) ? 2 : worse(value, good) ? 1 : 0;
    if (bad) reasons.push(text);
    level = Math.max(level, bad);
  };
  const above = (v, limit) => v > limit;
  const below = (v, limit) => v < limit;
  judge(f.rttMs, THRESHOLDS.good.rttMs, THRESHOLDS.usable.rttMs, above,
    `The delay is high (${Math.round(f.rttMs)} ms round trip): conversation may feel sluggish.`);
  judge(f.lossPct, THRESHOLDS.good.lossPct, THRESHOLDS.usable.lossPct, above,
    `${f.lossPct.toFixed(1)} % of the packets were lost: expect frozen or blocky video and choppy sound.`);
  judge(f.inboundKbps, THRESHOLDS.good.kbps, THRESHOLDS.usable.kbps, below,
    `Only ${Math.round(f.inboundKbps)} kbit/s came through: video will be small or blurry.`);
  if (!f.framesDecoded) {
    level = Math.max(level, 1);
    reasons.push('Your sound came back but no video: check the camera.');
  }
  if (!f.audioPacketsReceived) {
    level = Math.max(level, 1);
    reasons.push('Your video came back but no sound: check the microphone.');
  }
  const verdict = ['good', 'usable', 'not_suitable'][level];
  if (!reasons.length) {
    reasons.push(`Round trip ${Math.round(f.rttMs ?? 0)} ms, ${f.lossPct.toFixed(1)} % loss, ${Math.round(f.inboundKbps)} kbit/s: fine for a video consultation.`);
  }
  return { verdict, reasons };
}

function sumInbound(report) {
  const out = { bytes: 0, packets: 0, lost: 0, framesDecoded: 0, audioPackets: 0 };
  if (!report) return out;
  report.forEach((s) => {
    if (s.type !== 'inbound-rtp') return;
    out.bytes += s.bytesReceived || 0;
    out.packets += s.packetsReceived || 0;
    out.lost += Math.max(0, s.packetsLost || 0);
    if (s.kind === 'video') out.framesDecoded += s.framesDecoded || 0;
    if (s.kind === 'audio') out.audioPackets += s.packetsReceived || 0;
  });
  return out;
}

function sumOutboundBytes(report) {
  let bytes = 0;
  if (report) report.forEach((s) => { if (s.type === 'outbound-rtp') bytes += s.bytesSent || 0; });
  return bytes;
}

/** currentRoundTripTime (ms) of the selected candidate pair, or null. */
export function candidatePairRtt(report) {
  if (!report) return null;
  let selectedId = null;
  report.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) selectedId = s.selectedCandidatePairId; });
  let rtt = null;
  report.forEach((s) => {
    if (s.type !== 'candidate-pair' || typeof s.currentRoundTripTime !== 'number') return;
    if (selectedId ? s.id === selectedId : (s.nominated && s.state === 'succeeded')) rtt = s.currentRoundTripTime * 1000;
  });
  return rtt;
}

/**
 * Run the echo test.
 * @param {object} options
 * @param {MediaStreamTrack|null} options.camera    cloned, so the caller's preview keeps running
 * @param {MediaStreamTrack|null} options.microphone
 * @param {string} [options.baseUrl] where `POST /echo/token` lives (default: the server this module came from)
 * @param {number} [options.durationMs=8000]
 * @param {(progress: {fraction: number, figures: object}) => void} [options.onProgress]
 * @param {(stream: MediaStream, kind: string) => void} [options.onEcho] the returning media
 * @returns {Promise<object>} figures + {verdict, reasons}
 */
export async function runEchoTest({ camera, microphone, baseUrl = SERVER_ROOT, durationMs = 8000, onProgress = () => {}, onEcho = () => {} }) {
  let grant;
  try {
    const resp = await fetch(`${baseUrl.replace(/\/$/, '')}/echo/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    if (!resp.ok) throw new ConsultError('echo_unavailable', `the server refused the echo test (HTTP ${resp.status})`);
    grant = await resp.json();
  } catch (err) {
    if (err instanceof ConsultError) throw err;
    throw new ConsultError('server_unreachable', 'the server cannot be reached');
  }
  const fallback = new URL('ws', baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
  fallback.protocol = fallback.protocol === 'https:' ? 'wss:' : 'ws:';
  const wsUrl = grant.ws_url || fallback.href;
  const client = new ConsultClient({ url: wsUrl, token: grant.token, reconnect: false });
  const clones = [];
  try {
    client.on('track_added', ({ stream, kind }) => onEcho(stream, kind));
    await client.connect();
    const publishing = [];
    if (camera) {
      const c = camera.clone();
      clones.push(c);
      publishing.push(client.publish(c, { source: 'camera', ownsTrack: true }));
    }
    if (microphone) {
      const m = microphone.clone();
      clones.push(m);
      publishing.push(client.publish(m, { source: 'microphone', ownsTrack: true }));
    }
    await Promise.all(publishing);
    const first = await client.getStats();
    const t0 = performance.now();
    const start = { in: sumInbound(first.subscribe), out: sumOutboundBytes(first.publish) };
    let figures = null;
    const wsRtts = [];
    const pairRtts = [];
    while (performance.now() - t0 < durationMs) {
      await new Promise((r) => setTimeout(r, 1000));
      try { wsRtts.push(await client.measureSignallingRtt(2000)); } catch (_) { /* counted as missing */ }
      const now = await client.getStats();
      const rtt = candidatePairRtt(now.publish) ?? candidatePairRtt(now.subscribe);
      if (rtt !== null) pairRtts.push(rtt);
      figures = computeFigures(start, now, (performance.now() - t0) / 1000, pairRtts, wsRtts);
      onProgress({ fraction: Math.min(1, (performance.now() - t0) / durationMs), figures });
    }
    return { ...figures, ...judgeNetwork(figures) };
  } finally {
    client.leave();
    for (const t of clones) t.stop();
  }
}

function median(values) {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function computeFigures(start, now, seconds, pairRtts, wsRtts) {
  const inNow = sumInbound(now.subscribe);
  const packets = inNow.packets - start.in.packets;
  const lost = inNow.lost - start.in.lost;
  const pairRtt = median(pairRtts);
  const wsRtt = median(wsRtts);
  return {
    rttMs: pairRtt ?? wsRtt,
    iceRttMs: pairRtt,
    signallingRttMs: wsRtt,
    lossPct: packets + lost > 0 ? (100 * Math.max(0, lost)) / (packets + lost) : 0,
    inboundKbps: ((inNow.bytes - start.in.bytes) * 8) / 1000 / seconds,
    outboundKbps: ((sumOutboundBytes(now.publish) - start.out) * 8) / 1000 / seconds,
    framesDecoded: inNow.framesDecoded,
    audioPacketsReceived: inNow.audioPackets,
    seconds,
  };
}
