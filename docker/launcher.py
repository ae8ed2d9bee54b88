"""Flex-template entry point: ``winnow run`` with the template's parameters.

Dataflow passes template parameters as ``--name=value`` flags; they go to ``winnow run``
unchanged, Beam pipeline options included (--runner DataflowRunner is added if absent).
Workers must run this same image: unless the run passes ``sdk_container_image``, the
image's own name (``WINNOW_SDK_CONTAINER_IMAGE``, set at build time from
``--build-arg WINNOW_IMAGE=...``) is passed as ``--sdk_container_image``.
"""
import os
import sys

from winnow.pipeline.cli import main

FLAGS = {"score_only": "--score-only", "keep_unscored_langs": "--keep-unscored-langs"}
IMAGE_OPTIONS = ("--sdk_container_image", "--worker_harness_container_image")


def translate(argv: list[str]) -> list[str]:
    """Template parameters arrive as --name=value; boolean ones become plain flags."""
    out = []
    for arg in argv:
        name, _, value = arg.lstrip("-").partition("=")
        if name in FLAGS:
            if value.lower() in ("", "true", "1", "yes"):
                out.append(FLAGS[name])
        else:
            out.append(arg)
    return out


def with_defaults(args: list[str], image: str = "") -> list[str]:
    """The Dataflow runner, and this image for the workers, unless the run chose others."""
    args = list(args)
    if not any(a.startswith("--runner") for a in args):
        args.append("--runner=DataflowRunner")
    if image and not any(a.startswith(IMAGE_OPTIONS) for a in args):
        args.append(f"--sdk_container_image={image}")
    return args


if __name__ == "__main__":
    args = with_defaults(translate(sys.argv[1:]), os.environ.get("WINNOW_SDK_CONTAINER_IMAGE", ""))
    sys.exit(main(["run", *args]))
