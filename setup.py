"""Build hook: the policy files ship inside the package without a second copy in the repository.

rules.yaml and replies.yaml live once, at the top of the repository (a team edits them there).
Building a wheel copies them into ``tui/data/``, where an installed mentiondesk finds them
(``tui.setup.boot.packaged_file``).  Everything else is configured in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

POLICY_FILES = ("rules.yaml", "replies.yaml")


class BuildPyWithPolicy(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads the repository's own copies
            return
        target = Path(self.build_lib) / "tui" / "data"
        self.mkpath(str(target))
        for name in POLICY_FILES:
            self.copy_file(name, str(target / name))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if not self.editable_mode:
            outputs += [str(Path(self.build_lib) / "tui" / "data" / n) for n in POLICY_FILES]
        return outputs


setup(cmdclass={"build_py": BuildPyWithPolicy})
