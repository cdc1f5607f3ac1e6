"""Chat and shared links in the waiting room and the consultation (docs/signalling.md,
"Chat and files"): ``feature.install_chat`` wires them in.

- config.py: the ``[chat]`` section;
- records.py: a message in the transcript, and who may see it (pure);
- rate.py: the per-participant token bucket (sans-I/O);
- service.py: the transcript in the store, live delivery through the store's events,
  history, the end (delete, or hand over then delete);
- feature.py: ``chat_send`` on the sessions, history after ``waiting``/``joined``, metrics;
- api.py: /v1/chat/settings (the organisation's ``chat_retention``).

Nothing is imported here, so the settings loader reads config.py without loading the rest.
"""
