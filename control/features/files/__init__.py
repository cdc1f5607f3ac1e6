"""Files shared during a consultation (docs/api.md "Shared files", docs/signalling.md "Chat
and files"): ``feature.install_files`` wires them in.

- config.py: the ``[files]`` section;
- kinds.py: which files may be shared, recognised by their content (pure);
- storage.py: the bytes of one file, in memory or in an unlinked temporary file;
- vault.py: the files of every room this process holds, and the uploads in flight;
- links.py: short-lived download links bound to one participant (pure, HMAC);
- api.py: ``POST /files/<room>`` (upload, join token) and ``GET /files/<room>/<id>`` (download);
- feature.py: ``get_file_link`` on the sessions, ``file_limits`` after ``joined``, the
  recordings_off holder, metrics.

Nothing is imported here, so the settings loader reads config.py without loading the rest.
"""
