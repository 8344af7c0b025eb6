"""Opening a desk from the command line's options: config → rules + replies → store → Desk.

Shared by every command that works on the stored desk (the console, ``ingest``, ``queue`` and the
action commands, reports), so they all find the same files in the same order.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..core.desk import Desk

log = logging.getLogger(__name__)

_PACKAGE = Path(__file__).resolve().parent.parent
_CHECKOUT = _PACKAGE.parent


def packaged_file(name: str) -> Path:
    """The policy file ``name`` (rules.yaml, replies.yaml) that ships with mentiondesk.

    An installed wheel has it in ``tui/data/`` (copied there at build time by setup.py); a
    checkout (or an editable install) has the one copy at the top of the repository.
    """
    installed = _PACKAGE / "data" / name
    return installed if installed.is_file() else _CHECKOUT / name


class BootError(Exception):
    """The desk cannot start; the message says why and what to do.  ``code`` is the exit code."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def default_file(name: str) -> Path:
    """``NAME`` in the current directory when there is one (a team's own copy), else the copy
    that ships with mentiondesk (:func:`packaged_file`).  A local file is returned relative, so
    messages name it as the user would."""
    return Path(name) if (Path.cwd() / name).is_file() else packaged_file(name)


@dataclass
class Options:
    data_dir: str | None = None
    rules: str | None = None
    replies: str | None = None
    config: str | None = None
    agent: str | None = None
    sources: list[str] | None = None  # --source specs given on the command line


def options_from(args: Any) -> Options:
    return Options(*(getattr(args, n, None) for n in ("data_dir", "rules", "replies", "config",
                                                        "agent", "source")))


def is_demo(opts: Options, config: Any = None) -> bool:
    """True when the sources in effect are the demo stream only (``--source``, else the config
    file's sources, else the demo)."""
    if opts.sources:
        return all(s == "demo" for s in opts.sources)
    return not getattr(config, "sources", None)


def config_path(opts: Options) -> tuple[Path | None, str]:
    """The config file in effect and why: ``--config``, else ``$MENTIONDESK_CONFIG``, else
    ``config.yaml`` in the user config directory when it exists (else ``None``)."""
    from . import config as config_mod

    if opts.config:
        return Path(opts.config).expanduser(), "--config"
    env = os.environ.get(config_mod.CONFIG_ENV, "").strip()
    if env:
        return Path(env).expanduser(), f"${config_mod.CONFIG_ENV}"
    found = config_mod.default_config_path()
    if found.is_file():
        return found, "the user config directory"
    return None, f"none ({found} does not exist)"


def load_config(opts: Options, binding_ids: frozenset[str] | None = None) -> Any:
    """The config file, or None when there is none (the demo needs none).  ``binding_ids``: the
    console's, to refuse a ``keys:`` entry that names no binding."""
    from . import config as config_mod

    path, _ = config_path(opts)
    if path is None:
        return None
    if not path.is_file():
        raise BootError(f"{path}: no such config file")
    try:
        return config_mod.load_config(path, binding_ids)
    except config_mod.ConfigError as exc:
        raise BootError("\n".join(str(p) for p in exc.problems)) from exc


def policy_paths(opts: Options, config: Any = None) -> dict[str, tuple[Path, str]]:
    """The rules and replies files in effect and why: ``--rules``/``--replies``, else the config
    file's ``rules:``/``replies:``, else ``./rules.yaml`` in the current directory, else the
    packaged copy.  ``{"rules": (path, why), "replies": (path, why)}``."""
    out: dict[str, tuple[Path, str]] = {}
    for name in ("rules", "replies"):
        given = getattr(opts, name)
        if given:
            out[name] = (Path(given).expanduser(), f"--{name}")
        elif getattr(config, name, None):
            out[name] = (Path(getattr(config, name)), f"{name} in {config.path}")
        else:
            path = default_file(f"{name}.yaml")
            out[name] = (path, "the current directory" if not path.is_absolute()
                         else "the packaged copy")
    return out


