"""The CLI's console: library code logs, ``sciope-abs`` shows it (stdout for a command's results,
stderr for library status and warnings), ``-q`` keeps warnings and errors, ``-v`` adds debug."""
import logging

import pytest

from sciope_abs.cli import main
from sciope_abs.cli.logs import ConsoleHandler, configure, unconfigure


def test_results_go_to_stdout_and_errors_are_one_line_on_stderr(capsys):
    assert main(["models"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("model ") and "\ntoggle_switch " in out and err == ""
    assert main(["models", "nope"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("sciope-abs models: error: unknown model 'nope'")


def test_quiet_keeps_errors_only_and_main_leaves_logging_as_it_was(capsys):
    before = logging.getLogger("sciope_abs").level
    assert main(["-q", "models", "gene"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["--quiet", "models", "nope"]) == 1
    assert "unknown model 'nope'" in capsys.readouterr().err
    lg = logging.getLogger("sciope_abs")
    assert lg.level == before and not any(isinstance(h, ConsoleHandler) for h in lg.handlers)


def test_library_status_goes_to_stderr_and_warnings_are_marked(capsys):
    try:
        configure(0)
        logging.getLogger("sciope_abs.pipeline.stages").info("[pipeline] dataset: ran")
        logging.getLogger("sciope_abs.cli.run").info("report: here")
        logging.getLogger("sciope_abs.inference.smc").warning("budget spent")
        logging.getLogger("sciope_abs.engine").debug("hidden at the default level")
        out, err = capsys.readouterr()
        assert out == "report: here\n"
        assert err == "[pipeline] dataset: ran\nWARNING: budget spent\n"
        configure(1)  # -v
        logging.getLogger("sciope_abs.engine").debug("now shown")
        assert capsys.readouterr().err == "now shown\n"
        configure(-1)  # -q
        logging.getLogger("sciope_abs.cli.run").info("not shown")
        logging.getLogger("sciope_abs.cli.run").error("shown")
        assert capsys.readouterr() == ("", "shown\n")
        assert sum(isinstance(h, ConsoleHandler) for h in logging.getLogger("sciope_abs").handlers) == 1
    finally:
        unconfigure()


@pytest.mark.parametrize("flag", ["-v", "--verbose"])
def test_verbose_flag_parses_before_the_command(flag, capsys):
    assert main([flag, "models", "gene"]) == 0
    assert capsys.readouterr().out.startswith("gene")
