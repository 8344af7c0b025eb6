"""A rules file's words are stemmed and compiled on first use, not at load (issue 9: a console
attached to the desk process never triages, and paid ~0.2 s at every start for it); every
mistake is still reported at load, with its line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from tui.core.rules import RulesError, load_rules
from tui.core.wordforms import Stems, is_stemmer_language, stemmer_languages
from tui.sources.demo import generate

SHIPPED = (ROOT / "rules.yaml").read_text()


def rules_with(tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    assert old in SHIPPED
    path = tmp_path / "rules.yaml"
    path.write_text(SHIPPED.replace(old, new, 1))
    first = new.strip("\n").splitlines()[0]
    return path, next(i for i, t in enumerate(path.read_text().splitlines(), 1) if first in t)


def problems(path: Path) -> list[tuple[int, str]]:
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    return [(p.line, str(p)) for p in caught.value.problems]


def test_a_lazy_rules_file_gives_the_verdicts_of_a_compiled_one() -> None:
    lazy = load_rules(ROOT / "rules.yaml")
    eager = load_rules(ROOT / "rules.yaml")
    assert eager.compile() is eager
    for m in generate(400, seed=11):
        a, b = lazy.triage(m), eager.triage(m)
        assert (a.category, a.urgency, a.score, a.why) == (b.category, b.urgency, b.score, b.why)


def test_loading_stems_nothing_and_the_first_triage_does() -> None:
    code = ("import sys\nfrom tui.core.rules import load_rules\n"
            "from tui.sources.demo import generate\n"
            f"rules = load_rules({str(ROOT / 'rules.yaml')!r})\n"
            "print('snowballstemmer' in sys.modules)\n"
            "print(rules.triage(next(iter(generate(1, seed=3)))).category != '')\n"
            "print('snowballstemmer' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, env=dict(os.environ))
    assert out.stdout.split() == ["False", "True", "True"], out.stderr


def test_a_misspelt_stemmer_is_reported_at_load(tmp_path: Path) -> None:
    path, line = rules_with(tmp_path, "\nword_forms: english\n", "\nword_forms: englsh\n")
    assert any(n == line and "word_forms 'englsh' is not a stemmer — did you mean 'english'?"
               in text for n, text in problems(path)), problems(path)


def test_a_near_list_without_words_is_reported_at_load(tmp_path: Path) -> None:
    found = re.search(r"( +)- words: \[staff, driver.*?\n +with: \[terrible[^\]]*\]", SHIPPED,
                      re.S)
    assert found is not None
    item = found.group()
    path, line = rules_with(tmp_path, item, item[:item.index("with:")] + 'with: ["!!"]')
    assert any(n == line and "needs words in both 'words:' and 'with:'" in t
               for n, t in problems(path)), problems(path)


def test_the_cheap_stemmer_test_agrees_with_snowball() -> None:
    languages = stemmer_languages()
    assert all(is_stemmer_language(lang) for lang in languages)
    for name in ("klingon", "English", "english ", "../english", "among", "base", ""):
        assert not is_stemmer_language(name), name
        with pytest.raises(KeyError):
            Stems(name)
    assert Stems("english").word("delays") == Stems("english").word("delayed") == "delay"