def load_policy(opts: Options, config: Any = None) -> tuple[Any, Any]:
    """Rules and replies, validated together; a broken file never half-starts the desk."""
    from ..core.replies import RepliesError, load_replies
    from ..core.rules import RulesError, load_rules

    paths = policy_paths(opts, config)
    rules_path, replies_path = paths["rules"][0], paths["replies"][0]
    for p in (rules_path, replies_path):
        if not p.is_file():
            raise BootError(f"{p}: no such file (give --rules/--replies or run from the checkout)")
    try:
        replies = load_replies(replies_path)
        rules = load_rules(rules_path, reply_keys=set(replies.keys))
    except (RulesError, RepliesError) as exc:
        lines = [str(p) for p in exc.problems]
        raise BootError("\n".join(lines) + "\n(run `mentiondesk check` after fixing)") from exc
    override = getattr(config, "office_hours", None)
    if override is not None:
        rules.set_office_hours(override)
    return rules, replies


DATA_ENV = "MENTIONDESK_DATA_DIR"


def platform_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("mentiondesk", appauthor=False))


def data_dir_and_why(opts: Options, config: Any = None) -> tuple[Path, str]:
    """The one rule for where the desk is, the same for the console and every command:

    1. ``--data-dir DIR``;
    2. else ``$MENTIONDESK_DATA_DIR``;
    3. else the config file's ``data_dir:``;
    4. else the platform's user data directory (``~/.local/share/mentiondesk`` on Linux) when the
       config file lists sources (the live desk), and its ``demo`` folder when it lists none (the
       demo desk: trying the demo never mixes with a live desk).

    Returns the directory and the reason, for ``mentiondesk where`` and error messages.
    """
    if opts.data_dir:
        return Path(opts.data_dir).expanduser(), "--data-dir"
    env = os.environ.get(DATA_ENV, "").strip()
    if env:
        return Path(env).expanduser(), f"${DATA_ENV}"
    chosen = getattr(config, "data_dir", None)
    if chosen:
        return Path(chosen).expanduser(), f"data_dir in {getattr(config, 'path', 'the config')}"
    if getattr(config, "sources", None):
        return platform_data_dir(), "the live desk (the config file lists sources)"
    return platform_data_dir() / "demo", "the demo desk (no source in a config file)"


def data_dir(opts: Options, config: Any = None) -> Path:
    return data_dir_and_why(opts, config)[0]


def holds_desk(path: Path) -> bool:
    """True when ``path`` holds a desk (a snapshot or a journal), even an empty one.  A lock
    file that is a symbolic link counts too: opening the store then refuses it by name (exit 2)
    instead of the link hiding behind "no desk"."""
    from ..core.store import JOURNAL, LOCK, SNAPSHOT

    return ((path / SNAPSHOT).is_file() or (path / JOURNAL).is_file()
            or (path / LOCK).is_symlink())


def no_desk_message(path: Path, why: str) -> str:
    return (f"no desk in {path} ({why}): nothing was created. Check the directory "
            f"(`mentiondesk where` shows the one in effect), or start a desk there with the "
            f"console or `mentiondesk ingest`")


def refuse_demo_mix(opts: Options, config: Any = None) -> None:
    """Raise ``BootError`` (exit code 1) when the demo stream would be filed into the live desk
    (a config file lists sources, and ``--source demo`` is asked for on the live desk's data
    directory): trying the demo never mixes with real customers."""
    path, why = data_dir_and_why(opts, config)
    if is_demo(opts, config) and getattr(config, "sources", None) \
            and why.startswith("the live desk"):
        raise BootError(f"the demo stream would mix with your live desk in {path}: give "
                        f"--data-dir DIR for a demo desk of its own", code=1)


