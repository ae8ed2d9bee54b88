"""Flex-template entry point: ``winnow run`` with the template's parameters.

Dataflow passes template parameters as ``--name=value`` flags; they go to ``winnow run``
unchanged, Beam pipeline options included (--runner DataflowRunner is added if absent).
"""
import sys

from winnow.pipeline.cli import main

FLAGS = {"score_only": "--score-only", "keep_unscored_langs": "--keep-unscored-langs"}


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


if __name__ == "__main__":
    args = translate(sys.argv[1:])
    if not any(a.startswith("--runner") for a in args):
        args.append("--runner=DataflowRunner")
    sys.exit(main(["run", *args]))
