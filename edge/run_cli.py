"""``digitcam run``, ``digitcam evaluate`` and ``digitcam scenes``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

logger = logging.getLogger(__name__)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("run", help="read digits from a camera, video or images",
                              description="Run the edge pipeline: capture, find digits, "
                                          "classify with the int8 model, report.")
    p.add_argument("--config", type=Path, help="TOML configuration file")
    p.add_argument("--check-config", action="store_true",
                   help="validate the configuration and exit")
    p.add_argument("--print-config", action="store_true",
                   help="print the default configuration with descriptions and exit")
    p.add_argument("--source", help="picamera2 | picam:N | camera index | video | image | "
                                    "directory | glob")
    p.add_argument("--model", help="model bundle directory (default: active or shipped)")
    p.add_argument("--store", help="model store used by `digitcam flash` (default from config)")
    p.add_argument("--jsonl", action="store_true", default=None,
                   help="one JSON object per frame on stdout (logs stay on stderr)")
    p.add_argument("--jsonl-file", help="also write the JSON lines to this file")
    p.add_argument("--save-annotated", help="write annotated frames to this directory")
    p.add_argument("--display", action="store_true", default=None,
                   help="show annotated frames in a window")
    p.add_argument("--fps", type=float, help="pace file sources")
    p.add_argument("--loop", action="store_true", default=None, help="repeat file sources")
    p.add_argument("--min-confidence", type=float, help="report '?' below this confidence")
    p.add_argument("--calibration", help="calibration file from `digitcam calibrate`")
    p.add_argument("--correction", choices=["specify", "gamma", "none"])
    p.add_argument("--threads", type=int, help="interpreter threads")
    p.add_argument("--max-frames", type=int, help="stop after this many frames")
    p.add_argument("--device-id", help="device id for MQTT topics (default: host name)")
    p.add_argument("--mqtt", help="publish to the MQTT broker at HOST[:PORT]")
    p.add_argument("--publish-every-frame", action="store_true", default=None,
                   help="MQTT: every frame on <prefix>/frame, not only stable readings")
    p.add_argument("--stable-frames", type=int,
                   help="a reading is stable after this many agreeing frames")
    p.add_argument("--status-interval", type=float, help="seconds between status reports")
    p.add_argument("--serial", help="write stable readings to this serial port")
    p.add_argument("--baud", type=int, help="serial baud rate")
    p.add_argument("--serial-mode", choices=["json", "text"])
    p.set_defaults(func=run)

    e = subparsers.add_parser("evaluate", help="score a run's JSONL against ground truth")
    e.add_argument("results", type=Path, help="JSONL written by `digitcam run --jsonl`")
    e.add_argument("labels", type=Path, help="labels.jsonl of a scene set")
    e.add_argument("--by-condition", action="store_true",
                   help="also score the frames of each recorded condition (field scenes)")
    e.add_argument("--table", action="store_true",
                   help="print a Markdown table instead of JSON")
    e.set_defaults(func=evaluate)

    c = subparsers.add_parser("calibrate", help="fit per-camera settings from a few frames",
                              description="Try threshold settings on frames from one camera "
                                          "and write the best as a calibration file for "
                                          "`digitcam run --calibration FILE`.")
    c.add_argument("--source", required=True, help="frames of the camera (any run source)")
    c.add_argument("-o", "--output", type=Path, required=True, help="calibration file to write")
    c.add_argument("--labels", type=Path, help="ground truth (labels.jsonl), if known")
    c.add_argument("--frames", type=int, default=20, help="frames to use (default 20)")
    c.add_argument("--model", help="model bundle (default: active or shipped)")
    c.add_argument("--no-roi", action="store_true", help="do not restrict the search region")
    c.add_argument("--build-reference", action="store_true",
                   help="recompute the MNIST reference histogram (calibration/data) and exit")
    c.add_argument("--data-dir", type=Path)
    c.set_defaults(func=calibrate)

    s = subparsers.add_parser("scenes", help="generate photo-like frames with ground truth")
    s.add_argument("output", type=Path)
    s.add_argument("--count", type=int, default=20)
    s.add_argument("--style", choices=["mnist", "script", "field", "negatives"], default="mnist",
                   help="negatives: field pages with words and marks but no digit")
    s.add_argument("--conditions",
                   help="field style: only these conditions, comma-separated (e.g. "
                        "desk,tilt,shadow); default: every condition left to chance")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--data-dir", type=Path)
    s.set_defaults(func=scenes)


# (config section, config key, command-line flag)
FLAG_OVERRIDES = [
    ("source", "source", "source"), ("source", "fps", "fps"), ("source", "loop", "loop"),
    ("model", "bundle", "model"), ("model", "threads", "threads"), ("model", "store", "store"),
    ("model", "min_confidence", "min_confidence"),
    ("locate", "calibration", "calibration"), ("locate", "correction", "correction"),
    ("output", "jsonl", "jsonl"), ("output", "jsonl_file", "jsonl_file"),
    ("output", "save_annotated", "save_annotated"), ("output", "display", "display"),
    ("output", "publish_every_frame", "publish_every_frame"),
    ("output", "stable_frames", "stable_frames"),
    ("output", "status_interval", "status_interval"),
    ("serial", "port", "serial"), ("serial", "baud", "baud"), ("serial", "mode", "serial_mode"),
]


def apply_flags(config, args) -> None:
    """Command-line flags override the config file."""
    for section, key, flag in FLAG_OVERRIDES:
        value = getattr(args, flag, None)
        if value is not None:
            setattr(getattr(config, section), key, value)
    if getattr(args, "mqtt", None):
        from edge.outputs.mqtt import parse_host

        config.mqtt.host, config.mqtt.port = parse_host(args.mqtt, config.mqtt.port)
    if getattr(args, "device_id", None):
        config.device_id = args.device_id


def build_outputs(config, runner=None) -> list:
    from edge.outputs.jsonl import JsonlOutput

    outputs = []
    if config.mqtt.host:
        from edge.outputs.mqtt import MqttOutput

        outputs.append(MqttOutput(
            config.mqtt.host, config.mqtt.port, config.device_id, config.topic_prefix,
            config.mqtt.queue_dir, config.mqtt.queue_max, config.output.stable_frames,
            config.output.publish_every_frame, config.output.status_interval,
            config.mqtt.discovery_prefix, config.mqtt.client_id, config.mqtt.username,
            config.mqtt.password, config.mqtt.tls, config.mqtt.ca_file, config.mqtt.keepalive,
            status_provider=runner.status if runner else None,
            on_command=runner.handle_command if runner else None))
    if config.serial.port:
        from edge.outputs.serial import SerialOutput

        outputs.append(SerialOutput(config.serial.port, config.serial.baud, config.serial.mode,
                                    config.output.stable_frames))
    if config.output.jsonl:
        outputs.append(JsonlOutput(stream=sys.stdout))
    if config.output.jsonl_file:
        outputs.append(JsonlOutput(path=config.output.jsonl_file))
    return outputs


def run(args: argparse.Namespace) -> int:
    from edge.bundle import BundleError
    from edge.config import ConfigError, defaults_as_toml, load_config, validate

    if args.print_config:
        print(defaults_as_toml())
        return 0
    try:
        config = load_config(args.config)
        apply_flags(config, args)
        validate(config)
    except ConfigError as exc:
        logger.error("%s", exc)
        return 2
    if args.check_config:
        print(f"{args.config or 'defaults'}: configuration is valid", file=sys.stderr)
        return 0
    if not config.source.source:
        logger.error("no source: pass --source (or set [source] source in the config)")
        return 2
    if config.model.allow_unsigned:
        logger.warning("allow_unsigned = true: unsigned models will be accepted by flash "
                       "(development only)")
    from edge.app import Runner
    from edge.calibrate import load_settings
    from edge.classifier import Classifier
    from edge.models import active_in_store, resolve_bundle
    from edge.overlay import AnnotatedWriter, Window
    from edge.pipeline import Pipeline
    from edge.sources import SourceError, open_source

    try:
        settings = load_settings(config.locate.calibration)
        source = open_source(config.source.source, config.source.fps, config.source.loop,
                             colour=bool(config.output.save_annotated or config.output.display))
        bundle = resolve_bundle(config.model.bundle, config.model.store)
        classifier = Classifier(bundle, num_threads=config.model.threads).open()
    except (SourceError, BundleError, ValueError, OSError) as exc:
        logger.error("%s", exc)
        return 2
    try:
        pipeline = Pipeline(classifier, settings, config.model.min_confidence,
                            config.locate.correction)
        def load_classifier():
            path = resolve_bundle(config.model.bundle, config.model.store)
            return Classifier(path, num_threads=config.model.threads).open()

        runner = Runner(source, pipeline, [],
                        AnnotatedWriter(config.output.save_annotated)
                        if config.output.save_annotated else None,
                        Window() if config.output.display else None, args.max_frames,
                        load_classifier,
                        watch_model=None if config.model.bundle else
                        lambda: active_in_store(config.model.store))
        runner.outputs = build_outputs(config, runner)
        mqtt_outputs = [o for o in runner.outputs if o.name == "mqtt"]
        if mqtt_outputs and not config.model.bundle:
            from edge.flash import FlashPolicy, ModelStore
            from edge.remote import RemoteFlasher

            flasher = RemoteFlasher(
                ModelStore(config.model.store),
                FlashPolicy(trusted_keys=list(config.model.trusted_keys),
                            allow_unsigned=config.model.allow_unsigned),
                lambda payload: mqtt_outputs[0].publish_event("flash/status", payload))
            runner.commands["flash"] = flasher.handle
        try:
            return runner.run()
        except SourceError as exc:
            logger.error("%s", exc)
            return 2
    finally:
        pipeline.classifier.close()


def evaluate(args: argparse.Namespace) -> int:
    from edge.evaluate import read_jsonl, score

    try:
        report = score(read_jsonl(args.results), read_jsonl(args.labels),
                       by_condition=args.by_condition)
    except (OSError, ValueError, KeyError) as exc:
        logger.error("%s", exc)
        return 2
    if args.table:
        from edge.evaluate import condition_table

        print(condition_table(report))
    else:
        print(json.dumps(report, indent=2))
    return 0


def calibrate(args: argparse.Namespace) -> int:
    from itertools import islice

    from edge.bundle import BundleError
    from edge.calibrate import fit, save_settings
    from edge.classifier import Classifier
    from edge.evaluate import read_jsonl
    from edge.models import resolve_bundle
    from edge.sources import SourceError, open_source

    if args.build_reference:
        from calibration.histogram import compute_counts, write_reference
        from edge import mnist

        reference = write_reference(compute_counts(mnist.load_split("train", args.data_dir)
                                                   .images))
        print(reference.id)
        return 0
    try:
        source = open_source(args.source)
        with source:
            frames = list(islice(source.frames(), args.frames))
        labels = read_jsonl(args.labels) if args.labels else None
        classifier = Classifier(resolve_bundle(args.model)).open()
    except (SourceError, BundleError, OSError, ValueError) as exc:
        logger.error("%s", exc)
        return 2
    if not frames:
        logger.error("source %s gave no frames", args.source)
        return 2
    settings, report = fit(frames, classifier, labels, fit_roi=not args.no_roi)
    save_settings(settings, args.output, {"camera": {"source": args.source},
                                          "fit": report})
    logger.warning("%s", report["exposure_hint"])
    print(json.dumps({"calibration": str(args.output), "score": report["score"],
                      "exposure_hint": report["exposure_hint"]}))
    return 0


def scenes(args: argparse.Namespace) -> int:
    from edge.scenes import FieldOptions, write_scenes

    try:
        options = FieldOptions.only(*args.conditions.split(",")) if args.conditions else None
    except ValueError as exc:
        logger.error("%s", exc)
        return 2
    labels = write_scenes(args.output, args.count, args.style, args.seed, args.data_dir,
                          options=options)
    print(labels)
    return 0
