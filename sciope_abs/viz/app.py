"""The exploration app: a Bokeh server over a sweep folder.

It reads the sweep through the store helpers only (``data.zarr``: ``theta``, ``features``,
``traces``, ``timespan``; ``labels.zarr``: ``labels``, ``predictions``, ``confidence``) and
writes labels back to ``labels.zarr``. Running label spreading and fetching a suggested batch
are callbacks given by the caller (the ``sciope-abs explore`` command passes the exploration
layer's), so this module imports nothing above ``viz``.

Page: the scatter of the embedded features (coloured by label, or by prediction where
unlabelled); the trajectories of the selected points per species; a "select indices" text box
(accessible alternative to box/lasso/tap selection); a label box + "Assign label" button that
saves at once; "Spread labels" and "Suggest + simulate batch" buttons; a status line.
"""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from ..store import read_group, write_group
from .figures import _scatter_data, _traj_data, scatter_figure, trajectory_figure

log = logging.getLogger(__name__)

__all__ = ["embed_features", "parse_indices", "make_document_factory", "serve"]


def embed_features(features: Any) -> np.ndarray:
    """PCA (numpy SVD) of signed-log, standardized features -> (n, 2); NaN rows stay NaN."""
    f = np.asarray(features, dtype=np.float64)
    f = np.sign(f) * np.log1p(np.abs(f))
    ok = np.isfinite(f).all(axis=1)
    out = np.full((f.shape[0], 2), np.nan)
    if ok.sum() < 2:
        return out
    z = f[ok] - f[ok].mean(axis=0)
    sd = z.std(axis=0)
    z = z / np.where(sd > 0, sd, 1.0)
    _, _, vt = np.linalg.svd(z, full_matrices=False)
    emb = z @ vt[:2].T
    if emb.shape[1] == 1:
        emb = np.c_[emb, np.zeros(len(emb))]
    out[ok] = emb
    return out


