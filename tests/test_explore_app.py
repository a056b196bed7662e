"""End-to-end: the exploration app in a real Chromium, driven by Playwright.

Starts ``sciope-abs explore`` on 127.0.0.1 in a subprocess over a small toggle-switch sweep,
selects points through the page, labels them, checks the labels reached the sweep on disk, runs
label spreading from the page, and keeps a screenshot in tests/artifacts/.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"


def _small_sweep(path: Path) -> None:
    from sciope_abs.designs import LatinHypercube
    from sciope_abs.exploration import Sweep
    from sciope_abs.priors import JointPrior, Uniform
    from sciope_abs.simulators import FastSSASimulator
    from sciope_abs.summaries import Mean, Std

    prior = JointPrior({"alpha1": Uniform(1, 30), "alpha2": Uniform(1, 30), "beta": Uniform(0.5, 3),
                        "gamma": Uniform(0.5, 3)})
    sim = FastSSASimulator("toggle_switch", param_names=prior.names, species=("U", "V"))
    sp = ("U", "V")
    Sweep(sim, LatinHypercube(prior), Mean(species=sp) + Std(species=sp), n_traj=3, seed=5,
          client="sync").run(40).save(path)


@pytest.fixture
def app_url(tmp_path):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Debian's Chromium is not installed at {CHROMIUM} (apt-get install -y chromium); "
                    "the browser test cannot run")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    sweep_dir = tmp_path / "sweep"
    _small_sweep(sweep_dir)
    cmd = [sys.executable, "-c", "import sys; from sciope_abs.cli import main; sys.exit(main())",
           "explore", str(sweep_dir), "--port", "0", "--host", "127.0.0.1", "--no-show"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = None
    deadline = time.time() + 60
    lines = []
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        lines.append(line)
        m = re.search(r"serving sweep at (http://\S+)", line)
        if m:
            url = m.group(1)
            break
    if url is None:
        proc.kill()
        pytest.fail("the explore server did not start:\n" + "".join(lines))
    try:
        yield url, sweep_dir
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_label_in_browser_is_saved_to_disk(app_url):
    from playwright.sync_api import expect, sync_playwright

    from sciope_abs.store import read_group

    url, sweep_dir = app_url
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1150, "height": 900})
            page.goto(url)
            status = page.locator(".status")
            expect(status).to_contain_text("40 points", timeout=30000)
            # select through the page: the accessible "select indices" box
            page.locator(".select-input input").fill("0, 2, 5-7")
            page.locator(".select-button button").click()
            expect(status).to_contain_text("selected 5 points", timeout=10000)
            page.locator(".label-input input").fill("1")
            page.locator(".label-button button").click()
            expect(status).to_contain_text("labelled 5 points as 1; saved", timeout=10000)
            page.locator(".select-input input").fill("10-13")
            page.locator(".select-button button").click()
            expect(status).to_contain_text("selected 4 points", timeout=10000)
            page.locator(".label-input input").fill("0")
            page.locator(".label-button button").click()
            expect(status).to_contain_text("9 labelled", timeout=10000)

            labels = read_group(sweep_dir / "labels.zarr")[0]["labels"]
            expected = np.full(40, -1)
            expected[[0, 2, 5, 6, 7]] = 1
            expected[[10, 11, 12, 13]] = 0
            np.testing.assert_array_equal(labels, expected)

            # the trajectories of the selection are drawn (one line per realisation and species)
            page.locator(".select-input input").fill("3")
            page.locator(".select-button button").click()
            expect(status).to_contain_text("selected 1 points", timeout=10000)

            page.locator(".spread-button button").click()
            expect(status).to_contain_text("spread 9 labels to 40 points", timeout=60000)
            lab = read_group(sweep_dir / "labels.zarr")[0]
            assert set(np.unique(lab["predictions"])) <= {0, 1}
            assert np.all(lab["predictions"][[0, 2, 5, 6, 7]] == 1)
            assert np.all((lab["confidence"] > 0) & (lab["confidence"] <= 1))
            np.testing.assert_array_equal(lab["labels"], expected)  # spreading never overwrites labels

            ARTIFACTS.mkdir(exist_ok=True)
            shot = ARTIFACTS / "explore_app.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
