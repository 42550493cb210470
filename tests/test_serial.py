"""Serial output over a real pseudo-terminal pair. Set DIGITCAM_SERIAL_PORT to run the
same tests against a real serial device looped back to DIGITCAM_SERIAL_PEER."""

import json
import os
import select
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT
from tests.mqtt_helpers import stable_readings


@pytest.fixture
def port_pair():
    """(device side path, reader fd): a pty pair, or real hardware by one switch."""
    if os.environ.get("DIGITCAM_SERIAL_PORT"):
        import serial

        peer = serial.Serial(os.environ["DIGITCAM_SERIAL_PEER"], 115200, timeout=0)
        yield os.environ["DIGITCAM_SERIAL_PORT"], peer.fileno()
        peer.close()
        return
    controller, device = os.openpty()
    import tty

    tty.setraw(controller)
    tty.setraw(device)
    yield os.ttyname(device), controller
    os.close(controller)
    os.close(device)


def read_lines(fd, count, timeout=20.0) -> list[str]:
    buffer = b""
    deadline = time.monotonic() + timeout
    while buffer.count(b"\n") < count and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            buffer += os.read(fd, 65536)
    return buffer.decode().splitlines()


@pytest.fixture(scope="module")
def frames(tmp_path_factory, mnist_dir):
    from edge.scenes import write_scenes

    out = tmp_path_factory.mktemp("serial-frames")
    write_scenes(out, 10, "mnist", seed=91, data_dir=mnist_dir)
    return out


def run_device(port, source, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "run", "--source", str(source), "--serial", port,
         "--stable-frames", "1", "--min-confidence", "0", *map(str, extra)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_json_lines_per_stable_reading(tmp_path, port_pair, frames, shipped_bundle):
    port, reader = port_pair
    jsonl = tmp_path / "run.jsonl"
    device = run_device(port, frames, "--jsonl-file", jsonl, "--model", shipped_bundle)
    _, stderr = device.communicate(timeout=60)
    assert device.returncode == 0, stderr[-2000:]
    expected = stable_readings(jsonl)
    lines = read_lines(reader, len(expected))
    rows = [json.loads(line) for line in lines]
    assert [r["reading"] for r in rows] == expected
    assert all({"frame", "digits", "reading", "model"} <= set(r) for r in rows)


def test_text_mode(tmp_path, port_pair, frames, shipped_bundle):
    port, reader = port_pair
    jsonl = tmp_path / "run.jsonl"
    device = run_device(port, frames, "--serial-mode", "text", "--jsonl-file", jsonl,
                        "--model", shipped_bundle)
    device.communicate(timeout=60)
    expected = stable_readings(jsonl)
    lines = read_lines(reader, len(expected))
    assert [line.split()[0] for line in lines] == expected
    assert all(0.0 <= float(line.split()[1]) <= 1.0 for line in lines)
    # after the bar, the numbers of the reading, which together make the reading
    assert all("".join(line.split("|")[1].split()) == line.split()[0] for line in lines)


def test_a_port_that_appears_later_gets_every_line(tmp_path, port_pair, frames,
                                                   shipped_bundle):
    if os.environ.get("DIGITCAM_SERIAL_PORT"):
        pytest.skip("needs a port that can be unplugged")
    port, reader = port_pair
    link = tmp_path / "ttyDIGITCAM"  # like a USB adapter plugged in after start
    jsonl = tmp_path / "run.jsonl"
    device = run_device(link, frames, "--fps", "4", "--jsonl-file", jsonl,
                        "--model", shipped_bundle)
    time.sleep(1.2)
    link.symlink_to(port)
    _, stderr = device.communicate(timeout=60)
    assert "unavailable" in stderr  # it really was missing at first
    expected = stable_readings(jsonl)
    lines = read_lines(reader, len(expected))
    assert [json.loads(line)["reading"] for line in lines] == expected
