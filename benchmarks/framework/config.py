"""Loading and validating experiment profiles.

Each experiment has one TOML file ``benchmarks/configs/<experiment>.toml`` with one table per profile
(``[smoke]``, ``[quick]``, ``[full]``).  An experiment's ``parse_config(raw)`` turns the profile's raw
table into a typed frozen dataclass using the helpers below; every problem raises :class:`ConfigError`
naming the offending key or value (the CLI turns it into exit code 2 before anything is written).

Typical use inside ``parse_config``::

    r = Reader(raw, NAME)  # the experiment's name
    steps = r.int("steps", min=1)
    methods = r.list("methods", str, choices=METHOD_NAMES)
    r.done()          # unknown keys -> ConfigError
"""
from __future__ import annotations

import difflib
import hashlib
import json
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from proxygrad.checks import check_number

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
PROFILES: tuple[str, ...] = ("smoke", "quick", "standard", "full")
_MISSING = object()


class ConfigError(ValueError):
    """A profile or command-line value is invalid; the message names the key and the value."""


class ResourceMissing(FileNotFoundError):
    """Something an experiment needs (a data set, weights) is not on this machine; the message says how to
    get it. ``reproduce`` reports such an experiment as not tested instead of failed."""


def did_you_mean(value: str, options: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest option, or ``""`` when none is close."""
    close = difflib.get_close_matches(str(value), [str(o) for o in options], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def choice(value: Any, options: Sequence[Any], what: str) -> Any:
    """Return ``value`` if it is one of ``options``; else raise ConfigError naming it and the options."""
    if value not in options:
        raise ConfigError(
            f"unknown {what} {value!r}{did_you_mean(value, options)}; choose from {', '.join(map(str, options))}"
        )
    return value


def _typed(value: Any, kind: type, what: str) -> Any:
    """Check one scalar's type (ints are accepted as floats; bools are never numbers; a float is finite)."""
    if kind in (int, float):
        return check_number(what, value, integer=kind is int, error=ConfigError)
    if not isinstance(value, kind):
        raise ConfigError(f"{what} must be of type {kind.__name__}, got {value!r}")
    return value


class Reader:
    """Reads typed values from one raw table and remembers which keys were read.

    ``where`` prefixes every message (e.g. ``"<experiment>.smoke.families[0]"``).  Call :meth:`done` at the
    end: any key that was never read is unknown and raises ConfigError (with a did-you-mean hint).
    """

    def __init__(self, raw: Mapping[str, Any], where: str) -> None:
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where} must be a table, got {raw!r}")
        self.raw = raw
        self.where = where
        self._seen: set[str] = set()

    def _name(self, key: str) -> str:
        return f"{self.where}.{key}"

    def _get(self, key: str, default: Any) -> Any:
        self._seen.add(key)
        if key in self.raw:
            return self.raw[key]
        if default is _MISSING:
            raise ConfigError(f"missing required key {self._name(key)!r}")
        return default

    def value(self, key: str, kind: type, default: Any = _MISSING, *, min: float | None = None,
              max: float | None = None, min_exclusive: bool = False, choices: Sequence[Any] | None = None) -> Any:
        """A scalar of type ``kind`` (int, float, str, bool), optionally range- or choice-checked."""
        raw = self._get(key, default)
        if key not in self.raw:
            return raw
        v = _typed(raw, kind, self._name(key))
        if choices is not None:
            choice(v, choices, self._name(key))
        if kind in (int, float):
            check_number(self._name(key), v, integer=kind is int, min=min, max=max, min_exclusive=min_exclusive,
                         error=ConfigError)
        return v

    def int(self, key: str, default: Any = _MISSING, **kw: Any) -> int:
        """An integer value (see :meth:`value`)."""
        return self.value(key, int, default, **kw)

    def float(self, key: str, default: Any = _MISSING, **kw: Any) -> float:
        """A finite number as float (see :meth:`value`)."""
        return self.value(key, float, default, **kw)

    def str(self, key: str, default: Any = _MISSING, **kw: Any) -> str:
        """A string value (see :meth:`value`)."""
        return self.value(key, str, default, **kw)

    def bool(self, key: str, default: Any = _MISSING) -> bool:
        """A boolean value."""
        return self.value(key, bool, default)

    def list(self, key: str, kind: type, default: Any = _MISSING, *, min_len: int = 1, unique: bool = True,
             min: float | None = None, max: float | None = None, min_exclusive: bool = False,
             choices: Sequence[Any] | None = None) -> tuple:
        """A list of scalars of type ``kind`` returned as a tuple; each item checked like :meth:`value`."""
        raw = self._get(key, default)
        if key not in self.raw:
            return tuple(raw)
        name = self._name(key)
        if not isinstance(raw, list):
            raise ConfigError(f"{name} must be a list, got {raw!r}")
        if len(raw) < min_len:
            raise ConfigError(f"{name} needs at least {min_len} item(s), got {len(raw)}")
        out = []
        for i, item in enumerate(raw):
            v = _typed(item, kind, f"{name}[{i}]")
            if choices is not None:
                choice(v, choices, f"{name}[{i}]")
            if kind in (int, float):
                check_number(f"{name}[{i}]", v, integer=kind is int, min=min, max=max, min_exclusive=min_exclusive,
                             error=ConfigError)
            out.append(v)
        if unique and len(set(out)) != len(out):
            dup = next(v for v in out if out.count(v) > 1)
            raise ConfigError(f"{name} lists {dup!r} more than once")
        return tuple(out)

    def tables(self, key: str, default: Any = _MISSING, *, min_len: int = 1) -> list[Reader]:
        """A list of sub-tables (TOML arrays of tables / inline tables), each wrapped in a Reader."""
        raw = self._get(key, default)
        name = self._name(key)
        if not isinstance(raw, list) or len(raw) < min_len:
            raise ConfigError(f"{name} must be a list of at least {min_len} table(s), got {raw!r}")
        return [Reader(item, f"{name}[{i}]") for i, item in enumerate(raw)]

    def table(self, key: str, default: Any = _MISSING) -> Reader:
        """A sub-table wrapped in a Reader (``default`` should be a dict)."""
        return Reader(self._get(key, default), self._name(key))

    def done(self) -> None:
        """Raise ConfigError for the first key of the table that was never read."""
        unknown = sorted(set(self.raw) - self._seen)
        if unknown:
            k = unknown[0]
            raise ConfigError(f"unknown key {self._name(k)!r}{did_you_mean(k, sorted(self._seen))}")


