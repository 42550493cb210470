import socket

import pytest
import tomllib

from edge.config import Config, ConfigError, defaults_as_toml, load_config
from tests.conftest import ROOT, digitcam


def write(tmp_path, text):
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_unknown_key_is_rejected_with_its_line(tmp_path):
    path = write(tmp_path, 'device_id = "a"\n\n[mqtt]\nhost = "x"\nhots = "y"\n')
    with pytest.raises(ConfigError, match=r"unknown key 'mqtt.hots' \(line 5\)"):
        load_config(path)


def test_wrong_type_names_key_and_line(tmp_path):
    path = write(tmp_path, '[model]\nthreads = "two"\n')
    with pytest.raises(ConfigError, match=r"model.threads \(line 2\): 'two' is not of type int"):
        load_config(path)


def test_bad_values_are_reported(tmp_path):
    with pytest.raises(ConfigError, match="serial.mode"):
        load_config(write(tmp_path, '[serial]\nmode = "binary"\n'))
    with pytest.raises(ConfigError, match="must be positive"):
        load_config(write(tmp_path, '[output]\nstable_frames = 0\n'))
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, '[output\n'))


def test_values_are_read(tmp_path):
    config = load_config(write(tmp_path, 'device_id = "meter1"\n[mqtt]\nhost = "b"\nport = 1884'
                                         '\n[output]\nstatus_interval = 5\n'))
    assert config.mqtt.host == "b" and config.mqtt.port == 1884
    assert config.output.status_interval == 5.0
    assert config.topic_prefix == "digitcam/meter1"


def test_printed_defaults_are_valid_toml_describing_every_field():
    text = defaults_as_toml()
    parsed = tomllib.loads(text)
    assert parsed["mqtt"]["discovery_prefix"] == "homeassistant"
    assert text.count("# ") >= 30  # a description above every field


def test_check_config_command(tmp_path):
    good = write(tmp_path, '[source]\nsource = "samples"\n')
    result = digitcam("run", "--config", good, "--check-config")
    assert result.returncode == 0 and "valid" in result.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("[mqtt]\nport = 0\n")
    result = digitcam("run", "--config", bad, "--check-config")
    assert result.returncode == 2
    assert "mqtt.port: must be positive" in result.stderr
    assert "Traceback" not in result.stderr


def test_flags_override_the_file(tmp_path, shipped_bundle):
    from argparse import Namespace

    from edge.run_cli import apply_flags

    config = load_config(write(tmp_path, '[model]\nmin_confidence = 0.9\n'))
    apply_flags(config, Namespace(min_confidence=0.3, mqtt="broker:1999", source=None))
    assert config.model.min_confidence == 0.3
    assert (config.mqtt.host, config.mqtt.port) == ("broker", 1999)
    assert isinstance(config, Config)


def test_systemd_notify_ready_watchdog_stopping(tmp_path, shipped_bundle):
    address = str(tmp_path / "notify.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(address)
    server.settimeout(1)
    result = digitcam("run", "--source", ROOT / "samples", "--model", shipped_bundle,
                      "--max-frames", "3", env={"NOTIFY_SOCKET": address,
                                                 "WATCHDOG_USEC": "2000000"})
    assert result.returncode == 0
    messages = []
    try:
        while True:
            messages.append(server.recv(1024).decode())
    except TimeoutError:
        pass
    assert messages[0] == "READY=1"
    assert "WATCHDOG=1" in messages
    assert messages[-1] == "STOPPING=1"
