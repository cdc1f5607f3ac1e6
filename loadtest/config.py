"""Run parameters as a frozen dataclass, validated once (errors name the option and the rule)."""

from __future__ import annotations

from dataclasses import dataclass

SCENARIOS = ("consults", "group", "broadcast")
TARGETS = ("ours", "mediarelay", "janus")
#: Scenarios --ramp can grow: broadcast adds subscribers, consults adds whole consultations.
RAMP_SCENARIOS = ("broadcast", "consults")


class ConfigError(Exception):
    """A run parameter out of range; the message names the option."""


@dataclass(frozen=True)
class RunConfig:
    scenario: str = "broadcast"
    consults: int = 4  # consults: concurrent 1:1 consultations
    rooms: int = 1  # group: number of rooms
    room_size: int = 4  # group: participants per room, all publishing
    subscribers: int = 10  # broadcast: subscribers of the one publisher
    duration_s: float = 10.0  # measured window, after every peer has joined
    warmup_s: float = 2.0  # between the last join and the measured window
    width: int = 640
    height: int = 480
    fps: int = 30
    bitrate_bps: int = 900_000
    clip_frames: int = 60
    audio: bool = True
    join_rate: float = 5.0  # joins per second
    join_timeout_s: float = 20.0  # per participant: join + publish + subscribe
    decode_sample: int = 0  # subscribers per run that decode video (picture check, marker latency)
    ramp: bool = False
    ramp_step: int = 5  # broadcast: subscribers per step; consults: consultations per step
    ramp_step_s: float = 6.0
    ramp_max: int = 100
    ramp_max_loss_pct: float = 1.0
    ramp_min_fps_ratio: float = 0.9
    role: str = "practitioner"  # role claim of the tokens minted for "ours"

    def validate(self) -> RunConfig:
        checks: list[tuple[bool, str]] = [
            (self.scenario in SCENARIOS, f"--scenario must be one of {', '.join(SCENARIOS)}"),
            (1 <= self.consults <= 200, "--consults must be between 1 and 200"),
            (1 <= self.rooms <= 50, "--rooms must be between 1 and 50"),
            (2 <= self.room_size <= 16, "--room-size must be between 2 and 16"),
            (1 <= self.subscribers <= 500, "--subscribers must be between 1 and 500"),
            (1.0 <= self.duration_s <= 3600, "--duration must be between 1 and 3600 seconds"),
            (0 <= self.warmup_s <= 60, "--warmup must be between 0 and 60 seconds"),
            (0.1 <= self.join_rate <= 100, "--join-rate must be between 0.1 and 100 joins/s"),
            (1 <= self.join_timeout_s <= 120, "--join-timeout must be between 1 and 120 seconds"),
            (2 <= self.clip_frames <= 256, "--clip-frames must be between 2 and 256"),
            (0 <= self.decode_sample <= 20, "--decode-sample must be between 0 and 20"),
            (1 <= self.ramp_step <= 100, "--ramp-step must be between 1 and 100"),
            (2 <= self.ramp_step_s <= 120, "--ramp-step-duration must be between 2 and 120 seconds"),
            (1 <= self.ramp_max <= 500, "--ramp-max must be between 1 and 500"),
            (not self.ramp or self.scenario in RAMP_SCENARIOS, "--ramp works with --scenario broadcast or consults only"),
            (not self.ramp or self.scenario != "consults" or self.ramp_max <= 200,
             "--ramp-max must be at most 200 consultations with --scenario consults"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        return self

    @property
    def ramp_unit(self) -> str:
        """What a ramp step adds: ``subscribers`` (broadcast) or ``consults``."""
        return "consults" if self.scenario == "consults" else "subscribers"

    @property
    def max_run_s(self) -> float:
        """Hard bound on one run, joins and ramp included."""
        peers = {"consults": 2 * (self.ramp_max if self.ramp else self.consults), "group": self.rooms * self.room_size,
                 "broadcast": 1 + (self.ramp_max if self.ramp else self.subscribers)}[self.scenario]
        ramp = (self.ramp_max // self.ramp_step + 1) * (self.ramp_step_s + self.join_timeout_s) if self.ramp else 0
        return peers / self.join_rate + self.join_timeout_s + self.warmup_s + self.duration_s + ramp + 60
