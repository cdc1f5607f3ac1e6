"""Load tester for consult-sfu: synthetic WebRTC peers, consultation scenarios, side-by-side runs.

Run it as ``python -m loadtest`` (see docs/loadtest.md). It speaks only the documented
wire protocol (``signalling.codec`` / ``signalling.messages``) and never imports the
server's insides; the baselines (aiortc MediaRelay, Janus VideoRoom) sit behind the same
adapter interface in ``loadtest/targets``.
"""
