"""mkdocs hook: publish the figures that ``benchmarks/RESULTS.md`` shows.

The Benchmarks page includes ``benchmarks/RESULTS.md`` verbatim (snippets), so
its image links, written relative to ``benchmarks/`` (``results/NAME.png``),
are resolved relative to the page. This hook adds every PNG of
``benchmarks/results/`` to the site under the same relative path, so the links
resolve and the images are copied.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File, Files

FIGURES = Path("benchmarks") / "results"


def on_files(files: Files, config) -> Files:
    root = Path(config.config_file_path).parent
    for png in sorted((root / FIGURES).glob("*.png")):
        uri = f"results/{png.name}"
        if files.get_file_from_path(uri) is None:
            files.append(File.generated(config, uri, abs_src_path=str(png)))
    return files
