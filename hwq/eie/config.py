"""Every parameter of the EIE-style accelerator (docs/eie.md), with defaults and validation."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

from hwq.errors import HwqError

WEIGHT_MODES = ("pow2", "codebook", "ternary")
ROW_MAPS = ("mod", "balanced")

# (name, bits, signed) of a layer descriptor, packed LSB first (docs/eie.md)
DESCRIPTOR_FIELDS = (
    ("in_features", 16, False), ("out_features", 16, False), ("ptr_base", 16, False),
    ("row_base", 16, False), ("in_zp", 18, True), ("out_zp", 18, True), ("lo", 18, True),
    ("hi", 18, True), ("in_signed", 1, False), ("mode", 1, False),
)
DESCRIPTOR_BITS = sum(f[1] for f in DESCRIPTOR_FIELDS)

# host address map
REGIONS = {"control": 0, "descriptor": 1, "sparse": 2, "pointer": 3, "bias": 4, "requant": 5,
           "codebook": 6, "act_a": 7, "act_b": 8, "pe_stats": 9, "layer_stats": 10}


def host_address(region: str, pe: int = 0, offset: int = 0) -> int:
    return (REGIONS[region] << 28) | (pe << 20) | offset


def _int_in(name: str, v, lo: int, hi: int) -> None:
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise HwqError(f"eie config: {name} = {v!r} not in [{lo}, {hi}]")


@dataclass(frozen=True)
class EieConfig:
    n_pe: int = 4
    fifo_depth: int = 8
    act_bits: int = 16
    acc_bits: int = 32
    weight_mode: str = "pow2"
    weight_bits: int = 5
    value_bits: int = 16
    index_bits: int = 4
    pointer_bits: int = 16
    entries_per_word: int = 8
    sparse_words: int = 2048
    pointer_depth: int = 2048
    act_depth: int = 256
    row_depth: int = 512
    max_layers: int = 8
    clock_mhz: float = 800.0
    row_map: str = "mod"

    def __post_init__(self):
        _int_in("n_pe", self.n_pe, 1, 256)
        _int_in("fifo_depth", self.fifo_depth, 1, 256)
        _int_in("act_bits", self.act_bits, 2, 16)
        _int_in("acc_bits", self.acc_bits, 8, 32)
        if self.weight_mode not in WEIGHT_MODES:
            raise HwqError(f"eie config: weight_mode {self.weight_mode!r} is not one of {', '.join(WEIGHT_MODES)}")
        if self.weight_mode == "pow2":
            _int_in("weight_bits (pow2)", self.weight_bits, 2, 7)
        elif self.weight_mode == "ternary":
            _int_in("weight_bits (ternary)", self.weight_bits, 2, 2)
        else:
            _int_in("weight_bits (codebook)", self.weight_bits, 1, 8)
        _int_in("value_bits", self.value_bits, 2, 24)
        _int_in("index_bits", self.index_bits, 1, 8)
        _int_in("pointer_bits", self.pointer_bits, 4, 32)
        _int_in("entries_per_word", self.entries_per_word, 1, 64)
        if self.entries_per_word & (self.entries_per_word - 1):
            raise HwqError(f"eie config: entries_per_word = {self.entries_per_word} must be a power of two")
        _int_in("sparse_words", self.sparse_words, 1, 1 << 20)
        _int_in("pointer_depth", self.pointer_depth, 2, 1 << 16)
        if self.pointer_depth % 2:
            raise HwqError(f"eie config: pointer_depth = {self.pointer_depth} must be even (two banks)")
        _int_in("act_depth", self.act_depth, 1, 1 << 16)
        _int_in("row_depth", self.row_depth, 1, 1 << 16)
        _int_in("max_layers", self.max_layers, 1, 64)
        if not isinstance(self.clock_mhz, (int, float)) or isinstance(self.clock_mhz, bool) \
                or not 0 < self.clock_mhz < 1e6:
            raise HwqError(f"eie config: clock_mhz = {self.clock_mhz!r} must be a positive number")
        if self.row_map not in ROW_MAPS:
            raise HwqError(f"eie config: row_map {self.row_map!r} is not one of {', '.join(ROW_MAPS)}")
        if self.sparse_words * self.entries_per_word > (1 << self.pointer_bits):
            raise HwqError(f"eie config: sparse memory holds {self.sparse_words * self.entries_per_word} "
                           f"entries, more than pointer_bits = {self.pointer_bits} can address")
        if self.n_pe * self.act_depth >= 1 << 16:
            raise HwqError(f"eie config: n_pe * act_depth = {self.n_pe * self.act_depth} must stay below 65536")

    # derived widths ------------------------------------------------------------------
    @property
    def entry_bits(self) -> int:
        return self.index_bits + self.weight_bits

    @property
    def word_bits(self) -> int:
        return self.entry_bits * self.entries_per_word

    @property
    def codebook_size(self) -> int:
        return 1 << self.weight_bits

    @property
    def act_payload_bits(self) -> int:
        """Bits of the activation a FIFO entry carries: a = x - zx (act_bits + 2, signed), or in
        ternary mode the pair (a * pos, a * neg) of scaled_bits each."""
        return 2 * self.scaled_bits if self.weight_mode == "ternary" else self.act_bits + 2

    @property
    def scaled_bits(self) -> int:
        """Ternary mode: width of a * pos (modulo 2^acc_bits; exact below acc_bits)."""
        return min(self.acc_bits, self.act_bits + 2 + self.value_bits)

    @property
    def max_features(self) -> int:
        return self.n_pe * self.act_depth

    @property
    def host_bits(self) -> int:
        """Width of the host data bus: the widest memory word or stats word."""
        return max(64, self.word_bits, 96, self.acc_bits, DESCRIPTOR_BITS)

    # (de)serialization ----------------------------------------------------------------
    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @staticmethod
    def from_json(d: object, where: str = "config") -> "EieConfig":
        if not isinstance(d, dict):
            raise HwqError(f"{where}: expected a JSON object of accelerator parameters")
        return EieConfig().replace(**d)

    def replace(self, **changes) -> "EieConfig":
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise HwqError(f"eie config: unknown parameter {unknown[0]!r} (known: {', '.join(sorted(names))})")
        if "weight_bits" not in changes and changes.get("weight_mode", self.weight_mode) != self.weight_mode:
            # ternary codes are 2 bits; leaving ternary returns to the default width
            if changes["weight_mode"] == "ternary":
                changes["weight_bits"] = 2
            elif self.weight_mode == "ternary":
                changes["weight_bits"] = EieConfig.weight_bits
        return dataclasses.replace(self, **changes)

    def key(self) -> str:
        """Hash of the parameters the Verilog depends on (clock_mhz does not change it)."""
        d = self.to_json()
        d.pop("clock_mhz")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def parse_params(pairs: list[str] | tuple[str, ...], base: EieConfig | None = None) -> EieConfig:
    """``["n_pe=64", "fifo_depth=8"]`` -> EieConfig (values parsed as int, float or text)."""
    changes: dict = {}
    for p in pairs:
        if "=" not in p:
            raise HwqError(f"--param {p!r}: expected NAME=VALUE")
        k, v = p.split("=", 1)
        val: object = v
        for conv in (int, float):
            try:
                val = conv(v)
                break
            except ValueError:
                continue
        if k == "clock_mhz" and isinstance(val, int):
            val = float(val)
        changes[k.strip()] = val
    return (base or EieConfig()).replace(**changes)
