"""Generated configuration folder for Janus 1.1.2: VideoRoom + HTTP only, bound to the netns.

Every other plugin, transport, event handler and logger found in the Debian package's
folders is disabled by name, the HTTP API listens on the namespace's veth address only
(no admin API), ICE gathers on the veth interface only, IPv4 only, no STUN/TURN.
"""

from __future__ import annotations

from pathlib import Path

JANUS_LIB = Path("/usr/lib/x86_64-linux-gnu/janus")
HTTP_PORT = 8088


def _others(folder: str, keep: str) -> str:
    names = sorted(p.name for p in (JANUS_LIB / folder).glob("*.so") if p.name != keep)
    return ",".join(names)


def write_config(folder: Path, *, interface: str, address: str, debug_level: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "janus.jcfg").write_text(f"""general: {{
    configs_folder = "{folder}"
    plugins_folder = "{JANUS_LIB / 'plugins'}"
    transports_folder = "{JANUS_LIB / 'transports'}"
    events_folder = "{JANUS_LIB / 'events'}"
    loggers_folder = "{JANUS_LIB / 'loggers'}"
    debug_level = {debug_level}
    session_timeout = 120
    server_name = "loadtest-janus"
}}
certificates: {{
}}
media: {{
    ipv6 = false
    rtp_port_range = "20000-40000"
}}
nat: {{
    nice_debug = false
    ice_enforce_list = "{interface}"
    ice_ipv6 = false
    ice_tcp = false
    ignore_mdns = true
}}
plugins: {{
    disable = "{_others('plugins', 'libjanus_videoroom.so')}"
}}
transports: {{
    disable = "{_others('transports', 'libjanus_http.so')}"
}}
loggers: {{
    disable = "{_others('loggers', '')}"
}}
events: {{
    broadcast = false
    disable = "{_others('events', '')}"
}}
""")
    (folder / "janus.transport.http.jcfg").write_text(f"""general: {{
    json = "compact"
    base_path = "/janus"
    http = true
    port = {HTTP_PORT}
    ip = "{address}"
    https = false
}}
admin: {{
    admin_http = false
    admin_https = false
}}
""")
    (folder / "janus.plugin.videoroom.jcfg").write_text("""general: {
    string_ids = false
}
""")
    return folder / "janus.jcfg"