def config_path(experiment: str, config_dir: Path | None = None) -> Path:
    """The TOML file holding ``experiment``'s profiles."""
    return (config_dir or CONFIG_DIR) / f"{experiment}.toml"


def load_profile(experiment: str, profile: str, config_dir: Path | None = None,
                 config_file: Path | None = None) -> dict[str, Any]:
    """Read ``[profile]`` from ``configs/<experiment>.toml`` (or ``config_file``) as a raw dict.

    ConfigError when the file or the profile is absent or the TOML does not parse.
    """
    path = Path(config_file) if config_file is not None else config_path(experiment, config_dir)
    if not path.is_file():
        raise ConfigError(f"no config file for experiment {experiment!r}: {path} does not exist")
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    if profile not in doc:
        raise ConfigError(
            f"unknown profile {profile!r} for {experiment}{did_you_mean(profile, doc)}; "
            f"{path.name} defines {', '.join(doc)}"
        )
    return doc[profile]


def profiles(experiment: str, config_dir: Path | None = None) -> list[str]:
    """The profile names defined for ``experiment`` (empty when it has no config file)."""
    path = config_path(experiment, config_dir)
    if not path.is_file():
        return []
    with path.open("rb") as fh:
        return list(tomllib.load(fh))


#: Field metadata key: a dataclass field marked ``{OMIT_DEFAULT: True}`` is left out of the JSON data (and
#: so of the config hash) while it holds its declared default, so that adding an option to a config
#: leaves the hash of every config that does not use it unchanged.
OMIT_DEFAULT = "omit_if_default"


def to_jsonable(obj: Any) -> Any:
    """Resolved config -> plain JSON data (dataclasses to dicts, tuples to lists, Paths to str); a field
    marked with :data:`OMIT_DEFAULT` that equals its default is omitted."""
    import dataclasses

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                if not (f.metadata.get(OMIT_DEFAULT) and getattr(obj, f.name) == f.default)}
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def canonical_json(obj: Any) -> str:
    """Canonical JSON text: sorted keys, no spaces, so equal configs give equal text."""
    return json.dumps(to_jsonable(obj), sort_keys=True, separators=(",", ":"), allow_nan=False)


def config_hash(cfg: Any) -> str:
    """sha256 hex digest of :func:`canonical_json` of the resolved config."""
    return hashlib.sha256(canonical_json(cfg).encode()).hexdigest()