def parse_indices(text: str, n: int) -> list[int]:
    """Parse ``"1, 4, 7-9"`` into indices in ``[0, n)``; ValueError names the bad part."""
    out: list[int] = []
    for part in str(text).replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part:
                a, b = (int(v) for v in part.split("-", 1))
                out.extend(range(a, b + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise ValueError(f"cannot read {part!r} as an index or range a-b") from None
    bad = [i for i in out if not 0 <= i < n]
    if bad:
        raise ValueError(f"indices out of range [0, {n}): {bad[:5]}")
    return sorted(set(out))


class _SweepFiles:
    """The sweep folder as arrays (re-read after each change)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.reload()

    def reload(self) -> None:
        data, attrs = read_group(self.path / "data.zarr")
        if attrs.get("kind") != "sweep":
            raise ValueError(f"{self.path} is not a sweep folder (data.zarr kind={attrs.get('kind')!r})")
        self.attrs = attrs
        self.theta = np.asarray(data["theta"])
        self.features = np.asarray(data["features"])
        self.traces = np.asarray(data["traces"]) if "traces" in data else None
        self.timespan = np.asarray(data["timespan"])
        self.species = list(attrs["species"])
        n = self.theta.shape[0]
        if (self.path / "labels.zarr").exists():
            lab, _ = read_group(self.path / "labels.zarr")
            self.labels = np.asarray(lab["labels"], dtype=np.int64)
            self.predictions = np.asarray(lab["predictions"], dtype=np.int64)
            self.confidence = np.asarray(lab["confidence"], dtype=np.float64)
        else:
            self.labels, self.predictions, self.confidence = (np.full(n, -1), np.full(n, -1), np.zeros(n))

    def save_labels(self) -> None:
        write_group(self.path / "labels.zarr", {"labels": self.labels, "predictions": self.predictions,
                                                "confidence": self.confidence}, {"kind": "sweep-labels"})


def make_document_factory(sweep_dir: str | Path, *, on_spread: Optional[Callable[[Path], str]] = None,
                          on_suggest: Optional[Callable[[Path, int], str]] = None,
                          embed: Callable = embed_features,
                          traj_loader: Optional[Callable] = None) -> Callable[[Any], None]:
    """A ``doc -> None`` function building the app for one browser session.

    Parameters
    ----------
    sweep_dir : path of a sweep folder
    on_spread : callable(path) -> str, optional
        Runs label spreading on the folder (writes labels.zarr); returns a status message.
    on_suggest : callable(path, n) -> str, optional
        Simulates ``n`` suggested points and appends them to the folder; returns a message.
    embed : callable(features (n, F)) -> (n, 2)
    traj_loader : callable(indices) -> (k, r, S, T), optional
        For sweeps saved without traces.
    """
    path = Path(sweep_dir)
    if not (path / "data.zarr").exists():
        raise FileNotFoundError(f"no sweep at {path} (missing data.zarr)")
    _SweepFiles(path)  # fail early on a bad folder

    def make_document(doc) -> None:
        _Session(path, on_spread, on_suggest, embed, traj_loader).build(doc)

    return make_document


class _Session:
    """One browser session: the sweep's arrays, the page's figures and widgets, their callbacks."""

    def __init__(self, path: Path, on_spread, on_suggest, embed: Callable, traj_loader) -> None:
        self.path, self.on_spread, self.on_suggest = path, on_spread, on_suggest
        self.embed, self.traj_loader = embed, traj_loader
        self.sw = _SweepFiles(path)
        self.color_by = "prediction"
        self.xy = embed(self.sw.features)

    def build(self, doc) -> None:
        """Add the page to ``doc``."""
        from bokeh.layouts import column, row
        from bokeh.models import Div

        self._figures()
        self._widgets()
        self._connect()
        w = self.w
        controls = column(Div(text=f"<b>sweep</b> {self.path.name}"), row(w["sel_in"], w["sel_btn"]),
                          row(w["lab_in"], w["lab_btn"]), row(w["color_sel"], w["spread_btn"]),
                          row(w["n_spin"], w["suggest_btn"]), self.status)
        doc.add_root(row(column(self.fig, controls), self.panels))
        doc.title = f"sciope-abs explore: {self.path.name}"

    # ------------------------------------------------------------------ the page
    def _figures(self) -> None:
        sw = self.sw
        self.fig, self.src = scatter_figure(self.xy, sw.labels, sw.predictions, sw.confidence)
        self.empty = np.zeros((0, 1, len(sw.species), len(sw.timespan)))
        self.panels, self.tsrcs = trajectory_figure(self.empty, sw.timespan, sw.species, indices=[])

    def _widgets(self) -> None:
        from bokeh.models import Button, Div, Select, Spinner, TextInput

        sw = self.sw
        self.status = Div(text=f"{len(sw.theta)} points, {int((sw.labels >= 0).sum())} labelled", name="status",
                          css_classes=["status"], width=520)
        self.w = {
            "sel_in": TextInput(title="select indices (e.g. 0, 3, 10-12)", name="select_input",
                                css_classes=["select-input"], width=250),
            "sel_btn": Button(label="Select", name="select_button", css_classes=["select-button"], width=100),
            "lab_in": TextInput(title="label for the selection (integer, -1 clears)", value="1",
                                name="label_input", css_classes=["label-input"], width=250),
            "lab_btn": Button(label="Assign label", button_type="primary", name="label_button",
                              css_classes=["label-button"], width=120),
            "color_sel": Select(title="colour by", value="prediction", options=["prediction", "label"], width=150),
            "spread_btn": Button(label="Spread labels", name="spread_button", css_classes=["spread-button"],
                                 disabled=self.on_spread is None, width=140),
            "n_spin": Spinner(title="batch size", low=1, high=10000, step=1, value=10, width=100),
            "suggest_btn": Button(label="Suggest + simulate batch", name="suggest_button",
                                  css_classes=["suggest-button"], disabled=self.on_suggest is None, width=200),
        }

    def _connect(self) -> None:
        self.src.selected.on_change("indices", self.on_selection)
        self.w["sel_btn"].on_click(self.do_select)
        self.w["lab_btn"].on_click(self.do_label)
        self.w["spread_btn"].on_click(self.do_spread)
        self.w["suggest_btn"].on_click(self.do_suggest)
        self.w["color_sel"].on_change("value", self.on_color)

    # ------------------------------------------------------------------ callbacks
    def refresh_scatter(self) -> None:
        sw = self.sw
        self.src.data = _scatter_data(self.xy, sw.labels, sw.predictions, sw.confidence, self.color_by)

    def show_traces(self, indices) -> None:
        sw, idx = self.sw, list(indices)[:50]
        if sw.traces is not None:
            x, sub = sw.traces, idx
        elif self.traj_loader is not None and idx:
            x, sub = self.traj_loader(idx), list(range(len(idx)))
        else:
            x, sub = self.empty, []
        for s, tsrc in enumerate(self.tsrcs):
            data = _traj_data(x, sub, sw.timespan, s)
            if sw.traces is None and idx:
                data["point"] = [idx[k] for k in data["point"]]
            tsrc.data = data

    def on_selection(self, attr, old, new) -> None:
        self.show_traces(new)
        self.status.text = f"selected {len(new)} points" + (f": {list(new)[:10]}" if new else "")

    def do_select(self) -> None:
        try:
            idx = parse_indices(self.w["sel_in"].value, len(self.sw.theta))
        except ValueError as exc:
            self.status.text = f"error: {exc}"
            return
        self.src.selected.indices = idx

    def do_label(self) -> None:
        idx = list(self.src.selected.indices)
        if not idx:
            self.status.text = "error: select points first"
            return
        raw = self.w["lab_in"].value
        try:
            value = int(str(raw).strip())
            if value < -1:
                raise ValueError
        except ValueError:
            self.status.text = f"error: label must be an integer >= -1, got {raw!r}"
            return
        self.sw.labels[idx] = value
        self.sw.save_labels()
        self.refresh_scatter()
        self.status.text = (f"labelled {len(idx)} points as {value}; saved "
                            f"({int((self.sw.labels >= 0).sum())} labelled)")

    def do_spread(self) -> None:
        try:
            msg = self.on_spread(self.path)
        except ValueError as exc:
            self.status.text = f"error: {exc}"
            return
        self.sw.reload()
        self.refresh_scatter()
        self.status.text = msg

    def do_suggest(self) -> None:
        try:
            msg = self.on_suggest(self.path, int(self.w["n_spin"].value))
        except ValueError as exc:
            self.status.text = f"error: {exc}"
            return
        self.sw.reload()
        self.xy = self.embed(self.sw.features)
        self.refresh_scatter()
        self.status.text = msg

    def on_color(self, attr, old, new) -> None:
        self.color_by = new
        self.refresh_scatter()


def serve(sweep_dir: str | Path, *, port: int = 5006, host: str = "127.0.0.1", show: bool = True,
          on_spread: Optional[Callable[[Path], str]] = None, on_suggest: Optional[Callable[[Path, int], str]] = None,
          traj_loader: Optional[Callable] = None) -> None:
    """Start the Bokeh server on ``host:port`` and block (Ctrl-C stops it).

    Prints ``serving sweep at http://HOST:PORT/`` once listening (``port=0`` picks a free port).
    """
    from bokeh.application import Application
    from bokeh.application.handlers.function import FunctionHandler
    from bokeh.server.server import Server

    factory = make_document_factory(sweep_dir, on_spread=on_spread, on_suggest=on_suggest, traj_loader=traj_loader)
    port = int(port)
    if port == 0:
        import socket

        with socket.socket() as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
    origins = [f"{host}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"]
    server = Server({"/": Application(FunctionHandler(factory))}, port=port, address=host,
                    allow_websocket_origin=origins)
    server.start()
    actual = server.port
    log.info(f"serving sweep at http://{host}:{actual}/")
    if show:
        server.io_loop.add_callback(server.show, "/")
    try:
        with contextlib.suppress(KeyboardInterrupt):
            server.io_loop.start()
    finally:
        server.stop()
