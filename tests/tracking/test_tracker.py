"""Tracking helpers that need no W&B run."""

from llmts.tracking.tracker import setting_of


def test_setting_of_drops_only_the_seed():
    assert setting_of("optimizer.lr=1e-4,seed=2") == "optimizer.lr=1e-4"
    assert setting_of("seed=3,lora.r=4,optimizer.lr=1e-5") == "lora.r=4,optimizer.lr=1e-5"
    assert setting_of("data.seed=3,seed=1") == "data.seed=3"  # another key that ends in seed stays
    assert setting_of("seed=1") == "default" and setting_of("llmts") == "llmts"


def test_an_invalid_wandb_mode_in_the_environment_is_one_line(monkeypatch):
    """WANDB_MODE= (empty) made wandb.init raise a pydantic error mid-run; now it is refused
    before any work, naming the variable and the fix."""
    import pytest

    from llmts.errors import LlmtsError
    from llmts.tracking.tracker import check_environment
    from tests.helpers import compose

    logger = compose("logger=wandb").logger
    monkeypatch.setenv("WANDB_MODE", "")
    with pytest.raises(LlmtsError, match="WANDB_MODE=''.*logger=none"):
        check_environment(logger)
    check_environment(compose("logger=none").logger)  # no W&B, nothing to check
    for ok in ("offline", "disabled", "online"):
        monkeypatch.setenv("WANDB_MODE", ok)
        check_environment(logger)


def test_the_offline_upload_hint_says_to_log_in_first(tmp_path, caplog):
    """The hint `wandb sync DIR` failed as written without a login ('No API key configured')."""
    import logging

    from llmts.tracking.tracker import WandbTracker

    class Run:
        dir = str(tmp_path / "wandb" / "offline-run-1" / "files")

        def finish(self, exit_code=0):
            pass

    tracker = WandbTracker.__new__(WandbTracker)  # a finished offline run, no W&B process
    tracker.run, tracker.mode = Run(), "offline"
    with caplog.at_level(logging.INFO, logger="llmts"):
        tracker.finish()
    (line,) = [r.getMessage() for r in caplog.records if "wandb sync" in r.getMessage()]
    assert "after `wandb login`" in line
    assert line.endswith(f"wandb sync {tmp_path / 'wandb' / 'offline-run-1'}")
