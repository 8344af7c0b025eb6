"""mentiondesk: a terminal console for social-media customer care."""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

try:
    __version__ = _version("mentiondesk")  # the package metadata: pyproject.toml's version
except PackageNotFoundError:  # pragma: no cover - run from a source tree that is not installed
    __version__ = "0+unknown"

HOMEPAGE = "https://help.northline.example/mentiondesk"
