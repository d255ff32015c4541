"""The pieces behind kit serve's hardening, without a server: the kernel gate and queue, the
viewer bindings, log redaction, the options and their validation, the configuration Voilà gets."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from kit.apps.guard import (
    KernelGate,
    ViewerBindings,
    default_max_kernels,
    install_log_redaction,
    new_token,
    redact,
)
from kit.apps.server import ServeOptions, voila_config, wait_text
from kit.errors import SettingsError
from kit.i18n import t
from kit.settings import Settings, load_settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_gate_admits_up_to_the_cap_then_queues_first_come_first_served():
    clock = Clock()
    gate = KernelGate(2, clock=clock, slot_seconds=20)
    assert gate.admit(None).admitted and gate.admit(None).admitted
    first = gate.admit(None)
    second = gate.admit(None)
    assert not first.admitted and first.position == 1 and first.ticket
    assert second.position == 2 and second.wait_seconds > first.wait_seconds
    assert gate.snapshot() == {"max_viewers": 2, "held": 0, "starting": 2, "queued": 2}
    # the two admitted kernels now run; one is closed: the first in line gets in, not the second
    gate.started()
    gate.started()
    gate.set_held(2)
    assert not gate.admit(second.ticket).admitted
    gate.set_held(1)
    assert not gate.admit(second.ticket).admitted  # still behind the first
    assert not gate.admit(None).admitted  # a newcomer does not jump the line
    assert gate.admit(first.ticket).admitted
    assert gate.admit(second.ticket).position == 1


def test_gate_forgets_tickets_not_asked_for_and_bounds_the_queue():
    clock = Clock()
    gate = KernelGate(1, max_queue=2, ticket_ttl=30, clock=clock)
    assert gate.admit(None).admitted
    gate.started()
    gate.set_held(1)
    a, b = gate.admit(None), gate.admit(None)
    full = gate.admit(None)
    assert full.full and not full.admitted and full.wait_seconds >= 1
    clock.now += 20
    assert gate.admit(a.ticket).position == 1  # a asked again: kept
    clock.now += 15  # b did not ask for 35 s: gone
    assert gate.snapshot()["queued"] == 1
    assert gate.admit(b.ticket).position == 2  # b comes back: at the end of the line
    assert not gate.admit("not a ticket").admitted


def test_wait_estimate_learns_from_kernels_being_freed():
    clock = Clock()
    gate = KernelGate(4, clock=clock, slot_seconds=60)
    for _ in range(4):
        gate.admit(None)
        gate.started()
    gate.set_held(4)
    queued = gate.admit(None)
    for held in (3, 2, 1):
        clock.now += 2
        gate.set_held(held)
        gate.set_held(held + 1)  # someone else took it
    later = gate.admit(queued.ticket)
    assert later.wait_seconds < queued.wait_seconds


def test_bindings_allow_only_the_bound_browser():
    bindings = ViewerBindings()
    owner, other = new_token(), new_token()
    assert not bindings.allowed("k1", owner)  # unbound (a preheated kernel): nobody
    bindings.bind("k1", owner)
    assert bindings.allowed("k1", owner)
    assert not bindings.allowed("k1", other)
    assert not bindings.allowed("k1", None) and not bindings.allowed("k1", "short")
    assert not bindings.allowed("k2", owner)
    assert bindings.bound(["k1", "k3"]) == {"k1"}
    assert bindings.bound(["k3"]) == set()  # k1 died: forgotten
    assert not bindings.allowed("k1", owner)


@pytest.mark.parametrize(
    "line, secret",
    [
        ("403 GET /voila/render/group_dashboard.ipynb?key=SECRETKEY123 (1.2.3.4)", "SECRETKEY123"),
        ("GET /kit/report?group=a&key=SECRETKEY123 200", "SECRETKEY123"),
        ("uri='/voila/render/survey.ipynb?code=CODE12345678', version", "CODE12345678"),
        ("ws://127.0.0.1:1/kit/q/QUERYSECRET/voila/query/abc", "QUERYSECRET"),
        ("opened with token=TOKEN12345 and _xsrf=XSRF99", "TOKEN12345"),
        ("a facilitator link session=ABCDEF&key=FACKEY42", "FACKEY42"),
    ],
)
def test_redact_removes_keys_codes_and_tokens(line, secret):
    clean = redact(line)
    assert secret not in clean
    assert "redacted" in clean


def test_every_log_record_is_redacted(caplog):
    install_log_redaction()
    logger = logging.getLogger("kit.test.redaction")
    with caplog.at_level(logging.INFO):
        logger.info("refused %s", "/voila/render/group_dashboard.ipynb?key=abcdefghijk123")
        logger.warning("Uncaught exception GET /kit/report?key=%s", "zzzzzzzzzz99")
    text = caplog.text
    assert "abcdefghijk123" not in text and "zzzzzzzzzz99" not in text
    assert "/voila/render/group_dashboard.ipynb?[redacted]" in text


def test_serve_options_are_validated_and_come_from_settings():
    settings = Settings(max_kernels=6, kernel_idle_seconds=120, iopub_timeout=60, max_queue=50)
    options = ServeOptions.from_settings(settings, dashboard_pool=3, max_queue=None)
    assert (options.max_kernels, options.cull_idle_seconds, options.iopub_timeout) == (6, 120, 60)
    assert options.max_queue == 50 and options.dashboard_pool == 3
    assert options.viewer_kernels == 6 and options.cull_interval == 12
    assert ServeOptions().viewer_kernels == default_max_kernels() >= 2
    with pytest.raises(SettingsError, match="max_kernels must be 0 .* not -1"):
        ServeOptions(max_kernels=-1)
    with pytest.raises(SettingsError, match="cull_idle_seconds must be 10-86400, not 5"):
        ServeOptions(cull_idle_seconds=5)
    with pytest.raises(SettingsError, match="dashboard_pool must be 0-32"):
        ServeOptions(dashboard_pool=99)
    with pytest.raises(SettingsError, match="iopub_timeout must be 5-3600 seconds, not 1"):
        Settings(iopub_timeout=1)


def test_serve_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("KIT_MAX_KERNELS", "3")
    monkeypatch.setenv("KIT_KERNEL_IDLE_SECONDS", "90")
    settings = load_settings()
    assert settings.max_kernels == 3 and settings.kernel_idle_seconds == 90
    monkeypatch.setenv("KIT_MAX_KERNELS", "many")
    with pytest.raises(SettingsError, match="KIT_MAX_KERNELS='many' is not a valid"):
        load_settings()


def test_default_cap_fits_the_machine():
    assert default_max_kernels(kernel_mb=400, cores=2) <= 8
    assert default_max_kernels(kernel_mb=10**9, cores=64) == 2  # never below 2


def test_kit_serve_refuses_bad_options_with_a_clear_message(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "kit.cli", "--home", str(tmp_path), "serve", "--max-kernels", "-3"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "max_kernels must be 0 (fit to this machine) or more, not -3" in result.stderr
    assert "Traceback" not in result.stderr


def test_voila_gets_the_timeouts_and_no_overrides():
    options = ServeOptions(iopub_timeout=90, cull_idle_seconds=200, dashboard_pool=1)
    c = voila_config(Settings(), options)
    assert c.VoilaExecutor.iopub_timeout == 90 and c.VoilaExecutor.raise_on_iopub_timeout
    assert c.MappingKernelManager.cull_idle_timeout == 200
    assert c.VoilaKernelManager.cull_idle_timeout == 200
    assert c.VoilaConfiguration.allow_template_override == "NO"
    assert c.VoilaConfiguration.show_tracebacks is False
    https = voila_config(Settings(public_url="https://profil.example.org"), options)
    assert https.IdentityProvider.secure_cookie is True
    assert https.Voila.tornado_settings["xsrf_cookie_kwargs"]["secure"] is True


@pytest.mark.parametrize("lang", ["nb", "en"])
def test_wait_text_in_both_languages(lang):
    assert wait_text(12, lang) == t("app.serve.wait.seconds", lang, n=15)
    assert wait_text(400, lang) == t("app.serve.wait.minutes", lang, n=7)