def open_desk(opts: Options, *, clock: Any = None, with_store: bool = True,
              create: bool = True, read_only: bool = False,
              binding_ids: frozenset[str] | None = None, finish: bool = True) -> Desk:
    """Build the desk.  Raises ``BootError`` with a clear message on any problem.

    The data directory follows ``data_dir_and_why``.  ``create=False`` (reads and actions on
    the stored desk): a directory that holds no desk raises ``BootError`` (exit code 1) and
    nothing is created, so a mistyped ``--data-dir`` never turns into a new, empty desk.
    ``read_only``: for reports — the store takes no lock (works while the console runs) and
    refuses every write, so the desk must only be read; close it with :func:`close_desk`.
    ``finish=False`` (the desk process): what a state image leaves for later is read by the
    caller (``Desk.load_later`` between serving clients, then ``Desk.finish_start``).
    """
    from ..core.desk import Desk
    from ..core.model import utcnow
    from ..core.store import Store, StoreError, StoreLocked

    config = load_config(opts, binding_ids)
    rules, replies = load_policy(opts, config)
    store = None
    img = None
    if with_store:
        path, why = data_dir_and_why(opts, config)
        if not (create or holds_desk(path)):
            raise BootError(no_desk_message(path, why), code=1)
        if create:
            refuse_demo_mix(opts, config)
        if not read_only and holds_desk(path):
            from ..core import image as state_image

            img = state_image.open_image(path, rules)
        try:
            store = Store(path, read_only=read_only,
                          image=img.header.fingerprint if img is not None else None)
        except StoreLocked as exc:
            raise BootError(str(exc), code=3) from exc
        except StoreError as exc:
            raise BootError(str(exc)) from exc
        except OSError as exc:  # permissions, a read-only file system: one line, never a trace
            raise BootError(describe_os_error(exc, path)) from exc
        finally:
            if img is not None and (store is None or not store.from_image):
                img.close()
                if store is not None:
                    log.info("state image %s not used: %s changed since it was written",
                             img.path, path)
                img = None
    body = None
    if img is not None:
        body = img.body()  # None (logged) when damaged: the store reads the snapshot instead
        if body is not None:
            log.info("desk %s opened from its state image %s", store.data_dir if store else "",
                     img.path)
    agent = opts.agent or getattr(config, "agent", None) or os.environ.get("USER") or "agent"
    undo_seconds = getattr(config, "undo_seconds", None)
    desk = Desk(rules, replies, store, agent=agent, clock=clock or utcnow,
                undo_seconds=10.0 if undo_seconds is None else float(undo_seconds), image=body)
    desk.config = config
    if finish:
        desk.finish_start()
    return desk


def describe_os_error(exc: OSError, data_dir: Path) -> str:
    """One line for an OSError met while opening the data directory, with the fix."""
    import errno

    where = exc.filename or data_dir
    line = f"cannot use {where}: {exc.strerror or exc}"
    if exc.errno in (errno.EACCES, errno.EPERM):
        line += (f" (this process runs as uid {os.getuid()}; give it the data directory: "
                 f"chown -R $USER {data_dir} && chmod 700 {data_dir}, or use --data-dir)")
    elif exc.errno == errno.EROFS:
        line += " (a read-only file system; use --data-dir on a writable one)"
    return line


def recovery_notes(desk: Desk) -> list[str]:
    """What the store repaired on start (a torn journal tail, a damaged snapshot...) and what it
    warns about (a data directory other users can read), for the user to see: nothing is ever
    repaired silently."""
    store = desk.store
    if store is None:
        return []
    return ([f"warning: {note}" for note in store.warnings]
            + [f"recovered: {note}" for note in store.recovered])


