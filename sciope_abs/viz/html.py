"""Standalone HTML pages of Bokeh layouts, and text blocks for them."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

__all__ = ["save_html", "text_block", "stack"]


def save_html(layout: Any, path: str | os.PathLike, title: str, *, inline: bool = True) -> Path:
    """Write ``layout`` as one HTML page; returns the path.

    Parameters
    ----------
    layout : bokeh layout or model
    path : str or Path
    title : str
        The page title.
    inline : bool
        Inline BokehJS (the page works offline, ~1 MB) instead of loading it from the CDN.
    """
    from bokeh.embed import file_html
    from bokeh.resources import CDN, INLINE

    path = Path(path)
    path.write_text(file_html(layout, INLINE if inline else CDN, title))
    return path


def text_block(html: str, width: int = 1300) -> Any:
    """A Bokeh ``Div`` holding ``html`` (already escaped by the caller)."""
    from bokeh.models import Div

    return Div(text=html, width=width)


def stack(items: Sequence[Any]) -> Any:
    """The items one below the other (a Bokeh ``column``)."""
    from bokeh.layouts import column

    return column(*items)
