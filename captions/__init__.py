"""Live captions and translation: speech recognition and translation off the event loop.

Entry point: :class:`captions.service.CaptionService`. See docs/captions.md.
"""