def close_desk(desk: Desk, *, checkpoint: bool = False, maintain: bool = True,
               image: str | None = None) -> list[str]:
    """The one way a desk is closed, by every entry point; never raises for a failed write.

    ``checkpoint``: archive handled conversations and snapshot (the console, on quit); else
    ``maintain``: checkpoint and archive only when due (every CLI writer, so a cron-driven desk
    keeps a short journal too).  Then flush the journal and release the data directory's lock.
    A read-only desk (reports) only releases the store, never writes.  Safe to call twice.
    Returns the lines to show when something could not be saved (disk full, lock lost): the
    changes that were only in memory are named, never dropped silently.

    ``image``: after a clean checkpoint, also write the desk's state image (``tui.core.image``)
    for a fast next start: ``"inline"``, or ``"detached"`` (a forked child writes it while
    this process exits; inline where there is no fork).  Never when anything failed.
    """
    from ..core.store import StoreError

    store = desk.store
    if store is None or store.closed:
        return []
    problems: list[str] = []
    fingerprint = None
    try:
        if not store.read_only:
            try:
                if checkpoint:
                    desk.checkpoint()
                elif maintain:
                    desk.maintain()
                desk.flush()
                if image and checkpoint:
                    fingerprint = store.image_fingerprint()
            except StoreError as exc:
                pending = store.pending
                problems.append(
                    f"{getattr(exc, 'state', None) or exc}: {pending} changes could not be "
                    "written and end with this process (a mention comes back only if its "
                    "source still lists it on the next run)" if pending else f"{exc}")
    finally:
        try:
            store.close()
        except StoreError as exc:
            if not problems:  # else: the same failure, already said
                problems.append(str(exc))
        except OSError as exc:  # closing must never turn into a traceback
            problems.append(f"closing {store.data_dir}: {exc}")
    if fingerprint is not None and not problems:
        write_state_image(desk, store.data_dir, fingerprint, detach=image == "detached")
    return problems


def write_state_image(desk: Desk, data_dir: Path, fingerprint: dict[str, Any], *,
                      detach: bool = False) -> int | None:
    """Write ``desk``'s state image for ``data_dir`` (its store closed, its files as
    ``fingerprint`` says).  ``detach``: in a forked child (returns its pid) so a stopping desk
    process need not wait for pickling 100,000 conversations; the data directory's lock is
    already released, and a start that comes first simply does not find the image yet.
    Failures are logged, never raised: the image is only a cache."""
    from ..core import image as state_image

    header = state_image.Header(
        format=state_image.FORMAT, version=state_image.package_version(),
        layout=state_image.layout(), data_dir=state_image.data_dir_id(data_dir),
        fingerprint=fingerprint, fold=state_image.fold_signature(desk.rules),
        python=(sys.version_info[0], sys.version_info[1]))
    path = state_image.image_path(data_dir)
    pid = 0
    if detach and hasattr(os, "fork"):
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid:
            return pid
        # The child: only the pickle and the file; never back into the parent's code.
        import gc
        import signal

        gc.disable()  # pickling walks every object; a collection would walk them all again
        try:
            # The parent's handlers wake its event loop, which the child does not run.
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
                signal.signal(sig, signal.SIG_DFL)
            os.setsid()
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                # stderr stays when it is a file (server.log): a pipe would keep whoever
                # started the desk process waiting for its end.
                if fd != 2 or not stat.S_ISREG(os.fstat(2).st_mode):
                    os.dup2(null, fd)
        except (OSError, ValueError):
            pass
    from ..core.store import files_fingerprint

    try:
        if state_image.write(path, header, desk.image_state(),
                             still_valid=lambda: files_fingerprint(data_dir) == fingerprint,
                             later=desk.IMAGE_LATER):
            log.info("state image written: %s (%d conversations)", path,
                     len(desk.conversations))
        else:
            log.info("state image not written: %s changed meanwhile", data_dir)
    except Exception as exc:  # never a reason for a stop to fail
        log.warning("state image not written (%s): %s", path, exc)
    finally:
        if pid == 0 and detach and hasattr(os, "fork"):
            os._exit(0)
    return None


@contextmanager
def desk_session(opts: Options, *, notes: Callable[[str], Any] | None = None,
                 checkpoint: bool = False, **open_kw: Any) -> Iterator[Desk]:
    """``open_desk(opts, **open_kw)``, tell ``notes`` what the store recovered on start, yield
    the desk and close it with :func:`close_desk` however the block ends, telling ``notes``
    what could not be saved.  Raises ``BootError`` when the desk cannot open."""
    desk = open_desk(opts, **open_kw)
    try:
        if notes is not None:
            for note in recovery_notes(desk):
                notes(note)
        yield desk
    finally:
        for problem in close_desk(desk, checkpoint=checkpoint):
            if notes is not None:
                notes(problem)
